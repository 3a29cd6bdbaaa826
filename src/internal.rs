//! Entry points for fuzz targets and benchmarks. Not a stable API.

use crate::label::flot::Flot;
use crate::label::marking::fold;
use crate::label::policy::{MarkingCode, default_marking};
use crate::label::xep0258::SecurityLabel;
use crate::label::{Label, Policy, load_policy};

/// ESS decoder: anything that decodes must re-encode to DER that decodes to the same label.
pub fn fuzz_ess(data: &[u8]) {
    if let Ok(label) = Label::from_der(data) {
        let der = label.to_der();
        let again = Label::from_der(&der);
        assert_eq!(
            again.as_ref().ok(),
            Some(&label),
            "DER re-encoding changed the label"
        );
        assert_eq!(again.map(|l| l.to_der()).ok(), Some(der));
    }
}

/// XEP-0258 parser: anything that parses must serialise and parse to the same value.
pub fn fuzz_xep0258(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sl) = SecurityLabel::from_xml(text) {
        let xml = sl.to_xml();
        let again = SecurityLabel::from_xml(&xml);
        assert_eq!(
            again.ok(),
            Some(sl),
            "XEP-0258 round trip changed the label"
        );
    }
}

/// Marking parser against a policy: a parsed label that renders must parse back identically,
/// or as a stricter label of two documented kinds: where the policy name reads the same as a
/// category phrase that replaces it (NATO's `Context:NATO`), with that category added; and
/// where a category suppresses the class name and the categories allow several classes of a
/// hierarchical policy, at the highest of them (never lower than what was written).
pub fn fuzz_marking(policy: &Policy, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(label) = policy.parse_marking(text) else {
        return;
    };
    if policy.validate(&label).is_err() {
        return;
    }
    let Ok(rendered) = policy.render_marking(&label) else {
        return;
    };
    let Ok(back) = policy.parse_marking(&rendered) else {
        panic!("marking {rendered:?} of a valid label did not parse back");
    };
    if back == label {
        return;
    }
    let name = fold(&policy.name);
    let shadows_name = |c: &crate::label::Category| {
        policy.find_category(c).is_some_and(|r| {
            default_marking(&policy.tag_category(r).marking).is_some_and(|m| {
                m.codes.contains(&MarkingCode::ReplacePolicy)
                    && m.phrase.as_deref().map(fold).as_deref() == Some(name.as_str())
            })
        })
    };
    let level = |c: Option<u32>| c.and_then(|c| policy.classification(c)?.hierarchy);
    let class_ok = back.classification == label.classification
        || matches!(
            (level(label.classification), level(back.classification)),
            (Some(a), Some(b)) if b > a
        );
    let stricter = class_ok
        && label.categories.is_subset(&back.categories)
        && back
            .categories
            .difference(&label.categories)
            .all(shadows_name);
    assert!(
        stricter,
        "marking {rendered:?} parsed back to a different label"
    );
}

/// FLOT parser and splitter: never panics; split lines respect the budget and the prefix.
pub fn fuzz_flot(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = Flot::default();
    let _ = f.parse(text);
    let lines = f.split("[S] ", text, 64);
    for l in &lines {
        assert!(l.starts_with("[S]"));
        // No line terminator of any kind: each line a client shows starts with the prefix.
        let breaks = [
            '\n', '\r', '\0', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}',
        ];
        assert!(!l.contains(breaks), "a line terminator inside {l:?}");
    }
}

/// SPIF loader: never panics.
pub fn fuzz_spif(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = load_policy(text);
}

/// IRC line codec and message parser: bounded lines, never a panic; a parsed message written
/// back parses to the same message; a message's text read for CTCP and formatting leaves no
/// control character in the words that would cross.
pub fn fuzz_irc(data: &[u8]) {
    use crate::irc::proto::ctcp::{self, Ctcp};
    if let Ok(text) = std::str::from_utf8(data) {
        match ctcp::read(text) {
            Ctcp::Text(t) | Ctcp::Action(t) => {
                let words = ctcp::strip_formatting(t);
                assert!(!words.chars().any(char::is_control), "{words:?}");
            }
            Ctcp::Query { command, .. } => assert!(!command.contains('\x01')),
            Ctcp::Malformed => {}
        }
    }
    use crate::irc::proto::codec::{Line, LineCodec, MAX_MESSAGE, MAX_TAGS};
    use crate::irc::proto::message::Message;
    use tokio_util::codec::Decoder;
    let mut codec = LineCodec::default();
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(line)) = codec.decode(&mut buf) {
        if let Line::Text(t) = line {
            assert!(t.len() <= MAX_TAGS + MAX_MESSAGE);
            if let Ok(m) = Message::parse(&t) {
                let again = Message::parse(&m.to_line());
                assert_eq!(again.ok(), Some(m), "message did not survive a round trip");
            }
        }
    }
}

/// The PROXY header parser: never panics; a header it accepts is no longer than the input
/// nor than the form's limit, and every prefix of it is incomplete (a reader that peeks never
/// consumes a byte that belongs to the connection's own protocol).
pub fn fuzz_proxy(data: &[u8]) {
    use crate::irc::proto::proxy::{Parsed, V1_MAX, V2_MAX, parse};
    if let Ok(Parsed::Done { len, .. }) = parse(data) {
        assert!(len <= data.len() && len <= V1_MAX.max(V2_MAX));
        for n in 1..len {
            assert_eq!(
                parse(&data[..n]),
                Ok(Parsed::Incomplete),
                "prefix of {n} bytes"
            );
        }
    }
}

/// The link connections' SASL exchange fed the server's lines: never panics, and once it has
/// failed or finished it never sends anything but `CAP END` for a success it saw.
pub fn fuzz_link_sasl(data: &[u8]) {
    use crate::irc::proto::message::Message;
    use crate::link::sasl::{Mechanism, Sasl};
    let mechanism = if data.first().is_some_and(|b| b & 1 == 1) {
        Mechanism::External
    } else {
        Mechanism::Plain {
            account: "gw".into(),
            password: "pw".into(),
        }
    };
    let (mut s, _) = Sasl::start(mechanism);
    let text = String::from_utf8_lossy(data.get(1..).unwrap_or_default());
    for line in text.split(['\r', '\n']).filter(|l| !l.is_empty()) {
        let Ok(m) = Message::parse(line) else {
            continue;
        };
        let was_done = s.done();
        match s.on(&m) {
            Ok(Some(out)) => {
                for o in &out {
                    assert!(
                        o.to_line().len() <= 510,
                        "an exchange line too long for IRC"
                    );
                }
                assert!(
                    !was_done || out.is_empty(),
                    "spoke after the exchange ended"
                );
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// A [`Cleared`](crate::audit::Cleared) without a decision, for test peers and the load tool that play other XMPP
/// clients with the gateway's session type. Only in builds with the `test-peer` feature.
#[cfg(feature = "test-peer")]
pub fn peer_cleared<T>(value: T) -> crate::audit::Cleared<T> {
    crate::audit::Cleared::unchecked(value)
}

/// Typed-line reader: never panics; a line read as marked has a valid label, and its text is
/// never longer than the line plus the addressee's space.
pub fn fuzz_typed(policy: &Policy, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Built once: compiling the second FLOT's pattern per input made the target ~30× slower.
    static FLOTS: std::sync::OnceLock<[Flot; 2]> = std::sync::OnceLock::new();
    let flots = FLOTS.get_or_init(|| {
        [
            Flot::default(),
            Flot::new("({marking}) ", Some(r"\((?P<marking>[^)]+)\)\s?")).unwrap_or_default(),
        ]
    });
    for flot in flots {
        if let Ok(t) = crate::label::typed::read_typed(flot, policy, text) {
            if let Some(l) = &t.label {
                assert!(policy.validate(l).is_ok(), "an invalid label was read");
            }
            assert!(t.text.len() <= text.len() + 1);
        }
    }
}

/// Client certificate reader (validity, RFC 5755 clearance attribute): never panics; a
/// clearance that decodes re-encodes to DER that decodes to the same clearance.
pub fn fuzz_client_certificate(data: &[u8]) {
    let _ = crate::irc::cert::validity(data);
    if let Ok(Some(der)) = crate::irc::cert::clearance_attribute(data)
        && let Ok(c) = crate::label::Clearance::from_der(&der)
    {
        let again = crate::label::Clearance::from_der(&c.to_der());
        assert_eq!(again.ok(), Some(c), "clearance DER re-encoding changed it");
    }
    // Under a policy whose clearances are SSLPrivileges: read in either form, placed, and
    // written in the policy's form, it reads back the same.
    if let Ok(Some(der)) = crate::irc::cert::clearance_attribute(data)
        && let Ok(c) = crate::label::Clearance::from_der_in(&der, fuzz_missi_policy())
        && let Ok(own) = c.to_der_in(fuzz_missi_policy())
    {
        let again = crate::label::Clearance::from_der_in(&own, fuzz_missi_policy());
        assert_eq!(again.ok(), Some(c), "SSLPrivileges re-encoding changed it");
    }
}

/// The MISSI sample policy (labels in the MISSI form, clearances as SSLPrivileges), loaded once.
fn fuzz_missi_policy() -> &'static crate::label::Policy {
    static POLICY: std::sync::OnceLock<crate::label::Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        load_policy(include_str!("../tests/fixtures/spif/food-policy-missi.xml"))
            .unwrap_or_else(|e| panic!("the MISSI sample policy loads: {e}"))
    })
}

/// A stanza as another occupant may write it: read as a message or a presence, through every
/// reader the bridge applies to what comes from a room. Nothing may panic; a label that reads
/// must write back and read the same; the ids the gateway would repeat (a correction's, a
/// receipt's) are the plain ones it promises.
pub fn fuzz_stanza(data: &[u8]) {
    use crate::xmpp::{chat, files, muc};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(el) = text.parse::<minidom::Element>() else {
        return;
    };
    let plain = |id: &str| {
        !id.is_empty()
            && id.len() <= chat::LONGEST_ID
            && id
                .chars()
                .all(|c| c.is_ascii_graphic() && c != ';' && c != '\\')
    };
    if let Ok(m) = xmpp_parsers::message::Message::try_from(el.clone()) {
        let r = muc::read_message(&m);
        if let Some(Ok(l)) = &r.label {
            let again = SecurityLabel::from_xml(&l.to_xml());
            assert_eq!(
                again.as_ref().ok(),
                Some(l),
                "a room label's round trip changed it"
            );
            if let crate::label::xep0258::LabelPayload::Other(inner) = &l.label {
                let _ = crate::label::nato::from_element_in(fuzz_policies(), inner);
            }
        }
        let _ = chat::chat_state(&r.payloads);
        if let Some(Some(id)) = chat::replaces(&r.payloads) {
            assert!(
                plain(&id),
                "a correction's id is repeated only when plain: {id:?}"
            );
        }
        if let Some(id) = chat::receipt_requested(&r.payloads, r.id.as_deref()) {
            assert!(
                plain(&id),
                "a receipt's id is repeated only when plain: {id:?}"
            );
        }
        if let Some(t) = r.delay.as_deref().and_then(crate::util::server_time) {
            // The one form IRCv3 server-time takes: 2026-11-27T21:20:25.123Z.
            let b = t.as_bytes();
            assert!(
                b.len() == 24
                    && b.iter().enumerate().all(|(i, c)| match i {
                        4 | 7 => *c == b'-',
                        10 => *c == b'T',
                        13 | 16 => *c == b':',
                        19 => *c == b'.',
                        23 => *c == b'Z',
                        _ => c.is_ascii_digit(),
                    }),
                "a history time reaches IRC only as server-time: {t:?}"
            );
        }
        let _ = files::offer(&r.payloads);
        if let Some(e) = muc::stanza_error(&r.payloads) {
            assert!(
                muc::DEFINED_CONDITIONS.contains(&e.condition.as_str()),
                "a stanza error's condition is one RFC 6120 defines: {:?}",
                e.condition
            );
        }
    }
    if let Ok(p) = xmpp_parsers::presence::Presence::try_from(el) {
        let _ = muc::read_occupant_presence(&p);
    }
}

/// The policies the stanza harness reads ADatP-4774 labels under (the NATO sample, loaded
/// once).
fn fuzz_policies() -> &'static crate::label::PolicySet {
    static SET: std::sync::OnceLock<crate::label::PolicySet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let nato = load_policy(include_str!("../tests/fixtures/spif/nato-4774-policy.xml"))
            .unwrap_or_else(|e| panic!("the NATO sample policy loads: {e}"));
        crate::label::PolicySet::new(nato)
    })
}
