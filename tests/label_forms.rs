//! A mapping's label forms end to end (issue 16: label transformation, languages,
//! ADatP-4774), against the project's ejabberd with slixmpp as the XMPP occupant: a NATO room
//! whose markings are French on IRC, whose labels are written to the room as ADatP-4774 XML,
//! and whose operator gave IRC a table of short markings. Labels typed on IRC in French, in
//! English or from the table reach the room as the same label; labels from the room, in
//! either encoding, reach IRC in the mapping's form; what the form cannot read, or what is
//! above the sender's clearance, is refused with a reply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;

use bridge::{Gateway, PASSWORD, channel, hashed};
use common::{room, server, unique};
use labelgate::config::users::Users;
use labelgate::label::{PolicySet, load_policy};
use slix::{Received, Slix};

/// The NATO policy of ADatP-4774 (whose markings have French forms), as the gateway's policy.
fn nato() -> Arc<PolicySet> {
    let p = format!(
        "{}/tests/fixtures/spif/nato-4774-policy.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    Arc::new(PolicySet::new(
        load_policy(&std::fs::read_to_string(p).unwrap()).unwrap(),
    ))
}

/// The ADatP-4774 XML label with this classification and the NATO context.
fn adatp_4774(class: &str) -> String {
    format!(
        "<originatorConfidentialityLabel xmlns='urn:nato:stanag:4774:confidentialitymetadatalabel:1:0'>\
         <ConfidentialityInformation><PolicyIdentifier URL='urn:oid:1.3.26.1.3.1'>NATO</PolicyIdentifier>\
         <Classification>{class}</Classification><Category TagName='Context' Type='PERMISSIVE'>\
         <GenericValue>NATO</GenericValue></Category></ConfidentialityInformation>\
         </originatorConfidentialityLabel>"
    )
}

/// The next room line from olive, with the classification its ADatP-4774 label carries.
async fn from_olive(x: &mut Slix) -> (Received, String) {
    let m = x.message_from("olive", Some("groupchat"), 10).await;
    let xml = m.label_xml.clone().unwrap_or_default();
    let class = xml
        .split("Classification>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or("")
        .to_owned();
    (m, class)
}

/// A gateway with `mapping` and one user, olive (`account`, `clearance`), on IRC in `chan`;
/// xavier (slixmpp) in the room `r`.
async fn scene(
    pol: &Arc<PolicySet>,
    mapping: &str,
    r: &jid::BareJid,
    chan: &str,
    account: &str,
    clearance: &str,
) -> (Gateway, Slix, irc::Raw) {
    let users = Users::parse(
        Path::new("users.toml"),
        &format!(
            "jid_template = \"{{account}}@labelgate.test\"\n[[user]]\naccount = \"{account}\"\n\
             clearance = \"{clearance}\"\npassword = \"{}\"\n",
            hashed()
        ),
        pol.primary(),
    )
    .unwrap();
    let endpoint = common::endpoint(
        common::Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    let gw = Gateway::start(endpoint, pol.clone(), mapping, users, irc::config()).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&r.to_string(), "xavier").await;
    let mut o = irc::Raw::login(gw.addr, "olive", account, PASSWORD).await;
    o.send(&format!("JOIN {chan}")).await;
    o.until(&format!(" 366 olive {chan}")).await;
    (gw, x, o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_french_adatp_4774_room_with_a_marking_table() {
    let pol = nato();
    let r = room(&unique("otan"));
    let olive = unique("olive");
    let mapping = format!(
        "{}marking_language = \"fr\"\nlabel_format = \"adatp-4774\"\n\n\
         [channel.irc_markings]\n\"NATO CONFIDENTIAL\" = \"NC\"\n",
        channel("#otan", &r, "NATO UNCLASSIFIED", "SECRET, Context:NATO"),
    );
    let (_gw, mut x, mut o) = scene(
        &pol,
        &mapping,
        &r,
        "#otan",
        &olive,
        "CONFIDENTIAL, Context:NATO",
    )
    .await;

    // Typed in French: the room gets the French display marking and an ADatP-4774 label
    // (no ESS payload) of the same classification.
    o.send("PRIVMSG #otan :[NATO DIFFUSION RESTREINTE] bonjour")
        .await;
    let (m, class) = from_olive(&mut x).await;
    assert_eq!(m.display.as_deref(), Some("NATO DIFFUSION RESTREINTE"));
    assert_eq!(class, "RESTRICTED", "{:?}", m.label_xml);
    assert!(m.ess.is_none(), "{m:?}");
    assert!(m.body.as_deref().unwrap().ends_with("bonjour"), "{m:?}");

    // The table's short form reads as its label; the English marking is still read.
    o.send("PRIVMSG #otan :[NC] court").await;
    let (m, class) = from_olive(&mut x).await;
    assert_eq!(class, "CONFIDENTIAL", "{m:?}");
    assert_eq!(m.display.as_deref(), Some("NATO CONFIDENTIEL"));
    o.send("PRIVMSG #otan :[NATO RESTRICTED] in English").await;
    let (_, class) = from_olive(&mut x).await;
    assert_eq!(class, "RESTRICTED");
    // No marking: the room's default label, written as ADatP-4774.
    o.send("PRIVMSG #otan :sans marquage").await;
    let (m, class) = from_olive(&mut x).await;
    assert_eq!(class, "UNCLASSIFIED", "{m:?}");
    assert_eq!(m.display.as_deref(), Some("NATO SANS CLASSIFICATION"));

    // Above olive's clearance (in French) and a marking the form cannot read: refused, told,
    // and nothing reaches the room (the next line xavier sees is the probe).
    o.send("PRIVMSG #otan :[NATO SECRET] trop haut").await;
    let n = o.until("[#otan]").await;
    assert!(n.contains("clearance does not cover"), "{n}");
    o.send("PRIVMSG #otan :[NATO TRES SECRET INCONNU] inconnu")
        .await;
    let n = o.until("[#otan]").await;
    assert!(
        n.contains("[NATO TRES SECRET INCONNU] is not a valid label") && n.contains("`INCONNU`"),
        "{n}"
    );
    o.send("PRIVMSG #otan :[NC] sonde").await;
    let (m, _) = from_olive(&mut x).await;
    assert!(m.body.as_deref().unwrap().ends_with("sonde"), "{m:?}");

    // From the room: an ADatP-4774 CONFIDENTIAL line shows on IRC in the table's form; an ESS
    // RESTRICTED line in French; a SECRET line is above olive's clearance and withheld.
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>de xavier</body>\
         <securitylabel xmlns='urn:xmpp:sec-label:0'><label>{}</label></securitylabel></message>",
        adatp_4774("CONFIDENTIAL")
    ))
    .await;
    let l = o.until("de xavier").await;
    assert!(l.contains(":[NC] de xavier"), "{l}");
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>secret de xavier</body>\
         <securitylabel xmlns='urn:xmpp:sec-label:0'><label>{}</label></securitylabel></message>",
        adatp_4774("SECRET")
    ))
    .await;
    let ess = bridge::label_element(&pol, "NATO RESTRICTED").to_xml();
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>ess de xavier</body>{ess}</message>"
    ))
    .await;
    let lines = o.lines_until("ess de xavier").await;
    assert!(
        lines
            .last()
            .unwrap()
            .contains(":[NATO DIFFUSION RESTREINTE] ess de xavier"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("secret de xavier")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivalent_policy_shown_on_irc() {
    let load = |f: &str| {
        let p = format!("{}/tests/fixtures/spif/{f}", env!("CARGO_MANIFEST_DIR"));
        load_policy(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let mut set = PolicySet::new(load("tlp-plus.xml"));
    set.add(load("tlp.xml"));
    let pol = Arc::new(set);
    let r = room(&unique("tlpx"));
    let olive = unique("olive");
    let mapping = format!(
        "{}irc_policy = \"TLP\"\n",
        channel("#tlp", &r, "GREEN", "GREEN")
    );
    let (gw, mut x, mut o) = scene(&pol, &mapping, &r, "#tlp", &olive, "GREEN").await;
    let white = pol.primary().parse_marking("WHITE").unwrap();

    // Typed in TLP: the room gets the TLPX label and marking.
    o.send("PRIVMSG #tlp :[TLP:WHITE [Imported Data]] from irc")
        .await;
    let m = x.message_from("olive", Some("groupchat"), 10).await;
    assert_eq!(m.display.as_deref(), Some("TLPX:WHITE"), "{m:?}");
    assert_eq!(m.ess.as_deref(), Some(white.to_base64().as_str()), "{m:?}");
    // This room's IRC form is TLP: the room policy's own marking is not read on IRC (refused,
    // naming the policy it was read under).
    o.send("PRIVMSG #tlp :[TLPX:WHITE] own marking").await;
    let n = o.until("[#tlp]").await;
    assert!(
        n.contains("Not sent") && n.contains("`TLPX:WHITE`") && n.contains("policy TLP"),
        "{n}"
    );
    // RED is above olive's clearance.
    o.send("PRIVMSG #tlp :[TLP:RED [Imported Data]] too high")
        .await;
    let n = o.until("[#tlp]").await;
    assert!(n.contains("Not sent") && n.contains("clearance"), "{n}");
    // From the room: shown in TLP.
    x.send(
        &r.to_string(),
        "from xmpp",
        Some(slix::SlixLabel::marking(&pol, "WHITE")),
    )
    .await;
    let l = o.until("from xmpp").await;
    assert!(l.contains(":[TLP:WHITE [Imported Data]] from xmpp"), "{l}");
    drop(gw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_reads_and_types_markings_in_their_own_language() {
    let pol = nato();
    let r = room(&unique("langues"));
    let (olive, ed) = (unique("olive"), unique("ed"));
    // The room's own language is the policy's default (English).
    let mapping = channel("#langues", &r, "NATO UNCLASSIFIED", "SECRET, Context:NATO");
    let users_text = format!(
        "jid_template = \"{{account}}@labelgate.test\"\n\
         [[user]]\naccount = \"{olive}\"\nclearance = \"SECRET, Context:NATO\"\npassword = \"{h}\"\nmarking_language = \"fr\"\n\
         [[user]]\naccount = \"{ed}\"\nclearance = \"SECRET, Context:NATO\"\npassword = \"{h}\"\n",
        h = hashed()
    );
    let users = Users::parse(Path::new("users.toml"), &users_text, pol.primary()).unwrap();
    // A language the policy has no markings in is refused, naming the account and the file.
    let bad = users_text.replace("marking_language = \"fr\"", "marking_language = \"de\"");
    let e = Users::parse(Path::new("users.toml"), &bad, pol.primary())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("users.toml:") && e.contains("marking_language `de`") && e.contains("fr"),
        "{e}"
    );
    let endpoint = common::endpoint(
        common::Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    let gw = Gateway::start(endpoint, pol.clone(), &mapping, users, irc::config()).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&r.to_string(), "xavier").await;
    let mut o = irc::Raw::login(gw.addr, "olive", &olive, PASSWORD).await;
    let mut e = irc::Raw::login(gw.addr, "ed", &ed, PASSWORD).await;
    for c in [&mut o, &mut e] {
        c.send("JOIN #langues").await;
        c.until(" 366 ").await;
    }

    // One line from the room: olive reads its marking in French, ed in English.
    let ess = bridge::label_element(&pol, "NATO RESTRICTED").to_xml();
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>pour tous</body>{ess}</message>"
    ))
    .await;
    let l = o.until("pour tous").await;
    assert!(l.contains(":[NATO DIFFUSION RESTREINTE] pour tous"), "{l}");
    let l = e.until("pour tous").await;
    assert!(l.contains(":[NATO RESTRICTED] pour tous"), "{l}");

    // olive types in French: the room gets the label, its display marking in the room's
    // language (English); ed sees it in English, olive's echo-less view aside.
    o.send("PRIVMSG #langues :[NATO CONFIDENTIEL] salut").await;
    let m = x.message_from("olive", Some("groupchat"), 10).await;
    assert_eq!(m.display.as_deref(), Some("NATO CONFIDENTIAL"), "{m:?}");
    let l = e.until("salut").await;
    assert!(l.contains(":[NATO CONFIDENTIAL] salut"), "{l}");
    // ed's French is not read as a marking in his English form: refused, told.
    e.send("PRIVMSG #langues :[NATO CONFIDENTIEL] hello").await;
    let n = e.until("[#langues]").await;
    assert!(n.contains("not a valid label"), "{n}");
    // The channel's label facts are in each reader's language.
    o.send("LABELS #langues").await;
    let f = o.until("a line without a marking goes out as").await;
    assert!(f.contains("NATO SANS CLASSIFICATION"), "{f}");
}

/// A `<securitylabel>` carrying `label` in the MISSI form, as XML text.
fn missi_xml(label: &labelgate::label::Label) -> String {
    let der = label.to_der_missi().unwrap();
    format!(
        "<securitylabel xmlns='urn:xmpp:sec-label:0'><label><esssecuritylabel \
         xmlns='urn:xmpp:sec-label:ess:0'>{}</esssecuritylabel></label></securitylabel>",
        labelgate::label::ess::encode_base64(&der)
    )
}

/// A room under a policy whose SPIF names the MISSI rbacId: what an IRC user types reaches the
/// room with its categories in the MISSI form, and MISSI-form labels from the room are read
/// (their enumerated values placed as the policy defines them), decided and shown — or withheld
/// when above the user's clearance or not resolvable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_under_a_missi_policy() {
    let p = format!(
        "{}/tests/fixtures/spif/food-policy-missi.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let pol = Arc::new(PolicySet::new(
        load_policy(&std::fs::read_to_string(p).unwrap()).unwrap(),
    ));
    let r = room(&unique("missi"));
    let olive = unique("olive");
    // The policy's markings carry their own brackets: the room marks lines in parentheses.
    let mapping = format!(
        "{}flot_template = \"({{marking}}) \"\nflot_pattern = '\\((?P<marking>[^)]+)\\)\\s?'\n",
        channel(
            "#food",
            &r,
            "Commodity",
            "Ambrosia, Taste Sensations:*, Allergens:*, Ethics:*"
        ),
    );
    let (_gw, mut x, mut o) = scene(
        &pol,
        &mapping,
        &r,
        "#food",
        &olive,
        "Ambrosia, Taste Sensations:*, Allergens:*, Ethics:Not Vegan",
    )
    .await;
    let policy = pol.primary();
    let marking = "Commodity Crunchy Sweet Red Contains Lactose Not Vegan";
    let label = policy.parse_marking(marking).unwrap();

    // Typed on IRC: the room gets the label in the MISSI form.
    o.send(&format!("PRIVMSG #food :({marking}) hello")).await;
    let m = x.message_from("olive", Some("groupchat"), 10).await;
    let der = labelgate::label::ess::decode_base64(m.ess.as_deref().unwrap()).unwrap();
    assert_eq!(der, label.to_der_missi().unwrap(), "{m:?}");
    assert!(m.body.as_deref().unwrap().ends_with("hello"), "{m:?}");

    // From the room, in the MISSI form: shown with its marking.
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>from xavier</body>{}</message>",
        missi_xml(&label)
    ))
    .await;
    let l = o.until("from xavier").await;
    let shown = policy.render_marking(&label).unwrap();
    assert!(l.contains(&format!(":({shown}) from xavier")), "{l}");
    // Not Fairtrade is beyond olive's clearance: withheld. An enumerated value the policy does
    // not define cannot be placed: withheld (audited, fails closed).
    let fair = policy.parse_marking("Commodity Not Fairtrade").unwrap();
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>not for olive</body>{}</message>",
        missi_xml(&fair)
    ))
    .await;
    let mut odd = policy.parse_marking("Commodity Not Vegan").unwrap();
    odd.categories = odd
        .categories
        .into_iter()
        .map(|c| labelgate::label::Category { lacv: 7, ..c })
        .collect();
    x.raw(&format!(
        "<message to='{r}' type='groupchat'><body>unplaceable</body>{}</message>",
        missi_xml(&odd)
    ))
    .await;
    x.send(&r.to_string(), "sentinel food", None).await;
    let lines = o.lines_until("sentinel food").await;
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("not for olive") || l.contains("unplaceable")),
        "{lines:#?}"
    );
}
