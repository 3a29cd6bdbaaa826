//! XEP-0045 multi-user chat: join presences, occupant tracking and message reading, from raw
//! stanzas (status codes are read from the element, so an unknown code never fails a parse).

use std::collections::BTreeMap;

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use crate::label::xep0258::{self, SecurityLabel, XepError};

/// `http://jabber.org/protocol/muc`.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// `http://jabber.org/protocol/muc#user`.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0359 unique and stable stanza ids.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0203 delayed delivery.
pub const NS_DELAY: &str = "urn:xmpp:delay";
/// RFC 6120 stanza error conditions.
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// What history to ask for when joining.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// At most this many messages (`maxstanzas`).
    pub max_stanzas: Option<u32>,
    /// Only messages since this XEP-0082 timestamp (`since`).
    pub since: Option<String>,
}

/// An occupant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// No role (leaving).
    None,
    /// Visitor: may not speak in moderated rooms.
    Visitor,
    /// Participant.
    Participant,
    /// Moderator.
    Moderator,
}

/// An occupant's affiliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Affiliation {
    /// Outcast (banned).
    Outcast,
    /// None.
    None,
    /// Member.
    Member,
    /// Admin.
    Admin,
    /// Owner.
    Owner,
}

/// One occupant of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    /// The room nick.
    pub nick: String,
    /// Role.
    pub role: Role,
    /// Affiliation.
    pub affiliation: Affiliation,
    /// The real JID, when the room exposes it.
    pub jid: Option<Jid>,
    /// Away (`<show>` away, xa or dnd).
    pub away: bool,
    /// Their presence status text, as sent (not decided).
    pub status: Option<String>,
}

/// Why a room could not be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Someone else has the nick.
    #[error("the nick {0} is already in use in the room")]
    NickConflict(String),
    /// Banned or otherwise forbidden.
    #[error("you are banned from the room")]
    Banned,
    /// The room is members-only.
    #[error("the room is members-only")]
    MembersOnly,
    /// The room is full.
    #[error("the room is full")]
    RoomFull,
    /// The room does not exist and may not be created.
    #[error("the room does not exist")]
    NotFound,
    /// A password is needed.
    #[error("the room needs a password")]
    PasswordRequired,
    /// Room creation is restricted.
    #[error("the room does not exist and may not be created")]
    CreationRestricted,
    /// The nick is not acceptable.
    #[error("the nick is not acceptable to the room")]
    BadNick,
    /// Any other error condition. The server's text is kept for the log but never shown:
    /// users see the gateway's own words and the condition.
    #[error("the room refused the join: {condition}")]
    Other {
        /// The RFC 6120 condition.
        condition: String,
        /// Text, if the server gave any.
        text: Option<String>,
    },
    /// The session ended or the join was not answered in time.
    #[error("the join was not answered: {0}")]
    NoAnswer(String),
}

/// A stanza error (condition and text) read from an `<error/>` child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaErrorInfo {
    /// The condition element name, e.g. `forbidden`.
    pub condition: String,
    /// The text, if any.
    pub text: Option<String>,
}

/// The defined conditions of RFC 6120 §8.3.3: the only words of a stanza error that the gateway
/// repeats to anyone.
pub const DEFINED_CONDITIONS: [&str; 22] = [
    "bad-request",
    "conflict",
    "feature-not-implemented",
    "forbidden",
    "gone",
    "internal-server-error",
    "item-not-found",
    "jid-malformed",
    "not-acceptable",
    "not-allowed",
    "not-authorized",
    "policy-violation",
    "recipient-unavailable",
    "redirect",
    "registration-required",
    "remote-server-not-found",
    "remote-server-timeout",
    "resource-constraint",
    "service-unavailable",
    "subscription-required",
    "undefined-condition",
    "unexpected-request",
];

/// Reads the `<error/>` among payloads. The condition is one of [`DEFINED_CONDITIONS`]: any
/// other element in the stanzas namespace — an element name is the sender's to choose, and so
/// could carry words — is read as `undefined-condition`.
pub fn stanza_error(payloads: &[Element]) -> Option<StanzaErrorInfo> {
    let err = payloads.iter().find(|e| e.name() == "error")?;
    let condition = err
        .children()
        .filter(|c| c.ns() == NS_STANZAS && c.name() != "text")
        .find_map(|c| DEFINED_CONDITIONS.iter().find(|d| **d == c.name()))
        .map_or("undefined-condition", |d| d)
        .to_owned();
    let text = err
        .children()
        .find(|c| c.ns() == NS_STANZAS && c.name() == "text")
        .map(Element::text);
    Some(StanzaErrorInfo { condition, text })
}

impl JoinError {
    /// The join error an error presence stands for.
    pub fn from_stanza_error(e: StanzaErrorInfo, nick: &str) -> JoinError {
        match e.condition.as_str() {
            "conflict" => JoinError::NickConflict(nick.to_owned()),
            "forbidden" => JoinError::Banned,
            "registration-required" => JoinError::MembersOnly,
            "service-unavailable" => JoinError::RoomFull,
            "item-not-found" => JoinError::NotFound,
            "not-authorized" => JoinError::PasswordRequired,
            "not-allowed" => JoinError::CreationRestricted,
            "jid-malformed" => JoinError::BadNick,
            _ => JoinError::Other {
                condition: e.condition,
                text: e.text,
            },
        }
    }
}

/// Builds the join presence.
pub fn join_presence(room: &BareJid, nick: &str, history: &History) -> Option<Presence> {
    let to = room.with_resource_str(nick).ok()?;
    let mut h = Element::builder("history", NS_MUC);
    if let Some(n) = history.max_stanzas {
        h = h.attr(attr_name("maxstanzas"), n.to_string());
    }
    if let Some(s) = &history.since {
        h = h.attr(attr_name("since"), s.as_str());
    }
    let x = Element::builder("x", NS_MUC).append(h.build()).build();
    let mut p = Presence::new(PresenceType::None);
    p.to = Some(Jid::from(to));
    p.payloads.push(x);
    Some(p)
}

/// Builds the leave presence; `quit` marks it as the IRC user quitting (see [`NS_IRC_QUIT`]).
pub fn leave_presence(
    room: &BareJid,
    nick: &str,
    status: Option<&str>,
    quit: bool,
) -> Option<Presence> {
    let to = room.with_resource_str(nick).ok()?;
    let mut p = Presence::new(PresenceType::Unavailable);
    p.to = Some(Jid::from(to));
    if let Some(s) = status {
        p.statuses
            .insert(xmpp_parsers::message::Lang::default(), s.to_owned());
    }
    if quit {
        p.payloads
            .push(Element::builder("quit", NS_IRC_QUIT).build());
    }
    Some(p)
}

/// Builds an occupant's presence update: away (`<show>away</show>`) with an optional status,
/// or back (no show, no status).
pub fn away_presence(room: &BareJid, nick: &str, away: Option<Option<&str>>) -> Option<Presence> {
    let to = room.with_resource_str(nick).ok()?;
    let mut p = Presence::new(PresenceType::None);
    p.to = Some(Jid::from(to));
    if let Some(status) = away {
        p.show = Some(xmpp_parsers::presence::Show::Away);
        if let Some(s) = status {
            p.statuses
                .insert(xmpp_parsers::message::Lang::default(), s.to_owned());
        }
    }
    Some(p)
}

/// The payload marking a leave that is an IRC user quitting (their other gateway users see a
/// QUIT rather than a PART; XMPP clients see an ordinary leave).
pub const NS_IRC_QUIT: &str = "urn:labelgate:irc-quit:0";

/// What an occupant presence says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccupantPresence {
    /// The room.
    pub room: BareJid,
    /// The occupant as described.
    pub occupant: Occupant,
    /// Available (in the room) or not.
    pub available: bool,
    /// Status codes.
    pub codes: Vec<u16>,
    /// The new nick on a nick change (status 303).
    pub new_nick: Option<String>,
    /// The reason given with a kick or ban.
    pub reason: Option<String>,
    /// Free-text status.
    pub status: Option<String>,
    /// A leave marked as an IRC user quitting.
    pub quit: bool,
}

impl OccupantPresence {
    /// This presence is about the session's own occupant (status 110).
    pub fn is_self(&self) -> bool {
        self.codes.contains(&110)
    }
}

fn role(s: Option<&str>) -> Role {
    match s {
        Some("moderator") => Role::Moderator,
        Some("participant") => Role::Participant,
        Some("visitor") => Role::Visitor,
        _ => Role::None,
    }
}

fn affiliation(s: Option<&str>) -> Affiliation {
    match s {
        Some("owner") => Affiliation::Owner,
        Some("admin") => Affiliation::Admin,
        Some("member") => Affiliation::Member,
        Some("outcast") => Affiliation::Outcast,
        _ => Affiliation::None,
    }
}

/// Reads an occupant presence (one from `room/nick` carrying `muc#user`).
pub fn read_occupant_presence(p: &Presence) -> Option<OccupantPresence> {
    let from: FullJid = p.from.clone()?.try_into_full().ok()?;
    let x = p.payloads.iter().find(|e| e.is("x", NS_MUC_USER))?;
    let mut codes = Vec::new();
    let mut occupant = Occupant {
        nick: from.resource().as_str().to_owned(),
        role: Role::None,
        affiliation: Affiliation::None,
        jid: None,
        away: matches!(
            p.show,
            Some(
                xmpp_parsers::presence::Show::Away
                    | xmpp_parsers::presence::Show::Xa
                    | xmpp_parsers::presence::Show::Dnd
            )
        ),
        status: p.statuses.values().next().cloned(),
    };
    let mut new_nick = None;
    let mut reason = None;
    for c in x.children() {
        if c.is("status", NS_MUC_USER) {
            if let Some(code) = c.attr("code").and_then(|v| v.parse().ok()) {
                codes.push(code);
            }
        } else if c.is("item", NS_MUC_USER) {
            occupant.role = role(c.attr("role"));
            occupant.affiliation = affiliation(c.attr("affiliation"));
            occupant.jid = c.attr("jid").and_then(|j| j.parse().ok());
            new_nick = c.attr("nick").map(str::to_owned);
            reason = c
                .children()
                .find(|r| r.is("reason", NS_MUC_USER))
                .map(Element::text);
        }
    }
    Some(OccupantPresence {
        room: from.to_bare(),
        occupant,
        available: p.type_ != PresenceType::Unavailable,
        codes,
        new_nick,
        reason,
        status: p.statuses.values().next().cloned(),
        quit: p.payloads.iter().any(|e| e.is("quit", NS_IRC_QUIT)),
    })
}

/// A received message, with every payload kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// Sender.
    pub from: Option<Jid>,
    /// Message type.
    pub kind: MessageType,
    /// The body (default language), if any.
    pub body: Option<String>,
    /// The subject, if any.
    pub subject: Option<String>,
    /// The security label: absent, parsed, or present but invalid (fail closed above).
    pub label: Option<Result<SecurityLabel, XepError>>,
    /// XEP-0359 origin-id.
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id (as assigned by the room, `by` = room).
    pub stanza_id: Option<String>,
    /// XEP-0203 delay stamp (history).
    pub delay: Option<String>,
    /// The stanza's id attribute.
    pub id: Option<String>,
    /// A stanza error, for type error.
    pub error: Option<StanzaErrorInfo>,
    /// It was an IRC NOTICE (see [`NS_IRC_NOTICE`]).
    pub notice: bool,
    /// Every payload element as received.
    pub payloads: Vec<Element>,
}

/// Reads a message stanza.
pub fn read_message(m: &Message) -> ReceivedMessage {
    let mut labels = m
        .payloads
        .iter()
        .filter(|e| e.is("securitylabel", xep0258::NS));
    let label = match (labels.next(), labels.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => Some(Err(XepError::Duplicate {
            child: "securitylabel",
            parent: "message",
        })),
        (Some(el), None) => Some(SecurityLabel::try_from(el)),
    };
    let origin_id = m
        .payloads
        .iter()
        .find(|e| e.is("origin-id", NS_SID))
        .and_then(|e| e.attr("id"))
        .map(str::to_owned);
    let stanza_id = m
        .payloads
        .iter()
        .find(|e| e.is("stanza-id", NS_SID))
        .and_then(|e| e.attr("id"))
        .map(str::to_owned);
    let delay = m
        .payloads
        .iter()
        .find(|e| e.is("delay", NS_DELAY))
        .and_then(|e| e.attr("stamp"))
        .map(str::to_owned);
    ReceivedMessage {
        from: m.from.clone(),
        kind: m.type_.clone(),
        body: m
            .bodies
            .get("")
            .or_else(|| m.bodies.values().next())
            .cloned(),
        subject: m
            .subjects
            .get("")
            .or_else(|| m.subjects.values().next())
            .cloned(),
        label,
        origin_id,
        stanza_id,
        delay,
        id: m.id.as_ref().map(|i| i.0.clone()),
        error: if m.type_ == MessageType::Error {
            stanza_error(&m.payloads)
        } else {
            None
        },
        notice: m.payloads.iter().any(|e| e.is("notice", NS_IRC_NOTICE)),
        payloads: m.payloads.clone(),
    }
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingMessage {
    /// Body text.
    pub body: String,
    /// The security label, attached as `<securitylabel/>`.
    pub label: Option<SecurityLabel>,
    /// XEP-0359 origin-id (also used as the stanza id).
    pub origin_id: String,
    /// An IRC NOTICE (marked so that the gateway's other users get a NOTICE, which bots must
    /// never answer; XMPP clients see an ordinary message).
    pub notice: bool,
}

/// The owner's acceptance of a room it created as an instant room (XEP-0045 §10.1.2: an empty
/// submitted form), which unlocks it for others.
pub fn instant_room(room: &BareJid, id: String) -> xmpp_parsers::iq::Iq {
    let form = Element::builder("x", "jabber:x:data")
        .attr(attr_name("type"), "submit")
        .build();
    let query = Element::builder("query", "http://jabber.org/protocol/muc#owner")
        .append(form)
        .build();
    xmpp_parsers::iq::Iq::Set {
        from: None,
        to: Some(Jid::from(room.clone())),
        id,
        payload: query,
    }
}

/// The payload marking a message that was an IRC NOTICE.
pub const NS_IRC_NOTICE: &str = "urn:labelgate:irc-notice:0";

/// Builds a message stanza of the given type to `to`.
pub fn build_message(to: Jid, kind: MessageType, out: &OutgoingMessage) -> Message {
    let mut m = Message::new_with_type(kind.clone(), Some(to));
    m.id = Some(xmpp_parsers::message::Id(out.origin_id.clone()));
    m.bodies.insert(String::new().into(), out.body.clone());
    if let Some(l) = &out.label {
        m.payloads.push(Element::from(l));
    }
    m.payloads.push(
        Element::builder("origin-id", NS_SID)
            .attr(attr_name("id"), out.origin_id.as_str())
            .build(),
    );
    if out.notice {
        m.payloads
            .push(Element::builder("notice", NS_IRC_NOTICE).build());
    }
    if kind == MessageType::Chat {
        // A private message through the room (XEP-0045 §7.5).
        m.payloads.push(Element::builder("x", NS_MUC_USER).build());
    }
    m
}

/// A subject change to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingSubject {
    /// The subject text.
    pub text: String,
    /// A label, when the sender marked the subject above the room's own label (XEP-0258
    /// advises subjects carry none; one that is marked says so rather than pass as the room's).
    pub label: Option<SecurityLabel>,
}

/// Builds a subject change.
pub fn build_subject(room: &BareJid, subject: &OutgoingSubject) -> Message {
    let mut m = Message::new_with_type(MessageType::Groupchat, Some(Jid::from(room.clone())));
    m.subjects
        .insert(String::new().into(), subject.text.clone());
    if let Some(l) = &subject.label {
        m.payloads.push(Element::from(l));
    }
    m
}

/// The XEP-0359 stanza-id that `by` assigned (others are the sender's own and ignored).
pub fn stanza_id_by(payloads: &[Element], by: &BareJid) -> Option<String> {
    payloads
        .iter()
        .filter(|e| e.is("stanza-id", NS_SID))
        .find(|e| {
            e.attr("by")
                .and_then(|b| b.parse::<BareJid>().ok())
                .is_some_and(|b| &b == by)
        })
        .and_then(|e| e.attr("id"))
        .map(str::to_owned)
}

/// A room's occupants by nick.
pub type Occupants = BTreeMap<String, Occupant>;

/// Moves an occupant from `old` to `new` (the first half of a nick change, status 303), so
/// the roster is never without them while the second half is on its way.
pub fn rename_occupant(occupants: &mut Occupants, old: &str, new: &str) {
    if let Some(mut o) = occupants.remove(old) {
        new.clone_into(&mut o.nick);
        occupants.insert(new.to_owned(), o);
    }
}

/// An attribute name known at compile time (shared by the XMPP modules that build elements).
#[allow(clippy::expect_used)]
pub(crate) fn attr_name(s: &'static str) -> minidom::rxml::NcName {
    minidom::rxml::NcName::try_from(s).expect("constant attribute names are valid NCNames")
}
