//! An IRC user logging in with SASL EXTERNAL through the `irc` crate over TLS with a client
//! certificate, as a real client does.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use irc::client::prelude::{Capability, Client, Command as IrcCommand, Config};

/// Logs in with SASL EXTERNAL; every line up to the welcome (001) or the failure (904).
pub async fn external(
    port: u16,
    server_ca: &Path,
    crt: &Path,
    key: &Path,
    nick: &str,
) -> (Client, Vec<String>) {
    let config = Config {
        nickname: Some(nick.into()),
        username: Some(nick.into()),
        server: Some("localhost".into()),
        port: Some(port),
        use_tls: Some(true),
        cert_path: Some(server_ca.to_string_lossy().into_owned()),
        client_cert_path: Some(crt.to_string_lossy().into_owned()),
        client_cert_pass: Some(std::fs::read_to_string(key).unwrap()),
        ..Config::default()
    };
    let mut client = Client::from_config(config).await.unwrap();
    let mut stream = client.stream().unwrap();
    client.send_cap_req(&[Capability::Sasl]).unwrap();
    client.send(IrcCommand::NICK(nick.into())).unwrap();
    client
        .send(IrcCommand::USER(nick.into(), "0".into(), nick.into()))
        .unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let msg = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no answer")
            .expect("stream ended")
            .expect("bad message");
        let line = msg.to_string();
        if line.contains(" ACK ") {
            client.send_sasl_external().unwrap();
        }
        if line.starts_with("AUTHENTICATE +") {
            client.send_sasl("+").unwrap();
        }
        if line.contains(" 903 ") {
            client
                .send(IrcCommand::CAP(
                    None,
                    irc::proto::command::CapSubCommand::END,
                    None,
                    None,
                ))
                .unwrap();
        }
        seen.push(line.clone());
        if line.contains(" 904 ") || line.contains(" 001 ") {
            break;
        }
    }
    // The irc crate sends what is queued while its stream is polled.
    tokio::spawn(async move { while stream.next().await.is_some() {} });
    (client, seen)
}
