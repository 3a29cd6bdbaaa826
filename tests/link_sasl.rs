//! SASL for link connections. ngIRCd has no SASL, so the servers that ask for it here are
//! labelgate's own IRC front-end (a real IRC server with IRCv3 SASL PLAIN and EXTERNAL, over
//! TLS with the test PKI): PLAIN with the right password registers, with a wrong one the
//! attempt ends with the server's refusal; EXTERNAL registers with the client certificate. And
//! against ngIRCd, which offers no SASL, a connection that must authenticate never registers
//! (fail closed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "common/irc.rs"]
mod front;
#[path = "common/ircd.rs"]
mod ircd;

use std::time::Duration;

use labelgate::link::sasl::Mechanism;
use labelgate::link::{Auth, LinkConfig, LinkConnection, LinkEvent, Server, ServerTls};
use tokio::sync::mpsc;

async fn next(rx: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no link event in time")
        .expect("link events ended")
}

fn server(addr: std::net::SocketAddr, pki: &std::path::Path, cert: Option<&str>) -> Server {
    let (c, k) = (
        cert.map(|u| pki.join(format!("users/{u}.crt"))),
        cert.map(|u| pki.join(format!("users/{u}.key"))),
    );
    let config = labelgate::xmpp::tls::client_config_from_files(
        &pki.join("ca.crt"),
        c.as_deref().zip(k.as_deref()),
    )
    .unwrap();
    Server {
        address: addr,
        tls: Some(ServerTls {
            config,
            name: rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        }),
    }
}

#[tokio::test]
async fn sasl_plain_and_external_register_and_a_wrong_password_does_not() {
    let s = front::start(front::config()).await;

    let mut config = LinkConfig::new(vec![server(s.tls, &s.pki, None)], "alice");
    config.auth = Auth::Sasl(Mechanism::Plain {
        account: "alice".into(),
        password: "alice-pw".into(),
    });
    let (link, mut rx) = LinkConnection::start(config);
    match next(&mut rx).await {
        LinkEvent::Registered { nick, .. } => assert_eq!(nick, "alice"),
        other => panic!("PLAIN: {other:?}"),
    }
    link.quit(None);

    let mut config = LinkConfig::new(vec![server(s.tls, &s.pki, None)], "bob");
    config.auth = Auth::Sasl(Mechanism::Plain {
        account: "bob".into(),
        password: "not-bob-pw".into(),
    });
    config.backoff_initial = Duration::from_secs(30);
    let (link, mut rx) = LinkConnection::start(config);
    match next(&mut rx).await {
        LinkEvent::Lost { reason, .. } => {
            assert!(reason.starts_with("SASL PLAIN failed: "), "{reason}")
        }
        other => panic!("a wrong password: {other:?}"),
    }
    link.quit(None);

    let mut config = LinkConfig::new(vec![server(s.tls, &s.pki, Some("alice"))], "alice");
    config.auth = Auth::Sasl(Mechanism::External);
    let (link, mut rx) = LinkConnection::start(config);
    match next(&mut rx).await {
        LinkEvent::Registered { nick, .. } => assert_eq!(nick, "alice"),
        other => panic!("EXTERNAL: {other:?}"),
    }
    link.quit(None);
}

#[tokio::test]
async fn a_server_without_sasl_is_never_joined_unauthenticated() {
    let net = ircd::Ircd::start("test-ngircd-nosasl", 26690);
    let mut config = LinkConfig::new(vec![net.tls_server()], "gw");
    config.auth = Auth::Sasl(Mechanism::Plain {
        account: "gw".into(),
        password: "pw".into(),
    });
    config.backoff_initial = Duration::from_secs(30);
    let (link, mut rx) = LinkConnection::start(config);
    match next(&mut rx).await {
        LinkEvent::Lost { reason, .. } => {
            assert!(reason.starts_with("the server offers no SASL"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    link.quit(None);
    net.stop();
}
