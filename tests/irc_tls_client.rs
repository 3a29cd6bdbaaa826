//! A real IRC client library (the `irc` crate) over TLS with a client certificate and SASL
//! EXTERNAL, talking to a plaintext raw client through a channel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/irc.rs"]
mod irc_common;

use std::time::Duration;

use futures::StreamExt;
use irc::client::prelude::{Capability, Client, Command, Config, Response};
use irc::proto::command::CapSubCommand;
use irc_common::{Raw, config, start};

fn tls_config(s: &irc_common::TestIrc, cert: Option<&str>) -> Config {
    let key = cert.map(|c| std::fs::read_to_string(s.pki.join(format!("users/{c}.key"))).unwrap());
    Config {
        nickname: Some("tlsuser".into()),
        username: Some("tlsuser".into()),
        realname: Some("TLS User".into()),
        server: Some("localhost".into()),
        port: Some(s.tls.port()),
        use_tls: Some(true),
        cert_path: Some(s.pki.join("ca.crt").to_string_lossy().into_owned()),
        client_cert_path: cert.map(|c| {
            s.pki
                .join(format!("users/{c}.crt"))
                .to_string_lossy()
                .into_owned()
        }),
        client_cert_pass: key,
        ..Config::default()
    }
}

/// Runs SASL EXTERNAL; returns the numerics seen up to welcome (001) or failure (904).
async fn external_login(
    client: &mut Client,
    stream: &mut irc::client::ClientStream,
) -> (bool, Vec<u16>) {
    client.send_cap_req(&[Capability::Sasl]).unwrap();
    client.send(Command::NICK("tlsuser".into())).unwrap();
    client
        .send(Command::USER(
            "tlsuser".into(),
            "0".into(),
            "TLS User".into(),
        ))
        .unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no answer from the server")
            .expect("stream ended")
            .expect("bad message");
        match &msg.command {
            Command::CAP(_, CapSubCommand::ACK, _, _) => client.send_sasl_external().unwrap(),
            Command::AUTHENTICATE(a) if a == "+" => client.send_sasl("+").unwrap(),
            Command::Response(r, _) => {
                seen.push(*r as u16);
                match r {
                    Response::RPL_SASLSUCCESS => client
                        .send(Command::CAP(None, CapSubCommand::END, None, None))
                        .unwrap(),
                    Response::ERR_SASLFAIL => return (false, seen),
                    Response::RPL_WELCOME => return (true, seen),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn irc_crate_over_tls_with_sasl_external() {
    let s = start(config()).await;
    let mut client = Client::from_config(tls_config(&s, Some("alice")))
        .await
        .unwrap();
    let mut stream = client.stream().unwrap();
    let (ok, seen) = external_login(&mut client, &mut stream).await;
    assert!(ok, "login failed: {seen:?}");
    assert!(seen.contains(&900) && seen.contains(&903), "{seen:?}");

    // The TLS user and a plaintext user meet in a channel.
    let mut plain = Raw::login(s.plain, "bob", "bob", "bob-pw").await;
    plain.send("JOIN #tls").await;
    plain.until(" 366 ").await;
    // The irc crate sends queued messages while its stream is polled.
    let poll = tokio::spawn(async move { while stream.next().await.is_some() {} });
    client.send_join("#tls").unwrap();
    plain.until("JOIN #tls").await;
    client
        .send_privmsg("#tls", "over TLS, authenticated by certificate")
        .unwrap();
    let got = plain.until("PRIVMSG").await;
    assert!(
        got.ends_with("PRIVMSG #tls :over TLS, authenticated by certificate"),
        "{got}"
    );
    assert!(got.starts_with(":tlsuser!~tlsuser@127.0.0.1"), "{got}");
    poll.abort();
}

#[tokio::test]
async fn unknown_certificate_fails_sasl_external() {
    let s = start(config()).await;
    // bob's certificate is valid but is not registered for any account.
    let mut client = Client::from_config(tls_config(&s, Some("bob")))
        .await
        .unwrap();
    let mut stream = client.stream().unwrap();
    let (ok, seen) = external_login(&mut client, &mut stream).await;
    assert!(!ok, "{seen:?}");
    assert!(seen.contains(&904), "{seen:?}");
}
