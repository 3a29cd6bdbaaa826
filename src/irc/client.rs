//! One IRC client connection: reading (bounded lines, flood control), registration and
//! authentication (CAP, SASL PLAIN/EXTERNAL, PASS), commands, deliveries from the backend, and
//! writing through a byte-bounded send queue. Handlers write replies into a buffer, never to
//! the socket.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::backend::{Backend, Delivery, JoinRefusal, Member, RegisteredUser, Request};
use super::proto::caps::{Cap, CapSet};
use super::proto::codec::{Line, LineCodec};
use super::proto::ctcp::{self, Ctcp};
use super::proto::message::Message;
use super::proto::names;
use super::proto::numeric::{self as n, Numeric};
use super::server::Shared;
use crate::audit::Cleared;
use crate::config::users::User;

const VERSION: &str = concat!("labelgate-", env!("CARGO_PKG_VERSION"));
/// Most targets in one PRIVMSG or NOTICE (ISUPPORT MAXTARGETS); more get 407.
const MAX_TARGETS: usize = 4;

/// The send queue: unbounded channel, bounded by a byte count the writer pays back.
struct SendQ {
    tx: mpsc::UnboundedSender<String>,
    queued: Arc<AtomicUsize>,
    limit: usize,
    exceeded: bool,
}

impl SendQ {
    fn push(&mut self, line: String) {
        if self.exceeded {
            return;
        }
        let n = line.len() + 2;
        if self.queued.load(Ordering::Relaxed) + n > self.limit {
            self.exceeded = true;
            return;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        let _ = self.tx.send(line);
    }

    /// Queues a final line whatever the limit.
    fn push_final(&mut self, line: String) {
        self.queued.fetch_add(line.len() + 2, Ordering::Relaxed);
        let _ = self.tx.send(line);
    }
}

/// Token bucket for input lines.
struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    /// Takes a token; returns when the line may be processed.
    fn take(&mut self, now: Instant) -> Instant {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[derive(Default)]
struct SaslState {
    mechanism: Option<String>,
    buffer: String,
}

struct ChannelView {
    name: String,
    topic: String,
    /// Who set the topic and when (seconds since the epoch), for 333.
    topic_set: (String, u64),
    members: BTreeMap<String, Member>,
}

struct Client<B: Backend> {
    shared: Arc<Shared<B>>,
    id: u64,
    peer: SocketAddr,
    host: String,
    cert: Option<Vec<u8>>,
    out: SendQ,
    caps: CapSet,
    cap_negotiating: bool,
    nick: Option<String>,
    user: Option<(String, String)>,
    pass: Option<String>,
    sasl: SaslState,
    account: Option<User>,
    registered: bool,
    to_backend: Option<mpsc::Sender<Request>>,
    channels: BTreeMap<String, ChannelView>,
    away: Option<String>,
    /// Lines produced by the command being handled (for labeled-response).
    buffer: Vec<Message>,
    quit: Option<String>,
    /// SASL exchanges that failed on this connection.
    sasl_failures: u32,
    /// Channels (folded) the user has asked to part whose PART has not come back yet: a JOIN
    /// right after (`/cycle`) goes through.
    parting: std::collections::HashSet<String>,
}

/// Failed SASL exchanges a connection may have before it is closed.
const SASL_ATTEMPTS: u32 = 3;

/// Bytes of tags a client may send (IRCv3 message-tags).
const MAX_CLIENT_TAGS: usize = 4094;

/// The command word of a line (after its tags and source), for a 421.
fn verb_of(text: &str) -> String {
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let mut w = words.next().unwrap_or_default();
    if w.starts_with('@') {
        w = words.next().unwrap_or_default();
    }
    if w.starts_with(':') {
        w = words.next().unwrap_or_default();
    }
    w.chars().filter(|c| !c.is_control()).take(32).collect()
}

/// (setter, now) for RPL_TOPICWHOTIME: the setter, or the server when unknown.
fn topic_set(by: Option<&str>, server: &str) -> (String, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (by.unwrap_or(server).to_owned(), now)
}

fn now_tag() -> String {
    crate::util::timestamp_now(true)
}

/// Runs one client until it quits, is dropped, or the server shuts down.
pub(super) async fn run<B: Backend, S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    shared: Arc<Shared<B>>,
    id: u64,
    peer: SocketAddr,
    stream: S,
    _tls: bool,
    cert: Option<Vec<u8>>,
) {
    let (rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer_queued = queued.clone();
    let writer = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(4096);
        while let Some(line) = rx.recv().await {
            buf.clear();
            let mut n = line.len() + 2;
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
            // Batch what is already queued into one write.
            while buf.len() < 16 * 1024 {
                match rx.try_recv() {
                    Ok(more) => {
                        n += more.len() + 2;
                        buf.extend_from_slice(more.as_bytes());
                        buf.extend_from_slice(b"\r\n");
                    }
                    Err(_) => break,
                }
            }
            if wr.write_all(&buf).await.is_err() {
                break;
            }
            writer_queued.fetch_sub(n, Ordering::Relaxed);
        }
        let _ = wr.shutdown().await;
    });

    // The reader task decodes lines into a bounded queue; a full queue is excess flood.
    let cfg = &shared.config;
    let depth = (cfg.flood_burst + cfg.flood_max_debt).max(1) as usize;
    let (line_tx, mut line_rx) = mpsc::channel::<Line>(depth);
    let (flood_tx, mut flood_rx) = mpsc::channel::<()>(1);
    let reader = tokio::spawn(async move {
        let mut framed = FramedRead::new(rd, LineCodec::default());
        while let Some(Ok(line)) = framed.next().await {
            if line_tx.try_send(line).is_err() {
                let _ = flood_tx.try_send(());
                return;
            }
        }
    });

    let mut c = Client {
        host: peer.ip().to_string(),
        shared: shared.clone(),
        id,
        peer,
        cert,
        out: SendQ {
            tx,
            queued,
            limit: cfg.sendq_bytes,
            exceeded: false,
        },
        caps: CapSet::default(),
        cap_negotiating: false,
        nick: None,
        user: None,
        pass: None,
        sasl: SaslState::default(),
        sasl_failures: 0,
        parting: Default::default(),
        account: None,
        registered: false,
        to_backend: None,
        channels: BTreeMap::new(),
        away: None,
        buffer: Vec::new(),
        quit: None,
    };
    let (dtx, mut drx) = mpsc::channel::<Delivery>(256);
    let mut dtx = Some(dtx);
    let mut bucket = Bucket {
        tokens: f64::from(cfg.flood_burst),
        burst: f64::from(cfg.flood_burst),
        rate: cfg.flood_rate.max(0.001),
        last: Instant::now(),
    };
    let registration_deadline = Instant::now() + cfg.registration_timeout;
    let mut last_activity = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut next_ok = Instant::now();
    let mut pending: VecDeque<Line> = VecDeque::new();
    let mut shutdown = shared.shutdown.clone();

    let reason: String = loop {
        if c.out.exceeded {
            break "SendQ exceeded".into();
        }
        if let Some(q) = c.quit.take() {
            break q;
        }
        let timer = if !c.registered {
            registration_deadline
        } else if let Some(sent) = ping_sent {
            sent + cfg.ping_timeout
        } else {
            last_activity + cfg.ping_interval
        };
        let throttled = !pending.is_empty();
        tokio::select! {
            biased;
            _ = shutdown.changed() => break "Server shutting down".into(),
            _ = flood_rx.recv() => break "Excess Flood".into(),
            _ = tokio::time::sleep_until(next_ok), if throttled => {
                if let Some(line) = pending.pop_front() {
                    c.line(line).await;
                }
                if let Some(next) = pending.front().map(|_| bucket.take(Instant::now())) {
                    next_ok = next;
                }
            }
            line = line_rx.recv(), if !throttled => match line {
                None => break "Connection closed".into(),
                Some(line) => {
                    last_activity = Instant::now();
                    ping_sent = None;
                    let at = bucket.take(last_activity);
                    if at <= last_activity {
                        c.line(line).await;
                    } else {
                        pending.push_back(line);
                        next_ok = at;
                    }
                }
            },
            d = drx.recv(), if c.registered => match d {
                Some(d) => c.delivery(d),
                None => break "Gateway session ended".into(),
            },
            _ = tokio::time::sleep_until(timer) => {
                if !c.registered {
                    break "Registration timed out".into();
                }
                if ping_sent.is_some() {
                    break "Ping timeout".into();
                }
                c.send(Message::new("PING", vec![c.shared.config.server_name.clone()]));
                ping_sent = Some(Instant::now());
            }
        }
        if c.registered
            && c.to_backend.is_none()
            && let Some(d) = dtx.take()
        {
            c.attach(d);
        }
        c.flush_buffer(None);
    };

    // Tell the backend and the client, then close.
    if let Some(tb) = c.to_backend.take() {
        crate::metrics::METRICS.irc_clients(-1);
        let _ = tb
            .send(Request::Quit {
                reason: reason.clone(),
            })
            .await;
    }
    c.out
        .push_final(format!("ERROR :Closing link: ({}) [{reason}]", c.host));
    drop(c);
    reader.abort();
    // Give the writer a moment to drain (a client that does not read does not get forever).
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

fn params_or(m: &Message, i: usize) -> Option<&str> {
    m.params.get(i).map(String::as_str)
}

impl<B: Backend> Client<B> {
    fn nick_or_star(&self) -> String {
        self.nick.clone().unwrap_or_else(|| "*".into())
    }

    fn mask(&self) -> String {
        let user = self.user.as_ref().map(|u| u.0.as_str()).unwrap_or("~u");
        format!("{}!{}@{}", self.nick_or_star(), user, self.host)
    }

    /// Queues a message into the reply buffer.
    fn send(&mut self, m: Message) {
        self.buffer.push(m);
    }

    fn numeric(&mut self, r: Numeric) {
        let mut params = Vec::with_capacity(r.params.len() + 1);
        params.push(self.nick_or_star());
        params.extend(r.params);
        let m = Message::new(format!("{:03}", r.code), params)
            .with_source(self.shared.config.server_name.clone());
        self.send(m);
    }

    fn server_notice(&mut self, text: &str) {
        let m = Message::new("NOTICE", vec![self.nick_or_star(), text.to_owned()])
            .with_source(self.shared.config.server_name.clone());
        self.send(m);
    }

    /// Writes the buffer out, applying labeled-response for `label`, and dropping tags the
    /// client did not ask for.
    fn flush_buffer(&mut self, label: Option<String>) {
        let mut msgs = std::mem::take(&mut self.buffer);
        let tags_ok = self.caps.has(Cap::MessageTags);
        let label = label.filter(|_| self.caps.has(Cap::LabeledResponse));
        match (&label, msgs.len()) {
            (Some(l), 0) => msgs.push(
                Message::new("ACK", vec![])
                    .with_source(self.shared.config.server_name.clone())
                    .with_tag("label", Some(l.clone())),
            ),
            (Some(l), 1) => msgs[0].tags.insert(0, ("label".into(), Some(l.clone()))),
            (Some(l), _) if self.caps.has(Cap::Batch) => {
                let id = format!("lr{}", self.id);
                let start =
                    Message::new("BATCH", vec![format!("+{id}"), "labeled-response".into()])
                        .with_source(self.shared.config.server_name.clone())
                        .with_tag("label", Some(l.clone()));
                for m in msgs.iter_mut() {
                    m.tags.insert(0, ("batch".into(), Some(id.clone())));
                }
                msgs.insert(0, start);
                msgs.push(
                    Message::new("BATCH", vec![format!("-{id}")])
                        .with_source(self.shared.config.server_name.clone()),
                );
            }
            _ => {}
        }
        for mut m in msgs {
            if !tags_ok {
                m.tags.retain(|(k, _)| {
                    (k == "time" && self.caps.has(Cap::ServerTime))
                        || (k == "account" && self.caps.has(Cap::AccountTag))
                        || ((k == "label" || k == "batch") && self.caps.has(Cap::LabeledResponse))
                });
            }
            self.out.push(m.to_line());
        }
    }

    async fn line(&mut self, line: Line) {
        let text = match line {
            Line::Text(t) => t,
            Line::TooLong => {
                self.numeric(n::ERR_INPUTTOOLONG());
                return;
            }
            Line::InvalidUtf8 => {
                self.server_notice("Your line was not valid UTF-8 and was ignored");
                return;
            }
        };
        // IRCv3 message-tags: a client's tags take at most 4094 bytes.
        if let Some(tags) = text.strip_prefix('@') {
            let len = tags.find(' ').unwrap_or(tags.len());
            if len > MAX_CLIENT_TAGS {
                self.numeric(n::ERR_INPUTTOOLONG());
                return;
            }
        }
        let msg = match Message::parse(&text) {
            Ok(m) => m,
            Err(super::proto::message::ParseError::Empty) => return,
            Err(super::proto::message::ParseError::BadCommand) => {
                let verb = verb_of(&text);
                if self.registered {
                    self.numeric(n::ERR_UNKNOWNCOMMAND(&verb));
                } else {
                    self.numeric(n::ERR_NOTREGISTERED());
                }
                return;
            }
            Err(e) => {
                self.server_notice(&format!("Malformed line ignored: {e}"));
                return;
            }
        };
        let label = match msg.tag("label") {
            Some(Some(l)) => Some(l.to_owned()),
            _ => None,
        };
        self.command(msg).await;
        self.flush_buffer(label);
    }

    async fn command(&mut self, msg: Message) {
        let verb = msg.verb.to_ascii_uppercase();
        let Some(spec) = COMMANDS.iter().find(|c| c.name == verb) else {
            if self.registered {
                self.numeric(n::ERR_UNKNOWNCOMMAND(&msg.verb));
            } else {
                self.numeric(n::ERR_NOTREGISTERED());
            }
            return;
        };
        if !spec.pre_registration && !self.registered {
            self.numeric(n::ERR_NOTREGISTERED());
            return;
        }
        if msg.params.len() < spec.min_params {
            self.numeric(n::ERR_NEEDMOREPARAMS(&verb));
            return;
        }
        match spec.handler {
            H::Cap => self.cap(&msg),
            H::Authenticate => self.authenticate(&msg).await,
            H::Pass => self.pass = msg.params.first().cloned(),
            H::Nick => self.nick_cmd(&msg).await,
            H::User => self.user_cmd(&msg),
            H::Ping => {
                let token = msg.params.first().cloned().unwrap_or_default();
                let server = self.shared.config.server_name.clone();
                self.send(Message::new("PONG", vec![server.clone(), token]).with_source(server));
            }
            H::Pong => {}
            H::Quit => {
                self.quit = Some(format!("Quit: {}", params_or(&msg, 0).unwrap_or("")));
            }
            H::Join => self.join(&msg).await,
            H::Part => self.part(&msg).await,
            H::Privmsg | H::Notice => self.privmsg(&msg, spec.handler == H::Notice).await,
            H::Topic => self.topic(&msg).await,
            H::Names => self.names(&msg),
            H::Who => self.who(&msg),
            H::Whois => self.whois(&msg),
            H::Mode => self.mode(&msg),
            H::List => self.request(Request::List).await,
            H::Labels => {
                let chans: Vec<String> = match msg.params.first() {
                    Some(c) if !self.channels.contains_key(&names::fold(c)) => {
                        self.numeric(n::ERR_NOTONCHANNEL(c));
                        vec![]
                    }
                    Some(c) => vec![c.clone()],
                    None => self.channels.values().map(|v| v.name.clone()).collect(),
                };
                for channel in chans {
                    self.request(Request::Labels { channel }).await;
                }
            }
            H::Help => self.help(&msg),
            H::Away => self.away_cmd(&msg).await,
            H::Motd => self.motd(),
            H::Version => {
                let server = self.shared.config.server_name.clone();
                self.numeric(n::RPL_VERSION(
                    VERSION,
                    &server,
                    "security-labelled IRC/XMPP gateway",
                ));
            }
            H::Ison => self.ison(&msg),
            H::Time => {
                let server = self.shared.config.server_name.clone();
                self.numeric(n::RPL_TIME(&server, &now_tag()));
            }
            // Client-only tags (typing notifications and the like) do not cross the gateway;
            // the target is checked like a message's.
            H::Tagmsg => {
                let target = msg.params[0].clone();
                if target.starts_with('#') && !self.channels.contains_key(&names::fold(&target)) {
                    self.numeric(n::ERR_CANNOTSENDTOCHAN(
                        &target,
                        "You are not on that channel",
                    ));
                } else if !target.starts_with('#') && self.find_member(&target).is_none() {
                    self.numeric(n::ERR_NOSUCHNICK(&target));
                }
            }
            H::Userhost => self.userhost(&msg),
        }
        if !self.registered {
            self.try_register().await;
        }
    }

    fn cap(&mut self, msg: &Message) {
        let sub = msg.params[0].to_ascii_uppercase();
        let nick = self.nick_or_star();
        let server = self.shared.config.server_name.clone();
        let reply = |params: Vec<String>| Message::new("CAP", params).with_source(server.clone());
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_negotiating = true;
                }
                let v302 = params_or(msg, 1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
                    >= 302;
                if v302 {
                    self.caps.set(Cap::CapNotify, true);
                }
                let list: Vec<String> = Cap::ALL
                    .iter()
                    .map(|c| match (v302, c.value()) {
                        (true, Some(v)) => format!("{}={v}", c.name()),
                        _ => c.name().to_owned(),
                    })
                    .collect();
                self.send(reply(vec![nick, "LS".into(), list.join(" ")]));
            }
            "LIST" => {
                let names = self.caps.names();
                self.send(reply(vec![nick, "LIST".into(), names]));
            }
            "REQ" => {
                if !self.registered {
                    self.cap_negotiating = true;
                }
                let asked = params_or(msg, 1).unwrap_or("").to_owned();
                let mut changes = Vec::new();
                let mut ok = true;
                for item in asked.split_whitespace() {
                    let (off, name) = match item.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, item),
                    };
                    match Cap::from_name(name) {
                        Some(c) => changes.push((c, !off)),
                        None => ok = false,
                    }
                }
                if ok && !asked.trim().is_empty() {
                    for (c, on) in changes {
                        self.caps.set(c, on);
                    }
                    self.send(reply(vec![nick, "ACK".into(), asked]));
                } else {
                    self.send(reply(vec![nick, "NAK".into(), asked]));
                }
            }
            "END" => self.cap_negotiating = false,
            _ => self.send(
                Message::new("410", vec![nick, sub, "Invalid CAP command".into()])
                    .with_source(server),
            ),
        }
    }

    async fn authenticate(&mut self, msg: &Message) {
        let arg = msg.params[0].clone();
        if self.account.is_some() {
            self.numeric(n::ERR_SASLALREADY());
            return;
        }
        if arg == "*" {
            self.sasl = SaslState::default();
            self.numeric(n::ERR_SASLABORTED());
            return;
        }
        let Some(mech) = self.sasl.mechanism.clone() else {
            let m = arg.to_ascii_uppercase();
            if m == "PLAIN" || (m == "EXTERNAL" && self.cert.is_some()) {
                self.sasl.mechanism = Some(m);
                self.send(Message::new("AUTHENTICATE", vec!["+".into()]));
            } else {
                let mechs = if self.cert.is_some() {
                    "PLAIN,EXTERNAL"
                } else {
                    "PLAIN"
                };
                self.numeric(n::RPL_SASLMECHS(mechs));
                self.numeric(n::ERR_SASLFAIL());
            }
            return;
        };
        if arg.len() > 400 {
            self.sasl = SaslState::default();
            self.numeric(n::ERR_SASLTOOLONG());
            return;
        }
        if arg != "+" {
            self.sasl.buffer.push_str(&arg);
        }
        if arg.len() == 400 {
            if self.sasl.buffer.len() > 4096 {
                self.sasl = SaslState::default();
                self.numeric(n::ERR_SASLTOOLONG());
            }
            return; // more to come
        }
        let payload = std::mem::take(&mut self.sasl.buffer);
        self.sasl = SaslState::default();
        let decoded = if payload.is_empty() {
            Some(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(payload.as_bytes())
                .ok()
        };
        let Some(decoded) = decoded else {
            self.sasl_failed(None, "the SASL payload is not base64")
                .await;
            return;
        };
        let users = self.shared.users();
        let (account, user) = match mech.as_str() {
            "PLAIN" => {
                let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
                match parts.as_slice() {
                    [authzid, authcid, password] => {
                        let authcid = String::from_utf8_lossy(authcid).into_owned();
                        let authzid = String::from_utf8_lossy(authzid).into_owned();
                        let password = String::from_utf8_lossy(password).into_owned();
                        if let Err(t) = self.shared.login_allowed(self.peer, Some(&authcid)) {
                            self.server_notice(&format!("Login refused: {t}."));
                            self.sasl_failed(None, "").await;
                            return;
                        }
                        if !authzid.is_empty() && authzid != authcid {
                            (Some(authcid), None)
                        } else {
                            let u = self
                                .shared
                                .passwords
                                .check(users, authcid.clone(), password)
                                .await;
                            (Some(authcid), u)
                        }
                    }
                    _ => (None, None),
                }
            }
            "EXTERNAL" => {
                let authzid = String::from_utf8_lossy(&decoded).into_owned();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                if let Some(Err(e)) = self.cert.as_ref().map(|c| super::cert::check(c, now)) {
                    self.server_notice(&format!(
                        "Login refused: your client certificate cannot be used ({e})."
                    ));
                    self.sasl_failed(None, &format!("client certificate: {e}"))
                        .await;
                    return;
                }
                let u = self
                    .cert
                    .as_ref()
                    .and_then(|c| users.by_certificate(c))
                    .filter(|u| authzid.is_empty() || authzid == u.account)
                    .cloned();
                (u.as_ref().map(|u| u.account.clone()), u)
            }
            _ => (None, None),
        };
        match user {
            Some(u) => {
                let mask = self.mask();
                self.numeric(n::RPL_LOGGEDIN(&mask, &u.account));
                self.numeric(n::RPL_SASLSUCCESS());
                self.account = Some(u);
            }
            None => {
                self.sasl_failed(account.as_deref(), "SASL credentials refused")
                    .await
            }
        }
    }

    /// A failed SASL exchange: 904, counted and audited (`why` empty: already audited), and
    /// the connection closed after [`SASL_ATTEMPTS`].
    async fn sasl_failed(&mut self, account: Option<&str>, why: &str) {
        if !why.is_empty() {
            self.shared.login_failed(self.peer, account, why);
        }
        self.numeric(n::ERR_SASLFAIL());
        self.sasl_failures += 1;
        if self.sasl_failures >= SASL_ATTEMPTS {
            self.quit = Some("Too many failed login attempts".into());
        }
    }

    async fn nick_cmd(&mut self, msg: &Message) {
        let nick = msg.params[0].clone();
        if nick.is_empty() {
            self.numeric(n::ERR_NONICKNAMEGIVEN());
            return;
        }
        if !names::valid_nick(&nick) {
            self.numeric(n::ERR_ERRONEUSNICKNAME(&nick));
            return;
        }
        if self.nick.as_deref() == Some(nick.as_str()) {
            return;
        }
        if !self.shared.claim_nick(&nick, self.id) {
            self.numeric(n::ERR_NICKNAMEINUSE(&nick));
            return;
        }
        if self.registered {
            let old = self.mask();
            self.send(Message::new("NICK", vec![nick.clone()]).with_source(old));
            self.request(Request::Nick { nick: nick.clone() }).await;
        }
        self.nick = Some(nick);
    }

    fn user_cmd(&mut self, msg: &Message) {
        if self.registered {
            self.numeric(n::ERR_ALREADYREGISTERED());
            return;
        }
        if msg.params.len() < 4 || msg.params[3].is_empty() {
            self.numeric(n::ERR_NEEDMOREPARAMS("USER"));
            return;
        }
        let user: String = msg.params[0]
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(16)
            .collect();
        let user = if user.is_empty() { "user".into() } else { user };
        self.user = Some((format!("~{user}"), msg.params[3].clone()));
    }

    async fn try_register(&mut self) {
        if self.nick.is_none()
            || self.user.is_none()
            || self.cap_negotiating
            || self.sasl.mechanism.is_some()
        {
            return;
        }
        if self.account.is_none()
            && let Some(pass) = self.pass.take()
        {
            let users = self.shared.users();
            let account = pass.split_once(':').map(|(a, _)| a.to_owned());
            if let Err(t) = self.shared.login_allowed(self.peer, account.as_deref()) {
                self.numeric(n::ERR_PASSWDMISMATCH());
                self.quit = Some(format!("Login refused: {t}"));
                return;
            }
            let found = match pass.split_once(':') {
                Some((acct, pw)) => {
                    let (acct, pw) = (acct.to_owned(), pw.to_owned());
                    self.shared.passwords.check(users, acct, pw).await
                }
                None => {
                    self.server_notice("PASS must be account:password (or log in with SASL)");
                    None
                }
            };
            match found {
                Some(u) => self.account = Some(u),
                None => {
                    let why = "PASS credentials refused";
                    self.shared.login_failed(self.peer, account.as_deref(), why);
                    self.numeric(n::ERR_PASSWDMISMATCH());
                    self.quit = Some("Bad password".into());
                    return;
                }
            }
        }
        if self.account.is_none() && self.shared.config.require_auth {
            self.numeric(n::ERR_PASSWDMISMATCH());
            self.quit = Some("Authentication required: use SASL or PASS account:password".into());
            return;
        }
        if self.account.is_none() {
            // Only reachable with require_auth off: no directory entry, no XMPP identity.
            self.quit = Some("No account".into());
            return;
        }
        self.registered = true;
        let cfg = self.shared.config.clone();
        let nick = self.nick_or_star();
        let mask = self.mask();
        self.numeric(n::RPL_WELCOME(&cfg.network, &mask));
        self.numeric(n::RPL_YOURHOST(&cfg.server_name, VERSION));
        self.numeric(n::RPL_CREATED("at start-up"));
        self.numeric(n::RPL_MYINFO(&cfg.server_name, VERSION));
        let tokens: Vec<String> = vec![
            "CASEMAPPING=ascii".into(),
            "CHANTYPES=#".into(),
            "CHANMODES=,,,nt".into(),
            "PREFIX=(ov)@+".into(),
            format!("NICKLEN={}", names::NICKLEN),
            format!("CHANNELLEN={}", names::CHANNELLEN),
            format!("TOPICLEN={}", names::TOPICLEN),
            format!("NETWORK={}", cfg.network),
            "UTF8ONLY".into(),
            format!("MAXTARGETS={MAX_TARGETS}"),
            format!("TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS}"),
            "CHANLIMIT=#:".into(),
        ];
        for chunk in tokens.chunks(13) {
            self.numeric(n::RPL_ISUPPORT(chunk));
        }
        self.motd();
        let mode_source = nick.clone();
        self.send(Message::new("MODE", vec![nick, "+i".into()]).with_source(mode_source));
    }

    fn attach(&mut self, deliveries: mpsc::Sender<Delivery>) {
        let Some(account) = self.account.clone() else {
            return;
        };
        let (user, realname) = self.user.clone().unwrap_or_default();
        let reg = RegisteredUser {
            id: self.id,
            account: account.account.clone(),
            nick: self.nick_or_star(),
            user,
            host: self.host.clone(),
            realname,
            jid: account.jid.clone(),
            clearance: account.clearance.clone(),
        };
        tracing::info!(peer = %self.peer, account = %account.account, "IRC user registered");
        crate::metrics::METRICS.irc_clients(1);
        self.to_backend = Some(self.shared.backend.register(reg, deliveries));
    }

    async fn request(&mut self, r: Request) {
        if let Some(tb) = &self.to_backend
            && tb.send(r).await.is_err()
        {
            self.quit = Some("Gateway session ended".into());
        }
    }

    fn motd(&mut self) {
        let cfg = self.shared.config.clone();
        if cfg.motd.is_empty() {
            self.numeric(n::ERR_NOMOTD());
            return;
        }
        self.numeric(n::RPL_MOTDSTART(&cfg.server_name));
        for l in &cfg.motd {
            self.numeric(n::RPL_MOTD(l));
        }
        self.numeric(n::RPL_ENDOFMOTD());
    }

    async fn join(&mut self, msg: &Message) {
        if msg.params[0] == "0" {
            let chans: Vec<String> = self.channels.values().map(|c| c.name.clone()).collect();
            for channel in chans {
                self.request(Request::Part {
                    channel,
                    reason: None,
                })
                .await;
            }
            return;
        }
        for channel in msg.params[0].split(',').filter(|c| !c.is_empty()) {
            if !names::valid_channel(channel) {
                self.numeric(n::ERR_NOSUCHCHANNEL(channel, "Invalid channel name"));
                continue;
            }
            let key = names::fold(channel);
            if self.channels.contains_key(&key) && !self.parting.contains(&key) {
                continue;
            }
            self.request(Request::Join {
                channel: channel.to_owned(),
            })
            .await;
        }
    }

    async fn part(&mut self, msg: &Message) {
        let reason = msg.params.get(1).cloned();
        for channel in msg.params[0].split(',').filter(|c| !c.is_empty()) {
            if !self.channels.contains_key(&names::fold(channel)) {
                self.numeric(n::ERR_NOTONCHANNEL(channel));
                continue;
            }
            self.parting.insert(names::fold(channel));
            self.request(Request::Part {
                channel: channel.to_owned(),
                reason: reason.clone(),
            })
            .await;
        }
    }

    async fn privmsg(&mut self, msg: &Message, notice: bool) {
        let verb = if notice { "NOTICE" } else { "PRIVMSG" };
        let Some(targets) = msg.params.first().filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric(n::ERR_NORECIPIENT(verb));
            }
            return;
        };
        let Some(raw) = msg.params.get(1).filter(|t| !t.is_empty()).cloned() else {
            if !notice {
                self.numeric(n::ERR_NOTEXTTOSEND());
            }
            return;
        };
        // CTCP and formatting: `/me` crosses as an action, formatting is removed (the words
        // kept), other CTCP is answered here and never crosses.
        let (text, action) = match ctcp::read(&raw) {
            Ctcp::Text(t) => (ctcp::strip_formatting(t), false),
            Ctcp::Action(t) => (ctcp::strip_formatting(t), true),
            Ctcp::Query { command, args } => {
                let (command, args) = (command.to_ascii_uppercase(), args.to_owned());
                for target in targets
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .take(MAX_TARGETS)
                {
                    self.ctcp_query(verb, notice, target, &command, &args);
                }
                return;
            }
        };
        if text.trim().is_empty() {
            if !notice {
                self.numeric(n::ERR_NOTEXTTOSEND());
            }
            return;
        }
        let tags: Vec<(String, Option<String>)> = msg
            .tags
            .iter()
            .filter(|(k, _)| k.starts_with('+') || k == "label")
            .cloned()
            .collect();
        let all: Vec<&str> = targets.split(',').filter(|t| !t.is_empty()).collect();
        for extra in all.iter().skip(MAX_TARGETS) {
            self.numeric(Numeric {
                code: 407,
                params: vec![
                    (*extra).to_owned(),
                    format!("Too many recipients (at most {MAX_TARGETS})"),
                ],
            });
        }
        for target in all.into_iter().take(MAX_TARGETS) {
            if target.starts_with('#') {
                if !self.channels.contains_key(&names::fold(target)) {
                    if !notice {
                        self.numeric(n::ERR_CANNOTSENDTOCHAN(
                            target,
                            "You are not on that channel",
                        ));
                    }
                    continue;
                }
            } else if !names::valid_nick(target) {
                if !notice {
                    self.numeric(n::ERR_NOSUCHNICK(target));
                }
                continue;
            }
            let echo = self.caps.has(Cap::EchoMessage);
            self.request(Request::Message {
                notice,
                target: target.to_owned(),
                text: text.clone(),
                action,
                tags: tags.clone(),
                echo,
            })
            .await;
        }
    }

    /// A CTCP query (or reply) to `target`: answered by the gateway for the XMPP side, which has
    /// no CTCP; file transfer (DCC) is refused; nothing crosses.
    fn ctcp_query(&mut self, verb: &str, notice: bool, target: &str, command: &str, args: &str) {
        if notice {
            self.server_notice(&format!(
                "[{target}] CTCP {command} replies do not cross the gateway to XMPP."
            ));
            return;
        }
        if command == "DCC" {
            self.standard_fail(
                verb,
                "FILE_TRANSFER",
                target,
                "Not sent: file transfer (DCC) does not cross the gateway",
            );
            return;
        }
        let from = if target.starts_with('#') {
            self.shared.config.server_name.clone()
        } else {
            match self.find_member(target) {
                Some((m, _)) => m.source.mask(),
                None => {
                    self.numeric(n::ERR_NOSUCHNICK(target));
                    return;
                }
            }
        };
        let answer = match command {
            "VERSION" => ctcp::reply(
                "VERSION",
                &format!(
                    "labelgate {}: an XMPP user, through a security-label gateway",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            "PING" => ctcp::reply("PING", args),
            "TIME" => ctcp::reply("TIME", &now_tag()),
            "CLIENTINFO" => ctcp::reply("CLIENTINFO", "ACTION CLIENTINFO PING TIME VERSION"),
            other => ctcp::reply(
                "ERRMSG",
                &format!("{other} :not supported across the gateway"),
            ),
        };
        let me = self.nick_or_star();
        self.send(Message::new("NOTICE", vec![me, answer]).with_source(from));
    }

    /// HELP (RPL_HELPSTART / RPL_HELPTXT / RPL_ENDOFHELP): how labels work here.
    fn help(&mut self, msg: &Message) {
        let subject = msg
            .params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_else(|| "LABELS".into());
        let lines: &[&str] = &[
            "Every line here carries a security label, shown as its marking in front.",
            "Label a line by starting it with a marking in the channel's syntax, e.g.",
            "  [SECRET] text   (some channels use another syntax: LABELS #channel says).",
            "A line without a marking goes out at the channel's default label.",
            "You see only lines your clearance covers; you cannot send above it.",
            "LABELS #channel: the channel's default label, ceiling, catalog and syntax.",
        ];
        let server = self.shared.config.server_name.clone();
        let me = self.nick_or_star();
        let numeric = |code: &str, text: &str| {
            Message::new(code, vec![me.clone(), subject.clone(), text.to_owned()])
                .with_source(server.clone())
        };
        let mut out = vec![numeric("704", "labelgate: security labels")];
        out.extend(lines.iter().map(|l| numeric("705", l)));
        out.push(numeric("706", "End of /HELP"));
        for m in out {
            self.send(m);
        }
    }

    /// A standard reply `FAIL` for clients that negotiated it, else a NOTICE naming `context`.
    fn standard_fail(&mut self, command: &str, code: &str, context: &str, text: &str) {
        if self.caps.has(Cap::StandardReplies) {
            let server = self.shared.config.server_name.clone();
            let params = vec![command.into(), code.into(), context.into(), text.into()];
            self.send(Message::new("FAIL", params).with_source(server));
        } else {
            self.server_notice(&format!("[{context}] {text}"));
        }
    }

    async fn topic(&mut self, msg: &Message) {
        let channel = msg.params[0].clone();
        let Some(view) = self.channels.get(&names::fold(&channel)) else {
            self.numeric(n::ERR_NOTONCHANNEL(&channel));
            return;
        };
        match msg.params.get(1) {
            None => {
                let (name, topic) = (view.name.clone(), view.topic.clone());
                let (by, at) = view.topic_set.clone();
                if topic.is_empty() {
                    self.numeric(n::RPL_NOTOPIC(&name));
                } else {
                    self.numeric(n::RPL_TOPIC(&name, &topic));
                    self.numeric(n::RPL_TOPICWHOTIME(&name, &by, at));
                }
            }
            Some(t) => {
                let topic: String = t.chars().take(names::TOPICLEN).collect();
                self.request(Request::Topic {
                    channel,
                    topic: Some(topic),
                })
                .await;
            }
        }
    }

    fn names_of(&mut self, key: &str) {
        let Some(view) = self.channels.get(key) else {
            return;
        };
        let multi = self.caps.has(Cap::MultiPrefix);
        let uhnames = self.caps.has(Cap::UserhostInNames);
        let name = view.name.clone();
        let mut entries: Vec<String> = view
            .members
            .values()
            .map(|m| {
                let mut p = String::new();
                if m.op {
                    p.push('@');
                }
                if m.voice && (multi || !m.op) {
                    p.push('+');
                }
                let who = if uhnames {
                    m.source.mask()
                } else {
                    m.source.nick.clone()
                };
                format!("{p}{who}")
            })
            .collect();
        entries.sort();
        let mut line = String::new();
        for e in entries {
            if line.len() + e.len() > 380 {
                self.numeric(n::RPL_NAMREPLY(&name, &line));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&e);
        }
        if !line.is_empty() {
            self.numeric(n::RPL_NAMREPLY(&name, &line));
        }
        self.numeric(n::RPL_ENDOFNAMES(&name));
    }

    fn names(&mut self, msg: &Message) {
        match msg.params.first() {
            None => self.numeric(n::RPL_ENDOFNAMES("*")),
            Some(list) => {
                for c in list.split(',').map(str::to_owned).collect::<Vec<_>>() {
                    let key = names::fold(&c);
                    if self.channels.contains_key(&key) {
                        self.names_of(&key);
                    } else {
                        self.numeric(n::RPL_ENDOFNAMES(&c));
                    }
                }
            }
        }
    }

    fn who(&mut self, msg: &Message) {
        let mask = msg.params.first().cloned().unwrap_or_else(|| "*".into());
        let server = self.shared.config.server_name.clone();
        let key = names::fold(&mask);
        let mut rows: Vec<(String, Member)> = Vec::new();
        if let Some(view) = self.channels.get(&key) {
            rows.extend(
                view.members
                    .values()
                    .map(|m| (view.name.clone(), m.clone())),
            );
        } else {
            // A nick or a mask (`*`, `al*`, `?ob`): each matching person once, with a channel
            // the asker shares with them; the asker too.
            let mut seen = std::collections::BTreeSet::new();
            for view in self.channels.values() {
                for (folded, m) in &view.members {
                    if names::glob(&key, folded) && seen.insert(folded.clone()) {
                        rows.push((view.name.clone(), m.clone()));
                    }
                }
            }
        }
        for (chan, m) in rows {
            let mut flags = String::from("H");
            if m.op {
                flags.push('@');
            } else if m.voice {
                flags.push('+');
            }
            self.numeric(n::RPL_WHOREPLY(
                &chan,
                &m.source.user,
                &m.source.host,
                &server,
                &m.source.nick,
                &flags,
                &m.source.nick,
            ));
        }
        self.numeric(n::RPL_ENDOFWHO(&mask));
    }

    fn find_member(&self, nick: &str) -> Option<(Member, Vec<String>)> {
        let key = names::fold(nick);
        let mut found = None;
        let mut chans = Vec::new();
        for view in self.channels.values() {
            if let Some(m) = view.members.get(&key) {
                found = Some(m.clone());
                chans.push(view.name.clone());
            }
        }
        found.map(|m| (m, chans))
    }

    fn whois(&mut self, msg: &Message) {
        let nick = msg.params.last().cloned().unwrap_or_default();
        let server = self.shared.config.server_name.clone();
        if names::fold(&nick) == names::fold(&self.nick_or_star()) {
            let (user, real) = self.user.clone().unwrap_or_default();
            let host = self.host.clone();
            self.numeric(n::RPL_WHOISUSER(&nick, &user, &host, &real));
            self.numeric(n::RPL_WHOISSERVER(&nick, &server, "labelgate"));
            if let Some(a) = self.account.as_ref().map(|a| a.account.clone()) {
                self.numeric(n::RPL_WHOISACCOUNT(&nick, &a));
            }
            self.numeric(n::RPL_ENDOFWHOIS(&nick));
            return;
        }
        match self.find_member(&nick) {
            Some((m, chans)) => {
                self.numeric(n::RPL_WHOISUSER(
                    &m.source.nick,
                    &m.source.user,
                    &m.source.host,
                    &m.source.nick,
                ));
                self.numeric(n::RPL_WHOISCHANNELS(&m.source.nick, &chans.join(" ")));
                self.numeric(n::RPL_WHOISSERVER(&m.source.nick, &server, "labelgate"));
                if let Some(a) = &m.source.account {
                    self.numeric(n::RPL_WHOISACCOUNT(&m.source.nick, a));
                }
                self.numeric(n::RPL_ENDOFWHOIS(&m.source.nick));
            }
            None => {
                self.numeric(n::ERR_NOSUCHNICK(&nick));
                self.numeric(n::RPL_ENDOFWHOIS(&nick));
            }
        }
    }

    fn mode(&mut self, msg: &Message) {
        let target = msg.params[0].clone();
        if target.starts_with('#') {
            let Some(view) = self.channels.get(&names::fold(&target)) else {
                self.numeric(n::ERR_NOTONCHANNEL(&target));
                return;
            };
            let name = view.name.clone();
            match msg.params.get(1).map(String::as_str) {
                None => self.numeric(n::RPL_CHANNELMODEIS(&name, "+nt")),
                // The lists a client asks for on join: empty here (the room keeps its own).
                Some("b") | Some("+b") if msg.params.len() == 2 => {
                    self.numeric(n::RPL_ENDOFBANLIST(&name))
                }
                Some("e") | Some("+e") if msg.params.len() == 2 => {
                    self.numeric(n::RPL_ENDOFEXCEPTLIST(&name))
                }
                Some("I") | Some("+I") if msg.params.len() == 2 => {
                    self.numeric(n::RPL_ENDOFINVITELIST(&name))
                }
                Some(_) => self.numeric(n::ERR_CHANOPRIVSNEEDED(
                    &name,
                    "Channel modes are managed by the XMPP room; the gateway cannot change them",
                )),
            }
        } else if names::fold(&target) == names::fold(&self.nick_or_star()) {
            match msg.params.get(1) {
                None => self.numeric(n::RPL_UMODEIS("+i")),
                // Clients set +i on connect (irssi does): every user here is +i already.
                Some(m) if m.starts_with('+') && m[1..].chars().all(|c| c == 'i') => {}
                Some(_) => self.numeric(n::ERR_UMODEUNKNOWNFLAG()),
            }
        } else {
            self.numeric(n::ERR_USERSDONTMATCH());
        }
    }

    async fn away_cmd(&mut self, msg: &Message) {
        let text = msg.params.first().filter(|t| !t.is_empty()).cloned();
        if text.is_some() {
            self.numeric(n::RPL_NOWAWAY());
        } else {
            self.numeric(n::RPL_UNAWAY());
        }
        self.away = text.clone();
        self.request(Request::Away { text }).await;
    }

    /// ISON answers for the asker and the people in their channels only: who else is on the
    /// gateway is not theirs to learn.
    fn ison(&mut self, msg: &Message) {
        let mut on = Vec::new();
        let me = names::fold(&self.nick_or_star());
        for nick in msg.params.iter().flat_map(|p| p.split_whitespace()) {
            if names::fold(nick) == me || self.find_member(nick).is_some() {
                on.push(nick.to_owned());
            }
        }
        self.numeric(n::RPL_ISON(&on.join(" ")));
    }

    fn userhost(&mut self, msg: &Message) {
        let mut replies = Vec::new();
        for nick in msg.params.iter().take(5) {
            if names::fold(nick) == names::fold(&self.nick_or_star()) {
                let (user, _) = self.user.clone().unwrap_or_default();
                let away = if self.away.is_some() { '-' } else { '+' };
                replies.push(format!("{nick}={away}{user}@{}", self.host));
            } else if let Some((m, _)) = self.find_member(nick) {
                replies.push(format!(
                    "{}=+{}@{}",
                    m.source.nick, m.source.user, m.source.host
                ));
            }
        }
        self.numeric(n::RPL_USERHOST(&replies.join(" ")));
    }

    fn tagged(
        &self,
        mut m: Message,
        tags: &[(String, Option<String>)],
        time: Option<&str>,
        account: Option<&str>,
    ) -> Message {
        if self.caps.has(Cap::ServerTime) {
            m.tags.push((
                "time".into(),
                Some(time.map(str::to_owned).unwrap_or_else(now_tag)),
            ));
        }
        if let Some(a) = account.filter(|_| self.caps.has(Cap::AccountTag)) {
            m.tags.push(("account".into(), Some(a.to_owned())));
        }
        if self.caps.has(Cap::MessageTags) {
            m.tags.extend(tags.iter().cloned());
        }
        m
    }

    fn delivery(&mut self, d: Delivery) {
        match d {
            Delivery::Joined {
                channel,
                topic,
                topic_by,
                members,
            } => {
                let key = names::fold(&channel);
                let mask = self.mask();
                let account = self.account.as_ref().map(|a| a.account.clone());
                let join = self.tagged(
                    Message::new("JOIN", vec![channel.clone()]).with_source(mask),
                    &[],
                    None,
                    account.as_deref(),
                );
                self.send(join);
                let topic = topic.map(Cleared::into_inner).unwrap_or_default();
                let set = topic_set(topic_by.as_deref(), &self.shared.config.server_name);
                let view = ChannelView {
                    name: channel.clone(),
                    topic: topic.clone(),
                    topic_set: set.clone(),
                    members: members
                        .into_iter()
                        .map(|m| (names::fold(&m.source.nick), m))
                        .collect(),
                };
                self.channels.insert(key.clone(), view);
                if !topic.is_empty() {
                    self.numeric(n::RPL_TOPIC(&channel, &topic));
                    self.numeric(n::RPL_TOPICWHOTIME(&channel, &set.0, set.1));
                }
                self.names_of(&key);
            }
            Delivery::JoinRefused { channel, reason } => match reason {
                JoinRefusal::NoSuchChannel(why) | JoinRefusal::Other(why) => {
                    self.numeric(n::ERR_NOSUCHCHANNEL(&channel, &why));
                }
                JoinRefusal::NotCleared(why) => {
                    self.numeric(n::ERR_NEEDREGGEDNICK(
                        &channel,
                        &format!("Cannot join channel: {why}"),
                    ));
                    self.server_notice(&format!("You cannot join {channel}: {why}"));
                }
            },
            Delivery::Message {
                from,
                target,
                lines,
                notice,
                tags,
                time,
                action,
            } => {
                let verb = if notice { "NOTICE" } else { "PRIVMSG" };
                for text in lines.into_inner() {
                    let text = if action { ctcp::action(&text) } else { text };
                    let m = Message::new(verb, vec![target.clone(), text]).with_source(from.mask());
                    let m = self.tagged(m, &tags, time.as_deref(), from.account.as_deref());
                    self.send(m);
                }
            }
            Delivery::Join { channel, who } => {
                let key = names::fold(&channel);
                if let Some(view) = self.channels.get_mut(&key) {
                    view.members
                        .insert(names::fold(&who.source.nick), who.clone());
                    let name = view.name.clone();
                    let m = Message::new("JOIN", vec![name.clone()]).with_source(who.source.mask());
                    let m = self.tagged(m, &[], None, who.source.account.as_deref());
                    self.send(m);
                    // JOIN carries no prefix: the member's status follows as a mode change.
                    let modes = match (who.op, who.voice) {
                        (true, true) => Some("+ov"),
                        (true, false) => Some("+o"),
                        (false, true) => Some("+v"),
                        (false, false) => None,
                    };
                    if let Some(modes) = modes {
                        let mut params = vec![name, modes.to_owned(), who.source.nick.clone()];
                        if who.op && who.voice {
                            params.push(who.source.nick.clone());
                        }
                        let server = self.shared.config.server_name.clone();
                        self.send(Message::new("MODE", params).with_source(server));
                    }
                }
            }
            Delivery::Part {
                channel,
                who,
                reason,
            } => {
                let key = names::fold(&channel);
                let me = names::fold(&who.nick) == names::fold(&self.nick_or_star());
                if let Some(view) = self.channels.get_mut(&key) {
                    view.members.remove(&names::fold(&who.nick));
                    let mut params = vec![view.name.clone()];
                    params.extend(reason.map(|r| r.as_str().to_owned()));
                    self.send(Message::new("PART", params).with_source(who.mask()));
                }
                if me {
                    self.channels.remove(&key);
                    self.parting.remove(&key);
                }
            }
            Delivery::Quit { who, reason } => {
                let key = names::fold(&who.nick);
                let mut seen = false;
                for view in self.channels.values_mut() {
                    seen |= view.members.remove(&key).is_some();
                }
                if seen {
                    let reason = reason.map(|r| r.as_str().to_owned()).unwrap_or_default();
                    self.send(Message::new("QUIT", vec![reason]).with_source(who.mask()));
                }
            }
            Delivery::Nick { who, new } => {
                let old = names::fold(&who.nick);
                let mut seen = false;
                for view in self.channels.values_mut() {
                    if let Some(mut m) = view.members.remove(&old) {
                        m.source.nick = new.clone();
                        view.members.insert(names::fold(&new), m);
                        seen = true;
                    }
                }
                if seen {
                    self.send(Message::new("NICK", vec![new]).with_source(who.mask()));
                }
            }
            Delivery::Kick {
                channel,
                by,
                nick,
                reason,
            } => {
                let key = names::fold(&channel);
                if let Some(view) = self.channels.get_mut(&key) {
                    view.members.remove(&names::fold(&nick));
                    let mut params = vec![view.name.clone(), nick.clone()];
                    params.extend(reason.map(|r| r.as_str().to_owned()));
                    self.send(Message::new("KICK", params).with_source(by.mask()));
                }
                if names::fold(&nick) == names::fold(&self.nick_or_star()) {
                    self.channels.remove(&key);
                    self.parting.remove(&key);
                }
            }
            Delivery::Topic { channel, topic, by } => {
                let topic = topic.map(Cleared::into_inner).unwrap_or_default();
                let key = names::fold(&channel);
                let server = self.shared.config.server_name.clone();
                if let Some(view) = self.channels.get_mut(&key) {
                    view.topic = topic.clone();
                    view.topic_set = topic_set(by.as_ref().map(|b| b.nick.as_str()), &server);
                }
                match by {
                    Some(who) => self
                        .send(Message::new("TOPIC", vec![channel, topic]).with_source(who.mask())),
                    None if topic.is_empty() => self.numeric(n::RPL_NOTOPIC(&channel)),
                    None => self.numeric(n::RPL_TOPIC(&channel, &topic)),
                }
            }
            Delivery::List { entries } => {
                self.numeric(n::RPL_LISTSTART());
                for (c, users, topic) in entries {
                    self.numeric(n::RPL_LIST(&c, users, topic.as_str()));
                }
                self.numeric(n::RPL_LISTEND());
            }
            Delivery::Away { who, text } => {
                if self.caps.has(Cap::AwayNotify) {
                    let params = text.map(|t| t.as_str().to_owned()).into_iter().collect();
                    self.send(Message::new("AWAY", params).with_source(who.mask()));
                }
            }
            Delivery::ServerNotice { text } => self.server_notice(&text),
            Delivery::ChannelNotice { channel, text } => {
                let server = self.shared.config.server_name.clone();
                self.send(Message::new("NOTICE", vec![channel, text]).with_source(server));
            }
            Delivery::Fail {
                command,
                code,
                context,
                text,
            } => self.standard_fail(&command, &code, &context, &text),
            Delivery::NoSuchTarget { target } => self.numeric(n::ERR_NOSUCHNICK(&target)),
            Delivery::Disconnect { reason } => self.quit = Some(reason),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H {
    Cap,
    Authenticate,
    Pass,
    Nick,
    User,
    Ping,
    Pong,
    Quit,
    Join,
    Part,
    Privmsg,
    Notice,
    Topic,
    Names,
    Who,
    Whois,
    Mode,
    List,
    Away,
    Motd,
    Version,
    Ison,
    Userhost,
    Time,
    Tagmsg,
    Labels,
    Help,
}

/// One row of the command table.
struct CommandSpec {
    name: &'static str,
    handler: H,
    min_params: usize,
    pre_registration: bool,
}

macro_rules! commands {
    ($( $name:literal => $h:ident, $min:literal, $pre:literal; )*) => {
        const COMMANDS: &[CommandSpec] = &[
            $( CommandSpec { name: $name, handler: H::$h, min_params: $min, pre_registration: $pre }, )*
        ];
    };
}

// name => handler, minimum parameters, allowed before registration.
commands! {
    "CAP" => Cap, 1, true;
    "AUTHENTICATE" => Authenticate, 1, true;
    "PASS" => Pass, 1, true;
    "NICK" => Nick, 1, true;
    "USER" => User, 4, true;
    "PING" => Ping, 1, true;
    "PONG" => Pong, 0, true;
    "QUIT" => Quit, 0, true;
    "JOIN" => Join, 1, false;
    "PART" => Part, 1, false;
    "PRIVMSG" => Privmsg, 0, false;
    "NOTICE" => Notice, 0, false;
    "TOPIC" => Topic, 1, false;
    "NAMES" => Names, 0, false;
    "WHO" => Who, 0, false;
    "WHOIS" => Whois, 1, false;
    "MODE" => Mode, 1, false;
    "LIST" => List, 0, false;
    "AWAY" => Away, 0, false;
    "MOTD" => Motd, 0, false;
    "VERSION" => Version, 0, false;
    "ISON" => Ison, 1, false;
    "USERHOST" => Userhost, 1, false;
    "TIME" => Time, 0, false;
    "TAGMSG" => Tagmsg, 1, false;
    "LABELS" => Labels, 0, false;
    "HELP" => Help, 0, false;
}
