//! The users under test: IRC clients of a gateway (labelgate over TLS with SASL PLAIN, or
//! bitlbee in plain text, which has no TLS listener), or XMPP clients straight on ejabberd; and
//! the room side's XMPP clients. Each records what it receives and who it sees in its room.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use base64::Engine;
use jid::BareJid;
use labelgate::internal::peer_cleared;
use labelgate::xmpp::connect::Endpoint;
use labelgate::xmpp::muc::{History, OutgoingMessage};
use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent, origin_id};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::bitlbee;
use super::stats::{Shared, Way, leak, parse_body, record};

/// How the users reach their rooms.
#[derive(Clone)]
pub enum Front {
    /// labelgate's TLS IRC listener.
    Labelgate {
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        /// Each user's own TLS configuration with its client certificate, for SASL EXTERNAL.
        certificates: Option<Arc<Vec<Arc<rustls::ClientConfig>>>>,
    },
    /// bitlbee's plain-text IRC listener.
    Bitlbee { addr: SocketAddr },
    /// No gateway: XMPP sessions on ejabberd.
    Direct { ep: Arc<Endpoint> },
}

/// One user under test, logged in and joined.
pub enum User {
    Irc {
        writer: Box<dyn AsyncWrite + Send + Unpin>,
        /// How many distinct nicks its channel shows (itself included).
        members: Arc<AtomicUsize>,
    },
    Xmpp {
        session: Session,
        members: Arc<AtomicUsize>,
    },
}

/// What a user is: its index, its room, and whether it is cleared for SECRET.
#[derive(Clone)]
pub struct Who {
    pub i: usize,
    pub channel: String,
    pub room: BareJid,
    pub cleared: bool,
    /// Only labelgate decides labels: elsewhere every message reaches everyone.
    pub labels: bool,
}

impl User {
    pub fn members(&self) -> usize {
        match self {
            User::Irc { members, .. } | User::Xmpp { members, .. } => {
                members.load(Ordering::Relaxed)
            }
        }
    }

    /// Sends `body`, labelled SECRET (by the FLOT marking typed first) when `secret`.
    pub async fn send(&mut self, who: &Who, body: &str, secret: bool) -> Result<()> {
        match self {
            User::Irc { writer, .. } => {
                let mark = if secret { "[SECRET UK EYES ONLY] " } else { "" };
                let line = format!("PRIVMSG {} :{mark}{body}\r\n", who.channel);
                writer.write_all(line.as_bytes()).await?;
                // TLS keeps what the socket would not take until a flush.
                writer.flush().await?;
            }
            User::Xmpp { session, .. } => room_send(session, &who.room, body).await?,
        }
        Ok(())
    }

    pub async fn close(self) {
        match self {
            User::Irc { mut writer, .. } => {
                let _ = writer.write_all(b"QUIT :done\r\n").await;
                let _ = writer.flush().await;
                let _ = writer.shutdown().await;
            }
            User::Xmpp { session, .. } => session.close().await,
        }
    }
}

/// Sends an unlabelled groupchat message to `room`.
pub async fn room_send(s: &Session, room: &BareJid, body: &str) -> Result<()> {
    let out = OutgoingMessage {
        body: body.to_owned(),
        label: None,
        origin_id: origin_id(),
        notice: false,
    };
    s.send_groupchat(room, &peer_cleared(out)).await?;
    Ok(())
}

/// Logs user `who` in through `front` and joins its room; fails after `limit`.
/// A login that did not finish in time (it may be tried again), with what it had received.
#[derive(Debug)]
pub struct TimedOut(String);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Fails after `limit` ([`TimedOut`]) saying what the server said last.
pub async fn login(front: &Front, who: &Who, shared: &Shared, limit: Duration) -> Result<User> {
    let trace = Trace::default();
    match tokio::time::timeout(limit, login_inner(front, who, shared, &trace)).await {
        Ok(r) => r,
        Err(_) => {
            let last = trace.lock().map(|t| t.join(" | ")).unwrap_or_default();
            Err(TimedOut(format!(
                "u{}: no login within {limit:?}; last lines: {last}",
                who.i
            ))
            .into())
        }
    }
}

/// The last lines a login received (and how far it got before the first).
type Trace = Arc<std::sync::Mutex<Vec<String>>>;

fn note(trace: &Trace, line: &str) {
    if let Ok(mut t) = trace.lock() {
        if t.len() >= 6 {
            t.remove(0);
        }
        t.push(line.chars().take(160).collect());
    }
}

async fn login_inner(front: &Front, who: &Who, shared: &Shared, trace: &Trace) -> Result<User> {
    let nick = format!("u{}", who.i);
    match front {
        Front::Labelgate {
            addr,
            tls,
            certificates,
        } => {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            note(trace, "(TCP connected)");
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let tls = match certificates {
                Some(c) => c.get(who.i).cloned().unwrap_or_else(|| tls.clone()),
                None => tls.clone(),
            };
            let s = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            note(trace, "(TLS up)");
            let sasl = if certificates.is_some() {
                "AUTHENTICATE EXTERNAL\r\nAUTHENTICATE +\r\n".to_owned()
            } else {
                let plain = base64::engine::general_purpose::STANDARD
                    .encode(format!("{nick}\0{nick}\0load"));
                format!("AUTHENTICATE PLAIN\r\nAUTHENTICATE {plain}\r\n")
            };
            let hello = format!(
                "CAP REQ :sasl\r\n{sasl}CAP END\r\nNICK {nick}\r\nUSER {nick} 0 * :load\r\nJOIN {}\r\n",
                who.channel
            );
            irc_session(s, hello, None, who, shared, trace).await
        }
        Front::Bitlbee { addr } => {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let account = format!("bl{}@labelgate.test", who.i);
            let hello = bitlbee::login_lines(&nick, &account, who.room.as_str(), &who.channel);
            let join = format!("JOIN {}\r\n", who.channel);
            irc_session(tcp, hello, Some(join), who, shared, trace).await
        }
        Front::Direct { ep } => xmpp_user(ep, &nick, who, shared).await,
    }
}

/// Drives one IRC connection: says `hello`, (for bitlbee, once its XMPP account is logged in,
/// `then`), waits for the end of the channel's names, then records what arrives.
async fn irc_session<S: AsyncRead + AsyncWrite + Send + 'static>(
    s: S,
    hello: String,
    mut then: Option<String>,
    who: &Who,
    shared: &Shared,
    trace: &Trace,
) -> Result<User> {
    let (rd, mut wr) = tokio::io::split(s);
    let mut lines = BufReader::new(rd).lines();
    wr.write_all(hello.as_bytes()).await?;
    wr.flush().await?;
    let nick = format!("u{}", who.i);
    let mut names: HashSet<String> = HashSet::new();
    loop {
        let Some(l) = lines.next_line().await? else {
            bail!("{nick}: connection closed during login");
        };
        note(trace, &l);
        if l.contains(" 904 ") || l.contains(" 464 ") || l.starts_with("ERROR") {
            bail!("{nick}: {l}");
        }
        if let Some(join) = &then
            && l.contains(":root!")
            && l.contains("Logged in")
        {
            wr.write_all(join.as_bytes()).await?;
            wr.flush().await?;
            then = None;
        }
        if l.contains(" 353 ") {
            names_of(&l, &mut names);
        }
        if l.contains(" 366 ") && l.contains(&who.channel) {
            break;
        }
    }
    let members = Arc::new(AtomicUsize::new(names.len()));
    let (m, shared, who, channel_msg) = (
        members.clone(),
        shared.clone(),
        who.clone(),
        format!(" PRIVMSG {} :", who.channel),
    );
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some((_, text)) = l.split_once(&channel_msg) {
                let Some((sender, seq, sent, class)) = parse_body(text) else {
                    continue;
                };
                if class == "S" && who.labels && !who.cleared {
                    leak(&shared, format!("{nick} got {l}"));
                    continue;
                }
                let way = if sender.starts_with('x') {
                    Way::RoomToUser
                } else {
                    Way::UserToUser
                };
                record(&shared, way, &nick, sender, seq, sent);
            } else if l.contains(" JOIN ") {
                if let Some(n) = l.strip_prefix(':').and_then(|p| p.split('!').next()) {
                    names.insert(n.to_owned());
                }
                m.store(names.len(), Ordering::Relaxed);
            } else if l.contains(" 353 ") {
                names_of(&l, &mut names);
                m.store(names.len(), Ordering::Relaxed);
            }
        }
    });
    Ok(User::Irc {
        writer: Box::new(wr),
        members,
    })
}

/// Adds the nicks of a 353 line (without their prefixes; bitlbee's own `root` is no occupant).
fn names_of(line: &str, names: &mut HashSet<String>) {
    if let Some((_, list)) = line.rsplit_once(" :") {
        for n in list.split(' ') {
            let n = n.trim_start_matches(['@', '+', '%', '~', '&']);
            if !n.is_empty() && n != "root" {
                names.insert(n.to_owned());
            }
        }
    }
}

/// A user that is an XMPP client on ejabberd itself (the direct mode).
async fn xmpp_user(ep: &Arc<Endpoint>, nick: &str, who: &Who, shared: &Shared) -> Result<User> {
    let (session, members) = xmpp_client(ep, nick, &who.room, shared, Way::UserToUser).await?;
    Ok(User::Xmpp { session, members })
}

/// An XMPP client (`y…` users, `x…` room side) in `room`: records messages from `x…` senders as
/// [`Way::RoomToUser`] and from users as `from_users`; tracks how many occupants it sees.
pub async fn xmpp_client(
    ep: &Arc<Endpoint>,
    name: &str,
    room: &BareJid,
    shared: &Shared,
    from_users: Way,
) -> Result<(Session, Arc<AtomicUsize>)> {
    let jid = format!("{name}-load@labelgate.test").parse()?;
    let (s, mut rx) = Session::start(SessionConfig::new(
        ep.clone(),
        jid,
        IdentityMode::TrustedGateway,
    ))
    .await
    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let joined = s
        .join(room, name, History::default())
        .await
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut occupants: HashSet<String> = joined.occupants.into_keys().collect();
    let members = Arc::new(AtomicUsize::new(occupants.len()));
    let (m, shared, name) = (members.clone(), shared.clone(), name.to_owned());
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            match e {
                XmppEvent::Groupchat {
                    nick: Some(nick),
                    message,
                    ..
                } if nick != name => {
                    let Some(body) = message.body else { continue };
                    let Some((sender, seq, sent, _)) = parse_body(&body) else {
                        continue;
                    };
                    let way = if sender.starts_with('x') {
                        if name.starts_with('x') {
                            continue; // the room side among itself
                        }
                        Way::RoomToUser
                    } else {
                        from_users
                    };
                    record(&shared, way, &name, sender, seq, sent);
                }
                XmppEvent::OccupantJoined { occupant, .. } => {
                    occupants.insert(occupant.nick.clone());
                    m.store(occupants.len(), Ordering::Relaxed);
                }
                XmppEvent::OccupantLeft { nick, .. } => {
                    occupants.remove(&nick);
                    m.store(occupants.len(), Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    Ok((s, members))
}
