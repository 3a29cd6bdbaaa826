//! A real IRC network for link-mode tests: ngIRCd from Debian on loopback, started by the
//! project's own script (`contrib/ngircd start`), with TLS from its test PKI; and people on it,
//! played by the `irc` crate as a user's client would be.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use irc::client::prelude::{Client, Config};
use irc::proto::{Command as IrcCommand, Message};
use labelgate::link::{Server, ServerTls};

/// A running ngIRCd of one test.
pub struct Ircd {
    /// Its directory (config, log, `pki/`).
    pub dir: PathBuf,
    /// Plaintext port (TLS is `port + 1`).
    pub port: u16,
}

impl Ircd {
    /// Starts (or reuses) an ngIRCd in `target/NAME` on `port`.
    pub fn start(name: &str, port: u16) -> Ircd {
        let root = env!("CARGO_MANIFEST_DIR");
        let d = Ircd {
            dir: PathBuf::from(format!("{root}/target/{name}")),
            port,
        };
        d.script("start");
        d
    }

    fn script(&self, what: &str) {
        let root = env!("CARGO_MANIFEST_DIR");
        let port = self.port.to_string();
        let mut args = vec![what, self.dir.to_str().unwrap()];
        if what == "start" {
            args.push(&port);
        }
        let status = Command::new(format!("{root}/contrib/ngircd"))
            .args(&args)
            .status()
            .expect("run contrib/ngircd");
        assert!(status.success(), "contrib/ngircd {args:?} failed");
    }

    /// Starts it again after a stop or kill.
    pub fn restart(&self) {
        self.script("start");
    }

    /// Kills it abruptly.
    pub fn kill(&self) {
        self.script("kill");
    }

    /// Stops it.
    pub fn stop(&self) {
        self.script("stop");
    }

    /// The server, over TLS, as the gateway's link reaches it.
    pub fn tls_server(&self) -> Server {
        let config =
            labelgate::xmpp::tls::client_config_from_files(&self.dir.join("pki/ca.crt"), None)
                .unwrap();
        Server {
            address: SocketAddr::from(([127, 0, 0, 1], self.port + 1)),
            tls: Some(ServerTls {
                config,
                name: rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            }),
        }
    }

    /// A person on the network (the `irc` crate over TLS), registered, in `channels`.
    pub async fn person(&self, nick: &str, channels: &[&str]) -> Person {
        let config = Config {
            nickname: Some(nick.into()),
            username: Some(nick.into()),
            realname: Some(nick.into()),
            server: Some("localhost".into()),
            port: Some(self.port + 1),
            use_tls: Some(true),
            cert_path: Some(self.dir.join("pki/ca.crt").to_string_lossy().into_owned()),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            ping_time: Some(600),
            ..Config::default()
        };
        let mut client = Client::from_config(config)
            .await
            .expect("connect to ngircd");
        client.identify().expect("register");
        let stream = client.stream().expect("stream");
        let mut p = Person { client, stream };
        for c in channels {
            p.wait_for(
                |m| {
                    matches!(&m.command, IrcCommand::JOIN(ch, _, _) if ch == c)
                        && m.source_nickname() == Some(nick)
                },
                "own join",
            )
            .await;
        }
        p
    }
}

/// A person on the network.
pub struct Person {
    pub client: Client,
    pub stream: irc::client::ClientStream,
}

impl Person {
    /// The next message that `pred` accepts, within 20 s.
    pub async fn wait_for(&mut self, pred: impl Fn(&Message) -> bool, what: &str) -> Message {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let m = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("stream ended")
                .expect("bad message");
            if pred(&m) {
                return m;
            }
        }
    }

    /// Waits for `who` to join a channel.
    pub async fn joined(&mut self, who: &str) {
        self.wait_for(
            |m| m.source_nickname() == Some(who) && matches!(m.command, IrcCommand::JOIN(..)),
            &format!("{who} joining"),
        )
        .await;
    }

    /// Waits until every one of `who` has joined a channel, in whatever order their
    /// connections happen to join (each is its own connection; no order between them).
    pub async fn all_joined(&mut self, who: &[&str]) {
        let mut left: Vec<&str> = who.to_vec();
        while !left.is_empty() {
            let m = self
                .wait_for(
                    |m| {
                        matches!(m.command, IrcCommand::JOIN(..))
                            && m.source_nickname().is_some_and(|n| left.contains(&n))
                    },
                    &format!("{} joining", left.join(", ")),
                )
                .await;
            left.retain(|n| m.source_nickname() != Some(*n));
        }
    }

    /// The words of the next NOTICE from the gateway's service nick (`labelgate`).
    pub async fn gateway_notice(&mut self) -> String {
        self.gateway_notice_to().await.1
    }

    /// The next NOTICE from the gateway's service nick: its target and words.
    pub async fn gateway_notice_to(&mut self) -> (String, String) {
        let m = self
            .wait_for(
                |m| {
                    m.source_nickname() == Some("labelgate")
                        && matches!(m.command, IrcCommand::NOTICE(..))
                },
                "a NOTICE from the gateway",
            )
            .await;
        match m.command {
            IrcCommand::NOTICE(to, words) => (to, words),
            _ => unreachable!(),
        }
    }

    /// Reads (and drops) what arrives for `d`: the `irc` crate sends only while its stream
    /// is polled.
    pub async fn pump(&mut self, d: Duration) {
        let _ =
            tokio::time::timeout(d, async { while self.stream.next().await.is_some() {} }).await;
    }

    /// The PRIVMSGs to `target` from `from` until `n` arrived, as text.
    pub async fn privmsgs(&mut self, from: &str, target: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let m = self
                .wait_for(
                    |m| {
                        m.source_nickname() == Some(from)
                            && matches!(&m.command, IrcCommand::PRIVMSG(t, _) if t == target)
                    },
                    "a message",
                )
                .await;
            if let IrcCommand::PRIVMSG(_, text) = m.command {
                out.push(text);
            }
        }
        out
    }
}
