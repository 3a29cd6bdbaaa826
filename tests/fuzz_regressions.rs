//! Inputs the fuzzers found, kept so the fixes stay fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use labelgate::label::load_policy;
use labelgate::label::xep0258::SecurityLabel;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A foreign label element in the reserved `xmlns` namespace parsed, then panicked the XML
/// writer on serialisation. It is now refused at parse time.
#[test]
fn xep0258_reserved_namespace() {
    let input = fixture("fuzz-regressions/xep0258-reserved-namespace.xml");
    labelgate::internal::fuzz_xep0258(&input);
    let err = SecurityLabel::from_xml(std::str::from_utf8(&input).unwrap()).unwrap_err();
    assert!(err.to_string().contains("reserved namespace"), "{err}");
}

/// `SECRET -` under the NATO policy renders as `NATO SECRET`, which reads back as the stricter
/// label with `Context:NATO` (the documented ambiguity of that policy).
#[test]
fn marking_nato_shadow() {
    let input = fixture("fuzz-regressions/marking-nato-shadow.bin");
    let nato = std::fs::read_to_string(format!(
        "{}/tests/fixtures/spif/nato-4774-policy.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let policy = load_policy(&nato).unwrap();
    labelgate::internal::fuzz_marking(&policy, &input[1..]);
    let plain = policy.parse_marking("SECRET -").unwrap();
    assert!(plain.categories.is_empty());
    let back = policy
        .parse_marking(&policy.render_marking(&plain).unwrap())
        .unwrap();
    assert_eq!(back.categories.len(), 1);
    assert_eq!(
        policy.category_name(back.categories.iter().next().unwrap()),
        "Context/NATO"
    );
}

/// `FREE YUMMY CHOCOLATE` under the Food policy renders as `[ Food Yummy Chocolate ]` (the
/// category suppresses the class name); Chocolate is allowed at Freely Available and Luxury, so
/// the marking reads back at the higher, Luxury: the documented never-lower reading, which the
/// harness's invariant had not allowed for.
#[test]
fn marking_suppressed_class_reads_back_higher() {
    let input = fixture("fuzz-regressions/marking-suppressed-class.bin");
    let food = std::fs::read_to_string(format!(
        "{}/tests/fixtures/spif/food-policy.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let policy = load_policy(&food).unwrap();
    labelgate::internal::fuzz_marking(&policy, &input[1..]);
    let written = policy.parse_marking("FREE YUMMY CHOCOLATE").unwrap();
    let shown = policy.render_marking(&written).unwrap();
    assert_eq!(shown, "[ Food Yummy Chocolate ]");
    let back = policy.parse_marking(&shown).unwrap();
    assert_eq!(back.categories, written.categories);
    let name = |l: &labelgate::label::Label| {
        policy
            .classification(l.classification.unwrap())
            .unwrap()
            .name
            .clone()
    };
    assert_eq!(
        (name(&written), name(&back)),
        ("Freely Available".into(), "Luxury".into())
    );
}

/// The IRC codec and parser harness runs on the seeds (the fuzz target's invariant).
#[test]
fn irc_seeds() {
    for f in ["a", "b"] {
        let p = format!("{}/fuzz/seeds/irc_message/{f}", env!("CARGO_MANIFEST_DIR"));
        labelgate::internal::fuzz_irc(&std::fs::read(p).unwrap());
    }
    labelgate::internal::fuzz_irc(b"PRIVMSG a :b\r\n\xff\r\n@x= Y\r\n:s V  a   :b c\n");
}

/// The link connections' SASL harness runs on its seeds (a success and a failure).
#[test]
fn link_sasl_seeds() {
    for f in ["plain", "external"] {
        let p = format!("{}/fuzz/seeds/link_sasl/{f}", env!("CARGO_MANIFEST_DIR"));
        labelgate::internal::fuzz_link_sasl(&std::fs::read(p).unwrap());
    }
    labelgate::internal::fuzz_link_sasl(
        b"\x00:s 903 * :early\r\nAUTHENTICATE +\r\n:s 001 x :y\r\n",
    );
}

/// NUL bytes inside a parameter parsed, and the writer (which never emits NUL) changed the
/// message. NUL is now refused by the parser, as modern IRC says.
#[test]
fn irc_nul_bytes() {
    labelgate::internal::fuzz_irc(&fixture("fuzz-regressions/irc-nul-bytes.bin"));
    assert_eq!(
        labelgate::irc::proto::message::Message::parse("AUTHENTICATE \0PLAIN"),
        Err(labelgate::irc::proto::message::ParseError::Nul)
    );
}

/// The client-certificate harness runs on its seeds (openssl-made certificates, one carrying
/// shared/testdata's RFC 5755 clearance in subjectDirectoryAttributes, one carrying none), and
/// the clearance is found in the one and not in the other; a truncated certificate is an error.
#[test]
fn client_cert_seeds() {
    let seed = |f: &str| {
        std::fs::read(format!(
            "{}/fuzz/seeds/client_cert/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let (with, plain, ssl) = (
        seed("clearance.der"),
        seed("plain.der"),
        seed("ssl-privileges.der"),
    );
    for s in [&with, &plain, &ssl] {
        labelgate::internal::fuzz_client_certificate(s);
        for cut in [1, s.len() / 2, s.len() - 1] {
            labelgate::internal::fuzz_client_certificate(&s[..cut]);
            assert!(labelgate::irc::cert::clearance_attribute(&s[..cut]).is_err());
        }
    }
    let der = labelgate::irc::cert::clearance_attribute(&with)
        .unwrap()
        .expect("the seed carries a clearance");
    let c = labelgate::label::Clearance::from_der(&der).unwrap();
    assert_eq!(c.policy.to_string(), "1.3.6.1.4.1.99999.1");
    assert_eq!(
        labelgate::irc::cert::clearance_attribute(&plain).unwrap(),
        None
    );
    // Found by fuzzing: a validity time with a non-ASCII byte panicked the reader on slicing
    // (any client presenting such a certificate, before its fingerprint is looked up). Refused.
    let odd = seed("regression-non-ascii-time.der");
    labelgate::internal::fuzz_client_certificate(&odd);
    let e = labelgate::irc::cert::validity(&odd)
        .unwrap_err()
        .to_string();
    assert!(e.contains("time"), "{e}");
    // A clearance in the SSLPrivileges form (made with `labelgate label clearance` under the
    // MISSI sample policy and openssl): read only under its policy, its enumerated value placed.
    let der = labelgate::irc::cert::clearance_attribute(&ssl)
        .unwrap()
        .expect("the seed carries a clearance");
    assert!(labelgate::label::Clearance::from_der(&der).is_err());
    let missi = labelgate::label::load_policy(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/spif/food-policy-missi.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let c = labelgate::label::Clearance::from_der_in(&der, &missi).unwrap();
    assert_eq!(
        c.to_text(&missi),
        "Commodity, Taste Sensations:Crunchy, Taste Sensations:Sweet, Allergens:Lactose, Ethics:Not Vegan"
    );
}

/// The PROXY header harness runs on its seeds (a v1 and a v2 header, each followed by IRC)
/// and on their truncations.
#[test]
fn proxy_seeds() {
    for f in ["v1", "v2"] {
        let p = format!("{}/fuzz/seeds/proxy/{f}", env!("CARGO_MANIFEST_DIR"));
        let data = std::fs::read(p).unwrap();
        assert!(matches!(
            labelgate::irc::proto::proxy::parse(&data),
            Ok(labelgate::irc::proto::proxy::Parsed::Done { .. })
        ));
        for n in 0..=data.len() {
            labelgate::internal::fuzz_proxy(&data[..n]);
        }
    }
}

/// The stanza harness runs on its seeds (what other occupants send: labelled and ADatP-4774
/// messages, a chat state, a correction, a receipt request, an occupant's presence) and on
/// every truncation of them; the seeds read as what they are.
#[test]
fn stanza_seeds() {
    use labelgate::xmpp::{chat, muc};
    let seed = |f: &str| {
        let p = format!("{}/fuzz/seeds/stanza/{f}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(p).unwrap()
    };
    let message = |f: &str| {
        let el: minidom::Element = seed(f).trim().parse().unwrap();
        muc::read_message(&xmpp_parsers::message::Message::try_from(el).unwrap())
    };
    for f in [
        "groupchat-labelled.xml",
        "chat-state.xml",
        "correction.xml",
        "receipt-request.xml",
        "adatp-4774.xml",
        "occupant-presence.xml",
        "history-delay.xml",
        "error-odd-condition.xml",
    ] {
        let data = seed(f).into_bytes();
        for n in 0..=data.len() {
            labelgate::internal::fuzz_stanza(&data[..n]);
        }
    }
    assert!(matches!(
        message("groupchat-labelled.xml").label,
        Some(Ok(_))
    ));
    assert_eq!(
        chat::chat_state(&message("chat-state.xml").payloads),
        Some(chat::ChatState::Composing)
    );
    assert_eq!(
        chat::replaces(&message("correction.xml").payloads),
        Some(Some("orig-1".into()))
    );
    let r = message("receipt-request.xml");
    assert_eq!(
        chat::receipt_requested(&r.payloads, r.id.as_deref()),
        Some("pm-1".into())
    );
    assert!(matches!(
        message("adatp-4774.xml").label,
        Some(Ok(SecurityLabel {
            label: labelgate::label::xep0258::LabelPayload::Other(_),
            ..
        }))
    ));
    assert_eq!(
        message("error-odd-condition.xml").error.unwrap().condition,
        "undefined-condition"
    );
    let stamp = message("history-delay.xml").delay.unwrap();
    assert_eq!(
        labelgate::util::server_time(&stamp).as_deref(),
        Some("2026-11-27T21:20:25.123Z")
    );
    let el: minidom::Element = seed("occupant-presence.xml").trim().parse().unwrap();
    let p = muc::read_occupant_presence(&xmpp_parsers::presence::Presence::try_from(el).unwrap())
        .unwrap();
    assert_eq!(p.codes, vec![307, 303]);
    assert_eq!(p.reason.as_deref(), Some("kicked"));
}

/// Every committed seed of the label harnesses (ESS DER in both category forms, XEP-0258
/// elements) holds their invariants.
#[test]
fn label_seeds_hold_their_invariants() {
    let dir = |t: &str| format!("{}/fuzz/seeds/{t}", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for (target, run) in [
        ("ess_der", labelgate::internal::fuzz_ess as fn(&[u8])),
        ("xep0258", labelgate::internal::fuzz_xep0258),
    ] {
        for e in std::fs::read_dir(dir(target)).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            run(&data);
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen} seeds");
    // The MISSI seed decodes, in the MISSI form.
    let missi = std::fs::read(format!("{}/missi-food.der", dir("ess_der"))).unwrap();
    assert!(matches!(
        labelgate::label::Label::from_der_form(&missi),
        Ok((_, true))
    ));
}
