//! XMPP room nicks made into valid IRC nicks, deterministically, and kept unique per room.

use std::collections::HashMap;

use crate::irc::proto::names::{NICKLEN, fold, valid_nick};

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

/// The nick for `room_nick` when its plain IRC form is taken: the plain form cut short, `|`,
/// and four hex digits of a hash of the room nick (the same for everyone who sees it), then a
/// counter if even that is taken.
fn suffixed(room_nick: &str, attempt: u32) -> String {
    // FNV-1a: stable across runs and builds.
    let mut h: u32 = 0x811c_9dc5;
    for b in room_nick.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let tag = if attempt == 0 {
        format!("|{:04x}", h & 0xffff)
    } else {
        format!("|{:04x}{attempt}", h & 0xffff)
    };
    let mut base = irc_nick(room_nick);
    base.truncate(NICKLEN - tag.len());
    base + &tag
}

/// One room's occupants under IRC nicks, unique in the room (IRC case folding) and distinct from
/// the user's own nick. An occupant keeps the nick it was given until it leaves; the first to
/// claim a plain form keeps it, a later one whose nick folds to the same form gets a
/// [hash suffix](suffixed).
#[derive(Debug, Clone, Default)]
pub struct RoomNicks {
    /// Folded IRC nick → room nick.
    by_irc: HashMap<String, String>,
    /// Room nick → IRC nick.
    by_room: HashMap<String, String>,
    /// The user's own nick, folded (never given to an occupant).
    own: String,
}

impl RoomNicks {
    /// An empty room seen by a user whose IRC nick is `own`.
    pub fn new(own: &str) -> RoomNicks {
        RoomNicks {
            own: fold(own),
            ..Default::default()
        }
    }

    fn free(&self, irc: &str) -> bool {
        let f = fold(irc);
        f != self.own && !self.by_irc.contains_key(&f)
    }

    /// The IRC nick `room_nick` would get now (its own if present).
    pub fn irc(&self, room_nick: &str) -> String {
        if let Some(n) = self.by_room.get(room_nick) {
            return n.clone();
        }
        let plain = irc_nick(room_nick);
        if self.free(&plain) {
            return plain;
        }
        (0..)
            .map(|i| suffixed(room_nick, i))
            .find(|n| self.free(n))
            .unwrap_or(plain)
    }

    /// Adds an occupant (no change if present); returns their IRC nick.
    pub fn add(&mut self, room_nick: &str) -> String {
        let irc = self.irc(room_nick);
        self.by_irc.insert(fold(&irc), room_nick.to_owned());
        self.by_room.insert(room_nick.to_owned(), irc.clone());
        irc
    }

    /// Removes an occupant; returns the IRC nick they had.
    pub fn remove(&mut self, room_nick: &str) -> Option<String> {
        let irc = self.by_room.remove(room_nick)?;
        self.by_irc.remove(&fold(&irc));
        Some(irc)
    }

    /// The room nick behind an IRC nick, if an occupant has it.
    pub fn room_nick(&self, irc: &str) -> Option<&str> {
        self.by_irc.get(&fold(irc)).map(String::as_str)
    }

    /// The user's own nick changed.
    pub fn set_own(&mut self, own: &str) {
        self.own = fold(own);
    }

    /// Keeps the occupants for which `present` holds; returns the IRC nicks of the others.
    pub fn retain(&mut self, present: impl Fn(&str) -> bool) -> Vec<String> {
        let gone: Vec<String> = self
            .by_room
            .keys()
            .filter(|n| !present(n))
            .cloned()
            .collect();
        gone.iter().filter_map(|n| self.remove(n)).collect()
    }

    /// Whether `room_nick` is present.
    pub fn has(&self, room_nick: &str) -> bool {
        self.by_room.contains_key(room_nick)
    }
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

    #[test]
    fn room_nicks_are_unique_and_stable() {
        let mut r = RoomNicks::new("alice");
        assert_eq!(r.add("Dr. Who"), "Dr__Who");
        let second = r.add("Dr_ Who");
        assert_ne!(fold(&second), fold("Dr__Who"));
        assert!(
            second.starts_with("Dr__Who|") && valid_nick(&second),
            "{second}"
        );
        // The same room nick always gets the same suffix (whoever sees it).
        let mut other = RoomNicks::new("bob");
        other.add("Dr. Who");
        assert_eq!(other.add("Dr_ Who"), second);
        // Case folding collides too, and the user's own nick is never given away.
        assert_ne!(fold(&r.add("ALICE")), "alice");
        assert_eq!(r.add("Bob"), "Bob");
        assert_ne!(fold(&r.add("bob")), "bob");
        // Stable while present; the plain form is free again once its holder leaves.
        assert_eq!(r.add("Dr_ Who"), second);
        assert_eq!(r.room_nick(&second), Some("Dr_ Who"));
        assert_eq!(r.remove("Dr. Who").as_deref(), Some("Dr__Who"));
        assert_eq!(r.irc("Dr. Who"), "Dr__Who");
        assert_eq!(r.room_nick("dr__who"), None);
        assert_eq!(r.retain(|n| n != "Bob"), vec!["Bob".to_owned()]);
        assert!(!r.has("Bob") && r.has("bob"));
        // Long nicks keep their suffix within NICKLEN.
        let long = "x".repeat(40);
        r.add(&long);
        let l2 = r.add(&format!("{long}!"));
        assert!(valid_nick(&l2) && l2.len() <= NICKLEN, "{l2}");
    }
}
