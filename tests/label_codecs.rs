//! ESS DER, RFC 5755 clearances, XEP-0258 elements and ADatP-4774 labels decode to what the
//! specifications and `labels.md` say, re-encode exactly, and refuse malformed input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use labelgate::label::ess::{ClearanceDer, decode_base64};
use labelgate::label::nato;
use labelgate::label::xep0258::{Catalog, CatalogRequest, LabelPayload, SecurityLabel, XepError};
use labelgate::label::{Label, Oid, PrivacyMark, TagType, load_policy};
use minidom::Element;

fn bytes(path: &str) -> Vec<u8> {
    let p = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn text(path: &str) -> String {
    String::from_utf8(bytes(path)).unwrap()
}

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

fn cats(l: &Label) -> Vec<(String, TagType, u32)> {
    l.categories
        .iter()
        .map(|c| (c.tag_set.to_string(), c.tag_type, c.lacv))
        .collect()
}

#[test]
fn der_vectors_decode_and_round_trip() {
    let l = Label::from_der(&bytes("labels/label_cat.der")).unwrap();
    assert_eq!(l.policy, Some(oid("1.3.6.1.4.1.99999.1")));
    assert_eq!(l.classification, Some(4));
    assert_eq!(
        l.privacy_mark,
        Some(PrivacyMark::Utf8("SECRET EXAMPLE".into()))
    );
    assert_eq!(
        cats(&l),
        [
            ("1.3.6.1.4.1.99999.1".into(), TagType::Restrictive, 1),
            ("1.3.6.1.4.1.99999.1".into(), TagType::Restrictive, 3)
        ]
    );

    let l = Label::from_der(&bytes("labels/cat_only.der")).unwrap();
    assert_eq!(
        (l.policy.clone(), l.classification),
        (Some(oid("1.1")), Some(4))
    );
    assert_eq!(
        cats(&l),
        [
            ("1.1".into(), TagType::Restrictive, 1),
            ("1.1".into(), TagType::Restrictive, 3)
        ]
    );

    let l = Label::from_der(&bytes("labels/pm_print.der")).unwrap();
    assert_eq!(
        l.privacy_mark,
        Some(PrivacyMark::Printable("SECRET".into()))
    );
    assert_eq!(l.classification, None);
    let l = Label::from_der(&bytes("labels/pm_utf8.der")).unwrap();
    assert_eq!(l.privacy_mark, Some(PrivacyMark::Utf8("SECRET".into())));

    let l = Label::from_der(&bytes("labels/label-1.ber")).unwrap();
    assert_eq!(l.policy, None);
    assert_eq!(l.classification, Some(253));
    assert_eq!(
        l.privacy_mark,
        Some(PrivacyMark::Utf8("Aqua (obsolete)".into()))
    );

    let l = Label::from_der(&bytes("labels/label-2.ber")).unwrap();
    assert_eq!(
        (l.policy.clone(), l.classification),
        (Some(oid("1.1")), Some(4))
    );

    let l = Label::from_der(&bytes("labels/stupid-label.ber")).unwrap();
    assert_eq!(l.classification, Some(51));
    assert_eq!(
        l.privacy_mark.as_ref().map(PrivacyMark::text),
        Some("VAGUELY SECRET")
    );

    for f in [
        "labels/label_cat.der",
        "labels/cat_only.der",
        "labels/pm_print.der",
        "labels/pm_utf8.der",
        "labels/label-1.ber",
        "labels/label-2.ber",
        "labels/stupid-label.ber",
    ] {
        let input = bytes(f);
        assert_eq!(Label::from_der(&input).unwrap().to_der(), input, "{f}");
    }
}

#[test]
fn ber_member_order_is_accepted_and_reencoded_as_der() {
    let input = bytes("labels/label-3.ber");
    let l = Label::from_der(&input).unwrap();
    assert_eq!(
        (l.policy.clone(), l.classification),
        (Some(oid("1.1")), Some(3))
    );
    assert_eq!(l.to_der(), [0x31, 0x06, 0x02, 0x01, 0x03, 0x06, 0x01, 0x29]);
}

#[test]
fn xep0258_base64_examples() {
    let l = Label::from_base64("MQYCAQQGASk=").unwrap();
    assert_eq!(
        (l.policy.clone(), l.classification),
        (Some(oid("1.1")), Some(4))
    );
    let l = Label::from_base64("MQYCAQIGASk=").unwrap();
    assert_eq!(l.classification, Some(2));
    // Unpadded base64 is accepted.
    let l = Label::from_base64("MQYCAQMGASk").unwrap();
    assert_eq!(l.classification, Some(3));
    let l = Label::from_base64("MQMGASk=").unwrap();
    assert_eq!(
        (l.policy.clone(), l.classification),
        (Some(oid("1.1")), None)
    );
    let l = Label::from_base64("MRUCAgD9DA9BcXVhIChvYnNvbGV0ZSk=").unwrap();
    assert_eq!((l.policy.clone(), l.classification), (None, Some(253)));
    // White space inside base64 is tolerated.
    assert!(Label::from_base64("  MQYC\n AQQGASk=\n").is_ok());
    assert!(Label::from_base64("not base64!").is_err());
}

#[test]
fn malformed_der_is_refused() {
    let good = bytes("labels/label_cat.der");
    let mut trailing = good.clone();
    trailing.push(0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("trailing byte", trailing),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("empty", vec![]),
        (
            "indefinite length",
            vec![0x31, 0x80, 0x02, 0x01, 0x04, 0x00, 0x00],
        ),
        ("over-long length", vec![0x31, 0x81, 0x03, 0x02, 0x01, 0x04]),
        (
            "SEQUENCE instead of SET",
            vec![0x30, 0x03, 0x02, 0x01, 0x04],
        ),
        (
            "two classifications",
            vec![0x31, 0x06, 0x02, 0x01, 0x04, 0x02, 0x01, 0x05],
        ),
        (
            "classification out of range",
            vec![0x31, 0x04, 0x02, 0x02, 0x01, 0x01],
        ),
        (
            "negative classification",
            vec![0x31, 0x03, 0x02, 0x01, 0xff],
        ),
        ("padded integer", vec![0x31, 0x04, 0x02, 0x02, 0x00, 0x04]),
        ("bad OID", vec![0x31, 0x03, 0x06, 0x01, 0x80]),
        ("unknown member", vec![0x31, 0x03, 0x04, 0x01, 0x00]),
        ("bad printable string", vec![0x31, 0x03, 0x13, 0x01, b'*']),
        ("bad UTF-8", vec![0x31, 0x03, 0x0c, 0x01, 0xff]),
        ("empty categories", vec![0x31, 0x02, 0x31, 0x00]),
    ];
    for (what, input) in cases {
        assert!(Label::from_der(&input).is_err(), "{what} was accepted");
    }
    // An unknown category type OID.
    let mut other_type = good.clone();
    let pos = other_type
        .windows(3)
        .position(|w| w == [0x08, 0x03, 0x00])
        .unwrap();
    other_type[pos + 2] = 0x09;
    let e = Label::from_der(&other_type).unwrap_err().to_string();
    assert!(e.contains("unsupported security category type"), "{e}");
    // Too large.
    assert!(
        Label::from_der(&vec![0u8; 20_000])
            .unwrap_err()
            .to_string()
            .contains("limit")
    );
}

#[test]
fn every_category_encoding_round_trips() {
    use labelgate::label::Category;
    for t in [
        TagType::Restrictive,
        TagType::EnumeratedRestrictive,
        TagType::Permissive,
        TagType::EnumeratedPermissive,
        TagType::InformativeBits,
        TagType::InformativeEnumerated,
    ] {
        let mut l = Label::new(oid("1.2.3"), 5);
        for lacv in [0, 7, 8, 300] {
            l.categories.insert(Category {
                tag_set: oid("1.2.3.4"),
                tag_type: t,
                lacv,
            });
        }
        let der = l.to_der();
        assert_eq!(Label::from_der(&der).unwrap(), l, "{t:?}");
        assert_eq!(Label::from_der(&der).unwrap().to_der(), der);
    }
}

#[test]
fn clearance_der() {
    let input = bytes("labels/clearance.der");
    let c = ClearanceDer::from_der(&input).unwrap();
    assert_eq!(c.policy, oid("1.3.6.1.4.1.99999.1"));
    assert_eq!(c.classes, [1, 2, 3, 4]);
    assert_eq!(c.categories.len(), 3);
    assert!(
        c.categories
            .iter()
            .all(|x| x.tag_type == TagType::Restrictive)
    );
    assert!(!c.ssl_privileges);
    assert_eq!(c.to_der().unwrap(), input);
    assert!(ClearanceDer::from_der(&input[..input.len() - 2]).is_err());
}

#[test]
fn securitylabel_elements() {
    let s = SecurityLabel::from_xml(&text("xep0258/ess-secret.xml")).unwrap();
    let d = s.display.as_ref().unwrap();
    assert_eq!(
        (d.text.as_str(), d.fg.as_deref(), d.bg.as_deref()),
        ("SECRET", Some("black"), Some("red"))
    );
    match &s.label {
        LabelPayload::Ess(l) => assert_eq!(l.classification, Some(4)),
        other => panic!("{other:?}"),
    }
    // Serialise and parse back.
    let again = SecurityLabel::from_xml(&s.to_xml()).unwrap();
    assert_eq!(again, s);

    let s = SecurityLabel::from_xml(&text("xep0258/equivalent.xml")).unwrap();
    assert_eq!(s.equivalents.len(), 1);
    match &s.equivalents[0] {
        LabelPayload::Ess(l) => assert_eq!(l.classification, Some(253)),
        other => panic!("{other:?}"),
    }
    assert_eq!(SecurityLabel::from_xml(&s.to_xml()).unwrap(), s);

    let s = SecurityLabel::from_xml(&text("xep0258/icism.xml")).unwrap();
    assert!(matches!(&s.label, LabelPayload::Other(e) if e.name() == "icismlabel"));

    let s = SecurityLabel::from_xml(
        "<securitylabel xmlns='urn:xmpp:sec-label:0'><label/></securitylabel>",
    )
    .unwrap();
    assert_eq!(s.label, LabelPayload::Default);
    assert_eq!(s.display, None);
}

#[test]
fn bad_securitylabel_elements_are_refused() {
    let ns = "xmlns='urn:xmpp:sec-label:0'";
    let ess = "xmlns='urn:xmpp:sec-label:ess:0'";
    let cases = [
        (format!("<securitylabel {ns}/>"), "has no `label`"),
        (
            format!("<securitylabel {ns}><label/><label/></securitylabel>"),
            "more than once",
        ),
        (
            format!("<securitylabel {ns}><label/><bogus/></securitylabel>"),
            "unexpected element `bogus`",
        ),
        (
            format!("<securitylabel {ns} foo='1'><label/></securitylabel>"),
            "unexpected attribute `foo`",
        ),
        (
            format!("<securitylabel {ns}>text<label/></securitylabel>"),
            "unexpected text",
        ),
        (
            format!(
                "<securitylabel {ns}><displaymarking fgcolor='red;x'>S</displaymarking><label/></securitylabel>"
            ),
            "bad colour",
        ),
        (
            format!(
                "<securitylabel {ns}><label><esssecuritylabel {ess}>!!!</esssecuritylabel></label></securitylabel>"
            ),
            "bad ESS label",
        ),
        (
            format!(
                "<securitylabel {ns}><label><esssecuritylabel {ess}>MQYCAQQGASkA</esssecuritylabel></label></securitylabel>"
            ),
            "bad ESS label",
        ),
        (
            format!("<securitylabel {ns}><label><a/><b/></label></securitylabel>"),
            "more than one",
        ),
        (format!("<securitylabel {ns}><label>"), "bad XML"),
    ];
    for (xml, want) in cases {
        let e = SecurityLabel::from_xml(&xml).unwrap_err().to_string();
        assert!(e.contains(want), "{xml}: {e}");
    }
    let other: Element = "<x xmlns='urn:y'/>".parse().unwrap();
    assert_eq!(
        SecurityLabel::try_from(&other).unwrap_err(),
        XepError::Mismatch("securitylabel")
    );
}

#[test]
fn catalog_elements() {
    let el: Element = text("xep0258/catalog.xml").parse().unwrap();
    let c = Catalog::try_from(&el).unwrap();
    assert_eq!(c.to.as_deref(), Some("example.com"));
    assert_eq!(c.name.as_deref(), Some("Default"));
    assert!(!c.restrict);
    assert_eq!(c.items.len(), 4);
    assert_eq!(
        c.items[1].selector.as_deref(),
        Some("Classified|CONFIDENTIAL")
    );
    assert!(c.items[3].default && c.items[3].label.is_none());
    let back = Catalog::try_from(&Element::from(&c)).unwrap();
    assert_eq!(back, c);

    let req: Element = "<catalog xmlns='urn:xmpp:sec-label:catalog:2' to='example.com'/>"
        .parse()
        .unwrap();
    let r = CatalogRequest::try_from(&req).unwrap();
    assert_eq!(r.to, "example.com");
    assert_eq!(CatalogRequest::try_from(&Element::from(&r)).unwrap(), r);

    let bad: Element = "<catalog xmlns='urn:xmpp:sec-label:catalog:2' size='many'/>"
        .parse()
        .unwrap();
    assert!(Catalog::try_from(&bad).is_err());
    // Prosody's mod_seclabels form: a `<label>` of plain text. That item is unreadable (kept
    // apart, with why); the others are read.
    let mixed: Element = "<catalog xmlns='urn:xmpp:sec-label:catalog:2' to='r@c'>\
        <item selector='Classified|SECRET'><securitylabel xmlns='urn:xmpp:sec-label:0'>\
        <displaymarking>SECRET</displaymarking><label>THISISSECRET</label></securitylabel></item>\
        <item selector='Unclassified' default='true'/></catalog>"
        .parse()
        .unwrap();
    let c = Catalog::try_from(&mixed).unwrap();
    assert_eq!(c.items.len(), 1);
    assert_eq!(c.items[0].selector.as_deref(), Some("Unclassified"));
    assert_eq!(c.unreadable.len(), 1);
    assert_eq!(c.unreadable[0].0.as_deref(), Some("Classified|SECRET"));
}

#[test]
fn nato_labels_decode() {
    let policy = load_policy(&text("spif/nato-4774-policy.xml")).unwrap();
    let names = |l: &Label| -> Vec<String> {
        l.categories
            .iter()
            .map(|c| policy.category_name(c))
            .collect()
    };
    let l = nato::from_xml(&policy, &text("labels/nato-4774-17-1.nato")).unwrap();
    assert_eq!(l.policy, Some(policy.id.clone()));
    assert_eq!(
        policy
            .classification(l.classification.unwrap())
            .unwrap()
            .name,
        "UNCLASSIFIED"
    );
    let n = names(&l);
    for want in [
        "Context/NATO",
        "Context/Releasable",
        "Releasable To/ISAF",
        "Releasable To/KFOR",
    ] {
        assert!(n.contains(&want.to_string()), "{n:?}");
    }
    let l3 = nato::from_xml(&policy, &text("labels/nato-4774-17-3.nato")).unwrap();
    assert!(names(&l3).contains(&"Administrative/STAFF".to_string()));
    assert!(
        l3.categories
            .iter()
            .any(|c| c.tag_type == TagType::InformativeBits)
    );
    for i in 1..=6 {
        let f = format!("labels/nato-4774-17-{i}.nato");
        let l = nato::from_xml(&policy, &text(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        // Written back and read again, the label is the same.
        let el = nato::to_element(&policy, &l).unwrap();
        assert_eq!(nato::from_element(&policy, &el).unwrap(), l, "{f}");
    }
    // A label naming another policy, or an unknown value, is refused.
    let other = load_policy(&text("spif/uk-demo.xml")).unwrap();
    assert!(nato::from_xml(&other, &text("labels/nato-4774-17-2.nato")).is_err());
    let bad =
        text("labels/nato-4774-17-2.nato").replace("<GenericValue>NATO", "<GenericValue>NARNIA");
    assert!(
        nato::from_xml(&policy, &bad)
            .unwrap_err()
            .to_string()
            .contains("NARNIA")
    );
}

#[test]
fn nato_labels_are_read_under_the_policy_they_name_of_those_loaded() {
    let nato_policy = load_policy(&text("spif/nato-4774-policy.xml")).unwrap();
    let uk = load_policy(&text("spif/uk-demo.xml")).unwrap();
    let el: Element = text("labels/nato-4774-17-2.nato").parse().unwrap();
    // The gateway's own policy is the UK demo one; NATO is loaded beside it.
    let mut set = labelgate::label::PolicySet::new(uk.clone());
    let alone = set.clone();
    set.add(nato_policy.clone());
    let l = nato::from_element_in(&set, &el).unwrap();
    assert_eq!(l.policy.as_ref(), Some(&nato_policy.id));
    assert_eq!(l, nato::from_element(&nato_policy, &el).unwrap());
    // Without NATO loaded: refused, as a label of a policy the gateway does not know.
    let e = nato::from_element_in(&alone, &el).unwrap_err();
    assert!(matches!(e, nato::NatoError::WrongPolicy(..)), "{e}");
    // A label of NATO's that is itself bad is refused with its own fault, not another policy's.
    let bad: Element = text("labels/nato-4774-17-2.nato")
        .replace("<GenericValue>NATO", "<GenericValue>NARNIA")
        .parse()
        .unwrap();
    let e = nato::from_element_in(&set, &bad).unwrap_err().to_string();
    assert!(e.contains("NARNIA"), "{e}");
}

#[test]
fn base64_decoder_limits() {
    assert!(decode_base64(&"A".repeat(100_000)).is_err());
}
