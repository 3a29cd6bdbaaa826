//! A session's connection is cut under it (a TCP relay between it and the test ejabberd drops
//! it; the server stays up): the stream resumes (XEP-0198), what the room sent meanwhile
//! arrives once, what the user sent meanwhile reaches the room once, and nothing is reported
//! lost. Then a lot of traffic both ways, so that both sides' acknowledgement counts are
//! exercised past what one burst holds, and a second cut resumes as cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/slix.rs"]
mod slix;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Identity, endpoint, jid, room, say, session, unique, wait_for};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::{Backoff, IdentityMode, Session, SessionConfig, XmppEvent};
use tokio::sync::mpsc;

/// Reads events for `secs` (or until every one of `want` has been seen), counting message
/// bodies that start with `prefix`; panics on a report of loss or a reset.
async fn count_bodies(
    rx: &mut mpsc::Receiver<XmppEvent>,
    prefix: &str,
    want: usize,
    secs: u64,
) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while seen.len() < want {
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        match ev {
            XmppEvent::Groupchat { message, .. } => {
                if let Some(b) = message.body.as_deref().filter(|b| b.starts_with(prefix)) {
                    *seen.entry(b.to_owned()).or_default() += 1;
                }
            }
            XmppEvent::Unconfirmed { body, .. } => panic!("reported lost: {body}"),
            XmppEvent::Reset { .. } => panic!("the stream was reset, not resumed"),
            _ => {}
        }
    }
    // A little longer, to catch duplicates that come late.
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if let XmppEvent::Groupchat { message, .. } = ev
            && let Some(b) = message.body.as_deref().filter(|b| b.starts_with(prefix))
        {
            *seen.entry(b.to_owned()).or_default() += 1;
        }
    }
    seen
}

fn assert_once(seen: &HashMap<String, usize>, bodies: &[String], who: &str) {
    for b in bodies {
        assert_eq!(seen.get(b), Some(&1), "{who}: {b:?} in {seen:?}");
    }
}

/// Alice's session, through a relay the test can cut, reconnecting quickly.
async fn alice_through_a_relay() -> (proxy::Proxy, Session, mpsc::Receiver<XmppEvent>) {
    let proxy = proxy::Proxy::start(common::endpoint_addr()).await;
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.addr = proxy.addr;
    let mut cfg = SessionConfig::new(
        Arc::new(ep),
        jid(&unique("alice")),
        IdentityMode::TrustedGateway,
    );
    cfg.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
    };
    let (alice, rx) = Session::start(cfg).await.unwrap();
    (proxy, alice, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_without_loss_or_duplicates() {
    let (proxy, alice, mut arx) = alice_through_a_relay().await;
    let (bob, mut brx) = session(&unique("bob")).await;
    let r = room(&unique("resume"));
    alice
        .join(
            &r,
            "alice",
            History {
                max_stanzas: Some(0),
                since: None,
            },
        )
        .await
        .unwrap();
    let joined = bob
        .join(
            &r,
            "bob",
            History {
                max_stanzas: Some(0),
                since: None,
            },
        )
        .await
        .unwrap();
    assert!(
        joined.occupants.contains_key("alice"),
        "{:?}",
        joined.occupants
    );

    for round in 1..=2 {
        // Traffic both ways first: acknowledgements are counted over many stanzas.
        let warm: Vec<String> = (0..40).map(|i| format!("r{round} warm {i}")).collect();
        for b in &warm {
            say(&bob, &r, b).await;
        }
        let seen = count_bodies(&mut arx, &format!("r{round} warm"), warm.len(), 20).await;
        assert_once(&seen, &warm, "alice before the cut");

        proxy.hold();
        proxy.cut();
        wait_for(&mut arx, 30, |e| {
            matches!(e, XmppEvent::Suspended).then_some(())
        })
        .await;
        // While alice's connection is down, bob and alice both speak.
        let from_bob: Vec<String> = (0..5).map(|i| format!("r{round} bob {i}")).collect();
        for b in &from_bob {
            say(&bob, &r, b).await;
        }
        let from_alice: Vec<String> = (0..5).map(|i| format!("r{round} alice {i}")).collect();
        for b in &from_alice {
            say(&alice, &r, b).await;
        }
        proxy.release();
        wait_for(&mut arx, 60, |e| match e {
            XmppEvent::Resumed => Some(()),
            XmppEvent::Reset { .. } => panic!("the stream was reset, not resumed"),
            XmppEvent::Unconfirmed { body, .. } => panic!("reported lost: {body}"),
            _ => None,
        })
        .await;

        let seen = count_bodies(&mut arx, &format!("r{round} "), 10, 30).await;
        assert_once(&seen, &from_bob, "alice, bob's lines");
        assert_once(&seen, &from_alice, "alice, her own lines reflected");
        let seen = count_bodies(&mut brx, &format!("r{round} alice"), 5, 30).await;
        assert_once(&seen, &from_alice, "bob, alice's lines");
    }
    alice.close().await;
    bob.close().await;
}

/// Another user sends the session an IQ request that cannot be read (a `get` with no payload):
/// the session answers `bad-request` in words, counts it (a later cut still resumes without
/// duplicates), and goes on receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_request_is_answered_and_counted() {
    let (proxy, alice, mut arx) = alice_through_a_relay().await;
    let mut x = slix::Slix::start(common::server(), "carol").await;
    let xml = format!(
        "<iq xmlns='jabber:client' type='get' id='hostile-1' to='{}'/>",
        alice.bound_jid()
    );
    let (kind, condition, text) = x.raw_iq(&xml, "hostile-1", 20).await;
    assert_eq!(kind, "error");
    assert_eq!(condition.as_deref(), Some("bad-request"));
    assert_eq!(
        text.as_deref(),
        Some("the gateway session could not read this request")
    );

    // Still in step with the server: a cut resumes, and a room line arrives once.
    let (bob, _brx) = session(&unique("bob")).await;
    let r = room(&unique("unreadable"));
    let none = History {
        max_stanzas: Some(0),
        since: None,
    };
    alice.join(&r, "alice", none.clone()).await.unwrap();
    bob.join(&r, "bob", none).await.unwrap();
    proxy.hold();
    proxy.cut();
    wait_for(&mut arx, 30, |e| {
        matches!(e, XmppEvent::Suspended).then_some(())
    })
    .await;
    say(&bob, &r, "after the hostile request").await;
    proxy.release();
    let seen = count_bodies(&mut arx, "after the hostile", 1, 30).await;
    assert_once(&seen, &["after the hostile request".to_owned()], "alice");
    x.quit().await;
    alice.close().await;
    bob.close().await;
}
