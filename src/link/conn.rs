//! One client connection of the gateway to an IRC network, owned by one task.
//!
//! What it guarantees to its owner:
//! * **Registration** with the nick asked for, or — when the server says it is taken or not
//!   allowed — the next of [`nick::candidate`]'s sequence, reported in [`LinkEvent::Registered`].
//! * **Pacing**: every line waits its turn in one queue ([`Pace`]: a burst, then one line per
//!   interval); nothing is dropped. The queue is bounded: a line that does not fit is refused
//!   at once ([`LinkError::QueueFull`]) so that its sender can be told.
//! * **Confirmation**: after the messages of a burst the connection sends `PING :lg-N`; the
//!   server's `PONG` proves it read everything before it (one TCP stream, in order). When a
//!   connection is lost, the messages it wrote that no PONG confirmed are handed back in
//!   [`LinkEvent::Lost`] by [`LineId`]; those not written yet stay queued for the next
//!   connection.
//! * **Reconnection** with exponential backoff, to the next of the network's servers each time,
//!   rejoining every channel it was in before any queued message goes out.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::pace::Pace;
use crate::audit::Cleared;
use crate::irc::proto::message::Message;
use crate::irc::proto::relayed::Relayed;

/// Bytes of one line the gateway writes, CR LF excluded (RFC 1459: 512 with CR LF).
pub const MAX_LINE: usize = 510;

/// One server of a network.
#[derive(Clone)]
pub struct Server {
    /// Its address.
    pub address: SocketAddr,
    /// TLS, or `None` for plaintext (the configuration allows it on loopback only).
    pub tls: Option<ServerTls>,
}

/// How to reach a server over TLS.
#[derive(Clone)]
pub struct ServerTls {
    /// Roots (and, for SASL EXTERNAL, a client certificate).
    pub config: Arc<rustls::ClientConfig>,
    /// The name its certificate must carry.
    pub name: rustls::pki_types::ServerName<'static>,
}

/// How the connection authenticates to the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Nothing.
    None,
    /// A server password (`PASS`).
    Password(String),
    /// SASL during registration (for EXTERNAL, the client certificate is in the servers' TLS
    /// settings).
    Sasl(super::sasl::Mechanism),
}

/// Everything one connection needs.
#[derive(Clone)]
pub struct LinkConfig {
    /// The network's servers, tried in turn.
    pub servers: Vec<Server>,
    /// Authentication.
    pub auth: Auth,
    /// The nick wanted.
    pub nick: String,
    /// The network's nick length.
    pub max_nick_len: usize,
    /// The user name (`USER`).
    pub user: String,
    /// The real name (`USER`).
    pub realname: String,
    /// Lines at once before pacing starts.
    pub burst: u32,
    /// Then one line per this.
    pub interval: Duration,
    /// Lines queued at most.
    pub queue_limit: usize,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Connect and registration must be done within this.
    pub register_timeout: Duration,
    /// A PING is sent after this long without a line from the server…
    pub ping_idle: Duration,
    /// …and the connection is given up when nothing comes within this after it.
    pub ping_timeout: Duration,
}

impl LinkConfig {
    /// Defaults for `servers` and `nick`: ngIRCd's and ergo's default flood limits are kept
    /// with a burst of 5 and one line per 500 ms.
    pub fn new(servers: Vec<Server>, nick: &str) -> Self {
        LinkConfig {
            servers,
            auth: Auth::None,
            nick: nick.to_owned(),
            max_nick_len: 30,
            user: "labelgate".into(),
            realname: "labelgate link".into(),
            burst: 5,
            interval: Duration::from_millis(500),
            queue_limit: 1000,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            register_timeout: Duration::from_secs(20),
            ping_idle: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
        }
    }
}

/// The id of a message handed to the connection.
pub type LineId = u64;

/// What the connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Registered (again) as `nick` on `server`; the channels are being rejoined.
    Registered {
        /// The nick the server accepted.
        nick: String,
        /// The nick wanted (differs after a collision).
        wanted: String,
        /// The server's address.
        server: SocketAddr,
    },
    /// The server accepted a change of our nick.
    NickChanged(String),
    /// A line from the server (PING and our confirmations are answered inside).
    Message(Message),
    /// The connection is gone; it is retried after `retry_in`.
    Lost {
        /// Why.
        reason: String,
        /// Messages written that the server never confirmed: perhaps not delivered.
        unconfirmed: Vec<LineId>,
        /// The next attempt's delay.
        retry_in: Duration,
    },
    /// Closed for good (after [`LinkConnection::quit`] or when every handle is gone).
    Closed,
}

/// Why a line was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The queue is at its limit (the connection is down or far behind).
    #[error("the IRC connection's queue is full")]
    QueueFull,
    /// The line does not fit an IRC line.
    #[error("the line is longer than an IRC line allows")]
    TooLong,
    /// The connection was closed.
    #[error("the IRC connection is closed")]
    Closed,
}

pub(super) enum Cmd {
    Line(Out),
    Quit(Option<String>),
}

pub(super) struct Out {
    pub(super) id: Option<LineId>,
    pub(super) msg: Message,
    /// A JOIN or PART: changes the set of channels to rejoin.
    pub(super) membership: Option<(String, bool)>,
}

/// A handle to a running connection. Cloning is cheap.
#[derive(Clone)]
pub struct LinkConnection {
    tx: mpsc::UnboundedSender<Cmd>,
    queued: Arc<AtomicUsize>,
    next_id: Arc<AtomicUsize>,
    limit: usize,
}

impl LinkConnection {
    /// Starts the connection's task. Events arrive on the receiver (a slow reader slows the
    /// connection's reading; nothing is dropped).
    pub fn start(config: LinkConfig) -> (LinkConnection, mpsc::Receiver<LinkEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(256);
        let queued = Arc::new(AtomicUsize::new(0));
        let handle = LinkConnection {
            tx,
            queued: queued.clone(),
            next_id: Arc::new(AtomicUsize::new(1)),
            limit: config.queue_limit.max(1),
        };
        let task = super::task::Task {
            pace: Pace::new(config.burst, config.interval),
            config,
            rx,
            events: ev_tx,
            queue: VecDeque::new(),
            queued,
            channels: BTreeSet::new(),
            unconfirmed: Vec::new(),
            generation: 0,
            ping_out: false,
            nick: String::new(),
            attempt: 0,
            server: 0,
            quit: None,
        };
        tokio::spawn(task.run());
        (handle, ev_rx)
    }

    fn push(
        &self,
        msg: Message,
        id: bool,
        membership: Option<(String, bool)>,
    ) -> Result<Option<LineId>, LinkError> {
        if msg.to_line().len() > MAX_LINE {
            return Err(LinkError::TooLong);
        }
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(LinkError::QueueFull);
        }
        let id = id.then(|| self.next_id.fetch_add(1, Ordering::SeqCst) as LineId);
        self.tx
            .send(Cmd::Line(Out {
                id,
                msg,
                membership,
            }))
            .map_err(|_| LinkError::Closed)?;
        Ok(id)
    }

    /// Joins `channel` (and rejoins it after every reconnect).
    pub fn join(&self, channel: &str) -> Result<(), LinkError> {
        let m = Message::new("JOIN", vec![channel.to_owned()]);
        self.push(m, false, Some((channel.to_owned(), true)))
            .map(|_| ())
    }

    /// Leaves `channel`.
    pub fn part(&self, channel: &str, reason: Option<&str>) -> Result<(), LinkError> {
        let mut params = vec![channel.to_owned()];
        params.extend(reason.map(str::to_owned));
        let m = Message::new("PART", params);
        self.push(m, false, Some((channel.to_owned(), false)))
            .map(|_| ())
    }

    /// Sends a PRIVMSG of text a decision cleared; its id comes back in [`LinkEvent::Lost`] if
    /// it cannot be confirmed.
    pub fn privmsg(&self, target: &str, text: &Cleared<String>) -> Result<LineId, LinkError> {
        let m = Message::new("PRIVMSG", vec![target.to_owned(), text.get().clone()]);
        self.push(m, true, None).map(|id| id.unwrap_or_default())
    }

    /// Sends cleared lines as PRIVMSGs (as CTCP ACTIONs with `action`), all or none: when one
    /// does not fit the queue or a line, nothing is queued.
    pub fn say(
        &self,
        target: &str,
        message: &Cleared<Relayed>,
        action: bool,
    ) -> Result<Vec<LineId>, LinkError> {
        // The network's server writes its own tags and time; only the lines go.
        let msgs: Vec<Message> = message
            .get()
            .lines
            .iter()
            .map(|l| {
                let text = if action {
                    format!("\u{1}ACTION {l}\u{1}")
                } else {
                    l.clone()
                };
                Message::new("PRIVMSG", vec![target.to_owned(), text])
            })
            .collect();
        if msgs.iter().any(|m| m.to_line().len() > MAX_LINE) {
            return Err(LinkError::TooLong);
        }
        if self.queued.load(Ordering::SeqCst) + msgs.len() > self.limit {
            return Err(LinkError::QueueFull);
        }
        msgs.into_iter()
            .map(|m| self.push(m, true, None).map(|id| id.unwrap_or_default()))
            .collect()
    }

    /// Sets a channel's topic to text a decision cleared.
    pub fn topic(&self, channel: &str, text: &Cleared<String>) -> Result<LineId, LinkError> {
        let m = Message::new("TOPIC", vec![channel.to_owned(), text.get().clone()]);
        if m.to_line().len() > MAX_LINE {
            return Err(LinkError::TooLong);
        }
        self.push(m, true, None).map(|id| id.unwrap_or_default())
    }

    /// Sends a NOTICE of the gateway's own words (a refusal, a report) — never foreign text,
    /// which goes only through [`LinkConnection::privmsg`] or [`LinkConnection::say`].
    pub fn notice(&self, target: &str, text: &str) -> Result<LineId, LinkError> {
        let m = Message::new("NOTICE", vec![target.to_owned(), text.to_owned()]);
        self.push(m, true, None).map(|id| id.unwrap_or_default())
    }

    /// Asks for another nick (a collision takes the next of its sequence).
    pub fn change_nick(&self, nick: &str) -> Result<(), LinkError> {
        self.push(Message::new("NICK", vec![nick.to_owned()]), false, None)
            .map(|_| ())
    }

    /// Quits (after what is queued) and ends the task.
    pub fn quit(&self, reason: Option<&str>) {
        let _ = self.tx.send(Cmd::Quit(reason.map(str::to_owned)));
    }
}
