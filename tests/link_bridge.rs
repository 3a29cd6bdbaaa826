//! Link mode both ways against a real ngIRCd and the real ejabberd: a person on the IRC
//! network (the `irc` crate) appears in the mapped room as an occupant of their own, logged in
//! with SASL EXTERNAL under the puppet domain; what they type reaches the room with the XEP-0258
//! label of its FLOT marking (or the room's default) when the network's accreditation and the
//! room's ceiling allow it, and is refused to them by a NOTICE from the gateway's service nick
//! (audited) when not. Room occupants (the project's sessions, and slixmpp) get IRC connections
//! of their own; each line crosses once however many of the gateway's links see it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/ircd.rs"]
mod ircd;
#[path = "common/link.rs"]
mod link;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use common::{room, session, unique, wait_for};
use irc::proto::Command as IrcCommand;
use labelgate::config::mappings::Mappings;
use labelgate::internal::peer_cleared;
use labelgate::label::xep0258::LabelPayload;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::XmppEvent;
use link::{labelled, next_from_dave, start_link, testnet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_networks_people_are_occupants_and_their_lines_are_decided() {
    let pol = support::demo_policies();
    let p = pol.primary();
    let net = ircd::Ircd::start("test-ngircd-bridge", 26680);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping.clone())], &pol).unwrap();
    let room_label = mappings.get("#ops").unwrap().room_label.clone();
    let network = testnet(p, accreditation);
    let audit = support::Buf::default();
    // An XMPP user in the room; a person on the network in the channel.
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let mut dave = net.person("dave", &["#ops"]).await;
    let link = start_link(&net, &pol, mappings, network, &audit);
    // The gateway's service nick joins, and carol — in the room before the link started — is
    // on the network under her room nick (two connections: either may join first); dave,
    // already there, appears in the room.
    dave.all_joined(&["labelgate", "carol"]).await;
    let joined = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantJoined { room, occupant }
            if room == &room_jid && occupant.nick == "dave" =>
        {
            Some(occupant.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(joined.nick, "dave");

    // The room's side out: carol's lines reach #ops from her own connection, marked; one
    // above the channel's ceiling (TOP SECRET) is withheld (audited), never sent.
    for (body, marking) in [
        ("room plan", "SECRET"),
        ("eyes only", "TOP SECRET"),
        ("room hello", "OFFICIAL"),
    ] {
        carol
            .send_groupchat(&room_jid, &peer_cleared(labelled(&pol, body, marking)))
            .await
            .unwrap();
    }
    // carol is told, privately in the room by the gateway's occupant, that her TOP SECRET
    // line did not reach IRC: the gateway's words at the room's label, never her text.
    let told = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Private {
            room,
            nick,
            message,
        } if room == &room_jid && nick == "labelgate" => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        told.body.as_deref(),
        Some(
            "Your message did not reach IRC (#ops): its label is above what the channel may carry. Nobody on the IRC side saw it."
        )
    );
    assert_eq!(
        told.label.clone().unwrap().unwrap().label,
        LabelPayload::Ess(room_label)
    );
    let got = dave.privmsgs("carol", "#ops", 2).await;
    assert_eq!(
        got,
        [
            "[DEMO-UK SECRET] room plan",
            "[DEMO-UK OFFICIAL] room hello"
        ]
    );

    // A marked line: its label, the marking's display, the body with the FLOT.
    dave.client
        .send_privmsg("#ops", "[SECRET] the plan")
        .unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = next_from_dave(&mut carol_rx).await;
    let sl = m.label.clone().unwrap().unwrap();
    assert_eq!(
        sl.label,
        LabelPayload::Ess(p.parse_marking("SECRET").unwrap())
    );
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] the plan"));

    // No marking: the room's default label.
    dave.client.send_privmsg("#ops", "hello").unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = next_from_dave(&mut carol_rx).await;
    let sl = m.label.clone().unwrap().unwrap();
    assert_eq!(
        sl.label,
        LabelPayload::Ess(p.parse_marking("OFFICIAL").unwrap())
    );

    // Above the network's accreditation: refused to dave by the service nick, audited, and
    // never in the room (the next line carol sees from dave is the one after it).
    dave.client
        .send_privmsg("#ops", "[TOP SECRET] too high")
        .unwrap();
    let (to, words) = dave.gateway_notice_to().await;
    assert_eq!(to, "dave");
    assert!(words.starts_with("#ops: "), "{words}");
    assert!(words.contains("TOP SECRET"), "{words}");
    dave.client.send_privmsg("#ops", "after").unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = next_from_dave(&mut carol_rx).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK OFFICIAL] after"));
    let trail = audit.text();
    let records: Vec<serde_json::Value> = trail
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of_dave = |d: &str| {
        records
            .iter()
            .filter(|r| r["account"] == "dave" && r["decision"] == d)
            .count()
    };
    assert_eq!(of_dave("deny"), 1, "one refusal of dave's line:\n{trail}");
    let withheld = records
        .iter()
        .filter(|r| r["account"] == "carol" && r["decision"] == "deny")
        .count();
    assert_eq!(
        withheld, 1,
        "carol's TOP SECRET line withheld from IRC, audited:\n{trail}"
    );
    assert!(
        of_dave("grant") >= 3,
        "dave's lines that crossed are audited:\n{trail}"
    );

    // Formatting is read as server mode reads it: a bold marking is the marking it shows (so
    // a bold TOP SECRET is refused, not sent at the default with its words), and text outside
    // a CTCP's delimiters is refused in words.
    dave.client
        .send_privmsg("#ops", "\x02[SECRET]\x02 bold \x0304plan")
        .unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = next_from_dave(&mut carol_rx).await;
    let sl = m.label.clone().unwrap().unwrap();
    assert_eq!(
        sl.label,
        LabelPayload::Ess(p.parse_marking("SECRET").unwrap())
    );
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] bold plan"));
    dave.client
        .send_privmsg("#ops", "\x02[TOP SECRET]\x02 bold too high")
        .unwrap();
    let (_, words) = dave.gateway_notice_to().await;
    assert!(words.contains("TOP SECRET"), "{words}");
    dave.client
        .send_privmsg("#ops", "\x01ACTION\x01 [TOP SECRET] outside")
        .unwrap();
    let (_, words) = dave.gateway_notice_to().await;
    assert!(words.contains("CTCP delimiter"), "{words}");

    // No loop: none of dave's own lines came back to him from the gateway's connections, and
    // the room saw each once (the order checks above would have met a second copy).
    dave.client.send_privmsg("#ops", "last").unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = next_from_dave(&mut carol_rx).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK OFFICIAL] last"));
    carol
        .send_groupchat(&room_jid, &peer_cleared(labelled(&pol, "bye", "OFFICIAL")))
        .await
        .unwrap();
    loop {
        let m = dave
            .wait_for(
                |m| matches!(&m.command, IrcCommand::PRIVMSG(t, _) if t == "#ops"),
                "carol's bye",
            )
            .await;
        let who = m.source_nickname().unwrap_or_default().to_owned();
        let IrcCommand::PRIVMSG(_, text) = m.command else {
            unreachable!()
        };
        assert_eq!(
            who, "carol",
            "a line from {who} came back to the network: {text}"
        );
        if text == "[DEMO-UK OFFICIAL] bye" {
            break;
        }
    }
    // …and the channel holds exactly dave, the service nick and carol: no connection of the
    // gateway stands in for one of the network's own people.
    dave.client
        .send(IrcCommand::NAMES(Some("#ops".into()), None))
        .unwrap();
    let names = dave
        .wait_for(|m| matches!(&m.command, IrcCommand::Response(r, _) if *r == irc::proto::Response::RPL_NAMREPLY), "NAMES")
        .await;
    let IrcCommand::Response(_, params) = names.command else {
        unreachable!()
    };
    let mut names: Vec<String> = params
        .last()
        .unwrap()
        .split(' ')
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_start_matches(['@', '+']).to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["carol", "dave", "labelgate"]);
    // The gateway's occupant reads the room in order: by the time carol's "bye" reached IRC it
    // had seen each of dave's lines come back from the room, and sent none of them out.
    let looped: Vec<String> = audit
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["account"] == "dave" && r["direction"] == "xmpp-to-irc")
        .map(|r| r.to_string())
        .collect();
    assert!(
        looped.is_empty(),
        "dave's own lines were decided for IRC: {looped:?}"
    );

    // Someone who joins later appears; when they leave, they leave the room.
    let mut eve = net.person("eve", &["#ops"]).await;
    link::occupant_joined(&mut carol_rx, "eve").await;
    eve.client
        .send(IrcCommand::PART("#ops".into(), None))
        .unwrap();
    eve.pump(Duration::from_millis(200)).await;
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantLeft { nick, .. } if nick == "eve" => Some(()),
        _ => None,
    })
    .await;
    assert!(
        link.close(Duration::from_secs(10)).await,
        "the link closes in time"
    );
    carol.close().await;
    net.stop();
}

/// Exactly once with several of the gateway's links in one channel: two room occupants (two
/// IRC connections of the gateway) and the service nick all see every line of the channel;
/// each line of dave's reaches the room once, in his order, and each room line reaches the
/// channel once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_gateway_links_in_a_channel_deliver_each_line_once() {
    let pol = support::demo_policies();
    let net = ircd::Ircd::start("test-ngircd-once", 26694);
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
    link::occupant_joined(&mut carol_rx, "dave").await;
    let sent: Vec<String> = (0..5).map(|i| format!("line {i}")).collect();
    for s in sent.iter().chain(std::iter::once(&"end".to_owned())) {
        dave.client.send_privmsg("#ops", s).unwrap();
    }
    dave.pump(Duration::from_millis(300)).await;
    let mut got = Vec::new();
    loop {
        let m = next_from_dave(&mut carol_rx).await;
        let body = m.body.unwrap_or_default();
        if body == "[DEMO-UK OFFICIAL] end" {
            break;
        }
        got.push(body);
    }
    let want: Vec<String> = sent
        .iter()
        .map(|s| format!("[DEMO-UK OFFICIAL] {s}"))
        .collect();
    assert_eq!(got, want, "each of dave's lines once, in order");
    // The other way: erin's line reaches the channel once (the next line dave sees is carol's).
    erin.send_groupchat(
        &room_jid,
        &peer_cleared(labelled(&pol, "from erin", "OFFICIAL")),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    carol
        .send_groupchat(
            &room_jid,
            &peer_cleared(labelled(&pol, "from carol", "OFFICIAL")),
        )
        .await
        .unwrap();
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let m = dave
            .wait_for(
                |m| matches!(&m.command, IrcCommand::PRIVMSG(t, _) if t == "#ops"),
                "room lines",
            )
            .await;
        let who = m.source_nickname().unwrap_or_default().to_owned();
        let IrcCommand::PRIVMSG(_, text) = m.command else {
            unreachable!()
        };
        lines.push(format!("<{who}> {text}"));
    }
    assert_eq!(
        lines,
        [
            "<erin> [DEMO-UK OFFICIAL] from erin",
            "<carol> [DEMO-UK OFFICIAL] from carol"
        ]
    );
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    erin.close().await;
    net.stop();
}

/// The same with a real, independent XMPP client in the room (slixmpp, its own certificate):
/// it sees the network's person arrive, its labelled lines reach the channel marked, one above
/// the ceiling is withheld and it is told so privately, and the person's marked line reaches
/// it with the exact XEP-0258 label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slixmpp_occupant_and_a_person_of_the_network() {
    use slix::{Slix, SlixLabel};
    let pol = support::demo_policies();
    let p = pol.primary();
    let net = ircd::Ircd::start("test-ngircd-slix", 26702);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mappings = link::ops_on_testnet(&pol, &room_jid, accreditation);
    let audit = support::Buf::default();
    let mut dave = net.person("dave", &["#ops"]).await;
    let mut x = Slix::start(common::server(), "alice").await;
    let room_text = room_jid.to_string();
    x.join(&room_text, "alice").await;
    let link = start_link(&net, &pol, mappings, testnet(p, accreditation), &audit);
    x.presence_of(&room_text, "dave", "available", 30).await;
    dave.joined("alice").await;

    x.send(
        &room_text,
        "from slixmpp",
        Some(SlixLabel::marking(&pol, "SECRET")),
    )
    .await;
    x.send(
        &room_text,
        "eyes only",
        Some(SlixLabel::marking(&pol, "TOP SECRET")),
    )
    .await;
    assert_eq!(
        dave.privmsgs("alice", "#ops", 1).await,
        ["[DEMO-UK SECRET] from slixmpp"]
    );
    let told = x.message_from("labelgate", Some("chat"), 20).await;
    assert_eq!(
        told.body.as_deref(),
        Some(
            "Your message did not reach IRC (#ops): its label is above what the channel may carry. Nobody on the IRC side saw it."
        )
    );

    dave.client
        .send_privmsg("#ops", "[SECRET] hello slixmpp")
        .unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = x.message_from("dave", Some("groupchat"), 20).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] hello slixmpp"));
    assert_eq!(
        m.ess.as_deref(),
        Some(p.parse_marking("SECRET").unwrap().to_base64().as_str())
    );
    assert_eq!(m.display.as_deref(), Some("DEMO-UK SECRET"));
    assert!(link.close(Duration::from_secs(10)).await);
    x.quit().await;
    net.stop();
}
