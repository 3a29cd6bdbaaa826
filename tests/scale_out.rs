//! Scale out (issue 17): two `labelgate run` processes with the same policy, users and
//! mappings, behind Debian's HAProxy (round robin, health checks, PROXY v2), each logged in to
//! its own node of a two-node ejabberd cluster (`contrib/ejabberd cluster`) with the other node
//! as its failover. IRC users on different gateways meet in the rooms: labelled traffic and
//! clearance checks, private messages and history cross between gateways; the same account on
//! both gateways is one room occupant; a gateway killed under traffic loses its users to the
//! other through HAProxy with every line they typed delivered or unconfirmed (and then sent
//! again); an ejabberd node killed moves its sessions to the other node, lines typed meanwhile
//! held and delivered. Audit records and metrics name each instance. And when the node that
//! held a room dies with it, a session on the other node finds out by pinging itself in the
//! room (XEP-0410) and joins it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/haproxy.rs"]
mod haproxy;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, unique};
use labelgate::xmpp::muc::History;
use slix::Slix;
use support::{edit, free_port};

/// One `labelgate run` on a copy of the demo configuration, its XMPP side on `node` with
/// `failover` next.
struct Running {
    child: Child,
    /// The plain IRC listener (PROXY protocol from 127.0.0.1 required: HAProxy's).
    irc: SocketAddr,
    metrics: SocketAddr,
    dir: PathBuf,
}

impl Running {
    async fn start(name: &str, node: &TestServer, failover: &TestServer, rooms: &Rooms) -> Running {
        let dir = support::demo_copy(&format!("scale-out-{name}"));
        let m = std::fs::read_to_string(dir.join("mappings/demo.toml")).unwrap();
        std::fs::write(
            dir.join("mappings/demo.toml"),
            m.replace("lobby@conference.labelgate.test", &rooms.lobby)
                .replace("ops@conference.labelgate.test", &rooms.ops),
        )
        .unwrap();
        let g = dir.join("gateway.toml");
        let (tls_port, plain_port, metrics_port) = (free_port(), free_port(), free_port());
        edit(
            &g,
            "server_name = \"labelgate\"",
            &format!("server_name = \"{name}\""),
        );
        edit(&g, "127.0.0.1:9464", &format!("127.0.0.1:{metrics_port}"));
        edit(&g, "127.0.0.1:6697", &format!("127.0.0.1:{tls_port}"));
        edit(&g, "127.0.0.1:6667", &format!("127.0.0.1:{plain_port}"));
        edit(
            &g,
            "tls = false",
            "tls = false\nproxy_from = [\"127.0.0.1\"]",
        );
        edit(
            &g,
            "address = \"127.0.0.1:5222\"",
            &format!(
                "address = \"127.0.0.1:{}\"\nfailover = [\"127.0.0.1:{}\"]",
                node.port, failover.port
            ),
        );
        for (from, file) in [
            ("ca_file = \"pki/ca.crt\"", "ca.crt"),
            ("certificate = \"pki/gateway.crt\"", "gateway.crt"),
            ("key = \"pki/gateway.key\"", "gateway.key"),
        ] {
            let key = from.split(" = ").next().unwrap();
            edit(
                &g,
                from,
                &format!("{key} = \"{}\"", node.pki(file).display()),
            );
        }
        let child = Command::new(env!("CARGO_BIN_EXE_labelgate"))
            .args(["run", "--config"])
            .arg(&g)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let irc: SocketAddr = format!("127.0.0.1:{plain_port}").parse().unwrap();
        support::wait_listening(irc, &format!("labelgate {name}")).await;
        Running {
            child,
            irc,
            metrics: format!("127.0.0.1:{metrics_port}").parse().unwrap(),
            dir,
        }
    }

    /// Its audit records.
    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn metrics(&self) -> String {
        support::metrics_page(self.metrics).await
    }

    /// SIGKILL: a crash; no stream is closed, no IRC user told.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The demo rooms, renamed for this run.
struct Rooms {
    lobby: String,
    ops: String,
}

/// An IRC user through the balancer, from `source`: registered with echo-message, in `#ops`.
/// Returns the client and the gateway it landed on (the numerics' source).
async fn through(front: SocketAddr, source: u8, nick: &str, account: &str) -> (irc::Raw, String) {
    let mut r = irc::Raw::connect_from(front, Ipv4Addr::new(127, 0, 0, source)).await;
    r.send("CAP REQ :echo-message").await;
    r.send(&format!("PASS {account}:{account}-demo")).await;
    r.send(&format!("NICK {nick}")).await;
    r.send(&format!("USER {nick} 0 * :{nick}")).await;
    r.until("ACK").await;
    r.send("CAP END").await;
    let welcome = r.until_within(" 001 ", 30).await;
    let gateway = welcome
        .trim_start_matches(':')
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    r.until(" 376 ").await;
    r.send("JOIN #ops").await;
    r.until_within(&format!(" 366 {nick} #ops"), 30).await;
    (r, gateway)
}

/// The next `#ops` line xavier sees from `nick`.
async fn from(x: &mut Slix, room: &str, nick: &str) -> String {
    loop {
        let m = x.message_from(nick, Some("groupchat"), 30).await;
        if m.room == room {
            return m.body.unwrap_or_default();
        }
    }
}

/// Reads xavier's `#ops` lines from `nick` up to the one ending in `end`; returns them all.
async fn from_until(x: &mut Slix, room: &str, nick: &str, end: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let body = from(x, room, nick).await;
        let last = body.ends_with(end);
        got.push(body);
        if last {
            return got;
        }
    }
}

/// Stops the cluster's nodes when the test ends, however it ends.
struct Nodes([TestServer; 2]);

impl Drop for Nodes {
    fn drop(&mut self) {
        // Node 1 last: it then starts alone next time (a node's database waits for the node
        // that went down last).
        for n in self.0.iter().rev() {
            n.stop();
        }
    }
}

/// The tests here kill cluster nodes: one at a time.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_lost_with_its_node_is_found_out_and_joined_again() {
    use labelgate::xmpp::session::{Session, SessionConfig, XmppEvent};
    let _one = CLUSTER.lock().await;
    let nodes = Nodes(common::cluster());
    let [n1, n2] = &nodes.0;
    let room: jid::BareJid = format!("{}@{}", unique("moved"), n1.muc()).parse().unwrap();
    let start = |node: &TestServer, who: &str, ping: Option<Duration>| {
        let ep = Arc::new(common::endpoint_on(
            node,
            common::Identity::Gateway,
            labelgate::xmpp::connect::TlsMode::StartTls,
        ));
        let jid: jid::BareJid = format!("{who}@{}", node.domain).parse().unwrap();
        let mut config = SessionConfig::new(
            ep,
            jid,
            labelgate::xmpp::session::IdentityMode::TrustedGateway,
        );
        config.room_ping = ping;
        async move { Session::start(config).await.unwrap() }
    };
    // dave, on node 2, makes the room: it lives on node 2. erin, on node 1, joins it and pings
    // herself in it after 2 s of silence.
    let (dave, _dave_rx) = start(n2, &unique("dave"), None).await;
    dave.join(&room, "dave", History::default()).await.unwrap();
    let (erin, mut erin_rx) = start(n1, &unique("erin"), Some(Duration::from_secs(2))).await;
    erin.join(&room, "erin", History::default()).await.unwrap();
    // Node 2 dies, and the room with it; node 1 tells erin nothing.
    n2.kill();
    // Her self-ping finds her not in the room: she joins it again (now on node 1).
    common::wait_for(&mut erin_rx, 30, |e| match e {
        XmppEvent::Rejoined { room: r, .. } if *r == room => Some(()),
        _ => None,
    })
    .await;
    // Someone new in the room (on node 1) is heard by erin.
    let (fay, _fay_rx) = start(n1, &unique("fay"), None).await;
    fay.join(&room, "fay", History::default()).await.unwrap();
    common::say(&fay, &room, "after the room moved").await;
    let body = common::wait_for(&mut erin_rx, 15, |e| match e {
        XmppEvent::Groupchat { message, .. } => message.body.clone(),
        _ => None,
    })
    .await;
    assert_eq!(body, "after the room moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_a_two_node_cluster_behind_haproxy() {
    let _one = CLUSTER.lock().await;
    let nodes = Nodes(common::cluster());
    let [n1, n2] = &nodes.0;
    let muc = n1.muc();
    let rooms = Rooms {
        lobby: format!("{}@{muc}", unique("lobby")),
        ops: format!("{}@{muc}", unique("ops")),
    };
    // xavier, on node 1, is in the room first: the room lives on node 1.
    let mut x = Slix::start(n1, "carol").await;
    x.join(&rooms.ops, "xavier").await;
    let mut a = Running::start("gw-a.test", n1, n2, &rooms).await;
    let b = Running::start("gw-b.test", n2, n1, &rooms).await;
    let lb = haproxy::HaProxy::balance("scale-out", &[a.irc, b.irc]).await;
    let front = lb.fronts[0];

    // Round robin: alice on one gateway, bob on the other.
    let (mut alice, alice_gw) = through(front, 2, "alice", "alice").await;
    let (mut bob, bob_gw) = through(front, 3, "bob", "bob").await;
    assert_ne!(alice_gw, bob_gw, "HAProxy put both on {alice_gw}");
    assert_eq!(
        alice_gw, "gw-a.test",
        "the first connection goes to the first server"
    );

    // Across gateways: a SECRET line reaches the room and xavier, and is withheld from bob
    // (OFFICIAL); an OFFICIAL one reaches bob; bob's reaches alice; bob cannot send above his
    // clearance.
    alice.send("PRIVMSG #ops :[SECRET] the plan").await;
    alice.until("the plan").await; // her echo: the room has it
    assert_eq!(
        from(&mut x, &rooms.ops, "alice").await,
        "[DEMO-UK SECRET] the plan"
    );
    alice.send("PRIVMSG #ops :hello everyone").await;
    let l = bob.until("hello everyone").await;
    assert!(
        l.contains(":alice!") && l.contains("[DEMO-UK OFFICIAL] hello everyone"),
        "{l}"
    );
    bob.send("PRIVMSG #ops :hello from bob").await;
    let l = alice.until("hello from bob").await;
    assert!(l.contains(":bob!"), "{l}");
    bob.send("PRIVMSG #ops :[SECRET] not mine").await;
    let n = bob.until("not").await;
    assert!(n.contains("clearance"), "{n}");
    // A private message from one gateway's user to the other's.
    alice.send("PRIVMSG bob :psst bob").await;
    let l = bob.until("psst bob").await;
    assert!(l.contains(":alice!") && l.contains(" PRIVMSG bob :"), "{l}");
    // Nothing of the SECRET line reached bob; everything else did, in order.
    bob.send("PING :sentinel-1").await;
    let seen = bob.lines_until("sentinel-1").await;
    assert!(!seen.iter().any(|l| l.contains("the plan")), "{seen:#?}");
    let withheld = b
        .records()
        .into_iter()
        .filter(|r| r["account"] == "bob" && r["decision"] == "deny")
        .count();
    assert!(
        withheld >= 2,
        "bob's gateway audited the withheld line and his refusal"
    );

    // History: carol joins through the balancer (onto gw-a again) and gets the room's history,
    // lines from both gateways.
    let (mut carol, carol_gw) = through(front, 4, "carol", "carol").await;
    assert_eq!(carol_gw, alice_gw);
    let _ = carol
        .lines_until_within("hello from bob", 30)
        .await
        .into_iter()
        .find(|l| l.contains("hello everyone"))
        .expect("history from gw-a's alice before gw-b's bob");

    // The same account on both gateways, under the same nick, is one occupant: what alice
    // says from her second client reaches the room once, from `alice`, and her first client
    // sees it under her own nick (as from another client of hers).
    let (mut alice2, alice2_gw) = through(front, 5, "alice", "alice").await;
    assert_eq!(alice2_gw, bob_gw);
    alice2.send("PRIVMSG #ops :from my second client").await;
    alice2.until("from my second client").await;
    let got = from_until(&mut x, &rooms.ops, "alice", "from my second client").await;
    assert_eq!(
        got.last().unwrap(),
        "[DEMO-UK OFFICIAL] from my second client"
    );
    let l = alice.until("from my second client").await;
    assert!(l.contains(":alice!"), "{l}");
    let l = bob.until("from my second client").await;
    assert!(l.contains(":alice!"), "{l}");
    alice2.send("QUIT :done").await;
    alice2.rest().await;

    // Kill gw-a under traffic: alice's lines are either echoed (the room has them) or not
    // (she sends them again once back); through HAProxy she lands on gw-b.
    let mut unconfirmed = Vec::new();
    for i in 1..=3 {
        let line = format!("before the crash {i}");
        alice.send(&format!("PRIVMSG #ops :{line}")).await;
        alice.until(&line).await;
    }
    a.kill();
    let line = "typed as it died".to_owned();
    alice.send(&format!("PRIVMSG #ops :{line}")).await;
    let mut echoed = false;
    while let Some(l) = alice.line_within(10).await {
        echoed |= l.contains(&line);
    }
    if !echoed {
        unconfirmed.push(line.clone());
    }
    carol.rest().await;
    let (mut alice, back_on) = through(front, 2, "alice", "alice").await;
    assert_eq!(
        back_on, bob_gw,
        "alice is back through the gateway still running"
    );
    for line in &unconfirmed {
        alice.send(&format!("PRIVMSG #ops :{line}")).await;
        alice.until(line).await;
    }
    alice.send("PRIVMSG #ops :back on gw-b").await;
    alice.until("back on gw-b").await;
    let got = from_until(&mut x, &rooms.ops, "alice", "back on gw-b").await;
    assert!(
        !got.iter().any(|b| b.contains("from my second client")),
        "the second client's line reached the room once: {got:#?}"
    );
    for i in 1..=3 {
        let want = format!("[DEMO-UK OFFICIAL] before the crash {i}");
        assert_eq!(got.iter().filter(|b| **b == want).count(), 1, "{got:#?}");
    }
    assert!(
        got.iter().any(|b| b.ends_with(&line)),
        "the line typed as gw-a died reached the room, echoed or sent again: {got:#?}"
    );

    // Kill node 2 (gw-b's node): gw-b's sessions move to node 1 and rejoin; what bob types
    // meanwhile is held and delivered; xavier's lines reach bob and alice again.
    n2.kill();
    for i in 1..=3 {
        bob.send(&format!("PRIVMSG #ops :during the node loss {i}"))
            .await;
    }
    for i in 1..=3 {
        let body = from(&mut x, &rooms.ops, "bob").await;
        assert_eq!(body, format!("[DEMO-UK OFFICIAL] during the node loss {i}"));
    }
    x.send(&rooms.ops, "after the node loss", None).await;
    let seen = bob.lines_until_within("after the node loss", 40).await;
    let reported: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("Not confirmed") || l.contains("Not sent"))
        .collect();
    assert!(reported.is_empty(), "{reported:#?}");
    alice.until_within("after the node loss", 40).await;

    // Each instance names itself in its audit records and metrics.
    for (gw, name) in [(&a, "gw-a.test"), (&b, "gw-b.test")] {
        let recs = gw.records();
        assert!(!recs.is_empty(), "{name} wrote no audit records");
        assert!(recs.iter().all(|r| r["instance"] == name), "{name}");
    }
    let m = b.metrics().await;
    assert!(
        m.contains("labelgate_instance_info{gateway=\"gw-b.test\"} 1"),
        "{m}"
    );
    drop(lb);
}
