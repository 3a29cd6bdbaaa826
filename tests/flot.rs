//! FLOT prefixes: every IRC line carries the real marking, within the byte budget, and a
//! marking typed at the start of a line is found.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use labelgate::label::flot::{Flot, split_lines};
use proptest::prelude::*;

#[test]
fn imitation_marking_stays_behind_the_real_one() {
    let f = Flot::default();
    let prefix = f.prefix("DEMO-UK OFFICIAL");
    let lines = split_lines(
        &prefix,
        "[DEMO-UK TOP SECRET] not really\n[SECRET] nor this",
        400,
    );
    assert_eq!(
        lines,
        [
            "[DEMO-UK OFFICIAL] [DEMO-UK TOP SECRET] not really",
            "[DEMO-UK OFFICIAL] [SECRET] nor this"
        ]
    );
}

#[test]
fn long_line_splits_on_words() {
    let body = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";
    let lines = split_lines("[S] ", body, 24);
    assert_eq!(lines[0], "[S] alpha beta gamma");
    for l in &lines {
        assert!(l.len() <= 24, "{l}");
    }
    let rejoined: Vec<&str> = lines.iter().map(|l| &l[4..]).collect();
    assert_eq!(rejoined.join(" "), body);
}

proptest! {
    #[test]
    fn split_respects_budget_prefix_and_content(body in "\\PC{0,300}(\n\\PC{0,100}){0,3}", budget in 12usize..120) {
        let prefix = "[SECRET] ";
        let lines = split_lines(prefix, &body, budget);
        prop_assert!(!lines.is_empty());
        let mut text = String::new();
        for l in &lines {
            prop_assert!(l.starts_with("[SECRET]"));
            prop_assert!(!l.contains('\n') && !l.contains('\r'));
            // Over budget only when one character is wider than what is left.
            if l.len() > budget.max(prefix.len() + 4) {
                prop_assert_eq!(l.chars().count(), prefix.chars().count() + 1);
            }
            text.push_str(l.strip_prefix(prefix).unwrap_or(""));
        }
        // Nothing but white space is lost or added.
        let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace() && *c != '\0').collect::<String>();
        prop_assert_eq!(squash(&text), squash(&body));
    }

    #[test]
    fn parse_finds_typed_marking(marking in "[A-Z][A-Z /-]{0,30}[A-Z]", text in "[^\\[\n]{0,50}") {
        let f = Flot::default();
        let line = format!("[{marking}] {text}");
        let p = f.parse(&line).unwrap();
        prop_assert_eq!(p.marking, Some(marking.as_str()));
        prop_assert_eq!(p.text, text.as_str());
    }
}
