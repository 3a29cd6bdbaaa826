//! The gateway file's `[xmpp]` section: the server (and a cluster's other nodes), TLS, the
//! identity sessions log in with, the server certificate's CRLs, and how often a quiet room is
//! asked whether a session is still in it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::users::FileProblem;

/// The silence after which a session asks a room whether it is still an occupant (XEP-0410
/// self-ping), unless `room_ping_secs` says otherwise.
pub const DEFAULT_ROOM_PING: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawXmpp {
    address: Spanned<String>,
    #[serde(default)]
    failover: Vec<Spanned<String>>,
    domain: Spanned<String>,
    #[serde(default = "starttls")]
    tls: Spanned<String>,
    ca_file: Spanned<String>,
    identity: Spanned<String>,
    certificate: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    user_certificates: Option<Spanned<String>>,
    #[serde(default)]
    crls: Vec<Spanned<String>>,
    room_ping_secs: Option<u64>,
}

fn starttls() -> Spanned<String> {
    Spanned::new(0..0, "starttls".to_owned())
}

/// How the gateway logs users in to XMPP.
#[derive(Debug, Clone, PartialEq)]
pub enum XmppIdentity {
    /// One trusted gateway certificate; the user's JID in the authzid.
    TrustedGateway {
        /// Certificate.
        certificate: PathBuf,
        /// Key.
        key: PathBuf,
    },
    /// One certificate per user: `DIR/{account}.crt` and `.key`.
    PerUser {
        /// The folder.
        dir: PathBuf,
    },
}

/// XMPP settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Xmpp {
    /// Server address.
    pub address: SocketAddr,
    /// The cluster's other nodes, in the order tried when `address` takes no connection.
    pub failover: Vec<SocketAddr>,
    /// Domain (also the TLS name checked).
    pub domain: String,
    /// Direct TLS (XEP-0368) rather than STARTTLS.
    pub direct_tls: bool,
    /// CA file.
    pub ca_file: PathBuf,
    /// Identity mode and its files.
    pub identity: XmppIdentity,
    /// CRLs the server's certificate is checked against.
    pub crls: Vec<PathBuf>,
    /// How long a joined room may be silent before a session asks it whether it is still an
    /// occupant (XEP-0410 self-ping; `None`: never). `room_ping_secs`, default 300, 0 = off.
    pub room_ping: Option<Duration>,
}

/// Resolves a path written in the file, noting a problem when it does not exist.
pub(super) type MustExist<'a> =
    &'a dyn Fn(&Spanned<String>, &str, &mut Vec<FileProblem>) -> PathBuf;

/// Reads the section; every problem goes to `problems`.
pub(super) fn read(
    x: &RawXmpp,
    problem: &dyn Fn(Option<usize>, String) -> FileProblem,
    must_exist: MustExist<'_>,
    problems: &mut Vec<FileProblem>,
) -> Xmpp {
    let address = x
        .address
        .get_ref()
        .parse::<SocketAddr>()
        .unwrap_or_else(|e| {
            problems.push(problem(
                Some(x.address.span().start),
                format!("`{}` is not an address: {e}", x.address.get_ref()),
            ));
            SocketAddr::from(([127, 0, 0, 1], 5222))
        });
    let mut failover = Vec::new();
    for f in &x.failover {
        match f.get_ref().parse::<SocketAddr>() {
            Ok(a) if a == address || failover.contains(&a) => problems.push(problem(
                Some(f.span().start),
                format!("failover `{a}` is listed twice"),
            )),
            Ok(a) => failover.push(a),
            Err(e) => problems.push(problem(
                Some(f.span().start),
                format!("failover `{}` is not an address: {e}", f.get_ref()),
            )),
        }
    }
    let direct_tls = match x.tls.get_ref().as_str() {
        "starttls" => false,
        "direct" => true,
        other => {
            problems.push(problem(
                Some(x.tls.span().start),
                format!("xmpp.tls must be \"starttls\" or \"direct\", not `{other}`"),
            ));
            false
        }
    };
    let ca_file = must_exist(&x.ca_file, "CA file", problems);
    let identity = match x.identity.get_ref().as_str() {
        "trusted-gateway" => match (&x.certificate, &x.key) {
            (Some(c), Some(k)) => XmppIdentity::TrustedGateway {
                certificate: must_exist(c, "gateway certificate", problems),
                key: must_exist(k, "gateway key", problems),
            },
            _ => {
                problems.push(problem(
                    Some(x.identity.span().start),
                    "trusted-gateway needs xmpp.certificate and xmpp.key".into(),
                ));
                XmppIdentity::PerUser {
                    dir: PathBuf::new(),
                }
            }
        },
        "per-user" => match &x.user_certificates {
            Some(d) => XmppIdentity::PerUser {
                dir: must_exist(d, "user certificate folder", problems),
            },
            None => {
                problems.push(problem(
                    Some(x.identity.span().start),
                    "per-user needs xmpp.user_certificates".into(),
                ));
                XmppIdentity::PerUser {
                    dir: PathBuf::new(),
                }
            }
        },
        other => {
            problems.push(problem(
                Some(x.identity.span().start),
                format!("xmpp.identity must be \"trusted-gateway\" or \"per-user\", not `{other}`"),
            ));
            XmppIdentity::PerUser {
                dir: PathBuf::new(),
            }
        }
    };
    let mut crls = Vec::new();
    for c in &x.crls {
        let p = must_exist(c, "XMPP CRL file", problems);
        if p.exists()
            && let Err(e) = crate::pki::load_crls(&p)
        {
            problems.push(problem(Some(c.span().start), e.to_string()));
        }
        crls.push(p);
    }
    let room_ping = match x.room_ping_secs {
        None => Some(DEFAULT_ROOM_PING),
        Some(0) => None,
        Some(s) if s <= 86_400 => Some(Duration::from_secs(s)),
        Some(s) => {
            problems.push(problem(
                None,
                format!("xmpp.room_ping_secs must be from 0 (off) to 86400, not {s}"),
            ));
            None
        }
    };
    Xmpp {
        address,
        failover,
        domain: x.domain.get_ref().clone(),
        direct_tls,
        ca_file,
        identity,
        crls,
        room_ping,
    }
}
