//! What the load examples share: the project's ejabberd for benchmarks (`target/bench-xmpp`,
//! port 25422, started by `contrib/ejabberd`), a trusted-gateway endpoint to it, and the
//! resident memory of a process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use labelgate::xmpp::connect::{Endpoint, TlsMode};
use labelgate::xmpp::tls;
use tokio_xmpp::xmlstream::Timeouts;

/// The benchmark ejabberd's c2s port.
pub const XMPP_PORT: u16 = 25422;
/// Its c2s port for bitlbee, which accepts only ports 5220-5229 for XMPP servers.
#[allow(dead_code)]
pub const PEER_PORT: u16 = 5224;

/// The benchmark cluster's first node's c2s port (`contrib/ejabberd cluster`: the second
/// node's is 10 more).
#[allow(dead_code)]
pub const CLUSTER_PORT: u16 = 25440;

/// Starts (or restarts the stopped nodes of) the benchmark's two-node ejabberd cluster in
/// `target/bench-cluster`; returns each node's folder (with `pki/`, shared) and port.
#[allow(dead_code)]
pub fn start_cluster() -> Result<Vec<(PathBuf, u16)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-cluster");
    let ok = Command::new(root.join("contrib/ejabberd"))
        .args([
            "cluster",
            dir.to_str().context("path")?,
            &CLUSTER_PORT.to_string(),
        ])
        .env_remove("PEER_PORT")
        .status()?
        .success();
    if !ok {
        bail!("contrib/ejabberd cluster failed");
    }
    Ok(vec![
        (dir.join("node1"), CLUSTER_PORT),
        (dir.join("node2"), CLUSTER_PORT + 10),
    ])
}

/// Starts (or finds running) the benchmark ejabberd, with its listener for bitlbee; returns
/// its folder (with `pki/`).
pub fn start_server() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-xmpp");
    let script = root.join("contrib/ejabberd");
    let d = dir.to_str().context("path")?;
    let start = || -> Result<()> {
        let ok = Command::new(&script)
            .args(["start", d, &XMPP_PORT.to_string()])
            .env("PEER_PORT", PEER_PORT.to_string())
            .status()?
            .success();
        if !ok {
            bail!("contrib/ejabberd start failed");
        }
        Ok(())
    };
    start()?;
    // One started by an older tool has no listener for bitlbee: start it again.
    if std::net::TcpStream::connect(("127.0.0.1", PEER_PORT)).is_err() {
        Command::new(&script).args(["stop", d]).status()?;
        start()?;
    }
    Ok(dir)
}

/// The trusted-gateway endpoint (gateway certificate, SASL EXTERNAL) of the server in `dir`,
/// with generous timeouts for a loaded machine: `handshake` for logging in, `response` for an
/// answer, five times that for silence on the stream.
#[allow(dead_code)]
pub fn gateway_endpoint(
    dir: &Path,
    handshake: Duration,
    response: Duration,
) -> Result<Arc<Endpoint>> {
    gateway_endpoint_on(dir, XMPP_PORT, handshake, response)
}

/// [`gateway_endpoint`] for the server in `dir` listening on `port`.
pub fn gateway_endpoint_on(
    dir: &Path,
    port: u16,
    handshake: Duration,
    response: Duration,
) -> Result<Arc<Endpoint>> {
    let pki = dir.join("pki");
    Ok(Arc::new(Endpoint {
        addr: ([127, 0, 0, 1], port).into(),
        failover: Vec::new(),
        domain: "labelgate.test".into(),
        tls_mode: TlsMode::StartTls,
        tls: tls::client_config_from_files(
            &pki.join("ca.crt"),
            Some((&pki.join("gateway.crt"), &pki.join("gateway.key"))),
        )?,
        handshake_timeout: handshake,
        timeouts: Timeouts {
            read_timeout: response * 5,
            response_timeout: response,
        },
    }))
}

/// Resident memory of process `pid` (or of this process), KiB.
pub fn rss_kib(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
