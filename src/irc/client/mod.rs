//! One IRC client connection: reading (bounded lines, flood control), registration and
//! authentication (CAP, SASL PLAIN/EXTERNAL, PASS), commands, deliveries from the backend, and
//! writing through a byte-bounded send queue. Handlers write replies into a buffer, never to
//! the socket.

mod commands;
mod flow;
mod io;
mod messages;
mod queries;
mod registration;
mod render;

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backend::{
    Backend, Delivery, JoinRefusal, Member, RegisteredUser, Relayed, Request, Typing,
};
use super::proto::caps::{Cap, CapSet};
use super::proto::codec::Line;
use super::proto::ctcp::{self, Ctcp};
use super::proto::message::Message;
use super::proto::names;
use super::proto::numeric::{self as n, Numeric};
use super::server::Shared;
use crate::audit::Cleared;
use crate::config::controls::Login;
use crate::config::users::User;
use crate::config::users::Users;
use crate::label::Clearance;
use commands::{COMMANDS, H};
use flow::{Bucket, SendQ};

const VERSION: &str = concat!("labelgate-", env!("CARGO_PKG_VERSION"));
/// Most targets in one PRIVMSG or NOTICE (ISUPPORT MAXTARGETS); more get 407.
const MAX_TARGETS: usize = 4;

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
    /// The rest of the chain the client sent (for path validation).
    intermediates: Vec<Vec<u8>>,
    out: SendQ,
    caps: CapSet,
    cap_negotiating: bool,
    nick: Option<String>,
    user: Option<(String, String)>,
    pass: Option<String>,
    sasl: SaslState,
    account: Option<User>,
    /// How `account` logged in.
    login: Login,
    /// The clearance the client certificate carries, when it carries one.
    certificate_clearance: Option<Clearance>,
    registered: bool,
    to_backend: Option<mpsc::Sender<Request>>,
    channels: BTreeMap<String, ChannelView>,
    away: Option<String>,
    /// Who in the user's channels is away, by folded nick, with the text shown for them.
    away_of: std::collections::HashMap<String, String>,
    /// Lines produced by the command being handled (for labeled-response).
    buffer: Vec<Message>,
    /// The label of the command being handled, until a request to the backend takes it.
    label: Option<String>,
    /// labeled-response batches opened so far (for their ids).
    batches: u64,
    quit: Option<String>,
    /// SASL exchanges that failed on this connection.
    sasl_failures: u32,
    /// The masks of the LIST asked for last (empty: every channel).
    list_masks: Vec<String>,
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

/// The `label` tag of a line the parser refused, if its tags can be read.
fn label_of(text: &str) -> Option<String> {
    let tags = text.strip_prefix('@')?.split(' ').next()?;
    tags.split(';')
        .find_map(|t| t.strip_prefix("label="))
        .filter(|l| !l.is_empty() && l.len() <= 64 && l.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
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

/// At most this many deliveries are taken at once before what they queued is written.
const DELIVERY_BATCH: usize = 64;

/// Runs one client until it quits, is dropped, or the server shuts down.
pub(super) async fn run<B: Backend, S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    shared: Arc<Shared<B>>,
    id: u64,
    peer: SocketAddr,
    stream: S,
    chain: Vec<Vec<u8>>,
    connected: Instant,
) {
    let mut chain = chain.into_iter();
    let cert = chain.next();
    let intermediates: Vec<Vec<u8>> = chain.collect();
    let (rd, mut wr) = tokio::io::split(stream);

    // The reader task decodes lines into a bounded queue; a full queue is excess flood.
    let cfg = &shared.config;
    let depth = (cfg.flood_burst + cfg.flood_max_debt).max(1) as usize;
    let (reader, mut line_rx, mut flood_rx) = io::spawn_reader(rd, depth);

    let mut c = Client {
        host: peer.ip().to_string(),
        shared: shared.clone(),
        id,
        peer,
        cert,
        intermediates,
        out: SendQ::new(cfg.sendq_bytes),
        caps: CapSet::default(),
        cap_negotiating: false,
        nick: None,
        user: None,
        pass: None,
        sasl: SaslState::default(),
        sasl_failures: 0,
        parting: Default::default(),
        list_masks: Vec::new(),
        account: None,
        login: Login::Password,
        certificate_clearance: None,
        registered: false,
        to_backend: None,
        channels: BTreeMap::new(),
        away: None,
        away_of: Default::default(),
        buffer: Vec::new(),
        label: None,
        batches: 0,
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
    // From the TCP accept: TLS and a PROXY header count against the registration time.
    let registration_deadline = connected + cfg.registration_timeout;
    let mut last_activity = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut next_ok = Instant::now();
    let mut pending: VecDeque<Line> = VecDeque::new();
    let mut shutdown = shared.shutdown.clone();
    // One timer for the connection, moved only when its deadline moves (a new one on every
    // pass would enter and leave the timer wheel for every delivery).
    let idle = tokio::time::sleep_until(registration_deadline);
    tokio::pin!(idle);

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
        if idle.deadline() != timer {
            idle.as_mut().reset(timer);
        }
        let throttled = !pending.is_empty();
        let writing = c.out.pending();
        tokio::select! {
            biased;
            _ = shutdown.changed() => break "Server shutting down".into(),
            _ = flood_rx.recv() => break "Excess Flood".into(),
            // What is queued goes out first; a client that does not read blocks nothing here
            // (the queue fills up to its limit, and the client is dropped).
            written = poll_fn(|cx| c.out.poll_write(&mut wr, cx)), if writing => {
                if written.is_err() {
                    break "Write error".into();
                }
            }
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
                Some(d) => {
                    // What else has come is taken too: one write for a burst, not one per line.
                    c.delivery(d);
                    for _ in 1..DELIVERY_BATCH {
                        if c.quit.is_some() {
                            break;
                        }
                        match drx.try_recv() {
                            Ok(d) => c.delivery(d),
                            Err(_) => break,
                        }
                    }
                }
                None => break "Gateway session ended".into(),
            },
            _ = &mut idle => {
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
    let mut out = std::mem::replace(&mut c.out, SendQ::new(0));
    drop(c);
    reader.abort();
    // A moment to drain what is queued (a client that does not read does not get forever).
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        if poll_fn(|cx| out.poll_write(&mut wr, cx)).await.is_ok() {
            let _ = wr.shutdown().await;
        }
    })
    .await;
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

    fn pong(&mut self, token: String) {
        let server = self.shared.config.server_name.clone();
        self.send(Message::new("PONG", vec![server.clone(), token]).with_source(server));
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
                self.batches += 1;
                let id = format!("lr{}", self.batches);
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
            Line::InvalidUtf8(lossy) => {
                // UTF8ONLY: refused with FAIL <command> INVALID_UTF8 (labelled if it was), never
                // acted on; a USER line refused this way can be sent again.
                let parsed = Message::parse(&lossy).ok();
                let verb = parsed
                    .as_ref()
                    .map_or_else(|| "*".to_owned(), |m| m.verb.to_ascii_uppercase());
                self.label = parsed
                    .as_ref()
                    .and_then(|m| m.tag("label").flatten().map(str::to_owned))
                    .filter(|_| self.caps.has(Cap::LabeledResponse));
                let what = if verb == "USER" {
                    "Your real name or user name was not valid UTF-8; send USER again"
                } else {
                    "Your line was not valid UTF-8 and was not sent"
                };
                let server = self.shared.config.server_name.clone();
                let params = vec![verb, "INVALID_UTF8".into(), what.into()];
                self.send(Message::new("FAIL", params).with_source(server));
                let label = self.label.take();
                self.flush_buffer(label);
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
                // The answer carries the line's label, as any other.
                let label = label_of(&text).filter(|_| self.caps.has(Cap::LabeledResponse));
                if self.registered {
                    self.numeric(n::ERR_UNKNOWNCOMMAND(&verb));
                } else {
                    self.numeric(n::ERR_NOTREGISTERED());
                }
                self.flush_buffer(label);
                return;
            }
            Err(e) => {
                self.server_notice(&format!("Malformed line ignored: {e}"));
                return;
            }
        };
        self.label = match msg.tag("label") {
            Some(Some(l)) if self.caps.has(Cap::LabeledResponse) => Some(l.to_owned()),
            _ => None,
        };
        self.command(msg).await;
        // Still here: the command was answered here, not by the backend.
        let label = self.label.take();
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
                if self.registered && self.to_backend.is_some() {
                    // The PONG follows the answers to what the client asked before.
                    self.request(Request::Ping { token }).await;
                } else {
                    self.pong(token);
                }
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
            H::List => {
                // The mask (`LIST #o*,#ts`) is applied when the answer comes.
                self.list_masks = msg
                    .params
                    .first()
                    .map(|m| m.split(',').map(names::fold).collect())
                    .unwrap_or_default();
                self.request(Request::List).await
            }
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
            H::Kick => self.kick(&msg).await,
            H::Invite => self.invite(&msg).await,
            // No history of who was here is kept: every nick was never seen.
            H::Whowas => {
                for nick in msg.params[0].split(',').filter(|n| !n.is_empty()) {
                    self.numeric(n::ERR_WASNOSUCHNICK(nick));
                }
                self.numeric(n::RPL_ENDOFWHOWAS(&msg.params[0]));
            }
            // No IRC operators here: the rooms' moderators moderate, in the rooms.
            H::Oper => self.numeric(n::ERR_NOOPERHOST(
                "There are no IRC operators on this gateway; rooms are moderated in XMPP",
            )),
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
            H::Tagmsg => self.tagmsg(&msg).await,
            H::Userhost => self.userhost(&msg),
        }
        if !self.registered {
            self.try_register().await;
        }
    }

    async fn request(&mut self, r: Request) {
        // Requests the backend answers are sent with the command's label, which the answer
        // then carries; the first such request of a command takes it.
        let answered = matches!(
            r,
            Request::Join { .. }
                | Request::Part { .. }
                | Request::Message { .. }
                | Request::Topic { .. }
                | Request::List
                | Request::Labels { .. }
                | Request::Kick { .. }
                | Request::Invite { .. }
                | Request::Ping { .. }
        );
        let r = match self.label.take_if(|_| answered) {
            Some(label) => Request::Labelled {
                label,
                request: Box::new(r),
            },
            None => r,
        };
        if let Some(tb) = &self.to_backend
            && tb.send(r).await.is_err()
        {
            self.quit = Some("Gateway session ended".into());
        }
    }
}
