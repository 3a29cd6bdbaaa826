//! The narrow interface between the IRC front-end and what serves its channels (the bridge,
//! or a small in-memory backend in tests): typed requests one way, typed deliveries the other,
//! over bounded channels.

use tokio::sync::mpsc;

use crate::audit::Cleared;
use crate::config::controls::Login;
pub use crate::irc::proto::relayed::Relayed;
use crate::label::Clearance;

/// Text shown to an IRC user in a place other people's words can appear (a reason, a topic):
/// either the gateway's own words or text from the other side that an audited decision cleared
/// for this user. Foreign text has no other way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// The gateway's own words (never text from the other side).
    Own(String),
    /// Text from the other side, cleared for this user.
    Cleared(Cleared<String>),
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Text::Own(s) => s,
            Text::Cleared(c) => c.get(),
        }
    }
}

/// An IRCv3 typing notification (`+typing` client tag on TAGMSG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// Typing now.
    Active,
    /// Typed something, paused.
    Paused,
    /// Stopped (cleared the input, or sent).
    Done,
}

impl Typing {
    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Typing::Active => "active",
            Typing::Paused => "paused",
            Typing::Done => "done",
        }
    }

    /// Reads a tag value.
    pub fn parse(s: &str) -> Option<Typing> {
        Some(match s {
            "active" => Typing::Active,
            "paused" => Typing::Paused,
            "done" => Typing::Done,
            _ => return None,
        })
    }
}

/// Who a registered IRC user is.
#[derive(Debug, Clone)]
pub struct RegisteredUser {
    /// Connection id (unique for the process lifetime).
    pub id: u64,
    /// The account they logged in as.
    pub account: String,
    /// Their IRC nick at registration.
    pub nick: String,
    /// USER's username.
    pub user: String,
    /// The host shown for them.
    pub host: String,
    /// USER's real name.
    pub realname: String,
    /// Their XMPP JID (from the user directory).
    pub jid: jid::BareJid,
    /// Their clearance.
    pub clearance: Clearance,
    /// Their groups (for channels' allow and deny lists).
    pub groups: Vec<String>,
    /// How they logged in (for channels that require a certificate).
    pub login: Login,
    /// The clearance their client certificate carries (RFC 5755), if it carries one: their
    /// clearance is the meet of it and the users file's, on every reload too.
    pub certificate_clearance: Option<Clearance>,
    /// The language they read and type markings in (users file), where a room's policy has it.
    pub marking_language: Option<String>,
}

/// The source of a delivered message or event (an IRC user or a room occupant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Nick.
    pub nick: String,
    /// Username.
    pub user: String,
    /// Host.
    pub host: String,
    /// Account, if known (for `account-tag`).
    pub account: Option<String>,
}

impl Source {
    /// `nick!user@host`.
    pub fn mask(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }
}

/// A channel member as the front-end shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who.
    pub source: Source,
    /// Channel operator (`@`).
    pub op: bool,
    /// Voiced (`+`).
    pub voice: bool,
}

/// What a user asks of the backend.
#[derive(Debug, Clone)]
pub enum Request {
    /// JOIN one channel.
    Join {
        /// Channel name as typed.
        channel: String,
    },
    /// PART.
    Part {
        /// Channel.
        channel: String,
        /// Reason.
        reason: Option<String>,
    },
    /// PRIVMSG or NOTICE to one target.
    Message {
        /// NOTICE rather than PRIVMSG.
        notice: bool,
        /// Channel or nick.
        target: String,
        /// Text (one IRC line), formatting removed.
        text: String,
        /// A `/me` (CTCP ACTION).
        action: bool,
        /// The client's tags (client-only `+` tags and `label`).
        tags: Vec<(String, Option<String>)>,
        /// The client negotiated echo-message.
        echo: bool,
    },
    /// A typing notification (TAGMSG `+typing`) to a channel or a nick.
    Typing {
        /// Channel or nick.
        target: String,
        /// The state.
        state: Typing,
    },
    /// TOPIC query or change.
    Topic {
        /// Channel.
        channel: String,
        /// New topic, or `None` to query.
        topic: Option<String>,
    },
    /// LIST.
    List,
    /// LABELS: a channel's label facts (the user is in it).
    Labels {
        /// Channel.
        channel: String,
    },
    /// AWAY (set with text, clear with `None`).
    Away {
        /// Text.
        text: Option<String>,
    },
    /// NICK after registration.
    Nick {
        /// The new nick.
        nick: String,
    },
    /// KICK: remove an occupant from the room (the room decides whether the user may).
    Kick {
        /// Channel.
        channel: String,
        /// Who (their IRC nick).
        nick: String,
        /// Reason.
        reason: Option<String>,
    },
    /// INVITE someone the user shares a room with into a channel the user is in.
    Invite {
        /// Who (their IRC nick).
        nick: String,
        /// Channel.
        channel: String,
    },
    /// The user quits.
    Quit {
        /// Reason.
        reason: String,
    },
    /// A client PING: answered with [`Delivery::Pong`] once what was asked before it has been
    /// answered.
    Ping {
        /// The client's token.
        token: String,
    },
    /// A request whose answer the client wants labelled (IRCv3 `labeled-response`): the
    /// backend answers it with one [`Delivery::Response`] carrying the label.
    Labelled {
        /// The client's label.
        label: String,
        /// The request.
        request: Box<Request>,
    },
}

/// Why a JOIN was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinRefusal {
    /// No such channel (not mapped): 403.
    NoSuchChannel(String),
    /// Not cleared for the room: 477 with the reason, plus a NOTICE saying why.
    NotCleared(String),
    /// A boundary control refused: 474 for the allow and deny lists, 477 for the
    /// authentication required; a NOTICE says why.
    Control {
        /// The authentication was not strong enough (otherwise: not admitted by a list).
        authentication: bool,
        /// Why.
        why: String,
    },
    /// Anything else (room refused, XMPP trouble): 403 with the words.
    Other(String),
}

/// What the backend delivers to a user.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The user joined a channel.
    Joined {
        /// Channel.
        channel: String,
        /// Topic.
        topic: Option<Cleared<String>>,
        /// Who set it (for 333), if known.
        topic_by: Option<String>,
        /// Members, the user included.
        members: Vec<Member>,
    },
    /// A JOIN was refused.
    JoinRefused {
        /// Channel.
        channel: String,
        /// Why.
        reason: JoinRefusal,
    },
    /// A message (PRIVMSG or NOTICE) from someone.
    Message {
        /// Sender.
        from: Source,
        /// Channel or the user's nick.
        target: String,
        /// The message's lines, tags and time, cleared for this user as one.
        message: Cleared<Relayed>,
        /// A `/me`: each line goes as a CTCP ACTION.
        action: bool,
        /// NOTICE rather than PRIVMSG.
        notice: bool,
    },
    /// Someone's typing notification (TAGMSG `+typing`, for clients with message-tags).
    Typing {
        /// Sender.
        from: Source,
        /// Channel or the user's nick.
        target: String,
        /// The state, cleared for this user.
        state: Cleared<Typing>,
    },
    /// Someone joined a channel the user is in.
    Join {
        /// Channel.
        channel: String,
        /// Who.
        who: Member,
    },
    /// Someone left a channel (or the user did).
    Part {
        /// Channel.
        channel: String,
        /// Who.
        who: Source,
        /// Reason.
        reason: Option<Text>,
    },
    /// Someone quit.
    Quit {
        /// Who.
        who: Source,
        /// Reason.
        reason: Option<Text>,
    },
    /// Someone changed nick.
    Nick {
        /// Who (old nick).
        who: Source,
        /// New nick.
        new: String,
    },
    /// Someone was kicked.
    Kick {
        /// Channel.
        channel: String,
        /// By whom.
        by: Source,
        /// Who.
        nick: String,
        /// Why.
        reason: Option<Text>,
    },
    /// Someone's away state changed (shown to clients with away-notify).
    Away {
        /// Who.
        who: Source,
        /// The away text, or `None` when back.
        text: Option<Text>,
    },
    /// A channel's topic.
    Topic {
        /// Channel.
        channel: String,
        /// The topic (`None`: none, or none this user may see).
        topic: Option<Cleared<String>>,
        /// Who set it (for a change); `None` for a query answer.
        by: Option<Source>,
    },
    /// LIST answer.
    List {
        /// (channel, users, topic).
        entries: Vec<(String, usize, Text)>,
    },
    /// A notice from the server to a channel the user is in, in the gateway's own words (the
    /// channel's label facts, the label a line went out with).
    ChannelNotice {
        /// Channel.
        channel: String,
        /// Words.
        text: String,
    },
    /// A notice from the server to the user (e.g. why something was refused).
    ServerNotice {
        /// Text.
        text: String,
    },
    /// A standard reply FAIL (NOTICE for clients without standard-replies).
    Fail {
        /// The command that failed.
        command: String,
        /// Machine-readable code.
        code: String,
        /// Context parameter (e.g. the channel).
        context: String,
        /// Words.
        text: String,
    },
    /// A command named a channel the user is not in: 442 when the channel is mapped, 403
    /// when no room is mapped to it.
    NotInChannel {
        /// The channel.
        channel: String,
        /// A room is mapped to it.
        mapped: bool,
    },
    /// The room refused a moderator's action: 482.
    NotOperator {
        /// Channel.
        channel: String,
        /// Words.
        why: String,
    },
    /// An invitation went out: 341.
    Inviting {
        /// Who (IRC nick).
        nick: String,
        /// Channel.
        channel: String,
    },
    /// No such nick or channel for a message.
    NoSuchTarget {
        /// The target.
        target: String,
    },
    /// The answer to a client's PING.
    Pong {
        /// The client's token.
        token: String,
    },
    /// The answer to a [`Request::Labelled`]: what it produced (nothing: an `ACK`).
    Response {
        /// The client's label.
        label: String,
        /// The deliveries answering it, in order.
        deliveries: Vec<Delivery>,
    },
    /// The backend ends the user's session.
    Disconnect {
        /// Why.
        reason: String,
    },
}

/// What serves channels to the front-end.
pub trait Backend: Send + Sync + 'static {
    /// A user completed registration. The backend keeps `deliveries` and returns where the
    /// user's requests go. Dropping the returned sender (or sending `Quit`) ends the user.
    fn register(
        &self,
        user: RegisteredUser,
        deliveries: mpsc::Sender<Delivery>,
    ) -> mpsc::Sender<Request>;
}
