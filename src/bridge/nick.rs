//! XMPP room nicks made into valid IRC nicks, deterministically.

use crate::irc::proto::names::{NICKLEN, valid_nick};

/// An IRC nick for a room nick: characters IRC does not allow become `_`, a leading digit or
/// `-` gets a `_` in front, and the result is cut to the nick length. Valid nicks are kept.
pub fn irc_nick(room_nick: &str) -> String {
    if valid_nick(room_nick) {
        return room_nick.to_owned();
    }
    let special = |c: char| "[]\\`_^{|}-".contains(c);
    let mut out: String = room_nick
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || special(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty()
        || !out.starts_with(|c: char| c.is_ascii_alphabetic() || "[]\\`_^{|}".contains(c))
    {
        out.insert(0, '_');
    }
    out.truncate(NICKLEN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks() {
        assert_eq!(irc_nick("alice"), "alice");
        assert_eq!(irc_nick("Dr. Who"), "Dr__Who");
        assert_eq!(irc_nick("9lives"), "_9lives");
        assert_eq!(irc_nick("José"), "Jos_");
        assert_eq!(irc_nick(""), "_");
        assert!(valid_nick(&irc_nick(&"x y".repeat(40))));
    }
}
