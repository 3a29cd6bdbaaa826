//! Boundary controls (issue 16), against the project's ejabberd with slixmpp as the other
//! occupant and raw IRC clients as the users: who may join (allow and deny lists, groups, the
//! authentication required), which traffic crosses (room messages, subjects, `/me`), limits
//! (size, rate), file transfer (never, both ways) and message folding. Each control refuses
//! with a reply to the person and an audit record naming the control; what is allowed still
//! crosses.

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

use bridge::{Gateway, PASSWORD, channel, hashed};
use common::{room, server, unique};
use labelgate::config::users::Users;
use slix::{Slix, SlixLabel};

/// A users file with each (account, clearance, groups), all with [`PASSWORD`].
fn users(p: &labelgate::label::PolicySet, accounts: &[(&str, &str, &[&str])]) -> Users {
    let hash = hashed();
    let mut text = String::from("jid_template = \"{account}@labelgate.test\"\n");
    for (account, clearance, groups) in accounts {
        let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        text.push_str(&format!(
            "[[user]]\naccount = \"{account}\"\nclearance = \"{clearance}\"\npassword = \"{hash}\"\ngroups = [{}]\n",
            groups.join(", ")
        ));
    }
    Users::parse(Path::new("users.toml"), &text, p.primary()).unwrap()
}

/// The audit records naming `control`.
fn by_control(gw: &Gateway, control: &str) -> Vec<serde_json::Value> {
    gw.records()
        .into_iter()
        .filter(|r| r["control"] == control)
        .collect()
}

/// The next room line xavier sees from olive.
async fn said(x: &mut Slix) -> String {
    let m = x.message_from("olive", Some("groupchat"), 10).await;
    m.body.unwrap_or_default()
}

async fn gateway(mapping_text: &str, accounts: &[(&str, &str, &[&str])]) -> Gateway {
    let pol = support::demo_policies();
    let u = users(&pol, accounts);
    let endpoint = common::endpoint(
        common::Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    Gateway::start(endpoint, pol, mapping_text, u, irc::config()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_join_is_decided_by_the_lists_and_the_login() {
    let (ops, cert) = (room(&unique("ops")), room(&unique("certonly")));
    let (olive, mallory, trent) = (unique("olive"), unique("mallory"), unique("trent"));
    let mapping = format!(
        "{}[channel.controls]\nallow = [\"@ops\"]\ndeny = [\"{mallory}\"]\n\n{}[channel.controls]\nauthentication = \"certificate\"\n",
        channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        channel("#cert", &cert, "OFFICIAL", "SECRET, UK"),
    );
    let gw = gateway(
        &mapping,
        &[
            (&olive, "OFFICIAL", &["ops"]),
            (&mallory, "OFFICIAL", &["ops"]),
            (&trent, "OFFICIAL", &[]),
        ],
    )
    .await;

    // In the group: admitted.
    let mut o = irc::Raw::login(gw.addr, "olive", &olive, PASSWORD).await;
    o.send("JOIN #ops").await;
    o.until(" 366 olive #ops").await;

    // In the group but on the deny list: 474, told why.
    let mut m = irc::Raw::login(gw.addr, "mallory", &mallory, PASSWORD).await;
    m.send("JOIN #ops").await;
    let refused = m.until(" 474 ").await;
    assert!(
        refused.contains("#ops") && refused.contains("deny list"),
        "{refused}"
    );
    m.until("You cannot join #ops").await;

    // Not in the group: 474.
    let mut t = irc::Raw::login(gw.addr, "trent", &trent, PASSWORD).await;
    t.send("JOIN #ops").await;
    let refused = t.until(" 474 ").await;
    assert!(refused.contains("allow list"), "{refused}");

    // A password login where a certificate is required: 477.
    o.send("JOIN #cert").await;
    let refused = o.until(" 477 ").await;
    assert!(
        refused.contains("#cert") && refused.contains("certificate login"),
        "{refused}"
    );
    for (control, account) in [
        ("deny", mallory.as_str()),
        ("allow", trent.as_str()),
        ("authentication", olive.as_str()),
    ] {
        let recs = by_control(&gw, control);
        assert_eq!(recs.len(), 1, "{control}: {recs:#?}");
        assert_eq!(recs[0]["account"], account, "{recs:#?}");
        assert_eq!(recs[0]["direction"], "join");
        assert_eq!(recs[0]["decision"], "deny");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_kinds_limits_files_and_folding() {
    let pol = support::demo_policies();
    let (talk, quiet) = (room(&unique("talk")), room(&unique("quiet")));
    let olive = unique("olive");
    let mapping = format!(
        "{}[channel.controls]\nactions = false\nmax_bytes = 40\nrate = 0.5\nburst = 3\n\n{}[channel.controls]\nroom_messages = false\nsubjects = false\n",
        channel("#talk", &talk, "OFFICIAL", "SECRET, UK"),
        channel("#quiet", &quiet, "OFFICIAL", "SECRET, UK"),
    );
    let gw = gateway(&mapping, &[(&olive, "SECRET, UK", &[])]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&talk.to_string(), "xavier").await;
    x.join(&quiet.to_string(), "xavier").await;
    let mut o = irc::Raw::login(gw.addr, "olive", &olive, PASSWORD).await;
    for c in ["#talk", "#quiet"] {
        o.send(&format!("JOIN {c}")).await;
        o.until(&format!(" 366 olive {c}")).await;
    }
    let official = || Some(SlixLabel::marking(&pol, "OFFICIAL"));

    // #talk: a short line crosses; `/me` and an overlong line are refused with the control's
    // words; the burst is 3 lines, so the fourth is refused for its rate.
    o.send("PRIVMSG #talk :short one").await;
    assert_eq!(said(&mut x).await, "[DEMO-UK OFFICIAL] short one");
    o.send("PRIVMSG #talk :\x01ACTION waves\x01").await;
    let n = o.until("[#talk]").await;
    assert!(n.contains("/me lines do not cross"), "{n}");
    o.send(&format!("PRIVMSG #talk :{}", "long ".repeat(10)))
        .await;
    let n = o.until("[#talk]").await;
    assert!(n.contains("50 bytes") && n.contains("at most 40"), "{n}");
    o.send("PRIVMSG #talk :too fast").await;
    let n = o.until("[#talk]").await;
    assert!(n.contains("faster than this room allows"), "{n}");
    // After the refill (0.5/s), it goes again; nothing refused went before it.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    o.send("PRIVMSG #talk :after the wait").await;
    assert_eq!(said(&mut x).await, "[DEMO-UK OFFICIAL] after the wait");

    // DCC: refused with a reply, audited.
    o.send("PRIVMSG #talk :\x01DCC SEND plans.pdf 2130706433 5000 100\x01")
        .await;
    let n = o.until("[#talk]").await;
    assert!(n.contains("file transfer"), "{n}");

    // From XMPP: an upload link (out-of-band data) is not passed on; XHTML-IM is folded away
    // (the plain body crosses, the markup does not).
    let label = bridge::label_element(&pol, "OFFICIAL").to_xml();
    x.raw(&format!(
        "<message to='{talk}' type='groupchat'><body>https://upload.example/plans.pdf</body>\
         <x xmlns='jabber:x:oob'><url>https://upload.example/plans.pdf</url></x>{label}</message>"
    ))
    .await;
    x.raw(&format!(
        "<message to='{talk}' type='groupchat'><body>plain words</body>\
         <html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>\
         <b>bold markup</b></body></html>{label}</message>"
    ))
    .await;
    let lines = o.lines_until("plain words").await;
    assert!(
        !lines.iter().any(|l| l.contains("upload.example")),
        "{lines:#?}"
    );
    let shown = lines.last().unwrap();
    assert!(!shown.contains("bold markup"), "{shown}");

    // #quiet: room messages and topics are switched off, both ways.
    o.send("PRIVMSG #quiet :hello quiet").await;
    let n = o.until("[#quiet]").await;
    assert!(n.contains("switched off"), "{n}");
    o.send("TOPIC #quiet :new topic").await;
    let n = o.until("[#quiet]").await;
    assert!(n.contains("topics do not cross"), "{n}");
    x.subject(&quiet.to_string(), "quiet subject").await;
    x.send(&quiet.to_string(), "sentinel quiet", official())
        .await;
    let lines = o.lines_until("sentinel quiet").await;
    assert!(
        !lines.iter().any(|l| l.contains("quiet subject")),
        "{lines:#?}"
    );

    // Nothing refused reached the room: the next line xavier sees from olive is the probe
    // (sent once the rate has let another line through).
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    o.send("PRIVMSG #talk :probe").await;
    assert_eq!(said(&mut x).await, "[DEMO-UK OFFICIAL] probe");

    for control in [
        "actions",
        "max_bytes",
        "rate",
        "room_messages",
        "file_transfer",
    ] {
        let recs = by_control(&gw, control);
        assert!(!recs.is_empty(), "no audit record for {control}");
        assert!(recs.iter().all(|r| r["decision"] == "deny"), "{recs:#?}");
    }
    // Both file transfers (the DCC offer and the upload link), and both subjects.
    assert_eq!(by_control(&gw, "file_transfer").len(), 2);
    let subjects = by_control(&gw, "subjects");
    assert!(
        subjects.iter().any(|r| r["direction"] == "irc-to-xmpp")
            && subjects.iter().any(|r| r["direction"] == "xmpp-to-irc"),
        "{subjects:#?}"
    );
    x.quit().await;
}

/// The next message xavier gets from `nick` in `room` of `kind` (chat states and receipts
/// included), skipping others.
async fn next_from(x: &mut Slix, room: &str, nick: &str, kind: &str) -> slix::Received {
    loop {
        let m = x.message_from(nick, Some(kind), 15).await;
        if m.room == room {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_states_corrections_and_receipts_are_switched_per_room() {
    let pol = support::demo_policies();
    let (on, off) = (room(&unique("typing")), room(&unique("plain")));
    let (on_s, off_s) = (on.to_string(), off.to_string());
    let olive = unique("olive");
    let mapping = format!(
        "{}[channel.controls]\nchat_states = true\nreceipts = true\n\n{}[channel.controls]\ncorrections = false\n",
        channel("#typing", &on, "OFFICIAL", "SECRET, UK"),
        channel("#plain", &off, "OFFICIAL", "SECRET, UK"),
    );
    let gw = gateway(&mapping, &[(&olive, "OFFICIAL", &[])]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&on_s, "xavier").await;
    x.join(&off_s, "xavier").await;
    let mut o = irc::Raw::login(gw.addr, "olive", &olive, PASSWORD).await;
    o.send("CAP REQ message-tags").await;
    o.until("ACK").await;
    for c in ["#typing", "#plain"] {
        o.send(&format!("JOIN {c}")).await;
        o.until(&format!(" 366 olive {c}")).await;
    }
    let official = || Some(SlixLabel::marking(&pol, "OFFICIAL"));
    let secret = bridge::label_element(&pol, "SECRET").to_xml();
    let cs = "http://jabber.org/protocol/chatstates";

    // #typing lets chat states cross both ways: xavier's composing is olive's `+typing=active`
    // from xavier; olive's `+typing=paused` reaches the room as <paused/>, at the default label.
    x.raw(&format!(
        "<message to='{on}' type='groupchat'><composing xmlns='{cs}'/></message>"
    ))
    .await;
    let t = o.until(" TAGMSG #typing").await;
    assert!(
        t.contains("+typing=active") && t.contains(":xavier!"),
        "{t}"
    );
    o.send("@+typing=paused TAGMSG #typing").await;
    let m = next_from(&mut x, &on_s, "olive", "groupchat").await;
    assert_eq!(m.chat_state.as_deref(), Some("paused"), "{m:?}");
    assert!(m.body.is_none() && m.labelled, "{m:?}");
    // A chat state labelled above olive's clearance does not reach her (audited).
    x.raw(&format!(
        "<message to='{on}' type='groupchat'><composing xmlns='{cs}'/>{secret}</message>"
    ))
    .await;
    x.send(&on_s, "sentinel typing", official()).await;
    let lines = o.lines_until("sentinel typing").await;
    assert!(!lines.iter().any(|l| l.contains("TAGMSG")), "{lines:#?}");
    let denied: Vec<_> = gw
        .records()
        .into_iter()
        .filter(|r| r["what"] == "chat-state" && r["decision"] == "deny")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    // An unknown typing value is refused with a reply.
    o.send("@+typing=furious TAGMSG #typing").await;
    let n = o.until("+typing takes").await;
    assert!(n.contains("[#typing]"), "{n}");

    // A correction crosses as a marked line saying what it replaces.
    let official_xml = bridge::label_element(&pol, "OFFICIAL").to_xml();
    x.raw(&format!(
        "<message to='{on}' type='groupchat' id='c1'><body>fixed words</body>\
         <replace xmlns='urn:xmpp:message-correct:0' id='orig-1'/>{official_xml}</message>"
    ))
    .await;
    let c = o.until("fixed words").await;
    assert!(
        c.contains("(correction) fixed words") && c.contains("labelgate/replaces=orig-1"),
        "{c}"
    );

    // A correction is decided like any body: one labelled above olive's clearance is
    // withheld (the next line she sees is the sentinel).
    x.raw(&format!(
        "<message to='{on}' type='groupchat' id='c3'><body>secret fix</body>\
         <replace xmlns='urn:xmpp:message-correct:0' id='orig-3'/>{secret}</message>"
    ))
    .await;
    x.send(&on_s, "sentinel correction", official()).await;
    let lines = o.lines_until("sentinel correction").await;
    assert!(
        !lines.iter().any(|l| l.contains("secret fix")),
        "{lines:#?}"
    );

    // A private message asking for a receipt is answered once olive has it.
    x.raw(&format!(
        "<message to='{on}/olive' type='chat' id='pm-1'><body>receipt please</body>\
         <request xmlns='urn:xmpp:receipts'/><x xmlns='http://jabber.org/protocol/muc#user'/>\
         {official_xml}</message>"
    ))
    .await;
    o.until("receipt please").await;
    let r = next_from(&mut x, &on_s, "olive", "chat").await;
    assert_eq!(r.receipt.as_deref(), Some("pm-1"), "{r:?}");

    // #plain (the defaults, corrections off): no chat state crosses either way, and olive is
    // told once; corrections are withheld; no receipt is given.
    x.raw(&format!(
        "<message to='{off}' type='groupchat'><composing xmlns='{cs}'/></message>"
    ))
    .await;
    x.raw(&format!(
        "<message to='{off}' type='groupchat' id='c2'><body>plain correction</body>\
         <replace xmlns='urn:xmpp:message-correct:0' id='orig-2'/>{official_xml}</message>"
    ))
    .await;
    x.raw(&format!(
        "<message to='{off}/olive' type='chat' id='pm-2'><body>no receipt here</body>\
         <request xmlns='urn:xmpp:receipts'/><x xmlns='http://jabber.org/protocol/muc#user'/>\
         {official_xml}</message>"
    ))
    .await;
    x.send(&off_s, "sentinel plain", official()).await;
    let lines = o.lines_until("sentinel plain").await;
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("TAGMSG") || l.contains("plain correction")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("no receipt here")),
        "{lines:#?}"
    );
    o.send("@+typing=active TAGMSG #plain").await;
    let n = o.until("[#plain]").await;
    assert!(n.contains("typing notifications do not cross"), "{n}");
    o.send("@+typing=active TAGMSG #plain").await;
    o.send("PRIVMSG #plain :after typing").await;
    // What xavier gets from olive in #plain next, of any kind, is her line: no chat state, and
    // no receipt for pm-2 (which olive's session would have sent before it).
    let m = loop {
        let m = x.message_from("olive", None, 15).await;
        if m.room == off_s {
            break m;
        }
    };
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] after typing"),
        "{m:?}"
    );
    assert!(m.receipt.is_none() && m.chat_state.is_none(), "{m:?}");

    // Each switched-off way is audited once with its control; the correction each time.
    let states = by_control(&gw, "chat_states");
    assert_eq!(states.len(), 2, "{states:#?}");
    assert!(states.iter().any(|r| r["direction"] == "irc-to-xmpp"));
    assert!(states.iter().any(|r| r["direction"] == "xmpp-to-irc"));
    assert_eq!(by_control(&gw, "corrections").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typing_notification_to_an_occupant_needs_private_messages() {
    let nopm = room(&unique("nopm"));
    let olive = unique("olive");
    let mapping = format!(
        "{}private_messages = false\n[channel.controls]\nchat_states = true\n",
        channel("#nopm", &nopm, "OFFICIAL", "SECRET, UK"),
    );
    let gw = gateway(&mapping, &[(&olive, "OFFICIAL", &[])]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&nopm.to_string(), "xavier").await;
    let mut o = irc::Raw::login(gw.addr, "olive", &olive, PASSWORD).await;
    o.send("CAP REQ message-tags").await;
    o.until("ACK").await;
    o.send("JOIN #nopm").await;
    o.until(" 366 olive #nopm").await;
    o.send("@+typing=active TAGMSG xavier").await;
    let n = o.until("(said once)").await;
    assert!(n.contains("private messages are not allowed"), "{n}");
    o.send("PRIVMSG #nopm :sentinel nopm").await;
    // The first thing xavier gets from olive is her room line: no private chat state.
    let m = x.message_from("olive", None, 15).await;
    assert_eq!(m.kind, "groupchat", "{m:?}");
    assert!(m.body.is_some_and(|b| b.ends_with("sentinel nopm")));
    assert_eq!(by_control(&gw, "private_messages").len(), 1);
}

/// A sender's origin-id is theirs to choose: a long or odd one is not repeated to IRC as the
/// line's `msgid` (the line itself arrives); a plain one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_plain_ids_are_repeated_as_msgid() {
    let pol = support::demo_policies();
    let r = room(&unique("ids"));
    let olive = unique("olive");
    let mapping = channel("#ids", &r, "OFFICIAL", "SECRET, UK");
    let gw = gateway(&mapping, &[(&olive, "OFFICIAL", &[])]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&r.to_string(), "xavier").await;
    let mut o = irc::Raw::login(gw.addr, "olive", &olive, PASSWORD).await;
    o.send("CAP REQ message-tags").await;
    o.until("ACK").await;
    o.send("JOIN #ids").await;
    o.until(" 366 olive #ids").await;
    let label = bridge::label_element(&pol, "OFFICIAL").to_xml();
    let long = "A".repeat(3000);
    for (id, body) in [
        (long.as_str(), "long id"),
        ("semi;colon", "odd id"),
        ("plain-1", "plain id"),
    ] {
        x.raw(&format!(
            "<message to='{r}' type='groupchat'><body>{body}</body>\
             <origin-id xmlns='urn:xmpp:sid:0' id='{id}'/>{label}</message>"
        ))
        .await;
    }
    let lines = o.lines_until("plain id").await;
    let long_line = lines.iter().find(|l| l.contains("long id")).unwrap();
    assert!(
        !long_line.contains("AAAA") && long_line.len() < 1024,
        "{long_line}"
    );
    let odd = lines.iter().find(|l| l.contains("odd id")).unwrap();
    assert!(!odd.contains("semi"), "{odd}");
    let plain = lines.last().unwrap();
    assert!(
        plain.contains("plain-1") || plain.contains("msgid="),
        "{plain}"
    );
}
