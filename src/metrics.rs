//! Operational metrics: process-wide counters and gauges (atomics, no locks on the hot path) and
//! a small HTTP endpoint serving them in the Prometheus text format.
//!
//! Label values come from fixed tables (directions, outcomes, reasons), never from message
//! content or user names, so the metrics reveal volumes but no labels of any message, and the
//! number of series is bounded. The endpoint listens on a loopback address only.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Which way a counted message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Typed on IRC, to a room.
    IrcToXmpp,
    /// From a room to an IRC user, live.
    XmppToIrc,
    /// Room history replayed on join.
    History,
    /// A private message, either way.
    Private,
}

const WAYS: [(Way, &str); 4] = [
    (Way::IrcToXmpp, "irc-to-xmpp"),
    (Way::XmppToIrc, "xmpp-to-irc"),
    (Way::History, "history"),
    (Way::Private, "private"),
];

/// Why a message was not relayed (a fixed set: the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The receiver's or sender's clearance does not dominate the label.
    Clearance,
    /// The room's clearance does not dominate the label.
    RoomClearance,
    /// The label could not be read or validated (fails closed).
    InvalidLabel,
    /// Not in the room's catalog.
    Catalog,
    /// Private messages are off for the room.
    PrivateDisabled,
    /// The held queue was full.
    QueueFull,
    /// The XMPP side failed to take it.
    XmppError,
    /// A boundary control refused it (file transfer, switched-off traffic, limits).
    Control,
}

const REASONS: [(Reason, &str); 8] = [
    (Reason::Clearance, "clearance"),
    (Reason::RoomClearance, "room-clearance"),
    (Reason::InvalidLabel, "invalid-label"),
    (Reason::Catalog, "catalog"),
    (Reason::PrivateDisabled, "private-disabled"),
    (Reason::QueueFull, "queue-full"),
    (Reason::XmppError, "xmpp-error"),
    (Reason::Control, "control"),
];

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    irc_clients: AtomicI64,
    sessions_connected: AtomicI64,
    sessions_reconnecting: AtomicI64,
    reconnects: AtomicU64,
    held: AtomicI64,
    relayed: [AtomicU64; WAYS.len()],
    withheld: [[AtomicU64; REASONS.len()]; WAYS.len()],
    /// This gateway's instance name (`labelgate_instance_info`), once set.
    instance: std::sync::OnceLock<String>,
}

/// The one set of metrics of this process.
pub static METRICS: Metrics = Metrics::new();

fn way_index(w: Way) -> usize {
    WAYS.iter().position(|(x, _)| *x == w).unwrap_or(0)
}

fn reason_index(r: Reason) -> usize {
    REASONS.iter().position(|(x, _)| *x == r).unwrap_or(0)
}

impl Metrics {
    const fn new() -> Metrics {
        Metrics {
            irc_clients: AtomicI64::new(0),
            sessions_connected: AtomicI64::new(0),
            sessions_reconnecting: AtomicI64::new(0),
            reconnects: AtomicU64::new(0),
            held: AtomicI64::new(0),
            relayed: [const { AtomicU64::new(0) }; WAYS.len()],
            withheld: [const { [const { AtomicU64::new(0) }; REASONS.len()] }; WAYS.len()],
            instance: std::sync::OnceLock::new(),
        }
    }

    /// Names this gateway instance in the exposition (set once, at start).
    pub fn set_instance(&self, name: &str) {
        let _ = self.instance.set(name.to_owned());
    }

    /// An IRC user registered (`+1`) or left (`-1`).
    pub fn irc_clients(&self, delta: i64) {
        self.irc_clients.fetch_add(delta, Ordering::Relaxed);
    }

    /// XMPP sessions moving between states (`connected`, `reconnecting`).
    pub fn sessions(&self, connected: i64, reconnecting: i64) {
        self.sessions_connected
            .fetch_add(connected, Ordering::Relaxed);
        self.sessions_reconnecting
            .fetch_add(reconnecting, Ordering::Relaxed);
    }

    /// A session came back after losing its stream.
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages held while rooms are rejoined (`+n` / `-n`).
    pub fn held(&self, delta: i64) {
        self.held.fetch_add(delta, Ordering::Relaxed);
    }

    /// A message was relayed.
    pub fn relayed(&self, way: Way) {
        self.relayed[way_index(way)].fetch_add(1, Ordering::Relaxed);
    }

    /// A message was withheld or refused.
    pub fn withheld(&self, way: Way, reason: Reason) {
        self.withheld[way_index(way)][reason_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        if let Some(name) = self.instance.get() {
            let value: String = name
                .chars()
                .flat_map(|c| match c {
                    '\\' | '"' => vec!['\\', c],
                    '\n' => vec!['\\', 'n'],
                    c => vec![c],
                })
                .collect();
            let _ = writeln!(
                out,
                "# HELP labelgate_instance_info This gateway instance (audit records carry the same name).\n\
                 # TYPE labelgate_instance_info gauge\nlabelgate_instance_info{{gateway=\"{value}\"}} 1"
            );
        }
        gauge(
            &mut out,
            "labelgate_irc_clients",
            "Registered IRC users connected now.",
            self.irc_clients.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP labelgate_xmpp_sessions XMPP sessions by state.\n# TYPE labelgate_xmpp_sessions gauge"
        );
        let _ = writeln!(
            out,
            "labelgate_xmpp_sessions{{state=\"connected\"}} {}\nlabelgate_xmpp_sessions{{state=\"reconnecting\"}} {}",
            self.sessions_connected.load(Ordering::Relaxed),
            self.sessions_reconnecting.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP labelgate_xmpp_reconnects_total XMPP sessions re-established after a loss.\n# TYPE labelgate_xmpp_reconnects_total counter\nlabelgate_xmpp_reconnects_total {}",
            self.reconnects.load(Ordering::Relaxed)
        );
        gauge(
            &mut out,
            "labelgate_held_messages",
            "Messages typed on IRC held until their room is rejoined.",
            self.held.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP labelgate_messages_relayed_total Messages relayed, by direction.\n# TYPE labelgate_messages_relayed_total counter"
        );
        for (i, (_, way)) in WAYS.iter().enumerate() {
            let _ = writeln!(
                out,
                "labelgate_messages_relayed_total{{direction=\"{way}\"}} {}",
                self.relayed[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP labelgate_messages_withheld_total Messages withheld or refused, by direction and reason.\n# TYPE labelgate_messages_withheld_total counter"
        );
        for (i, (_, way)) in WAYS.iter().enumerate() {
            for (j, (_, reason)) in REASONS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "labelgate_messages_withheld_total{{direction=\"{way}\",reason=\"{reason}\"}} {}",
                    self.withheld[i][j].load(Ordering::Relaxed)
                );
            }
        }
        out
    }
}

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Not a loopback address.
    #[error("the metrics endpoint {0} must be on a loopback address")]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Binds the endpoint (loopback only).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    if !addr.ip().is_loopback() {
        return Err(MetricsError::NotLoopback(addr));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| MetricsError::Bind(addr, e))
}

/// Serves `GET /metrics` (anything else: 404) until the task is dropped.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (status, kind, body) = if request.starts_with("GET ")
                && (path == "/metrics" || path.starts_with("/metrics?"))
            {
                (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    METRICS.render(),
                )
            } else {
                (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "try /metrics\n".to_owned(),
                )
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_series_once() {
        let m = Metrics::new();
        m.irc_clients(2);
        m.irc_clients(-1);
        m.relayed(Way::XmppToIrc);
        m.withheld(Way::History, Reason::Clearance);
        let text = m.render();
        assert!(text.contains("\nlabelgate_irc_clients 1\n"), "{text}");
        assert!(text.contains("labelgate_messages_relayed_total{direction=\"xmpp-to-irc\"} 1\n"));
        assert!(text.contains(
            "labelgate_messages_withheld_total{direction=\"history\",reason=\"clearance\"} 1\n"
        ));
        assert!(!text.contains("labelgate_instance_info"));
        m.set_instance("gw-a");
        let named = m.render();
        assert!(
            named.starts_with("# HELP labelgate_instance_info"),
            "{named}"
        );
        assert!(
            named.contains("\nlabelgate_instance_info{gateway=\"gw-a\"} 1\n"),
            "{named}"
        );
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(
            series,
            1 + 2 + 1 + 1 + WAYS.len() + WAYS.len() * REASONS.len()
        );
    }
}
