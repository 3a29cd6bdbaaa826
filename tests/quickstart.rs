//! `contrib/quickstart` as a new user runs it: it starts ejabberd and labelgate with the demo
//! setup and says how to connect; a demo IRC user reaches a demo XMPP room with a labelled
//! message; a second run starts nothing; `contrib/quickstart stop` ends what the first started.
//! (Uses the demo's fixed IRC ports 6667/6697 and metrics port 9464, and XMPP port 25622.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/irc.rs"]
mod irc;

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
    let mut first = quickstart(None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the banner (the build is already done by cargo test).
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
