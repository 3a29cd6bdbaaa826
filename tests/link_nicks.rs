//! Properties of link mode's nicks, for any room nick another occupant may choose: the IRC nick
//! is always one IRC accepts, within the network's length, the room nick itself when IRC allows
//! it; the collision sequence gives distinct valid nicks, the same ones every time.

use std::collections::BTreeSet;

use labelgate::link::nick::{candidate, from_room_nick, is_valid};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_room_nick_gives_a_valid_irc_nick(room_nick in "\\PC{0,40}", len in 9usize..40) {
        let n = from_room_nick("{nick}", &room_nick, len);
        prop_assert!(is_valid(&n, len), "{room_nick:?} -> {n:?}");
        prop_assert_eq!(&n, &from_room_nick("{nick}", &room_nick, len));
    }

    #[test]
    fn a_nick_irc_allows_is_kept(room_nick in "[A-Za-z\\[\\]\\\\`_^{|}][A-Za-z0-9\\[\\]\\\\`_^{|}-]{0,8}") {
        prop_assert_eq!(from_room_nick("{nick}", &room_nick, 30), room_nick);
    }

    #[test]
    fn the_collision_sequence_is_distinct_and_valid(room_nick in "\\PC{0,40}", len in 9usize..40) {
        let base = from_room_nick("{nick}", &room_nick, len);
        let seq: Vec<String> = (0..60).map(|i| candidate(&base, i, len)).collect();
        for n in &seq {
            prop_assert!(is_valid(n, len), "{n:?}");
        }
        let distinct: BTreeSet<&String> = seq.iter().collect();
        prop_assert_eq!(distinct.len(), seq.len());
        prop_assert_eq!(seq, (0..60).map(|i| candidate(&base, i, len)).collect::<Vec<_>>());
    }
}
