//! Validation, clearances and the access decision, against the sample policies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use labelgate::label::clearance::ClearanceError;
use labelgate::label::{Clearance, Denied, Invalid, Label, Policy, PolicySet, load_policy};

fn policy(name: &str) -> Policy {
    let p = format!("{}/tests/fixtures/spif/{name}", env!("CARGO_MANIFEST_DIR"));
    load_policy(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn uk() -> PolicySet {
    PolicySet::new(policy("uk-demo.xml"))
}

fn decide(set: &PolicySet, clearance: &str, marking: &str) -> Result<(), Denied> {
    let p = set.primary();
    let c = Clearance::parse(p, clearance).unwrap();
    let l = p.parse_marking(marking).unwrap();
    set.check(&c, &l)
}

#[test]
fn classification_by_hierarchy() {
    let set = uk();
    assert!(decide(&set, "SECRET", "OFFICIAL").is_ok());
    assert!(decide(&set, "SECRET", "SECRET").is_ok());
    assert_eq!(
        decide(&set, "SECRET", "TOP SECRET"),
        Err(Denied::Classification("TOP SECRET".into()))
    );
    assert!(decide(&set, "TOP SECRET", "SECRET").is_ok());
    assert!(decide(&set, "OFFICIAL", "SECRET").is_err());
}

#[test]
fn classification_by_membership_without_hierarchy() {
    // Strip the hierarchy from uk-demo: then only listed classifications are held.
    let p = format!(
        "{}/tests/fixtures/spif/uk-demo.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(p)
        .unwrap()
        .replace(" hierarchy=\"0\"", "")
        .replace(" hierarchy=\"1\"", "")
        .replace(" hierarchy=\"2\"", "");
    let set = PolicySet::new(load_policy(&text).unwrap());
    assert!(!set.primary().is_hierarchical());
    assert!(decide(&set, "SECRET", "SECRET").is_ok());
    assert!(decide(&set, "SECRET", "OFFICIAL").is_err());
    assert!(decide(&set, "SECRET, OFFICIAL", "OFFICIAL").is_ok());
}

#[test]
fn permissive_needs_one_value_per_tag_set() {
    let set = uk();
    let m = "SECRET - UK / EU EYES ONLY";
    assert!(decide(&set, "SECRET, UK", m).is_ok());
    assert!(decide(&set, "SECRET, EU", m).is_ok());
    assert_eq!(
        decide(&set, "SECRET, US", m),
        Err(Denied::Permissive(
            "National Caveats/UK, National Caveats/EU".into()
        ))
    );
    assert!(decide(&set, "SECRET", m).is_err());
}

#[test]
fn restrictive_needs_every_value_and_informative_is_ignored() {
    let set = uk();
    assert_eq!(
        decide(&set, "TOP SECRET", "SECRET OVERLORD"),
        Err(Denied::Restrictive("Codewords/OVERLORD".into()))
    );
    assert!(decide(&set, "SECRET, OVERLORD", "SECRET OVERLORD").is_ok());
    assert!(decide(&set, "SECRET", "SECRET DYNAMO").is_ok());
    assert!(
        decide(
            &set,
            "OFFICIAL, SENSITIVE, LOCSEN",
            "OFFICIAL-SENSITIVE LOCSEN"
        )
        .is_ok()
    );
    assert!(decide(&set, "OFFICIAL, SENSITIVE", "OFFICIAL-SENSITIVE LOCSEN").is_err());
    assert!(decide(&set, "OFFICIAL, SENSITIVE", "OFFICIAL-SENSITIVE COMMERCIAL").is_ok());
}

#[test]
fn invalid_labels_are_denied() {
    let set = uk();
    let p = set.primary();
    let top = Clearance::parse(
        p,
        "TOP SECRET, National Caveats:*, Sensitive:*, Sensitive Descriptors:*, Codewords:*",
    )
    .unwrap();
    let mut cases: Vec<(Label, &str)> = Vec::new();
    // SENSITIVE is excluded at SECRET.
    let mut l = p.parse_marking("OFFICIAL-SENSITIVE LOCSEN").unwrap();
    l.classification = Some(4);
    cases.push((l, "may not be used at SECRET"));
    // SENSITIVE needs exactly one descriptor.
    let mut l = p.parse_marking("OFFICIAL-SENSITIVE LOCSEN").unwrap();
    l.categories
        .retain(|c| p.category_name(c) != "Sensitive Descriptors/LOCSEN");
    cases.push((l, "requires exactly one of"));
    // LOCSEN excludes the informative descriptors.
    let mut l = p.parse_marking("OFFICIAL-SENSITIVE LOCSEN").unwrap();
    l.categories.extend(
        p.parse_marking("OFFICIAL-SENSITIVE COMMERCIAL")
            .unwrap()
            .categories,
    );
    cases.push((l, "SENSITIVE requires exactly one of"));
    // Caveats are excluded at OFFICIAL.
    cases.push((
        p.parse_marking("OFFICIAL - UK EYES ONLY").unwrap(),
        "may not be used at OFFICIAL",
    ));
    // Unknown classification and category, no classification, wrong policy, no policy.
    let mut l = p.parse_marking("SECRET").unwrap();
    l.classification = Some(99);
    cases.push((l, "classification 99 is not defined"));
    let mut l = p.parse_marking("SECRET UK EYES ONLY").unwrap();
    let mut c = l.categories.iter().next().unwrap().clone();
    l.categories.clear();
    c.lacv = 42;
    l.categories.insert(c);
    cases.push((l, "lacv 42 is not defined"));
    let mut l = p.parse_marking("SECRET").unwrap();
    l.classification = None;
    cases.push((l, "no classification"));
    for (label, want) in cases {
        let e = set.check(&top, &label).unwrap_err().to_string();
        assert!(e.contains(want), "{label}: {e}");
        assert!(e.starts_with("invalid label"), "{e}");
    }
    // Labels under a policy the gateway does not know are denied.
    let stupid = Label::from_der(&bytes("labels/stupid-label.ber")).unwrap();
    assert_eq!(
        set.check(&top, &stupid).unwrap_err(),
        Denied::UnknownPolicy("1.1".parse().unwrap())
    );
    assert!(matches!(
        p.validate(&stupid),
        Err(Invalid::WrongPolicy { .. })
    ));
    let x841 = Label::from_der(&bytes("labels/label-1.ber")).unwrap();
    assert_eq!(set.check(&top, &x841).unwrap_err(), Denied::NoPolicy);
}

#[test]
fn equivalent_policies_translate() {
    let mut set = PolicySet::new(policy("tlp-plus.xml"));
    set.add(policy("tlp.xml"));
    set.add(policy("uk-demo.xml"));
    let tlp = set
        .get(&"1.2.826.0.1.6726289.0.2".parse().unwrap())
        .unwrap()
        .clone();
    let uk = set
        .get(&"1.2.826.0.1.6726289.0.4".parse().unwrap())
        .unwrap()
        .clone();
    let tlpx = set.primary().clone();
    let green = Clearance::parse(&tlpx, "GREEN").unwrap();
    let white = Clearance::parse(&tlpx, "WHITE").unwrap();
    // TLP GREEN -> TLPX GREEN.
    let l = tlp.parse_marking("TLP:GREEN").unwrap();
    assert!(set.check(&green, &l).is_ok());
    assert_eq!(
        set.check(&white, &l).unwrap_err(),
        Denied::Classification("GREEN".into())
    );
    // UK OFFICIAL -> TLPX GREEN.
    let l = uk.parse_marking("OFFICIAL").unwrap();
    let t = set.translate(&l, &tlpx.id).unwrap();
    assert_eq!(tlpx.render_marking(&t).unwrap(), "TLPX:GREEN");
    assert!(set.check(&green, &l).is_ok());
    assert!(set.check(&white, &l).is_err());
    // A category with no equivalent cannot be carried across: denied.
    let l = tlp.parse_marking("TLP:GREEN [REGION=EU]").unwrap();
    assert!(matches!(
        set.check(&green, &l),
        Err(Denied::Untranslatable { .. })
    ));
    // TLP AMBER maps to TLPX AMBER, which needs a Dissemination category: invalid there.
    let amber = Clearance::parse(&tlpx, "RED").unwrap();
    let l = tlp.parse_marking("TLP:AMBER").unwrap();
    let e = set.check(&amber, &l).unwrap_err().to_string();
    assert!(e.contains("translated label is invalid"), "{e}");
    // TLPX GREEN -> TLP GREEN gains the [Imported Data] marker from the equivalence.
    let l = tlpx.parse_marking("TLPX:GREEN").unwrap();
    let t = set.translate(&l, &tlp.id).unwrap();
    assert_eq!(tlp.render_marking(&t).unwrap(), "TLP:GREEN [Imported Data]");
    // No equivalence declared from BSI here: not loaded, so denied.
    let bsi_label = Label::new("1.2.826.0.1.6726289.0.3".parse().unwrap(), 20);
    assert!(matches!(
        set.check(&green, &bsi_label),
        Err(Denied::UnknownPolicy(_))
    ));
}

#[test]
fn clearance_text() {
    let uk = policy("uk-demo.xml");
    let c = Clearance::parse(&uk, " secret ,  uk, EU, overlord").unwrap();
    assert_eq!(c.classes.iter().copied().collect::<Vec<_>>(), [4]);
    assert_eq!(c.categories.len(), 3);
    assert_eq!(
        c.to_text(&uk),
        "SECRET, Codewords:OVERLORD, National Caveats:UK, National Caveats:EU"
    );
    assert_eq!(Clearance::parse(&uk, &c.to_text(&uk)).unwrap(), c);
    let all = Clearance::parse(&uk, "National Caveats:*").unwrap();
    assert_eq!(all.categories.len(), 4);
    assert_eq!(Clearance::parse(&uk, ""), Err(ClearanceError::Empty));
    assert_eq!(
        Clearance::parse(&uk, "SECRET,,UK"),
        Err(ClearanceError::EmptyItem)
    );
    assert!(
        matches!(Clearance::parse(&uk, "SECRET, BANANA"), Err(ClearanceError::Unknown(w, _)) if w == "BANANA")
    );
    assert!(matches!(
        Clearance::parse(&uk, "Fruit:APPLE"),
        Err(ClearanceError::UnknownTagSet(..))
    ));
    let nato = policy("nato-4774-policy.xml");
    let e = Clearance::parse(&nato, "SECRET, NATO").unwrap_err();
    assert!(matches!(e, ClearanceError::Ambiguous { .. }), "{e}");
    assert!(e.to_string().contains("`Context:NATO`"), "{e}");
    assert!(Clearance::parse(&nato, "SECRET, Context:NATO").is_ok());
}

#[test]
fn clearance_der_decides() {
    let c = Clearance::from_der(&bytes("labels/clearance.der")).unwrap();
    assert_eq!(c.policy.to_string(), "1.3.6.1.4.1.99999.1");
    assert_eq!(c.to_der(), bytes("labels/clearance.der"));
    // Its policy is not loaded: everything is denied.
    let set = uk();
    let l = set.primary().parse_marking("OFFICIAL").unwrap();
    assert!(matches!(set.check(&c, &l), Err(Denied::UnknownPolicy(_))));
    // A clearance DER made from text decides like the text.
    let p = set.primary();
    let text = Clearance::parse(p, "SECRET, UK").unwrap();
    let der = Clearance::from_der(&text.to_der()).unwrap();
    assert_eq!(der, text);
    let l = p.parse_marking("SECRET UK EYES ONLY").unwrap();
    assert!(set.check(&der, &l).is_ok());
}

#[test]
fn nato_sample_decisions() {
    let set = PolicySet::new(policy("nato-4774-policy.xml"));
    let p = set.primary();
    let read = |i: u32| {
        let t = std::fs::read_to_string(format!(
            "{}/tests/fixtures/labels/nato-4774-17-{i}.nato",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        labelgate::label::nato::from_xml(p, &t).unwrap()
    };
    let nato_secret = Clearance::parse(p, "SECRET, Context:NATO").unwrap();
    assert!(set.check(&nato_secret, &read(2)).is_ok());
    assert!(set.check(&nato_secret, &read(3)).is_ok());
    let kfor = Clearance::parse(p, "SECRET, Context:KFOR, Only:NATO").unwrap();
    assert!(set.check(&kfor, &read(6)).is_ok());
    assert!(set.check(&nato_secret, &read(6)).is_err());
    let unclass = Clearance::parse(p, "UNCLASSIFIED, Context:NATO").unwrap();
    assert!(set.check(&unclass, &read(4)).is_err());
}

/// `Clearance::within` (a network's accreditation must hold each of its rooms' ceilings):
/// lower classifications by the policy's hierarchy, categories by inclusion.
#[test]
fn a_clearance_is_within_another_by_hierarchy_and_categories() {
    let set = uk();
    let p = set.primary();
    let c = |t: &str| Clearance::parse(p, t).unwrap();
    assert!(c("SECRET, UK").within(&c("SECRET, UK"), p));
    assert!(c("OFFICIAL").within(&c("SECRET"), p));
    assert!(c("SECRET, UK").within(&c("TOP SECRET, UK, EU"), p));
    assert!(!c("SECRET").within(&c("OFFICIAL"), p));
    assert!(!c("SECRET, UK, EU").within(&c("TOP SECRET, UK"), p));
    assert!(!c("TOP SECRET, OVERLORD").within(&c("TOP SECRET, UK"), p));
}
