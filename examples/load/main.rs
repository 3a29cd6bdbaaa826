//! Load tool: the same users and traffic through labelgate, through bitlbee (the peer
//! baseline: Debian's package, an IRC server in front of XMPP without labels), and as XMPP
//! clients straight on the same ejabberd, modes interleaved and each repeated. For each run it
//! reports login rates at two concurrencies, resident memory per user of the gateway process,
//! and, for each of two traffic phases (users → room, then room → users), latency percentiles
//! per way, CPU per 1,000 user deliveries of the gateway and of ejabberd, and lost, duplicated
//! and leaked counts; then one table across modes with the ratios to bitlbee and to direct.
//!
//! ```text
//! contrib/load --users 100 --rooms 10 --rate 200   # builds, raises the open-file limit, runs
//! contrib/load --cluster --modes labelgate,pair    # one gateway, then two, on a 2-node cluster
//! ```
//!
//! With `--cluster` the XMPP side is a two-node ejabberd cluster (`contrib/ejabberd cluster`,
//! ports 25440 and 25450) instead of the one benchmark server: `labelgate` is one gateway on
//! node 1 (node 2 its failover), `pair` two gateways with the same files, one per node, users
//! alternating between them; the room side is on node 1. Memory and CPU are the sums over the
//! gateways, and over both nodes for ejabberd.
//!
//! labelgate's users alternate OFFICIAL and SECRET, UK; every fourth message of a SECRET user
//! is typed `[SECRET UK EYES ONLY]` and must reach only cleared users (bitlbee and direct carry
//! the same bytes without deciding anything). Bounded: at most 5,000 users, 50 messages each,
//! the whole run within `--max-secs`; loopback only (ejabberd on 25422, gateways on free
//! loopback ports).

#![allow(clippy::disallowed_methods)]

#[path = "../support/bench.rs"]
mod bench;
mod bitlbee;
mod gateway;
mod report;
mod stats;
mod users;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use futures::StreamExt;
use jid::BareJid;
use labelgate::xmpp::session::Session;

use gateway::{Gateway, Mode};
use report::{Login, Phase, Run};
use stats::{Shared, Way, cpu_secs, now_us};
use users::{Front, User, Who};

#[derive(Parser, Debug)]
pub struct Args {
    /// Users under test (IRC users of a gateway, or direct XMPP clients).
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Rooms (users are spread over them: user `i` is in room `i % rooms`).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// XMPP clients on the room side, in the same rooms.
    #[arg(long, default_value_t = 10)]
    xmpp: usize,
    /// Messages each user sends in the users → room phase; the room side sends as many in all.
    #[arg(long, default_value_t = 10)]
    messages: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Which modes, in order: labelgate, baseline (with --baseline), bitlbee, direct.
    #[arg(
        long,
        default_value = "labelgate,bitlbee,direct",
        value_delimiter = ','
    )]
    modes: Vec<Mode>,
    /// How many times the sequence of modes runs (interleaved).
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Login concurrencies: the first half of the users logs in at the first, the rest at
    /// the second.
    #[arg(long, default_value = "10,50", value_delimiter = ',', num_args = 2)]
    concurrency: Vec<usize>,
    /// labelgate's users log in with client certificates (SASL EXTERNAL) instead of passwords
    /// (the certificates are made once, in the benchmark ejabberd's PKI folder).
    #[arg(long)]
    certificates: bool,
    /// labelgate's tokio worker threads (`TOKIO_WORKER_THREADS`; default: one per core).
    #[arg(long)]
    labelgate_workers: Option<usize>,
    /// The labelgate binary.
    #[arg(long, default_value = "target/release/labelgate")]
    labelgate: PathBuf,
    /// Another labelgate binary for the `baseline` mode (e.g. a release build of an earlier
    /// commit): the summary then compares labelgate with it.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Give up after this long.
    #[arg(long, default_value_t = 1800)]
    max_secs: u64,
    /// The XMPP side is a two-node ejabberd cluster (needed by the `pair` mode).
    #[arg(long)]
    cluster: bool,
}

/// Whether user `i` holds SECRET, UK (each room gets both kinds).
pub fn cleared(i: usize, rooms: usize) -> bool {
    (i / rooms) % 2 == 1
}

/// How long one login may take, and how many times it is tried.
const LOGIN_LIMIT: Duration = Duration::from_secs(30);
const LOGIN_TRIES: usize = 3;

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    if a.users > 5000 || a.messages > 50 || a.rooms == 0 || a.users < 2 * a.rooms || a.xmpp == 0 {
        bail!(
            "at most 5000 users and 50 messages each; at least one room, two users per room \
             and one room-side XMPP client"
        );
    }
    now_us();
    let deadline = Instant::now() + Duration::from_secs(a.max_secs);
    let nodes = if a.cluster {
        bench::start_cluster()?
    } else {
        vec![(bench::start_server()?, bench::XMPP_PORT)]
    };
    let mut ejabberd = Vec::new();
    for (dir, _) in &nodes {
        ejabberd.push(
            std::fs::read_to_string(dir.join("pid"))?
                .trim()
                .parse::<u32>()?,
        );
    }
    let ep = bench::gateway_endpoint_on(
        &nodes[0].0,
        nodes[0].1,
        Duration::from_secs(60),
        Duration::from_secs(120),
    )?;
    let mut gw = Gateway::new(&a, &nodes)?;
    let mut runs = Vec::new();
    for rep in 0..a.repeat {
        for &mode in &a.modes {
            if Instant::now() > deadline {
                bail!("out of time");
            }
            let tag = format!("{}{}{rep}", std::process::id(), mode.letter());
            let run = one_run(&a, &mut gw, mode, &tag, &ep, &ejabberd, deadline).await?;
            report::print_run(&run);
            runs.push(run);
        }
    }
    report::print_summary(&a, &runs);
    if runs.iter().any(|r| !r.clean()) {
        bail!("a run lost, leaked or duplicated messages (see above)");
    }
    Ok(())
}

/// One mode, start to end: the gateway started afresh, the room side joined, the users logged
/// in, both traffic phases, everything closed.
async fn one_run(
    a: &Args,
    gw: &mut Gateway,
    mode: Mode,
    tag: &str,
    ep: &Arc<labelgate::xmpp::connect::Endpoint>,
    ejabberd: &[u32],
    deadline: Instant,
) -> Result<Run> {
    // Who is where, worked out once (not on the sending path): room r holds users i with
    // i % rooms == r and room-side clients k with k % rooms == r.
    let rooms: Vec<BareJid> = (0..a.rooms)
        .map(|r| format!("load{tag}r{r}@conference.labelgate.test").parse())
        .collect::<Result<_, _>>()?;
    let in_room = |n: usize, r: usize| (0..n).filter(|i| i % a.rooms == r).count();
    let users_in: Vec<usize> = (0..a.rooms).map(|r| in_room(a.users, r)).collect();
    let side_in: Vec<usize> = (0..a.rooms).map(|r| in_room(a.xmpp, r)).collect();
    let cleared_in: Vec<usize> = (0..a.rooms)
        .map(|r| {
            (0..a.users)
                .filter(|i| i % a.rooms == r && cleared(*i, a.rooms))
                .count()
        })
        .collect();
    let shared: Shared = Arc::default();
    let started = gw.start(mode, tag).await?;
    let (fronts, pids) = (started.fronts.clone(), started.pids.clone());
    // Summed over the gateway processes (none: direct).
    let rss =
        || (!pids.is_empty()).then(|| pids.iter().map(|p| bench::rss_kib(Some(*p))).sum::<u64>());
    let idle_rss = rss();

    // The room side first, so that every user's join burst already lists it.
    let mut side: Vec<(Session, Arc<std::sync::atomic::AtomicUsize>)> = Vec::new();
    for k in 0..a.xmpp {
        side.push(
            users::xmpp_client(
                ep,
                &format!("x{k}"),
                &rooms[k % a.rooms],
                &shared,
                Way::UserToRoom,
            )
            .await?,
        );
    }

    // Logins: the first half at the first concurrency, the rest at the second.
    let whos: Vec<Who> = (0..a.users)
        .map(|i| Who {
            i,
            channel: format!("#r{}", i % a.rooms),
            room: rooms[i % a.rooms].clone(),
            cleared: cleared(i, a.rooms),
            labels: mode.labelgate(),
        })
        .collect();
    let half = a.users / 2;
    let mut logged: Vec<User> = Vec::new();
    let mut logins = Vec::new();
    let mut half_rss = None;
    for (range, conc) in [
        (0..half, a.concurrency[0]),
        (half..a.users, a.concurrency[1]),
    ] {
        let n = range.len();
        let t = Instant::now();
        let got: Vec<(Result<User>, usize)> = futures::stream::iter(range)
            .map(|i| {
                let front = fronts[i % fronts.len()].clone();
                let (shared, who) = (shared.clone(), whos[i].clone());
                async move { login_tries(&front, who, &shared).await }
            })
            .buffered(conc.max(1))
            .map(|r| match r {
                Ok((u, timeouts)) => (Ok(u), timeouts),
                Err(e) => (Err(e), LOGIN_TRIES),
            })
            .collect()
            .await;
        let secs = t.elapsed().as_secs_f64();
        let timeouts = got.iter().map(|(_, t)| t).sum();
        for (u, _) in got {
            logged.push(u?);
        }
        if half_rss.is_none() {
            // The fixed costs (the password checkers' buffers, say) are in by now: the second
            // half's growth is what each further user costs.
            tokio::time::sleep(Duration::from_secs(1)).await;
            half_rss = Some(rss());
        }
        logins.push(Login {
            concurrency: conc,
            users: n,
            secs,
            timeouts,
        });
    }

    // Everyone sees everyone before any traffic (bounded).
    let want = |r: usize| users_in[r] + side_in[r];
    let settle = Instant::now() + Duration::from_secs(60);
    let unsettled = loop {
        let unsettled = logged
            .iter()
            .enumerate()
            .filter(|(i, u)| u.members() < want(i % a.rooms))
            .count()
            + side
                .iter()
                .enumerate()
                .filter(|(k, (_, m))| {
                    m.load(std::sync::atomic::Ordering::Relaxed) < want(k % a.rooms)
                })
                .count();
        if unsettled == 0 || Instant::now() > settle {
            break unsettled;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if unsettled > 0 {
        eprintln!("{mode}: {unsettled} members still miss someone in their room after 60 s");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded_rss = rss();

    // Phase 1: users → room.
    let mut phases = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / a.rate.max(0.1)));
    let mark = Mark::take(&shared, &pids, ejabberd);
    let mut expected: HashMap<Way, usize> = HashMap::new();
    for seq in 0..a.messages {
        for (i, u) in logged.iter_mut().enumerate() {
            ticker.tick().await;
            let w = &whos[i];
            // The same bytes in both IRC modes; only labelgate decides them.
            let secret = w.cleared && seq % 4 == 3 && mode != Mode::Direct;
            let decided = secret && mode.labelgate();
            u.send(w, &stats::body(&format!("u{i}"), seq, decided), secret)
                .await?;
            let r = i % a.rooms;
            // Everyone else in the room; for a decided SECRET line, the cleared ones only.
            let readers = if decided { cleared_in[r] } else { users_in[r] };
            *expected.entry(Way::UserToUser).or_default() += readers - 1;
            *expected.entry(Way::UserToRoom).or_default() += side_in[r];
        }
        if Instant::now() > deadline {
            bail!("out of time while sending");
        }
    }
    phases.push(mark.finish("users → room", &shared, &expected).await);

    // Phase 2: room → users (as many messages in all as the users sent).
    let mark = Mark::take(&shared, &pids, ejabberd);
    let mut expected: HashMap<Way, usize> = HashMap::new();
    let per_client = (a.users * a.messages).div_ceil(a.xmpp);
    for seq in 0..per_client {
        for (k, (s, _)) in side.iter().enumerate() {
            ticker.tick().await;
            let r = k % a.rooms;
            users::room_send(s, &rooms[r], &stats::body(&format!("x{k}"), seq, false)).await?;
            *expected.entry(Way::RoomToUser).or_default() += users_in[r];
        }
        if Instant::now() > deadline {
            bail!("out of time while sending");
        }
    }
    phases.push(mark.finish("room → users", &shared, &expected).await);

    let (leaks, duplicates) = {
        let r = shared.lock().unwrap_or_else(|p| p.into_inner());
        (r.leaks.len(), r.duplicates())
    };
    for u in logged {
        u.close().await;
    }
    for (s, _) in side {
        s.close().await;
    }
    gw.stop(started).await;
    Ok(Run {
        mode,
        users: a.users,
        rss_per_user: match (idle_rss, loaded_rss) {
            (Some(i), Some(l)) => Some(l.saturating_sub(i) as f64 / a.users as f64),
            _ => None,
        },
        rss_marginal: match (half_rss.flatten(), loaded_rss) {
            (Some(h), Some(l)) => Some(l.saturating_sub(h) as f64 / (a.users - half) as f64),
            _ => None,
        },
        logins,
        phases,
        leaks,
        duplicates,
    })
}

/// Tries a login up to [`LOGIN_TRIES`] times; returns the user and how many tries timed out.
async fn login_tries(front: &Front, who: Who, shared: &Shared) -> Result<(User, usize)> {
    let mut timeouts = 0;
    loop {
        match users::login(front, &who, shared, LOGIN_LIMIT).await {
            Ok(u) => return Ok((u, timeouts)),
            Err(e)
                if timeouts + 1 < LOGIN_TRIES && e.downcast_ref::<users::TimedOut>().is_some() =>
            {
                eprintln!("{e} (tried again)");
                timeouts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where a phase starts: the record's counts per way, the CPU times, the clock.
struct Mark {
    before: HashMap<Way, usize>,
    pids: Vec<u32>,
    ejabberd: Vec<u32>,
    cpu: (Option<f64>, f64),
    at: Instant,
}

impl Mark {
    fn take(shared: &Shared, pids: &[u32], ejabberd: &[u32]) -> Mark {
        let r = shared.lock().unwrap_or_else(|p| p.into_inner());
        let mut m = Mark {
            before: Way::ALL.into_iter().map(|w| (w, r.count(w))).collect(),
            pids: pids.to_vec(),
            ejabberd: ejabberd.to_vec(),
            cpu: (None, 0.0),
            at: Instant::now(),
        };
        m.cpu = m.cpu_now();
        m
    }

    /// CPU seconds so far: the gateways' (none: direct), and every ejabberd node's.
    fn cpu_now(&self) -> (Option<f64>, f64) {
        (
            (!self.pids.is_empty()).then(|| self.pids.iter().map(|p| cpu_secs(*p, false)).sum()),
            self.ejabberd.iter().map(|p| cpu_secs(*p, true)).sum(),
        )
    }

    /// Waits (at most 30 s after the last send) until the phase's `expected` deliveries are
    /// in, then sums the phase up.
    async fn finish(
        self,
        name: &'static str,
        shared: &Shared,
        expected: &HashMap<Way, usize>,
    ) -> Phase {
        let total: usize = expected.values().sum();
        let before: usize = self.before.values().sum();
        let wait_until = Instant::now() + Duration::from_secs(30);
        loop {
            let got = shared.lock().unwrap_or_else(|p| p.into_inner()).delivered();
            if got >= before + total || Instant::now() > wait_until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let secs = self.at.elapsed().as_secs_f64();
        let cpu = self.cpu_now();
        let gateway_cpu = match (self.cpu.0, cpu.0) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let r = shared.lock().unwrap_or_else(|p| p.into_inner());
        Phase::from_record(
            name,
            &r,
            expected,
            &self.before,
            secs,
            gateway_cpu,
            cpu.1 - self.cpu.1,
        )
    }
}
