//! What a session reports and how its calls fail: [`XmppEvent`], [`Joined`] and the error types.

use std::time::Duration;

use jid::BareJid;

use super::*;

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
