//! Load check for the XMPP side: N concurrent trusted-gateway sessions log in with SASL
//! EXTERNAL and join rooms on the project's own ejabberd (loopback). Prints the time taken and
//! the gateway process's resident memory per session.
//!
//! `cargo run --release --example xmpp_sessions -- [SESSIONS] [ROOM_SIZE]` (defaults 500, 10).
//! Bounded: at most SESSIONS sessions, 64 logins in flight, 120 s overall.

#[path = "support/bench.rs"]
mod bench;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig};

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
    let dir = bench::start_server()?;
    let endpoint = bench::gateway_endpoint(&dir, Duration::from_secs(30), Duration::from_secs(60))?;
    let run = std::process::id();
    let before = bench::rss_kib(None);
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
    let after = bench::rss_kib(None);
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
