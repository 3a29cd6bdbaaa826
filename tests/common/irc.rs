//! An IRC front-end for tests: the real server and listeners, a users file made at test time,
//! and a small in-memory backend (channels among IRC users) standing in for the bridge.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labelgate::config::users::{Users, fingerprint_of, hash_password};
use labelgate::irc::backend::{
    Backend, Delivery, JoinRefusal, Member, RegisteredUser, Relayed, Request, Source, Text,
};
// The in-memory backend plays the other side: nothing here is a real crossing.
use labelgate::internal::peer_cleared;
use labelgate::irc::server::{IrcConfig, Shared, serve};
use labelgate::label::{Policy, load_policy};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// A user of the in-memory backend.
struct Conn {
    source: Source,
    tx: mpsc::Sender<Delivery>,
}

#[derive(Default)]
struct State {
    users: HashMap<u64, Conn>,
    channels: HashMap<String, (String, Vec<u64>, String)>,
}

/// Channels among IRC users; `#secret` is refused for clearance and `#nosuch` does not exist.
#[derive(Default, Clone)]
pub struct LocalBackend {
    state: Arc<Mutex<State>>,
}

impl LocalBackend {
    fn members(st: &State, ids: &[u64]) -> Vec<Member> {
        ids.iter()
            .filter_map(|i| st.users.get(i))
            .map(|c| Member {
                source: c.source.clone(),
                op: false,
                voice: false,
            })
            .collect()
    }

    async fn handle(&self, id: u64, r: Request) -> bool {
        // A labelled request: what goes back to the asker is its answer, with the label.
        let (label, r) = match r {
            Request::Labelled { label, request } => (Some(label), *request),
            r => (None, r),
        };
        let mut keep = true;
        let mine: Option<mpsc::Sender<Delivery>>;
        let sends: Vec<(mpsc::Sender<Delivery>, Delivery)> = {
            let mut st = self.state.lock().unwrap();
            let Some(me) = st.users.get(&id).map(|c| (c.source.clone(), c.tx.clone())) else {
                return false;
            };
            let (src, my_tx) = me;
            mine = Some(my_tx.clone());
            let mut out = Vec::new();
            match r {
                Request::Join { channel } => {
                    let key = channel.to_ascii_lowercase();
                    if key == "#nosuch" {
                        out.push((
                            my_tx,
                            Delivery::JoinRefused {
                                channel,
                                reason: JoinRefusal::NoSuchChannel("No such channel".into()),
                            },
                        ));
                    } else if key == "#secret" {
                        out.push((
                            my_tx,
                            Delivery::JoinRefused {
                                channel,
                                reason: JoinRefusal::NotCleared(
                                    "your clearance does not dominate the room's label".into(),
                                ),
                            },
                        ));
                    } else {
                        let entry = st
                            .channels
                            .entry(key)
                            .or_insert_with(|| (channel.clone(), vec![], String::new()));
                        entry.1.push(id);
                        let (name, ids, topic) = entry.clone();
                        for other in ids.iter().filter(|o| **o != id) {
                            if let Some(c) = st.users.get(other) {
                                out.push((
                                    c.tx.clone(),
                                    Delivery::Join {
                                        channel: name.clone(),
                                        who: Member {
                                            source: src.clone(),
                                            op: false,
                                            voice: false,
                                        },
                                    },
                                ));
                            }
                        }
                        let members = Self::members(&st, &ids);
                        out.push((
                            my_tx,
                            Delivery::Joined {
                                channel: name,
                                topic: Some(topic).filter(|t| !t.is_empty()).map(peer_cleared),
                                topic_by: None,
                                members,
                            },
                        ));
                    }
                }
                Request::Part { channel, reason } => {
                    let key = channel.to_ascii_lowercase();
                    let found = st.channels.get_mut(&key).map(|entry| {
                        let ids = entry.1.clone();
                        entry.1.retain(|i| *i != id);
                        (entry.0.clone(), ids)
                    });
                    if let Some((name, ids)) = found {
                        for i in ids {
                            if let Some(c) = st.users.get(&i) {
                                out.push((
                                    c.tx.clone(),
                                    Delivery::Part {
                                        channel: name.clone(),
                                        who: src.clone(),
                                        reason: reason
                                            .clone()
                                            .map(|r| Text::Cleared(peer_cleared(r))),
                                    },
                                ));
                            }
                        }
                    }
                }
                Request::Message {
                    notice,
                    target,
                    text,
                    action,
                    tags,
                    echo,
                } => {
                    let client_tags: Vec<_> = tags
                        .into_iter()
                        .filter(|(k, _)| k.starts_with('+'))
                        .collect();
                    if target.starts_with('#') {
                        if let Some((name, ids, _)) = st.channels.get(&target.to_ascii_lowercase())
                        {
                            for i in ids {
                                if *i == id && !echo {
                                    continue;
                                }
                                if let Some(c) = st.users.get(i) {
                                    out.push((
                                        c.tx.clone(),
                                        Delivery::Message {
                                            from: src.clone(),
                                            target: name.clone(),
                                            message: peer_cleared(Relayed {
                                                lines: vec![text.clone()],
                                                tags: client_tags.clone(),
                                                time: None,
                                            }),
                                            action,
                                            notice,
                                        },
                                    ));
                                }
                            }
                        }
                    } else {
                        match st
                            .users
                            .values()
                            .find(|c| c.source.nick.eq_ignore_ascii_case(&target))
                        {
                            Some(c) => out.push((
                                c.tx.clone(),
                                Delivery::Message {
                                    from: src.clone(),
                                    target: c.source.nick.clone(),
                                    message: peer_cleared(Relayed {
                                        lines: vec![text.clone()],
                                        tags: client_tags.clone(),
                                        time: None,
                                    }),
                                    action,
                                    notice,
                                },
                            )),
                            None => out.push((my_tx, Delivery::NoSuchTarget { target })),
                        }
                    }
                }
                Request::Topic { channel, topic } => {
                    let found = match (st.channels.get_mut(&channel.to_ascii_lowercase()), topic) {
                        (Some(entry), Some(t)) => {
                            entry.2 = t.clone();
                            Some((entry.0.clone(), entry.1.clone(), t))
                        }
                        _ => None,
                    };
                    if let Some((name, ids, t)) = found {
                        for i in ids {
                            if let Some(c) = st.users.get(&i) {
                                out.push((
                                    c.tx.clone(),
                                    Delivery::Topic {
                                        channel: name.clone(),
                                        topic: Some(peer_cleared(t.clone())),
                                        by: Some(src.clone()),
                                    },
                                ));
                            }
                        }
                    }
                }
                Request::Labels { .. } => {}
                Request::List => {
                    let entries = st
                        .channels
                        .values()
                        .map(|(n, ids, t)| (n.clone(), ids.len(), Text::Own(t.clone())))
                        .collect();
                    out.push((my_tx, Delivery::List { entries }));
                }
                Request::Nick { nick } => {
                    if let Some(c) = st.users.get_mut(&id) {
                        c.source.nick = nick.clone();
                    }
                    let peers: Vec<_> = st
                        .users
                        .iter()
                        .filter(|(i, _)| **i != id)
                        .map(|(_, c)| c.tx.clone())
                        .collect();
                    for tx in peers {
                        out.push((
                            tx,
                            Delivery::Nick {
                                who: src.clone(),
                                new: nick.clone(),
                            },
                        ));
                    }
                }
                Request::Away { text } => {
                    for (i, c) in st.users.iter() {
                        if *i != id {
                            out.push((
                                c.tx.clone(),
                                Delivery::Away {
                                    who: src.clone(),
                                    text: text.clone().map(|t| Text::Cleared(peer_cleared(t))),
                                },
                            ));
                        }
                    }
                }
                Request::Labelled { .. } => {}
                // Typing notifications are not relayed by this in-memory backend.
                Request::Typing { .. } => {}
                Request::Ping { token } => out.push((my_tx.clone(), Delivery::Pong { token })),
                // No rooms to moderate here.
                Request::Kick { channel, .. } | Request::Invite { channel, .. } => out.push((
                    my_tx.clone(),
                    Delivery::NotOperator {
                        channel,
                        why: "nobody moderates the local backend".into(),
                    },
                )),
                Request::Quit { reason } => {
                    st.users.remove(&id);
                    for (_, ids, _) in st.channels.values_mut() {
                        ids.retain(|i| *i != id);
                    }
                    for c in st.users.values() {
                        out.push((
                            c.tx.clone(),
                            Delivery::Quit {
                                who: src.clone(),
                                reason: Some(Text::Cleared(peer_cleared(reason.clone()))),
                            },
                        ));
                    }
                    keep = false;
                }
            }
            out
        };
        let mut answer = Vec::new();
        for (tx, d) in sends {
            match (&label, &mine) {
                (Some(_), Some(me)) if tx.same_channel(me) => answer.push(d),
                _ => {
                    let _ = tx.send(d).await;
                }
            }
        }
        if let (Some(label), Some(me)) = (label, mine) {
            let _ = me
                .send(Delivery::Response {
                    label,
                    deliveries: answer,
                })
                .await;
        }
        keep
    }
}

impl Backend for LocalBackend {
    fn register(
        &self,
        user: RegisteredUser,
        deliveries: mpsc::Sender<Delivery>,
    ) -> mpsc::Sender<Request> {
        let (tx, mut rx) = mpsc::channel(64);
        let source = Source {
            nick: user.nick.clone(),
            user: user.user.clone(),
            host: user.host.clone(),
            account: Some(user.account.clone()),
        };
        self.state.lock().unwrap().users.insert(
            user.id,
            Conn {
                source,
                tx: deliveries,
            },
        );
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                if !me.handle(user.id, r).await {
                    break;
                }
            }
            me.state.lock().unwrap().users.remove(&user.id);
        });
        tx
    }
}

/// The demo policy for clearances in the users file.
pub fn policy() -> Policy {
    let p = format!(
        "{}/tests/fixtures/spif/uk-demo.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    load_policy(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Where the test PKI lives (made once per test binary by contrib/pki).
pub fn pki() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = PathBuf::from(format!(
            "{}/target/test-irc-pki/{name}",
            env!("CARGO_MANIFEST_DIR")
        ));
        let status =
            std::process::Command::new(format!("{}/contrib/pki", env!("CARGO_MANIFEST_DIR")))
                .arg(&dir)
                .status()
                .unwrap();
        assert!(status.success());
        dir
    })
    .clone()
}

/// The users file text: alice (password and certificate), bob and carol (passwords).
pub fn users_toml(pki: &std::path::Path) -> String {
    let alice_cert = labelgate::xmpp::tls::load_certs(&pki.join("users/alice.crt")).unwrap();
    let fp = fingerprint_of(alice_cert[0].as_ref()).1;
    let hash = |p: &str| hash_password(p).unwrap();
    format!(
        r#"jid_template = "{{account}}@labelgate.test"

[[user]]
account = "alice"
clearance = "SECRET, UK"
password = "{}"
certificates = ["{fp}"]

[[user]]
account = "bob"
clearance = "OFFICIAL"
password = "{}"

[[user]]
account = "carol"
clearance = "TOP SECRET, UK, US, EU, NATO"
password = "{}"
"#,
        hash("alice-pw"),
        hash("bob-pw"),
        hash("carol-pw")
    )
}

/// A running front-end.
pub struct TestIrc {
    /// The plaintext (loopback) listener.
    pub plain: SocketAddr,
    /// The TLS listener.
    pub tls: SocketAddr,
    /// Shared state (for reload).
    pub shared: Arc<Shared<LocalBackend>>,
    /// Flip to shut down.
    pub stop: watch::Sender<bool>,
    /// The PKI.
    pub pki: PathBuf,
}

/// Starts a front-end with `config`.
pub async fn start(config: IrcConfig) -> TestIrc {
    let pki = pki();
    let policy = policy();
    let users = Users::parse(
        std::path::Path::new("users.toml"),
        &users_toml(&pki),
        &policy,
    )
    .unwrap();
    let (stop, rx) = watch::channel(false);
    let shared = Shared::new(config, users, Arc::new(LocalBackend::default()), rx);
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (pa, ta) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
    let tls_config =
        labelgate::irc::tls::server_config(&pki.join("irc.crt"), &pki.join("irc.key"), true)
            .unwrap();
    tokio::spawn(serve(shared.clone(), plain, None, Default::default()));
    tokio::spawn(serve(
        shared.clone(),
        tls,
        Some(tls_config),
        Default::default(),
    ));
    TestIrc {
        plain: pa,
        tls: ta,
        shared,
        stop,
        pki,
    }
}

/// Test settings: generous flood limits unless a test says otherwise.
pub fn config() -> IrcConfig {
    IrcConfig {
        flood_burst: 100,
        flood_rate: 100.0,
        flood_max_debt: 400,
        ..IrcConfig::default()
    }
}

/// A raw line-based client.
pub struct Raw {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    /// Connects.
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw::over(TcpStream::connect(addr).await.unwrap())
    }

    /// Connects from the loopback address `source` (127.0.0.0/8 holds many).
    pub async fn connect_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> Raw {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        Raw::over(socket.connect(addr).await.unwrap())
    }

    fn over(s: TcpStream) -> Raw {
        let (r, w) = s.into_split();
        Raw {
            rd: BufReader::new(r),
            wr: w,
        }
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, b: &[u8]) {
        self.wr.write_all(b).await.unwrap();
    }

    /// Sends one line.
    pub async fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes()).await;
    }

    /// The next line, or `None` at end of stream (10 s at most).
    pub async fn line(&mut self) -> Option<String> {
        self.line_within(10).await
    }

    /// The next line, or `None` at end of stream (`secs` at most).
    pub async fn line_within(&mut self, secs: u64) -> Option<String> {
        let mut s = String::new();
        match tokio::time::timeout(Duration::from_secs(secs), self.rd.read_line(&mut s)).await {
            Ok(Ok(0)) => None,
            Ok(Ok(_)) => {
                // LABELGATE_TRACE_IRC=1 shows every line a test client reads.
                if std::env::var_os("LABELGATE_TRACE_IRC").is_some() {
                    eprintln!("<< {}", s.trim_end());
                }
                Some(s.trim_end_matches(['\r', '\n']).to_owned())
            }
            Ok(Err(_)) => None,
            Err(_) => panic!("no line within {secs} s"),
        }
    }

    /// Reads until a line contains `needle`; returns it (panics at end of stream).
    pub async fn until(&mut self, needle: &str) -> String {
        self.until_within(needle, 10).await
    }

    /// Reads until a line contains `needle`, waiting at most `secs` for each line.
    pub async fn until_within(&mut self, needle: &str, secs: u64) -> String {
        loop {
            match self.line_within(secs).await {
                Some(l) if l.contains(needle) => return l,
                Some(_) => {}
                None => panic!("stream ended before a line with {needle:?}"),
            }
        }
    }

    /// Reads until a line contains `needle`; returns every line read, that one last.
    pub async fn lines_until(&mut self, needle: &str) -> Vec<String> {
        self.lines_until_within(needle, 15).await
    }

    /// [`Raw::lines_until`], waiting at most `secs` for each line.
    pub async fn lines_until_within(&mut self, needle: &str, secs: u64) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.line_within(secs).await {
                Some(l) => {
                    let done = l.contains(needle);
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                None => panic!("stream ended before a line with {needle:?}: {seen:?}"),
            }
        }
    }

    /// Reads every line until end of stream.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = self.line().await {
            out.push(l);
        }
        out
    }

    /// Registers with PASS account:password and waits for the end of the MOTD.
    pub async fn login(addr: SocketAddr, nick: &str, account: &str, password: &str) -> Raw {
        let mut r = Raw::connect(addr).await;
        r.send(&format!("PASS {account}:{password}")).await;
        r.send(&format!("NICK {nick}")).await;
        r.send(&format!("USER {nick} 0 * :{nick}")).await;
        r.until(" 376 ").await;
        r
    }
}
