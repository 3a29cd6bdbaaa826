//! IRC nicks for the people the gateway stands in for: the room nick itself where IRC's rules
//! allow it, otherwise a faithful mapping; and, on a collision, the same sequence of
//! alternatives every time (`name|2`, `name|3`, …), so everyone can tell who is who.

use crate::irc::proto::names;

/// Characters IRC allows in a nick besides letters and digits (RFC 2812 "special").
const SPECIAL: &[char] = &['[', ']', '\\', '`', '_', '^', '{', '|', '}', '-'];

/// The IRC nick for a room nick: `template` with `{nick}` replaced by the room nick, each
/// character IRC does not allow replaced by `_`, a leading digit or `-` given a `_` in front,
/// cut to `max_len` characters. An empty result becomes `_`.
pub fn from_room_nick(template: &str, room_nick: &str, max_len: usize) -> String {
    let raw = template.replace("{nick}", room_nick);
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || SPECIAL.contains(&c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit() || c == '-') || out.is_empty() {
        out.insert(0, '_');
    }
    cut(&out, max_len.max(1))
}

/// The nick to try after `attempt` collisions (0: the nick itself): `base|N` with N =
/// attempt + 1, the base shortened so that the whole fits `max_len`.
pub fn candidate(base: &str, attempt: u32, max_len: usize) -> String {
    if attempt == 0 {
        return cut(base, max_len.max(1));
    }
    let suffix = format!("|{}", attempt + 1);
    let keep = max_len.saturating_sub(suffix.len()).max(1);
    format!("{}{suffix}", cut(base, keep))
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Whether `nick` is one the gateway would send (a sanity check on the mapping).
pub fn is_valid(nick: &str, max_len: usize) -> bool {
    nick.chars().count() <= max_len
        && !nick.is_empty()
        && nick
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(&c))
        && !nick.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

/// Case-folded nick, as the server compares them (RFC 1459 casemapping).
pub fn fold(nick: &str) -> String {
    names::fold(nick)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_nicks_that_irc_allows_are_kept() {
        assert_eq!(from_room_nick("{nick}", "alice", 30), "alice");
        assert_eq!(from_room_nick("{nick}", "Bob[away]", 30), "Bob[away]");
        assert_eq!(from_room_nick("x-{nick}", "carol", 30), "x-carol");
    }

    #[test]
    fn what_irc_forbids_is_replaced() {
        assert_eq!(from_room_nick("{nick}", "Dr. Who", 30), "Dr__Who");
        assert_eq!(from_room_nick("{nick}", "9lives", 30), "_9lives");
        assert_eq!(from_room_nick("{nick}", "é", 30), "_");
        assert_eq!(from_room_nick("{nick}", "", 30), "_");
        assert_eq!(from_room_nick("{nick}", "abcdefghij", 4), "abcd");
        for n in ["Dr. Who", "9lives", "", " ", "a b\u{0}c", "ünïcödé"] {
            assert!(is_valid(&from_room_nick("{nick}", n, 9), 9), "{n:?}");
        }
    }

    #[test]
    fn collisions_follow_one_sequence_within_the_length() {
        assert_eq!(candidate("alice", 0, 9), "alice");
        assert_eq!(candidate("alice", 1, 9), "alice|2");
        assert_eq!(candidate("alice", 2, 9), "alice|3");
        assert_eq!(candidate("alexandra", 1, 9), "alexand|2");
        assert_eq!(candidate("alexandra", 11, 9), "alexan|12");
        assert!(is_valid(&candidate("alexandra", 11, 9), 9));
    }
}
