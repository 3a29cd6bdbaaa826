//! Link mode, the network's side in, against a real ngIRCd and the real ejabberd: a person on
//! the IRC network (the `irc` crate) appears in the mapped room as an occupant of their own,
//! logged in with SASL EXTERNAL under the puppet domain; what they type reaches the room with
//! the XEP-0258 label of its FLOT marking (or the room's default) when the network's
//! accreditation and the room's ceiling allow it, and is refused to them by a NOTICE from the
//! gateway's service nick (audited) when not. An XMPP user in the room (a real session) sees it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;
#[path = "common/ircd.rs"]
mod ircd;
#[path = "common/support.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Identity, endpoint, room, session, unique, wait_for};
use irc::proto::Command as IrcCommand;
use labelgate::audit::{AuditLog, Gate};
use labelgate::bridge::link::LinkInbound;
use labelgate::config::mappings::Mappings;
use labelgate::config::network::{IrcNetwork, NetworkAuth};
use labelgate::internal::peer_cleared;
use labelgate::label::Clearance;
use labelgate::label::PolicySet;
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{XmppEvent, origin_id};

/// A room message as an XMPP client sends it, labelled with `marking`.
fn labelled(p: &PolicySet, body: &str, marking: &str) -> OutgoingMessage {
    let l = p.primary().parse_marking(marking).unwrap();
    OutgoingMessage {
        body: body.into(),
        label: Some(SecurityLabel {
            display: Some(p.primary().display_marking(&l).unwrap()),
            label: LabelPayload::Ess(l),
            equivalents: vec![],
        }),
        origin_id: origin_id(),
        notice: false,
    }
}

/// The next room message from dave that carol sees.
async fn next_from_dave(
    rx: &mut tokio::sync::mpsc::Receiver<XmppEvent>,
) -> Box<labelgate::xmpp::muc::ReceivedMessage> {
    wait_for(rx, 20, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("dave") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
}

/// The test network, accredited to `accreditation`, with quick pacing.
fn testnet(p: &labelgate::label::Policy, accreditation: &str) -> IrcNetwork {
    IrcNetwork {
        name: "testnet".into(),
        servers: vec![],
        tls: true,
        tls_name: "localhost".into(),
        ca_file: None,
        auth: NetworkAuth::None,
        nick_template: "{nick}".into(),
        nick_length: 30,
        burst: 10,
        interval: Duration::from_millis(50),
        accreditation: Clearance::parse(p, accreditation).unwrap(),
        accreditation_text: accreditation.into(),
        puppet_domain: "irc.labelgate.test".into(),
        puppet_certificate: PathBuf::new(),
        puppet_key: PathBuf::new(),
        service_nick: "labelgate".into(),
        line: 1,
    }
}

/// The link of `network` to `net`, deciding with `pol`, auditing to `audit`, its puppets
/// logged in with the test PKI's puppet certificate.
fn start_link(
    net: &ircd::Ircd,
    pol: &Arc<PolicySet>,
    mappings: Mappings,
    network: IrcNetwork,
    audit: &support::Buf,
) -> LinkInbound {
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(audit.clone()), false)),
    );
    let mut puppets = endpoint(Identity::Puppets, TlsMode::StartTls);
    puppets.domain = "irc.labelgate.test".into();
    LinkInbound::start(
        network,
        vec![net.tls_server()],
        gate,
        Arc::new(mappings),
        Arc::new(puppets),
    )
}

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
    // The gateway's service nick joins; dave, already there, appears in the room.
    dave.wait_for(
        |m| m.source_nickname() == Some("labelgate") && matches!(m.command, IrcCommand::JOIN(..)),
        "the service nick",
    )
    .await;
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
    // carol, in the room before the link started, is on the network under her room nick.
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol on IRC",
    )
    .await;

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
    let refusal = dave
        .wait_for(
            |m| {
                m.source_nickname() == Some("labelgate")
                    && matches!(m.command, IrcCommand::NOTICE(..))
            },
            "the refusal",
        )
        .await;
    let IrcCommand::NOTICE(to, words) = refusal.command else {
        unreachable!()
    };
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
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "eve" => Some(()),
        _ => None,
    })
    .await;
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

/// A room line written to the network but never confirmed by it (the ircd stopped, then
/// killed, under it) is reported to its XMPP sender, privately in the room: never a silent
/// loss. Lines are not sent again (they may have arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_network_never_confirmed_is_reported_to_its_sender() {
    let pol = support::demo_policies();
    let net = ircd::Ircd::start("test-ngircd-unconfirmed", 26684);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
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
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol on IRC",
    )
    .await;
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
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
    let audit = support::Buf::default();
    let mut dave = first.person("dave", &["#ops"]).await;
    let mut eve = second.person("eve", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(audit.clone()), false)),
    );
    let mut puppets = endpoint(Identity::Puppets, TlsMode::StartTls);
    puppets.domain = "irc.labelgate.test".into();
    let link = LinkInbound::start(
        testnet(pol.primary(), accreditation),
        vec![first.tls_server(), second.tls_server()],
        gate,
        Arc::new(mappings),
        Arc::new(puppets),
    );
    dave.wait_for(
        |m| m.source_nickname() == Some("labelgate") && matches!(m.command, IrcCommand::JOIN(..)),
        "the service nick",
    )
    .await;
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "dave" => Some(()),
        _ => None,
    })
    .await;

    first.kill();
    drop(dave);
    // On the second server: eve sees the service nick join, then the notice.
    eve.wait_for(
        |m| m.source_nickname() == Some("labelgate") && matches!(m.command, IrcCommand::JOIN(..)),
        "the service nick on the second server",
    )
    .await;
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
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
    let audit = support::Buf::default();
    let mut dave = net.person("dave", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let link = start_link(&net, &pol, mappings, testnet(p, accreditation), &audit);
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol on IRC",
    )
    .await;
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "dave" => Some(()),
        _ => None,
    })
    .await;

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
    let told = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "labelgate" => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        told.body.as_deref(),
        Some(
            "Your message did not reach IRC (#ops): its label is above what the channel may carry. Nobody on the IRC side saw it."
        )
    );

    // The network to the room.
    dave.client.send_privmsg("carol", "[SECRET] back").unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "dave" => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] back"));
    assert_eq!(
        m.label.clone().unwrap().unwrap().label,
        LabelPayload::Ess(p.parse_marking("SECRET").unwrap())
    );
    dave.client
        .send_privmsg("carol", "[TOP SECRET] no")
        .unwrap();
    let refusal = dave
        .wait_for(
            |m| {
                m.source_nickname() == Some("labelgate")
                    && matches!(m.command, IrcCommand::NOTICE(..))
            },
            "the refusal",
        )
        .await;
    let IrcCommand::NOTICE(_, words) = refusal.command else {
        unreachable!()
    };
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
    let told = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "labelgate" => Some(message.clone()),
        _ => None,
    })
    .await;
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
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
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
    for who in ["carol", "erin"] {
        dave.wait_for(
            |m| m.source_nickname() == Some(who) && matches!(m.command, IrcCommand::JOIN(..)),
            "the occupants on IRC",
        )
        .await;
    }
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "dave" => Some(()),
        _ => None,
    })
    .await;
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

/// One of the gateway's connections killed by an operator (as a K-line would end it) does not
/// touch the others: the other occupant's lines still cross; the killed one reconnects,
/// rejoins, and what its occupant said meanwhile arrives after the rejoin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_killed_does_not_take_down_the_others() {
    let pol = support::demo_policies();
    let net = ircd::Ircd::start("test-ngircd-kill", 26696);
    let room_jid = room(&unique("linked"));
    let accreditation = "SECRET, National Caveats:*";
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
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
    for who in ["carol", "erin"] {
        dave.wait_for(
            |m| m.source_nickname() == Some(who) && matches!(m.command, IrcCommand::JOIN(..)),
            "the occupants on IRC",
        )
        .await;
    }
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
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol back",
    )
    .await;
    assert_eq!(
        dave.privmsgs("carol", "#ops", 1).await,
        ["[DEMO-UK OFFICIAL] while down"]
    );
    assert!(link.close(Duration::from_secs(10)).await);
    carol.close().await;
    erin.close().await;
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
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
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
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol on IRC",
    )
    .await;
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
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{accreditation}\"\nnetwork = \"testnet\"\n"
    );
    let mappings = Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], &pol).unwrap();
    let audit = support::Buf::default();
    // dave, first in #ops, is its operator.
    let mut dave = net.person("dave", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("carol")).await;
    carol
        .join(&room_jid, "carol", History::default())
        .await
        .unwrap();
    let link = start_link(&net, &pol, mappings, testnet(p, accreditation), &audit);
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol on IRC",
    )
    .await;
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == "dave" => Some(()),
        _ => None,
    })
    .await;
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
    let refusal = dave
        .wait_for(
            |m| {
                m.source_nickname() == Some("labelgate")
                    && matches!(m.command, IrcCommand::NOTICE(..))
            },
            "the refusal",
        )
        .await;
    let IrcCommand::NOTICE(_, words) = refusal.command else {
        unreachable!()
    };
    assert!(
        words.starts_with("#ops: ") && words.contains("TOP SECRET"),
        "{words}"
    );

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
    let told = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == "labelgate" => Some(message.clone()),
        _ => None,
    })
    .await;
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
