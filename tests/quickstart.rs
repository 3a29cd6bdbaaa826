//! `contrib/quickstart` as a new user runs it: it starts ejabberd and labelgate with the demo
//! setup and says how to connect; a demo IRC user reaches a demo XMPP room with a labelled
//! message; a second run starts nothing; `contrib/quickstart stop` ends what the first started.
//! `contrib/quickstart --link` adds an existing IRC network (ngIRCd) with `#ops` linked to the
//! ops room. (Uses the demo's fixed IRC ports 6667/6697 and metrics port 9464, XMPP port 25622
//! and the network's 6668/6669; the two tests take turns.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/irc.rs"]
mod irc;
#[path = "common/ircd.rs"]
mod ircd;

/// The quickstart's ports are fixed: one test at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn quickstart(arg: Option<&str>) -> Command {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut c = Command::new(format!("{root}/contrib/quickstart"));
    c.args(arg)
        .env("LABELGATE_QUICKSTART_PROFILE", "debug")
        .env("LABELGATE_QUICKSTART_XMPP_PORT", "25622");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_runs_the_demo_and_stops_cleanly() {
    let _turn = TURN.lock().await;
    let mut first = quickstart(None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the banner (the build is already done by cargo test).
    let banner = banner(&mut first);
    for what in [
        "127.0.0.1:6667",
        "alice / alice-demo",
        "xavier@labelgate.test / xavier-demo",
        "127.0.0.1:25622",
    ] {
        assert!(banner.contains(what), "{what} not in\n{banner}");
    }

    // A demo user in a demo channel: the message is labelled and refused above clearance.
    let addr = "127.0.0.1:6667".parse().unwrap();
    let mut bob = irc::Raw::login(addr, "bob", "bob", "bob-demo").await;
    bob.send("JOIN #lobby").await;
    bob.until(" 366 ").await;
    bob.send("PRIVMSG #lobby :[SECRET] nope").await;
    assert!(bob.until("Not sent").await.contains("your clearance"));

    // Running it again starts nothing.
    let again = quickstart(None).output().unwrap();
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // `stop` ends labelgate (the IRC user is told) and ejabberd; the first run then exits.
    let stop = quickstart(Some("stop")).output().unwrap();
    assert!(stop.status.success());
    let rest = bob.rest().await.join("\n");
    assert!(rest.contains("Server shutting down"), "{rest}");
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        std::net::TcpStream::connect("127.0.0.1:25622").is_err(),
        "ejabberd still answers"
    );
    assert!(
        std::net::TcpStream::connect("127.0.0.1:6667").is_err(),
        "labelgate still answers"
    );
}

/// What the quickstart prints until its banner ends (the build is already done by cargo test).
fn banner(first: &mut std::process::Child) -> String {
    let stdout = first.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = String::new();
    while !banner.contains("Stop: Ctrl-C") {
        let line = rx
            .recv_timeout(Duration::from_secs(240))
            .expect("no banner from contrib/quickstart");
        banner.push_str(&line);
        banner.push('\n');
    }
    banner
}

/// `--link`: a person on the quickstart's IRC network finds the gateway's service nick in
/// `#ops`, appears in the ops room (their labelled line is granted, audited under their nick),
/// and is refused a line above the network's accreditation by a NOTICE. `#lobby` is still on
/// the gateway's own server; `stop` ends the network too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_link_runs_link_mode_beside_server_mode() {
    use ::irc::proto::Command as IrcCommand;
    let _turn = TURN.lock().await;
    let root = env!("CARGO_MANIFEST_DIR");
    // The quickstart keeps its audit log across runs: only this run's records count.
    let since = labelgate::util::timestamp_now(true);
    let mut first = quickstart(Some("--link"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let banner = banner(&mut first);
    for what in [
        "127.0.0.1:6668 plaintext",
        "#ops there is the ops room",
        "127.0.0.1:6667",
    ] {
        assert!(banner.contains(what), "{what} not in\n{banner}");
    }
    let net = ircd::Ircd {
        dir: format!("{root}/target/quickstart/ircnet").into(),
        port: 6668,
    };
    let mut dave = net.person("dave", &["#ops"]).await;
    // The service nick is in #ops already, or joins it.
    dave.client
        .send(IrcCommand::NAMES(Some("#ops".into()), None))
        .unwrap();
    dave.wait_for(
        |m| match &m.command {
            IrcCommand::Response(r, p) if *r == ::irc::proto::Response::RPL_NAMREPLY => {
                p.last().is_some_and(|n| {
                    n.split(' ')
                        .any(|n| n.trim_start_matches('@') == "labelgate")
                })
            }
            IrcCommand::JOIN(..) => m.source_nickname() == Some("labelgate"),
            _ => false,
        },
        "the service nick in #ops",
    )
    .await;
    dave.client
        .send_privmsg("#ops", "[SECRET] from the network")
        .unwrap();
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
    let IrcCommand::NOTICE(_, words) = refusal.command else {
        unreachable!()
    };
    assert!(
        words.starts_with("#ops: ") && words.contains("TOP SECRET"),
        "{words}"
    );
    // The first line was granted for dave's occupant (a puppet that could not log in or enter
    // would have been told so first, by a NOTICE).
    let audit = std::fs::read_to_string(format!("{root}/target/quickstart/cfg/demo/audit.log"))
        .unwrap_or_default();
    let grants = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["account"] == "dave" && r["decision"] == "grant")
        .filter(|r| r["time"].as_str().is_some_and(|t| t >= since.as_str()))
        .count();
    assert_eq!(grants, 1, "{audit}");

    // #lobby is the gateway's own, as without --link.
    let mut bob =
        irc::Raw::login("127.0.0.1:6667".parse().unwrap(), "bob", "bob", "bob-demo").await;
    bob.send("JOIN #lobby").await;
    bob.until(" 366 ").await;

    let stop = quickstart(Some("stop")).output().unwrap();
    assert!(stop.status.success());
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    for port in [6668, 6667, 25622] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers"
        );
    }
}
