//! One IRC user paired with their XMPP session: the session's bookkeeping (rooms, nicks, what
//! was sent, what is held while rooms are rejoined) and the loop that applies reloads before
//! anything else. What crosses is decided in [`crossing`](super::crossing); requests from IRC are
//! in [`requests`](super::requests), events from XMPP in [`events`](super::events), lines on
//! their way out in [`outgoing`](super::outgoing), what goes to IRC and when in
//! [`outbox`](super::outbox).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::{mpsc, watch};

use super::codes::Code;
use super::crossing::{self, Person};
use super::messages::room_source;
use super::nick::Nicks;
use super::sent::SentLog;
use super::{Inner, State};
use crate::audit::{Cleared, Direction, What};
use crate::config::mappings::Mapping;
use crate::irc::backend::{Delivery, JoinRefusal, Member, RegisteredUser, Request, Source, Text};
use crate::irc::proto::names;
use crate::label::Clearance;
use crate::metrics::{METRICS, Way};
use crate::xmpp::muc::{OutgoingMessage, Role};
use crate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent};

/// The vendor tag carrying the marking, for clients that negotiated message-tags.
pub const MARKING_TAG: &str = "labelgate/marking";
/// The vendor tag carrying the XMPP id of the message a correction (XEP-0308) replaces.
pub const REPLACES_TAG: &str = "labelgate/replaces";
/// Messages held per user while their XMPP session reconnects or rejoins.
pub const HELD_LIMIT: usize = 32;
/// How long a JOIN burst waits for the room's subject before it goes without one.
pub(super) const JOIN_SUBJECT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A join whose IRC burst waits for the room's subject: what concerns the channel meanwhile
/// (history, occupants coming and going, label facts) is held in order.
pub(super) struct PendingJoin {
    pub(super) channel: String,
    pub(super) members: Vec<Member>,
    pub(super) buffered: Vec<Delivery>,
    pub(super) deadline: tokio::time::Instant,
    /// The label of the JOIN, when the client asked for a labelled answer: the burst is it.
    pub(super) label: Option<String>,
}

pub(super) struct Room {
    pub(super) channel: String,
    pub(super) mapping: Arc<Mapping>,
    /// The XMPP server's catalog for the room, when the gateway uses it instead of the
    /// mapping's (kept across reloads, reduced to the new ceiling).
    pub(super) server_catalog: Option<Vec<crate::label::Label>>,
    /// Our nick in the room.
    pub(super) nick: String,
    /// Joined and not being rejoined: messages can go out now.
    pub(super) ready: bool,
    /// The user's rate against the room's `controls.rate` (made on the first line).
    pub(super) rate: Option<crate::config::controls::RateLimit>,
    /// What the room's switched-off chat states have said already.
    pub(super) told: super::crossing::Told,
}

/// A typed line, cleared to go out, on its way (or held until its room is ready again). It keeps
/// what it was made from, so a reload can decide it again.
pub(super) struct Outgoing {
    /// The IRC command it came in (for a refusal's standard reply).
    pub(super) command: String,
    /// The IRC target it was typed to.
    pub(super) target: String,
    pub(super) room: BareJid,
    /// A private message's occupant.
    pub(super) nick: Option<String>,
    pub(super) echo: bool,
    /// The line as typed.
    pub(super) typed: String,
    /// A `/me`.
    pub(super) action: bool,
    pub(super) message: Cleared<OutgoingMessage>,
    /// The marking it went out with when none was typed (for senders without their echo).
    pub(super) defaulted: Option<String>,
}

pub(super) struct Pairing {
    /// Policies, mappings and users as of the last reload this pairing applied.
    pub(super) now: Arc<State>,
    pub(super) user: RegisteredUser,
    /// The user's clearance now (a reload may change it).
    pub(super) clearance: Clearance,
    pub(super) jid: String,
    pub(super) out: mpsc::Sender<Delivery>,
    pub(super) session: Option<Session>,
    pub(super) rooms: HashMap<BareJid, Room>,
    pub(super) by_channel: HashMap<String, BareJid>,
    /// Every occupant of every room, under IRC nicks unique for this user.
    pub(super) nicks: Nicks,
    /// origin-ids of our own messages whose room reflection is still to come.
    pub(super) sent: SentLog,
    /// The XMPP stream is up (false between a drop and its resumption or reset).
    pub(super) connected: bool,
    /// The user was told the stream is down (one notice per loss, one on recovery).
    pub(super) told_down: bool,
    /// Messages typed while their room was not ready, in order (at most [`HELD_LIMIT`]).
    pub(super) held: VecDeque<Outgoing>,
    /// The user's AWAY message, while away.
    pub(super) away: Option<String>,
    /// The client's PINGs waiting for what it sent before to be answered.
    pub(super) pongs: VecDeque<super::pong::WaitingPong>,
    /// Rooms whose subject the user set, until the room announces it (and when it was set).
    pub(super) topics_set: Vec<(BareJid, tokio::time::Instant)>,
    /// The bridge's shared state (subjects' labels).
    pub(super) inner: Arc<Inner>,
    /// Joins whose burst waits for the subject, by folded channel.
    pub(super) pending: std::sync::Mutex<HashMap<String, PendingJoin>>,
    /// The answer being collected for the labelled request being handled.
    pub(super) answer: std::sync::Mutex<Option<super::outbox::Answer>>,
}

async fn start_session(
    inner: &Inner,
    user: &RegisteredUser,
) -> Result<(Session, mpsc::Receiver<XmppEvent>), String> {
    let (endpoint, mode) = match &inner.identity {
        super::Identity::TrustedGateway(ep) => (ep.clone(), IdentityMode::TrustedGateway),
        super::Identity::PerUser {
            template,
            server_check,
            dir,
        } => {
            let cert = dir.join(format!("{}.crt", user.account));
            let key = dir.join(format!("{}.key", user.account));
            let config = server_check
                .client_config_from_files(Some((&cert, &key)))
                .map_err(|e| e.to_string())?;
            let mut ep = (**template).clone();
            ep.tls = config;
            (Arc::new(ep), IdentityMode::PerUser)
        }
    };
    let mut config = SessionConfig::new(endpoint, user.jid.clone(), mode);
    config.room_ping = inner.room_ping;
    Session::start(config).await.map_err(|e| e.to_string())
}

/// Runs one user's pairing. `state` was subscribed when the user registered, so a reload while
/// the XMPP session starts is seen, and applied before anything else.
pub(super) async fn run(
    inner: Arc<Inner>,
    user: RegisteredUser,
    mut state: watch::Receiver<Arc<State>>,
    out: mpsc::Sender<Delivery>,
    mut requests: mpsc::Receiver<Request>,
) {
    let at_registration = state.borrow_and_update().clone();
    let mut p = Pairing {
        now: at_registration.clone(),
        clearance: user.clearance.clone(),
        jid: user.jid.to_string(),
        nicks: Nicks::new(&user.nick),
        user,
        out,
        session: None,
        rooms: HashMap::new(),
        by_channel: HashMap::new(),
        sent: SentLog::default(),
        connected: true,
        told_down: false,
        held: VecDeque::new(),
        away: None,
        pongs: VecDeque::new(),
        topics_set: Vec::new(),
        inner: inner.clone(),
        pending: Default::default(),
        answer: Default::default(),
    };
    // The users file as the bridge has it now decides the clearance, not the one the IRC side
    // registered with.
    if !p.apply_users().await {
        return;
    }
    let mut events = match start_session(&inner, &p.user).await {
        Ok((s, e)) => {
            p.session = Some(s);
            METRICS.sessions(1, 0);
            Some(e)
        }
        Err(e) => {
            p.notice(format!(
                "Your XMPP session could not start: {e}. Channels are unavailable."
            ))
            .await;
            None
        }
    };
    loop {
        tokio::select! {
            // A reload is applied before the next message in either direction.
            biased;
            Ok(()) = state.changed() => {
                let now = state.borrow_and_update().clone();
                if !p.reloaded(now).await {
                    break;
                }
            }
            r = requests.recv() => match r {
                None => break,
                Some(Request::Quit { reason }) => {
                    p.quit(&reason).await;
                    break;
                }
                Some(r) => p.request(r).await,
            },
            () = async {
                match p.next_join_deadline().into_iter().chain(p.next_pong_deadline()).min() {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => p.expire_joins().await,
            e = async { match events.as_mut() { Some(ev) => ev.recv().await, None => std::future::pending().await } } => match e {
                Some(XmppEvent::Closed) | None => {
                    p.notice("Your XMPP session has ended.".into()).await;
                    p.refuse_all_held("your XMPP session has ended").await;
                    p.session_ended();
                    events = None;
                }
                Some(e) => p.event(e).await,
            },
        }
        // A PING waiting for answers goes as soon as they have.
        if !p.pongs.is_empty() {
            p.flush_pongs().await;
        }
    }
    if let Some(s) = &p.session {
        s.close().await;
    }
    p.session_ended();
    // The user has gone: what they left held goes nowhere.
    METRICS.held(-(p.held.len() as i64));
}

/// An occupant of `room` shown under the IRC nick `irc`.
pub(super) fn occupant_as(room: &BareJid, irc: String) -> Source {
    Source {
        nick: irc,
        user: "xmpp".into(),
        host: room.domain().to_string(),
        account: None,
    }
}

/// A channel member for an occupant: moderators are operators (`@`), participants have voice
/// (`+`, XEP-0045's own word for the role), visitors neither.
pub(super) fn member(source: Source, role: Role) -> Member {
    Member {
        source,
        op: role == Role::Moderator,
        voice: role == Role::Participant,
    }
}

impl Pairing {
    /// A notice in the gateway's own words.
    pub(super) async fn notice(&self, text: String) {
        self.deliver(Delivery::ServerNotice { text }).await;
    }

    /// The user, for decisions.
    pub(super) fn person(&self) -> Person<'_> {
        Person {
            account: &self.user.account,
            jid: &self.jid,
            clearance: &self.clearance,
        }
    }

    /// How an occupant of `room` (by room nick) appears on IRC.
    pub(super) fn occupant_source(&self, room: &BareJid, nick: &str) -> Source {
        self.shown(room, self.nicks.irc(&room.to_string(), nick, None))
    }

    /// The IRC source for the occupant shown as `irc`: their XMPP address as the account,
    /// when their rooms show it to this user (WHOIS 330, `account-tag`).
    pub(super) fn shown(&self, room: &BareJid, irc: String) -> Source {
        let account = self.nicks.person(&irc);
        Source {
            account,
            ..occupant_as(room, irc)
        }
    }

    pub(super) fn self_source(&self) -> Source {
        Source {
            nick: self.user.nick.clone(),
            user: self.user.user.clone(),
            host: self.user.host.clone(),
            account: Some(self.user.account.clone()),
        }
    }

    /// Takes the clearance from the current users file; a removed account is disconnected
    /// (`false`: the pairing is over).
    async fn apply_users(&mut self) -> bool {
        let Some(users) = self.now.users.clone() else {
            return true;
        };
        match users.get(&self.user.account) {
            None => {
                self.leave_all("your account was removed").await;
                self.deliver(Delivery::Disconnect {
                    reason: "Your account was removed from the gateway".into(),
                })
                .await;
                false
            }
            Some(u) => {
                self.user.groups = u.groups.clone();
                self.user.marking_language = u.marking_language.clone();
                let policy = self.now.gate.policies().primary();
                let clearance = match &self.user.certificate_clearance {
                    None => Some(u.clearance.clone()),
                    Some(c) => u.clearance.meet(c, policy),
                };
                let Some(clearance) = clearance else {
                    self.leave_all("your certificate's clearance no longer meets your account's")
                        .await;
                    self.deliver(Delivery::Disconnect {
                        reason: "Your certificate's clearance and your account's no longer meet"
                            .into(),
                    })
                    .await;
                    return false;
                };
                if clearance != self.clearance {
                    self.clearance = clearance;
                    let text = self.clearance.to_text(policy);
                    self.notice(format!("Your clearance is now {text}.")).await;
                }
                true
            }
        }
    }

    /// Applies a reload: the new clearance at once; channels whose mapping is gone or whose
    /// default label the user may no longer see are parted with a reason; every held line is
    /// decided again under the new state; a removed account is disconnected (`false`).
    async fn reloaded(&mut self, now: Arc<State>) -> bool {
        if Arc::ptr_eq(&self.now, &now) {
            return true;
        }
        self.now = now;
        if !self.apply_users().await {
            return false;
        }
        let mappings = self.now.mappings.clone();
        let joined: Vec<(BareJid, String)> = self
            .rooms
            .iter()
            .map(|(j, r)| (j.clone(), r.channel.clone()))
            .collect();
        for (room, channel) in joined {
            let why = match mappings.get(&channel) {
                None => Some("the channel is no longer mapped to a room".to_owned()),
                Some(m) if m.room != room => {
                    Some(format!("the channel is now mapped to {}", m.room))
                }
                Some(m) if let Err(r) = self.admitted(m) => Some(r),
                Some(m) => match self.join_decision(m) {
                    Err(d) if d.unaudited() => Some(crossing::AUDIT_FAILED.to_owned()),
                    Err(d) => Some(format!(
                        "your clearance no longer covers the room's default label ({})",
                        d.denied
                    )),
                    Ok(()) => {
                        let lang = self.user.marking_language.as_deref();
                        let m = m.read_in(self.now.gate.policies(), lang);
                        if let Some(r) = self.rooms.get_mut(&room) {
                            let mut m = m.clone();
                            if let Some(c) = &r.server_catalog {
                                m.catalog = super::catalog::within(&self.now, &m, c.clone());
                            }
                            r.mapping = Arc::new(m);
                        }
                        None
                    }
                },
            };
            if let Some(why) = why {
                self.leave(&room, why).await;
            }
        }
        self.redecide_held().await;
        true
    }

    /// The room's boundary controls, decided again after a reload (audited); the words for a
    /// refusal.
    fn admitted(&self, m: &Mapping) -> Result<(), String> {
        let (groups, login) = (&self.user.groups, self.user.login);
        crossing::admit(&self.now, self.person(), &m.room, m, groups, login).map_err(|r| match r {
            JoinRefusal::Control { why, .. } => {
                format!("the channel's controls no longer admit you: {why}")
            }
            _ => "the channel's controls no longer admit you".to_owned(),
        })
    }

    /// The audited decision to let the user into a room: their clearance must dominate its
    /// default label.
    pub(super) fn join_decision(&self, m: &Mapping) -> Result<(), crate::audit::Refusal> {
        let room_text = m.room.to_string();
        let ctx = crate::audit::Context {
            direction: Some(Direction::Join),
            account: &self.user.account,
            jid: &self.jid,
            room: &room_text,
            ..Default::default()
        };
        let checks = [crate::audit::Check::Person(&self.clearance)];
        self.now
            .gate
            .clear(&ctx, &checks, &[&m.default_label], ())
            .map(|_| ())
    }

    /// Leaves a room the gateway's rules no longer allow, telling the user why.
    pub(super) async fn leave(&mut self, room: &BareJid, why: String) {
        let reason = Some(Text::Own(format!("labelgate: {why}")));
        self.part(room, &why, true, None, reason).await;
    }

    /// Takes the user out of `room`'s channel: messages held for it are refused (`held_why`),
    /// the room is left (with `status`, when `leave`; otherwise it has let us go already), and
    /// the IRC side gets a PART with `reason`.
    pub(super) async fn part(
        &mut self,
        room: &BareJid,
        held_why: &str,
        leave: bool,
        status: Option<Cleared<String>>,
        reason: Option<Text>,
    ) {
        let Some(r) = self.forget_room(room, held_why).await else {
            return;
        };
        if leave && let Some(s) = &self.session {
            s.leave(room, status.as_ref()).await;
        }
        let who = self.self_source();
        self.deliver(Delivery::Part {
            channel: r.channel,
            who,
            reason,
        })
        .await;
    }

    /// Forgets a room the user is no longer in (its channel, its waiting JOIN burst, its nicks),
    /// refusing what was held for it with `held_why`; the room, if the user was in it.
    async fn forget_room(&mut self, room: &BareJid, held_why: &str) -> Option<Room> {
        let r = self.rooms.remove(room)?;
        self.drop_join(&r.channel);
        self.by_channel.remove(&names::fold(&r.channel));
        self.nicks.forget_room(&room.to_string());
        self.refuse_held(room, held_why).await;
        Some(r)
    }

    /// The room kicked (or banned) the user: the channel is gone for them, shown as a KICK.
    pub(super) async fn kicked(&mut self, room: &BareJid, reason: Option<Text>) {
        let held_why = "you were removed from the room";
        let Some(r) = self.forget_room(room, held_why).await else {
            return;
        };
        let nick = self.user.nick.clone();
        let by = room_source(room);
        self.deliver(Delivery::Kick {
            channel: r.channel,
            by,
            nick,
            reason,
        })
        .await;
    }

    pub(super) async fn leave_all(&mut self, why: &str) {
        let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.leave(&room, why.to_owned()).await;
        }
    }

    /// The user quits: each room is left with the quit message as status, where it may cross.
    async fn quit(&mut self, reason: &str) {
        let rooms: Vec<(BareJid, Arc<Mapping>)> = self
            .rooms
            .iter()
            .map(|(j, r)| (j.clone(), r.mapping.clone()))
            .collect();
        for (room, mapping) in rooms {
            let status = crossing::typed_reason(
                &self.now,
                self.person(),
                &room,
                &mapping,
                What::Reason,
                Some(reason),
            )
            .ok()
            .flatten();
            // Without words of the user's that may cross, the session's close leaves the room
            // with the gateway's own ("gateway session closed").
            if let (Some(s), Some(status)) = (&self.session, &status) {
                s.quit(&room, Some(status)).await;
            }
        }
    }

    /// The XMPP session is over (closed by us or for good by the library).
    pub(super) fn session_ended(&mut self) {
        if self.session.take().is_some() {
            if self.connected {
                METRICS.sessions(-1, 0);
            } else {
                METRICS.sessions(0, -1);
            }
        }
    }

    /// Records the stream going down or coming back (for the sessions-by-state gauge).
    pub(super) fn set_connected(&mut self, up: bool) {
        if self.session.is_some() && self.connected != up {
            if up {
                METRICS.sessions(1, -1);
            } else {
                METRICS.sessions(-1, 1);
            }
        }
        self.connected = up;
    }

    /// Whether messages to `room` can go out now (not while the stream is down or the room
    /// is being rejoined).
    pub(super) fn ready(&self, room: &BareJid) -> bool {
        self.connected && self.rooms.get(room).is_some_and(|r| r.ready)
    }

    /// A standard reply refusing a typed line (a NOTICE for clients without standard-replies).
    pub(super) async fn fail(&self, command: &str, code: Code, target: &str, why: String) {
        if let Some(reason) = code.reason() {
            let way = if target.starts_with('#') {
                Way::IrcToXmpp
            } else {
                Way::Private
            };
            METRICS.withheld(way, reason);
        }
        self.deliver(Delivery::Fail {
            command: command.to_owned(),
            code: code.as_str().to_owned(),
            context: target.to_owned(),
            text: format!("Not sent: {why}"),
        })
        .await;
    }
}
