//! A real, independent XMPP client for tests: `tests/peers/xmpp_peer.py` (slixmpp, from
//! Debian's python3-slixmpp) logged in with a per-user certificate and SASL EXTERNAL, driven
//! over JSON lines.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use labelgate::label::{Label, PolicySet};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::common::TestServer;

/// The Python with Debian's slixmpp (not a pyenv shim that lacks it).
const PYTHON: &str = "/usr/bin/python3";

/// One running slixmpp client.
pub struct Slix {
    child: Child,
    stdin: ChildStdin,
    /// Its output, read as it comes (so the client never blocks on a full pipe while the test
    /// is not reading, e.g. after a very large message).
    lines: mpsc::UnboundedReceiver<String>,
    /// Its bare JID.
    pub jid: String,
}

/// A message the client received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `groupchat`, `chat` or `error`.
    pub kind: String,
    /// The room (bare JID of the sender).
    pub room: String,
    /// The sender's room nick.
    pub nick: String,
    /// The body.
    pub body: Option<String>,
    /// The subject, for a subject change.
    pub subject: Option<String>,
    /// Delivered as history (`<delay/>`).
    pub delay: bool,
    /// The ESS label in base64, if the message carried one.
    pub ess: Option<String>,
    /// The display marking, if any.
    pub display: Option<String>,
    /// A `<securitylabel/>` was present.
    pub labelled: bool,
    /// The label element, when it is not ESS (e.g. ADatP-4774 XML), as XML text.
    pub label_xml: Option<String>,
    /// The XEP-0085 chat state it carries, if any.
    pub chat_state: Option<String>,
    /// The id a XEP-0184 receipt acknowledges, if it is one.
    pub receipt: Option<String>,
    /// Its XEP-0359 origin-id, if it has one.
    pub origin_id: Option<String>,
    /// A message error's defined condition.
    pub condition: Option<String>,
    /// The stanza's `id` attribute.
    pub stanza: Option<String>,
    /// A message error's text.
    pub error_text: Option<String>,
}

impl Slix {
    /// Logs in as `user` (a per-user certificate of the server's test PKI) and waits until the
    /// session has started.
    pub async fn start(server: &TestServer, user: &str) -> Slix {
        let script = format!("{}/tests/peers/xmpp_peer.py", env!("CARGO_MANIFEST_DIR"));
        let jid = format!("{user}@{}", server.domain);
        let mut child = Command::new(PYTHON)
            .arg(script)
            .arg("--jid")
            .arg(&jid)
            .arg("--cert")
            .arg(server.pki(&format!("users/{user}.crt")))
            .arg("--key")
            .arg(server.pki(&format!("users/{user}.key")))
            .arg("--ca")
            .arg(server.pki("ca.crt"))
            .arg("--port")
            .arg(server.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start tests/peers/xmpp_peer.py with /usr/bin/python3 (python3-slixmpp)");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Slix {
            child,
            stdin,
            lines,
            jid,
        };
        s.wait_event("ready", 30).await;
        s
    }

    async fn command(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next event (panics on an `error` event, on end of output, or after `secs`).
    pub async fn event(&mut self, secs: u64) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(secs), self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("{}: no event within {secs} s", self.jid))
            .unwrap_or_else(|| panic!("{}: the XMPP peer exited", self.jid));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_ne!(v["ev"], "error", "{}: {line}", self.jid);
        v
    }

    async fn wait_event(&mut self, ev: &str, secs: u64) -> Value {
        loop {
            let v = self.event(secs).await;
            if v["ev"] == ev {
                return v;
            }
        }
    }

    /// Joins a room and waits until joined.
    pub async fn join(&mut self, room: &str, nick: &str) {
        self.command(json!({"op": "join", "room": room, "nick": nick}))
            .await;
        self.wait_event("joined", 30).await;
    }

    /// Sends a groupchat message, labelled with `label` (ESS plus the policy's display
    /// marking), or with a raw ESS text (to send an unreadable label), or unlabelled.
    pub async fn send(&mut self, room: &str, body: &str, label: Option<SlixLabel>) {
        self.command(json!({
            "op": "send", "room": room, "body": body,
            "id": crate::common::unique("slix"), "label": label.map(|l| l.json()),
        }))
        .await;
    }

    /// Sends a private message to a room occupant (labelled as [`Slix::send`]).
    pub async fn private(&mut self, room: &str, nick: &str, body: &str, label: Option<SlixLabel>) {
        self.command(json!({
            "op": "private", "room": room, "nick": nick, "body": body,
            "id": crate::common::unique("slix"), "label": label.map(|l| l.json()),
        }))
        .await;
    }

    /// Changes the room's subject.
    pub async fn subject(&mut self, room: &str, subject: &str) {
        self.command(json!({"op": "subject", "room": room, "subject": subject}))
            .await;
    }

    /// Sends a stanza exactly as written (what a hostile client can send).
    pub async fn raw(&mut self, xml: &str) {
        self.command(json!({"op": "raw", "xml": xml})).await;
    }

    /// Sends a stanza exactly as written, then waits (at most `secs`) for the IQ answer with id
    /// `id`: (type, error condition, error text).
    pub async fn raw_iq(
        &mut self,
        xml: &str,
        id: &str,
        secs: u64,
    ) -> (String, Option<String>, Option<String>) {
        self.command(json!({"op": "raw", "xml": xml, "answer": id}))
            .await;
        loop {
            let v = self.event(secs).await;
            if v["ev"] == "iq" && v["id"] == id {
                let s = |k: &str| v[k].as_str().map(str::to_owned);
                return (s("type").unwrap_or_default(), s("condition"), s("text"));
            }
        }
    }

    /// Leaves a room with an optional status text.
    pub async fn leave(&mut self, room: &str, nick: &str, status: Option<&str>) {
        self.command(json!({"op": "leave", "room": room, "nick": nick, "status": status}))
            .await;
    }

    /// The next presence of `kind` (`available`, `unavailable`) from `room` about `nick`
    /// (skipping other events), within `secs`.
    pub async fn presence_of(&mut self, room: &str, nick: &str, kind: &str, secs: u64) -> Value {
        loop {
            let v = self.wait_event("presence", secs).await;
            if v["room"] == room && v["nick"] == nick && v["type"] == kind {
                return v;
            }
        }
    }

    /// The next message (skipping other events), within `secs`.
    pub async fn message(&mut self, secs: u64) -> Received {
        let v = self.wait_event("message", secs).await;
        let label = &v["label"];
        Received {
            kind: v["type"].as_str().unwrap_or_default().to_owned(),
            room: v["room"].as_str().unwrap_or_default().to_owned(),
            nick: v["nick"].as_str().unwrap_or_default().to_owned(),
            body: v["body"].as_str().map(str::to_owned),
            subject: v["subject"].as_str().map(str::to_owned),
            delay: v["delay"].as_bool().unwrap_or(false),
            ess: label["ess"].as_str().map(str::to_owned),
            display: label["display"].as_str().map(str::to_owned),
            labelled: !label.is_null(),
            label_xml: label["xml"].as_str().map(str::to_owned),
            chat_state: v["chatstate"].as_str().map(str::to_owned),
            receipt: v["receipt"].as_str().map(str::to_owned),
            origin_id: v["id"].as_str().map(str::to_owned),
            condition: v["condition"].as_str().map(str::to_owned),
            stanza: v["stanza"].as_str().map(str::to_owned),
            error_text: v["error_text"].as_str().map(str::to_owned),
        }
    }

    /// The next message from the occupant `nick` (of type `kind`, when given), skipping
    /// others, within `secs`.
    pub async fn message_from(&mut self, nick: &str, kind: Option<&str>, secs: u64) -> Received {
        loop {
            let m = self.message(secs).await;
            if m.nick == nick && kind.is_none_or(|k| m.kind == k) {
                return m;
            }
        }
    }

    /// The next mediated room invitation (skipping other events): (room, inviter), within `secs`.
    pub async fn invitation(&mut self, secs: u64) -> (String, String) {
        loop {
            let v = self.wait_event("message", secs).await;
            if let Some(from) = v["invite_from"].as_str() {
                return (
                    v["room"].as_str().unwrap_or_default().to_owned(),
                    from.to_owned(),
                );
            }
        }
    }

    /// Leaves and waits for the client to exit.
    pub async fn quit(mut self) {
        self.command(json!({"op": "quit"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A label as the XMPP client sends it.
pub enum SlixLabel {
    /// A label of the policy: ESS plus display marking and colours.
    Policy(Box<Label>, String, Option<String>, Option<String>),
    /// An ESS element whose content is this raw text.
    Raw(String),
}

impl SlixLabel {
    /// The label for a marking of the primary policy.
    pub fn marking(p: &PolicySet, marking: &str) -> SlixLabel {
        let l = p.primary().parse_marking(marking).unwrap();
        let d = p.primary().display_marking(&l).unwrap();
        SlixLabel::Policy(Box::new(l), d.text, d.fg, d.bg)
    }

    fn json(&self) -> Value {
        match self {
            SlixLabel::Policy(l, text, fg, bg) => {
                json!({"ess": l.to_base64(), "display": text, "fg": fg, "bg": bg})
            }
            SlixLabel::Raw(text) => json!({"ess": text, "display": null}),
        }
    }
}
