//! `labelgate run` with the demo configuration against the project's ejabberd: an IRC user logs
//! in, joins a mapped channel, and their message reaches an XMPP user with its label; SIGTERM
//! stops the process; the audit log is written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/support.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{server, session, unique, wait_for};
use labelgate::label::xep0258::LabelPayload;
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::XmppEvent;
use support::edit;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_demo_config() {
    let s = server();
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = support::demo_copy("test-run");
    let mappings = dir.parent().unwrap().parent().unwrap().join("mappings");
    // The demo mapping, with a room name of this run.
    let lobby = format!("{}@{}", unique("lobby"), s.muc());
    let m = std::fs::read_to_string(format!("{root}/mappings/demo.toml")).unwrap();
    std::fs::write(
        mappings.join("demo.toml"),
        m.replace("lobby@conference.labelgate.test", &lobby),
    )
    .unwrap();
    let g = dir.join("gateway.toml");
    let (tls_port, plain_port) = (free_port(), free_port());
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

    let mut child = Command::new(env!("CARGO_BIN_EXE_labelgate"))
        .args(["run", "--config"])
        .arg(&g)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{plain_port}").parse().unwrap();
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "labelgate did not start listening");

    let lobby_jid: jid::BareJid = lobby.parse().unwrap();
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

    // SIGTERM: IRC clients are told, the process exits.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rest = alice.rest().await;
    assert!(
        rest.iter().any(|l| l.contains("Server shutting down")),
        "{rest:?}"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(audit.lines().count() >= 2, "{audit}");
    assert!(audit.contains("\"decision\":\"grant\""));
    carol.close().await;
}
