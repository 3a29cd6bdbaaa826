//! The IRC server: listeners (TLS, and plaintext only on loopback), shared state (nicks, the
//! user directory), and one task per client (see `client`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::backend::Backend;
use super::logins::{LoginGuard, Throttled};
use super::proto::names;
use crate::audit::{Context, Direction, Gate};
use crate::config::proxy::ProxyFrom;
use crate::config::users::Users;

/// Settings of the IRC front-end (defined in `config`, which reads them, so that `config`
/// needs nothing of the server).
pub use crate::config::irc::IrcConfig;

pub use crate::config::irc::{ListenerError, check_plaintext};

/// Binds a listener; a plaintext one only on a loopback address.
pub async fn bind(addr: SocketAddr, tls: bool) -> Result<TcpListener, ListenerError> {
    if !tls {
        check_plaintext(addr)?;
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| ListenerError::Bind(addr, e.to_string()))
}

/// State shared by every client task.
pub struct Shared<B: Backend> {
    /// Settings.
    pub config: IrcConfig,
    /// The user directory; replaced whole on reload, never half-updated.
    pub users: RwLock<Arc<Users>>,
    /// The backend.
    pub backend: Arc<B>,
    /// Nicks in use (folded) → connection id.
    pub nicks: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
    clients: AtomicU64,
    /// Flips to true on shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Where passwords are checked.
    pub passwords: crate::irc::passwords::PasswordCheckers,
    /// Failed logins by address and account.
    logins: Mutex<LoginGuard>,
    /// Where failed and throttled logins are audited (set once at start).
    audit: OnceLock<Gate>,
    /// Path validation (CA, CRLs) client certificates must also pass; replaced on reload.
    certificate_checks: RwLock<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>>,
}

impl<B: Backend> Shared<B> {
    /// New shared state.
    pub fn new(
        config: IrcConfig,
        users: Users,
        backend: Arc<B>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Shared {
            config,
            users: RwLock::new(Arc::new(users)),
            backend,
            nicks: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            clients: AtomicU64::new(0),
            shutdown,
            passwords: crate::irc::passwords::PasswordCheckers::per_core(),
            logins: Mutex::new(LoginGuard::default()),
            audit: OnceLock::new(),
            certificate_checks: RwLock::new(None),
        })
    }

    /// Sets (or, with `None`, clears) the path validation client certificates must pass at
    /// SASL EXTERNAL, besides their pin: at start and on every reload (new CRLs).
    pub fn set_certificate_checks(
        &self,
        v: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    ) {
        match self.certificate_checks.write() {
            Ok(mut g) => *g = v,
            Err(p) => *p.into_inner() = v,
        }
    }

    /// The path validation in force, if any.
    pub fn certificate_checks(
        &self,
    ) -> Option<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
        match self.certificate_checks.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Audits failed and throttled logins through `gate` (once; later calls are ignored).
    pub fn set_audit(&self, gate: Gate) {
        let _ = self.audit.set(gate);
    }

    /// Whether a login from `peer` (for `account`, when known) may be tried now; a refusal is
    /// audited.
    pub fn login_allowed(&self, peer: SocketAddr, account: Option<&str>) -> Result<(), Throttled> {
        let now = std::time::Instant::now();
        let r = match self.logins.lock() {
            Ok(g) => g.check(peer.ip(), account, now),
            Err(p) => p.into_inner().check(peer.ip(), account, now),
        };
        if let Err(e) = &r {
            self.audit_login(peer, account, &e.to_string());
        }
        r
    }

    /// Logs and audits a connection refused before its protocol began (a PROXY header where
    /// none is taken, or a bad one from a load balancer).
    pub fn connection_refused(&self, peer: SocketAddr, why: &str) {
        tracing::warn!(%peer, why, "connection refused");
        self.audit_login(peer, None, why);
    }

    /// Counts and audits a failed login.
    pub fn login_failed(&self, peer: SocketAddr, account: Option<&str>, why: &str) {
        let now = std::time::Instant::now();
        match self.logins.lock() {
            Ok(mut g) => g.failed(peer.ip(), account, now),
            Err(p) => p.into_inner().failed(peer.ip(), account, now),
        }
        tracing::info!(%peer, account = account.unwrap_or("?"), why, "login failed");
        self.audit_login(peer, account, why);
    }

    fn audit_login(&self, peer: SocketAddr, account: Option<&str>, why: &str) {
        if let Some(gate) = self.audit.get() {
            let address = peer.ip().to_string();
            let ctx = Context {
                direction: Some(Direction::Login),
                account: account.unwrap_or(""),
                address: Some(&address),
                ..Default::default()
            };
            gate.refuse(&ctx, why);
        }
    }

    /// Audits a boundary control's refusal made by the front-end itself (a DCC offer: file
    /// transfer never crosses), naming the control.
    pub fn control_refused(&self, account: &str, target: &str, control: &'static str, why: &str) {
        tracing::info!(
            account,
            target,
            control,
            why,
            "refused by a boundary control"
        );
        if let Some(gate) = self.audit.get() {
            let ctx = Context {
                direction: Some(Direction::IrcToXmpp),
                account,
                room: target,
                ..Default::default()
            };
            gate.stop(&ctx, control, why);
        }
    }

    /// The current user directory.
    pub fn users(&self) -> Arc<Users> {
        match self.users.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the user directory (connected users stay connected).
    pub fn reload_users(&self, users: impl Into<Arc<Users>>) {
        let new = users.into();
        match self.users.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }

    /// Claims a nick for a connection; false if someone else has it.
    pub fn claim_nick(&self, nick: &str, id: u64) -> bool {
        let key = names::fold(nick);
        let mut nicks = match self.nicks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match nicks.get(&key) {
            Some(&owner) if owner != id => false,
            _ => {
                nicks.retain(|_, v| *v != id);
                nicks.insert(key, id);
                true
            }
        }
    }

    /// Releases a connection's nick.
    pub fn release_nick(&self, id: u64) {
        let mut nicks = match self.nicks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        nicks.retain(|_, v| *v != id);
    }

    /// Whether a nick is in use by someone.
    pub fn nick_in_use(&self, nick: &str) -> bool {
        let nicks = match self.nicks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        nicks.contains_key(&names::fold(nick))
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Accepts clients on `listener` until shutdown. With `tls`, every connection is TLS.
pub async fn serve<B: Backend>(
    shared: Arc<Shared<B>>,
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    proxy_from: ProxyFrom,
) -> std::io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let proxy_from = Arc::new(proxy_from);
    let mut shutdown = shared.shutdown.clone();
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return Ok(()),
        };
        let (tcp, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(10);
                x
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        if shared.clients.load(Ordering::Relaxed) >= shared.config.max_clients as u64 {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut tcp = tcp;
                let _ = tcp.write_all(b"ERROR :Server full\r\n").await;
            });
            continue;
        }
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let proxy_from = proxy_from.clone();
        let id = shared.next_id();
        shared.clients.fetch_add(1, Ordering::Relaxed);
        let connected = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut tcp = tcp;
            // Behind a load balancer, the client's own address (from its PROXY header). A
            // direct client's first bytes are looked at for as long as it may take to register.
            let wait = shared.config.registration_timeout;
            let peer = match super::proxied::accept(&mut tcp, peer, &proxy_from, wait).await {
                Ok(client) => Some(client),
                Err(why) => {
                    shared.connection_refused(peer, &why.to_string());
                    super::proxied::refuse(&mut tcp, &why).await;
                    None
                }
            };
            match (peer, acceptor) {
                (None, _) => {}
                (Some(peer), Some(acc)) => {
                    match tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let chain: Vec<Vec<u8>> = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .map(|c| c.iter().map(|c| c.as_ref().to_vec()).collect())
                                .unwrap_or_default();
                            super::client::run(shared.clone(), id, peer, stream, chain, connected)
                                .await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                (Some(peer), None) => {
                    super::client::run(shared.clone(), id, peer, tcp, Vec::new(), connected).await
                }
            }
            shared.release_nick(id);
            shared.clients.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
