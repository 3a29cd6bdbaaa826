//! The gateway file (`gateway.toml`): listeners and TLS, the XMPP server and identity, the
//! policy, the users file, the mappings directory, the audit log and limits. Paths are relative
//! to the file's folder. [`load`] reads everything the file names and reports every problem,
//! each with file and line; nothing is half-loaded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::controls::RawControls;
use super::irc::IrcConfig;
use super::mappings::Mappings;
use super::network::{IrcNetwork, RawNetwork};
pub use super::start_only::StartOnly;
use super::users::{FileError, FileProblem, Users, line_of};
use super::xmpp::RawXmpp;
pub use super::xmpp::{Xmpp, XmppIdentity};
use crate::label::{PolicySet, load_policy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    irc: RawIrc,
    xmpp: RawXmpp,
    policy: RawPolicy,
    files: RawFiles,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    irc_network: Vec<RawNetwork>,
    #[serde(default)]
    controls: RawControls,
    #[serde(default)]
    crypto: RawCrypto,
    #[serde(default)]
    labels: RawLabels,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLabels {
    default: Option<Spanned<String>>,
    #[serde(default)]
    domains: std::collections::BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCrypto {
    #[serde(default)]
    require_fips: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIrc {
    server_name: Option<String>,
    network: Option<String>,
    #[serde(default)]
    motd: Vec<String>,
    #[serde(default)]
    listen: Vec<RawListen>,
    tls: Option<RawIrcTls>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListen {
    address: Spanned<String>,
    tls: bool,
    #[serde(default)]
    proxy_from: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIrcTls {
    certificate: Spanned<String>,
    key: Spanned<String>,
    #[serde(default = "yes")]
    request_client_certificate: bool,
    client_ca: Option<Spanned<String>>,
    #[serde(default)]
    client_crls: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    sendq_bytes: Option<usize>,
    flood_burst: Option<u32>,
    flood_rate: Option<f64>,
    flood_max_debt: Option<u32>,
    ping_interval_secs: Option<u64>,
    ping_timeout_secs: Option<u64>,
    registration_timeout_secs: Option<u64>,
    max_clients: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    file: Spanned<String>,
    #[serde(default)]
    equivalent: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiles {
    users: Spanned<String>,
    mappings: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    file: Option<Spanned<String>>,
    #[serde(default)]
    bodies: bool,
    instance: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// An IRC listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    /// Address.
    pub address: SocketAddr,
    /// TLS or plaintext (loopback only).
    pub tls: bool,
    /// Who must put a PROXY protocol header first (a load balancer); others may not.
    pub proxy_from: super::proxy::ProxyFrom,
}

/// TLS files of the IRC side.
#[derive(Debug, Clone, PartialEq)]
pub struct IrcTls {
    /// Certificate chain (PEM).
    pub certificate: PathBuf,
    /// Key (PEM).
    pub key: PathBuf,
    /// Ask clients for a certificate (SASL EXTERNAL).
    pub request_client_certificate: bool,
    /// Client certificates must also chain to this CA file (besides the fingerprint pin).
    pub client_ca: Option<PathBuf>,
    /// CRLs client certificates are checked against (reloaded on SIGHUP).
    pub client_crls: Vec<PathBuf>,
}

/// Audit settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// The JSON-lines file (`None`: standard error).
    pub file: Option<PathBuf>,
    /// Include message bodies (off by default).
    pub bodies: bool,
    /// This gateway's name in audit records and metrics (default: the IRC server name).
    pub instance: String,
}

/// Everything the gateway file names, loaded and checked.
#[derive(Debug)]
pub struct Gateway {
    /// The file itself.
    pub path: PathBuf,
    /// IRC front-end settings.
    pub irc: IrcConfig,
    /// IRC listeners.
    pub listen: Vec<Listen>,
    /// IRC TLS, when a TLS listener exists.
    pub irc_tls: Option<IrcTls>,
    /// XMPP settings.
    pub xmpp: Xmpp,
    /// The policy (first) and its equivalents.
    pub policies: PolicySet,
    /// Policy files (for reload).
    pub policy_files: Vec<PathBuf>,
    /// The users file.
    pub users_file: PathBuf,
    /// The users.
    pub users: Users,
    /// The mappings folder.
    pub mappings_dir: PathBuf,
    /// The mappings.
    pub mappings: Mappings,
    /// The IRC networks of link mode.
    pub networks: Vec<IrcNetwork>,
    /// Audit settings.
    pub audit: Audit,
    /// Where the Prometheus metrics endpoint listens (loopback only), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Refuse to start unless every TLS configuration is in FIPS mode (`[crypto]`).
    pub require_fips: bool,
}

/// Loads and checks `path` and every file it names.
pub fn load(path: &Path) -> Result<Gateway, FileError> {
    let text = super::users::read_text(path)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let problem = |offset: Option<usize>, message: String| FileProblem {
        file: path.to_owned(),
        line: offset.map(|o| line_of(&text, o)),
        message,
    };
    let raw: Raw = toml::from_str(&text).map_err(|e| FileError {
        problems: vec![problem(e.span().map(|s| s.start), e.message().to_owned())],
    })?;
    let mut problems = Vec::new();
    let file = |s: &Spanned<String>| base.join(s.get_ref());
    let must_exist = |s: &Spanned<String>, what: &str, problems: &mut Vec<FileProblem>| {
        let p = file(s);
        if !p.exists() {
            problems.push(problem(
                Some(s.span().start),
                format!("{what} {} does not exist", p.display()),
            ));
        }
        p
    };

    // IRC
    let mut listen = Vec::new();
    for l in &raw.irc.listen {
        match l.address.get_ref().parse::<SocketAddr>() {
            Ok(a) => {
                if !l.tls
                    && let Err(e) = super::irc::check_plaintext(a)
                {
                    problems.push(problem(Some(l.address.span().start), e.to_string()));
                }
                let mut nets = Vec::new();
                for p in &l.proxy_from {
                    match super::proxy::Net::parse(p.get_ref()) {
                        Ok(n) => nets.push(n),
                        Err(e) => {
                            problems.push(problem(Some(p.span().start), format!("proxy_from: {e}")))
                        }
                    }
                }
                listen.push(Listen {
                    address: a,
                    tls: l.tls,
                    proxy_from: super::proxy::ProxyFrom(nets),
                });
            }
            Err(e) => problems.push(problem(
                Some(l.address.span().start),
                format!("`{}` is not an address: {e}", l.address.get_ref()),
            )),
        }
    }
    if raw.irc.listen.is_empty() {
        problems.push(problem(
            None,
            "no [[irc.listen]]: the gateway would accept no one".into(),
        ));
    }
    let irc_tls = raw.irc.tls.as_ref().map(|t| {
        let client_ca = t
            .client_ca
            .as_ref()
            .map(|c| must_exist(c, "IRC client CA file", &mut problems));
        let client_crls: Vec<PathBuf> = t
            .client_crls
            .iter()
            .map(|c| must_exist(c, "IRC client CRL file", &mut problems))
            .collect();
        let at = t.client_ca.as_ref().map(|c| c.span().start);
        match &client_ca {
            None if !client_crls.is_empty() => problems.push(problem(
                t.client_crls.first().map(|c| c.span().start),
                "[irc.tls] client_crls needs client_ca (the CA the CRLs are checked under)".into(),
            )),
            Some(ca) if ca.exists() && client_crls.iter().all(|c| c.exists()) => {
                if let Err(e) = crate::pki::client_path_verifier(ca, &client_crls) {
                    problems.push(problem(at, format!("IRC client certificate checks: {e}")));
                }
            }
            _ => {}
        }
        IrcTls {
            certificate: must_exist(&t.certificate, "IRC certificate", &mut problems),
            key: must_exist(&t.key, "IRC key", &mut problems),
            request_client_certificate: t.request_client_certificate,
            client_ca,
            client_crls,
        }
    });
    if listen.iter().any(|l| l.tls) && irc_tls.is_none() {
        problems.push(problem(
            None,
            "a TLS listener needs [irc.tls] certificate and key".into(),
        ));
    }
    let d = IrcConfig::default();
    let lim = &raw.irc.limits;
    let irc = IrcConfig {
        server_name: raw.irc.server_name.clone().unwrap_or(d.server_name),
        network: raw.irc.network.clone().unwrap_or(d.network),
        motd: if raw.irc.motd.is_empty() {
            d.motd
        } else {
            raw.irc.motd.clone()
        },
        require_auth: true,
        sendq_bytes: lim.sendq_bytes.unwrap_or(d.sendq_bytes),
        flood_burst: lim.flood_burst.unwrap_or(d.flood_burst),
        flood_rate: lim.flood_rate.unwrap_or(d.flood_rate),
        flood_max_debt: lim.flood_max_debt.unwrap_or(d.flood_max_debt),
        ping_interval: lim
            .ping_interval_secs
            .map(Duration::from_secs)
            .unwrap_or(d.ping_interval),
        ping_timeout: lim
            .ping_timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(d.ping_timeout),
        registration_timeout: lim
            .registration_timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(d.registration_timeout),
        max_clients: lim.max_clients.unwrap_or(d.max_clients),
    };

    // XMPP
    let xmpp = super::xmpp::read(&raw.xmpp, &problem, &must_exist, &mut problems);

    // Policy, users, mappings: each refused whole; their problems carry their own file names.
    let mut policy_files = vec![file(&raw.policy.file)];
    policy_files.extend(raw.policy.equivalent.iter().map(&file));
    let mut loaded = Vec::new();
    for (p, s) in policy_files
        .iter()
        .zip(std::iter::once(&raw.policy.file).chain(&raw.policy.equivalent))
    {
        match std::fs::read_to_string(p) {
            Err(e) => problems.push(problem(
                Some(s.span().start),
                format!("cannot read policy {}: {e}", p.display()),
            )),
            Ok(t) => match load_policy(&t) {
                Ok(pol) => loaded.push(pol),
                Err(e) => {
                    for pr in e.problems {
                        problems.push(FileProblem {
                            file: p.clone(),
                            line: Some(pr.line as usize),
                            message: pr.message,
                        });
                    }
                }
            },
        }
    }
    let instance = match &raw.audit.instance {
        None => irc.server_name.clone(),
        Some(i) => {
            let name = i.get_ref();
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                problems.push(problem(
                    Some(i.span().start),
                    format!("[audit] instance `{name}`: 1 to 64 letters, digits, `-`, `_` or `.`"),
                ));
            }
            name.clone()
        }
    };
    let audit = Audit {
        file: raw.audit.file.as_ref().map(&file),
        bodies: raw.audit.bodies,
        instance,
    };
    let metrics = match &raw.metrics.listen {
        None => None,
        Some(l) => {
            match l.get_ref().parse::<SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => Some(a),
                Ok(a) => {
                    problems.push(problem(
                    Some(l.span().start),
                    format!("[metrics] listen = {a}: the metrics endpoint must be on a loopback address"),
                ));
                    None
                }
                Err(e) => {
                    problems.push(problem(
                        Some(l.span().start),
                        format!("`{}` is not an address: {e}", l.get_ref()),
                    ));
                    None
                }
            }
        }
    };
    let users_file = file(&raw.files.users);
    let mappings_dir = file(&raw.files.mappings);
    if loaded.len() != policy_files.len() {
        return Err(FileError { problems });
    }
    let mut it = loaded.into_iter();
    let Some(primary) = it.next() else {
        return Err(FileError { problems });
    };
    let mut policies = PolicySet::new(primary);
    for p in it {
        policies.add(p);
    }
    let networks = super::network::load(
        &raw.irc_network,
        path,
        &text,
        &base,
        policies.primary(),
        &mut problems,
    );
    let users = Users::load(&users_file, policies.primary());
    // The gateway's default labels, checked here so a bad one is reported at its own line.
    let primary = policies.primary();
    let mut label_ok = |s: &Spanned<String>, what: String| {
        let parsed = primary
            .parse_marking(s.get_ref())
            .map_err(|e| e.to_string())
            .and_then(|l| primary.validate(&l).map_err(|e| e.to_string()));
        if let Err(e) = parsed {
            problems.push(problem(
                Some(s.span().start),
                format!("{what} `{}`: {e}", s.get_ref()),
            ));
        }
    };
    if let Some(d) = &raw.labels.default {
        label_ok(d, "[labels] default".into());
    }
    for (domain, d) in &raw.labels.domains {
        label_ok(d, format!("[labels.domains] \"{domain}\""));
    }
    let defaults = super::mappings::Defaults {
        label: raw.labels.default.as_ref().map(|d| d.get_ref().clone()),
        domain_labels: raw
            .labels
            .domains
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        controls: raw.controls.clone(),
    };
    let mappings = Mappings::load_dir_with(&mappings_dir, &policies, &defaults);
    if let Ok(m) = &mappings {
        let written: Vec<&str> = raw.irc_network.iter().map(RawNetwork::name).collect();
        problems.extend(m.check_networks(&networks, &written, policies.primary()));
    }
    let (users, mappings) = match (users, mappings) {
        (Ok(u), Ok(m)) if problems.is_empty() => (u, m),
        (u, m) => {
            problems.extend(u.err().into_iter().flat_map(|e| e.problems));
            problems.extend(m.err().into_iter().flat_map(|e| e.problems));
            return Err(FileError { problems });
        }
    };
    Ok(Gateway {
        path: path.to_owned(),
        irc,
        listen,
        irc_tls,
        xmpp,
        policies,
        policy_files,
        users_file,
        users,
        mappings_dir,
        mappings,
        networks,
        audit,
        metrics,
        require_fips: raw.crypto.require_fips,
    })
}
