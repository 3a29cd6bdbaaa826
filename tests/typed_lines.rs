//! Reading what an IRC user typed at the start of a line (`label::typed`, pure): markings after
//! an addressee, and every near miss refused rather than sent at the room's default.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/support.rs"]
mod support;

use labelgate::label::flot::Flot;
use labelgate::label::typed::{TypedError, read_typed};

fn round() -> Flot {
    Flot::new("({marking}) ", Some(r"\((?P<marking>[^)]+)\)\s?")).unwrap()
}

#[test]
fn markings_are_read_at_the_start_and_after_an_addressee() {
    let pol = support::demo_policies();
    let p = pol.primary();
    let square = Flot::default();
    let secret = p.parse_marking("SECRET UK EYES ONLY").unwrap();
    let cases = [
        ("[SECRET UK EYES ONLY] hi", Some(&secret), "hi"),
        (
            "xavier: [SECRET UK EYES ONLY] hi",
            Some(&secret),
            "xavier: hi",
        ),
        (
            "xavier, [SECRET UK EYES ONLY] hi",
            Some(&secret),
            "xavier, hi",
        ),
        ("no marking at all", None, "no marking at all"),
        ("Secret plans (for later)", None, "Secret plans (for later)"),
        ("xavier: see you", None, "xavier: see you"),
        ("(lol) fine", None, "(lol) fine"),
        ("OK: done", None, "OK: done"),
        ("10:30 works", None, "10:30 works"),
        // White space in front (a no-break space too) is only white space: the marking counts.
        ("\u{00A0}[SECRET UK EYES ONLY] hi", Some(&secret), "hi"),
    ];
    for (line, label, text) in cases {
        let t = read_typed(&square, p, line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(t.label.as_ref(), label, "{line}");
        assert_eq!(t.text, text, "{line}");
    }
}

#[test]
fn near_misses_are_refused() {
    let pol = support::demo_policies();
    let p = pol.primary();
    let (square, round) = (Flot::default(), round());
    let near = [
        (&square, "(SECRET UK) another room's syntax"),
        (&square, "{SECRET} braces"),
        (&square, "<TOP SECRET> angle brackets"),
        (&square, "SECRET UK: as a heading"),
        (&square, "TOP SECRET plans"),
        (&square, "\u{200B}[SECRET] zero-width space in front"),
        (&square, "\u{FEFF}[SECRET] byte order mark in front"),
        (&square, "［SECRET］ full-width"),
        (&square, "【SECRET】 lenticular"),
        (&square, "xavier: (SECRET) addressed, wrong brackets"),
        (&round, "[TOP SECRET OVERLORD UK] square in a round room"),
        (&round, "DEMO-UK SECRET: the policy name first"),
    ];
    for (flot, line) in near {
        match read_typed(flot, p, line) {
            Err(TypedError::NearMiss { seen }) => assert!(!seen.is_empty(), "{line}"),
            other => panic!("{line:?} was not refused: {other:?}"),
        }
    }
    // A marking in the room's own syntax that is no label of the policy.
    assert!(matches!(
        read_typed(&square, p, "[BANANA] x"),
        Err(TypedError::Marking { .. })
    ));
    assert!(matches!(
        read_typed(&square, p, "xavier: [BANANA] x"),
        Err(TypedError::Marking { .. })
    ));
}
