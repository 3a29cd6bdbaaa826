//! End to end through the bridge: IRC users of two clearances (raw IRC clients) and an XMPP
//! user (a real XMPP session) in one room on the project's ejabberd. Labels travel both ways;
//! nobody sends above their clearance; nobody receives what their clearance does not dominate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/support.rs"]
mod support;

use labelgate::internal::peer_cleared;
use std::path::PathBuf;
use std::sync::Arc;

use support::Buf;

use common::{Identity, endpoint, room, session, unique, wait_for};
use labelgate::audit::{AuditLog, Gate};
use labelgate::bridge::{Bridge, Identity as BridgeIdentity};
use labelgate::config::mappings::Mappings;
use labelgate::config::users::Users;
use labelgate::irc::server::{Shared, serve};
use labelgate::label::PolicySet;
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{XmppEvent, origin_id};
use tokio::sync::watch;

fn policies() -> Arc<PolicySet> {
    support::demo_policies()
}

fn label_element(p: &PolicySet, marking: &str) -> SecurityLabel {
    let l = p.primary().parse_marking(marking).unwrap();
    SecurityLabel {
        display: Some(p.primary().display_marking(&l).unwrap()),
        label: LabelPayload::Ess(l),
        equivalents: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_clearances_both_ways() {
    let pol = policies();
    let room_jid = room(&unique("bridged"));
    let secret_room = room(&unique("secretroom"));
    let mapping_text = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\nclearance = \"TOP SECRET, National Caveats:*\"\nhistory = 20\n\n[[channel]]\nirc = \"#secret\"\nroom = \"{secret_room}\"\ndefault_label = \"SECRET\"\nclearance = \"SECRET\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping_text)], &pol).unwrap();
    let audit = Buf::default();
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(audit.clone()), false)),
    );
    let ep = Arc::new(endpoint(Identity::Gateway, TlsMode::StartTls));
    let bridge = Bridge::new(gate, mappings, BridgeIdentity::TrustedGateway(ep));

    // IRC users: accounts named uniquely so their JIDs do not collide with other tests.
    let (a_acct, b_acct) = (unique("alice"), unique("bob"));
    let hash = |p: &str| labelgate::config::users::hash_password(p).unwrap();
    let users_text = format!(
        "jid_template = \"{{account}}@labelgate.test\"\n[[user]]\naccount = \"{a_acct}\"\nclearance = \"SECRET, UK\"\npassword = \"{}\"\n[[user]]\naccount = \"{b_acct}\"\nclearance = \"OFFICIAL\"\npassword = \"{}\"\n",
        hash("a"),
        hash("b")
    );
    let users = Users::parse(std::path::Path::new("u.toml"), &users_text, pol.primary()).unwrap();
    let (_stop, stop_rx) = watch::channel(false);
    let shared = Shared::new(irc::config(), users, Arc::new(bridge), stop_rx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(shared, listener, None, Default::default()));

    // The XMPP user is in the room first.
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();

    let mut alice = irc::Raw::login(addr, "alice", &a_acct, "a").await;
    let mut bob = irc::Raw::login(addr, "bob", &b_acct, "b").await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #ops").await;
        let names = c.until(" 353 ").await;
        assert!(names.contains("carol"), "{names}");
        c.until(" 366 ").await;
    }

    // Unmapped channel, and a room above bob's clearance.
    bob.send("JOIN #nowhere,#secret").await;
    assert!(
        bob.until(" 403 ")
            .await
            .contains("#nowhere :No room is mapped")
    );
    assert!(
        bob.until(" 477 ")
            .await
            .contains("#secret :Cannot join channel: your clearance")
    );

    // IRC -> XMPP: alice's marking becomes the XEP-0258 label; bob, not cleared, gets nothing.
    alice
        .send("PRIVMSG #ops :[secret uk eyes only] the plan")
        .await;
    let msg = wait_for(&mut carol_rx, 10, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    let sl = msg.label.clone().unwrap().unwrap();
    let want = pol
        .primary()
        .parse_marking("SECRET - UK EYES ONLY")
        .unwrap();
    assert_eq!(sl.label, LabelPayload::Ess(want));
    assert_eq!(
        sl.display.as_ref().unwrap().text,
        "DEMO-UK SECRET - UK EYES ONLY"
    );
    assert_eq!(
        msg.body.as_deref(),
        Some("[DEMO-UK SECRET - UK EYES ONLY] the plan")
    );

    // Sending above one's clearance, or an unknown marking: refused, nothing reaches the room.
    bob.send("PRIVMSG #ops :[SECRET] let me see").await;
    assert!(
        bob.until("Not sent")
            .await
            .contains("Not sent: your clearance does not cover this label")
    );
    bob.send("PRIVMSG #ops :[BANANA] hello").await;
    assert!(bob.until("Not sent").await.contains("is not a valid label"));

    // XMPP -> IRC: a SECRET message reaches alice only; an OFFICIAL one both, under its real
    // marking even when the body imitates another; an unlabelled one takes the room default.
    let send = |body: &str, marking: Option<&str>| OutgoingMessage {
        body: body.into(),
        label: marking.map(|m| label_element(&pol, m)),
        origin_id: origin_id(),
        notice: false,
    };
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(send("for alice only", Some("SECRET UK EYES ONLY"))),
        )
        .await
        .unwrap();
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(send("[DEMO-UK TOP SECRET] not really", Some("OFFICIAL"))),
        )
        .await
        .unwrap();
    carol
        .send_groupchat(&room_jid, &peer_cleared(send("no label at all", None)))
        .await
        .unwrap();
    let mut a_lines = Vec::new();
    while a_lines.len() < 3 {
        let l = alice.until("PRIVMSG #ops").await;
        assert!(
            !l.contains(":bob!"),
            "a refused message reached the room: {l}"
        );
        if l.contains(":carol!") {
            a_lines.push(l);
        }
    }
    assert!(
        a_lines[0].ends_with("PRIVMSG #ops :[DEMO-UK SECRET - UK EYES ONLY] for alice only"),
        "{a_lines:?}"
    );
    assert!(
        a_lines[1].ends_with("PRIVMSG #ops :[DEMO-UK OFFICIAL] [DEMO-UK TOP SECRET] not really"),
        "{a_lines:?}"
    );
    assert!(
        a_lines[2].ends_with("PRIVMSG #ops :[DEMO-UK OFFICIAL] no label at all"),
        "{a_lines:?}"
    );
    // Bob's first message from carol is the OFFICIAL one: the SECRET one was withheld.
    let first = bob.until(":carol!").await;
    assert!(
        first.ends_with("PRIVMSG #ops :[DEMO-UK OFFICIAL] [DEMO-UK TOP SECRET] not really"),
        "{first}"
    );
    let second = bob.until(":carol!").await;
    assert!(
        second.ends_with("[DEMO-UK OFFICIAL] no label at all"),
        "{second}"
    );
    // Alice's own message did not come back to her (no echo-message) and bob never saw it.

    // Every kind of line break a client may render — not only LF — starts a new IRC line under
    // the real marking: a body cannot push an imitation to the start of a shown line (VT and
    // FF, which XML cannot carry, in the unit test).
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(send(
                "one\u{2028}[DEMO-UK TOP SECRET] two\u{2029}three\u{85}four\r\nfive",
                Some("OFFICIAL"),
            )),
        )
        .await
        .unwrap();
    let mut shown = Vec::new();
    while shown.len() < 5 {
        let l = bob.until(":carol!").await;
        shown.push(l.split(" :").nth(1).unwrap_or_default().to_owned());
    }
    assert_eq!(
        shown,
        [
            "[DEMO-UK OFFICIAL] one",
            "[DEMO-UK OFFICIAL] [DEMO-UK TOP SECRET] two",
            "[DEMO-UK OFFICIAL] three",
            "[DEMO-UK OFFICIAL] four",
            "[DEMO-UK OFFICIAL] five",
        ]
    );

    // Everything was audited: grants and denials, with markings, without bodies.
    let log = audit.text();
    let recs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let denied_secret_to_bob = recs.iter().any(|r| {
        r["account"] == b_acct.as_str()
            && r["decision"] == "deny"
            && r["direction"] == "xmpp-to-irc"
            && r["label"]["marking"] == "DEMO-UK SECRET - UK EYES ONLY"
    });
    assert!(denied_secret_to_bob, "{log}");
    assert!(recs.iter().all(|r| r.get("body").is_none()));
    // echo-message: the sender's line comes back from the room's reflection, under its label.
    alice.send("CAP REQ echo-message").await;
    alice.until("ACK").await;
    alice
        .send("PRIVMSG #ops :[SECRET UK EYES ONLY] echoed")
        .await;
    let echo = alice.until("echoed").await;
    assert!(
        echo.contains(":alice!")
            && echo.ends_with("PRIVMSG #ops :[DEMO-UK SECRET - UK EYES ONLY] echoed"),
        "{echo}"
    );

    // Private messages through the room, labelled and checked both ways.
    alice
        .send("PRIVMSG carol :[SECRET UK EYES ONLY] psst")
        .await;
    let pm = wait_for(&mut carol_rx, 10, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "alice" => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        pm.body.as_deref(),
        Some("[DEMO-UK SECRET - UK EYES ONLY] psst")
    );
    assert_eq!(
        pm.label.clone().unwrap().unwrap().display.unwrap().text,
        "DEMO-UK SECRET - UK EYES ONLY"
    );
    carol
        .send_private(
            &room_jid,
            "bob",
            &peer_cleared(send("secret for bob", Some("SECRET UK EYES ONLY"))),
        )
        .await
        .unwrap();
    carol
        .send_private(
            &room_jid,
            "alice",
            &peer_cleared(send("secret for alice", Some("SECRET UK EYES ONLY"))),
        )
        .await
        .unwrap();
    carol
        .send_private(
            &room_jid,
            "bob",
            &peer_cleared(send("official for bob", Some("OFFICIAL"))),
        )
        .await
        .unwrap();
    let to_alice = alice.until("PRIVMSG alice").await;
    assert!(
        to_alice.ends_with("PRIVMSG alice :[DEMO-UK SECRET - UK EYES ONLY] secret for alice"),
        "{to_alice}"
    );
    let to_bob = bob.until("PRIVMSG bob").await;
    assert!(
        to_bob.ends_with("PRIVMSG bob :[DEMO-UK OFFICIAL] official for bob"),
        "withheld PM delivered? {to_bob}"
    );
    bob.send("PRIVMSG nobody :hello").await;
    assert!(bob.until(" 401 ").await.contains("nobody"));

    // History on join is filtered the same way and carries server-time.
    let mut late = irc::Raw::login(addr, "bob2", &b_acct, "b").await;
    late.send("CAP REQ server-time").await;
    late.until("ACK").await;
    late.send("JOIN #ops").await;
    late.until(" 366 ").await;
    let mut replay = Vec::new();
    while replay.len() < 2 {
        let l = late.until("PRIVMSG #ops").await;
        assert!(
            !l.contains("for alice only") && !l.contains("the plan"),
            "withheld history replayed: {l}"
        );
        replay.push(l);
    }
    assert!(
        replay[0].starts_with("@time=")
            && replay[0].ends_with("[DEMO-UK OFFICIAL] [DEMO-UK TOP SECRET] not really"),
        "{replay:?}"
    );
    assert!(
        replay[1].ends_with("[DEMO-UK OFFICIAL] no label at all"),
        "{replay:?}"
    );

    // And the XMPP side never saw anything from bob.
    while let Ok(e) = carol_rx.try_recv() {
        if let XmppEvent::Groupchat { nick, message, .. } = e {
            assert_ne!(
                nick.as_deref(),
                Some("bob"),
                "refused message reached XMPP: {:?}",
                message.body
            );
        }
    }
    carol.close().await;
}
