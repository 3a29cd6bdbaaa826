//! What a run records and how it is summed up: deliveries with their latency per path,
//! duplicates and leaks, percentiles, and the CPU time of a process (or a process group).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The clock all timestamps in message bodies are relative to.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the tool started.
pub fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Which way a delivery went. A "user" is one of the N users under test (an IRC user of a
/// gateway, or a direct XMPP client in the direct mode); the "room side" is the M XMPP
/// clients in the same rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Way {
    /// A user's message to the other users of its room (IRC → IRC through a gateway).
    UserToUser,
    /// A user's message to the room's XMPP clients.
    UserToRoom,
    /// A room-side XMPP client's message to the users.
    RoomToUser,
}

impl Way {
    pub const ALL: [Way; 3] = [Way::UserToUser, Way::UserToRoom, Way::RoomToUser];
}

/// Deliveries seen so far in one run.
#[derive(Default)]
pub struct Record {
    pub latencies: HashMap<Way, Vec<u64>>,
    /// (receiver, sender, seq) seen, to find duplicates.
    pub seen: HashMap<(String, String, usize), u32>,
    pub leaks: Vec<String>,
}

pub type Shared = Arc<Mutex<Record>>;

impl Record {
    pub fn delivered(&self) -> usize {
        self.latencies.values().map(Vec::len).sum()
    }
    pub fn count(&self, w: Way) -> usize {
        self.latencies.get(&w).map_or(0, Vec::len)
    }
    pub fn duplicates(&self) -> usize {
        self.seen
            .values()
            .map(|n| (*n as usize).saturating_sub(1))
            .sum()
    }
}

pub fn record(shared: &Shared, way: Way, receiver: &str, sender: &str, seq: usize, sent: u64) {
    let lat = now_us().saturating_sub(sent);
    let mut r = shared.lock().unwrap_or_else(|p| p.into_inner());
    r.latencies.entry(way).or_default().push(lat);
    *r.seen
        .entry((receiver.to_owned(), sender.to_owned(), seq))
        .or_default() += 1;
}

pub fn leak(shared: &Shared, what: String) {
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .leaks
        .push(what);
}

/// A load message body: `m SENDER SEQ SENT_US CLASS`, anywhere in the text (after a FLOT
/// prefix, say).
pub fn parse_body(text: &str) -> Option<(&str, usize, u64, &str)> {
    let rest = match text.strip_prefix("m ") {
        Some(r) => r,
        None => &text[text.find(" m ")? + 3..],
    };
    let mut it = rest.split(' ');
    Some((
        it.next()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?,
    ))
}

/// The body of message `seq` from `sender`; `secret` marks it as one only cleared users may see.
pub fn body(sender: &str, seq: usize, secret: bool) -> String {
    let class = if secret { "S" } else { "O" };
    format!("m {sender} {seq} {} {class}", now_us())
}

/// The `p` quantile of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// CPU seconds (user + system) of process `pid`, or of every process of session `pid`.
pub fn cpu_secs(pid: u32, whole_session: bool) -> f64 {
    const TICKS: f64 = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if !whole_session && p != pid {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces) start at state (3rd).
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = after.split(' ').collect();
        let sid: u32 = f.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
        if !whole_session || sid == pid {
            let ut: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0);
            let st: u64 = f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
            total += ut + st;
        }
    }
    total as f64 / TICKS
}
