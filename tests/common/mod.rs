//! Shared helpers for tests against a real ejabberd: one server per run, started by the
//! project's own script (`contrib/ejabberd start`), and TLS identities from its test PKI.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use labelgate::xmpp::connect::{Endpoint, TlsMode};
use labelgate::xmpp::tls;
use tokio_xmpp::xmlstream::Timeouts;

/// The running test server.
pub struct TestServer {
    /// Its private directory (config, spool, logs, `pki/`).
    pub dir: PathBuf,
    /// The STARTTLS c2s port (direct TLS is `port + 1`).
    pub port: u16,
    /// The XMPP domain.
    pub domain: String,
}

impl TestServer {
    /// The MUC service.
    pub fn muc(&self) -> String {
        format!("conference.{}", self.domain)
    }

    /// A file of the test PKI.
    pub fn pki(&self, name: &str) -> PathBuf {
        self.dir.join("pki").join(name)
    }

    /// Runs `contrib/ejabberd ARGS` (or `contrib/prosody` for a Prosody server).
    pub fn script(&self, args: &[&str]) {
        let root = env!("CARGO_MANIFEST_DIR");
        let script = if self.is_prosody() {
            "prosody"
        } else {
            "ejabberd"
        };
        let status = Command::new(format!("{root}/contrib/{script}"))
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("run contrib/{script}: {e}"));
        assert!(status.success(), "contrib/{script} {args:?} failed");
    }

    /// Whether this is a Prosody (its folder holds a `prosody.cfg.lua`, or is named so).
    pub fn is_prosody(&self) -> bool {
        self.dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("prosody"))
    }
}

impl TestServer {
    /// Starts (or reuses) a server of its own in `target/NAME` on `port`.
    pub fn private(name: &str, port: u16) -> TestServer {
        let root = env!("CARGO_MANIFEST_DIR");
        let s = TestServer {
            dir: PathBuf::from(format!("{root}/target/{name}")),
            port,
            domain: "labelgate.test".into(),
        };
        s.script(&["start", s.dir.to_str().unwrap(), &port.to_string()]);
        s
    }

    /// Stops it.
    pub fn stop(&self) {
        self.script(&["stop", self.dir.to_str().unwrap()]);
    }

    /// Kills it abruptly (no stream is closed).
    pub fn kill(&self) {
        self.script(&["kill", self.dir.to_str().unwrap()]);
    }

    /// Starts it again.
    pub fn start(&self) {
        self.script(&["start", self.dir.to_str().unwrap(), &self.port.to_string()]);
    }
}

/// The run's two-node ejabberd cluster (`contrib/ejabberd cluster`, ejabberd's own
/// clustering), with the PKI of the run's server: node 1 on port 25300, node 2 on 25310
/// (`LABELGATE_TEST_CLUSTER_PORT` moves both). Started, or restarted where a node was stopped
/// or killed (it rejoins), at each call.
pub fn cluster() -> [TestServer; 2] {
    let root = env!("CARGO_MANIFEST_DIR");
    let base = server();
    let port: u16 = std::env::var("LABELGATE_TEST_CLUSTER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(25300);
    let dir = PathBuf::from(format!("{root}/target/test-cluster"));
    base.script(&[
        "cluster",
        dir.to_str().unwrap(),
        &port.to_string(),
        base.dir.join("pki").to_str().unwrap(),
    ]);
    [(1, port), (2, port + 10)].map(|(n, port)| TestServer {
        dir: dir.join(format!("node{n}")),
        port,
        domain: base.domain.clone(),
    })
}

/// Starts (or reuses) the run's ejabberd. `LABELGATE_TEST_XMPP_DIR` and
/// `LABELGATE_TEST_XMPP_PORT` override where (contrib/test sets them).
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        let dir = std::env::var("LABELGATE_TEST_XMPP_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(format!("{root}/target/test-xmpp")));
        let port: u16 = std::env::var("LABELGATE_TEST_XMPP_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(25222);
        let s = TestServer {
            dir: dir.clone(),
            port,
            domain: "labelgate.test".into(),
        };
        s.script(&["start", dir.to_str().unwrap(), &port.to_string()]);
        s
    })
}

/// Starts (or reuses) the run's Prosody, the second real XMPP server
/// (`LABELGATE_TEST_PROSODY_PORT` overrides its port, 25722).
pub fn prosody() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        let port: u16 = std::env::var("LABELGATE_TEST_PROSODY_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(25722);
        let s = TestServer {
            dir: PathBuf::from(format!("{root}/target/test-prosody")),
            port,
            domain: "labelgate.test".into(),
        };
        s.script(&["start", s.dir.to_str().unwrap(), &port.to_string()]);
        s
    })
}

/// Starts a session for `node` on `s` with `identity` (the gateway's certificate names the
/// user in the authzid; a user's certificate is their own).
pub async fn session_on(
    s: &TestServer,
    identity: Identity<'_>,
    node: &str,
) -> Result<(Session, mpsc::Receiver<XmppEvent>), labelgate::xmpp::connect::ConnectError> {
    let ep = Arc::new(endpoint_on(
        s,
        identity,
        labelgate::xmpp::connect::TlsMode::StartTls,
    ));
    let mode = match identity {
        Identity::User(_) => IdentityMode::PerUser,
        _ => IdentityMode::TrustedGateway,
    };
    let jid: jid::BareJid = format!("{node}@{}", s.domain).parse().unwrap();
    Session::start(SessionConfig::new(ep, jid, mode)).await
}

/// Which client certificate a test connects with.
#[derive(Clone, Copy, Debug)]
pub enum Identity<'a> {
    /// The trusted gateway certificate.
    Gateway,
    /// A per-user certificate.
    User(&'a str),
    /// A certificate from a CA the server does not trust.
    Untrusted,
    /// No client certificate.
    Anonymous,
    /// Link mode's certificate for the IRC network's people (xmppAddr: the puppet domain).
    Puppets,
}

/// The test server's STARTTLS address.
pub fn endpoint_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server().port))
}

/// An endpoint for the test server with the given identity.
pub fn endpoint(identity: Identity<'_>, mode: TlsMode) -> Endpoint {
    endpoint_on(server(), identity, mode)
}

/// An endpoint for a given server.
pub fn endpoint_on(s: &TestServer, identity: Identity<'_>, mode: TlsMode) -> Endpoint {
    let ca = s.pki("ca.crt");
    let config = match identity {
        Identity::Gateway => {
            tls::client_config_from_files(&ca, Some((&s.pki("gateway.crt"), &s.pki("gateway.key"))))
        }
        Identity::User(u) => tls::client_config_from_files(
            &ca,
            Some((
                &s.pki(&format!("users/{u}.crt")),
                &s.pki(&format!("users/{u}.key")),
            )),
        ),
        Identity::Untrusted => tls::client_config_from_files(
            &ca,
            Some((&s.pki("untrusted.crt"), &s.pki("untrusted.key"))),
        ),
        Identity::Anonymous => tls::client_config_from_files(&ca, None),
        Identity::Puppets => {
            tls::client_config_from_files(&ca, Some((&s.pki("puppets.crt"), &s.pki("puppets.key"))))
        }
    }
    .unwrap();
    let port = match mode {
        TlsMode::StartTls => s.port,
        TlsMode::Direct => s.port + 1,
    };
    Endpoint {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        failover: Vec::new(),
        domain: s.domain.clone(),
        tls_mode: mode,
        tls: config,
        handshake_timeout: Duration::from_secs(10),
        timeouts: Timeouts {
            read_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
        },
    }
}

/// A JID on the test domain.
pub fn jid(node: &str) -> jid::BareJid {
    format!("{node}@{}", server().domain).parse().unwrap()
}

/// A name unique to this process and call, for rooms and accounts.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Shares one test PKI's CA config (for tests that build many endpoints).
pub fn shared<T>(v: T) -> Arc<T> {
    Arc::new(v)
}

/// Connects expecting a refusal; returns the error.
pub async fn refused(
    ep: &Endpoint,
    user: &jid::BareJid,
    authzid: Option<&jid::BareJid>,
) -> labelgate::xmpp::connect::ConnectError {
    match labelgate::xmpp::connect::connect(ep, user, authzid).await {
        Ok(_) => panic!("{user} logged in but should have been refused"),
        Err(e) => e,
    }
}

use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent};
use tokio::sync::mpsc;

/// Starts a trusted-gateway session for `node`.
pub async fn session(node: &str) -> (Session, mpsc::Receiver<XmppEvent>) {
    let ep = Arc::new(endpoint(
        Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    ));
    Session::start(SessionConfig::new(
        ep,
        jid(node),
        IdentityMode::TrustedGateway,
    ))
    .await
    .unwrap_or_else(|e| panic!("session for {node}: {e}"))
}

/// Waits (at most `secs`) for the first event matching `pred`, skipping others.
pub async fn wait_for<T>(
    rx: &mut mpsc::Receiver<XmppEvent>,
    secs: u64,
    mut pred: impl FnMut(&XmppEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("timed out waiting for an XMPP event")
            .expect("event channel closed");
        if let Some(t) = pred(&ev) {
            return t;
        }
    }
}

/// A room JID on the test MUC service.
pub fn room(name: &str) -> jid::BareJid {
    format!("{name}@{}", server().muc()).parse().unwrap()
}

/// Says `body` in `room` from session `s`, unlabelled, with a fresh origin-id (a test peer:
/// the text does not pass the gateway's decision).
#[allow(clippy::disallowed_methods)]
pub async fn say(s: &Session, room: &jid::BareJid, body: &str) {
    let out = labelgate::internal::peer_cleared(labelgate::xmpp::muc::OutgoingMessage {
        body: body.to_owned(),
        label: None,
        origin_id: labelgate::xmpp::session::origin_id(),
        notice: false,
    });
    s.send_groupchat(room, &out).await.unwrap();
}
