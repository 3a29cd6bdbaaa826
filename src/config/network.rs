//! Existing IRC networks for link mode (`[[irc_network]]` in the gateway file): their servers,
//! how the gateway's connections authenticate and pace themselves, the nicks they take, and the
//! network's **accreditation** — the highest a channel of it may carry. A mapping that names a
//! network (`network = "…"`) must have its ceiling within that accreditation.
//!
//! ```toml
//! [[irc_network]]
//! name = "opsnet"
//! servers = ["127.0.0.1:6697", "127.0.0.1:7697"]   # tried in turn
//! tls = true                                       # plaintext only on loopback
//! tls_name = "irc.example"                         # the name the servers' certificates carry
//! ca_file = "pki/ca.crt"                           # the only roots trusted for them
//! auth = "none"                                    # or "password" (password_file),
//!                                                  # "sasl-plain" (account, password_file),
//!                                                  # "sasl-external" (client_certificate,
//!                                                  # client_key; tls = true)
//! nick_template = "{nick}"                         # {nick}: the XMPP room nick
//! nick_length = 30
//! burst = 5                                        # lines at once per connection,
//! interval_ms = 500                                # then one per interval
//! accreditation = "SECRET, UK"                     # clearance syntax
//! puppet_domain = "opsnet.labelgate.test"          # XMPP domain of the network's people
//! puppet_certificate = "pki/puppets.crt"           # names that domain (xmppAddr), for
//! puppet_key = "pki/puppets.key"                   #   SASL EXTERNAL as any of its people
//! service_nick = "labelgate"                       # the gateway's own nick there
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::users::FileProblem;
use crate::irc::proto::names;
use crate::label::{Clearance, Policy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    name: Spanned<String>,
    servers: Spanned<Vec<Spanned<String>>>,
    tls: Spanned<bool>,
    tls_name: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    #[serde(default = "none")]
    auth: Spanned<String>,
    password_file: Option<Spanned<String>>,
    account: Option<Spanned<String>>,
    client_certificate: Option<Spanned<String>>,
    client_key: Option<Spanned<String>>,
    #[serde(default = "template")]
    nick_template: Spanned<String>,
    #[serde(default = "thirty")]
    nick_length: Spanned<usize>,
    #[serde(default = "five")]
    burst: Spanned<u32>,
    #[serde(default = "half_second")]
    interval_ms: Spanned<u64>,
    accreditation: Spanned<String>,
    puppet_domain: Spanned<String>,
    puppet_certificate: Spanned<String>,
    puppet_key: Spanned<String>,
    #[serde(default = "service")]
    service_nick: Spanned<String>,
}

impl RawNetwork {
    /// The name as written (valid or not).
    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }
}

fn none() -> Spanned<String> {
    Spanned::new(0..0, "none".into())
}
fn template() -> Spanned<String> {
    Spanned::new(0..0, "{nick}".into())
}
fn thirty() -> Spanned<usize> {
    Spanned::new(0..0, 30)
}
fn five() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}
fn half_second() -> Spanned<u64> {
    Spanned::new(0..0, 500)
}
fn service() -> Spanned<String> {
    Spanned::new(0..0, "labelgate".into())
}

/// How the gateway's connections authenticate to a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkAuth {
    /// Nothing.
    None,
    /// A server password (`PASS`), read from a file.
    Password(String),
    /// SASL PLAIN: an account and its password (read from a file).
    SaslPlain {
        /// The account.
        account: String,
        /// Its password.
        password: String,
    },
    /// SASL EXTERNAL: the TLS client certificate (and key) the connections present.
    SaslExternal {
        /// The certificate.
        certificate: PathBuf,
        /// Its key.
        key: PathBuf,
    },
}

/// One IRC network, validated.
#[derive(Debug, Clone)]
pub struct IrcNetwork {
    /// Its name (mappings refer to it).
    pub name: String,
    /// Its servers, tried in turn.
    pub servers: Vec<SocketAddr>,
    /// TLS to them.
    pub tls: bool,
    /// The name their certificates carry.
    pub tls_name: String,
    /// Roots trusted for them.
    pub ca_file: Option<PathBuf>,
    /// Authentication.
    pub auth: NetworkAuth,
    /// `{nick}` → the room nick.
    pub nick_template: String,
    /// The network's nick length.
    pub nick_length: usize,
    /// Lines at once per connection.
    pub burst: u32,
    /// Then one line per this.
    pub interval: Duration,
    /// The highest its channels may carry.
    pub accreditation: Clearance,
    /// The same as written.
    pub accreditation_text: String,
    /// The XMPP domain its people appear under.
    pub puppet_domain: String,
    /// The certificate (and key) that logs them in to the XMPP server with SASL EXTERNAL: its
    /// only xmppAddr is the bare puppet domain.
    pub puppet_certificate: PathBuf,
    /// Its key.
    pub puppet_key: PathBuf,
    /// The gateway's own nick on it.
    pub service_nick: String,
    /// Where it was defined (line).
    pub line: usize,
}

impl IrcNetwork {
    /// Whether `other` connects the same way (servers, TLS, authentication, nicks, pacing,
    /// puppet identity): what only a restart changes. The accreditation is not among them — a
    /// reload applies it at once.
    pub fn same_connection(&self, other: &IrcNetwork) -> bool {
        (
            &self.name,
            &self.servers,
            self.tls,
            &self.tls_name,
            &self.ca_file,
            &self.auth,
            &self.nick_template,
            self.nick_length,
            self.burst,
            self.interval,
        ) == (
            &other.name,
            &other.servers,
            other.tls,
            &other.tls_name,
            &other.ca_file,
            &other.auth,
            &other.nick_template,
            other.nick_length,
            other.burst,
            other.interval,
        ) && (
            &self.puppet_domain,
            &self.puppet_certificate,
            &self.puppet_key,
            &self.service_nick,
        ) == (
            &other.puppet_domain,
            &other.puppet_certificate,
            &other.puppet_key,
            &other.service_nick,
        )
    }
}

/// Validates the networks of `file` (whose text is `text`, folder `base`) under `policy`.
pub(super) fn load(
    raw: &[RawNetwork],
    file: &Path,
    text: &str,
    base: &Path,
    policy: &Policy,
    problems: &mut Vec<FileProblem>,
) -> Vec<IrcNetwork> {
    let mut out: Vec<IrcNetwork> = Vec::new();
    for n in raw {
        let before = problems.len();
        let mut bad = |offset: usize, message: String| {
            problems.push(FileProblem {
                file: file.to_owned(),
                line: Some(super::users::line_of(text, offset)),
                message,
            })
        };
        let name = n.name.get_ref().clone();
        let here = format!("irc_network `{name}`");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bad(
                n.name.span().start,
                format!("{here}: a network name is letters, digits, - and _"),
            );
        }
        if out.iter().any(|o| o.name == name) {
            bad(n.name.span().start, format!("{here} is defined twice"));
        }
        let mut servers = Vec::new();
        if n.servers.get_ref().is_empty() {
            bad(n.servers.span().start, format!("{here} has no servers"));
        }
        for s in n.servers.get_ref() {
            match s.get_ref().parse::<SocketAddr>() {
                Ok(a) if !*n.tls.get_ref() && !a.ip().is_loopback() => bad(
                    s.span().start,
                    format!("{here}: {a} is not on loopback, so plaintext is refused (tls = true)"),
                ),
                Ok(a) => servers.push(a),
                Err(e) => bad(
                    s.span().start,
                    format!("{here}: `{}` is not an address: {e}", s.get_ref()),
                ),
            }
        }
        let tls = *n.tls.get_ref();
        let ca_file = n.ca_file.as_ref().map(|c| {
            let p = base.join(c.get_ref());
            if !p.exists() {
                bad(
                    c.span().start,
                    format!("{here}: CA file {} does not exist", p.display()),
                );
            }
            p
        });
        if tls && ca_file.is_none() {
            bad(
                n.tls.span().start,
                format!("{here}: tls = true needs ca_file (the roots trusted for its servers)"),
            );
        }
        let tls_name = n
            .tls_name
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| {
                servers
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default()
            });
        if tls && rustls::pki_types::ServerName::try_from(tls_name.clone()).is_err() {
            bad(
                n.tls.span().start,
                format!("{here}: `{tls_name}` is not a server name"),
            );
        }
        // The password of "password" and "sasl-plain", from its file.
        let password = |bad: &mut dyn FnMut(usize, String)| -> Option<String> {
            let Some(f) = &n.password_file else {
                bad(
                    n.auth.span().start,
                    format!(
                        "{here}: auth = \"{}\" needs password_file",
                        n.auth.get_ref()
                    ),
                );
                return None;
            };
            match std::fs::read_to_string(base.join(f.get_ref())) {
                Ok(p) if !p.trim().is_empty() && !p.trim().contains([' ', '\r', '\n']) => {
                    Some(p.trim().to_owned())
                }
                Ok(_) => {
                    bad(
                        f.span().start,
                        format!("{here}: the password file holds no single password"),
                    );
                    None
                }
                Err(e) => {
                    bad(
                        f.span().start,
                        format!("{here}: cannot read the password file: {e}"),
                    );
                    None
                }
            }
        };
        let kind = n.auth.get_ref().as_str();
        // Settings that belong to another kind of auth are mistakes, not ignored.
        for (set, name, kinds) in [
            (
                n.password_file.as_ref(),
                "password_file",
                &["password", "sasl-plain"][..],
            ),
            (n.account.as_ref(), "account", &["sasl-plain"][..]),
            (
                n.client_certificate.as_ref(),
                "client_certificate",
                &["sasl-external"][..],
            ),
            (n.client_key.as_ref(), "client_key", &["sasl-external"][..]),
        ] {
            if let Some(v) = set
                && !kinds.contains(&kind)
            {
                bad(
                    v.span().start,
                    format!("{here}: {name} is set but auth = \"{kind}\""),
                );
            }
        }
        let auth = match kind {
            "none" => NetworkAuth::None,
            "password" => password(&mut bad).map_or(NetworkAuth::None, NetworkAuth::Password),
            "sasl-plain" => {
                let account = match &n.account {
                    Some(a)
                        if !a.get_ref().is_empty()
                            && a.get_ref().len() <= 64
                            && !a.get_ref().chars().any(|c| c.is_control() || c == ' ') =>
                    {
                        Some(a.get_ref().clone())
                    }
                    Some(a) => {
                        bad(
                            a.span().start,
                            format!("{here}: `{}` is not an account name", a.get_ref()),
                        );
                        None
                    }
                    None => {
                        bad(
                            n.auth.span().start,
                            format!("{here}: auth = \"sasl-plain\" needs account"),
                        );
                        None
                    }
                };
                match (account, password(&mut bad)) {
                    (Some(account), Some(password)) => NetworkAuth::SaslPlain { account, password },
                    _ => NetworkAuth::None,
                }
            }
            "sasl-external" => {
                if !tls {
                    bad(
                        n.auth.span().start,
                        format!(
                            "{here}: auth = \"sasl-external\" needs tls = true (the certificate is TLS's)"
                        ),
                    );
                }
                let mut file = |v: &Option<Spanned<String>>, name: &str| match v {
                    Some(v) => {
                        let p = base.join(v.get_ref());
                        if !p.exists() {
                            bad(
                                v.span().start,
                                format!("{here}: {name} {} does not exist", p.display()),
                            );
                        }
                        Some(p)
                    }
                    None => {
                        bad(
                            n.auth.span().start,
                            format!("{here}: auth = \"sasl-external\" needs {name}"),
                        );
                        None
                    }
                };
                match (
                    file(&n.client_certificate, "client_certificate"),
                    file(&n.client_key, "client_key"),
                ) {
                    (Some(certificate), Some(key)) => {
                        NetworkAuth::SaslExternal { certificate, key }
                    }
                    _ => NetworkAuth::None,
                }
            }
            other => {
                bad(
                    n.auth.span().start,
                    format!(
                        "{here}: auth must be \"none\", \"password\", \"sasl-plain\" or \"sasl-external\", not `{other}`"
                    ),
                );
                NetworkAuth::None
            }
        };
        let nick_template = n.nick_template.get_ref().clone();
        if !nick_template.contains("{nick}") {
            bad(
                n.nick_template.span().start,
                format!("{here}: nick_template must contain {{nick}}"),
            );
        }
        let nick_length = *n.nick_length.get_ref();
        if !(9..=64).contains(&nick_length) {
            bad(
                n.nick_length.span().start,
                format!("{here}: nick_length must be from 9 to 64, not {nick_length}"),
            );
        }
        let burst = *n.burst.get_ref();
        if !(1..=100).contains(&burst) {
            bad(
                n.burst.span().start,
                format!("{here}: burst must be from 1 to 100, not {burst}"),
            );
        }
        let interval_ms = *n.interval_ms.get_ref();
        if interval_ms > 60_000 {
            bad(
                n.interval_ms.span().start,
                format!("{here}: interval_ms must be at most 60000"),
            );
        }
        let accreditation = match Clearance::parse(policy, n.accreditation.get_ref()) {
            Ok(c) => Some(c),
            Err(e) => {
                bad(
                    n.accreditation.span().start,
                    format!("{here}: accreditation: {e}"),
                );
                None
            }
        };
        let puppet_domain = n.puppet_domain.get_ref().clone();
        if jid::BareJid::new(&puppet_domain).map_or(true, |j| j.node().is_some()) {
            bad(
                n.puppet_domain.span().start,
                format!("{here}: `{puppet_domain}` is not an XMPP domain"),
            );
        }
        let mut exists = |s: &Spanned<String>, what: &str| {
            let p = base.join(s.get_ref());
            if !p.exists() {
                bad(
                    s.span().start,
                    format!("{here}: {what} {} does not exist", p.display()),
                );
            }
            p
        };
        let puppet_certificate = exists(&n.puppet_certificate, "puppet_certificate");
        let puppet_key = exists(&n.puppet_key, "puppet_key");
        let service_nick = n.service_nick.get_ref().clone();
        if !names::valid_nick(&service_nick) || service_nick.len() > nick_length {
            bad(
                n.service_nick.span().start,
                format!("{here}: `{service_nick}` is not a valid IRC nick"),
            );
        }
        let (Some(accreditation), true) = (accreditation, problems.len() == before) else {
            continue;
        };
        out.push(IrcNetwork {
            name,
            servers,
            tls,
            tls_name,
            ca_file,
            auth,
            nick_template,
            nick_length,
            burst,
            interval: Duration::from_millis(interval_ms),
            accreditation_text: n.accreditation.get_ref().clone(),
            accreditation,
            puppet_domain,
            puppet_certificate,
            puppet_key,
            service_nick,
            line: super::users::line_of(text, n.name.span().start),
        });
    }
    out
}
