//! Every sample SPIF policy loads, the three broken ones are refused with the problem named,
//! and the loaded model says what the files say.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use labelgate::label::policy::{MarkingCode, Operation};
use labelgate::label::{TagType, load_policy};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/spif/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn good_samples_load() {
    for (file, name, id) in [
        ("uk-demo.xml", "UK", "1.2.826.0.1.6726289.0.4"),
        ("tlp.xml", "TLP", "1.2.826.0.1.6726289.0.2"),
        ("tlp-plus.xml", "TLPX", "1.2.826.0.1.6726289.0.1"),
        ("bsi-commercial.xml", "BSI Basic", "1.2.826.0.1.6726289.0.3"),
        ("nato-4774-policy.xml", "NATO", "1.3.26.1.3.1"),
        ("food-policy.xml", "Food", "1.2.826.0.1.6726289.0.0"),
    ] {
        let p = load_policy(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(p.name, name, "{file}");
        assert_eq!(p.id.to_string(), id, "{file}");
    }
}

#[test]
fn broken_samples_are_refused_with_the_problem_named() {
    let e = load_policy(&fixture("food-policy-borked.xml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("excludedClass `Ambrosia` is listed twice"),
        "borked: {e}"
    );
    assert!(e.contains("unknown element `markingCode`"), "borked: {e}");
    let e = load_policy(&fixture("food-policy-typo.xml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not well-formed XML"), "typo: {e}");
    assert!(
        e.contains("securityCategiryTagSet") || e.contains("line 81"),
        "typo: {e}"
    );
    let e = load_policy(&fixture("bsi-commercial-truncated.xml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not well-formed XML"), "truncated: {e}");
}

#[test]
fn uk_demo_model() {
    let p = load_policy(&fixture("uk-demo.xml")).unwrap();
    let names: Vec<_> = p
        .classifications
        .iter()
        .map(|c| (c.name.as_str(), c.lacv, c.hierarchy))
        .collect();
    assert_eq!(
        names,
        [
            ("OFFICIAL", 10, Some(0)),
            ("SECRET", 4, Some(1)),
            ("TOP SECRET", 5, Some(2))
        ]
    );
    assert_eq!(p.classifications[1].color.as_deref(), Some("#FFAA00"));
    assert!(p.is_hierarchical());
    assert_eq!(p.qualifiers.prefix.as_deref(), Some("DEMO-"));
    assert_eq!(p.qualifiers.separator.as_deref(), Some(" "));
    let sets: Vec<_> = p.tag_sets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        sets,
        [
            "Sensitive",
            "Sensitive Descriptors",
            "Codewords",
            "National Caveats"
        ]
    );
    let sensitive = &p.tag_sets[0].tags[0].categories[0];
    assert_eq!(sensitive.name, "SENSITIVE");
    assert_eq!(sensitive.excluded_classes, [1, 2]);
    assert_eq!(
        sensitive.marking[0].phrase.as_deref(),
        Some("OFFICIAL-SENSITIVE")
    );
    assert_eq!(sensitive.marking[0].codes, [MarkingCode::SuppressClassName]);
    assert_eq!(sensitive.required[0].operation, Operation::OnlyOne);
    let desc = &p.tag_sets[1];
    assert_eq!(desc.tags[0].tag_type, TagType::InformativeBits);
    assert!(desc.tags[0].single_selection);
    assert_eq!(desc.tags[1].tag_type, TagType::Restrictive);
    assert_eq!(desc.tags[1].categories[0].excluded.len(), 1);
    let code = &p.tag_sets[2];
    assert_eq!(code.tags[0].tag_type, TagType::EnumeratedRestrictive);
    assert_eq!(code.tags[1].tag_type, TagType::InformativeEnumerated);
    let caveats = &p.tag_sets[3].tags[0];
    assert_eq!(caveats.tag_type, TagType::Permissive);
    assert_eq!(caveats.qualifiers.prefix.as_deref(), Some("- "));
    assert_eq!(caveats.qualifiers.separator.as_deref(), Some(" / "));
    assert_eq!(caveats.qualifiers.suffix.as_deref(), Some(" EYES ONLY"));
    let eqs: Vec<_> = p
        .equivalent_policies
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(eqs, ["TLPX", "TLP", "BSI"]);
    assert_eq!(p.classifications[0].equivalents.len(), 3);
}

#[test]
fn nato_model() {
    let p = load_policy(&fixture("nato-4774-policy.xml")).unwrap();
    assert_eq!(p.classifications.len(), 5);
    // English marking data is the one without xml:lang.
    let ts = &p.classifications[4];
    let en = labelgate::label::policy::default_marking(&ts.marking).unwrap();
    assert_eq!(en.phrase.as_deref(), Some("COSMIC"));
    let rel = p
        .tag_sets
        .iter()
        .find(|s| s.name == "Releasable To")
        .unwrap();
    assert_eq!(rel.tags[0].tag_type, TagType::EnumeratedPermissive);
    assert_eq!(rel.tags[0].categories.len(), 90);
    // French qualifiers are not mixed into the English marking.
    assert_eq!(
        rel.tags[0].qualifiers.prefix.as_deref(),
        Some("Releasable to ")
    );
    let afg = &rel.tags[0].categories[0];
    assert_eq!((afg.name.as_str(), afg.lacv), ("AFG", 4));
}

#[test]
fn strict_loader_names_unknown_things_with_lines() {
    let base = fixture("tlp.xml");
    let bad_attr = base.replacen("hierarchy=\"1\"", "hierarchy=\"1\" flavour=\"x\"", 1);
    let e = load_policy(&bad_attr).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].line, 14);
    assert!(
        e.problems[0]
            .message
            .contains("unknown attribute `flavour`"),
        "{e}"
    );

    let bad_el = base.replacen(
        "<securityClassifications>",
        "<securityClassifications><bogus/>",
        1,
    );
    let e = load_policy(&bad_el).unwrap_err().to_string();
    assert!(
        e.contains("unknown element `bogus` in `securityClassifications`"),
        "{e}"
    );

    let bad_ref = base.replacen("policyRef=\"TLPX\"", "policyRef=\"NOPE\"", 1);
    let e = load_policy(&bad_ref).unwrap_err().to_string();
    assert!(e.contains("policyRef `NOPE`"), "{e}");

    let bad_lacv = base.replacen("lacv=\"11\"", "lacv=\"eleven\"", 1);
    assert!(
        load_policy(&bad_lacv)
            .unwrap_err()
            .to_string()
            .contains("lacv `eleven`")
    );

    let bad_code = base.replacen("<code>pageTopBottom</code>", "<code>sideways</code>", 1);
    assert!(
        load_policy(&bad_code)
            .unwrap_err()
            .to_string()
            .contains("unknown marking code `sideways`")
    );

    let text = base.replacen(
        "<securityClassifications>",
        "<securityClassifications>stray",
        1,
    );
    assert!(
        load_policy(&text)
            .unwrap_err()
            .to_string()
            .contains("unexpected text")
    );

    let dtd = format!("<!DOCTYPE SPIF [<!ENTITY x \"y\">]>{base}");
    assert!(load_policy(&dtd).is_err());

    let wrong_ns = base.replacen("http://www.xmlspif.org/spif", "urn:other", 1);
    assert!(
        load_policy(&wrong_ns)
            .unwrap_err()
            .to_string()
            .contains("not \"http://www.xmlspif.org/spif\"")
    );

    let no_id = base.replacen(
        "<securityPolicyId name=\"TLP\" id=\"1.2.826.0.1.6726289.0.2\"/>",
        "",
        1,
    );
    assert!(
        load_policy(&no_id)
            .unwrap_err()
            .to_string()
            .contains("no `securityPolicyId`")
    );

    assert!(load_policy("").is_err());
    assert!(
        load_policy("<notspif/>")
            .unwrap_err()
            .to_string()
            .contains("not `SPIF`")
    );
}
