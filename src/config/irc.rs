//! The IRC front-end's settings, as the gateway file gives them: here, below both `config`'s
//! reader and the IRC server, so that neither imports the other's machinery.

use std::net::SocketAddr;
use std::time::Duration;

/// Settings of the IRC front-end.
#[derive(Debug, Clone, PartialEq)]
pub struct IrcConfig {
    /// The server's name (source of numerics).
    pub server_name: String,
    /// The network name (ISUPPORT NETWORK).
    pub network: String,
    /// Message of the day, line by line (empty: ERR_NOMOTD).
    pub motd: Vec<String>,
    /// Require SASL or PASS (default yes).
    pub require_auth: bool,
    /// Bytes a client's send queue may hold before it is disconnected.
    pub sendq_bytes: usize,
    /// Lines a client may send at once before flood control delays it.
    pub flood_burst: u32,
    /// Lines per second a client earns back.
    pub flood_rate: f64,
    /// Lines a client may be behind before it is disconnected for flooding.
    pub flood_max_debt: u32,
    /// Silence before the server sends PING.
    pub ping_interval: Duration,
    /// Silence after that PING before the client is dropped.
    pub ping_timeout: Duration,
    /// Time allowed to complete registration.
    pub registration_timeout: Duration,
    /// Most clients at once.
    pub max_clients: usize,
}

impl Default for IrcConfig {
    fn default() -> Self {
        IrcConfig {
            server_name: "labelgate".into(),
            network: "labelgate".into(),
            motd: vec!["Messages here carry security labels; each line shows its marking.".into()],
            require_auth: true,
            sendq_bytes: 1 << 20,
            flood_burst: 10,
            flood_rate: 2.0,
            flood_max_debt: 40,
            ping_interval: Duration::from_secs(120),
            ping_timeout: Duration::from_secs(60),
            registration_timeout: Duration::from_secs(60),
            max_clients: 10_000,
        }
    }
}

/// Why a listener may not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerError {
    /// Plaintext IRC on a non-loopback address.
    #[error(
        "refusing a plaintext IRC listener on {0}: plaintext is allowed only on a loopback address; configure TLS"
    )]
    PlaintextNotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, String),
}

/// Checks that a plaintext listener is on loopback.
pub fn check_plaintext(addr: SocketAddr) -> Result<(), ListenerError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ListenerError::PlaintextNotLoopback(addr))
    }
}
