//! The XMPP server is stopped and started again under live sessions: every session reconnects
//! and rejoins its rooms, and a message sent afterwards arrives. Uses an ejabberd of its own so
//! that other tests are not disturbed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use labelgate::internal::peer_cleared;
use std::sync::Arc;
use std::time::Duration;

use common::{Identity, TestServer, endpoint_on, unique, wait_for};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{
    Backoff, IdentityMode, Session, SessionConfig, XmppEvent, origin_id,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_server_restart() {
    let server = TestServer::private("test-xmpp-restart", 25322);
    let ep = Arc::new(endpoint_on(&server, Identity::Gateway, TlsMode::StartTls));
    let room: jid::BareJid = format!("{}@{}", unique("restart"), server.muc())
        .parse()
        .unwrap();
    let mut sessions = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let jid: jid::BareJid = format!("{}@{}", unique(name), server.domain)
            .parse()
            .unwrap();
        let mut cfg = SessionConfig::new(ep.clone(), jid, IdentityMode::TrustedGateway);
        cfg.backoff = Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
        };
        let (s, rx) = Session::start(cfg).await.unwrap();
        s.join(&room, name, History::default()).await.unwrap();
        sessions.push((name, s, rx));
    }

    server.stop();
    for (_, _, rx) in sessions.iter_mut() {
        wait_for(rx, 30, |e| {
            matches!(e, XmppEvent::Suspended | XmppEvent::ReconnectFailed { .. }).then_some(())
        })
        .await;
    }
    server.start();
    for (name, _, rx) in sessions.iter_mut() {
        let occupants = wait_for(rx, 60, |e| match e {
            XmppEvent::Rejoined { occupants, .. } => Some(occupants.clone()),
            XmppEvent::RejoinFailed { error, .. } => panic!("{name} could not rejoin: {error}"),
            _ => None,
        })
        .await;
        assert!(occupants.contains_key(*name), "{name}: {occupants:?}");
    }

    // Everyone is back in the room: a message from alice reaches bob and carol.
    let out = OutgoingMessage {
        body: "after the restart".into(),
        label: None,
        origin_id: origin_id(),
        notice: false,
    };
    sessions[0]
        .1
        .send_groupchat(&room, &peer_cleared(out.clone()))
        .await
        .unwrap();
    for (name, _, rx) in sessions.iter_mut().skip(1) {
        let body = wait_for(rx, 20, |e| match e {
            XmppEvent::Groupchat { message, .. }
                if message.origin_id.as_deref() == Some(out.origin_id.as_str()) =>
            {
                message.body.clone()
            }
            _ => None,
        })
        .await;
        assert_eq!(body, "after the restart", "{name}");
    }
    for (_, s, _) in &sessions {
        s.close().await;
    }
    server.stop();
}
