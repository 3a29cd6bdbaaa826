//! What a session says about itself when asked: service discovery (XEP-0030 `disco#info`) with
//! the features it really implements, software version (XEP-0092: the gateway's name and
//! version, no operating system), and ping (XEP-0199). Anything else is not answered here (the
//! worker refuses it with `service-unavailable`).

use minidom::Element;

use super::muc::attr_name;

const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_VERSION: &str = "jabber:iq:version";
const NS_PING: &str = "urn:xmpp:ping";

/// The features a labelgate session implements.
pub const FEATURES: &[&str] = &[
    NS_DISCO_INFO,
    NS_PING,
    NS_VERSION,
    "http://jabber.org/protocol/muc",
    "urn:xmpp:sec-label:0",
    "urn:xmpp:sid:0",
    "urn:xmpp:delay",
];

/// The answer to a `get` with this payload: `Some(None)` an empty result (ping),
/// `Some(Some(payload))` a result with a payload, `None` not one of ours.
pub fn answer_get(payload: &Element) -> Option<Option<Element>> {
    if payload.is("ping", NS_PING) {
        return Some(None);
    }
    if payload.is("query", NS_DISCO_INFO) {
        // A node we do not have is not ours to answer (the worker refuses it).
        if payload.attr("node").is_some() {
            return None;
        }
        let mut q = Element::builder("query", NS_DISCO_INFO).append(
            Element::builder("identity", NS_DISCO_INFO)
                .attr(attr_name("category"), "client")
                .attr(attr_name("type"), "pc")
                .attr(attr_name("name"), "labelgate (IRC gateway)")
                .build(),
        );
        for f in FEATURES {
            q = q.append(
                Element::builder("feature", NS_DISCO_INFO)
                    .attr(attr_name("var"), *f)
                    .build(),
            );
        }
        return Some(Some(q.build()));
    }
    if payload.is("query", NS_VERSION) {
        let q = Element::builder("query", NS_VERSION)
            .append(
                Element::builder("name", NS_VERSION)
                    .append("labelgate")
                    .build(),
            )
            .append(
                Element::builder("version", NS_VERSION)
                    .append(env!("CARGO_PKG_VERSION"))
                    .build(),
            )
            .build();
        return Some(Some(q));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_what_it_implements_and_nothing_else() {
        let disco: Element = "<query xmlns='http://jabber.org/protocol/disco#info'/>"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(Some(a)) = answer_get(&disco) else {
            panic!("no disco answer")
        };
        let vars: Vec<&str> = a
            .children()
            .filter(|c| c.name() == "feature")
            .filter_map(|c| c.attr("var"))
            .collect();
        assert!(vars.contains(&"urn:xmpp:sec-label:0"));
        let node: Element = "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer_get(&node).is_none());
        let other: Element = "<query xmlns='jabber:iq:roster'/>"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer_get(&other).is_none());
        let version: Element = "<query xmlns='jabber:iq:version'/>"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(Some(v)) = answer_get(&version) else {
            panic!("no version answer")
        };
        assert!(
            v.children()
                .any(|c| c.name() == "name" && c.text() == "labelgate")
        );
        assert!(!v.children().any(|c| c.name() == "os"));
    }
}
