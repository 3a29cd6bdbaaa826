//! What IRC users type and whom it reaches, against the project's ejabberd with slixmpp as the
//! other occupants: markings after an addressee and near-miss markings, private messages to
//! exactly the one person a nick names, long messages, and decisions made with the state of the
//! moment (a reload while the session starts, held lines across a reload).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/scene.rs"]
mod scene;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use std::sync::Arc;

use bridge::{Gateway, PASSWORD, channel, hashed, users};
use common::{Identity, endpoint, room, server, unique};
use labelgate::xmpp::connect::TlsMode;
use scene::Scene;
use slix::{Slix, SlixLabel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markings_after_an_addressee_count_and_near_misses_are_refused() {
    let pol = support::demo_policies();
    let (ops, ts) = (room(&unique("typed")), room(&unique("typed-ts")));
    let s = unique("sam");
    let ts_block = format!(
        "{}flot_template = \"({{marking}}) \"\nflot_pattern = '\\((?P<marking>[^)]+)\\)\\s?'\n\n",
        channel(
            "#ts",
            &ts,
            "TOP SECRET - UK EYES ONLY",
            "TOP SECRET, UK, OVERLORD"
        )
    );
    let mappings = format!(
        "{}{ts_block}",
        channel("#ops", &ops, "OFFICIAL", "SECRET, UK")
    );
    let gw =
        Gateway::on_test_server(pol.clone(), &mappings, &[(&s, "TOP SECRET, UK, OVERLORD")]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    x.join(&ts.to_string(), "xavier").await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    sam.send("JOIN #ops,#ts").await;
    sam.until("#ts :End of").await;

    // Nick completion first, then the marking: the marking counts.
    sam.send("PRIVMSG #ops :xavier: [SECRET UK EYES ONLY] read this")
        .await;
    let m = x.message(10).await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK SECRET - UK EYES ONLY] xavier: read this")
    );
    assert_eq!(m.display.as_deref(), Some("DEMO-UK SECRET - UK EYES ONLY"));

    // Starts that look like markings but are not this room's: refused, naming the syntax.
    let near = [
        ("#ops", "(SECRET UK) another room's brackets"),
        ("#ops", "SECRET UK: written as a heading"),
        (
            "#ops",
            "\u{200B}[SECRET UK EYES ONLY] behind a zero-width space",
        ),
        ("#ops", "［SECRET］ full-width brackets"),
        (
            "#ts",
            "[TOP SECRET OVERLORD UK] square brackets in a round room",
        ),
        ("#ops", "xavier: (SECRET) addressed, wrong brackets"),
    ];
    for (channel, line) in near {
        sam.send(&format!("PRIVMSG {channel} :{line}")).await;
        let l = sam.until("Not sent").await;
        assert!(l.contains("looks like a marking"), "{line}: {l}");
        let syntax = if channel == "#ts" {
            "(MARKING)"
        } else {
            "[MARKING]"
        };
        assert!(l.contains(syntax), "the reply names the room's syntax: {l}");
    }
    // Ordinary lines still go at the default label.
    sam.send("PRIVMSG #ops :Secret plans are for tomorrow (maybe)")
        .await;
    let m = x.message(10).await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] Secret plans are for tomorrow (maybe)"),
        "nothing refused reached the room before this"
    );
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_names_one_person_and_their_room() {
    let pol = support::demo_policies();
    let (one, two) = (room(&unique("pm-one")), room(&unique("pm-two")));
    let s = unique("sam");
    let mappings = format!(
        "{}{}",
        channel("#one", &one, "OFFICIAL", "SECRET, UK"),
        channel("#two", &two, "OFFICIAL", "SECRET, UK")
    );
    let gw = Gateway::on_test_server(pol.clone(), &mappings, &[(&s, "SECRET, UK")]).await;
    let mut carol = Slix::start(server(), "carol").await;
    carol.join(&one.to_string(), "yves").await;
    let mut dave = Slix::start(server(), "dave").await;
    dave.join(&two.to_string(), "yves").await;
    dave.join(&one.to_string(), "NickServ").await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    sam.send("JOIN #one").await;
    let names_one = sam.until(" 353 ").await;
    sam.until(" 366 ").await;
    sam.send("JOIN #two").await;
    let names_two = sam.until(" 353 ").await;
    sam.until(" 366 ").await;
    assert!(names_one.contains("yves"), "{names_one}");
    // The gateway's service names are never an occupant's.
    assert!(
        !names_one.contains(" NickServ") && !names_one.contains("+NickServ "),
        "{names_one}"
    );
    assert!(names_one.contains("NickServ|"), "{names_one}");
    // The other room's yves is visibly someone else.
    let other = names_two
        .rsplit_once(" :")
        .unwrap()
        .1
        .split(' ')
        .map(|n| n.trim_start_matches(['@', '+']))
        .find(|n| n.starts_with("yves|"))
        .unwrap_or_else(|| panic!("no distinct nick for the second yves: {names_two}"))
        .to_owned();

    sam.send("PRIVMSG yves :to the first yves").await;
    sam.send(&format!("PRIVMSG {other} :to the second yves"))
        .await;
    let m = carol.message(10).await;
    assert_eq!(
        (m.kind.as_str(), m.room.as_str()),
        ("chat", one.to_string().as_str())
    );
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] to the first yves")
    );
    let m = dave.message(10).await;
    assert_eq!(
        (m.kind.as_str(), m.room.as_str()),
        ("chat", two.to_string().as_str())
    );
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] to the second yves"),
        "the first line reached only the first yves"
    );
    carol.quit().await;
    dave.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_message_is_cut_with_a_note_not_thirty_thousand_lines() {
    let mut sc = Scene::start("huge", "SECRET, UK", "max_lines = 8\n").await;
    let body: String = (0..30_000).map(|i| format!("l{i}\n")).collect();
    sc.official(&body).await;
    sc.official("sentinel").await;
    // (slixmpp takes a while to send 30,000 lines on a loaded machine)
    let seen = sc.sam.lines_until_within("sentinel", 60).await;
    let lines: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains(" PRIVMSG #ops "))
        .collect();
    assert_eq!(
        lines.len(),
        9,
        "8 lines of the message and the sentinel: {lines:#?}"
    );
    assert!(lines[0].ends_with(":[DEMO-UK OFFICIAL] l0"), "{}", lines[0]);
    assert!(
        lines[7].contains(":[DEMO-UK OFFICIAL] (29993 more lines not shown"),
        "{}",
        lines[7]
    );
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_while_the_session_starts_decides_from_the_first_message() {
    let pol = support::demo_policies();
    let ops = room(&unique("login-reload"));
    let a = unique("alice");
    let hash = hashed();
    let proxy = proxy::Proxy::start(common::endpoint_addr()).await;
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.addr = proxy.addr;
    let block = channel("#ops", &ops, "OFFICIAL", "SECRET, UK");
    let gw = Gateway::start(
        ep,
        pol.clone(),
        &block,
        users(&pol, &[(&a, "SECRET, UK")], &hash),
        irc::config(),
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;

    // The XMPP session cannot start yet; meanwhile the operator lowers alice to OFFICIAL.
    proxy.hold();
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("JOIN #ops").await;
    let lowered = Arc::new(users(&pol, &[(&a, "OFFICIAL")], &hash));
    gw.shared.reload_users(lowered.clone());
    gw.bridge
        .reload(pol.clone(), bridge::mappings(&pol, &block), lowered);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    proxy.release();

    let l = alice.until("clearance is now").await;
    assert!(l.ends_with("Your clearance is now OFFICIAL."), "{l}");
    alice.until(" 366 ").await;
    x.send(
        &ops.to_string(),
        "secret words",
        Some(SlixLabel::marking(&pol, "SECRET UK EYES ONLY")),
    )
    .await;
    x.send(
        &ops.to_string(),
        "sentinel",
        Some(SlixLabel::marking(&pol, "OFFICIAL")),
    )
    .await;
    let seen = alice.lines_until("sentinel").await;
    assert!(
        !seen.iter().any(|l| l.contains("secret words")),
        "{seen:#?}"
    );
    alice
        .send("PRIVMSG #ops :[SECRET UK EYES ONLY] from alice")
        .await;
    assert!(
        alice
            .until("Not sent")
            .await
            .contains("your clearance does not cover")
    );
    // No decision for alice was ever made under her old clearance.
    let secret_grants = gw
        .records()
        .into_iter()
        .filter(|r| r["account"] == a.as_str() && r["decision"] == "grant")
        .filter(|r| {
            r["label"]["marking"]
                .as_str()
                .is_some_and(|m| m.contains("SECRET"))
        })
        .count();
    assert_eq!(secret_grants, 0);
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_lines_are_decided_again_when_a_reload_lowers_the_room() {
    let pol = support::demo_policies();
    let ops = room(&unique("held-reload"));
    let a = unique("alice");
    let proxy = proxy::Proxy::start(common::endpoint_addr()).await;
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.addr = proxy.addr;
    let high = channel("#ops", &ops, "OFFICIAL", "SECRET, UK");
    let low = channel("#ops", &ops, "OFFICIAL", "OFFICIAL");
    let hash = hashed();
    let gw = Gateway::start(
        ep,
        pol.clone(),
        &high,
        users(&pol, &[(&a, "SECRET, UK")], &hash),
        irc::config(),
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("JOIN #ops").await;
    alice.until(" 366 ").await;

    // The stream drops; what alice types now is held.
    proxy.hold();
    proxy.cut();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    alice
        .send("PRIVMSG #ops :[SECRET UK EYES ONLY] held secret")
        .await;
    alice.send("PRIVMSG #ops :held plain").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The room is lowered to OFFICIAL while they wait.
    gw.bridge.reload_mappings(bridge::mappings(&pol, &low));
    let l = alice.until("Not sent").await;
    assert!(
        l.contains("the gateway's rules changed while it waited")
            && l.contains("the room does not allow"),
        "{l}"
    );
    proxy.release();
    let m = x.message(60).await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] held plain"),
        "only the line still allowed arrives"
    );
    x.quit().await;
}
