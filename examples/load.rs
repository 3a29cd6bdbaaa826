//! Load tool: drives N IRC clients (TLS, SASL PLAIN) through a real `labelgate` process into R
//! rooms on the project's ejabberd, plus M XMPP clients in the same rooms, sending labelled
//! messages at a set rate; and, as the baseline, the same traffic between XMPP clients
//! connected directly to the same ejabberd. Reports end-to-end latency (p50/p95/p99) per path,
//! delivered messages per second, CPU seconds per 1,000 delivered messages (labelgate and
//! ejabberd), resident memory per connected user, and the login rate. Every expected delivery
//! must arrive and no withheld one may: a lost or leaked message fails the run.
//!
//! ```text
//! contrib/load --users 100 --rooms 10      # builds, raises the open-file limit, runs this
//! ```
//!
//! Bounded: at most 5,000 users, 50 messages each, the whole run within `--max-secs`;
//! loopback only (ejabberd on 25422, labelgate on free loopback ports).

#![allow(clippy::disallowed_methods)]

#[path = "support/bench.rs"]
mod bench;

use labelgate::internal::peer_cleared;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Parser;
use futures::StreamExt;
use labelgate::xmpp::connect::Endpoint;
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent, origin_id};
use labelgate::xmpp::tls;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Parser, Debug)]
struct Args {
    /// IRC users (through labelgate).
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Rooms (users are spread over them).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// XMPP clients in the same rooms (the baseline has as many XMPP clients as IRC users).
    #[arg(long, default_value_t = 10)]
    xmpp: usize,
    /// Messages each IRC user and each XMPP client sends.
    #[arg(long, default_value_t = 10)]
    messages: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// The labelgate binary.
    #[arg(long, default_value = "target/release/labelgate")]
    labelgate: PathBuf,
    /// Give up after this long.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

use bench::XMPP_PORT;
/// The clock all timestamps in message bodies are relative to.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Which path a delivery took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Path2 {
    IrcToIrc,
    IrcToXmpp,
    XmppToIrc,
    XmppToXmpp,
}

#[derive(Default)]
struct Record {
    latencies: HashMap<Path2, Vec<u64>>,
    /// (receiver, sender, seq) seen, to find duplicates and count deliveries.
    seen: HashMap<(String, String, usize), u32>,
    leaks: Vec<String>,
}

type Shared = Arc<Mutex<Record>>;

fn record(shared: &Shared, path: Path2, receiver: &str, sender: &str, seq: usize, sent: u64) {
    let lat = now_us().saturating_sub(sent);
    let mut r = shared.lock().unwrap_or_else(|p| p.into_inner());
    r.latencies.entry(path).or_default().push(lat);
    *r.seen
        .entry((receiver.to_owned(), sender.to_owned(), seq))
        .or_default() += 1;
}

/// Parses a load message body: `... m SENDER SEQ SENT_US CLASS`.
fn parse_body(text: &str) -> Option<(String, usize, u64, String)> {
    let rest = match text.strip_prefix("m ") {
        Some(r) => r,
        None => &text[text.find(" m ")? + 3..],
    };
    let mut it = rest.split(' ');
    Some((
        it.next()?.to_owned(),
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.to_owned(),
    ))
}

/// Whether IRC user `i` holds SECRET, UK (every room gets both kinds of user: user `i` is in
/// room `i % rooms`).
fn cleared(i: usize, rooms: usize) -> bool {
    (i / rooms) % 2 == 1
}

/// CPU seconds (user + system) of every process whose session id is `sid` (or of `pid` alone).
fn cpu_secs(pid: u32, whole_session: bool) -> f64 {
    const TICKS: f64 = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces) start at state (3rd).
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = after.split(' ').collect();
        let sid: u32 = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
        if (whole_session && sid == pid) || (!whole_session && p == pid) {
            let ut: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0);
            let st: u64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
            total += ut + st;
        }
    }
    total as f64 / TICKS
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

struct Setup {
    dir: PathBuf,
    gateway: PathBuf,
    irc_addr: std::net::SocketAddr,
    run: u32,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes the gateway's configuration: users alternately OFFICIAL and SECRET with UK.
fn write_config(root: &Path, xmpp_dir: &Path, a: &Args) -> Result<Setup> {
    let run = std::process::id();
    let dir = root.join("target/bench-load");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("mappings"))?;
    std::fs::copy(
        root.join("tests/fixtures/spif/uk-demo.xml"),
        dir.join("policy.xml"),
    )?;
    let hash = labelgate::config::users::hash_password("load").map_err(anyhow::Error::msg)?;
    let mut users = String::from("jid_template = \"{account}@labelgate.test\"\n");
    for i in 0..a.users {
        let clearance = if cleared(i, a.rooms) {
            "SECRET, UK"
        } else {
            "OFFICIAL"
        };
        users.push_str(&format!(
            "[[user]]\naccount = \"u{i}\"\nclearance = \"{clearance}\"\npassword = \"{hash}\"\n"
        ));
    }
    std::fs::write(dir.join("users.toml"), users)?;
    let mut maps = String::new();
    for r in 0..a.rooms {
        maps.push_str(&format!(
            "[[channel]]\nirc = \"#r{r}\"\nroom = \"load{run}r{r}@conference.labelgate.test\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET, UK\"\nhistory = 0\n\n"
        ));
    }
    std::fs::write(dir.join("mappings/load.toml"), maps)?;
    let irc_port = free_port()?;
    let metrics_port = free_port()?;
    let pki = xmpp_dir.join("pki");
    let p = |f: &str| pki.join(f).display().to_string();
    let gateway = dir.join("gateway.toml");
    std::fs::write(
        &gateway,
        format!(
            r#"[irc]
[[irc.listen]]
address = "127.0.0.1:{irc_port}"
tls = true
[irc.tls]
certificate = "{irc_crt}"
key = "{irc_key}"
request_client_certificate = false
[irc.limits]
flood_burst = 1000
flood_rate = 1000.0
flood_max_debt = 4000
max_clients = 20000
ping_interval_secs = 600
[xmpp]
address = "127.0.0.1:{XMPP_PORT}"
domain = "labelgate.test"
ca_file = "{ca}"
identity = "trusted-gateway"
certificate = "{gw_crt}"
key = "{gw_key}"
[policy]
file = "policy.xml"
[files]
users = "users.toml"
mappings = "mappings"
[audit]
file = "audit.log"
[metrics]
listen = "127.0.0.1:{metrics_port}"
"#,
            irc_crt = p("irc.crt"),
            irc_key = p("irc.key"),
            ca = p("ca.crt"),
            gw_crt = p("gateway.crt"),
            gw_key = p("gateway.key"),
        ),
    )?;
    Ok(Setup {
        dir,
        gateway,
        irc_addr: ([127, 0, 0, 1], irc_port).into(),
        run,
    })
}

/// One IRC user: logged in over TLS with SASL PLAIN, joined to its room.
struct IrcUser {
    writer: tokio::io::WriteHalf<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

async fn irc_login(
    addr: std::net::SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    i: usize,
    room: usize,
    shared: Shared,
    secret_cleared: bool,
) -> Result<IrcUser> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    let (rd, mut wr) = tokio::io::split(stream);
    let mut lines = BufReader::new(rd).lines();
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("u{i}\0u{i}\0load"));
    wr.write_all(
        format!(
            "CAP REQ :sasl\r\nAUTHENTICATE PLAIN\r\nAUTHENTICATE {plain}\r\nCAP END\r\nNICK u{i}\r\nUSER u{i} 0 * :load\r\nJOIN #r{room}\r\n"
        )
        .as_bytes(),
    )
    .await?;
    loop {
        let Some(l) = lines.next_line().await? else {
            bail!("u{i}: connection closed during login");
        };
        if l.contains(" 366 ") {
            break;
        }
        if l.contains(" 904 ") || l.contains(" 464 ") || l.starts_with("ERROR") {
            bail!("u{i}: {l}");
        }
    }
    let me = format!("u{i}");
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.starts_with("PING") {
                continue;
            }
            let Some((_, text)) = l.split_once(" PRIVMSG #") else {
                continue;
            };
            let Some((_, text)) = text.split_once(" :") else {
                continue;
            };
            let Some((sender, seq, sent, class)) = parse_body(text) else {
                continue;
            };
            if class == "S" && !secret_cleared {
                let mut r = shared.lock().unwrap_or_else(|p| p.into_inner());
                r.leaks.push(format!("{me} got {l}"));
                continue;
            }
            let path = if sender.starts_with('x') {
                Path2::XmppToIrc
            } else {
                Path2::IrcToIrc
            };
            record(&shared, path, &me, &sender, seq, sent);
        }
    });
    Ok(IrcUser { writer: wr })
}

/// An XMPP client in room `room`, recording what it receives on `path_from_irc` (or, for
/// messages from other XMPP clients, XMPP → XMPP).
async fn xmpp_client(
    ep: Arc<Endpoint>,
    name: String,
    room: jid::BareJid,
    shared: Shared,
) -> Result<Session> {
    let jid = format!("{name}@labelgate.test").parse()?;
    let (s, mut rx) = Session::start(SessionConfig::new(ep, jid, IdentityMode::TrustedGateway))
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    s.join(&room, &name, History::default())
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let XmppEvent::Groupchat {
                nick: Some(nick),
                message,
                ..
            } = e
            {
                if nick == name {
                    continue;
                }
                let Some(body) = message.body else { continue };
                let Some((sender, seq, sent, _)) = parse_body(&body) else {
                    continue;
                };
                let path = match (sender.chars().next(), name.chars().next()) {
                    (Some('u'), _) => Path2::IrcToXmpp,
                    (Some('y'), Some('y')) => Path2::XmppToXmpp,
                    _ => continue, // XMPP clients of the gateway's rooms among themselves
                };
                record(&shared, path, &name, &sender, seq, sent);
            }
        }
    });
    Ok(s)
}

fn start_labelgate(a: &Args, s: &Setup) -> Result<Child> {
    let log = std::fs::File::create(s.dir.join("labelgate.log"))?;
    let child = Command::new(&a.labelgate)
        .args(["run", "--config"])
        .arg(&s.gateway)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", a.labelgate.display()))?;
    Ok(child)
}

struct Report {
    traffic_secs: f64,
    /// CPU seconds of labelgate and ejabberd during the traffic.
    cpu: (f64, f64),
    login_secs: f64,
    /// labelgate's RSS before the logins and after, KiB.
    rss: (u64, u64),
}

/// Prints the run's tables; returns whether every expected delivery arrived, and how many
/// deliveries were duplicated.
fn report(a: &Args, r: &Record, expected: &HashMap<Path2, usize>, m: Report) -> (bool, usize) {
    let Report {
        traffic_secs,
        cpu: (lg_cpu, ej_cpu),
        login_secs,
        rss: (idle_rss, loaded_rss),
    } = m;
    let total_expected: usize = expected.values().sum();
    let dups = r.seen.values().filter(|n| **n > 1).count();

    println!(
        "IRC users {} · rooms {} · XMPP clients {} in the same rooms · baseline: {} XMPP clients in {} rooms of their own · {} messages each · {} msg/s offered",
        a.users, a.rooms, a.xmpp, a.users, a.rooms, a.messages, a.rate
    );
    println!();
    println!("| path | expected | delivered | p50 ms | p95 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut ok = true;
    let mut delivered_total = 0usize;
    for (path, name) in [
        (Path2::IrcToIrc, "IRC → IRC"),
        (Path2::IrcToXmpp, "IRC → XMPP"),
        (Path2::XmppToIrc, "XMPP → IRC"),
        (Path2::XmppToXmpp, "XMPP → XMPP (baseline, direct)"),
    ] {
        let mut l = r.latencies.get(&path).cloned().unwrap_or_default();
        l.sort_unstable();
        let want = expected.get(&path).copied().unwrap_or(0);
        ok &= l.len() == want;
        delivered_total += l.len();
        println!(
            "| {name} | {want} | {} | {:.2} | {:.2} | {:.2} |",
            l.len(),
            percentile(&l, 0.50),
            percentile(&l, 0.95),
            percentile(&l, 0.99)
        );
    }
    let gw_delivered: usize = [Path2::IrcToIrc, Path2::IrcToXmpp, Path2::XmppToIrc]
        .iter()
        .map(|p| r.latencies.get(p).map_or(0, Vec::len))
        .sum();
    println!();
    println!(
        "delivered {delivered_total} in {traffic_secs:.1} s ({:.0}/s); labelgate CPU {lg_cpu:.2} s = {:.3} s per 1,000 gateway deliveries; ejabberd CPU {ej_cpu:.2} s = {:.3} s per 1,000 deliveries",
        delivered_total as f64 / traffic_secs,
        1000.0 * lg_cpu / gw_delivered.max(1) as f64,
        1000.0 * ej_cpu / delivered_total.max(1) as f64,
    );
    println!(
        "logins: {} in {login_secs:.1} s ({:.0}/s); labelgate RSS {idle_rss} KiB idle → {loaded_rss} KiB with every user logged in and joined = {:.1} KiB per user (IRC connection + XMPP session)",
        a.users,
        a.users as f64 / login_secs,
        (loaded_rss.saturating_sub(idle_rss)) as f64 / a.users as f64
    );
    let p = |path: Path2, q: f64| {
        let mut l = r.latencies.get(&path).cloned().unwrap_or_default();
        l.sort_unstable();
        percentile(&l, q)
    };
    println!(
        "ratios to the direct baseline: IRC → IRC latency p50 {:.2}×, p99 {:.2}×; labelgate CPU per gateway delivery / ejabberd CPU per delivery {:.2}",
        p(Path2::IrcToIrc, 0.5) / p(Path2::XmppToXmpp, 0.5),
        p(Path2::IrcToIrc, 0.99) / p(Path2::XmppToXmpp, 0.99),
        (lg_cpu / gw_delivered.max(1) as f64) / (ej_cpu / delivered_total.max(1) as f64),
    );
    println!(
        "leaks: {} · duplicates: {dups} · lost: {}",
        r.leaks.len(),
        total_expected.saturating_sub(delivered_total)
    );
    for l in r.leaks.iter().take(5) {
        println!("  LEAK {l}");
    }
    (ok, dups)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    if a.users > 5000 || a.messages > 50 || a.rooms == 0 || a.users < 2 * a.rooms {
        bail!("at most 5000 users and 50 messages each; at least one room and two users per room");
    }
    EPOCH.get_or_init(Instant::now);
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let xmpp_dir = bench::start_server()?;
    let ejabberd_sid: u32 = std::fs::read_to_string(xmpp_dir.join("pid"))?
        .trim()
        .parse()?;
    let setup = write_config(&root, &xmpp_dir, &a)?;
    let mut child = start_labelgate(&a, &setup)?;
    let pid = child.id();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(setup.irc_addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_rss = bench::rss_kib(Some(pid));
    let shared: Shared = Arc::default();
    let irc_tls = tls::client_config_from_files(&xmpp_dir.join("pki/ca.crt"), None)?;

    // Logins: IRC users through labelgate (argon2 per login is most of the cost).
    let t0 = Instant::now();
    let users: Vec<Result<IrcUser>> = futures::stream::iter(0..a.users)
        .map(|i| {
            irc_login(
                setup.irc_addr,
                irc_tls.clone(),
                i,
                i % a.rooms,
                shared.clone(),
                cleared(i, a.rooms),
            )
        })
        .buffered(32)
        .collect()
        .await;
    let login_secs = t0.elapsed().as_secs_f64();
    let mut irc = Vec::new();
    for u in users {
        irc.push(u?);
    }
    // Let the joins settle, then measure memory with everyone idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded_rss = bench::rss_kib(Some(pid));

    // XMPP clients in the same rooms, and the baseline's own rooms.
    let ep = bench::gateway_endpoint(&xmpp_dir, Duration::from_secs(60), Duration::from_secs(120))?;
    let mut xmpp = Vec::new();
    for k in 0..a.xmpp {
        let r = k % a.rooms;
        let room = format!("load{}r{r}@conference.labelgate.test", setup.run).parse()?;
        xmpp.push(xmpp_client(ep.clone(), format!("x{k}"), room, shared.clone()).await?);
    }
    let base: Vec<Result<Session>> = futures::stream::iter(0..a.users)
        .map(|k| {
            let broom = format!(
                "load{}b{}@conference.labelgate.test",
                setup.run,
                k % a.rooms
            );
            let (ep, shared) = (ep.clone(), shared.clone());
            async move { xmpp_client(ep, format!("y{k}"), broom.parse()?, shared).await }
        })
        .buffered(32)
        .collect()
        .await;
    let base: Vec<Session> = base.into_iter().collect::<Result<_>>()?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Traffic: every IRC user and every XMPP client sends `messages`, spread evenly so that
    // all senders together keep `rate` per second. Every fourth message of a SECRET-cleared
    // IRC user is SECRET: it must reach only cleared IRC users (and the XMPP occupants).
    let cpu0 = (cpu_secs(pid, false), cpu_secs(ejabberd_sid, true));
    let t1 = Instant::now();
    let mut expected: HashMap<Path2, usize> = HashMap::new();
    let per_room = |n: usize, r: usize| (0..n).filter(|i| i % a.rooms == r).count();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / a.rate.max(0.1)));
    for seq in 0..a.messages {
        for (i, u) in irc.iter_mut().enumerate() {
            ticker.tick().await;
            let r = i % a.rooms;
            let secret = cleared(i, a.rooms) && seq % 4 == 3;
            let (mark, class) = if secret {
                ("[SECRET UK EYES ONLY] ", "S")
            } else {
                ("", "O")
            };
            let line = format!("PRIVMSG #r{r} :{mark}m u{i} {seq} {} {class}\r\n", now_us());
            u.writer.write_all(line.as_bytes()).await?;
            let others: usize = (0..a.users)
                .filter(|j| *j != i && j % a.rooms == r && (!secret || cleared(*j, a.rooms)))
                .count();
            *expected.entry(Path2::IrcToIrc).or_default() += others;
            *expected.entry(Path2::IrcToXmpp).or_default() += per_room(a.xmpp, r);
        }
        for (k, x) in xmpp.iter().enumerate() {
            ticker.tick().await;
            let r = k % a.rooms;
            let room: jid::BareJid =
                format!("load{}r{r}@conference.labelgate.test", setup.run).parse()?;
            let out = OutgoingMessage {
                body: format!("m x{k} {seq} {} O", now_us()),
                label: None,
                origin_id: origin_id(),
                notice: false,
            };
            x.send_groupchat(&room, &peer_cleared(out)).await?;
            *expected.entry(Path2::XmppToIrc).or_default() += per_room(a.users, r);
        }
        // The baseline: the IRC users' traffic, between XMPP clients directly.
        for (k, y) in base.iter().enumerate() {
            ticker.tick().await;
            let r = k % a.rooms;
            let broom: jid::BareJid =
                format!("load{}b{r}@conference.labelgate.test", setup.run).parse()?;
            let out = OutgoingMessage {
                body: format!("m y{k} {seq} {} O", now_us()),
                label: None,
                origin_id: origin_id(),
                notice: false,
            };
            y.send_groupchat(&broom, &peer_cleared(out)).await?;
            *expected.entry(Path2::XmppToXmpp).or_default() += per_room(a.users, r) - 1;
        }
        if Instant::now() > deadline {
            bail!("out of time while sending");
        }
    }
    // Wait for the deliveries (at most 60 s after the last send).
    let total_expected: usize = expected.values().sum();
    let wait_until = (Instant::now() + Duration::from_secs(60)).min(deadline);
    loop {
        let got: usize = {
            let r = shared.lock().unwrap_or_else(|p| p.into_inner());
            r.latencies.values().map(Vec::len).sum()
        };
        if got >= total_expected || Instant::now() > wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let traffic_secs = t1.elapsed().as_secs_f64();
    let cpu1 = (cpu_secs(pid, false), cpu_secs(ejabberd_sid, true));
    let (ok, dups) = {
        let r = shared.lock().unwrap_or_else(|p| p.into_inner());
        report(
            &a,
            &r,
            &expected,
            Report {
                traffic_secs,
                cpu: (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1),
                login_secs,
                rss: (idle_rss, loaded_rss),
            },
        )
    };
    for s in xmpp.iter().chain(&base) {
        s.close().await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await;
    let leaks = shared.lock().map(|r| r.leaks.len()).unwrap_or(1);
    if !ok || leaks > 0 || dups > 0 {
        bail!("the run lost, leaked or duplicated messages (see above)");
    }
    Ok(())
}
