//! Link mode beyond room lines, against a real ngIRCd and ejabberd: private messages both
//! ways, nick changes, subjects and topics — each decided, each refusal told.

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
use labelgate::label::xep0258::LabelPayload;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::XmppEvent;
use link::{labelled, next_from_dave, start_link, testnet};

/// Private messages both ways, each decided as a room line of its room: a room occupant's to a
/// person of the network leaves from the occupant's own IRC connection, marked; a person's to
/// an occupant's IRC nick arrives from their own occupant, labelled; above the ceiling they
/// are refused to the sender on their own side. Writing to the gateway's own occupant is
/// answered, never dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_cross_both_ways_decided() {
    let pol = support::demo_policies();
    let p = pol.primary();
    let net = ircd::Ircd::start("test-ngircd-private", 26692);
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
    let link = start_link(&net, &pol, mappings, testnet(p, accreditation), &audit);
    dave.joined("carol").await;
    link::occupant_joined(&mut carol_rx, "dave").await;

    // The room to the network.
    carol
        .send_private(
            &room_jid,
            "dave",
            &peer_cleared(labelled(&pol, "psst", "SECRET")),
        )
        .await
        .unwrap();
    assert_eq!(
        dave.privmsgs("carol", "dave", 1).await,
        ["[DEMO-UK SECRET] psst"]
    );
    carol
        .send_private(
            &room_jid,
            "dave",
            &peer_cleared(labelled(&pol, "eyes only", "TOP SECRET")),
        )
        .await
        .unwrap();
    let told = link::private_from(&mut carol_rx, "labelgate").await;
    assert_eq!(
        told.body.as_deref(),
        Some(
            "Your message did not reach IRC (#ops): its label is above what the channel may carry. Nobody on the IRC side saw it."
        )
    );

    // The network to the room.
    dave.client.send_privmsg("carol", "[SECRET] back").unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = link::private_from(&mut carol_rx, "dave").await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] back"));
    assert_eq!(
        m.label.clone().unwrap().unwrap().label,
        LabelPayload::Ess(p.parse_marking("SECRET").unwrap())
    );
    dave.client
        .send_privmsg("carol", "[TOP SECRET] no")
        .unwrap();
    let words = dave.gateway_notice().await;
    assert!(
        words.starts_with("carol: ") && words.contains("TOP SECRET"),
        "{words}"
    );

    // The gateway's own occupant answers.
    carol
        .send_private(
            &room_jid,
            "labelgate",
            &peer_cleared(labelled(&pol, "hello?", "OFFICIAL")),
        )
        .await
        .unwrap();
    let told = link::private_from(&mut carol_rx, "labelgate").await;
    assert!(
        told.body
            .as_deref()
            .is_some_and(|b| b.starts_with("This is the gateway's own occupant")),
        "{told:?}"
    );
    // Kicked from the room (carol created it, so she moderates): dave is told on IRC, and
    // his next line takes his occupant back in.
    carol.kick(&room_jid, "dave", None).await.unwrap();
    let told = dave
        .wait_for(
            |m| {
                m.source_nickname() == Some("labelgate")
                    && matches!(&m.command, IrcCommand::NOTICE(_, t) if t.contains("kicked"))
            },
            "the kick told",
        )
        .await;
    let IrcCommand::NOTICE(_, words) = told.command else {
        unreachable!()
    };
    assert!(
        words.starts_with("you were kicked from #ops's XMPP room"),
        "{words}"
    );
    dave.client.send_privmsg("#ops", "back again").unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = next_from_dave(&mut carol_rx).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK OFFICIAL] back again"));
    let records: Vec<serde_json::Value> = audit
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["direction"] == "private" && r["decision"] == "deny")
        .collect();
    assert_eq!(
        records.len(),
        2,
        "both refused private messages are audited: {records:?}"
    );
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    net.stop();
}

/// A room occupant's nick change is followed on IRC by a NICK of their connection (not a quit
/// and a join), a collision with someone of the network resolved by the sequence; their next
/// line comes from the new nick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_nick_change_is_a_nick_change_on_irc() {
    let pol = support::demo_policies();
    let net = ircd::Ircd::start("test-ngircd-nick", 26698);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mappings = link::ops_on_testnet(&pol, &room_jid, accreditation);
    let audit = support::Buf::default();
    let mut dave = net.person("dave", &["#ops"]).await;
    // Someone of the network already has the nick carol will take (in no linked channel).
    let mut carrie = net.person("carrie", &[]).await;
    carrie
        .wait_for(
            |m| matches!(&m.command, IrcCommand::Response(r, _) if *r == irc::proto::Response::RPL_WELCOME),
            "carrie registered",
        )
        .await;
    let (carol, _carol_rx) = session(&unique("carol")).await;
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
    carol.change_nick(&room_jid, "carrie").await.unwrap();
    let m = dave
        .wait_for(
            |m| {
                m.source_nickname() == Some("carol")
                    && matches!(m.command, IrcCommand::NICK(..) | IrcCommand::QUIT(..))
            },
            "carol's nick change",
        )
        .await;
    assert!(
        matches!(&m.command, IrcCommand::NICK(n) if n == "carrie|2"),
        "{m:?}"
    );
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(labelled(&pol, "renamed", "OFFICIAL")),
        )
        .await
        .unwrap();
    assert_eq!(
        dave.privmsgs("carrie|2", "#ops", 1).await,
        ["[DEMO-UK OFFICIAL] renamed"]
    );
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    net.stop();
}

/// Subjects and topics both ways: a room occupant's subject becomes the channel's topic, set
/// by their own connection; a topic set on IRC becomes the room's subject, set by the
/// person's occupant with the label of its marking; above the ceiling it is refused to them;
/// a topic the ircd refuses (`+t`) is told to the room occupant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_and_topics_cross_both_ways_decided() {
    use labelgate::xmpp::muc::OutgoingSubject;
    let pol = support::demo_policies();
    let p = pol.primary();
    let net = ircd::Ircd::start("test-ngircd-topic", 26700);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mappings = link::ops_on_testnet(&pol, &room_jid, accreditation);
    let audit = support::Buf::default();
    // dave, first in #ops, is its operator.
    let mut dave = net.person("dave", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let link = start_link(&net, &pol, mappings, testnet(p, accreditation), &audit);
    dave.joined("carol").await;
    link::occupant_joined(&mut carol_rx, "dave").await;
    let mode = |flag: &str| IrcCommand::Raw("MODE".into(), vec!["#ops".into(), flag.into()]);
    // (ngIRCd's channels may start with -t already: ask, and read the modes back.)
    let modes_are = |dave_modes: &irc::proto::Message, want_t: bool| {
        matches!(&dave_modes.command, IrcCommand::Response(r, p)
            if *r == irc::proto::Response::RPL_CHANNELMODEIS
                && p.get(2).is_some_and(|m| m.contains('t') == want_t))
    };
    dave.client.send(mode("-t")).unwrap();
    dave.client
        .send(IrcCommand::Raw("MODE".into(), vec!["#ops".into()]))
        .unwrap();
    let m = dave
        .wait_for(
            |m| matches!(&m.command, IrcCommand::Response(r, _) if *r == irc::proto::Response::RPL_CHANNELMODEIS),
            "the modes",
        )
        .await;
    assert!(modes_are(&m, false), "{m:?}");

    // The room's subject to the channel's topic.
    let subject = |text: &str| {
        peer_cleared(OutgoingSubject {
            text: text.into(),
            label: None,
        })
    };
    carol
        .set_subject(&room_jid, &subject("Weekly sync"))
        .await
        .unwrap();
    let topic = dave
        .wait_for(
            |m| matches!(m.command, IrcCommand::TOPIC(..)),
            "carol's topic",
        )
        .await;
    assert_eq!(topic.source_nickname(), Some("carol"));
    assert!(
        matches!(&topic.command, IrcCommand::TOPIC(c, Some(t)) if c == "#ops" && t == "Weekly sync"),
        "{topic:?}"
    );

    // The channel's topic to the room's subject, labelled by its marking.
    dave.client
        .send_topic("#ops", "[SECRET] from the network")
        .unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let (subject_text, label) = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Subject {
            nick,
            subject,
            message,
            ..
        } if nick.as_deref() == Some("dave") => Some((subject.clone(), message.label.clone())),
        _ => None,
    })
    .await;
    assert_eq!(subject_text, "[DEMO-UK SECRET] from the network");
    assert_eq!(
        label.unwrap().unwrap().label,
        LabelPayload::Ess(p.parse_marking("SECRET").unwrap())
    );
    dave.client.send_topic("#ops", "[TOP SECRET] no").unwrap();
    let words = dave.gateway_notice().await;
    assert!(
        words.starts_with("#ops: ") && words.contains("TOP SECRET"),
        "{words}"
    );

    // A room subject labelled above the channel's ceiling is withheld from IRC (audited) and
    // its author told; the channel's next topic is the one after it.
    let l = p.parse_marking("TOP SECRET").unwrap();
    let high = peer_cleared(OutgoingSubject {
        text: "eyes only".into(),
        label: Some(labelgate::label::xep0258::SecurityLabel {
            display: Some(p.display_marking(&l).unwrap()),
            label: LabelPayload::Ess(l),
            equivalents: vec![],
        }),
    });
    carol.set_subject(&room_jid, &high).await.unwrap();
    let told = link::private_from(&mut carol_rx, "labelgate").await;
    assert!(
        told.body.as_deref().is_some_and(|b| b.starts_with(
            "Your subject did not become the topic of #ops on IRC: its label is above"
        )),
        "{told:?}"
    );
    carol
        .set_subject(&room_jid, &subject("After the secret one"))
        .await
        .unwrap();
    let topic = dave
        .wait_for(
            |m| matches!(m.command, IrcCommand::TOPIC(..)),
            "the next topic",
        )
        .await;
    assert!(
        matches!(&topic.command, IrcCommand::TOPIC(_, Some(t)) if t == "After the secret one"),
        "a withheld subject reached IRC: {topic:?}"
    );
    let denied = audit
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| {
            r["what"] == "subject" && r["decision"] == "deny" && r["direction"] == "xmpp-to-irc"
        })
        .count();
    assert_eq!(denied, 1, "the withheld subject is audited");

    // +t: only operators may set the topic; carol is told hers did not become it.
    dave.client.send(mode("+t")).unwrap();
    dave.client
        .send(IrcCommand::Raw("MODE".into(), vec!["#ops".into()]))
        .unwrap();
    let m = dave
        .wait_for(
            |m| matches!(&m.command, IrcCommand::Response(r, _) if *r == irc::proto::Response::RPL_CHANNELMODEIS),
            "the modes",
        )
        .await;
    assert!(modes_are(&m, true), "{m:?}");
    carol
        .set_subject(&room_jid, &subject("Not allowed"))
        .await
        .unwrap();
    let told = link::private_from(&mut carol_rx, "labelgate").await;
    assert!(
        told.body.as_deref().is_some_and(|b| b.starts_with(
            "Your subject did not become the topic of #ops on IRC: the IRC server refused it"
        )),
        "{told:?}"
    );
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    net.stop();
}
