//! Link mode's IRC connections against a real ngIRCd over TLS, with people on the network
//! played by the `irc` crate: registration, joining, paced messages in order, the nick
//! collision sequence, the queue's bound, and a server killed and restarted under traffic
//! with every message either delivered or handed back as unconfirmed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "common/ircd.rs"]
mod ircd;

use std::collections::BTreeSet;
use std::time::Duration;

use irc::proto::Command as IrcCommand;
use labelgate::internal::peer_cleared;
use labelgate::link::{LinkConfig, LinkConnection, LinkError, LinkEvent};
use tokio::sync::mpsc;

async fn next_event(
    rx: &mut mpsc::Receiver<LinkEvent>,
    what: &str,
    pred: impl Fn(&LinkEvent) -> bool,
) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("link events ended");
        if pred(&e) {
            return e;
        }
    }
}

async fn registered(rx: &mut mpsc::Receiver<LinkEvent>) -> String {
    match next_event(rx, "registration", |e| {
        matches!(e, LinkEvent::Registered { .. })
    })
    .await
    {
        LinkEvent::Registered { nick, .. } => nick,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn registers_joins_and_delivers_a_burst_in_order() {
    let net = ircd::Ircd::start("test-ngircd-basic", 26670);
    let mut watcher = net.person("watcher", &["#ops"]).await;
    let mut config = LinkConfig::new(vec![net.tls_server()], "alice");
    config.burst = 3;
    config.interval = Duration::from_millis(50);
    let (link, mut rx) = LinkConnection::start(config);
    link.join("#ops").unwrap();
    assert_eq!(registered(&mut rx).await, "alice");
    // Sent at once: the link paces them; every one arrives, in order.
    let sent: Vec<String> = (0..30).map(|i| format!("[OFFICIAL] line {i}")).collect();
    for s in &sent {
        link.privmsg("#ops", &peer_cleared(s.clone())).unwrap();
    }
    assert_eq!(watcher.privmsgs("alice", "#ops", sent.len()).await, sent);
    // A line longer than IRC allows is refused, not cut.
    assert_eq!(
        link.privmsg("#ops", &peer_cleared("x".repeat(600))),
        Err(LinkError::TooLong)
    );
    // What the network says reaches the link's owner.
    watcher
        .client
        .send_privmsg("#ops", "hello from IRC")
        .unwrap();
    watcher.pump(Duration::from_millis(300)).await;
    let e = next_event(&mut rx, "the watcher's line", |e| {
        matches!(e, LinkEvent::Message(m) if m.verb == "PRIVMSG" && m.params.last().map(String::as_str) == Some("hello from IRC"))
    })
    .await;
    let LinkEvent::Message(m) = e else {
        unreachable!()
    };
    assert!(m.source.unwrap().starts_with("watcher!"));
    link.quit(Some("done"));
    watcher
        .wait_for(
            |m| m.source_nickname() == Some("alice") && matches!(m.command, IrcCommand::QUIT(_)),
            "alice's quit",
        )
        .await;
    next_event(&mut rx, "closed", |e| *e == LinkEvent::Closed).await;
}

#[tokio::test]
async fn a_taken_nick_takes_the_next_of_one_sequence() {
    let net = ircd::Ircd::start("test-ngircd-nicks", 26672);
    let mut watcher = net.person("bob", &["#ops"]).await;
    let (l2, mut rx2) = LinkConnection::start(LinkConfig::new(vec![net.tls_server()], "bob"));
    l2.join("#ops").unwrap();
    match next_event(&mut rx2, "registration", |e| {
        matches!(e, LinkEvent::Registered { .. })
    })
    .await
    {
        LinkEvent::Registered { nick, wanted, .. } => {
            assert_eq!(nick, "bob|2");
            assert_eq!(wanted, "bob");
        }
        _ => unreachable!(),
    }
    let (l3, mut rx3) = LinkConnection::start(LinkConfig::new(vec![net.tls_server()], "bob"));
    assert_eq!(registered(&mut rx3).await, "bob|3");
    // Visible to the network: the second one joined under its suffixed nick.
    watcher
        .wait_for(
            |m| m.source_nickname() == Some("bob|2") && matches!(m.command, IrcCommand::JOIN(..)),
            "bob|2 joins",
        )
        .await;
    l2.quit(None);
    l3.quit(None);
}

#[tokio::test]
async fn the_queue_is_bounded_while_the_network_is_down() {
    // Nothing listens on this port: the link keeps retrying and its queue fills.
    let server = labelgate::link::Server {
        address: "127.0.0.1:26679".parse().unwrap(),
        tls: None,
    };
    let mut config = LinkConfig::new(vec![server], "nobody");
    config.queue_limit = 3;
    let (link, mut rx) = LinkConnection::start(config);
    for i in 0..3 {
        link.privmsg("#ops", &peer_cleared(format!("held {i}")))
            .unwrap();
    }
    assert_eq!(
        link.privmsg("#ops", &peer_cleared("one too many".to_owned())),
        Err(LinkError::QueueFull)
    );
    match next_event(&mut rx, "the loss", |e| matches!(e, LinkEvent::Lost { .. })).await {
        LinkEvent::Lost {
            reason,
            unconfirmed,
            ..
        } => {
            assert!(reason.contains("cannot connect"), "{reason}");
            assert!(unconfirmed.is_empty(), "nothing was written");
        }
        _ => unreachable!(),
    }
    link.quit(None);
}

#[tokio::test]
async fn a_killed_server_loses_nothing_unreported_and_the_link_moves_to_the_next() {
    // Two servers of one network (ngIRCd instances unlinked: a person waits on each).
    let a = ircd::Ircd::start("test-ngircd-restart-a", 26674);
    let b = ircd::Ircd::start("test-ngircd-restart-b", 26676);
    let mut config = LinkConfig::new(vec![a.tls_server(), b.tls_server()], "carol");
    config.backoff_initial = Duration::from_millis(200);
    config.backoff_max = Duration::from_secs(1);
    config.burst = 10;
    config.interval = Duration::from_millis(20);
    let mut on_b = b.person("watcher", &["#ops"]).await;
    let mut on_a = a.person("watcher", &["#ops"]).await;
    let (link, mut rx) = LinkConnection::start(config);
    link.join("#ops").unwrap();
    assert_eq!(registered(&mut rx).await, "carol");
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push((
            link.privmsg("#ops", &peer_cleared(format!("before {i}")))
                .unwrap(),
            format!("before {i}"),
        ));
    }
    let got_before = on_a.privmsgs("carol", "#ops", 20).await;
    // Lines in flight when the server dies, and lines typed while no server is there.
    for i in 0..20 {
        ids.push((
            link.privmsg("#ops", &peer_cleared(format!("during {i}")))
                .unwrap(),
            format!("during {i}"),
        ));
    }
    a.kill();
    drop(on_a);
    let unconfirmed =
        match next_event(&mut rx, "the loss", |e| matches!(e, LinkEvent::Lost { .. })).await {
            LinkEvent::Lost { unconfirmed, .. } => unconfirmed,
            _ => unreachable!(),
        };
    for i in 0..10 {
        ids.push((
            link.privmsg("#ops", &peer_cleared(format!("down {i}")))
                .unwrap(),
            format!("down {i}"),
        ));
    }
    // The link comes back on the other server under its nick and rejoins on its own.
    let mut more_unconfirmed = Vec::new();
    loop {
        match next_event(&mut rx, "re-registration", |e| {
            matches!(e, LinkEvent::Registered { .. } | LinkEvent::Lost { .. })
        })
        .await
        {
            LinkEvent::Registered { nick, server, .. } => {
                assert_eq!(nick, "carol");
                assert_eq!(server.port(), 26677);
                break;
            }
            LinkEvent::Lost { unconfirmed, .. } => more_unconfirmed.extend(unconfirmed),
            _ => unreachable!(),
        }
    }
    link.privmsg("#ops", &peer_cleared("after".to_owned()))
        .unwrap();
    // Every line that had not arrived and was not handed back as unconfirmed arrives on the
    // other server, in order. A line handed back is not resent by the link (its owner reports
    // it), so it does not arrive twice either.
    let reported: BTreeSet<u64> = unconfirmed
        .iter()
        .chain(&more_unconfirmed)
        .copied()
        .collect();
    let mut expected: Vec<String> = ids
        .iter()
        .skip(20)
        .filter(|(id, text)| !reported.contains(id) && !got_before.contains(text))
        .map(|(_, t)| t.clone())
        .collect();
    expected.push("after".into());
    let got = on_b.privmsgs("carol", "#ops", expected.len()).await;
    assert_eq!(got, expected, "unconfirmed: {reported:?}");
    // The lines typed while no server was there were queued, never reported.
    for (id, text) in ids.iter().skip(40) {
        assert!(
            !reported.contains(id),
            "{text} was reported before it was written"
        );
    }
    link.quit(None);
    b.stop();
}
