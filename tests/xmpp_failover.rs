//! XMPP failover across a cluster's nodes (issue 17, `[xmpp] failover`): an endpoint lists
//! several c2s addresses; the session connects to the first that takes a connection, and a
//! session whose node dies reconnects through the list to another and carries on — what the
//! room said and what the user said while it was down each arrive once, nothing is reported
//! lost. The "nodes" here are two TCP relays in front of the project's one ejabberd (the
//! client side of failover; a two-node ejabberd cluster is not started by these tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Identity, endpoint, jid, room, say, session, unique, wait_for};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::{Backoff, IdentityMode, Session, SessionConfig, XmppEvent};
use tokio::sync::mpsc;

/// An address nothing listens on (a node that is down).
fn dead() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn config(addr: SocketAddr, failover: Vec<SocketAddr>, who: &str) -> SessionConfig {
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.addr = addr;
    ep.failover = failover;
    let mut cfg = SessionConfig::new(Arc::new(ep), jid(who), IdentityMode::TrustedGateway);
    cfg.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(500),
    };
    cfg
}

/// The room bodies starting with `prefix` seen within `secs`, each with its count; panics on a
/// report of loss.
async fn bodies(
    rx: &mut mpsc::Receiver<XmppEvent>,
    prefix: &str,
    want: usize,
    secs: u64,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while seen.len() < want {
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        match ev {
            XmppEvent::Groupchat { message, .. } => {
                if let Some(b) = message.body.filter(|b| b.starts_with(prefix)) {
                    seen.push(b);
                }
            }
            XmppEvent::Unconfirmed { body, .. } => panic!("reported lost: {body}"),
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_node_that_answers_is_used_and_none_answering_names_them_all() {
    let (a, b) = (dead(), dead());
    let s = Session::start(config(
        a,
        vec![b, common::endpoint_addr()],
        &unique("first"),
    ))
    .await
    .map(|(s, _)| s)
    .expect("the third node answers");
    s.close().await;
    let err = match Session::start(config(a, vec![b], &unique("none"))).await {
        Ok(_) => panic!("no node is up"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("no node of the cluster takes a connection")
            && err.contains(&a.to_string())
            && err.contains(&b.to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_node_dies_carries_on_through_another() {
    let server = common::endpoint_addr();
    let (node1, node2) = (
        proxy::Proxy::start(server).await,
        proxy::Proxy::start(server).await,
    );
    let (alice, mut arx) = Session::start(config(node1.addr, vec![node2.addr], &unique("alice")))
        .await
        .unwrap();
    assert_eq!((node1.relayed(), node2.relayed()), (1, 0));
    let (bob, mut brx) = session(&unique("bob")).await;
    let r = room(&unique("failover"));
    let none = History {
        max_stanzas: Some(0),
        since: None,
    };
    alice.join(&r, "alice", none.clone()).await.unwrap();
    bob.join(&r, "bob", none).await.unwrap();

    // Node 1 dies: its port closes and alice's connection through it drops.
    node1.stop();
    wait_for(&mut arx, 30, |e| {
        matches!(e, XmppEvent::Suspended).then_some(())
    })
    .await;
    say(&bob, &r, "during bob").await;
    say(&alice, &r, "during alice").await;
    // Back through node 2: resumed (or rebound and rejoined), never reported lost.
    wait_for(&mut arx, 60, |e| match e {
        XmppEvent::Resumed | XmppEvent::Rejoined { .. } => Some(()),
        XmppEvent::Unconfirmed { body, .. } => panic!("reported lost: {body}"),
        _ => None,
    })
    .await;
    assert!(
        node2.relayed() >= 1,
        "alice did not come back through node 2"
    );
    let seen = bodies(&mut arx, "during", 2, 30).await;
    assert_eq!(
        seen.iter().filter(|b| *b == "during bob").count(),
        1,
        "{seen:?}"
    );
    let seen_by_bob = bodies(&mut brx, "during alice", 1, 30).await;
    assert_eq!(seen_by_bob, ["during alice"]);
    // And on as before.
    say(&alice, &r, "after").await;
    assert_eq!(bodies(&mut brx, "after", 1, 30).await, ["after"]);
    alice.close().await;
    bob.close().await;
}
