//! The task that owns one link connection (see [`super::conn`] for what it guarantees): the
//! connect / register / serve cycle, pacing, confirmation PINGs, and reconnection.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;

use super::conn::{Auth, Cmd, LineId, LinkConfig, LinkEvent, Out, Server};
use super::nick;
use super::pace::Pace;
use super::sasl::Sasl;
use crate::irc::proto::codec::{Line, LineCodec};
use crate::irc::proto::message::Message;

enum End {
    Quit,
    Lost(String),
}

type Io = Box<dyn AsyncReadWrite>;
trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

pub(super) struct Task {
    pub(super) config: LinkConfig,
    pub(super) pace: Pace,
    pub(super) rx: mpsc::UnboundedReceiver<Cmd>,
    pub(super) events: mpsc::Sender<LinkEvent>,
    pub(super) queue: VecDeque<Out>,
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) channels: BTreeSet<String>,
    /// Messages written and not yet confirmed, with the PING generation that will confirm them.
    pub(super) unconfirmed: Vec<(u64, LineId)>,
    pub(super) generation: u64,
    pub(super) ping_out: bool,
    pub(super) nick: String,
    /// Nick collisions in this registration.
    pub(super) attempt: u32,
    pub(super) server: usize,
    pub(super) quit: Option<Option<String>>,
}

impl Task {
    pub(super) async fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            let server = self
                .config
                .servers
                .get(self.server % self.config.servers.len().max(1))
                .cloned();
            let end = match server {
                Some(s) => self.session(&s).await,
                None => End::Lost("the network has no servers".into()),
            };
            match end {
                End::Quit => break,
                End::Lost(reason) => {
                    if !self.nick.is_empty() {
                        // Registered this round: the backoff starts afresh.
                        failures = 0;
                        self.nick.clear();
                    }
                    let unconfirmed: Vec<LineId> =
                        self.unconfirmed.drain(..).map(|(_, id)| id).collect();
                    self.ping_out = false;
                    self.server += 1;
                    let retry_in = self.backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::info!(nick = %self.config.nick, %reason, ?retry_in, unconfirmed = unconfirmed.len(), "IRC link lost");
                    if self
                        .events
                        .send(LinkEvent::Lost {
                            reason,
                            unconfirmed,
                            retry_in,
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                    if !self.wait(retry_in).await {
                        break;
                    }
                }
            }
        }
        let _ = self.events.send(LinkEvent::Closed).await;
    }

    fn backoff(&self, failures: u32) -> Duration {
        let base = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << failures.min(16))
            .min(self.config.backoff_max);
        base.mul_f64(rand::rng().random_range(0.75..1.25))
    }

    /// Waits `delay`, taking commands meanwhile. `false`: quit.
    async fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = sleep_until(until) => return true,
                cmd = self.rx.recv() => match cmd {
                    Some(c) => if !self.take(c) { return false },
                    None => return false,
                },
            }
        }
    }

    /// Queues a command. `false`: quit with nothing to say to a server.
    fn take(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Line(out) => {
                self.queue.push_back(out);
                true
            }
            Cmd::Quit(reason) => {
                self.quit = Some(reason);
                false
            }
        }
    }

    async fn session(&mut self, server: &Server) -> End {
        let io = match timeout(self.config.register_timeout, connect(server)).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return End::Lost(format!("cannot connect to {}: {e}", server.address)),
            Err(_) => return End::Lost(format!("{} did not answer in time", server.address)),
        };
        let (read, mut write) = tokio::io::split(io);
        let mut lines = FramedRead::new(read, LineCodec::default());
        self.attempt = 0;
        let wanted = self.config.nick.clone();
        let mut hello = String::new();
        let mut sasl = None;
        match &self.config.auth {
            Auth::None => {}
            Auth::Password(p) => push_line(&mut hello, &Message::new("PASS", vec![p.clone()])),
            Auth::Sasl(m) => {
                let (exchange, open) = Sasl::start(m.clone());
                push_line(&mut hello, &open);
                sasl = Some(exchange);
            }
        }
        let first = nick::candidate(&wanted, 0, self.config.max_nick_len);
        push_line(&mut hello, &Message::new("NICK", vec![first.clone()]));
        push_line(
            &mut hello,
            &Message::new(
                "USER",
                vec![
                    self.config.user.clone(),
                    "0".into(),
                    "*".into(),
                    self.config.realname.clone(),
                ],
            ),
        );
        if let Err(e) = write.write_all(hello.as_bytes()).await {
            return End::Lost(format!("write failed: {e}"));
        }
        let mut trying = first;
        // Registration.
        let deadline = Instant::now() + self.config.register_timeout;
        loop {
            let line = match timeout_at(deadline, lines.next()).await {
                Err(()) => return End::Lost("registration timed out".into()),
                Ok(None) => {
                    return End::Lost(
                        "the server closed the connection during registration".into(),
                    );
                }
                Ok(Some(Err(e))) => return End::Lost(format!("read failed: {e}")),
                Ok(Some(Ok(line))) => line,
            };
            let Some(msg) = self.read(line) else { continue };
            if let Some(exchange) = sasl.as_mut() {
                match exchange.on(&msg) {
                    Ok(Some(out)) => {
                        for m in &out {
                            if let Err(e) = write_msg(&mut write, m).await {
                                return End::Lost(format!("write failed: {e}"));
                            }
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(why) => {
                        let _ = write_msg(&mut write, &Message::new("QUIT", Vec::new())).await;
                        return End::Lost(why);
                    }
                }
            }
            match msg.verb.to_ascii_uppercase().as_str() {
                "PING" => {
                    let pong = Message::new("PONG", msg.params.clone());
                    if let Err(e) = write_msg(&mut write, &pong).await {
                        return End::Lost(format!("write failed: {e}"));
                    }
                }
                "001" => {
                    self.nick = msg.params.first().cloned().unwrap_or(trying.clone());
                    break;
                }
                "432" | "433" | "436" | "437" => {
                    self.attempt += 1;
                    // A nick the server calls erroneous may be too long for it: RFC 2812's 9.
                    let len = if msg.verb == "432" {
                        self.config.max_nick_len.min(9)
                    } else {
                        self.config.max_nick_len
                    };
                    trying = nick::candidate(&wanted, self.attempt, len);
                    if self.attempt > 50 {
                        return End::Lost("no nick of the collision sequence is free".into());
                    }
                    if let Err(e) =
                        write_msg(&mut write, &Message::new("NICK", vec![trying.clone()])).await
                    {
                        return End::Lost(format!("write failed: {e}"));
                    }
                }
                "ERROR" => {
                    return End::Lost(format!(
                        "the server refused: {}",
                        msg.params.last().map_or("", |s| s)
                    ));
                }
                "464" | "465" => {
                    return End::Lost(format!(
                        "the server refused: {}",
                        msg.params.last().map_or("", |s| s)
                    ));
                }
                _ => {}
            }
        }
        tracing::info!(nick = %self.nick, server = %server.address, "IRC link registered");
        if self
            .events
            .send(LinkEvent::Registered {
                nick: self.nick.clone(),
                wanted: wanted.clone(),
                server: server.address,
            })
            .await
            .is_err()
        {
            return End::Quit;
        }
        self.pace.reset(Instant::now());
        // Rejoin first: queued messages to a channel must find the connection in it.
        let mut rejoin: Vec<Out> = self
            .channels
            .iter()
            .map(|c| Out {
                id: None,
                msg: Message::new("JOIN", vec![c.clone()]),
                membership: None,
            })
            .collect();
        for out in rejoin.drain(..).rev() {
            self.queue.push_front(out);
            self.queued.fetch_add(1, Ordering::SeqCst);
        }
        let mut last_read = Instant::now();
        let mut keepalive_sent = false;
        loop {
            // Write what the pace allows.
            let now = Instant::now();
            while !self.queue.is_empty() && self.pace.take(now) {
                let Some(out) = self.queue.pop_front() else {
                    break;
                };
                self.queued.fetch_sub(1, Ordering::SeqCst);
                // A nick asked for is the one wanted from now on (after a reconnect too).
                if out.msg.verb == "NICK"
                    && let Some(n) = out.msg.params.first()
                {
                    self.config.nick = n.clone();
                    self.attempt = 0;
                }
                if let Some((chan, joined)) = &out.membership {
                    if *joined {
                        self.channels.insert(chan.clone());
                    } else {
                        self.channels.remove(chan);
                    }
                }
                if let Err(e) = write_msg(&mut write, &out.msg).await {
                    // Not written: back to the front for the next connection.
                    self.queue.push_front(out);
                    self.queued.fetch_add(1, Ordering::SeqCst);
                    return End::Lost(format!("write failed: {e}"));
                }
                if let Some(id) = out.id {
                    self.unconfirmed.push((self.generation, id));
                }
            }
            if let Err(e) = self.confirm(&mut write).await {
                return End::Lost(format!("write failed: {e}"));
            }
            if self.queue.is_empty()
                && let Some(reason) = self.quit.take()
            {
                let mut params = Vec::new();
                params.extend(reason);
                let _ = write_msg(&mut write, &Message::new("QUIT", params)).await;
                let _ = write.shutdown().await;
                return End::Quit;
            }
            let next_write = if self.queue.is_empty() {
                None
            } else {
                Some(self.pace.ready_at(Instant::now()))
            };
            let idle_at = last_read
                + if keepalive_sent {
                    self.config.ping_idle + self.config.ping_timeout
                } else {
                    self.config.ping_idle
                };
            tokio::select! {
                line = lines.next() => {
                    let line = match line {
                        None => return End::Lost("the server closed the connection".into()),
                        Some(Err(e)) => return End::Lost(format!("read failed: {e}")),
                        Some(Ok(l)) => l,
                    };
                    last_read = Instant::now();
                    keepalive_sent = false;
                    if let Some(msg) = self.read(line) {
                        match self.handle(msg, &mut write).await {
                            Ok(true) => {}
                            Ok(false) => return End::Quit,
                            Err(reason) => return End::Lost(reason),
                        }
                    }
                }
                cmd = self.rx.recv(), if self.quit.is_none() => match cmd {
                    Some(c) => { self.take(c); }
                    None => self.quit = Some(None),
                },
                () = sleep_until(next_write.unwrap_or(idle_at)), if next_write.is_some() => {}
                () = sleep_until(idle_at), if next_write.is_none() => {
                    if keepalive_sent {
                        return End::Lost("the server stopped answering".into());
                    }
                    keepalive_sent = true;
                    if let Err(e) = write_msg(&mut write, &Message::new("PING", vec!["lg-alive".into()])).await {
                        return End::Lost(format!("write failed: {e}"));
                    }
                }
            }
        }
    }

    /// Sends the PING that confirms what was written since the last one, when none is out.
    async fn confirm(&mut self, write: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        if self.ping_out || !self.unconfirmed.iter().any(|(g, _)| *g == self.generation) {
            return Ok(());
        }
        let token = format!("lg-{}", self.generation);
        self.generation += 1;
        self.ping_out = true;
        write_msg(write, &Message::new("PING", vec![token])).await
    }

    /// A line as a message, or `None` (logged: the server sent something unreadable).
    fn read(&self, line: Line) -> Option<Message> {
        match line {
            Line::Text(t) => match Message::parse(&t) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(nick = %self.nick, error = %e, "the IRC server sent a line that is not a message; ignored");
                    None
                }
            },
            Line::TooLong => {
                tracing::warn!(nick = %self.nick, "the IRC server sent an over-long line; ignored");
                None
            }
            Line::InvalidUtf8(_) => {
                tracing::warn!(nick = %self.nick, "the IRC server sent a line that is not UTF-8; ignored");
                None
            }
        }
    }

    /// A message after registration. `Ok(false)`: the owner is gone.
    async fn handle(
        &mut self,
        msg: Message,
        write: &mut (impl AsyncWrite + Unpin),
    ) -> Result<bool, String> {
        let verb = msg.verb.to_ascii_uppercase();
        match verb.as_str() {
            "PING" => {
                let pong = Message::new("PONG", msg.params.clone());
                write_msg(write, &pong)
                    .await
                    .map_err(|e| format!("write failed: {e}"))?;
                return Ok(true);
            }
            "PONG" => {
                let token = msg.params.last().map_or("", String::as_str);
                if token == "lg-alive" {
                    return Ok(true);
                }
                if let Some(g) = token
                    .strip_prefix("lg-")
                    .and_then(|g| g.parse::<u64>().ok())
                {
                    self.unconfirmed.retain(|(gen_, _)| *gen_ > g);
                    self.ping_out = false;
                    return Ok(true);
                }
            }
            "ERROR" => {
                return Err(format!(
                    "the server closed the link: {}",
                    msg.params.last().map_or("", |s| s)
                ));
            }
            "NICK" => {
                let from = msg
                    .source
                    .as_deref()
                    .and_then(|s| s.split('!').next())
                    .unwrap_or("");
                if nick::fold(from) == nick::fold(&self.nick)
                    && let Some(new) = msg.params.first()
                {
                    self.nick = new.clone();
                    if self
                        .events
                        .send(LinkEvent::NickChanged(new.clone()))
                        .await
                        .is_err()
                    {
                        return Ok(false);
                    }
                }
            }
            "433" | "436" => {
                // A NICK change of ours collided: the next of the sequence.
                if let Some(wanted) = msg.params.get(1) {
                    self.attempt += 1;
                    let base = wanted.split('|').next().unwrap_or(wanted);
                    let next = nick::candidate(base, self.attempt, self.config.max_nick_len);
                    write_msg(write, &Message::new("NICK", vec![next]))
                        .await
                        .map_err(|e| format!("write failed: {e}"))?;
                }
            }
            "KICK" => {
                // Kicked from a channel: not rejoined (a person on the network decided).
                if msg
                    .params
                    .get(1)
                    .is_some_and(|n| nick::fold(n) == nick::fold(&self.nick))
                    && let Some(chan) = msg.params.first()
                {
                    self.channels.retain(|c| nick::fold(c) != nick::fold(chan));
                }
            }
            _ => {}
        }
        Ok(self.events.send(LinkEvent::Message(msg)).await.is_ok())
    }
}

async fn timeout_at<F: std::future::Future>(deadline: Instant, f: F) -> Result<F::Output, ()> {
    tokio::time::timeout_at(deadline, f).await.map_err(|_| ())
}

fn push_line(buf: &mut String, msg: &Message) {
    buf.push_str(&msg.to_line());
    buf.push_str("\r\n");
}

async fn write_msg(write: &mut (impl AsyncWrite + Unpin), msg: &Message) -> std::io::Result<()> {
    let mut s = String::new();
    push_line(&mut s, msg);
    write.write_all(s.as_bytes()).await?;
    write.flush().await
}

async fn connect(server: &Server) -> std::io::Result<Io> {
    let tcp = TcpStream::connect(server.address).await?;
    tcp.set_nodelay(true)?;
    match &server.tls {
        None => Ok(Box::new(tcp)),
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            let stream = connector.connect(tls.name.clone(), tcp).await?;
            Ok(Box::new(stream))
        }
    }
}
