//! ejabberd is stopped and started again under live IRC users: their sessions reconnect and
//! rejoin, what they typed meanwhile is held and sent in order after the rejoin (or refused
//! with a notice once the queue is full), and nothing is lost silently. Uses an ejabberd of its
//! own so other tests are not disturbed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use bridge::{Gateway, PASSWORD, channel, hashed, users};
use common::{Identity, TestServer, endpoint_on, unique, wait_for};
use labelgate::bridge::HELD_LIMIT;
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::{Backoff, IdentityMode, Session, SessionConfig, XmppEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_typed_during_a_server_restart_are_held_and_sent_in_order() {
    let server = TestServer::private("test-xmpp-bridge-restart", 25522);
    let pol = support::demo_policies();
    let room: jid::BareJid = format!("{}@{}", unique("held"), server.muc())
        .parse()
        .unwrap();
    let (a, b) = (unique("alice"), unique("bob"));
    let gw = Gateway::start(
        endpoint_on(&server, Identity::Gateway, TlsMode::StartTls),
        pol.clone(),
        &channel("#ops", &room, "OFFICIAL", "SECRET"),
        users(&pol, &[(&a, "SECRET"), (&b, "OFFICIAL")], &hashed()),
        irc::config(),
    )
    .await;
    // An XMPP user in the room, reconnecting quickly.
    let carol_jid: jid::BareJid = format!("{}@{}", unique("carol"), server.domain)
        .parse()
        .unwrap();
    let mut cfg = SessionConfig::new(
        Arc::new(endpoint_on(&server, Identity::Gateway, TlsMode::StartTls)),
        carol_jid,
        IdentityMode::TrustedGateway,
    );
    cfg.backoff = Backoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(2),
    };
    let (carol, mut carol_rx) = Session::start(cfg).await.unwrap();
    carol
        .join(&room, "carol", History::default())
        .await
        .unwrap();

    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    let mut bob = irc::Raw::login(gw.addr, "bob", &b, PASSWORD).await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #ops").await;
        c.until(" 366 ").await;
    }

    server.stop();
    // Alice is told in words, then types while her session is away.
    let lost = alice.until_within("XMPP connection lost", 60).await;
    assert!(lost.contains("retrying in"), "{lost}");
    for i in 1..=HELD_LIMIT {
        alice.send(&format!("PRIVMSG #ops :held {i}")).await;
    }
    alice.send("PRIVMSG #ops :overflow").await;
    let full = alice.until("Not sent").await;
    assert!(
        full.contains(&format!(
            "[#ops] Not sent: the XMPP connection is being re-established and {HELD_LIMIT} messages"
        )),
        "{full}"
    );

    server.start();
    // One notice for the loss (already read), one for the recovery: none per failed attempt.
    let between = alice
        .lines_until_within("XMPP connection re-established", 60)
        .await;
    let more: Vec<&String> = between
        .iter()
        .filter(|l| l.contains("XMPP connection lost"))
        .collect();
    assert!(more.is_empty(), "more loss notices: {more:?}");
    // Bob (IRC, through his own reconnected session) and carol (XMPP) get every held message,
    // in order, then one typed after they went out (typed earlier, while the queue is still
    // full, it would be refused); never the refused one.
    let mut expected: Vec<String> = (1..=HELD_LIMIT).map(|i| format!("held {i}")).collect();
    expected.push("after".into());
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        if seen.len() == HELD_LIMIT {
            alice.send("PRIVMSG #ops :after").await;
        }
        let l = bob.until_within("PRIVMSG #ops", 60).await;
        assert!(!l.contains("overflow"), "a refused message was sent: {l}");
        assert!(l.starts_with(":alice!"), "{l}");
        let (_, text) = l
            .rsplit_once("[DEMO-UK OFFICIAL] ")
            .unwrap_or_else(|| panic!("no marking: {l}"));
        let text = text.to_owned();
        seen.push(text);
    }
    assert_eq!(seen, expected);
    let mut heard = Vec::new();
    while heard.len() < expected.len() {
        let body = wait_for(&mut carol_rx, 60, |e| match e {
            XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
                message.body.clone()
            }
            _ => None,
        })
        .await;
        assert!(!body.contains("overflow"), "a refused message was sent");
        heard.push(body.trim_start_matches("[DEMO-UK OFFICIAL] ").to_owned());
    }
    assert_eq!(heard, expected);

    // A burst typed while the server goes down: whatever the timing, each message is delivered
    // or its sender is told about it by name — never lost in silence.
    alice.send("CAP REQ echo-message").await;
    alice.until(" ACK ").await;
    let handle = TestServer {
        dir: server.dir.clone(),
        port: server.port,
        domain: server.domain.clone(),
    };
    let stopping = tokio::task::spawn_blocking(move || handle.stop());
    const BURST: usize = 20;
    for i in 1..=BURST {
        alice.send(&format!("PRIVMSG #ops :burst {i}")).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stopping.await.unwrap();
    server.start();
    // What alice is told about the burst comes before and after the reconnection.
    let mut told = Vec::new();
    loop {
        let l = alice
            .line_within(60)
            .await
            .expect("alice's connection closed");
        if l.contains(" NOTICE ") && l.contains("burst ") {
            told.push(l);
        } else if l.contains("XMPP connection re-established") {
            break;
        }
    }
    alice.send("PRIVMSG #ops :after burst").await;
    loop {
        let l = alice
            .line_within(60)
            .await
            .expect("alice's connection closed");
        if l.contains(" PRIVMSG #ops :") && l.ends_with("after burst") {
            break;
        }
        if l.contains(" NOTICE ") && l.contains("burst ") {
            told.push(l);
        }
    }
    let mut delivered = Vec::new();
    loop {
        let l = bob.until_within("PRIVMSG #ops", 60).await;
        if l.ends_with("after burst") {
            break;
        }
        if let Some((_, n)) = l.rsplit_once("burst ") {
            delivered.push(n.parse::<usize>().unwrap());
        }
    }
    for i in 1..=BURST {
        let named = told.iter().any(|l| l.contains(&format!("burst {i}\"")));
        assert!(
            delivered.contains(&i) || named,
            "burst {i} was neither delivered nor reported: delivered {delivered:?}, told {told:?}"
        );
    }
    let mut sorted = delivered.clone();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        delivered.len(),
        "delivered twice: {delivered:?}"
    );

    // An abrupt loss (the server killed, no stream closed): the sessions try to resume, the
    // restarted server does not know them, and they must still come back (tokio-xmpp cannot
    // read ejabberd's `<failed/>` without `h`; without a fallback it retries for ever).
    server.kill();
    server.start();
    alice
        .until_within("XMPP connection re-established", 60)
        .await;
    bob.until_within("XMPP connection re-established", 60).await;
    alice.send("PRIVMSG #ops :after the crash").await;
    let l = bob.until_within("after the crash", 60).await;
    assert!(l.starts_with(":alice!"), "{l}");
    carol.close().await;
    server.stop();
}
