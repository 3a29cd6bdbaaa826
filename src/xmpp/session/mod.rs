//! One XMPP client session: logs in up front (so refusals reach the user), then runs its own
//! stream ([`link`]: resource binding, XEP-0198 stream management, keep-alive), reconnecting
//! with exponential backoff and jitter and rejoining its rooms after a reset.
//!
//! A [`Session`] is a cheap handle; one task owns the stream and the room state and reports
//! typed [`XmppEvent`]s on a bounded channel (a slow consumer slows reading; nothing is
//! dropped).

mod events;
mod link;
mod rooms;
mod selfping;
mod worker;

pub use events::{CatalogError, IqError, Joined, SendError, XmppEvent};
use worker::Worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jid::{BareJid, FullJid, Jid};
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::chat;
use super::connect::{self, ConnectError, Endpoint};
use super::muc::{
    self, History, JoinError, Occupant, OccupantPresence, Occupants, OutgoingMessage,
    OutgoingSubject, ReceivedMessage,
};
use crate::audit::Cleared;
use link::{Link, LinkEvent};

/// How a session authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMode {
    /// One gateway certificate; the user's JID goes in the SASL authzid.
    TrustedGateway,
    /// The certificate names the user; no authzid.
    PerUser,
}

/// Reconnect backoff.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before attempt `n` (0-based): doubling, capped, with ±25 % jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        let jitter = rand::rng().random_range(0.75..1.25);
        base.mul_f64(jitter)
    }
}

pub use crate::config::xmpp::DEFAULT_ROOM_PING;

/// Everything a session needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Server and TLS (shared by all sessions of this identity).
    pub endpoint: Arc<Endpoint>,
    /// The user's JID.
    pub jid: BareJid,
    /// Trusted gateway or per-user certificate.
    pub mode: IdentityMode,
    /// Stanza queue depth in each direction.
    pub queue_depth: usize,
    /// Events buffered toward the consumer.
    pub event_buffer: usize,
    /// How long an IQ may go unanswered.
    pub iq_timeout: Duration,
    /// How long a room join may go unanswered.
    pub join_timeout: Duration,
    /// Reconnect backoff.
    pub backoff: Backoff,
    /// How long a joined room may be silent before the session asks it whether it is still
    /// an occupant (XEP-0410 self-ping; `None`: never).
    pub room_ping: Option<Duration>,
}

impl SessionConfig {
    /// Defaults for a JID and endpoint.
    pub fn new(endpoint: Arc<Endpoint>, jid: BareJid, mode: IdentityMode) -> Self {
        SessionConfig {
            endpoint,
            jid,
            mode,
            queue_depth: 64,
            event_buffer: 256,
            iq_timeout: Duration::from_secs(15),
            join_timeout: Duration::from_secs(15),
            backoff: Backoff::default(),
            room_ping: Some(DEFAULT_ROOM_PING),
        }
    }
}

enum Command {
    Join {
        room: BareJid,
        nick: String,
        history: History,
        reply: oneshot::Sender<Result<Joined, JoinError>>,
    },
    Leave {
        room: BareJid,
        status: Option<String>,
        quit: bool,
    },
    Away {
        room: BareJid,
        away: Option<Option<String>>,
    },
    Send {
        stanza: Box<Stanza>,
        room: Option<BareJid>,
        /// (origin-id, body) of a message to follow until acknowledged.
        track: Option<(String, String)>,
        reply: oneshot::Sender<Result<(), SendError>>,
    },
    Iq {
        iq: Box<Iq>,
        id: String,
        reply: oneshot::Sender<Result<Iq, IqError>>,
    },
    ForgetIq(String),
    Occupants {
        room: BareJid,
        reply: oneshot::Sender<Option<(String, Occupants)>>,
    },
    Close(oneshot::Sender<()>),
}

/// A handle to a running session. Cloning is cheap; the session ends on [`Session::close`]
/// or when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Session {
    tx: mpsc::Sender<Command>,
    bound: FullJid,
    pub(super) config: Arc<SessionConfig>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

pub(super) fn new_id() -> String {
    let n: u128 = rand::rng().random();
    format!("lg-{n:032x}")
}

impl Session {
    /// Logs in and starts the session. Errors here are final for this attempt and can be shown
    /// to the user; later connection losses are retried in the background.
    pub async fn start(
        config: SessionConfig,
    ) -> Result<(Session, mpsc::Receiver<XmppEvent>), ConnectError> {
        let config = Arc::new(config);
        let authzid = match config.mode {
            IdentityMode::TrustedGateway => Some(&config.jid),
            IdentityMode::PerUser => None,
        };
        let first = connect::connect(&config.endpoint, &config.jid, authzid).await?;
        let (evt_tx, evt_rx) = mpsc::channel(config.event_buffer.max(1));
        let (link, bound) = Link::start(config.clone(), evt_tx.clone(), first).await?;
        let bound = bound
            .try_into_full()
            .map_err(|j| ConnectError::Bind(format!("bound to a bare JID {j}")))?;
        if bound.to_bare() != config.jid {
            return Err(ConnectError::Bind(format!(
                "the server bound the session to {bound}, not to {}",
                config.jid
            )));
        }
        let (tx, rx) = mpsc::channel(64);
        let worker = Worker {
            link,
            events: evt_tx,
            rooms: HashMap::new(),
            iqs: HashMap::new(),
            bound: bound.clone(),
            closing: false,
            leaving: HashMap::new(),
            backlog: std::collections::VecDeque::new(),
            self_pings: HashMap::new(),
            room_ping: config.room_ping,
            iq_timeout: config.iq_timeout,
        };
        tokio::spawn(worker.run(rx));
        Ok((Session { tx, bound, config }, evt_rx))
    }

    /// The full JID the session is bound to (it may change after a reset).
    pub fn bound_jid(&self) -> &FullJid {
        &self.bound
    }

    /// The user's bare JID.
    pub fn jid(&self) -> &BareJid {
        &self.config.jid
    }

    /// Joins a room as `nick`, asking for `history`; answers with our nick and the occupants.
    pub async fn join(
        &self,
        room: &BareJid,
        nick: &str,
        history: History,
    ) -> Result<Joined, JoinError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Join {
                room: room.clone(),
                nick: nick.to_owned(),
                history,
                reply,
            })
            .await
            .map_err(|_| JoinError::NoAnswer("the session is closed".into()))?;
        match tokio::time::timeout(self.config.join_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(JoinError::NoAnswer("the session is closed".into())),
            Err(_) => {
                self.leave(room, None).await;
                Err(JoinError::NoAnswer(format!(
                    "no answer within {:?}",
                    self.config.join_timeout
                )))
            }
        }
    }

    /// Leaves a room, with a status text that was cleared to cross.
    pub async fn leave(&self, room: &BareJid, status: Option<&Cleared<String>>) {
        self.depart(room, status, false).await;
    }

    /// Leaves a room because the user quits (marked so, see [`muc::NS_IRC_QUIT`]), with a
    /// status text that was cleared to cross.
    pub async fn quit(&self, room: &BareJid, status: Option<&Cleared<String>>) {
        self.depart(room, status, true).await;
    }

    async fn depart(&self, room: &BareJid, status: Option<&Cleared<String>>, quit: bool) {
        let status = status.map(|s| s.get().clone());
        let room = room.clone();
        let _ = self.tx.send(Command::Leave { room, status, quit }).await;
    }

    /// Shows the user away in a room (`<show>away</show>`, with a status text that was cleared
    /// to cross, or none), or back with `None`. Kept for the room's rejoins.
    pub async fn set_away(&self, room: &BareJid, away: Option<Option<&Cleared<String>>>) {
        let away = away.map(|status| status.map(|s| s.get().clone()));
        let room = room.clone();
        let _ = self.tx.send(Command::Away { room, away }).await;
    }

    /// The occupants of a joined room, with our own nick.
    pub async fn occupants(&self, room: &BareJid) -> Option<(String, Occupants)> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Occupants {
                room: room.clone(),
                reply,
            })
            .await
            .ok()?;
        rx.await.ok().flatten()
    }

    async fn send_stanza(&self, stanza: Stanza, room: Option<BareJid>) -> Result<(), SendError> {
        self.send_tracked(stanza, room, None).await
    }

    /// Sends a stanza to a room we are in (refused when we are not).
    pub(super) async fn send_room_stanza(
        &self,
        stanza: Stanza,
        room: &BareJid,
    ) -> Result<(), SendError> {
        self.send_tracked(stanza, Some(room.clone()), None).await
    }

    /// Sends a stanza; a message given as `track` (origin-id, body) is followed until the
    /// server acknowledges it (see [`XmppEvent::Unconfirmed`]).
    async fn send_tracked(
        &self,
        stanza: Stanza,
        room: Option<BareJid>,
        track: Option<(String, String)>,
    ) -> Result<(), SendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Send {
                stanza: Box::new(stanza),
                room,
                track,
                reply,
            })
            .await
            .map_err(|_| SendError::Closed)?;
        rx.await.map_err(|_| SendError::Closed)?
    }

    /// Sends a groupchat message to a joined room.
    pub async fn send_groupchat(
        &self,
        room: &BareJid,
        out: &Cleared<OutgoingMessage>,
    ) -> Result<(), SendError> {
        let out = out.get();
        let m = muc::build_message(Jid::from(room.clone()), MessageType::Groupchat, out);
        let track = Some((out.origin_id.clone(), out.body.clone()));
        self.send_tracked(Stanza::Message(m), Some(room.clone()), track)
            .await
    }

    /// Sends a private message to an occupant of a joined room.
    pub async fn send_private(
        &self,
        room: &BareJid,
        nick: &str,
        out: &Cleared<OutgoingMessage>,
    ) -> Result<(), SendError> {
        let out = out.get();
        let to = room
            .with_resource_str(nick)
            .map_err(|_| SendError::BadNick(nick.to_owned()))?;
        let m = muc::build_message(Jid::from(to), MessageType::Chat, out);
        let track = Some((out.origin_id.clone(), out.body.clone()));
        self.send_tracked(Stanza::Message(m), Some(room.clone()), track)
            .await
    }

    /// Sends a chat state to a joined room (`nick`: privately, to that occupant).
    pub async fn send_chat_state(
        &self,
        room: &BareJid,
        nick: Option<&str>,
        out: &Cleared<chat::OutgoingChatState>,
    ) -> Result<(), SendError> {
        let (to, kind) = match nick {
            None => (Jid::from(room.clone()), MessageType::Groupchat),
            Some(n) => (
                Jid::from(
                    room.with_resource_str(n)
                        .map_err(|_| SendError::BadNick(n.to_owned()))?,
                ),
                MessageType::Chat,
            ),
        };
        let m = chat::build_chat_state(to, kind, out.get());
        self.send_stanza(Stanza::Message(m), Some(room.clone()))
            .await
    }

    /// Acknowledges (XEP-0184) the private message `id` an occupant sent, once delivered.
    pub async fn send_receipt(
        &self,
        room: &BareJid,
        nick: &str,
        id: &str,
    ) -> Result<(), SendError> {
        let to = room
            .with_resource_str(nick)
            .map_err(|_| SendError::BadNick(nick.to_owned()))?;
        let m = chat::build_receipt(Jid::from(to), id);
        self.send_stanza(Stanza::Message(m), Some(room.clone()))
            .await
    }

    /// Changes our nick in a joined room (the room answers with a nick-change presence).
    pub async fn change_nick(&self, room: &BareJid, nick: &str) -> Result<(), SendError> {
        let to = room
            .with_resource_str(nick)
            .map_err(|_| SendError::BadNick(nick.to_owned()))?;
        let mut p = Presence::new(PresenceType::None);
        p.to = Some(Jid::from(to));
        self.send_stanza(Stanza::Presence(p), Some(room.clone()))
            .await
    }

    /// Changes a room's subject.
    pub async fn set_subject(
        &self,
        room: &BareJid,
        subject: &Cleared<OutgoingSubject>,
    ) -> Result<(), SendError> {
        let m = muc::build_subject(room, subject.get());
        self.send_stanza(Stanza::Message(m), Some(room.clone()))
            .await
    }

    /// Sends an IQ and waits for its answer (matched by id). Not public: an IQ could carry any
    /// text, and text leaves only as a `Cleared` value through the typed calls here and in
    /// [`admin`](super::admin).
    pub(super) async fn iq(&self, iq: Iq) -> Result<Iq, IqError> {
        let id = match &iq {
            Iq::Get { id, .. }
            | Iq::Set { id, .. }
            | Iq::Result { id, .. }
            | Iq::Error { id, .. } => id.clone(),
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Iq {
                iq: Box::new(iq),
                id: id.clone(),
                reply,
            })
            .await
            .map_err(|_| IqError::Closed)?;
        match tokio::time::timeout(self.config.iq_timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(IqError::Closed),
            Err(_) => {
                let _ = self.tx.send(Command::ForgetIq(id)).await;
                Err(IqError::Timeout(self.config.iq_timeout))
            }
        }
    }

    /// Leaves every room and closes the stream.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Close(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A fresh origin-id for an outgoing message.
pub fn origin_id() -> String {
    new_id()
}
