//! File transfer in a received stanza: out-of-band data (XEP-0066, which HTTP upload, XEP-0363,
//! uses to carry its links), stateless file sharing (XEP-0447), file references (SIMS,
//! XEP-0385) and Jingle file transfer offers (XEP-0234, XEP-0353). labelgate never passes any of
//! them on: a file's contents carry no label the gateway could decide.

use minidom::Element;

const NS_OOB: &str = "jabber:x:oob";
const NS_SFS: &str = "urn:xmpp:sfs:0";
const NS_REFERENCE: &str = "urn:xmpp:reference:0";
const NS_SIMS: &str = "urn:xmpp:sims:1";
const NS_JINGLE_MESSAGE: &str = "urn:xmpp:jingle-message:0";
const NS_JINGLE_FT: &str = "urn:xmpp:jingle:apps:file-transfer:5";

/// The kind of file transfer a stanza's payloads hold, if any.
pub fn offer(payloads: &[Element]) -> Option<&'static str> {
    payloads.iter().find_map(kind)
}

fn kind(e: &Element) -> Option<&'static str> {
    if e.has_ns(NS_OOB) {
        Some("out-of-band data (XEP-0066)")
    } else if e.has_ns(NS_SFS) {
        Some("stateless file sharing (XEP-0447)")
    } else if e.is("reference", NS_REFERENCE) && e.children().any(|c| c.has_ns(NS_SIMS)) {
        Some("a file reference (XEP-0385)")
    } else if e.has_ns(NS_JINGLE_MESSAGE) || e.has_ns(NS_JINGLE_FT) {
        Some("a Jingle offer (XEP-0353)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    #[test]
    fn each_kind_is_found_and_other_payloads_are_not() {
        let oob = el("<x xmlns='jabber:x:oob'><url>https://h/f</url></x>");
        let sfs = el("<file-sharing xmlns='urn:xmpp:sfs:0'/>");
        let sims = el(
            "<reference xmlns='urn:xmpp:reference:0' type='data'><media-sharing xmlns='urn:xmpp:sims:1'/></reference>",
        );
        let mention = el("<reference xmlns='urn:xmpp:reference:0' type='mention'/>");
        let jingle = el("<propose xmlns='urn:xmpp:jingle-message:0' id='a'/>");
        let html = el("<html xmlns='http://jabber.org/protocol/xhtml-im'/>");
        for (e, found) in [
            (&oob, true),
            (&sfs, true),
            (&sims, true),
            (&jingle, true),
            (&mention, false),
            (&html, false),
        ] {
            assert_eq!(offer(std::slice::from_ref(e)).is_some(), found, "{e:?}");
        }
    }
}
