//! Sessions in MUC rooms on a real ejabberd: labelled groupchat and private messages arrive
//! intact, history carries its delay stamp, joins fail with typed errors, occupants are tracked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::{room, session, unique, wait_for};
use labelgate::internal::peer_cleared;
use labelgate::label::Label;
use labelgate::label::xep0258::{DisplayMarking, LabelPayload, SecurityLabel};
use labelgate::xmpp::muc::{History, JoinError, OutgoingMessage};
use labelgate::xmpp::session::{CatalogError, XmppEvent, origin_id};

fn secret_label() -> SecurityLabel {
    let mut l = Label::new("1.2.826.0.1.6726289.0.4".parse().unwrap(), 4);
    l.categories.insert(labelgate::label::Category {
        tag_set: "1.2.826.0.1.6726289.0.4.3".parse().unwrap(),
        tag_type: labelgate::label::TagType::Permissive,
        lacv: 0,
    });
    SecurityLabel {
        display: Some(DisplayMarking {
            text: "DEMO-UK SECRET - UK EYES ONLY".into(),
            fg: Some("black".into()),
            bg: Some("#FFAA00".into()),
        }),
        label: LabelPayload::Ess(l),
        equivalents: vec![],
    }
}

#[tokio::test]
async fn labelled_groupchat_private_and_history() {
    let r = room(&unique("room"));
    let (alice, mut alice_rx) = session(&unique("alice")).await;
    let (bob, mut bob_rx) = session(&unique("bob")).await;
    let joined = alice.join(&r, "alice", History::default()).await.unwrap();
    assert_eq!(joined.nick, "alice");
    assert!(joined.occupants.contains_key("alice"));
    let joined = bob.join(&r, "bob", History::default()).await.unwrap();
    assert!(joined.occupants.contains_key("alice") && joined.occupants.contains_key("bob"));
    let seen = wait_for(&mut alice_rx, 10, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } => Some(occupant.nick.clone()),
        _ => None,
    })
    .await;
    assert_eq!(seen, "bob");

    // Groupchat with a label.
    let label = secret_label();
    let out = OutgoingMessage {
        body: "[DEMO-UK SECRET - UK EYES ONLY] meet at noon".into(),
        label: Some(label.clone()),
        origin_id: origin_id(),
        notice: false,
    };
    alice
        .send_groupchat(&r, &peer_cleared(out.clone()))
        .await
        .unwrap();
    let (nick, msg) = wait_for(&mut bob_rx, 10, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if message.body.is_some() => {
            Some((nick.clone(), message.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!(nick.as_deref(), Some("alice"));
    assert_eq!(msg.body.as_deref(), Some(out.body.as_str()));
    assert_eq!(msg.label.clone().unwrap().unwrap(), label);
    assert_eq!(msg.origin_id.as_deref(), Some(out.origin_id.as_str()));
    assert!(msg.delay.is_none(), "a live message has no delay");
    // The sender sees the room's reflection, matched by origin-id.
    let echo = wait_for(&mut alice_rx, 10, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
            message.origin_id.clone()
        }
        _ => None,
    })
    .await;
    assert_eq!(echo, out.origin_id);

    // Private message through the room, labelled.
    let pm = OutgoingMessage {
        body: "just for you".into(),
        label: Some(label.clone()),
        origin_id: origin_id(),
        notice: false,
    };
    alice
        .send_private(&r, "bob", &peer_cleared(pm))
        .await
        .unwrap();
    let (nick, msg) = wait_for(&mut bob_rx, 10, |e| match e {
        XmppEvent::Private { nick, message, .. } => Some((nick.clone(), message.clone())),
        _ => None,
    })
    .await;
    assert_eq!(nick, "alice");
    assert_eq!(msg.body.as_deref(), Some("just for you"));
    assert_eq!(msg.label.clone().unwrap().unwrap(), label);

    // A late joiner gets the labelled message from history, with its delay stamp.
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(
            &r,
            "carol",
            History {
                max_stanzas: Some(10),
                since: None,
            },
        )
        .await
        .unwrap();
    let msg = wait_for(&mut carol_rx, 10, |e| match e {
        XmppEvent::Groupchat { message, .. } if message.body.is_some() => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(msg.body.as_deref(), Some(out.body.as_str()));
    assert_eq!(msg.label.clone().unwrap().unwrap(), label);
    assert!(
        msg.delay.as_deref().is_some_and(|d| d.len() >= 20),
        "{:?}",
        msg.delay
    );

    // Leaving is seen by the others.
    carol.leave(&r, Some(&peer_cleared("bye".to_owned()))).await;
    let left = wait_for(&mut bob_rx, 10, |e| match e {
        XmppEvent::OccupantLeft { nick, .. } => Some(nick.clone()),
        _ => None,
    })
    .await;
    assert_eq!(left, "carol");
    alice.close().await;
    bob.close().await;
    carol.close().await;
}

#[tokio::test]
async fn nick_conflict_is_a_typed_error() {
    let r = room(&unique("conflict"));
    let (a, _a_rx) = session(&unique("a")).await;
    let (b, _b_rx) = session(&unique("b")).await;
    a.join(&r, "samenick", History::default()).await.unwrap();
    let err = b
        .join(&r, "samenick", History::default())
        .await
        .unwrap_err();
    assert_eq!(err, JoinError::NickConflict("samenick".into()));
    // And the failed room is not left half-joined: a join with another nick works.
    b.join(&r, "othernick", History::default()).await.unwrap();
}

#[tokio::test]
async fn subject_changes_arrive() {
    let r = room(&unique("topic"));
    let (a, mut a_rx) = session(&unique("a")).await;
    let (b, mut b_rx) = session(&unique("b")).await;
    a.join(&r, "a", History::default()).await.unwrap();
    b.join(&r, "b", History::default()).await.unwrap();
    a.set_subject(
        &r,
        &peer_cleared(labelgate::xmpp::muc::OutgoingSubject {
            text: "Operation Dynamo".into(),
            label: None,
        }),
    )
    .await
    .unwrap();
    for rx in [&mut a_rx, &mut b_rx] {
        let (nick, subject) = wait_for(rx, 10, |e| match e {
            XmppEvent::Subject { nick, subject, .. } if !subject.is_empty() => {
                Some((nick.clone(), subject.clone()))
            }
            _ => None,
        })
        .await;
        assert_eq!(
            (nick.as_deref(), subject.as_str()),
            (Some("a"), "Operation Dynamo")
        );
    }
}

#[tokio::test]
async fn sending_to_a_room_not_joined_is_refused() {
    let (a, _rx) = session(&unique("a")).await;
    let out = OutgoingMessage {
        body: "x".into(),
        label: None,
        origin_id: origin_id(),
        notice: false,
    };
    let err = a
        .send_groupchat(&room("nowhere"), &peer_cleared(out))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("not in room"), "{err}");
}

#[tokio::test]
async fn ejabberd_has_no_catalog_service() {
    let (a, _rx) = session(&unique("a")).await;
    let target = room("anyroom").into();
    match a.catalog(&target).await {
        Err(CatalogError::NoService(cond)) => assert!(!cond.is_empty()),
        other => panic!("expected no catalog service, got {other:?}"),
    }
}

#[tokio::test]
async fn nick_changes_and_kicks_are_tracked() {
    let r = room(&unique("moderated"));
    let (owner, mut owner_rx) = session(&unique("owner")).await;
    let (guest, mut guest_rx) = session(&unique("guest")).await;
    owner.join(&r, "owner", History::default()).await.unwrap();
    guest.join(&r, "guest", History::default()).await.unwrap();
    wait_for(&mut owner_rx, 10, |e| {
        matches!(e, XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "guest")
            .then_some(())
    })
    .await;

    // The guest renames: both sides see one nick change and no join.
    guest.change_nick(&r, "visitor").await.unwrap();
    for rx in [&mut owner_rx, &mut guest_rx] {
        let (old, new) = wait_for(rx, 10, |e| match e {
            XmppEvent::NickChanged { old, new, .. } => Some((old.clone(), new.clone())),
            XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "visitor" => {
                panic!("a nick change was reported as a join")
            }
            _ => None,
        })
        .await;
        assert_eq!((old.as_str(), new.as_str()), ("guest", "visitor"));
    }
    let (mine, occupants) = guest.occupants(&r).await.unwrap();
    assert_eq!(mine, "visitor");
    assert!(occupants.contains_key("visitor") && !occupants.contains_key("guest"));
    let (_, occupants) = owner.occupants(&r).await.unwrap();
    let owner_entry = &occupants["owner"];
    assert_eq!(owner_entry.role, labelgate::xmpp::muc::Role::Moderator);
    assert_eq!(
        owner_entry.affiliation,
        labelgate::xmpp::muc::Affiliation::Owner
    );

    // The owner kicks the visitor: the owner sees a leave with status 307, the visitor its
    // removal.
    owner
        .kick(&r, "visitor", Some(&peer_cleared("test over".to_owned())))
        .await
        .unwrap();
    let (nick, codes) = wait_for(&mut owner_rx, 10, |e| match e {
        XmppEvent::OccupantLeft { nick, codes, .. } => Some((nick.clone(), codes.clone())),
        _ => None,
    })
    .await;
    assert_eq!(nick, "visitor");
    assert!(codes.contains(&307), "{codes:?}");
    let (codes, reason) = wait_for(&mut guest_rx, 10, |e| match e {
        XmppEvent::RemovedFromRoom { codes, reason, .. } => Some((codes.clone(), reason.clone())),
        _ => None,
    })
    .await;
    assert!(codes.contains(&307), "{codes:?}");
    assert_eq!(reason.as_deref(), Some("test over"));
    assert!(
        guest.occupants(&r).await.is_none(),
        "the kicked session is no longer in the room"
    );
}

/// A consumer that waits on a command while its events pile up is never stuck behind them:
/// with far more room messages queued than the event channel holds, a join still completes
/// (the worker keeps taking commands), and afterwards every message is there, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_never_blocks_a_command() {
    let r1 = room(&unique("burst"));
    let r2 = room(&unique("burst"));
    let (a, mut arx) = session(&unique("reader")).await;
    a.join(&r1, "reader", History::default()).await.unwrap();
    let (b, _brx) = session(&unique("writer")).await;
    b.join(&r1, "writer", History::default()).await.unwrap();
    const N: usize = 1000;
    for i in 0..N {
        let out = OutgoingMessage {
            body: format!("m{i}"),
            label: None,
            origin_id: origin_id(),
            notice: false,
        };
        b.send_groupchat(&r1, &peer_cleared(out)).await.unwrap();
    }
    // a has not read one event; its channel holds 256.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    a.join(&r2, "reader", History::default())
        .await
        .expect("the join completes though the events wait");
    let mut got = Vec::new();
    while got.len() < N {
        let body = wait_for(&mut arx, 30, |e| match e {
            XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("writer") => {
                message.body.clone()
            }
            _ => None,
        })
        .await;
        got.push(body);
    }
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    a.close().await;
    b.close().await;
}
