//! One XMPP client session: logs in up front (so refusals reach the user), then runs under
//! tokio-xmpp's `StanzaStream` (resource binding, XEP-0198 stream management, keep-alive),
//! reconnecting with exponential backoff and jitter and rejoining its rooms after a reset.
//!
//! A [`Session`] is a cheap handle; a task owns the stream and the room state and reports
//! typed [`XmppEvent`]s on a bounded channel (a slow consumer slows reading; nothing is
//! dropped).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use jid::{BareJid, FullJid, Jid};
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::Stanza;
use tokio_xmpp::stanzastream::{
    Connection, Event, StanzaStage, StanzaState, StanzaStream, StanzaToken, StreamEvent,
};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::connect::{self, ConnectError, Endpoint};
use super::muc::{
    self, History, JoinError, Occupant, OccupantPresence, Occupants, OutgoingMessage,
    OutgoingSubject, ReceivedMessage,
};
use crate::audit::Cleared;

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
        }
    }
}

/// What happened on a session, for the layer above.
#[derive(Debug, Clone)]
pub enum XmppEvent {
    /// The connection dropped; the stream may still resume without loss.
    Suspended,
    /// The stream resumed without loss.
    Resumed,
    /// A reconnect attempt failed; another follows after `retry_in`.
    ReconnectFailed {
        /// Why.
        error: ConnectError,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// The stream was re-established with loss of state; rooms are being rejoined.
    Reset {
        /// The newly bound JID.
        bound: FullJid,
    },
    /// A room was rejoined after a reset.
    Rejoined {
        /// The room.
        room: BareJid,
        /// The occupants now.
        occupants: Occupants,
    },
    /// Rejoining a room after a reset failed.
    RejoinFailed {
        /// The room.
        room: BareJid,
        /// Why.
        error: JoinError,
    },
    /// Someone joined a room (or their role or affiliation changed).
    OccupantJoined {
        /// The room.
        room: BareJid,
        /// Who.
        occupant: Occupant,
    },
    /// Someone left a room.
    OccupantLeft {
        /// The room.
        room: BareJid,
        /// Their nick.
        nick: String,
        /// Why: status codes (307 kick, 301 ban, …).
        codes: Vec<u16>,
        /// The reason a moderator gave for a kick or ban (`<item><reason/>`).
        reason: Option<String>,
        /// The occupant's own presence status text.
        status: Option<String>,
        /// Marked as an IRC user of a gateway quitting.
        quit: bool,
    },
    /// An occupant went away, came back, or changed their status text.
    OccupantAway {
        /// The room.
        room: BareJid,
        /// Their nick.
        nick: String,
        /// Away (`<show>` away, xa or dnd).
        away: bool,
        /// Their status text, as sent (not decided).
        status: Option<String>,
    },
    /// Someone changed nick.
    NickChanged {
        /// The room.
        room: BareJid,
        /// Old nick.
        old: String,
        /// New nick.
        new: String,
    },
    /// This session was removed from a room (kick, ban, room destroyed…).
    RemovedFromRoom {
        /// The room.
        room: BareJid,
        /// Status codes.
        codes: Vec<u16>,
        /// The reason a moderator gave (free text from another occupant: decide before
        /// showing it).
        reason: Option<String>,
        /// The error condition, when the room answered with an error presence.
        condition: Option<String>,
    },
    /// A message in a room (live or history).
    Groupchat {
        /// The room.
        room: BareJid,
        /// The sender's nick (`None` for the room itself).
        nick: Option<String>,
        /// The message.
        message: Box<ReceivedMessage>,
    },
    /// A private message from a room occupant.
    Private {
        /// The room.
        room: BareJid,
        /// The sender's nick.
        nick: String,
        /// The message.
        message: Box<ReceivedMessage>,
    },
    /// The subject of a room (the message carrying it, for its label).
    Subject {
        /// The room.
        room: BareJid,
        /// Who set it, if known.
        nick: Option<String>,
        /// The subject.
        subject: String,
        /// The message that carried it.
        message: Box<ReceivedMessage>,
        /// The room's replay of its subject on (re)join, not a change.
        replay: bool,
    },
    /// The room refused our change to `nick`; we keep the nick we had.
    NickRefused {
        /// The room.
        room: BareJid,
        /// The nick asked for.
        nick: String,
        /// Why.
        error: JoinError,
    },
    /// A message we sent was never acknowledged by the server and the stream it went out on
    /// could not be resumed: it may not have arrived.
    Unconfirmed {
        /// Where it was sent (a room, or an occupant for a private message).
        to: Jid,
        /// Its origin-id.
        origin_id: String,
        /// Its body.
        body: String,
    },
    /// A message bounced with an error.
    MessageError {
        /// Where it was sent.
        from: Option<Jid>,
        /// Its id.
        id: Option<String>,
        /// The error.
        error: Option<muc::StanzaErrorInfo>,
    },
    /// A message from outside any room.
    Direct {
        /// The message.
        message: Box<ReceivedMessage>,
    },
    /// The session ended for good.
    Closed,
}

/// The result of joining a room.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The nick the room gave us (it may differ from the one asked for).
    pub nick: String,
    /// Occupants, including us.
    pub occupants: Occupants,
}

/// Why an IQ failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IqError {
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An error answer.
    #[error("error answer: {condition}")]
    Error {
        /// The condition.
        condition: String,
    },
    /// The session is gone.
    #[error("the session is closed")]
    Closed,
}

/// Why a catalog could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// The server has no catalog service (ejabberd has none).
    #[error("the server offers no security label catalog ({0})")]
    NoService(String),
    /// The answer is not a catalog.
    #[error("bad catalog answer: {0}")]
    Bad(String),
    /// The request failed.
    #[error(transparent)]
    Iq(#[from] IqError),
}

/// Why a send failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The session is gone.
    #[error("the XMPP session is closed")]
    Closed,
    /// The room is not joined.
    #[error("not in room {0}")]
    NotJoined(BareJid),
    /// The nick cannot form a JID.
    #[error("`{0}` cannot be used as a room nick")]
    BadNick(String),
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
        let negotiated = Arc::new(AtomicBool::new(false));
        let connector = reconnector(config.clone(), first, evt_tx.clone(), negotiated.clone());
        let mut stream = StanzaStream::new(connector, config.queue_depth.max(1));
        // The stream binds a resource; wait for it.
        let (bound, sm) = tokio::time::timeout(config.endpoint.handshake_timeout, async {
            loop {
                match stream.next().await {
                    Some(Event::Stream(StreamEvent::Reset {
                        bound_jid,
                        features,
                    })) => {
                        let sm = features.stream_management.is_some();
                        return bound_jid
                            .try_into_full()
                            .map(|j| (j, sm))
                            .map_err(|j| ConnectError::Bind(format!("bound to a bare JID {j}")));
                    }
                    Some(_) => continue,
                    None => {
                        return Err(ConnectError::Bind("the stream ended before binding".into()));
                    }
                }
            }
        })
        .await
        .map_err(|_| ConnectError::Bind("no answer to resource binding".into()))??;
        if bound.to_bare() != config.jid {
            return Err(ConnectError::Bind(format!(
                "the server bound the session to {bound}, not to {}",
                config.jid
            )));
        }
        negotiated.store(true, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(64);
        let worker = Worker {
            stream,
            events: evt_tx,
            rooms: HashMap::new(),
            iqs: HashMap::new(),
            bound: bound.clone(),
            sm,
            unacked: VecDeque::new(),
            negotiated,
            closing: false,
            leaving: HashMap::new(),
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
        let _ = self
            .tx
            .send(Command::Leave {
                room: room.clone(),
                status: status.map(|s| s.get().clone()),
                quit: false,
            })
            .await;
    }

    /// Leaves a room because the user quits (marked so, see [`muc::NS_IRC_QUIT`]), with a
    /// status text that was cleared to cross.
    pub async fn quit(&self, room: &BareJid, status: Option<&Cleared<String>>) {
        let _ = self
            .tx
            .send(Command::Leave {
                room: room.clone(),
                status: status.map(|s| s.get().clone()),
                quit: true,
            })
            .await;
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

/// The connector closure: hands over the first (already authenticated) connection, then
/// reconnects with backoff for as long as the stream lives.
///
/// Stream resumption (XEP-0198) is tried first after a drop. If the connection handed over last
/// never completed negotiation — e.g. a restarted ejabberd answers `<failed/>` without `h`,
/// which this tokio-xmpp cannot parse, and would loop forever — the next one is handed over
/// without the stream-management feature: the library drops the old state (its unacknowledged
/// messages are then reported as [`XmppEvent::Unconfirmed`]) and binds afresh.
fn reconnector(
    config: Arc<SessionConfig>,
    first: Connection,
    events: mpsc::Sender<XmppEvent>,
    negotiated: Arc<AtomicBool>,
) -> Box<dyn FnMut(Option<String>, oneshot::Sender<Connection>) + Send + 'static> {
    let mut first = Some(first);
    Box::new(move |_location, slot| {
        if let Some(conn) = first.take() {
            // The receiver is alive: the stream just asked for it.
            let _ = slot.send(conn);
            return;
        }
        let fresh = !negotiated.swap(false, Ordering::SeqCst);
        let config = config.clone();
        let events = events.clone();
        tokio::spawn(async move {
            let authzid = match config.mode {
                IdentityMode::TrustedGateway => Some(&config.jid),
                IdentityMode::PerUser => None,
            };
            let mut attempt = 0u32;
            loop {
                if slot.is_closed() {
                    return;
                }
                match connect::connect(&config.endpoint, &config.jid, authzid).await {
                    Ok(mut conn) => {
                        if fresh {
                            tracing::info!(jid = %config.jid, "the last reconnect did not complete; binding afresh without stream resumption");
                            conn.features.stream_management = None;
                        }
                        let _ = slot.send(conn);
                        return;
                    }
                    Err(error) => {
                        let retry_in = config.backoff.delay(attempt);
                        attempt = attempt.saturating_add(1);
                        tracing::warn!(jid = %config.jid, %error, ?retry_in, "XMPP reconnect failed");
                        let _ = events.try_send(XmppEvent::ReconnectFailed { error, retry_in });
                        tokio::time::sleep(retry_in).await;
                    }
                }
            }
        });
    })
}

struct RoomState {
    nick: String,
    history: History,
    occupants: Occupants,
    joined: bool,
    pending: Option<oneshot::Sender<Result<Joined, JoinError>>>,
    /// A rejoin after a reset (report as `Rejoined`, not to a caller).
    rejoining: bool,
    /// The newest delay stamp or receive time seen, for `since` on rejoin.
    last_seen: Option<String>,
    /// New nicks announced by a nick change whose available presence has not come yet.
    renaming: Vec<String>,
    /// Joined, and the room has not sent its subject yet: messages now are the history it
    /// replays on join (XEP-0045 §7.2.15), the only ones whose `<delay/>` is honoured.
    history_open: bool,
    /// Away, with its status, as last set (sent again after a rejoin).
    away: Option<Option<String>>,
}

/// The away state as [`muc::away_presence`] takes it.
fn away_of(away: &Option<Option<String>>) -> Option<Option<&str>> {
    away.as_ref().map(|s| s.as_deref())
}

/// A message sent on a stream with stream management (XEP-0198) whose receipt the server has
/// not acknowledged yet. If the stream breaks and cannot be resumed, the library discards it:
/// we report it as [`XmppEvent::Unconfirmed`] rather than let it vanish.
struct Unacked {
    to: Jid,
    origin_id: String,
    body: String,
    token: StanzaToken,
}

/// At most this many unacknowledged messages are tracked (the oldest are let go).
const UNACKED_LIMIT: usize = 4096;

struct Worker {
    stream: StanzaStream,
    events: mpsc::Sender<XmppEvent>,
    rooms: HashMap<BareJid, RoomState>,
    iqs: HashMap<String, oneshot::Sender<Result<Iq, IqError>>>,
    bound: FullJid,
    /// The current stream has stream management (so the server acknowledges stanzas).
    sm: bool,
    unacked: VecDeque<Unacked>,
    /// Set when a handed-over connection completed negotiation (see [`reconnector`]).
    negotiated: Arc<AtomicBool>,
    /// The session must end (the server bound a stream to another identity).
    closing: bool,
    /// Rooms left whose answer (our unavailable presence) is still to come, with how many.
    leaving: HashMap<BareJid, u32>,
}

fn now_stamp() -> String {
    crate::util::timestamp_now(false)
}

impl Worker {
    async fn emit(&self, e: XmppEvent) {
        // Bounded: a slow consumer slows reading from the server, nothing is dropped.
        let _ = self.events.send(e).await;
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Close(done)) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => {
                        self.shutdown().await;
                        return;
                    }
                },
                ev = self.stream.next() => match ev {
                    Some(ev) => {
                        self.event(ev).await;
                        if self.closing {
                            for (_, tx) in self.iqs.drain() {
                                let _ = tx.send(Err(IqError::Closed));
                            }
                            self.emit(XmppEvent::Closed).await;
                            self.stream.close().await;
                            return;
                        }
                    }
                    None => {
                        for (_, tx) in self.iqs.drain() {
                            let _ = tx.send(Err(IqError::Closed));
                        }
                        self.emit(XmppEvent::Closed).await;
                        return;
                    }
                },
            }
        }
    }

    async fn shutdown(mut self) {
        let rooms: Vec<(BareJid, String)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(j, r)| (j.clone(), r.nick.clone()))
            .collect();
        for (room, nick) in rooms {
            // The session closing is its user quitting.
            let status = Some("gateway session closed");
            if let Some(p) = muc::leave_presence(&room, &nick, status, true) {
                let _ = self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
        }
        self.rooms.clear();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stream.close()).await;
        let _ = self.events.send(XmppEvent::Closed).await;
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                room,
                nick,
                history,
                reply,
            } => {
                if let Some(r) = self.rooms.get(&room)
                    && r.joined
                {
                    let _ = reply.send(Ok(Joined {
                        nick: r.nick.clone(),
                        occupants: r.occupants.clone(),
                    }));
                    return;
                }
                let Some(p) = muc::join_presence(&room, &nick, &history) else {
                    let _ = reply.send(Err(JoinError::BadNick));
                    return;
                };
                self.rooms.insert(
                    room,
                    RoomState {
                        nick,
                        history,
                        occupants: Occupants::new(),
                        joined: false,
                        pending: Some(reply),
                        rejoining: false,
                        last_seen: None,
                        renaming: Vec::new(),
                        history_open: false,
                        away: None,
                    },
                );
                self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
            Command::Away { room, away } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.away = away;
                    if r.joined
                        && let Some(p) = muc::away_presence(&room, &r.nick, away_of(&r.away))
                    {
                        self.stream.send(Box::new(Stanza::Presence(p))).await;
                    }
                }
            }
            Command::Leave { room, status, quit } => {
                if let Some(r) = self.rooms.remove(&room)
                    && let Some(p) = muc::leave_presence(&room, &r.nick, status.as_deref(), quit)
                {
                    self.stream.send(Box::new(Stanza::Presence(p))).await;
                    // Its answer (our unavailable presence) may come after a new join of the
                    // same room (`/cycle`): it is about the old stay, not the new one.
                    *self.leaving.entry(room).or_default() += 1;
                }
            }
            Command::Send {
                stanza,
                room,
                track,
                reply,
            } => {
                if let Some(room) = room
                    && !self.rooms.get(&room).is_some_and(|r| r.joined)
                {
                    let _ = reply.send(Err(SendError::NotJoined(room)));
                    return;
                }
                let to = match &*stanza {
                    Stanza::Message(m) => m.to.clone(),
                    _ => None,
                };
                let token = self.stream.send(stanza).await;
                if let (Some(to), Some((origin_id, body)), true) = (to, track, self.sm) {
                    self.track(Unacked {
                        to,
                        origin_id,
                        body,
                        token,
                    });
                }
                let _ = reply.send(Ok(()));
            }
            Command::Iq { iq, id, reply } => {
                self.iqs.insert(id, reply);
                self.stream.send(Box::new(Stanza::Iq(*iq))).await;
            }
            Command::ForgetIq(id) => {
                self.iqs.remove(&id);
            }
            Command::Occupants { room, reply } => {
                let _ = reply.send(
                    self.rooms
                        .get(&room)
                        .filter(|r| r.joined)
                        .map(|r| (r.nick.clone(), r.occupants.clone())),
                );
            }
            Command::Close(_) => {}
        }
    }

    async fn event(&mut self, ev: Event) {
        match ev {
            Event::Stream(StreamEvent::Suspended) => self.emit(XmppEvent::Suspended).await,
            Event::Stream(StreamEvent::Resumed) => {
                self.negotiated.store(true, Ordering::SeqCst);
                self.emit(XmppEvent::Resumed).await
            }
            Event::Stream(StreamEvent::Reset {
                bound_jid,
                features,
            }) => {
                self.negotiated.store(true, Ordering::SeqCst);
                // Leaves sent on the old stream will not be answered on this one.
                self.leaving.clear();
                // The old stream's unacknowledged messages are gone with it.
                self.report_unconfirmed().await;
                self.sm = features.stream_management.is_some();
                match bound_jid.try_into_full() {
                    Ok(full) if full.to_bare() == self.bound.to_bare() => {
                        self.bound = full.clone();
                        self.emit(XmppEvent::Reset { bound: full }).await;
                    }
                    other => {
                        // Bound to someone else (or to no resource): this stream is not the
                        // user's; end the session rather than speak for another identity.
                        tracing::error!(expected = %self.bound.to_bare(), bound = ?other.ok(),
                            "the server bound a new stream to another JID; closing the session");
                        self.closing = true;
                        return;
                    }
                }
                self.rejoin_all().await;
            }
            Event::Stanza(Stanza::Presence(p)) => self.presence(p).await,
            Event::Stanza(Stanza::Message(m)) => self.message(m).await,
            Event::Stanza(Stanza::Iq(iq)) => self.iq(iq).await,
        }
    }

    /// Tracks a sent message until the server acknowledges it; acknowledged ones at the front
    /// are let go on the way.
    fn track(&mut self, u: Unacked) {
        while self
            .unacked
            .front()
            .is_some_and(|f| f.token.state() >= StanzaStage::Acked)
        {
            self.unacked.pop_front();
        }
        if self.unacked.len() >= UNACKED_LIMIT {
            self.unacked.pop_front();
        }
        self.unacked.push_back(u);
    }

    /// Reports every tracked message that was not acknowledged on the old stream (after a
    /// reset, the library has discarded those it had sent).
    async fn report_unconfirmed(&mut self) {
        // Still-queued ones go out on the new stream before any rejoin, so the room will
        // refuse them: they are reported too.
        let lost: Vec<Unacked> = std::mem::take(&mut self.unacked)
            .into_iter()
            .filter(|u| !matches!(u.token.state(), StanzaState::Acked { .. }))
            .collect();
        for u in lost {
            tracing::warn!(to = %u.to, origin_id = %u.origin_id, "message not acknowledged before the stream was reset");
            self.emit(XmppEvent::Unconfirmed {
                to: u.to,
                origin_id: u.origin_id,
                body: u.body,
            })
            .await;
        }
    }

    async fn rejoin_all(&mut self) {
        let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let Some(r) = self.rooms.get_mut(&room) else {
                continue;
            };
            let was_pending = r.pending.is_some();
            r.joined = false;
            r.history_open = false;
            r.occupants.clear();
            r.rejoining = !was_pending;
            let mut history = r.history.clone();
            if let Some(since) = &r.last_seen {
                history = History {
                    max_stanzas: None,
                    since: Some(since.clone()),
                };
            }
            if let Some(p) = muc::join_presence(&room, &r.nick, &history) {
                self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
        }
    }

    async fn presence(&mut self, p: Presence) {
        let Some(from) = p.from.clone() else { return };
        let room = from.to_bare();
        if p.type_ == PresenceType::Error {
            // An error about another nick than ours is a refused nick change: we stay.
            if let Some(r) = self.rooms.get(&room)
                && r.pending.is_none()
                && !r.rejoining
                && from.resource().is_some_and(|n| n.as_str() != r.nick)
            {
                let nick = from
                    .resource()
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_default();
                let error = muc::stanza_error(&p.payloads)
                    .map(|e| JoinError::from_stanza_error(e, &nick))
                    .unwrap_or(JoinError::Other {
                        condition: "undefined-condition".into(),
                        text: None,
                    });
                self.emit(XmppEvent::NickRefused { room, nick, error })
                    .await;
                return;
            }
            if let Some(mut r) = self.rooms.remove(&room) {
                let err = muc::stanza_error(&p.payloads)
                    .map(|e| JoinError::from_stanza_error(e, &r.nick))
                    .unwrap_or(JoinError::Other {
                        condition: "undefined-condition".into(),
                        text: None,
                    });
                if let Some(reply) = r.pending.take() {
                    let _ = reply.send(Err(err));
                } else if r.rejoining {
                    self.emit(XmppEvent::RejoinFailed { room, error: err })
                        .await;
                } else {
                    self.emit(XmppEvent::RemovedFromRoom {
                        room,
                        codes: vec![],
                        reason: None,
                        condition: Some(err.to_string()),
                    })
                    .await;
                }
            }
            return;
        }
        let Some(op) = muc::read_occupant_presence(&p) else {
            return;
        };
        if !self.rooms.contains_key(&room) {
            return;
        }
        if op.is_self() {
            self.self_presence(op).await;
        } else {
            self.occupant_presence(op).await;
        }
    }

    async fn self_presence(&mut self, op: OccupantPresence) {
        let room = op.room.clone();
        // Only while the room is left or being joined again: once joined, an unavailable
        // presence is a real removal (the server answers a leave before a later join).
        let rejoining = self.rooms.get(&room).is_none_or(|r| r.pending.is_some());
        if !op.available
            && !op.codes.contains(&303)
            && rejoining
            && let Some(n) = self.leaving.get_mut(&room)
        {
            *n -= 1;
            if *n == 0 {
                self.leaving.remove(&room);
            }
            return;
        }
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        if !op.available {
            if op.codes.contains(&303)
                && let Some(new) = op.new_nick.clone()
            {
                let old = std::mem::replace(&mut r.nick, new.clone());
                muc::rename_occupant(&mut r.occupants, &old, &new);
                if r.joined {
                    self.emit(XmppEvent::NickChanged { room, old, new }).await;
                }
                return;
            }
            let was_joined = r.joined;
            let pending = r.pending.take();
            self.rooms.remove(&room);
            if let Some(reply) = pending {
                let _ = reply.send(Err(JoinError::Other {
                    condition: "removed".into(),
                    text: op.reason.clone(),
                }));
            } else if was_joined {
                self.emit(XmppEvent::RemovedFromRoom {
                    room,
                    codes: op.codes,
                    condition: None,
                    reason: op.reason,
                })
                .await;
            }
            return;
        }
        // The room may have changed our nick (status 210).
        r.nick = op.occupant.nick.clone();
        r.occupants.insert(op.occupant.nick.clone(), op.occupant);
        if r.joined {
            return;
        }
        r.joined = true;
        r.history_open = true;
        let joined = Joined {
            nick: r.nick.clone(),
            occupants: r.occupants.clone(),
        };
        if let Some(reply) = r.pending.take() {
            let _ = reply.send(Ok(joined));
        } else if r.rejoining {
            r.rejoining = false;
            if r.away.is_some()
                && let Some(p) = muc::away_presence(&room, &r.nick, away_of(&r.away))
            {
                self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
            self.emit(XmppEvent::Rejoined {
                room,
                occupants: joined.occupants,
            })
            .await;
        }
    }

    async fn occupant_presence(&mut self, op: OccupantPresence) {
        let room = op.room.clone();
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let joined = r.joined;
        let nick = op.occupant.nick.clone();
        if op.available {
            let before = r
                .occupants
                .insert(nick.clone(), op.occupant.clone())
                .map(|o| (o.away, o.status));
            let now = (op.occupant.away, op.occupant.status.clone());
            if let Some(i) = r.renaming.iter().position(|n| *n == nick) {
                // The second half of a nick change, already reported as `NickChanged`.
                r.renaming.swap_remove(i);
                return;
            }
            if !joined {
                return;
            }
            match before {
                None => {
                    self.emit(XmppEvent::OccupantJoined {
                        room,
                        occupant: op.occupant,
                    })
                    .await
                }
                Some(before) if before != now => {
                    self.emit(XmppEvent::OccupantAway {
                        room,
                        nick,
                        away: now.0,
                        status: now.1,
                    })
                    .await
                }
                Some(_) => {}
            }
            return;
        }
        if op.codes.contains(&303)
            && let Some(new) = op.new_nick.clone()
        {
            // The occupant is known under the new nick at once, so the roster never misses
            // them between the two halves; the available presence under the new nick follows
            // and brings the rest of its details.
            muc::rename_occupant(&mut r.occupants, &nick, &new);
            if !joined {
                return;
            }
            r.renaming.push(new.clone());
            self.emit(XmppEvent::NickChanged {
                room,
                old: nick,
                new,
            })
            .await;
            return;
        }
        r.occupants.remove(&nick);
        if !joined {
            return;
        }
        self.emit(XmppEvent::OccupantLeft {
            room,
            nick,
            codes: op.codes,
            reason: op.reason,
            status: op.status,
            quit: op.quit,
        })
        .await;
    }

    async fn message(&mut self, m: Message) {
        let mut received = muc::read_message(&m);
        let from = m.from.clone();
        if m.type_ == MessageType::Error {
            self.emit(XmppEvent::MessageError {
                from,
                id: received.id.clone(),
                error: received.error.clone(),
            })
            .await;
            return;
        }
        let Some(from) = from else {
            self.emit(XmppEvent::Direct {
                message: Box::new(received),
            })
            .await;
            return;
        };
        let room = from.to_bare();
        let Some(r) = self.rooms.get_mut(&room) else {
            self.emit(XmppEvent::Direct {
                message: Box::new(received),
            })
            .await;
            return;
        };
        let nick = from.resource().map(|r| r.as_str().to_owned());
        // Only the room assigns stanza-ids here (XEP-0359 `by`), and only the history the room
        // replays on join is delayed: a sender's own <delay/> on a live message is ignored.
        received.stanza_id = muc::stanza_id_by(&m.payloads, &room);
        if !(m.type_ == MessageType::Groupchat && r.history_open) {
            received.delay = None;
        }
        match m.type_ {
            MessageType::Groupchat => {
                r.last_seen = Some(received.delay.clone().unwrap_or_else(now_stamp));
                if received.body.is_none()
                    && let Some(subject) = received.subject.clone()
                {
                    // The subject ends the history (XEP-0045 §7.2.16).
                    let replay = std::mem::replace(&mut r.history_open, false);
                    self.emit(XmppEvent::Subject {
                        room,
                        nick,
                        subject,
                        message: Box::new(received),
                        replay,
                    })
                    .await;
                    return;
                }
                self.emit(XmppEvent::Groupchat {
                    room,
                    nick,
                    message: Box::new(received),
                })
                .await;
            }
            _ => match nick {
                Some(nick) => {
                    self.emit(XmppEvent::Private {
                        room,
                        nick,
                        message: Box::new(received),
                    })
                    .await
                }
                None => {
                    self.emit(XmppEvent::Direct {
                        message: Box::new(received),
                    })
                    .await
                }
            },
        }
    }

    async fn iq(&mut self, iq: Iq) {
        match iq {
            Iq::Result { ref id, .. } => {
                if let Some(tx) = self.iqs.remove(id) {
                    let _ = tx.send(Ok(iq));
                }
            }
            Iq::Error {
                ref id, ref error, ..
            } => {
                if let Some(tx) = self.iqs.remove(id) {
                    let _ = tx.send(Err(IqError::Error {
                        condition: format!("{:?}", error.defined_condition),
                    }));
                }
            }
            Iq::Get {
                from, id, payload, ..
            }
            | Iq::Set {
                from, id, payload, ..
            } => {
                // Answer pings; refuse everything else (RFC 6120 §8.2.3: every get/set gets an
                // answer).
                let reply = if payload.is("ping", "urn:xmpp:ping") {
                    Iq::Result {
                        from: None,
                        to: from,
                        id,
                        payload: None,
                    }
                } else {
                    Iq::Error {
                        from: None,
                        to: from,
                        id,
                        error: xmpp_parsers::stanza_error::StanzaError::new(
                            xmpp_parsers::stanza_error::ErrorType::Cancel,
                            xmpp_parsers::stanza_error::DefinedCondition::ServiceUnavailable,
                            "en",
                            "not supported by this gateway session",
                        ),
                        payload: None,
                    }
                };
                self.stream.send(Box::new(Stanza::Iq(reply))).await;
            }
        }
    }
}

/// A fresh origin-id for an outgoing message.
pub fn origin_id() -> String {
    new_id()
}
