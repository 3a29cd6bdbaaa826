//! What a run amounts to, per run and across modes: Markdown tables for BENCHMARKS.md.

use std::collections::HashMap;

use super::Args;
use super::gateway::Mode;
use super::stats::{Record, Way, percentile};

/// One batch of logins.
pub struct Login {
    pub concurrency: usize,
    pub users: usize,
    pub secs: f64,
    /// Tries that timed out (and were retried, or failed the run).
    pub timeouts: usize,
}

impl Login {
    pub fn rate(&self) -> f64 {
        self.users as f64 / self.secs
    }
}

/// One traffic phase.
pub struct Phase {
    pub name: &'static str,
    pub expected: HashMap<Way, usize>,
    pub delivered: HashMap<Way, usize>,
    /// p50, p95, p99 in ms.
    pub latency: HashMap<Way, [f64; 3]>,
    pub secs: f64,
    pub gateway_cpu: Option<f64>,
    pub ejabberd_cpu: f64,
}

impl Phase {
    /// Sums up what `r` gained since the counts `before`.
    pub fn from_record(
        name: &'static str,
        r: &Record,
        expected: &HashMap<Way, usize>,
        before: &HashMap<Way, usize>,
        secs: f64,
        gateway_cpu: Option<f64>,
        ejabberd_cpu: f64,
    ) -> Phase {
        let mut delivered = HashMap::new();
        let mut latency = HashMap::new();
        for w in Way::ALL {
            let skip = before.get(&w).copied().unwrap_or(0);
            let mut l: Vec<u64> = r
                .latencies
                .get(&w)
                .map(|v| v.get(skip..).unwrap_or_default().to_vec())
                .unwrap_or_default();
            l.sort_unstable();
            delivered.insert(w, l.len());
            if !l.is_empty() {
                latency.insert(
                    w,
                    [
                        percentile(&l, 0.5),
                        percentile(&l, 0.95),
                        percentile(&l, 0.99),
                    ],
                );
            }
        }
        Phase {
            name,
            expected: expected.clone(),
            delivered,
            latency,
            secs,
            gateway_cpu,
            ejabberd_cpu,
        }
    }

    /// Deliveries to the users under test in this phase.
    pub fn user_deliveries(&self) -> usize {
        self.delivered.get(&Way::UserToUser).copied().unwrap_or(0)
            + self.delivered.get(&Way::RoomToUser).copied().unwrap_or(0)
    }

    pub fn lost(&self) -> usize {
        Way::ALL
            .iter()
            .map(|w| {
                let want = self.expected.get(w).copied().unwrap_or(0);
                want.saturating_sub(self.delivered.get(w).copied().unwrap_or(0))
            })
            .sum()
    }

    /// CPU seconds per 1,000 user deliveries: (gateway, ejabberd).
    pub fn cpu_per_1000(&self) -> (Option<f64>, f64) {
        let n = self.user_deliveries().max(1) as f64;
        (
            self.gateway_cpu.map(|c| 1000.0 * c / n),
            1000.0 * self.ejabberd_cpu / n,
        )
    }
}

/// One mode's run.
pub struct Run {
    pub mode: Mode,
    pub users: usize,
    /// The gateway's resident set growth from start to every user joined, over the users.
    pub rss_per_user: Option<f64>,
    /// The growth while the second half of the users logged in, over those users.
    pub rss_marginal: Option<f64>,
    pub logins: Vec<Login>,
    pub phases: Vec<Phase>,
    pub leaks: usize,
    pub duplicates: usize,
}

impl Run {
    pub fn lost(&self) -> usize {
        self.phases.iter().map(Phase::lost).sum()
    }
    pub fn clean(&self) -> bool {
        self.lost() == 0 && self.leaks == 0 && self.duplicates == 0
    }
}

fn way_name(w: Way) -> &'static str {
    match w {
        Way::UserToUser => "user → user",
        Way::UserToRoom => "user → room's XMPP clients",
        Way::RoomToUser => "room's XMPP clients → user",
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.prec$}"))
}

pub fn print_run(r: &Run) {
    println!("\n### {} ({} users)\n", r.mode, r.users);
    println!("| phase | way | expected | delivered | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for p in &r.phases {
        for w in Way::ALL {
            let want = p.expected.get(&w).copied().unwrap_or(0);
            if want == 0 {
                continue;
            }
            let got = p.delivered.get(&w).copied().unwrap_or(0);
            let [p50, p95, p99] = p.latency.get(&w).copied().unwrap_or([f64::NAN; 3]);
            println!(
                "| {} | {} | {want} | {got} | {p50:.2} | {p95:.2} | {p99:.2} |",
                p.name,
                way_name(w)
            );
        }
    }
    println!();
    for p in &r.phases {
        let (g, e) = p.cpu_per_1000();
        println!(
            "{}: {} user deliveries in {:.1} s; CPU per 1,000 user deliveries: gateway {} s, ejabberd {:.3} s",
            p.name,
            p.user_deliveries(),
            p.secs,
            opt(g, 3),
            e
        );
    }
    for l in &r.logins {
        println!(
            "logins at {} concurrent: {} in {:.1} s = {:.1}/s ({} timed out)",
            l.concurrency,
            l.users,
            l.secs,
            l.rate(),
            l.timeouts
        );
    }
    println!(
        "gateway resident memory per user: {} KiB from start, {} KiB for each of the second half · lost {} · duplicated {} · leaked {}",
        opt(r.rss_per_user, 1),
        opt(r.rss_marginal, 1),
        r.lost(),
        r.duplicates,
        r.leaks
    );
}

/// One figure of a run.
type Getter = Box<dyn Fn(&Run) -> Option<f64>>;

/// The mean of `f` over the runs of `mode` that have it.
fn mean(runs: &[&Run], f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| f(r))
        .filter(|v| v.is_finite())
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn print_summary(a: &Args, runs: &[Run]) {
    let modes = [Mode::Labelgate, Mode::Bitlbee, Mode::Direct];
    let of = |m: Mode| -> Vec<&Run> { runs.iter().filter(|r| r.mode == m).collect() };
    println!(
        "\n## Summary: {} users, {} rooms, {} room-side XMPP clients, {} msg/s, {} messages per user (mean of each mode's runs)\n",
        a.users, a.rooms, a.xmpp, a.rate, a.messages
    );
    println!(
        "| figure | labelgate | bitlbee | direct XMPP | labelgate / bitlbee | labelgate / direct |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    type Figure<'a> = (&'a str, Getter, usize);
    let lat = |phase: usize, w: Way, q: usize| -> Getter {
        Box::new(move |r: &Run| {
            r.phases
                .get(phase)
                .and_then(|p| p.latency.get(&w))
                .map(|l| l[q])
        })
    };
    let cpu = |phase: usize, gateway: bool| -> Getter {
        Box::new(move |r: &Run| {
            r.phases.get(phase).and_then(|p| {
                let (g, e) = p.cpu_per_1000();
                if gateway { g } else { Some(e) }
            })
        })
    };
    let login = |k: usize| -> Getter { Box::new(move |r: &Run| r.logins.get(k).map(Login::rate)) };
    let figures: Vec<Figure> = vec![
        (
            "gateway CPU s per 1,000 user deliveries, users → room",
            cpu(0, true),
            3,
        ),
        (
            "gateway CPU s per 1,000 user deliveries, room → users",
            cpu(1, true),
            3,
        ),
        (
            "ejabberd CPU s per 1,000 user deliveries, users → room",
            cpu(0, false),
            3,
        ),
        (
            "ejabberd CPU s per 1,000 user deliveries, room → users",
            cpu(1, false),
            3,
        ),
        ("user → user p50 ms", lat(0, Way::UserToUser, 0), 2),
        ("user → user p99 ms", lat(0, Way::UserToUser, 2), 2),
        ("user → room p99 ms", lat(0, Way::UserToRoom, 2), 2),
        ("room → user p50 ms", lat(1, Way::RoomToUser, 0), 2),
        ("room → user p99 ms", lat(1, Way::RoomToUser, 2), 2),
        (
            "gateway resident memory per further user, KiB",
            Box::new(|r: &Run| r.rss_marginal),
            1,
        ),
        (
            "gateway resident memory growth from start / users, KiB",
            Box::new(|r: &Run| r.rss_per_user),
            1,
        ),
        ("logins/s, first concurrency", login(0), 1),
        ("logins/s, second concurrency", login(1), 1),
        (
            "login tries timed out",
            Box::new(|r: &Run| Some(r.logins.iter().map(|l| l.timeouts).sum::<usize>() as f64)),
            1,
        ),
        (
            "lost + duplicated + leaked",
            Box::new(|r: &Run| Some((r.lost() + r.duplicates + r.leaks) as f64)),
            0,
        ),
    ];
    let baseline = of(Mode::Baseline);
    let pair = of(Mode::Pair);
    let mut against_baseline = Vec::new();
    let mut against_one = Vec::new();
    for (name, f, prec) in &figures {
        if !pair.is_empty() {
            let (two, one) = (mean(&pair, f), mean(&of(Mode::Labelgate), f));
            let ratio = match (two, one) {
                (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
                _ => "–".to_owned(),
            };
            against_one.push(format!(
                "| {name} | {} | {} | {ratio} |",
                opt(one, *prec),
                opt(two, *prec)
            ));
        }
        if !baseline.is_empty() {
            let (now, before) = (mean(&of(Mode::Labelgate), f), mean(&baseline, f));
            let ratio = match (now, before) {
                (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
                _ => "–".to_owned(),
            };
            against_baseline.push(format!(
                "| {name} | {} | {} | {ratio} |",
                opt(now, *prec),
                opt(before, *prec)
            ));
        }
        let v: Vec<Option<f64>> = modes.iter().map(|m| mean(&of(*m), f)).collect();
        let ratio = |b: Option<f64>| match (v[0], b) {
            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
            _ => "–".to_owned(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            opt(v[0], *prec),
            opt(v[1], *prec),
            opt(v[2], *prec),
            ratio(v[1]),
            ratio(v[2])
        );
    }
    if !against_one.is_empty() {
        println!(
            "\n### Two gateways on two nodes against one gateway (memory and CPU summed over the \
             gateways, and over the nodes for ejabberd)\n"
        );
        println!("| figure | labelgate | labelgate x2 | x2 / one |");
        println!("|---|---:|---:|---:|");
        for line in &against_one {
            println!("{line}");
        }
    }
    if !against_baseline.is_empty() {
        println!("\n### labelgate against the baseline build (same runs, interleaved)\n");
        println!("| figure | labelgate | baseline | labelgate / baseline |");
        println!("|---|---:|---:|---:|");
        for line in &against_baseline {
            println!("{line}");
        }
    }
    println!(
        "\nlogin concurrencies: {} then {}; user deliveries are those to the {} users under test",
        a.concurrency[0], a.concurrency[1], a.users
    );
}
