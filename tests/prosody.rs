//! The second real XMPP server: Prosody 0.12 from Debian, started by the project's script
//! (`contrib/prosody`) with a test PKI, logins through labelgate's own auth module
//! (`contrib/prosody-modules/mod_auth_labelgate_ccert.lua`). Both identity modes log in (the
//! trusted-gateway certificate for any user of the domain, a per-user certificate for its user
//! only) and nothing else does; a room made by a join is accepted as an instant room under
//! Prosody's default locking, so others can enter; labels cross the room intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/slix.rs"]
mod slix;

use common::{Identity, prosody, session_on, unique, wait_for};
use labelgate::internal::peer_cleared;
use labelgate::label::load_policy;
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{XmppEvent, origin_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_identity_modes_log_in_and_nothing_else_does() {
    let s = prosody();
    // The trusted gateway names any user of the domain.
    for user in ["alice", &unique("anyone")] {
        let (session, _rx) = session_on(s, Identity::Gateway, user)
            .await
            .unwrap_or_else(|e| panic!("gateway login as {user}: {e}"));
        assert_eq!(session.jid().to_string(), format!("{user}@labelgate.test"));
        session.close().await;
    }
    // A per-user certificate is its user's.
    let (bob, _rx) = session_on(s, Identity::User("bob"), "bob").await.unwrap();
    assert_eq!(bob.bound_jid().node().map(|n| n.as_str()), Some("bob"));
    bob.close().await;
    // Refused: bob's certificate naming alice; an untrusted CA; no certificate.
    let ep = common::endpoint_on(
        s,
        Identity::User("bob"),
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    let alice: jid::BareJid = "alice@labelgate.test".parse().unwrap();
    let bob: jid::BareJid = "bob@labelgate.test".parse().unwrap();
    common::refused(&ep, &bob, Some(&alice)).await;
    for identity in [Identity::Untrusted, Identity::Anonymous] {
        let ep = common::endpoint_on(s, identity, labelgate::xmpp::connect::TlsMode::StartTls);
        common::refused(&ep, &alice, Some(&alice)).await;
    }
    // The gateway certificate names nobody of another domain.
    let ep = common::endpoint_on(
        s,
        Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    let other: jid::BareJid = "alice@irc.labelgate.test".parse().unwrap();
    common::refused(&ep, &other, Some(&other)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_made_by_a_join_opens_to_others_and_labels_cross_it() {
    let s = prosody();
    let room: jid::BareJid = format!("{}@conference.labelgate.test", unique("fresh"))
        .parse()
        .unwrap();
    let (alice, _arx) = session_on(s, Identity::Gateway, "alice").await.unwrap();
    alice
        .join(&room, "alice", History::default())
        .await
        .unwrap();
    let (bob, mut brx) = session_on(s, Identity::Gateway, "bob").await.unwrap();
    bob.join(&room, "bob", History::default())
        .await
        .expect("bob enters the room alice's join made (it is not left locked)");
    let policy = load_policy(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/spif/uk-demo.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let l = policy.parse_marking("SECRET").unwrap();
    let out = OutgoingMessage {
        body: "[DEMO-UK SECRET] over prosody".into(),
        label: Some(SecurityLabel {
            display: Some(policy.display_marking(&l).unwrap()),
            label: LabelPayload::Ess(l.clone()),
            equivalents: vec![],
        }),
        origin_id: origin_id(),
        notice: false,
    };
    alice
        .send_groupchat(&room, &peer_cleared(out))
        .await
        .unwrap();
    let m = wait_for(&mut brx, 20, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] over prosody"));
    assert_eq!(m.label.unwrap().unwrap().label, LabelPayload::Ess(l));
    alice.close().await;
    bob.close().await;
}

/// A Prosody restart is not a removal: the session reconnects when the server is back and is
/// in the room again (`Rejoined`, never `RemovedFromRoom`), and a message after that reaches
/// the room. (Here Prosody closed the stream without a 332/333 self-presence; the handling of
/// those — kept rooms, joined again — is not reproduced by this test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rejoins_the_room_and_removes_nobody() {
    let s = common::TestServer::private("test-prosody-restart", 25732);
    let room: jid::BareJid = format!("{}@conference.labelgate.test", unique("restart"))
        .parse()
        .unwrap();
    let (alice, mut arx) = session_on(&s, Identity::Gateway, "alice").await.unwrap();
    alice
        .join(&room, "alice", History::default())
        .await
        .unwrap();
    s.stop();
    s.start();
    let mut removed = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let e = tokio::time::timeout_at(deadline, arx.recv())
            .await
            .expect("no rejoin within 60 s")
            .expect("the session ended");
        match e {
            XmppEvent::RemovedFromRoom { codes, .. } => removed.push(codes),
            XmppEvent::Rejoined { room: r, .. } if r == room => break,
            _ => {}
        }
    }
    assert!(removed.is_empty(), "removed from the room: {removed:?}");
    // In the room again: bob sees alice's message.
    let (bob, mut brx) = session_on(&s, Identity::Gateway, "bob").await.unwrap();
    bob.join(&room, "bob", History::default()).await.unwrap();
    let out = OutgoingMessage {
        body: "after the restart".into(),
        label: None,
        origin_id: origin_id(),
        notice: false,
    };
    alice
        .send_groupchat(&room, &peer_cleared(out))
        .await
        .unwrap();
    let m = wait_for(&mut brx, 20, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(m.body.as_deref(), Some("after the restart"));
    alice.close().await;
    bob.close().await;
    s.stop();
}

/// A gateway session answers what other XMPP clients ask of it, as a client should: disco#info
/// and version get results (from a real, independent client — slixmpp on its own
/// certificate), anything else `service-unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_answers_disco_and_version() {
    let s = prosody();
    let (alice, _arx) = session_on(s, Identity::Gateway, "alice").await.unwrap();
    let to = alice.bound_jid().to_string();
    let mut x = slix::Slix::start(s, "carol").await;
    for (query, want) in [
        (
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            "result",
        ),
        ("<query xmlns='jabber:iq:version'/>", "result"),
        ("<query xmlns='jabber:iq:roster'/>", "error"),
    ] {
        let id = unique("q");
        let (kind, condition, _) = x
            .raw_iq(
                &format!("<iq xmlns='jabber:client' type='get' to='{to}' id='{id}'>{query}</iq>"),
                &id,
                20,
            )
            .await;
        assert_eq!(kind, want, "{query}: {condition:?}");
        if want == "error" {
            assert_eq!(condition.as_deref(), Some("service-unavailable"));
        }
    }
    x.quit().await;
    alice.close().await;
}
