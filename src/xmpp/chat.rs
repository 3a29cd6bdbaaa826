//! The small extras of a chat message: XEP-0085 chat states (typing notifications), XEP-0308
//! corrections and XEP-0184 delivery receipts — read from received stanzas, and the gateway's
//! own built. Whether any of them crosses is a boundary control (`config::controls`); what
//! crosses is rebuilt here from what was read (a state, an id), never forwarded as received.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::message::{Message, MessageType};

use super::muc::{NS_MUC_USER, attr_name};
use crate::label::xep0258::SecurityLabel;

/// `http://jabber.org/protocol/chatstates` (XEP-0085).
pub const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// `urn:xmpp:message-correct:0` (XEP-0308).
pub const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
/// `urn:xmpp:receipts` (XEP-0184).
pub const NS_RECEIPTS: &str = "urn:xmpp:receipts";
/// `urn:xmpp:hints` (XEP-0334): chat states are not to be stored in archives.
pub const NS_HINTS: &str = "urn:xmpp:hints";

/// Longest id the gateway gives back in a receipt or shows as the id a correction replaces.
pub const LONGEST_ID: usize = 128;

/// A XEP-0085 chat state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    /// Taking part (and not typing).
    Active,
    /// Typing.
    Composing,
    /// Was typing, has paused.
    Paused,
    /// Not paying attention.
    Inactive,
    /// Gone from the conversation.
    Gone,
}

impl ChatState {
    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            ChatState::Active => "active",
            ChatState::Composing => "composing",
            ChatState::Paused => "paused",
            ChatState::Inactive => "inactive",
            ChatState::Gone => "gone",
        }
    }

    fn from_name(s: &str) -> Option<ChatState> {
        Some(match s {
            "active" => ChatState::Active,
            "composing" => ChatState::Composing,
            "paused" => ChatState::Paused,
            "inactive" => ChatState::Inactive,
            "gone" => ChatState::Gone,
            _ => return None,
        })
    }
}

/// The chat state a stanza carries: exactly one known state element (none, several or an
/// unknown one: none).
pub fn chat_state(payloads: &[Element]) -> Option<ChatState> {
    let mut states = payloads.iter().filter(|e| e.ns() == NS_CHATSTATES);
    match (states.next(), states.next()) {
        (Some(e), None) => ChatState::from_name(e.name()),
        _ => None,
    }
}

/// An id as the gateway will repeat it (in a receipt, or to IRC as a tag): printable ASCII,
/// without spaces, `;` or `\\`, and at most [`LONGEST_ID`] bytes.
pub fn usable_id(id: &str) -> Option<&str> {
    (!id.is_empty()
        && id.len() <= LONGEST_ID
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ';' && c != '\\'))
    .then_some(id)
}

/// The id a XEP-0308 correction replaces. `Some(None)`: a correction whose id the gateway will
/// not repeat (still a correction).
pub fn replaces(payloads: &[Element]) -> Option<Option<String>> {
    let r = payloads.iter().find(|e| e.is("replace", NS_CORRECT))?;
    Some(r.attr("id").and_then(usable_id).map(str::to_owned))
}

/// The id to acknowledge, when a message asks for a XEP-0184 receipt (and has a usable id).
pub fn receipt_requested(payloads: &[Element], id: Option<&str>) -> Option<String> {
    if !payloads.iter().any(|e| e.is("request", NS_RECEIPTS)) {
        return None;
    }
    usable_id(id?).map(str::to_owned)
}

/// A chat state to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingChatState {
    /// The state.
    pub state: ChatState,
    /// The label it goes at (the room's default).
    pub label: Option<SecurityLabel>,
}

/// Builds a chat state notification (no body; kept out of archives, XEP-0334).
pub fn build_chat_state(to: Jid, kind: MessageType, out: &OutgoingChatState) -> Message {
    let private = kind == MessageType::Chat;
    let mut m = Message::new_with_type(kind, Some(to));
    m.payloads
        .push(Element::builder(out.state.name(), NS_CHATSTATES).build());
    m.payloads
        .push(Element::builder("no-store", NS_HINTS).build());
    if let Some(l) = &out.label {
        m.payloads.push(Element::from(l));
    }
    if private {
        m.payloads.push(Element::builder("x", NS_MUC_USER).build());
    }
    m
}

/// Builds the receipt for message `id`, to an occupant (privately, through the room).
pub fn build_receipt(to: Jid, id: &str) -> Message {
    let mut m = Message::new_with_type(MessageType::Chat, Some(to));
    m.payloads.push(
        Element::builder("received", NS_RECEIPTS)
            .attr(attr_name("id"), id)
            .build(),
    );
    m.payloads.push(Element::builder("x", NS_MUC_USER).build());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_known_chat_state_is_read_and_anything_else_is_none() {
        let s = |x: &[&str]| chat_state(&x.iter().map(|x| el(x)).collect::<Vec<_>>());
        let ns = NS_CHATSTATES;
        assert_eq!(
            s(&[&format!("<composing xmlns='{ns}'/>")]),
            Some(ChatState::Composing)
        );
        assert_eq!(s(&[&format!("<typing xmlns='{ns}'/>")]), None);
        assert_eq!(
            s(&[
                &format!("<composing xmlns='{ns}'/>"),
                &format!("<paused xmlns='{ns}'/>")
            ]),
            None
        );
        assert_eq!(s(&["<composing xmlns='urn:other'/>"]), None);
    }

    #[test]
    fn ids_are_repeated_only_when_plain() {
        let r = |id: &str| replaces(&[el(&format!("<replace xmlns='{NS_CORRECT}' id='{id}'/>"))]);
        assert_eq!(r("abc-1"), Some(Some("abc-1".into())));
        assert_eq!(r("a b"), Some(None));
        assert_eq!(r(&"x".repeat(LONGEST_ID + 1)), Some(None));
        assert_eq!(replaces(&[]), None);
        assert_eq!(receipt_requested(&[], Some("m1")), None);
        let asked = [el(&format!("<request xmlns='{NS_RECEIPTS}'/>"))];
        assert_eq!(receipt_requested(&asked, Some("m1")), Some("m1".into()));
        assert_eq!(receipt_requested(&asked, Some("semi;colon")), None);
        assert_eq!(receipt_requested(&asked, None), None);
    }
}
