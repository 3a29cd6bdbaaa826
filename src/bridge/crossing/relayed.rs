//! What rides with a relayed message besides its lines — its marking as a tag, the `msgid`, the
//! id a correction replaces, the original time of history — gathered *before* the decision, so
//! that the gate clears it together with the lines (a [`Relayed`]) and nothing of a stanza can
//! reach an IRC client outside a cleared value.
//!
//! What comes from the stanza is repeated only in a form the gateway checked: ids that are plain
//! ([`chat::usable_id`]: printable ASCII without `;` or `\`, at most 128 bytes) and an XEP-0082
//! time rewritten as IRCv3 `server-time` ([`util::server_time`]); anything else is left out,
//! and the line arrives without it.

use crate::audit::Direction;
use crate::bridge::pairing::{MARKING_TAG, REPLACES_TAG};
use crate::irc::backend::Relayed;
use crate::util;
use crate::xmpp::chat;
use crate::xmpp::muc::ReceivedMessage;

/// A received message's lines for IRC with what rides with them: the marking, as `msgid` the id
/// the room gave it (XEP-0359 stanza-id, the same for every reader) else the sender's own
/// (origin-id), what a correction replaces, and for history its original time.
pub(super) fn received(
    m: &ReceivedMessage,
    direction: Direction,
    lines: Vec<String>,
    marking: String,
    replaces: Option<String>,
) -> Relayed {
    let id = m
        .stanza_id
        .as_deref()
        .or(m.origin_id.as_deref())
        .and_then(chat::usable_id);
    let mut tags = base_tags(marking, id);
    if let Some(r) = replaces.as_deref().and_then(chat::usable_id) {
        tags.push((REPLACES_TAG.to_owned(), Some(r.to_owned())));
    }
    let time = (direction == Direction::History)
        .then_some(m.delay.as_deref())
        .flatten()
        .and_then(util::server_time);
    Relayed { lines, tags, time }
}

/// The echo of the user's own message: its marking, and as `msgid` the gateway's own origin-id.
pub(super) fn echo(lines: Vec<String>, marking: String, origin_id: &str) -> Relayed {
    Relayed {
        lines,
        tags: base_tags(marking, chat::usable_id(origin_id)),
        time: None,
    }
}

fn base_tags(marking: String, msgid: Option<&str>) -> Vec<(String, Option<String>)> {
    let mut tags = vec![(MARKING_TAG.to_owned(), Some(marking))];
    if let Some(id) = msgid {
        tags.push(("msgid".to_owned(), Some(id.to_owned())));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::message::MessageType;

    fn message(
        stanza_id: Option<&str>,
        origin_id: Option<&str>,
        delay: Option<&str>,
    ) -> ReceivedMessage {
        ReceivedMessage {
            from: None,
            kind: MessageType::Groupchat,
            body: Some("hello".into()),
            subject: None,
            label: None,
            origin_id: origin_id.map(str::to_owned),
            stanza_id: stanza_id.map(str::to_owned),
            delay: delay.map(str::to_owned),
            id: None,
            error: None,
            notice: false,
            payloads: Vec::new(),
        }
    }

    fn tag<'a>(r: &'a Relayed, name: &str) -> Option<&'a str> {
        r.tags
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn the_rooms_id_else_the_senders_and_only_plain_ones() {
        let lines = vec!["[SECRET] hello".to_owned()];
        let r = received(
            &message(Some("room-1"), Some("own-1"), None),
            Direction::XmppToIrc,
            lines.clone(),
            "SECRET".into(),
            None,
        );
        assert_eq!(tag(&r, "msgid"), Some("room-1"));
        assert_eq!(tag(&r, MARKING_TAG), Some("SECRET"));
        assert_eq!(r.lines, lines);
        let r = received(
            &message(None, Some("own-1"), None),
            Direction::XmppToIrc,
            lines.clone(),
            "SECRET".into(),
            None,
        );
        assert_eq!(tag(&r, "msgid"), Some("own-1"));
        let long = "A".repeat(129);
        for bad in ["semi;colon", "back\\slash", "with space", long.as_str(), ""] {
            let r = received(
                &message(Some(bad), None, None),
                Direction::XmppToIrc,
                lines.clone(),
                "S".into(),
                Some(bad.to_owned()),
            );
            assert_eq!(tag(&r, "msgid"), None, "{bad:?}");
            assert_eq!(tag(&r, REPLACES_TAG), None, "{bad:?}");
        }
        let r = received(
            &message(None, None, None),
            Direction::XmppToIrc,
            lines,
            "S".into(),
            Some("old-1".into()),
        );
        assert_eq!(tag(&r, REPLACES_TAG), Some("old-1"));
    }

    #[test]
    fn only_a_history_lines_time_and_only_when_it_reads() {
        let lines = vec!["x".to_owned()];
        let at = |direction, stamp| {
            received(
                &message(None, None, Some(stamp)),
                direction,
                lines.clone(),
                "S".into(),
                None,
            )
            .time
        };
        assert_eq!(
            at(Direction::History, "2026-11-27T23:20:25+02:00").as_deref(),
            Some("2026-11-27T21:20:25.000Z")
        );
        assert_eq!(at(Direction::XmppToIrc, "2026-11-27T21:20:25Z"), None);
        assert_eq!(at(Direction::History, "yesterday; PRIVMSG #x :hi"), None);
        assert_eq!(at(Direction::History, "2026-11-27T21:20:25Z\r\n"), None);
        assert!(echo(lines.clone(), "S".into(), "id-1").time.is_none());
        assert_eq!(tag(&echo(lines, "S".into(), "id-1"), "msgid"), Some("id-1"));
    }
}
