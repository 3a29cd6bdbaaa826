//! Load check for the XMPP side: N concurrent trusted-gateway sessions log in with SASL
//! EXTERNAL and join rooms on the project's own ejabberd (loopback). Prints the time taken and
//! the gateway process's resident memory per session.
//!
//! `cargo run --release --example xmpp_sessions -- [SESSIONS] [ROOM_SIZE]` (defaults 500, 10).
//! Bounded: at most SESSIONS sessions, 64 logins in flight, 120 s overall.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use labelgate::xmpp::connect::{Endpoint, TlsMode};
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig};
use labelgate::xmpp::tls;
use tokio_xmpp::xmlstream::Timeouts;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let room_size: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10)
        .max(1);
    if n > 5000 {
        bail!("at most 5000 sessions");
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = PathBuf::from(format!("{root}/target/bench-xmpp"));
    let port = 25422u16;
    let ok = Command::new(format!("{root}/contrib/ejabberd"))
        .args(["start", dir.to_str().context("path")?, &port.to_string()])
        .status()?
        .success();
    if !ok {
        bail!("contrib/ejabberd start failed");
    }
    let pki = dir.join("pki");
    let endpoint = Arc::new(Endpoint {
        addr: ([127, 0, 0, 1], port).into(),
        domain: "labelgate.test".into(),
        tls_mode: TlsMode::StartTls,
        tls: tls::client_config_from_files(
            &pki.join("ca.crt"),
            Some((&pki.join("gateway.crt"), &pki.join("gateway.key"))),
        )?,
        handshake_timeout: Duration::from_secs(30),
        timeouts: Timeouts {
            read_timeout: Duration::from_secs(300),
            response_timeout: Duration::from_secs(60),
        },
    });
    let run = std::process::id();
    let before = rss_kib();
    let started = Instant::now();
    let results: Vec<Result<(Session, tokio::sync::mpsc::Receiver<_>)>> = tokio::time::timeout(
        Duration::from_secs(120),
        futures::stream::iter(0..n)
            .map(|i| {
                let endpoint = endpoint.clone();
                async move {
                    let jid = format!("load{run}u{i}@labelgate.test").parse()?;
                    let mut cfg = SessionConfig::new(endpoint, jid, IdentityMode::TrustedGateway);
                    cfg.join_timeout = Duration::from_secs(60);
                    let (s, rx) = Session::start(cfg).await?;
                    let room =
                        format!("load{run}r{}@conference.labelgate.test", i / room_size).parse()?;
                    s.join(
                        &room,
                        &format!("u{i}"),
                        History {
                            max_stanzas: Some(0),
                            since: None,
                        },
                    )
                    .await?;
                    Ok((s, rx))
                }
            })
            .buffer_unordered(64)
            .collect(),
    )
    .await
    .context("did not finish within 120 s")?;
    let elapsed = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {e:#}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib();
    let ok = n - failed;
    println!("sessions: {n}, logged in and joined: {ok}, failed: {failed}");
    println!(
        "time: {:.2} s ({:.0} sessions/s)",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64()
    );
    println!(
        "gateway RSS: {before} KiB before, {after} KiB after, {:.1} KiB per session",
        (after.saturating_sub(before)) as f64 / ok.max(1) as f64
    );
    let sessions: Vec<Session> = results
        .into_iter()
        .filter_map(|r| r.ok().map(|(s, _rx)| s))
        .collect();
    futures::stream::iter(sessions.iter())
        .for_each_concurrent(64, |s| s.close())
        .await;
    if failed > 0 {
        bail!("{failed} sessions failed");
    }
    Ok(())
}
