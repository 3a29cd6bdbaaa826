//! The bridge under an operator's and a user's everyday events, against the project's ejabberd:
//! a reload applied to connected users, refusals as standard replies, and XMPP nicks that
//! collide on IRC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/support.rs"]
mod support;

use labelgate::internal::peer_cleared;
use std::sync::Arc;

use bridge::{Gateway, PASSWORD, channel, hashed, label_element, users};
use common::{Identity, endpoint, room, session, unique, wait_for};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{XmppEvent, origin_id};

fn message(p: &labelgate::label::PolicySet, body: &str, marking: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.into(),
        label: Some(label_element(p, marking)),
        origin_id: origin_id(),
        notice: false,
    }
}

/// A gateway with `#ops` (OFFICIAL, up to SECRET) mapped to a new room, and one SECRET user;
/// returns it, the room and the account.
async fn one_room(name: &str) -> (Gateway, jid::BareJid, String) {
    let ops = room(&unique(name));
    let a = unique("alice");
    let gw = Gateway::on_test_server(
        support::demo_policies(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET"),
        &[(&a, "SECRET")],
    )
    .await;
    (gw, ops, a)
}

/// The room nick that sent `body` (waiting up to 10 s).
async fn sender_of(rx: &mut tokio::sync::mpsc::Receiver<XmppEvent>, body: &str) -> String {
    wait_for(rx, 10, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if message.body.as_deref() == Some(body) => {
            nick.clone()
        }
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_to_connected_users_at_once() {
    let pol = support::demo_policies();
    let (ops, side) = (room(&unique("reload-ops")), room(&unique("reload-side")));
    let ops_block = channel("#ops", &ops, "OFFICIAL", "TOP SECRET, National Caveats:*");
    let side_block = channel("#side", &side, "OFFICIAL", "SECRET");
    let (a, b, d) = (unique("alice"), unique("bob"), unique("dave"));
    let hash = hashed();
    let before = [
        (a.as_str(), "SECRET, UK"),
        (b.as_str(), "OFFICIAL"),
        (d.as_str(), "OFFICIAL"),
    ];
    let gw = Gateway::start(
        endpoint(Identity::Gateway, TlsMode::StartTls),
        pol.clone(),
        &format!("{ops_block}{side_block}"),
        users(&pol, &before, &hash),
        irc::config(),
    )
    .await;
    let (carol, _carol_rx) = session(&unique("carol")).await;
    carol.join(&ops, "carol", History::default()).await.unwrap();

    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    let mut bob = irc::Raw::login(gw.addr, "bob", &b, PASSWORD).await;
    let mut dave = irc::Raw::login(gw.addr, "dave", &d, PASSWORD).await;
    for c in [&mut alice, &mut bob, &mut dave] {
        c.send("JOIN #ops,#side").await;
    }
    for c in [&mut alice, &mut bob, &mut dave] {
        c.until("#side :End of").await;
    }
    // Alice sees SECRET before the reload.
    carol
        .send_groupchat(
            &ops,
            &peer_cleared(message(&pol, "before", "SECRET UK EYES ONLY")),
        )
        .await
        .unwrap();
    assert!(
        alice
            .until("before")
            .await
            .ends_with("[DEMO-UK SECRET - UK EYES ONLY] before")
    );

    // Reload: #side unmapped, alice lowered to OFFICIAL, dave's account removed.
    let after = [(a.as_str(), "OFFICIAL"), (b.as_str(), "OFFICIAL")];
    let new_users = Arc::new(users(&pol, &after, &hash));
    gw.shared.reload_users(new_users.clone());
    gw.bridge
        .reload(pol.clone(), bridge::mappings(&pol, &ops_block), new_users);

    assert!(
        alice
            .until("clearance is now")
            .await
            .ends_with("Your clearance is now OFFICIAL.")
    );
    for c in [&mut alice, &mut bob] {
        let part = c.until(" PART #side").await;
        assert!(
            part.ends_with(":labelgate: the channel is no longer mapped to a room"),
            "{part}"
        );
    }
    let rest = dave.rest().await.join("\n");
    assert!(
        rest.contains("Your account was removed from the gateway"),
        "{rest}"
    );

    // The lowered clearance holds for the very next message, both ways.
    carol
        .send_groupchat(
            &ops,
            &peer_cleared(message(&pol, "withheld now", "SECRET UK EYES ONLY")),
        )
        .await
        .unwrap();
    carol
        .send_groupchat(&ops, &peer_cleared(message(&pol, "sentinel", "OFFICIAL")))
        .await
        .unwrap();
    let next = alice.until(":carol!").await;
    assert!(next.ends_with("[DEMO-UK OFFICIAL] sentinel"), "{next}");
    alice
        .send("PRIVMSG #ops :[SECRET UK EYES ONLY] still?")
        .await;
    assert!(
        alice
            .until("Not sent")
            .await
            .contains("Not sent: your clearance does not cover this label")
    );
    alice.send("PRIVMSG #side :hello?").await;
    assert!(
        alice
            .until(" 404 ")
            .await
            .contains("#side :You are not on that channel")
    );

    // A raised default label parts whoever is no longer cleared for the room.
    let raised = channel("#ops", &ops, "SECRET", "TOP SECRET, National Caveats:*");
    gw.bridge.reload_mappings(bridge::mappings(&pol, &raised));
    let part = bob.until(":bob!").await;
    assert!(
        part.contains(
            " PART #ops :labelgate: your clearance no longer covers the room's default label"
        ),
        "{part}"
    );
    // ...and the decision is audited.
    let recs = gw.records();
    assert!(recs.iter().any(|r| r["account"] == b.as_str()
        && r["direction"] == "join"
        && r["decision"] == "deny"));
    carol.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_standard_replies_for_clients_that_ask() {
    let pol = support::demo_policies();
    let ops = room(&unique("fail-ops"));
    let small = room(&unique("fail-small"));
    let blocks = format!(
        "{}{}",
        channel("#ops", &ops, "OFFICIAL", "TOP SECRET, National Caveats:*"),
        channel("#small", &small, "OFFICIAL", "SECRET")
    );
    let (a, b) = (unique("alice"), unique("bob"));
    let gw = Gateway::on_test_server(
        pol.clone(),
        &blocks,
        &[(&a, "SECRET, UK"), (&b, "OFFICIAL")],
    )
    .await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol.join(&ops, "carol", History::default()).await.unwrap();
    carol
        .join(&small, "carol", History::default())
        .await
        .unwrap();

    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("CAP REQ standard-replies").await;
    let ack = alice.until(" ACK ").await;
    assert!(ack.ends_with("standard-replies"), "{ack}");
    let mut bob = irc::Raw::login(gw.addr, "bob", &b, PASSWORD).await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #ops,#small").await;
        c.until("#small :End of").await;
    }
    alice.send("PRIVMSG #ops :[TOP SECRET] too high").await;
    let l = alice.until("FAIL").await;
    assert!(
        l.contains(" FAIL PRIVMSG CLEARANCE #ops :Not sent: your clearance does not cover"),
        "{l}"
    );
    alice.send("NOTICE #ops :[BANANA] what").await;
    let l = alice.until("FAIL").await;
    assert!(
        l.contains(" FAIL NOTICE INVALID_LABEL #ops :Not sent: the marking [BANANA]"),
        "{l}"
    );
    alice
        .send("PRIVMSG #small :[SECRET UK EYES ONLY] not here")
        .await;
    let l = alice.until("FAIL").await;
    assert!(
        l.contains(" FAIL PRIVMSG ROOM_CLEARANCE #small :Not sent: the room does not allow"),
        "{l}"
    );
    // Without the capability: the same words as a NOTICE naming the target.
    bob.send("PRIVMSG #ops :[SECRET] too high").await;
    let l = bob.until("Not sent").await;
    assert!(
        l.contains(" NOTICE bob :[#ops] Not sent: your clearance does not cover"),
        "{l}"
    );
    // Nothing refused reached the room: the next thing carol hears is the sentinel.
    alice.send("PRIVMSG #ops :sentinel").await;
    let body = wait_for(&mut carol_rx, 10, |e| match e {
        XmppEvent::Groupchat { message, nick, .. } if nick.as_deref() != Some("carol") => {
            message.body.clone()
        }
        _ => None,
    })
    .await;
    assert_eq!(body, "[DEMO-UK OFFICIAL] sentinel");
    carol.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colliding_xmpp_nicks_get_distinct_stable_irc_nicks() {
    let (gw, ops, a) = one_room("nicks").await;
    let (who1, _rx1) = session(&unique("who")).await;
    let (who2, mut rx2) = session(&unique("who")).await;
    who1.join(&ops, "Dr. Who", History::default())
        .await
        .unwrap();
    who2.join(&ops, "Dr_ Who", History::default())
        .await
        .unwrap();

    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("CAP REQ multi-prefix").await;
    alice.send("JOIN #ops").await;
    let names = alice.until(" 353 ").await;
    let listed: Vec<&str> = names
        .rsplit_once(" :")
        .unwrap()
        .1
        .split(' ')
        .map(|n| n.trim_start_matches(['@', '+']))
        .collect();
    assert!(listed.contains(&"Dr__Who"), "{names}");
    let other = listed
        .iter()
        .find(|n| n.starts_with("Dr__Who|"))
        .unwrap_or_else(|| panic!("no distinct nick for the second Dr Who: {names}"))
        .to_string();
    // MUC roles as prefixes: the room's creator moderates (@), participants have voice (+).
    assert!(
        names.contains(" :@Dr__Who ") || names.contains(" @Dr__Who"),
        "{names}"
    );
    assert!(names.contains(&format!("+{other}")), "{names}");
    assert!(names.contains("+alice"), "{names}");
    // The same suffix every time: derived from the room nick, not from arrival order.
    let mut probe = labelgate::bridge::nick::RoomNicks::new("x");
    probe.add("Dr. Who");
    assert_eq!(probe.add("Dr_ Who"), other);

    // Messages are attributed to the right one; a private message to the suffixed nick
    // reaches the right XMPP user.
    who2.send_groupchat(
        &ops,
        &peer_cleared(message(&gw.policies, "from two", "OFFICIAL")),
    )
    .await
    .unwrap();
    let l = alice.until("from two").await;
    assert!(l.starts_with(&format!(":{other}!")), "{l}");
    alice.send(&format!("PRIVMSG {other} :hello two")).await;
    let pm = wait_for(&mut rx2, 10, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "alice" => message.body.clone(),
        _ => None,
    })
    .await;
    assert_eq!(pm, "[DEMO-UK OFFICIAL] hello two");

    // An occupant whose nick folds to the IRC user's own never takes it.
    let (shout, _rx3) = session(&unique("shout")).await;
    shout.join(&ops, "ALICE", History::default()).await.unwrap();
    let join = alice.until(" JOIN #ops").await;
    assert!(join.starts_with(":ALICE|"), "{join}");
    // A participant's voice follows the JOIN as a mode change (JOIN carries no prefix).
    let shout_irc = join[1..].split('!').next().unwrap().to_owned();
    let mode = alice.line().await.unwrap();
    assert_eq!(mode, format!(":labelgate MODE #ops +v {shout_irc}"));
    for s in [who1, who2, shout] {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_nick_change_reaches_the_rooms() {
    let (gw, ops, a) = one_room("nickchange").await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol.join(&ops, "carol", History::default()).await.unwrap();
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("JOIN #ops").await;
    alice.until(" 366 ").await;

    alice.send("NICK alicia").await;
    alice.until(" NICK ").await;
    let (old, new) = wait_for(&mut carol_rx, 10, |e| match e {
        XmppEvent::NickChanged { old, new, .. } => Some((old.clone(), new.clone())),
        _ => None,
    })
    .await;
    assert_eq!((old.as_str(), new.as_str()), ("alice", "alicia"));
    alice.send("PRIVMSG #ops :as alicia").await;
    let nick = sender_of(&mut carol_rx, "[DEMO-UK OFFICIAL] as alicia").await;
    assert_eq!(nick, "alicia");

    // A nick the room has already: refused by the room, said in words, the channel kept.
    alice.send("NICK carol").await;
    let l = alice.until("refused the nick").await;
    assert!(
        l.contains("[#ops] The room refused the nick carol") && l.contains("as alicia"),
        "{l}"
    );
    alice.send("PRIVMSG #ops :still here").await;
    let nick = sender_of(&mut carol_rx, "[DEMO-UK OFFICIAL] still here").await;
    assert_eq!(nick, "alicia");
    carol.close().await;
}
