//! Link mode when things break, against real ngIRCd servers and ejabberd: a line the network
//! never confirmed is reported to its sender; a gap in the service connection is told on both
//! sides and the room follows the channel again; one connection killed leaves the others.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/ircd.rs"]
mod ircd;
#[path = "common/link.rs"]
mod link;
#[path = "common/support.rs"]
mod support;

use std::time::Duration;

use common::{room, session, unique, wait_for};
use irc::proto::Command as IrcCommand;
use labelgate::internal::peer_cleared;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::XmppEvent;
use link::{labelled, start_link, testnet};

/// A room line written to the network but never confirmed by it (the ircd stopped, then
/// killed, under it) is reported to its XMPP sender, privately in the room: never a silent
/// loss. Lines are not sent again (they may have arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_network_never_confirmed_is_reported_to_its_sender() {
    let pol = support::demo_policies();
    let net = ircd::Ircd::start("test-ngircd-unconfirmed", 26684);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mappings = link::ops_on_testnet(&pol, &room_jid, accreditation);
    let audit = support::Buf::default();
    let mut dave = net.person("dave", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let link = start_link(
        &net,
        &pol,
        mappings,
        testnet(pol.primary(), accreditation),
        &audit,
    );
    dave.joined("carol").await;
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(labelled(&pol, "confirmed", "OFFICIAL")),
        )
        .await
        .unwrap();
    assert_eq!(
        dave.privmsgs("carol", "#ops", 1).await,
        ["[DEMO-UK OFFICIAL] confirmed"]
    );
    // The ircd stops reading (SIGSTOP): carol's next line is written but never confirmed;
    // then it dies.
    let pid = std::fs::read_to_string(net.dir.join("pid")).unwrap();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, pid.trim()])
                .status()
                .unwrap()
                .success()
        )
    };
    signal("-STOP");
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(labelled(&pol, "unconfirmed", "OFFICIAL")),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal("-KILL");
    let told = wait_for(&mut carol_rx, 30, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "labelgate" => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        told.body.as_deref(),
        Some(
            "Your last message may not have reached IRC (#ops): the gateway's connection to the network was lost before the server confirmed it. It is not sent again."
        )
    );
    drop(dave);
    net.stop();
    let _ = link.close(Duration::from_secs(5)).await;
    carol.close().await;
}

/// The service connection's server dies and the link moves to the network's other server:
/// what was typed in the channel meanwhile was never seen, so the channel (a NOTICE) and the
/// room (a message from the gateway's occupant) are told; the rejoin's NAMES is the truth —
/// a person no longer listed leaves the room, one newly listed enters it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_the_link_is_told_on_both_sides_and_the_room_follows_the_channel() {
    let pol = support::demo_policies();
    let first = ircd::Ircd::start("test-ngircd-gap-a", 26686);
    let second = ircd::Ircd::start("test-ngircd-gap-b", 26688);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mappings = link::ops_on_testnet(&pol, &room_jid, accreditation);
    let audit = support::Buf::default();
    let mut dave = first.person("dave", &["#ops"]).await;
    let mut eve = second.person("eve", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let link = link::start_link_to(
        vec![first.tls_server(), second.tls_server()],
        &pol,
        mappings,
        testnet(pol.primary(), accreditation),
        &audit,
    );
    dave.joined("labelgate").await;
    link::occupant_joined(&mut carol_rx, "dave").await;

    first.kill();
    drop(dave);
    // On the second server: eve sees the service nick join, then the notice.
    eve.joined("labelgate").await;
    let notice = eve
        .wait_for(
            |m| {
                m.source_nickname() == Some("labelgate")
                    && matches!(&m.command, IrcCommand::NOTICE(t, _) if t == "#ops")
            },
            "the notice of the gap",
        )
        .await;
    let IrcCommand::NOTICE(_, words) = notice.command else {
        unreachable!()
    };
    assert!(
        words.starts_with("The gateway was away from this network for ")
            && words.ends_with(" s: what was typed here meanwhile did not reach the XMPP room."),
        "{words}"
    );
    // The room: dave (not on this server's #ops) leaves, eve enters, and the gateway says so.
    let mut left = false;
    let mut entered = false;
    let mut told = None;
    while !(left && entered && told.is_some()) {
        let e = wait_for(&mut carol_rx, 20, |e| match e {
            XmppEvent::OccupantLeft { nick, .. } if nick == "dave" => Some(1),
            XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "eve" => Some(2),
            XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("labelgate") => {
                Some(
                    if message.body.as_deref().is_some_and(|b| {
                        b.starts_with("The gateway was away from the IRC network for ")
                            && b.ends_with(
                                " s: what was typed in #ops meanwhile did not reach this room.",
                            )
                    }) {
                        3
                    } else {
                        4
                    },
                )
            }
            _ => None,
        })
        .await;
        match e {
            1 => left = true,
            2 => entered = true,
            3 => told = Some(()),
            _ => panic!("an unexpected message from the gateway's occupant"),
        }
    }
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    second.stop();
}

/// One of the gateway's connections killed by an operator (as a K-line would end it) does not
/// touch the others: the other occupant's lines still cross; the killed one reconnects,
/// rejoins, and what its occupant said meanwhile arrives after the rejoin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_killed_does_not_take_down_the_others() {
    let pol = support::demo_policies();
    let net = ircd::Ircd::start("test-ngircd-kill", 26696);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mappings = link::ops_on_testnet(&pol, &room_jid, accreditation);
    let audit = support::Buf::default();
    let mut dave = net.person("dave", &["#ops"]).await;
    let (carol, _carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let (erin, _erin_rx) = session(&unique("erin")).await;
    erin.join(&room_jid, "erin", History::default())
        .await
        .unwrap();
    let link = start_link(
        &net,
        &pol,
        mappings,
        testnet(pol.primary(), accreditation),
        &audit,
    );
    dave.all_joined(&["carol", "erin"]).await;
    dave.client
        .send(IrcCommand::OPER("testop".into(), "testop-pw".into()))
        .unwrap();
    dave.wait_for(
        |m| matches!(&m.command, IrcCommand::Response(r, _) if *r == irc::proto::Response::RPL_YOUREOPER),
        "operator",
    )
    .await;
    dave.client
        .send(IrcCommand::KILL("carol".into(), "test kill".into()))
        .unwrap();
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::QUIT(..)),
        "carol killed",
    )
    .await;
    // erin's connection is untouched; carol says something while hers is down (once the link
    // has seen it gone: a line written into the closing socket would be reported as
    // unconfirmed instead, which another test covers).
    tokio::time::sleep(Duration::from_millis(500)).await;
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(labelled(&pol, "while down", "OFFICIAL")),
        )
        .await
        .unwrap();
    erin.send_groupchat(
        &room_jid,
        &peer_cleared(labelled(&pol, "still here", "OFFICIAL")),
    )
    .await
    .unwrap();
    assert_eq!(
        dave.privmsgs("erin", "#ops", 1).await,
        ["[DEMO-UK OFFICIAL] still here"]
    );
    dave.joined("carol").await;
    assert_eq!(
        dave.privmsgs("carol", "#ops", 1).await,
        ["[DEMO-UK OFFICIAL] while down"]
    );
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    erin.close().await;
    net.stop();
}
