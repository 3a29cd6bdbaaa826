//! `labelgate run` with the demo configuration against the project's ejabberd: an IRC user logs
//! in, joins a mapped channel, and their message reaches an XMPP user with its label; SIGHUP
//! reloads policy, users and mappings (a bad file keeps the old state); SIGTERM stops the
//! process; the audit log is written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/ca.rs"]
mod ca;
mod common;
#[path = "common/external.rs"]
mod external;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/ircd.rs"]
mod ircd;
#[path = "common/support.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{server, session, unique, wait_for};
use labelgate::label::xep0258::LabelPayload;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::XmppEvent;
use support::{edit, free_port};

/// A copy of the demo configuration pointed at the test server (see [`Running`]), not started.
struct Prepared {
    dir: std::path::PathBuf,
    mappings: std::path::PathBuf,
    g: std::path::PathBuf,
    lobby: String,
    ops: String,
    plain_port: u16,
    tls_port: u16,
    metrics_port: u16,
}

fn prepare(name: &str, customise: impl FnOnce(&std::path::Path)) -> Prepared {
    let s = server();
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = support::demo_copy(name);
    let mappings = dir.join("mappings");
    // The demo mapping, with room names of this run.
    let lobby = format!("{}@{}", unique("lobby"), s.muc());
    let ops = format!("{}@{}", unique("ops"), s.muc());
    let m = std::fs::read_to_string(format!("{root}/contrib/demo/mappings/demo.toml")).unwrap();
    std::fs::write(
        mappings.join("demo.toml"),
        m.replace("lobby@conference.labelgate.test", &lobby)
            .replace("ops@conference.labelgate.test", &ops),
    )
    .unwrap();
    let g = dir.join("gateway.toml");
    let (tls_port, plain_port, metrics_port) = (free_port(), free_port(), free_port());
    edit(&g, "127.0.0.1:9464", &format!("127.0.0.1:{metrics_port}"));
    edit(&g, "127.0.0.1:6697", &format!("127.0.0.1:{tls_port}"));
    edit(&g, "127.0.0.1:6667", &format!("127.0.0.1:{plain_port}"));
    edit(&g, "127.0.0.1:5222", &format!("127.0.0.1:{}", s.port));
    // Use the test server's PKI for the XMPP side.
    edit(
        &g,
        "ca_file = \"pki/ca.crt\"",
        &format!("ca_file = \"{}\"", s.pki("ca.crt").display()),
    );
    edit(
        &g,
        "certificate = \"pki/gateway.crt\"",
        &format!("certificate = \"{}\"", s.pki("gateway.crt").display()),
    );
    edit(
        &g,
        "key = \"pki/gateway.key\"",
        &format!("key = \"{}\"", s.pki("gateway.key").display()),
    );
    customise(&dir);
    Prepared {
        dir,
        mappings,
        g,
        lobby,
        ops,
        plain_port,
        tls_port,
        metrics_port,
    }
}

/// A running `labelgate run` on a copy of the demo configuration (named `name`), pointed at the
/// test server, with the demo rooms renamed for this run.
struct Running {
    child: std::process::Child,
    /// The plain IRC listener.
    addr: std::net::SocketAddr,
    /// The TLS IRC listener's port.
    tls_port: u16,
    /// The demo copy's configuration folder.
    dir: std::path::PathBuf,
    /// Its mappings folder.
    mappings: std::path::PathBuf,
    /// Room JIDs of #lobby and #ops.
    lobby: jid::BareJid,
    ops: jid::BareJid,
    /// The metrics endpoint.
    metrics: std::net::SocketAddr,
    /// What the process writes to standard error, line by line.
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Running {
    async fn start(name: &str) -> Running {
        Running::start_with(name, |_| {}).await
    }

    /// Starts it after `customise` has edited the copy (its folder given).
    async fn start_with(name: &str, customise: impl FnOnce(&std::path::Path)) -> Running {
        let Prepared {
            dir,
            mappings,
            g,
            lobby,
            ops,
            plain_port,
            tls_port,
            metrics_port,
        } = prepare(name, customise);
        let mut child = Command::new(env!("CARGO_BIN_EXE_labelgate"))
            .args(["run", "--config"])
            .arg(&g)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = tokio::sync::mpsc::unbounded_channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("labelgate: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr: std::net::SocketAddr = format!("127.0.0.1:{plain_port}").parse().unwrap();
        support::wait_listening(addr, "labelgate").await;
        Running {
            child,
            addr,
            tls_port,
            dir,
            mappings,
            lobby: lobby.parse().unwrap(),
            ops: ops.parse().unwrap(),
            metrics: format!("127.0.0.1:{metrics_port}").parse().unwrap(),
            log,
        }
    }

    /// The metrics page.
    async fn metrics(&self) -> String {
        let out = support::metrics_page(self.metrics).await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        out
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits (10 s at most) for a log line containing `needle`.
    async fn logged(&mut self, needle: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.log.recv())
                .await
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"))
                .expect("labelgate's log ended");
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// SIGTERM, and the exit status.
    async fn stop(self) -> std::process::ExitStatus {
        self.signal("-TERM");
        tokio::task::spawn_blocking(move || {
            let mut me = self;
            me.child.wait()
        })
        .await
        .unwrap()
        .unwrap()
    }
}

/// A test that fails leaves no gateway running (it would hold its ports and nicks).
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_demo_config() {
    let mut gw = Running::start("test-run").await;
    // The start-up log says what was loaded.
    let started = gw.logged("labelgate started").await;
    for what in ["policy=UK", "mappings=3", "users=3"] {
        assert!(started.contains(what), "{what} not in {started}");
    }

    let (addr, dir) = (gw.addr, gw.dir.clone());
    let lobby_jid = gw.lobby.clone();
    let (carol, mut carol_rx) = session(&unique("xmppcarol")).await;
    carol
        .join(&lobby_jid, "carol", History::default())
        .await
        .unwrap();
    let mut alice = irc::Raw::login(addr, "alice", "alice", "alice-demo").await;
    alice.send("JOIN #lobby").await;
    alice.until(" 366 ").await;
    alice.send("PRIVMSG #lobby :hello from IRC").await;
    let msg = wait_for(&mut carol_rx, 15, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        msg.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] hello from IRC")
    );
    assert!(matches!(
        msg.label.clone().unwrap().unwrap().label,
        LabelPayload::Ess(_)
    ));
    alice.send("PRIVMSG #lobby :[TOP SECRET] too high").await;
    alice.until("Not sent").await;

    // The metrics endpoint counts users, sessions and messages (never their content).
    let m = gw.metrics().await;
    for line in [
        "\nlabelgate_irc_clients 1\n",
        "\nlabelgate_xmpp_sessions{state=\"connected\"} 1\n",
        "\nlabelgate_messages_relayed_total{direction=\"irc-to-xmpp\"} 1\n",
        "\nlabelgate_messages_withheld_total{direction=\"irc-to-xmpp\",reason=\"clearance\"} 1\n",
        "\nlabelgate_held_messages 0\n",
        // The instance name (by default the IRC server name), as the audit records carry it.
        "\nlabelgate_instance_info{gateway=\"labelgate\"} 1\n",
    ] {
        assert!(m.contains(line), "{line:?} not in\n{m}");
    }
    assert!(!m.contains("hello from IRC"));

    // SIGTERM: IRC clients are told, the process exits.
    let stopping = tokio::spawn(gw.stop());
    let rest = alice.rest().await;
    assert!(
        rest.iter().any(|l| l.contains("Server shutting down")),
        "{rest:?}"
    );
    let status = stopping.await.unwrap();
    assert!(status.success(), "{status}");
    // Before exiting, alice's XMPP session left the room itself (not dropped by the server).
    let reason = wait_for(&mut carol_rx, 10, |e| match e {
        XmppEvent::OccupantLeft { nick, status, .. } if nick == "alice" => Some(status.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason.as_deref(), Some("gateway session closed"));
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(audit.lines().count() >= 2, "{audit}");
    assert!(audit.contains("\"decision\":\"grant\""));
    assert!(
        audit
            .lines()
            .all(|l| l.contains("\"instance\":\"labelgate\"")),
        "{audit}"
    );
    carol.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_policy_users_and_mappings() {
    let mut gw = Running::start("test-run-reload").await;
    gw.logged("labelgate started").await;
    let (carol, mut carol_rx) = session(&unique("xmppcarol")).await;
    carol
        .join(&gw.ops, "carol", History::default())
        .await
        .unwrap();
    let mut alice = irc::Raw::login(gw.addr, "alice", "alice", "alice-demo").await;
    alice.send("JOIN #lobby,#ops").await;
    alice.until("#ops :End of").await;
    let heard = async |carol_rx: &mut tokio::sync::mpsc::Receiver<XmppEvent>| {
        wait_for(carol_rx, 15, |e| match e {
            XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("alice") => {
                Some(message.clone())
            }
            _ => None,
        })
        .await
    };

    // A broken users file: the reload is refused, the old state stays (alice is still SECRET).
    let users = gw.dir.join("users.toml");
    let good_users = std::fs::read_to_string(&users).unwrap();
    std::fs::write(
        &users,
        format!("{good_users}\n[[user]]\naccount = \"broken\"\n"),
    )
    .unwrap();
    gw.signal("-HUP");
    let refused = gw.logged("reload refused").await;
    assert!(refused.contains("users.toml"), "{refused}");
    alice.send("PRIVMSG #ops :[SECRET] still cleared").await;
    let m = heard(&mut carol_rx).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] still cleared"));

    // A good reload changes all three at once: alice lowered to OFFICIAL, #lobby unmapped,
    // OFFICIAL's colour in the policy.
    std::fs::write(
        &users,
        good_users.replacen("clearance = \"SECRET, UK\"", "clearance = \"OFFICIAL\"", 1),
    )
    .unwrap();
    let demo = gw.mappings.join("demo.toml");
    let m = std::fs::read_to_string(&demo).unwrap();
    let (_, from_ops) = m.split_once("[[channel]]\nirc = \"#ops\"").unwrap();
    std::fs::write(&demo, format!("[[channel]]\nirc = \"#ops\"{from_ops}")).unwrap();
    edit(
        &gw.dir.join("policy.xml"),
        "name=\"OFFICIAL\" lacv=\"10\" hierarchy=\"0\" color=\"#AAAAFF\"",
        "name=\"OFFICIAL\" lacv=\"10\" hierarchy=\"0\" color=\"#00AA00\"",
    );
    // An edit of the gateway file itself waits for a restart, and the log says so.
    edit(
        &gw.dir.join("gateway.toml"),
        "network = \"labelgate-demo\"",
        "network = \"renamed\"",
    );
    gw.signal("-HUP");
    let waiting = gw.logged("not reloaded").await;
    assert!(
        waiting.contains("[irc]") && waiting.contains("next restart"),
        "{waiting}"
    );
    let reloaded = gw.logged("reloaded policy, mappings and users").await;
    assert!(reloaded.contains("not_reloaded=[irc]"), "{reloaded}");
    // The XMPP server's CA (and CRL) files are re-read too.
    gw.logged("XMPP server certificate check re-read").await;
    assert!(
        alice
            .until("clearance is now")
            .await
            .ends_with("Your clearance is now OFFICIAL.")
    );
    let part = alice.until(" PART #lobby").await;
    assert!(
        part.ends_with(":labelgate: the channel is no longer mapped to a room"),
        "{part}"
    );
    alice.send("PRIVMSG #ops :[SECRET] not any more").await;
    assert!(
        alice
            .until("Not sent")
            .await
            .contains("your clearance does not cover this label")
    );
    alice.send("PRIVMSG #ops :new colours").await;
    let m = heard(&mut carol_rx).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK OFFICIAL] new colours"));
    let display = m.label.unwrap().unwrap().display.unwrap();
    assert_eq!(display.bg.as_deref(), Some("#00AA00"));

    let status = gw.stop().await;
    assert!(status.success(), "{status}");
    carol.close().await;
}

/// Link mode from the gateway file: `labelgate run` with an `[[irc_network]]` (ngIRCd over TLS)
/// and `#ops` mapped on it links the channel and the room both ways — through the binary, as
/// an operator runs it. The gateway's own IRC server does not serve the linked channel. SIGHUP
/// with the mapping moved back to the gateway's own server leaves the network's channel (the
/// room's people leave the room) and serves it locally; SIGTERM takes every connection of the
/// gateway off the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods)] // carol is an XMPP client of the room: she labels her own line
async fn link_mode_runs_from_the_gateway_file() {
    use ::irc::proto::Command as IrcCommand;
    let net = ircd::Ircd::start("test-ngircd-run", 26682);
    let s = server();
    let ca = net.dir.join("pki/ca.crt");
    let mut gw = Running::start_with("test-run-link", |dir| {
        let g = dir.join("gateway.toml");
        let mut t = std::fs::read_to_string(&g).unwrap();
        t.push_str(&format!(
            "\n[[irc_network]]\nname = \"testnet\"\nservers = [\"127.0.0.1:{}\"]\ntls = true\n\
             tls_name = \"localhost\"\nca_file = \"{}\"\naccreditation = \"SECRET, National Caveats:*\"\n\
             puppet_domain = \"irc.labelgate.test\"\npuppet_certificate = \"{}\"\npuppet_key = \"{}\"\n\
             interval_ms = 50\nburst = 10\n",
            net.port + 1,
            ca.display(),
            s.pki("puppets.crt").display(),
            s.pki("puppets.key").display(),
        ));
        std::fs::write(&g, t).unwrap();
        edit(
            &dir.join("mappings/demo.toml"),
            "irc = \"#ops\"",
            "irc = \"#ops\"\nnetwork = \"testnet\"",
        );
    })
    .await;
    let started = gw.logged("labelgate started").await;
    assert!(started.contains("irc_networks=1"), "{started}");
    let pol = support::demo_policies();

    // carol in the room, dave on the network: each sees the other, labelled.
    let mut dave = net.person("dave", &["#ops"]).await;
    let (carol, mut carol_rx) = session(&unique("xmppcarol")).await;
    carol
        .join(&gw.ops, "carol", History::default())
        .await
        .unwrap();
    dave.wait_for(
        |m| m.source_nickname() == Some("carol") && matches!(m.command, IrcCommand::JOIN(..)),
        "carol on IRC",
    )
    .await;
    dave.client
        .send_privmsg("#ops", "[SECRET] from the network")
        .unwrap();
    dave.pump(Duration::from_millis(200)).await;
    let m = wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("dave") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] from the network"));
    assert_eq!(
        m.label.clone().unwrap().unwrap().label,
        LabelPayload::Ess(pol.primary().parse_marking("SECRET").unwrap())
    );
    let l = pol.primary().parse_marking("SECRET").unwrap();
    let out = labelgate::xmpp::muc::OutgoingMessage {
        body: "from the room".into(),
        label: Some(labelgate::label::xep0258::SecurityLabel {
            display: Some(pol.primary().display_marking(&l).unwrap()),
            label: LabelPayload::Ess(l),
            equivalents: vec![],
        }),
        origin_id: labelgate::xmpp::session::origin_id(),
        notice: false,
    };
    carol
        .send_groupchat(&gw.ops, &labelgate::internal::peer_cleared(out))
        .await
        .unwrap();
    assert_eq!(
        dave.privmsgs("carol", "#ops", 1).await,
        ["[DEMO-UK SECRET] from the room"]
    );

    // The gateway's own IRC server does not serve the linked channel.
    let mut alice = irc::Raw::login(gw.addr, "alice", "alice", "alice-demo").await;
    alice.send("JOIN #ops").await;
    let refused = alice.until(" 403 ").await;
    assert!(refused.contains("#ops"), "{refused}");

    // SIGHUP with #ops back on the gateway's own server: the link leaves the channel and the
    // room (dave's occupant goes), and alice can join it here.
    edit(
        &gw.mappings.join("demo.toml"),
        "irc = \"#ops\"\nnetwork = \"testnet\"",
        "irc = \"#ops\"",
    );
    gw.signal("-HUP");
    gw.logged("reloaded policy, mappings and users").await;
    let part = dave
        .wait_for(
            |m| {
                m.source_nickname() == Some("labelgate")
                    && matches!(m.command, IrcCommand::PART(..))
            },
            "the service nick leaving",
        )
        .await;
    assert!(
        matches!(&part.command, IrcCommand::PART(c, Some(why)) if c == "#ops" && why == "no longer gatewayed"),
        "{part:?}"
    );
    wait_for(&mut carol_rx, 20, |e| match e {
        XmppEvent::OccupantLeft { nick, .. } if nick == "dave" => Some(()),
        _ => None,
    })
    .await;
    alice.send("JOIN #ops").await;
    alice.until(" 366 ").await;

    // SIGTERM: the gateway quits the network and exits cleanly.
    let status = gw.stop().await;
    assert!(status.success(), "{status}");
    // (The service nick shares no channel with dave any more: ask the network whether it is
    // still on.)
    let mut gone = false;
    for _ in 0..25 {
        dave.client
            .send(IrcCommand::ISON(vec!["labelgate".into(), "carol".into()]))
            .unwrap();
        let ison = dave
            .wait_for(
                |m| matches!(&m.command, IrcCommand::Response(r, _) if *r == ::irc::proto::Response::RPL_ISON),
                "ISON",
            )
            .await;
        let IrcCommand::Response(_, params) = ison.command else {
            unreachable!()
        };
        if params.last().is_none_or(|l| l.trim().is_empty()) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        gone,
        "the gateway's connections are still on the network after SIGTERM"
    );
    carol.close().await;
    net.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_wide_controls_are_checked_enforced_and_reloaded() {
    let gate_wide = "\n[controls]\ndeny = [\"bob\"]\nmax_bytes = 30\n";
    let mut gw = Running::start_with("test-controls", |dir| {
        let g = dir.join("gateway.toml");
        let text = std::fs::read_to_string(&g).unwrap();
        std::fs::write(&g, format!("{text}{gate_wide}")).unwrap();
    })
    .await;
    gw.logged("labelgate started").await;
    // `labelgate check` reports every mapping's controls, the gateway's defaults under them.
    let (code, out, err) = support::labelgate([
        "check",
        "--config",
        gw.dir.join("gateway.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lobby = out
        .lines()
        .find(|l| l.starts_with("#lobby -> "))
        .unwrap_or_else(|| panic!("{out}"));
    for part in [
        "allow = everyone cleared",
        "deny = bob",
        "authentication = any",
        "max_bytes = 30",
        "file_transfer = never",
    ] {
        assert!(lobby.contains(part), "{part} not in {lobby}");
    }

    // bob is denied everywhere; alice may join, and her overlong line is refused.
    let mut bob = irc::Raw::login(gw.addr, "bob", "bob", "bob-demo").await;
    bob.send("JOIN #lobby").await;
    let refused = bob.until(" 474 ").await;
    assert!(refused.contains("deny list"), "{refused}");
    let mut alice = irc::Raw::login(gw.addr, "alice", "alice", "alice-demo").await;
    alice.send("JOIN #lobby").await;
    alice.until(" 366 ").await;
    alice
        .send("PRIVMSG #lobby :this line is longer than thirty bytes")
        .await;
    let n = alice.until("[#lobby]").await;
    assert!(n.contains("at most 30"), "{n}");

    // A reload that denies alice instead parts her from #lobby, saying why, and lets bob in.
    let g = gw.dir.join("gateway.toml");
    edit(&g, "deny = [\"bob\"]\n", "deny = [\"alice\"]\n");
    gw.signal("-HUP");
    gw.logged("reloaded policy, mappings and users").await;
    // The log line comes just before the bridge takes the new state: a JOIN may still meet
    // the old one, so it is tried again (for a few seconds at most).
    let mut joined = false;
    for _ in 0..20 {
        bob.send("JOIN #lobby").await;
        loop {
            // The gateway answers a JOIN within 20 s at most (a 5 s catalog query, then a
            // 15 s room join): wait that long, and a little more, before calling it lost.
            let l = bob.line_within(25).await.expect("no answer to JOIN");
            // Shown with the test's output if it fails.
            eprintln!("bob << {l}");
            if l.contains(" 366 ") {
                joined = true;
                break;
            }
            // 474: the old controls still applied; 403: the room did not answer the join in
            // time (it may be closing as alice, its last occupant, is parted). Either way bob
            // is told, and tries again.
            if l.contains(" 474 ") || l.contains(" 403 ") {
                break;
            }
        }
        if joined {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(joined, "bob could not join after the reload");
    let part = alice.until(" PART #lobby").await;
    assert!(part.contains("deny list"), "{part}");
    let audit = std::fs::read_to_string(gw.dir.join("audit.log")).unwrap();
    let controls: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"control\":"))
        .collect();
    assert!(
        controls
            .iter()
            .any(|l| l.contains("\"control\":\"deny\"") && l.contains("\"account\":\"bob\"")),
        "{audit}"
    );
    assert!(
        controls
            .iter()
            .any(|l| l.contains("\"control\":\"max_bytes\"")),
        "{audit}"
    );
    let status = gw.stop().await;
    assert!(status.success(), "{status}");
}

/// `[crypto] require_fips = true`: a build that is not a FIPS build refuses to start, saying
/// why; a FIPS build (`--features fips`) starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_fips_is_refused_unless_every_tls_configuration_is_fips() {
    let p = prepare("test-fips", |dir| {
        let g = dir.join("gateway.toml");
        let text = std::fs::read_to_string(&g).unwrap();
        std::fs::write(&g, format!("{text}\n[crypto]\nrequire_fips = true\n")).unwrap();
    });
    let (_, version, _) = support::labelgate(["--version"]);
    if !labelgate::fips::BUILD {
        assert!(version.contains("not a FIPS build"), "{version}");
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_labelgate"))
                .args(["run", "--config"])
                .arg(&p.g)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("require_fips is set")
                && err.contains("is not in FIPS mode")
                && err.contains("not a FIPS build"),
            "{err}"
        );
        return;
    }
    assert!(version.contains("FIPS build"), "{version}");
    let mut gw = Running::start_with("test-fips-build", |dir| {
        let g = dir.join("gateway.toml");
        let text = std::fs::read_to_string(&g).unwrap();
        std::fs::write(&g, format!("{text}\n[crypto]\nrequire_fips = true\n")).unwrap();
    })
    .await;
    gw.logged("FIPS mode: every TLS configuration").await;
    let status = gw.stop().await;
    assert!(status.success(), "{status}");
}

/// `[irc.tls] client_ca` and `client_crls`: a client certificate pinned for alice logs in until
/// its CA revokes it; the new CRL, written over the old file, applies at the next SIGHUP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_crls_are_reloaded_on_sighup() {
    let mut issued = None;
    let mut gw = Running::start_with("test-crl", |dir| {
        let ca = ca::TestCa::new(&dir.join("revocation"));
        let cert = ca.issue("alice-cert", None);
        ca.crl("current.crl");
        let der = labelgate::xmpp::tls::load_certs(&cert.0).unwrap();
        let fp = labelgate::config::users::fingerprint_of(der[0].as_ref()).1;
        edit(
            &dir.join("users.toml"),
            "account = \"alice\"\n",
            &format!("account = \"alice\"\ncertificates = [\"{fp}\"]\n"),
        );
        edit(
            &dir.join("gateway.toml"),
            "request_client_certificate = true",
            "client_ca = \"revocation/ca.crt\"\nclient_crls = [\"revocation/current.crl\"]\nrequest_client_certificate = true",
        );
        issued = Some((ca, cert));
    })
    .await;
    let (ca, (crt, key)) = issued.unwrap();
    gw.logged("labelgate started").await;
    let server_ca = gw.dir.join("pki/ca.crt");
    let (_first, seen) = external::external(gw.tls_port, &server_ca, &crt, &key, "alice").await;
    assert!(seen.iter().any(|l| l.contains(" 001 ")), "{seen:#?}");

    ca.revoke(&crt);
    ca.crl("current.crl");
    gw.signal("-HUP");
    gw.logged("reloaded policy, mappings and users").await;
    // The checks are replaced just after that line: try until the refusal shows (a few
    // seconds at most; the first tries may still meet the old CRL).
    let mut refused = String::new();
    for i in 0..20 {
        let (_c, seen) =
            external::external(gw.tls_port, &server_ca, &crt, &key, &format!("alice{i}")).await;
        let all = seen.join("\n");
        if all.contains(" 904 ") {
            refused = all;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        refused.contains("the certificate has been revoked"),
        "{refused}"
    );
    let status = gw.stop().await;
    assert!(status.success(), "{status}");
}
