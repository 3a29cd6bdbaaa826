//! XMPP room nicks made into valid IRC nicks, deterministically, and kept unique across all of a
//! user's rooms, so that one IRC nick names exactly one person.

use std::collections::{BTreeSet, HashMap};

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

/// Nicks no occupant may take as they are: the gateway's own server and service names (an
/// occupant called `labelgate` or `NickServ` would otherwise speak with the gateway's voice).
const RESERVED: &[&str] = &[
    "labelgate",
    "room",
    "server",
    "gateway",
    "irc",
    "global",
    "nickserv",
    "chanserv",
    "operserv",
    "memoserv",
    "saslserv",
    "hostserv",
    "botserv",
    "services",
];

fn reserved(folded: &str) -> bool {
    RESERVED.iter().any(|r| fold(r) == folded)
}

/// Who holds one IRC nick: one person, in one or more rooms.
#[derive(Debug, Clone, Default)]
struct Holder {
    /// Their real JID, when every room they are in shows it (then the same person in several
    /// rooms is one IRC nick).
    person: Option<String>,
    /// (room, room nick) behind it, in room order.
    occupants: BTreeSet<(String, String)>,
}

/// Every occupant a user sees, in all their rooms, under IRC nicks that are unique for that
/// user (IRC case folding) and distinct from their own nick and the gateway's names, so a nick
/// names exactly one person. The first to claim a plain form keeps it; a later one whose nick
/// folds to the same form — in the same room or another — gets a [hash suffix](suffixed),
/// unless the rooms show it is the same person (the same real JID). An occupant keeps the nick
/// it was given until it leaves.
#[derive(Debug, Clone, Default)]
pub struct Nicks {
    /// Folded IRC nick → who holds it.
    by_irc: HashMap<String, Holder>,
    /// Room → room nick → IRC nick (looked up on every message: by borrowed keys, no copies).
    by_occupant: HashMap<String, HashMap<String, String>>,
    /// The user's own nick, folded (never given to an occupant).
    own: String,
}

impl Nicks {
    /// Nobody yet, seen by a user whose IRC nick is `own`.
    pub fn new(own: &str) -> Nicks {
        Nicks {
            own: fold(own),
            ..Default::default()
        }
    }

    /// Whether `irc` can be given to the occupant (`person`: their real JID, if known).
    fn fits(&self, irc: &str, person: Option<&str>) -> bool {
        let f = fold(irc);
        if f == self.own || reserved(&f) {
            return false;
        }
        match self.by_irc.get(&f) {
            None => true,
            Some(h) => person.is_some() && h.person.as_deref() == person,
        }
    }

    /// The IRC nick the occupant `nick` of `room` has, or would get now.
    pub fn irc(&self, room: &str, nick: &str, person: Option<&str>) -> String {
        if let Some(n) = self.by_occupant.get(room).and_then(|r| r.get(nick)) {
            return n.clone();
        }
        let plain = irc_nick(nick);
        if self.fits(&plain, person) {
            return plain;
        }
        (0..)
            .map(|i| suffixed(nick, i))
            .find(|n| self.fits(n, person))
            .unwrap_or(plain)
    }

    /// Adds an occupant (no change if present); returns their IRC nick.
    pub fn add(&mut self, room: &str, nick: &str, person: Option<&str>) -> String {
        let irc = self.irc(room, nick, person);
        let key = (room.to_owned(), nick.to_owned());
        let holder = self.by_irc.entry(fold(&irc)).or_default();
        if holder.occupants.is_empty() {
            holder.person = person.map(str::to_owned);
        }
        holder.occupants.insert(key);
        self.by_occupant
            .entry(room.to_owned())
            .or_default()
            .insert(nick.to_owned(), irc.clone());
        irc
    }

    /// Removes an occupant; returns the IRC nick they had.
    pub fn remove(&mut self, room: &str, nick: &str) -> Option<String> {
        let in_room = self.by_occupant.get_mut(room)?;
        let irc = in_room.remove(nick)?;
        if in_room.is_empty() {
            self.by_occupant.remove(room);
        }
        let key = (room.to_owned(), nick.to_owned());
        let f = fold(&irc);
        if let Some(h) = self.by_irc.get_mut(&f) {
            h.occupants.remove(&key);
            if h.occupants.is_empty() {
                self.by_irc.remove(&f);
            }
        }
        Some(irc)
    }

    /// Who an IRC nick names: (room, room nick) for each room they are in, in room order.
    pub fn occupant(&self, irc: &str) -> Vec<(String, String)> {
        self.by_irc
            .get(&fold(irc))
            .map(|h| h.occupants.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The real JID of the person an IRC nick names, when their rooms show it.
    pub fn person(&self, irc: &str) -> Option<String> {
        self.by_irc.get(&fold(irc)).and_then(|h| h.person.clone())
    }

    /// The user's own nick changed.
    pub fn set_own(&mut self, own: &str) {
        self.own = fold(own);
    }

    /// Keeps the occupants of `room` for which `present` holds; returns the IRC nicks of the
    /// others.
    pub fn retain(&mut self, room: &str, present: impl Fn(&str) -> bool) -> Vec<String> {
        let gone: Vec<String> = self
            .by_occupant
            .get(room)
            .map(|r| r.keys().filter(|n| !present(n)).cloned().collect())
            .unwrap_or_default();
        gone.iter().filter_map(|n| self.remove(room, n)).collect()
    }

    /// Removes every occupant of `room` (the user left it).
    pub fn forget_room(&mut self, room: &str) {
        self.retain(room, |_| false);
    }

    /// Whether the occupant is present.
    pub fn has(&self, room: &str, nick: &str) -> bool {
        self.by_occupant
            .get(room)
            .is_some_and(|r| r.contains_key(nick))
    }
}

/// One room's occupants under IRC nicks ([`Nicks`] for a single room).
#[derive(Debug, Clone, Default)]
pub struct RoomNicks(Nicks);

impl RoomNicks {
    /// An empty room seen by a user whose IRC nick is `own`.
    pub fn new(own: &str) -> RoomNicks {
        RoomNicks(Nicks::new(own))
    }

    /// Adds an occupant (no change if present); returns their IRC nick.
    pub fn add(&mut self, room_nick: &str) -> String {
        self.0.add("", room_nick, None)
    }

    /// The IRC nick `room_nick` would get now (its own if present).
    pub fn irc(&self, room_nick: &str) -> String {
        self.0.irc("", room_nick, None)
    }

    /// Removes an occupant; returns the IRC nick they had.
    pub fn remove(&mut self, room_nick: &str) -> Option<String> {
        self.0.remove("", room_nick)
    }

    /// The room nick behind an IRC nick, if an occupant has it.
    pub fn room_nick(&self, irc: &str) -> Option<String> {
        self.0.occupant(irc).into_iter().next().map(|(_, n)| n)
    }

    /// Keeps the occupants for which `present` holds; returns the IRC nicks of the others.
    pub fn retain(&mut self, present: impl Fn(&str) -> bool) -> Vec<String> {
        self.0.retain("", present)
    }

    /// Whether `room_nick` is present.
    pub fn has(&self, room_nick: &str) -> bool {
        self.0.has("", room_nick)
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
        assert_eq!(r.room_nick(&second).as_deref(), Some("Dr_ Who"));
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

    #[test]
    fn one_nick_names_one_person_across_rooms() {
        let mut n = Nicks::new("alice");
        assert_eq!(n.add("a@m", "yves", None), "yves");
        // Another room's "yves", not known to be the same person: visibly another nick.
        let other = n.add("b@m", "yves", None);
        assert!(other.starts_with("yves|"), "{other}");
        assert_eq!(n.occupant("yves"), vec![("a@m".into(), "yves".into())]);
        assert_eq!(n.occupant(&other), vec![("b@m".into(), "yves".into())]);
        // The same real JID in two rooms is one nick, naming both rooms in order.
        assert_eq!(n.add("b@m", "zoe", Some("z@x")), "zoe");
        assert_eq!(n.add("a@m", "zoe", Some("z@x")), "zoe");
        assert_eq!(
            n.occupant("ZOE"),
            vec![("a@m".into(), "zoe".into()), ("b@m".into(), "zoe".into())]
        );
        assert_eq!(n.add("c@m", "zoe", Some("other@x")), suffixed("zoe", 0));
        // The gateway's own names are never given away.
        for name in ["labelgate", "NickServ", "room"] {
            assert_ne!(fold(&n.add("a@m", name, None)), fold(name), "{name}");
        }
        assert_eq!(n.remove("a@m", "zoe").as_deref(), Some("zoe"));
        assert_eq!(n.occupant("zoe"), vec![("b@m".into(), "zoe".into())]);
        n.forget_room("b@m");
        assert!(n.occupant("zoe").is_empty() && n.occupant(&other).is_empty());
    }
}
