//! Side channels, against the project's ejabberd with slixmpp as the other occupants: subjects
//! and topics, presence status and part/kick reasons, error stanzas, unusable labels with
//! equivalents, the room's ceiling on the way in, forged delays. Each crosses only as decided
//! for its label, or not at all; each refusal is audited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/scene.rs"]
mod scene;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use bridge::{Gateway, PASSWORD, channel, label_element};
use common::{room, server, unique};
use scene::Scene;
use slix::{Slix, SlixLabel};

/// The XML of a XEP-0258 label for a marking of the demo policy.
fn label_xml(p: &labelgate::label::PolicySet, marking: &str) -> String {
    label_element(p, marking).to_xml()
}

/// Nothing in `lines` mentions `text`.
fn unseen(lines: &[String], text: &str) {
    assert!(
        !lines.iter().any(|l| l.contains(text)),
        "{text:?} reached IRC: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_reach_only_those_cleared_for_their_label() {
    let pol = support::demo_policies();
    let ops = room(&unique("subject"));
    let (o, s, l) = (unique("olive"), unique("sam"), unique("late"));
    let gw = Gateway::on_test_server(
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        &[(&o, "OFFICIAL"), (&s, "SECRET, UK"), (&l, "OFFICIAL")],
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    // Set while no gateway user is in the room: its label is unknown to the gateway, and the
    // room replays it on join without one.
    let secret = label_xml(&pol, "SECRET UK EYES ONLY");
    x.raw(&format!(
        "<message to='{ops}' type='groupchat'><subject>set in the dark</subject>{secret}</message>"
    ))
    .await;
    let official = || Some(SlixLabel::marking(&pol, "OFFICIAL"));
    x.send(&ops.to_string(), "sentinel zero", official()).await;
    x.message(10).await;
    let mut olive = irc::Raw::login(gw.addr, "olive", &o, PASSWORD).await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    for c in [&mut olive, &mut sam] {
        c.send("JOIN #ops").await;
        c.until(" 366 ").await;
    }
    x.send(&ops.to_string(), "sentinel dark", official()).await;
    for c in [&mut olive, &mut sam] {
        unseen(&c.lines_until("sentinel dark").await, "set in the dark");
    }

    // A subject carrying a SECRET label: sam sees it, olive does not.
    x.raw(&format!(
        "<message to='{ops}' type='groupchat'><subject>plan of attack</subject>{secret}</message>"
    ))
    .await;
    let t = sam.until(" TOPIC #ops").await;
    assert!(t.ends_with(" TOPIC #ops :plan of attack"), "{t}");
    x.send(&ops.to_string(), "sentinel one", official()).await;
    unseen(&olive.lines_until("sentinel one").await, "plan of attack");

    // Nor does someone who joins while it is the subject.
    let mut late = irc::Raw::login(gw.addr, "late", &l, PASSWORD).await;
    late.send("JOIN #ops").await;
    late.until(" 366 ").await;
    x.send(&ops.to_string(), "sentinel two", official()).await;
    unseen(&late.lines_until("sentinel two").await, "plan of attack");

    // A subject without a label is at the room's label: everyone sees it.
    x.subject(&ops.to_string(), "all hands at noon").await;
    for c in [&mut olive, &mut sam, &mut late] {
        let t = c.until(" TOPIC #ops").await;
        assert!(t.ends_with(":all hands at noon"), "{t}");
    }
    // The withheld ones were decided and audited.
    let denied = gw
        .records()
        .into_iter()
        .filter(|r| r["what"] == "subject" && r["decision"] == "deny")
        .filter(|r| r["account"] == o.as_str() || r["account"] == l.as_str())
        .count();
    assert!(denied >= 2, "{denied} subject denials audited");
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_typed_on_irc_is_read_and_decided_like_a_message() {
    let pol = support::demo_policies();
    let ops = room(&unique("topic"));
    let (o, s) = (unique("olive"), unique("sam"));
    let gw = Gateway::on_test_server(
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        &[(&o, "OFFICIAL"), (&s, "SECRET, UK")],
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    let mut olive = irc::Raw::login(gw.addr, "olive", &o, PASSWORD).await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    for c in [&mut olive, &mut sam] {
        c.send("JOIN #ops").await;
        c.until(" 366 ").await;
    }

    sam.send("TOPIC #ops :[SECRET UK EYES ONLY] the real plan")
        .await;
    let m = x.message(10).await;
    assert_eq!(m.nick, "sam");
    assert_eq!(
        m.subject.as_deref(),
        Some("[DEMO-UK SECRET - UK EYES ONLY] the real plan")
    );
    assert_eq!(
        m.display.as_deref(),
        Some("DEMO-UK SECRET - UK EYES ONLY"),
        "the subject carries its label"
    );
    let t = sam.until(" TOPIC #ops").await;
    assert!(t.contains("the real plan"), "{t}");
    x.send(
        &ops.to_string(),
        "after the topic",
        Some(SlixLabel::marking(&pol, "OFFICIAL")),
    )
    .await;
    unseen(&olive.lines_until("after the topic").await, "real plan");

    // Above the room, above the sender: refused, and nothing reaches the room.
    sam.send("TOPIC #ops :[TOP SECRET] too high").await;
    let l = sam.until("Not sent").await;
    assert!(l.contains("[#ops] Not sent: "), "{l}");
    olive.send("TOPIC #ops :[SECRET] not mine").await;
    let l = olive.until("Not sent").await;
    assert!(l.contains("your clearance does not cover"), "{l}");
    olive.send("PRIVMSG #ops :sentinel").await;
    let next = loop {
        let m = x.message(10).await;
        if m.nick != "xavier" {
            break m;
        }
    };
    assert_eq!(next.body.as_deref(), Some("[DEMO-UK OFFICIAL] sentinel"));
    assert_eq!(next.subject, None);
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_status_and_reasons_are_folded_or_decided() {
    let pol = support::demo_policies();
    let (fold, open) = (room(&unique("fold")), room(&unique("open")));
    let s = unique("sam");
    let mappings = format!(
        "{}{}presence_status = \"room-label\"\n\n",
        channel("#fold", &fold, "OFFICIAL", "SECRET, UK"),
        channel("#open", &open, "OFFICIAL", "SECRET, UK")
    );
    let gw = Gateway::on_test_server(pol.clone(), &mappings, &[(&s, "SECRET, UK")]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&fold.to_string(), "xavier").await;
    x.join(&open.to_string(), "xavier").await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    sam.send("JOIN #fold,#open").await;
    sam.until("#open :End of").await;

    // IRC → XMPP: folded in #fold (and the user told), at the room's label in #open.
    sam.send("PART #fold :off to the bunker").await;
    let l = sam.until("part message").await;
    assert!(
        l.contains("[#fold] Your part message was not passed on"),
        "{l}"
    );
    let p = x
        .presence_of(&fold.to_string(), "sam", "unavailable", 10)
        .await;
    assert_eq!(
        (p["type"].as_str(), p["status"].as_str()),
        (Some("unavailable"), None)
    );
    sam.send("PART #open :[SECRET UK EYES ONLY] the bunker")
        .await;
    let l = sam.until("part message").await;
    assert!(l.contains("can only be at the room's label"), "{l}");
    let p = x
        .presence_of(&open.to_string(), "sam", "unavailable", 10)
        .await;
    assert_eq!(p["status"].as_str(), None);
    sam.send("JOIN #fold,#open").await;
    sam.until("#open :End of").await;
    sam.send("PART #open :lunch, back at two").await;
    let p = x
        .presence_of(&open.to_string(), "sam", "unavailable", 10)
        .await;
    assert_eq!(p["status"].as_str(), Some("lunch, back at two"));
    sam.send("JOIN #open").await;
    sam.until("#open :End of").await;

    // XMPP → IRC: an occupant's status folded away in #fold, shown in #open.
    x.leave(
        &fold.to_string(),
        "xavier",
        Some("[SECRET] gone to the bunker"),
    )
    .await;
    let l = sam.until("PART ").await;
    assert!(
        l.ends_with(" PART #fold") || l.ends_with(" PART :#fold"),
        "no reason may cross: {l}"
    );
    x.leave(&open.to_string(), "xavier", Some("see you")).await;
    let l = sam.until(" PART #open").await;
    assert!(l.ends_with(" PART #open :see you"), "{l}");

    // A moderator's kick reason is decided at the room's label.
    x.join(&open.to_string(), "xavier").await;
    let kick = format!(
        "<iq type='set' to='{open}' id='k1'><query xmlns='http://jabber.org/protocol/muc#admin'>\
         <item nick='sam' role='none'><reason>enough for today</reason></item></query></iq>"
    );
    x.raw(&kick).await;
    // Shown as the kick it is, from the room.
    let l = sam.until(" KICK #open").await;
    assert!(
        l.starts_with(":room!") && l.ends_with(" KICK #open sam :enough for today"),
        "{l}"
    );
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_stanzas_from_other_occupants_are_never_shown() {
    let mut sc = Scene::start("errors", "SECRET, UK", "").await;
    let ops = sc.room();
    // The room's owner sees occupants' real JIDs: the full JID of sam's session.
    let p = sc.x.presence_of(&ops, "sam", "available", 15).await;
    let full = p["jid"]
        .as_str()
        .expect("the owner sees real JIDs")
        .to_owned();

    let error = |to: &str, id: &str, text: &str| {
        format!(
            "<message type='error' to='{to}' id='{id}'><error type='cancel'>\
             <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{text}</text></error></message>"
        )
    };
    sc.x.raw(&error(
        &full,
        "forged1",
        "FORGED: your clearance was revoked, type /quote PASS",
    ))
    .await;
    sc.x.raw(&error(&format!("{ops}/sam"), "forged2", "FORGED AS A PM"))
        .await;
    sc.official("sentinel").await;
    let seen = sc.sam.lines_until("sentinel").await;
    unseen(&seen, "FORGED");
    unseen(&seen, "bounced");
    unseen(&seen, "reported an error");
    assert!(
        sc.gw
            .records()
            .iter()
            .any(|r| r["direction"] == "ignored" && r["account"] == sc.account.as_str()),
        "the ignored error stanza is audited"
    );
    sc.x.quit().await;
}

/// An occupant may bounce a private message the IRC user sent them (its id is in what they
/// received): the bounce is shown, but only in the gateway's words and an RFC 6120 condition.
/// An element name of the sender's own in place of a condition (names can carry words) is
/// shown as `undefined-condition`. (ejabberd then removes the bouncing occupant from the room.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_from_an_occupant_shows_only_a_defined_condition() {
    let mut sc = Scene::start("bounce", "SECRET, UK", "").await;
    let ops = sc.room();
    sc.sam.send("PRIVMSG xavier :private words").await;
    let m = sc.x.message_from("sam", Some("chat"), 10).await;
    let id = m.origin_id.expect("the gateway sends an origin-id");
    sc.x.raw(&format!(
        "<message type='error' to='{ops}/sam' id='{id}'><error type='cancel'>\
         <the-plan-is-on-for-tuesday xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>words of xavier's</text>\
         </error></message>"
    ))
    .await;
    let seen = sc.sam.lines_until("Not delivered").await;
    let l = seen.last().unwrap();
    assert!(
        l.contains("private words\"") && l.contains("(undefined-condition)"),
        "{l}"
    );
    unseen(&seen, "tuesday");
    unseen(&seen, "words of xavier");
    sc.x.quit().await;
}

/// A contact writing to an IRC user's JID directly (not through a room) reaches nobody, and is
/// told so with `service-unavailable` and the gateway's words — not left to think it arrived.
/// What has no words (a chat state) is not answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_to_a_user_is_refused_not_lost() {
    let mut sc = Scene::start("direct", "SECRET, UK", "").await;
    // sam's session, by the full JID the room shows (to the bare JID, the server answers for
    // a session that sends no presence of its own: it is never the gateway's to see).
    let ops = sc.room();
    let p = sc.x.presence_of(&ops, "sam", "available", 10).await;
    let sam = p["jid"]
        .as_str()
        .expect("the room shows real JIDs")
        .to_owned();
    assert!(sam.contains('/'), "{sam}");
    sc.x.raw(&format!(
        "<message type='chat' to='{sam}' id='d1'>\
         <active xmlns='http://jabber.org/protocol/chatstates'/></message>"
    ))
    .await;
    sc.x.raw(&format!(
        "<message type='chat' to='{sam}' id='d2'><body>direct words</body></message>"
    ))
    .await;
    sc.x.raw(&format!(
        "<message to='{sam}' id='d3'><body>a normal one</body></message>"
    ))
    .await;
    let mut errors = Vec::new();
    while errors.len() < 2 {
        let m = sc.x.message(10).await;
        if m.kind == "error" {
            errors.push(m);
        }
    }
    // The two with words, not the chat state, each with the gateway's words.
    for (m, id) in errors.iter().zip(["d2", "d3"]) {
        assert_eq!(m.stanza.as_deref(), Some(id));
        assert_eq!(m.condition.as_deref(), Some("service-unavailable"));
        assert!(
            m.error_text
                .as_deref()
                .is_some_and(|t| t.contains("through labelgate's IRC gateway")),
            "{:?}",
            m.error_text
        );
    }
    // sam saw none of it; the room still works for him.
    sc.official("after the direct ones").await;
    let seen = sc.sam.lines_until("after the direct ones").await;
    unseen(&seen, "direct words");
    unseen(&seen, "a normal one");
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_primary_labels_are_withheld_whatever_the_equivalents() {
    let mut sc = Scene::start("equiv", "SECRET, UK", "").await;
    let (pol, ops) = (sc.pol.clone(), sc.room());
    let sl = |ess: &str, equivalent: &str| {
        format!(
            "<securitylabel xmlns='urn:xmpp:sec-label:0'><displaymarking>OFFICIAL</displaymarking>\
             <label><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>{ess}</esssecuritylabel>\
             </label>{equivalent}</securitylabel>"
        )
    };
    let official_ess = pol.primary().parse_marking("OFFICIAL").unwrap().to_base64();
    let cases = [
        // An unknown policy (1.1) with an empty equivalent label.
        ("unknown policy", sl("MQYCAQQGASk=", "<equivalentlabel/>")),
        // An unreadable primary with an empty equivalent.
        ("unreadable", sl("!!not base64!!", "<equivalentlabel/>")),
        // An unknown policy with a usable-looking equivalent: still no way round the primary.
        (
            "equivalent only",
            sl(
                "MQYCAQQGASk=",
                &format!(
                    "<equivalentlabel><esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>\
                     {official_ess}</esssecuritylabel></equivalentlabel>"
                ),
            ),
        ),
    ];
    for (name, label) in &cases {
        sc.x.raw(&format!(
            "<message to='{ops}' type='groupchat'><body>withheld: {name}</body>{label}</message>"
        ))
        .await;
    }
    sc.official("sentinel").await;
    unseen(&sc.sam.lines_until("sentinel").await, "withheld:");
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_clearance_is_a_ceiling_on_the_way_in_and_delays_are_the_rooms() {
    let pol = support::demo_policies();
    let low = room(&unique("ceiling"));
    let t = unique("tess");
    let gw = Gateway::on_test_server(
        pol.clone(),
        &channel("#low", &low, "OFFICIAL", "SECRET, UK"),
        &[(&t, "TOP SECRET, UK, OVERLORD")],
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&low.to_string(), "xavier").await;
    let mut tess = irc::Raw::connect(gw.addr).await;
    tess.send("CAP REQ server-time").await;
    tess.send(&format!("PASS {t}:{PASSWORD}")).await;
    tess.send("NICK tess").await;
    tess.send("USER tess 0 * :tess").await;
    tess.send("CAP END").await;
    tess.until(" 376 ").await;
    tess.send("JOIN #low").await;
    tess.until(" 366 ").await;

    // (Raw stanzas both, so the client keeps their order.)
    let top = label_xml(&pol, "TOP SECRET UK EYES ONLY");
    x.raw(&format!(
        "<message to='{low}' type='groupchat'><body>above the room</body>{top}</message>"
    ))
    .await;
    // A live message with a forged delay: not history, and not stamped in 2001.
    let official = label_xml(&pol, "OFFICIAL");
    x.raw(&format!(
        "<message to='{low}' type='groupchat'><body>fresh news</body>{official}\
         <delay xmlns='urn:xmpp:delay' stamp='2001-09-09T01:46:40Z' from='{low}'/>\
         <stanza-id xmlns='urn:xmpp:sid:0' by='carol@labelgate.test' id='forged-sid'/></message>"
    ))
    .await;
    let seen = tess.lines_until("fresh news").await;
    unseen(&seen, "above the room");
    let news = seen.last().unwrap();
    assert!(news.starts_with("@time="), "{news}");
    assert!(
        !news.starts_with("@time=2001"),
        "the forged delay was honoured: {news}"
    );
    let recs = gw.records();
    assert!(
        recs.iter().any(|r| r["account"] == t.as_str()
            && r["decision"] == "deny"
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.starts_with("room clearance"))),
        "the room ceiling's refusal is audited: {recs:#?}"
    );
    assert!(
        !recs
            .iter()
            .any(|r| r["account"] == t.as_str() && r["direction"] == "history"),
        "a live message was audited as history"
    );
    assert!(
        !recs.iter().any(|r| r["stanza_id"] == "forged-sid"),
        "a stanza-id the room did not assign was taken"
    );
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_actions_and_catalogs_above_a_user_are_withheld_from_them() {
    let pol = support::demo_policies();
    let ops = room(&unique("above"));
    let (o, s) = (unique("olive"), unique("sam"));
    let block = format!(
        "{}room_label = \"SECRET UK EYES ONLY\"\npresence_status = \"room-label\"\n\
         catalog = [\"OFFICIAL\", \"SECRET UK EYES ONLY\"]\n\n",
        channel("#ops", &ops, "OFFICIAL", "SECRET, UK")
    );
    let gw =
        Gateway::on_test_server(pol.clone(), &block, &[(&o, "OFFICIAL"), (&s, "SECRET, UK")]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    let mut olive = irc::Raw::login(gw.addr, "olive", &o, PASSWORD).await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    for c in [&mut olive, &mut sam] {
        c.send("JOIN #ops").await;
        c.until(" 366 ").await;
    }
    // The catalog shown is the part each user is cleared for.
    olive.send("LABELS #ops").await;
    let l = olive.until("Catalog of #ops").await;
    assert!(
        l.ends_with(
            ":Catalog of #ops: DEMO-UK OFFICIAL (any label within the ceiling may be used)"
        ),
        "{l}"
    );
    // A SECRET /me from XMPP: an action, withheld like any body.
    x.send(
        &ops.to_string(),
        "/me hides the plan",
        Some(SlixLabel::marking(&pol, "SECRET UK EYES ONLY")),
    )
    .await;
    let l = sam.until("hides the plan").await;
    assert!(
        l.contains("\x01ACTION [DEMO-UK SECRET - UK EYES ONLY] hides the plan"),
        "{l}"
    );
    // Away with status text at a room label above olive: sam sees the text, olive only that
    // xavier is away, in the gateway's own word.
    x.raw(&format!(
        "<presence to='{ops}/xavier'><show>away</show><status>in the vault</status></presence>"
    ))
    .await;
    let away_of = async |c: &mut irc::Raw| loop {
        c.send("WHOIS xavier").await;
        let reply = c.lines_until(" 318 ").await;
        if let Some(l) = reply.iter().find(|l| l.contains(" 301 ")) {
            return l.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        away_of(&mut sam)
            .await
            .ends_with(" 301 sam xavier :in the vault")
    );
    let l = away_of(&mut olive).await;
    assert!(l.ends_with(" 301 olive xavier :away"), "{l}");
    // Status text at a room label above olive: sam sees it, olive sees only the PART.
    x.leave(&ops.to_string(), "xavier", Some("off to the bunker"))
        .await;
    let l = sam.until(" PART #ops").await;
    assert!(l.ends_with(" PART #ops :off to the bunker"), "{l}");
    let seen = olive.lines_until("PART ").await;
    unseen(&seen, "hides the plan");
    unseen(&seen, "bunker");
    x.quit().await;
}
