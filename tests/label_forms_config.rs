//! The forms a mapping's labels take (issue 16: label transformation, languages, ADatP-4774):
//! what a mapping file may say, and the check that no form lowers a label — a shown marking
//! that reads back lower, an untranslatable label, a table text that is another label's
//! marking — refusing the file with the channel named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use labelgate::config::mappings::{LabelFormat, Mappings};
use labelgate::label::{Label, PolicySet, load_policy};

fn policy_set(files: &[&str]) -> PolicySet {
    let load = |f: &str| {
        let p = format!("{}/tests/fixtures/spif/{f}", env!("CARGO_MANIFEST_DIR"));
        load_policy(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let mut set = PolicySet::new(load(files[0]));
    for f in &files[1..] {
        set.add(load(f));
    }
    set
}

fn parse(set: &PolicySet, text: &str) -> Result<Mappings, String> {
    Mappings::parse(&[(PathBuf::from("forms.toml"), text.to_owned())], set)
        .map_err(|e| e.to_string())
}

fn channel(default_label: &str, clearance: &str, extra: &str) -> String {
    format!(
        "[[channel]]\nirc = \"#c\"\nroom = \"c@conference.labelgate.test\"\ndefault_label = \"{default_label}\"\nclearance = \"{clearance}\"\n{extra}\n"
    )
}

#[test]
fn a_language_of_the_policy_and_the_adatp_4774_format_are_taken() {
    let nato = policy_set(&["nato-4774-policy.xml"]);
    let m = parse(
        &nato,
        &channel(
            "NATO UNCLASSIFIED",
            "SECRET, Context:NATO",
            "marking_language = \"fr\"\nlabel_format = \"adatp-4774\"\n",
        ),
    )
    .unwrap();
    let c = m.get("#c").unwrap();
    assert_eq!(c.shown.lang.as_deref(), Some("fr"));
    assert_eq!(c.label_format, LabelFormat::Adatp4774);
    let shown = c.shown.render(&nato, &c.default_label).unwrap();
    assert_eq!(shown, "NATO SANS CLASSIFICATION");
    assert_eq!(c.shown.read(&nato, &shown).unwrap(), c.default_label);
    // A language the policy is not written in is refused, naming the ones it has.
    let e = parse(
        &nato,
        &channel(
            "NATO UNCLASSIFIED",
            "SECRET, Context:NATO",
            "marking_language = \"de\"\n",
        ),
    )
    .unwrap_err();
    assert!(
        e.contains("marking_language `de`") && e.contains("English, fr"),
        "{e}"
    );
    let e = parse(
        &nato,
        &channel(
            "NATO UNCLASSIFIED",
            "SECRET, Context:NATO",
            "label_format = \"xml\"\n",
        ),
    )
    .unwrap_err();
    assert!(
        e.contains("label_format") || e.contains("unknown variant"),
        "{e}"
    );
}

#[test]
fn an_equivalent_policy_on_irc_is_checked_never_to_lower() {
    // TLPX rooms shown in TLP: GREEN and below translate there and back.
    let tlpx = policy_set(&["tlp-plus.xml", "tlp.xml"]);
    let m = parse(&tlpx, &channel("GREEN", "GREEN", "irc_policy = \"TLP\"\n")).unwrap();
    let c = m.get("#c").unwrap();
    assert_eq!(
        c.shown.render(&tlpx, &c.default_label).unwrap(),
        "TLP:GREEN [Imported Data]"
    );
    // What an IRC user types in TLP is read back under TLPX.
    let l = c.shown.read(&tlpx, "TLP:GREEN [Imported Data]").unwrap();
    assert_eq!(l, c.default_label);
    assert_eq!(l.policy, Some(tlpx.primary().id.clone()));
    // A FLOT syntax that stops at the first `]` would cut `[TLP:GREEN [Imported Data]]` short.
    let e = parse(
        &tlpx,
        &channel(
            "GREEN",
            "GREEN",
            "irc_policy = \"TLP\"\nflot_pattern = '^\\[(?P<marking>[^\\]]+)\\]\\s?'\n",
        ),
    )
    .unwrap_err();
    assert!(
        e.contains("is not read back whole by the room's FLOT syntax"),
        "{e}"
    );
    // A room that can carry AMBER for the EU: TLP shows it, but cannot read it back.
    let e = parse(
        &tlpx,
        &channel("GREEN", "AMBER, EU", "irc_policy = \"TLP\"\n"),
    )
    .unwrap_err();
    assert!(e.contains("#c") && e.contains("does not read back"), "{e}");
    // UK rooms in TLP: SECRET has no TLP equivalent.
    let uk = policy_set(&["uk-demo.xml", "tlp.xml"]);
    let e = parse(
        &uk,
        &channel("OFFICIAL", "SECRET, UK", "irc_policy = \"TLP\"\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("cannot be shown on IRC") && e.contains("SECRET"),
        "{e}"
    );
    // A policy that is not loaded.
    let e = parse(
        &uk,
        &channel("OFFICIAL", "SECRET, UK", "irc_policy = \"NARNIA\"\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("irc_policy `NARNIA` is not a loaded policy"),
        "{e}"
    );
}

#[test]
fn a_table_of_markings_is_used_both_ways_and_may_not_shadow_the_policy() {
    let uk = policy_set(&["uk-demo.xml"]);
    let m = parse(
        &uk,
        &channel(
            "OFFICIAL",
            "SECRET, UK",
            "[channel.irc_markings]\n\"SECRET - UK EYES ONLY\" = \"S-UK\"\n",
        ),
    )
    .unwrap();
    let c = m.get("#c").unwrap();
    let s_uk: Label = uk.primary().parse_marking("SECRET UK").unwrap();
    assert_eq!(c.shown.render(&uk, &s_uk).unwrap(), "S-UK");
    assert_eq!(c.shown.read(&uk, "s-uk").unwrap(), s_uk);
    // Labels the table does not name are shown as the policy writes them.
    assert_eq!(
        c.shown.render(&uk, &c.default_label).unwrap(),
        "DEMO-UK OFFICIAL"
    );
    // A table text that is another label's marking would let a reply go out lower.
    let e = parse(
        &uk,
        &channel(
            "OFFICIAL",
            "SECRET, UK",
            "[channel.irc_markings]\n\"SECRET\" = \"OFFICIAL\"\n",
        ),
    )
    .unwrap_err();
    assert!(
        e.contains("`OFFICIAL` already reads as the policy's marking"),
        "{e}"
    );
    // Two labels, one text.
    let e = parse(
        &uk,
        &channel(
            "OFFICIAL",
            "SECRET, UK",
            "[channel.irc_markings]\n\"SECRET\" = \"S\"\n\"SECRET UK\" = \"s\"\n",
        ),
    )
    .unwrap_err();
    assert!(e.contains("is the shown marking of"), "{e}");
    // Above the room.
    let e = parse(
        &uk,
        &channel(
            "OFFICIAL",
            "SECRET, UK",
            "[channel.irc_markings]\n\"TOP SECRET\" = \"TS\"\n",
        ),
    )
    .unwrap_err();
    assert!(e.contains("above the room's clearance"), "{e}");
}

/// Dominance between labels, on which the never-lower check rests.
#[test]
fn label_dominance() {
    let uk = policy_set(&["uk-demo.xml"]);
    let p = uk.primary();
    let l = |m: &str| p.parse_marking(m).unwrap();
    assert!(p.dominates(&l("SECRET"), &l("OFFICIAL")));
    assert!(!p.dominates(&l("OFFICIAL"), &l("SECRET")));
    // Fewer nations a label is releasable to: higher; none at all: lower.
    assert!(p.dominates(&l("SECRET UK"), &l("SECRET UK EU")));
    assert!(!p.dominates(&l("SECRET UK EU"), &l("SECRET UK")));
    assert!(!p.dominates(&l("SECRET"), &l("SECRET UK")));
    assert!(p.dominates(&l("SECRET UK"), &l("SECRET")));
    assert!(p.dominates(&l("SECRET UK"), &l("SECRET UK")));
}
