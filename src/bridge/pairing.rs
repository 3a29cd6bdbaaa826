//! One IRC user paired with their XMPP session: requests from IRC go to rooms, events from
//! rooms come back to IRC, each message through the audited gate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::mpsc;

use super::nick::RoomNicks;
use super::sent::{Sent, SentLog};
use super::{Inner, State};
use crate::audit::{Context, Direction};
use crate::config::mappings::Mapping;
use crate::irc::backend::{Delivery, JoinRefusal, Member, RegisteredUser, Request, Source};
use crate::irc::proto::names;
use crate::label::xep0258::{LabelPayload, SecurityLabel};
use crate::label::{Clearance, Granted, Label, nato};
use crate::metrics::{METRICS, Reason, Way};
use crate::xmpp::muc::{History, OutgoingMessage, ReceivedMessage, Role};
use crate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent, origin_id};
use crate::xmpp::tls;

/// The vendor tag carrying the marking, for clients that negotiated message-tags.
pub const MARKING_TAG: &str = "labelgate/marking";
/// Bytes of text per IRC line (prefix included), leaving room for the source and command.
const LINE_BUDGET: usize = 400;
/// Messages held per user while their XMPP session reconnects or rejoins.
pub const HELD_LIMIT: usize = 32;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal; )*) => {
        /// Why a typed line was refused: the code of its standard reply (`FAIL`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $( $(#[$doc])* $variant, )* }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as sent in `FAIL <command> <code> <target> :<text>`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }
        }
    };
}

impl Code {
    /// The metric reason a refusal counts under (none for a line that was no message).
    fn reason(self) -> Option<Reason> {
        match self {
            Code::InvalidLabel => Some(Reason::InvalidLabel),
            Code::NotInCatalog => Some(Reason::Catalog),
            Code::NotCleared => Some(Reason::Clearance),
            Code::RoomClearance => Some(Reason::RoomClearance),
            Code::NoPrivateMessages => Some(Reason::PrivateDisabled),
            Code::QueueFull => Some(Reason::QueueFull),
            Code::XmppError => Some(Reason::XmppError),
            Code::NotInChannel => None,
        }
    }
}

codes! {
    /// The marking could not be read or is not a valid label under the policy.
    InvalidLabel = "INVALID_LABEL";
    /// The room accepts only the labels of its catalog.
    NotInCatalog = "LABEL_NOT_IN_CATALOG";
    /// The sender's clearance does not dominate the label.
    NotCleared = "CLEARANCE";
    /// The room's clearance does not dominate the label.
    RoomClearance = "ROOM_CLEARANCE";
    /// The room's mapping does not allow private messages.
    NoPrivateMessages = "PRIVATE_MESSAGES_DISABLED";
    /// The user is not in that channel.
    NotInChannel = "NOT_IN_CHANNEL";
    /// Too many messages are already held while the session reconnects.
    QueueFull = "QUEUE_FULL";
    /// The XMPP side failed to take the message.
    XmppError = "XMPP_ERROR";
}

struct Room {
    channel: String,
    mapping: Arc<Mapping>,
    nick: String,
    /// Occupants under their IRC nicks.
    nicks: RoomNicks,
    /// Joined and not being rejoined: messages can go out now.
    ready: bool,
}

/// An authorized message on its way out (or held until its room is ready again).
struct Outgoing {
    /// The IRC command it came in (for a refusal's standard reply).
    command: String,
    /// The IRC target it was typed to.
    target: String,
    room: BareJid,
    /// A private message's occupant.
    nick: Option<String>,
    echo: bool,
    auth: Authorized,
}

/// A message to a room with the two grants it needs; the only way to get one is
/// [`Pairing::authorize`], and sending takes one.
struct Authorized {
    message: OutgoingMessage,
    _sender: Granted,
    _room: Granted,
}

impl Authorized {
    fn message(&self) -> &OutgoingMessage {
        &self.message
    }
}

struct Pairing {
    /// Policies, mappings and users as of the last reload this pairing applied.
    now: Arc<State>,
    user: RegisteredUser,
    /// The user's clearance now (a reload may change it).
    clearance: Clearance,
    jid: String,
    out: mpsc::Sender<Delivery>,
    session: Option<Session>,
    rooms: HashMap<BareJid, Room>,
    by_channel: HashMap<String, BareJid>,
    /// origin-ids of our own messages whose room reflection is still to come.
    sent: SentLog,
    /// The XMPP stream is up (false between a drop and its resumption or reset).
    connected: bool,
    /// Messages typed while their room was not ready, in order (at most [`HELD_LIMIT`]).
    held: VecDeque<Outgoing>,
}

async fn start_session(
    inner: &Inner,
    user: &RegisteredUser,
) -> Result<(Session, mpsc::Receiver<XmppEvent>), String> {
    let (endpoint, mode) = match &inner.identity {
        super::Identity::TrustedGateway(ep) => (ep.clone(), IdentityMode::TrustedGateway),
        super::Identity::PerUser {
            template,
            ca_file,
            dir,
        } => {
            let cert = dir.join(format!("{}.crt", user.account));
            let key = dir.join(format!("{}.key", user.account));
            let config = tls::client_config_from_files(ca_file, Some((&cert, &key)))
                .map_err(|e| e.to_string())?;
            let mut ep = (**template).clone();
            ep.tls = config;
            (Arc::new(ep), IdentityMode::PerUser)
        }
    };
    Session::start(SessionConfig::new(endpoint, user.jid.clone(), mode))
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    user: RegisteredUser,
    out: mpsc::Sender<Delivery>,
    mut requests: mpsc::Receiver<Request>,
) {
    let (session, mut events) = match start_session(&inner, &user).await {
        Ok((s, e)) => (Some(s), Some(e)),
        Err(e) => {
            let _ = out
                .send(Delivery::ServerNotice {
                    text: format!(
                        "Your XMPP session could not start: {e}. Channels are unavailable."
                    ),
                })
                .await;
            (None, None)
        }
    };
    let mut state = inner.state.subscribe();
    let now = state.borrow_and_update().clone();
    let mut p = Pairing {
        now,
        clearance: user.clearance.clone(),
        jid: user.jid.to_string(),
        user,
        out,
        session,
        rooms: HashMap::new(),
        by_channel: HashMap::new(),
        sent: SentLog::default(),
        connected: true,
        held: VecDeque::new(),
    };
    if p.session.is_some() {
        METRICS.sessions(1, 0);
    }
    // A reload that happened while the session started applies before anything else.
    let latest = state.borrow_and_update().clone();
    p.reloaded(latest).await;
    loop {
        tokio::select! {
            // A reload is applied before the next message in either direction.
            biased;
            Ok(()) = state.changed() => {
                let now = state.borrow_and_update().clone();
                p.reloaded(now).await;
            }
            r = requests.recv() => match r {
                None | Some(Request::Quit { .. }) => break,
                Some(r) => p.request(r).await,
            },
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
    }
    if let Some(s) = &p.session {
        s.close().await;
    }
    p.session_ended();
    // The user has gone: what they left held goes nowhere.
    METRICS.held(-(p.held.len() as i64));
}

/// An occupant of `room` shown under the IRC nick `irc`.
fn occupant_as(room: &BareJid, irc: String) -> Source {
    Source {
        nick: irc,
        user: "xmpp".into(),
        host: room.domain().to_string(),
        account: None,
    }
}

/// A channel member for an occupant: moderators are operators (`@`), participants have voice
/// (`+`, XEP-0045's own word for the role), visitors neither.
fn member(source: Source, role: Role) -> Member {
    Member {
        source,
        op: role == Role::Moderator,
        voice: role == Role::Participant,
    }
}

impl Pairing {
    async fn deliver(&self, d: Delivery) {
        let _ = self.out.send(d).await;
    }

    async fn notice(&self, text: String) {
        self.deliver(Delivery::ServerNotice { text }).await;
    }

    fn ctx<'a>(&'a self, direction: Direction, room: &'a str) -> Context<'a> {
        Context {
            direction: Some(direction),
            account: &self.user.account,
            jid: &self.jid,
            room,
            ..Default::default()
        }
    }

    /// How an occupant of `room` (by room nick) appears on IRC.
    fn occupant_source(&self, room: &BareJid, nick: &str) -> Source {
        let irc = match self.rooms.get(room) {
            Some(r) => r.nicks.irc(nick),
            None => RoomNicks::new(&self.user.nick).irc(nick),
        };
        occupant_as(room, irc)
    }

    fn self_source(&self) -> Source {
        Source {
            nick: self.user.nick.clone(),
            user: self.user.user.clone(),
            host: self.user.host.clone(),
            account: Some(self.user.account.clone()),
        }
    }

    /// Applies a reload: the new clearance at once, channels whose mapping is gone or whose
    /// default label the user may no longer see are parted with a reason, and a removed
    /// account is disconnected.
    async fn reloaded(&mut self, now: Arc<State>) {
        if Arc::ptr_eq(&self.now, &now) {
            return;
        }
        self.now = now;
        if let Some(users) = self.now.users.clone() {
            match users.get(&self.user.account) {
                None => {
                    self.leave_all("your account was removed").await;
                    self.deliver(Delivery::Disconnect {
                        reason: "Your account was removed from the gateway".into(),
                    })
                    .await;
                    return;
                }
                Some(u) if u.clearance != self.clearance => {
                    self.clearance = u.clearance.clone();
                    // Held messages were authorized under the old clearance.
                    self.refuse_all_held("your clearance changed while it waited")
                        .await;
                    self.notice(format!("Your clearance is now {}.", u.clearance_text))
                        .await;
                }
                Some(_) => {}
            }
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
                Some(m) => {
                    let room_text = room.to_string();
                    let ctx = self.ctx(Direction::Join, &room_text);
                    match self
                        .now
                        .gate
                        .decide(&ctx, &self.clearance, &m.default_label)
                    {
                        Err(d) => Some(format!(
                            "your clearance no longer covers the room's default label ({d})"
                        )),
                        Ok(_) => {
                            if let Some(r) = self.rooms.get_mut(&room) {
                                r.mapping = Arc::new(m.clone());
                            }
                            None
                        }
                    }
                }
            };
            if let Some(why) = why {
                self.leave(&room, why).await;
            }
        }
    }

    /// Leaves a room the gateway's rules no longer allow, telling the user why.
    async fn leave(&mut self, room: &BareJid, why: String) {
        let reason = Some(format!("labelgate: {why}"));
        self.part(room, &why, Some(Some(&why)), reason).await;
    }

    /// The room let us go (kicked, destroyed, rejoin refused): the user parts the channel.
    async fn part_self(&mut self, room: &BareJid, reason: String) {
        self.part(room, &reason, None, Some(reason.clone())).await;
    }

    /// Takes the user out of `room`'s channel: messages held for it are refused (`held_why`),
    /// the room is left with `leave`'s status (`None`: it has let us go already), and the IRC
    /// side gets a PART with `reason`.
    async fn part(
        &mut self,
        room: &BareJid,
        held_why: &str,
        leave: Option<Option<&str>>,
        reason: Option<String>,
    ) {
        let Some(r) = self.rooms.remove(room) else {
            return;
        };
        self.by_channel.remove(&names::fold(&r.channel));
        self.refuse_held(room, held_why).await;
        if let (Some(status), Some(s)) = (leave, &self.session) {
            s.leave(room, status).await;
        }
        let who = self.self_source();
        self.deliver(Delivery::Part {
            channel: r.channel,
            who,
            reason,
        })
        .await;
    }

    async fn leave_all(&mut self, why: &str) {
        let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
        for room in rooms {
            self.leave(&room, why.to_owned()).await;
        }
    }

    async fn request(&mut self, r: Request) {
        match r {
            Request::Join { channel } => self.join(channel).await,
            Request::Part { channel, reason } => {
                if let Some(room) = self.by_channel.get(&names::fold(&channel)).cloned() {
                    let status = reason.clone();
                    self.part(
                        &room,
                        "you left the channel",
                        Some(status.as_deref()),
                        reason,
                    )
                    .await;
                }
            }
            Request::Message {
                notice,
                target,
                text,
                echo,
                ..
            } => {
                // NOTICE and PRIVMSG both become chat messages.
                let command = if notice { "NOTICE" } else { "PRIVMSG" };
                if target.starts_with('#') {
                    self.send_to_room(command, &target, &text, echo).await;
                } else {
                    self.send_private(command, &target, &text).await;
                }
            }
            Request::Topic { channel, topic } => {
                let room = self.by_channel.get(&names::fold(&channel)).cloned();
                if let (Some(room), Some(t), Some(s)) = (room, topic, &self.session)
                    && let Err(e) = s.set_subject(&room, &t).await
                {
                    self.notice(format!("The topic of {channel} was not changed: {e}"))
                        .await;
                }
            }
            Request::List => {
                let mappings = self.now.mappings.clone();
                let mut entries = Vec::new();
                // Only the channels the user could join.
                for m in mappings.iter() {
                    if self
                        .now
                        .gate
                        .policies()
                        .check(&self.clearance, &m.default_label)
                        .is_ok()
                    {
                        entries.push((m.channel.clone(), 0, m.room.to_string()));
                    }
                }
                entries.sort();
                self.deliver(Delivery::List { entries }).await;
            }
            Request::Nick { nick } => {
                // The IRC side has changed the nick already; the rooms follow.
                self.user.nick = nick.clone();
                let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
                for room in rooms {
                    if let Some(r) = self.rooms.get_mut(&room) {
                        r.nicks.set_own(&nick);
                    }
                    if let Some(s) = &self.session
                        && let Err(e) = s.change_nick(&room, &nick).await
                    {
                        let channel = self.rooms.get(&room).map(|r| r.channel.clone());
                        self.notice(format!(
                            "[{}] Your nick in the room was not changed: {e}",
                            channel.unwrap_or_default()
                        ))
                        .await;
                    }
                }
            }
            Request::Away { .. } | Request::Quit { .. } => {}
        }
    }

    async fn join(&mut self, channel: String) {
        let mappings = self.now.mappings.clone();
        let Some(mapping) = mappings.get(&channel).cloned() else {
            self.deliver(Delivery::JoinRefused {
                channel,
                reason: JoinRefusal::NoSuchChannel("No room is mapped to this channel".into()),
            })
            .await;
            return;
        };
        let room_text = mapping.room.to_string();
        let ctx = self.ctx(Direction::Join, &room_text);
        if let Err(why) = self
            .now
            .gate
            .decide(&ctx, &self.clearance, &mapping.default_label)
            .map(drop)
        {
            self.deliver(Delivery::JoinRefused {
                channel,
                reason: JoinRefusal::NotCleared(format!(
                    "your clearance does not cover the room's default label ({why})"
                )),
            })
            .await;
            return;
        }
        let Some(session) = &self.session else {
            self.deliver(Delivery::JoinRefused {
                channel,
                reason: JoinRefusal::Other("Your XMPP session is not available".into()),
            })
            .await;
            return;
        };
        let history = History {
            max_stanzas: Some(mapping.history),
            since: None,
        };
        match session.join(&mapping.room, &self.user.nick, history).await {
            Err(e) => {
                self.deliver(Delivery::JoinRefused {
                    channel,
                    reason: JoinRefusal::Other(format!("The XMPP room refused the join: {e}")),
                })
                .await;
            }
            Ok(joined) => {
                let room = mapping.room.clone();
                let mut nicks = RoomNicks::new(&self.user.nick);
                // In a stable order, so the same room gives the same nicks.
                let mut present: Vec<_> = joined.occupants.values().collect();
                present.sort_by(|a, b| a.nick.cmp(&b.nick));
                let members = present
                    .into_iter()
                    .map(|o| {
                        let source = if o.nick == joined.nick {
                            self.self_source()
                        } else {
                            occupant_as(&room, nicks.add(&o.nick))
                        };
                        member(source, o.role)
                    })
                    .collect();
                self.by_channel.insert(names::fold(&channel), room.clone());
                self.rooms.insert(
                    room,
                    Room {
                        channel: mapping.channel.clone(),
                        nick: joined.nick,
                        mapping: Arc::new(mapping),
                        nicks,
                        ready: true,
                    },
                );
                self.deliver(Delivery::Joined {
                    channel,
                    topic: None,
                    members,
                })
                .await;
            }
        }
    }

    /// IRC → XMPP to a channel's room.
    async fn send_to_room(&mut self, command: &str, channel: &str, text: &str, echo: bool) {
        let Some(room) = self.by_channel.get(&names::fold(channel)).cloned() else {
            self.fail(
                command,
                Code::NotInChannel,
                channel,
                "you are not in this channel".into(),
            )
            .await;
            return;
        };
        self.send_typed(command, channel, room, None, text, echo)
            .await;
    }

    /// IRC → XMPP private message to a room occupant (within the room's rules).
    async fn send_private(&mut self, command: &str, target: &str, text: &str) {
        let key = names::fold(target);
        let found = self
            .rooms
            .iter()
            .find_map(|(j, r)| r.nicks.room_nick(&key).map(|n| (j.clone(), n.to_owned())));
        let Some((room, room_nick)) = found else {
            self.deliver(Delivery::NoSuchTarget {
                target: target.to_owned(),
            })
            .await;
            return;
        };
        self.send_typed(command, target, room, Some(room_nick), text, false)
            .await;
    }

    /// A typed line to a room (or, with `nick`, to one occupant): its label read, both grants
    /// obtained, then sent — or held while the room is being rejoined — or refused with a
    /// standard reply naming the rule.
    async fn send_typed(
        &mut self,
        command: &str,
        target: &str,
        room: BareJid,
        nick: Option<String>,
        text: &str,
        echo: bool,
    ) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let mapping = r.mapping.clone();
        if nick.is_some() && !mapping.private_messages {
            let why = format!("private messages are not allowed in {}", mapping.channel);
            self.fail(command, Code::NoPrivateMessages, target, why)
                .await;
            return;
        }
        let room_text = room.to_string();
        let id = origin_id();
        let direction = if nick.is_some() {
            Direction::Private
        } else {
            Direction::IrcToXmpp
        };
        let mut ctx = self.ctx(direction, &room_text);
        ctx.origin_id = Some(&id);
        let (label, rest) = match self.typed_label(&mapping, text, &ctx) {
            Ok(x) => x,
            Err((code, why)) => {
                self.fail(command, code, target, why).await;
                return;
            }
        };
        ctx.body = Some(rest);
        let auth = match self.authorize(&ctx, &mapping, label, rest, id.clone()) {
            Ok(a) => a,
            Err((code, why)) => {
                self.fail(command, code, target, why).await;
                return;
            }
        };
        let out = Outgoing {
            command: command.to_owned(),
            target: target.to_owned(),
            room,
            nick,
            echo,
            auth,
        };
        if self.ready(&out.room) {
            self.transmit(out).await;
        } else if self.held.len() < HELD_LIMIT {
            METRICS.held(1);
            self.held.push_back(out);
        } else {
            let why = format!(
                "the XMPP connection is being re-established and {HELD_LIMIT} messages are \
                 already waiting; send it again shortly"
            );
            self.fail(command, Code::QueueFull, target, why).await;
        }
    }

    /// The XMPP session is over (closed by us or for good by the library).
    fn session_ended(&mut self) {
        if self.session.take().is_some() {
            if self.connected {
                METRICS.sessions(-1, 0);
            } else {
                METRICS.sessions(0, -1);
            }
        }
    }

    /// Records the stream going down or coming back (for the sessions-by-state gauge).
    fn set_connected(&mut self, up: bool) {
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
    fn ready(&self, room: &BareJid) -> bool {
        self.connected && self.rooms.get(room).is_some_and(|r| r.ready)
    }

    /// Hands an authorized message to the XMPP session.
    async fn transmit(&mut self, out: Outgoing) {
        let Some(session) = &self.session else {
            let why = "your XMPP session is not available".to_owned();
            self.fail(&out.command, Code::XmppError, &out.target, why)
                .await;
            return;
        };
        let id = out.auth.message().origin_id.clone();
        let sent = match &out.nick {
            None => session.send_groupchat(&out.room, out.auth.message()).await,
            Some(n) => session.send_private(&out.room, n, out.auth.message()).await,
        };
        match sent {
            Ok(()) => {
                METRICS.relayed(if out.nick.is_some() {
                    Way::Private
                } else {
                    Way::IrcToXmpp
                });
                let record = Sent::new(&out.target, &out.auth.message().body, out.echo);
                self.sent.insert(id, record);
            }
            Err(e) => {
                self.fail(&out.command, Code::XmppError, &out.target, e.to_string())
                    .await
            }
        }
    }

    /// Sends the held messages whose rooms are ready again, in the order they were typed.
    async fn flush_held(&mut self) {
        let mut keep = VecDeque::new();
        while let Some(out) = self.held.pop_front() {
            if self.ready(&out.room) {
                METRICS.held(-1);
                self.transmit(out).await;
            } else {
                keep.push_back(out);
            }
        }
        self.held = keep;
    }

    /// Refuses the held messages for `room` (it could not be rejoined, or was left).
    async fn refuse_held(&mut self, room: &BareJid, why: &str) {
        let (refused, keep): (VecDeque<Outgoing>, VecDeque<Outgoing>) =
            std::mem::take(&mut self.held)
                .into_iter()
                .partition(|o| &o.room == room);
        self.held = keep;
        METRICS.held(-(refused.len() as i64));
        for o in refused {
            self.fail(&o.command, Code::XmppError, &o.target, why.to_owned())
                .await;
        }
    }

    /// Refuses every held message.
    async fn refuse_all_held(&mut self, why: &str) {
        let rooms: HashSet<BareJid> = self.held.iter().map(|o| o.room.clone()).collect();
        for room in rooms {
            self.refuse_held(&room, why).await;
        }
    }

    /// A standard reply refusing a typed line (a NOTICE for clients without standard-replies).
    async fn fail(&self, command: &str, code: Code, target: &str, why: String) {
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

    /// Both grants a message to a room needs — the sender's clearance and the room's — and the
    /// message built with the label; or why not (audited by the gate).
    fn authorize(
        &self,
        ctx: &Context<'_>,
        mapping: &Mapping,
        label: Label,
        rest: &str,
        id: String,
    ) -> Result<Authorized, (Code, String)> {
        let sender = self
            .now
            .gate
            .decide(ctx, &self.clearance, &label)
            .map_err(|d| {
                let why = format!("your clearance does not cover this label ({d})");
                (Code::NotCleared, why)
            })?;
        let room_ctx = Context {
            account: "(room clearance)",
            ..ctx.clone()
        };
        let room = self
            .now
            .gate
            .decide(&room_ctx, &mapping.clearance, &label)
            .map_err(|d| {
                let why = format!("the room does not allow this label ({d})");
                (Code::RoomClearance, why)
            })?;
        let display = self
            .now
            .gate
            .policies()
            .primary()
            .display_marking(&label)
            .map_err(|e| (Code::InvalidLabel, e.to_string()))?;
        let body = if mapping.flot_in_body {
            format!("{}{rest}", mapping.flot.prefix(&display.text))
        } else {
            rest.to_owned()
        };
        Ok(Authorized {
            message: OutgoingMessage {
                body,
                label: Some(SecurityLabel {
                    display: Some(display),
                    label: LabelPayload::Ess(label),
                    equivalents: vec![],
                }),
                origin_id: id,
            },
            _sender: sender,
            _room: room,
        })
    }

    /// The label a typed line asks for under a mapping (FLOT or the default), validated and
    /// allowed by the catalog; or why not (already audited).
    fn typed_label<'t>(
        &self,
        mapping: &Mapping,
        text: &'t str,
        ctx: &Context<'_>,
    ) -> Result<(Label, &'t str), (Code, String)> {
        let policy = self.now.gate.policies().primary();
        let invalid = |why: String| (Code::InvalidLabel, self.now.gate.refuse(ctx, &why));
        let parsed = mapping
            .flot
            .parse(text)
            .map_err(|e| invalid(e.to_string()))?;
        let label = match parsed.marking {
            None => mapping.default_label.clone(),
            Some(m) => policy
                .parse_marking(m)
                .map_err(|e| e.to_string())
                .and_then(|l| policy.validate(&l).map(|()| l).map_err(|e| e.to_string()))
                .map_err(|e| invalid(format!("the marking [{m}] is not a valid label: {e}")))?,
        };
        if mapping.restrict_to_catalog && !mapping.catalog.contains(&label) {
            let why = "the room allows only the labels of its catalog";
            return Err((Code::NotInCatalog, self.now.gate.refuse(ctx, why)));
        }
        Ok((label, parsed.text))
    }

    /// XMPP → IRC private message from a room occupant.
    async fn private(&mut self, room: BareJid, nick: String, m: ReceivedMessage) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let mapping = r.mapping.clone();
        let Some(body) = m.body.clone() else { return };
        let room_text = room.to_string();
        let mut ctx = self.ctx(Direction::Private, &room_text);
        ctx.origin_id = m.origin_id.as_deref();
        ctx.body = Some(&body);
        if !mapping.private_messages {
            METRICS.withheld(Way::Private, Reason::PrivateDisabled);
            let _ = self
                .now
                .gate
                .refuse(&ctx, "private messages are not allowed in this room");
            return;
        }
        let label = match self.received_label(&mapping, &m) {
            Ok(l) => l,
            Err(why) => {
                METRICS.withheld(Way::Private, Reason::InvalidLabel);
                let _ = self.now.gate.refuse(&ctx, &why);
                return;
            }
        };
        // Within the room's clearance, and the receiver's.
        let room_ctx = Context {
            account: "(room clearance)",
            ..ctx.clone()
        };
        if self
            .now
            .gate
            .decide(&room_ctx, &mapping.clearance, &label)
            .is_err()
        {
            METRICS.withheld(Way::Private, Reason::RoomClearance);
            return;
        }
        let Ok(granted) = self.now.gate.decide(&ctx, &self.clearance, &label) else {
            METRICS.withheld(Way::Private, Reason::Clearance);
            return;
        };
        METRICS.relayed(Way::Private);
        let from = self.occupant_source(&room, &nick);
        let me = self.user.nick.clone();
        self.deliver_lines(granted, &mapping, &me, from, &label, &body, m.delay.clone())
            .await;
    }

    /// The label of a received room message, or why there is none usable.
    fn received_label(&self, mapping: &Mapping, m: &ReceivedMessage) -> Result<Label, String> {
        let policies = self.now.gate.policies();
        match &m.label {
            None => Ok(mapping.default_label.clone()),
            Some(Err(e)) => Err(format!("unreadable security label: {e}")),
            Some(Ok(sl)) => {
                let read = |p: &LabelPayload| -> Result<Label, String> {
                    match p {
                        LabelPayload::Default => Ok(mapping.default_label.clone()),
                        LabelPayload::Ess(l) => Ok(l.clone()),
                        LabelPayload::Other(el) => {
                            nato::from_element(policies.primary(), el).map_err(|e| e.to_string())
                        }
                    }
                };
                let primary = read(&sl.label);
                let known =
                    |l: &Label| l.policy.as_ref().is_some_and(|p| policies.get(p).is_some());
                match primary {
                    Ok(l) if known(&l) => Ok(l),
                    other => sl
                        .equivalents
                        .iter()
                        .filter_map(|e| read(e).ok())
                        .find(known)
                        .ok_or_else(|| match other {
                            Ok(_) => "the label's policy is not known here".to_owned(),
                            Err(e) => e,
                        }),
                }
            }
        }
    }

    async fn event(&mut self, e: XmppEvent) {
        match e {
            XmppEvent::Groupchat {
                room,
                nick,
                message,
            } => self.groupchat(room, nick, *message).await,
            XmppEvent::OccupantJoined { room, occupant } => {
                let joined = match self.rooms.get_mut(&room) {
                    Some(r) if occupant.nick != r.nick => {
                        Some((r.channel.clone(), r.nicks.add(&occupant.nick)))
                    }
                    _ => None,
                };
                if let Some((channel, irc)) = joined {
                    let who = member(occupant_as(&room, irc), occupant.role);
                    self.deliver(Delivery::Join { channel, who }).await;
                }
            }
            XmppEvent::OccupantLeft {
                room,
                nick,
                codes,
                reason,
            } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    let channel = r.channel.clone();
                    let irc = r.nicks.remove(&nick).unwrap_or_else(|| r.nicks.irc(&nick));
                    if codes.contains(&307) || codes.contains(&301) {
                        let by = Source {
                            nick: "room".into(),
                            user: "xmpp".into(),
                            host: room.domain().to_string(),
                            account: None,
                        };
                        self.deliver(Delivery::Kick {
                            channel,
                            by,
                            nick: irc,
                            reason,
                        })
                        .await;
                    } else {
                        let who = occupant_as(&room, irc);
                        self.deliver(Delivery::Part {
                            channel,
                            who,
                            reason,
                        })
                        .await;
                    }
                }
            }
            XmppEvent::NickChanged { room, old, new } => {
                if let Some(r) = self.rooms.get_mut(&room)
                    && old == r.nick
                {
                    // Our own change (the IRC side has shown it already).
                    r.nick = new;
                } else if let Some(r) = self.rooms.get_mut(&room) {
                    let old_irc = r.nicks.remove(&old).unwrap_or_else(|| r.nicks.irc(&old));
                    let new_irc = r.nicks.add(&new);
                    if old_irc != new_irc {
                        let who = occupant_as(&room, old_irc);
                        self.deliver(Delivery::Nick { who, new: new_irc }).await;
                    }
                }
            }
            XmppEvent::RemovedFromRoom { room, reason, .. } => {
                let reason = reason.unwrap_or_else(|| "removed from the XMPP room".into());
                self.part_self(&room, reason).await;
            }
            XmppEvent::Subject {
                room,
                nick,
                subject,
            } => {
                if let Some(r) = self.rooms.get(&room) {
                    let by = nick.map(|n| self.occupant_source(&room, &n));
                    self.deliver(Delivery::Topic {
                        channel: r.channel.clone(),
                        topic: subject,
                        by,
                    })
                    .await;
                }
            }
            XmppEvent::Private {
                room,
                nick,
                message,
            } => self.private(room, nick, *message).await,
            XmppEvent::ReconnectFailed { error, retry_in } => {
                self.notice(format!(
                    "XMPP connection lost ({error}); retrying in {} s.",
                    retry_in.as_secs()
                ))
                .await;
            }
            XmppEvent::Reset { .. } => {
                // A new stream: every room is being rejoined; messages wait for it.
                self.set_connected(true);
                METRICS.reconnected();
                for r in self.rooms.values_mut() {
                    r.ready = false;
                }
                self.notice("XMPP connection re-established; rejoining rooms.".into())
                    .await
            }
            XmppEvent::Rejoined { room, occupants } => {
                // Occupants still present keep their IRC nicks; the IRC side hears who left
                // and who came while the stream was down.
                let mut changes = Vec::new();
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.ready = true;
                    let own = r.nick.clone();
                    for gone in r.nicks.retain(|n| occupants.contains_key(n)) {
                        changes.push(Delivery::Part {
                            channel: r.channel.clone(),
                            who: occupant_as(&room, gone),
                            reason: Some("left while the gateway was reconnecting".into()),
                        });
                    }
                    let mut new: Vec<_> = occupants
                        .values()
                        .filter(|o| o.nick != own && !r.nicks.has(&o.nick))
                        .collect();
                    new.sort_by(|a, b| a.nick.cmp(&b.nick));
                    for o in new {
                        changes.push(Delivery::Join {
                            channel: r.channel.clone(),
                            who: member(occupant_as(&room, r.nicks.add(&o.nick)), o.role),
                        });
                    }
                }
                for d in changes {
                    self.deliver(d).await;
                }
                self.flush_held().await;
            }
            XmppEvent::RejoinFailed { room, error } => {
                self.part_self(&room, format!("could not rejoin: {error}"))
                    .await;
            }
            XmppEvent::Suspended => self.set_connected(false),
            XmppEvent::Resumed => {
                self.set_connected(true);
                METRICS.reconnected();
                self.flush_held().await;
            }
            XmppEvent::NickRefused { room, nick, error } => {
                if let Some(r) = self.rooms.get(&room) {
                    let text = format!(
                        "[{}] The room refused the nick {nick} ({error}); you appear there as {}.",
                        r.channel, r.nick
                    );
                    self.notice(text).await;
                }
            }
            XmppEvent::Unconfirmed {
                to,
                origin_id,
                body,
            } => {
                let sent = self.sent.take(&origin_id).unwrap_or_else(|| {
                    let room = to.to_bare();
                    let target = match (self.rooms.get(&room), to.resource()) {
                        (Some(r), None) => r.channel.clone(),
                        (Some(r), Some(nick)) => r.nicks.irc(nick.as_str()),
                        (None, _) => room.to_string(),
                    };
                    Sent::new(&target, &body, false)
                });
                self.notice(format!(
                    "[{}] Not confirmed: \"{}\" may not have arrived: the XMPP connection \
                     dropped before the server acknowledged it. Send it again if it does not \
                     appear.",
                    sent.target, sent.snippet
                ))
                .await;
            }
            XmppEvent::MessageError { id, error, .. } => {
                let why = error
                    .map(|e| e.text.unwrap_or(e.condition))
                    .unwrap_or_else(|| "unknown error".into());
                match id.and_then(|id| self.sent.take(&id)) {
                    Some(sent) => {
                        self.notice(format!(
                            "[{}] Not delivered: \"{}\" was bounced by the XMPP server: {why}",
                            sent.target, sent.snippet
                        ))
                        .await
                    }
                    None => {
                        self.notice(format!("A message was bounced by the XMPP server: {why}"))
                            .await
                    }
                }
            }
            XmppEvent::Direct { .. } | XmppEvent::Closed => {}
        }
    }

    async fn groupchat(&mut self, room: BareJid, nick: Option<String>, m: ReceivedMessage) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let Some(nick) = nick else { return };
        let Some(body) = m.body.clone() else { return };
        let own = nick == r.nick;
        if own
            && let Some(id) = &m.origin_id
            && let Some(sent) = self.sent.take(id)
            && !sent.echo
        {
            return; // our own reflection, not asked to echo
        }
        let mapping = r.mapping.clone();
        let channel = r.channel.clone();
        let room_text = room.to_string();
        let (direction, way) = if m.delay.is_some() {
            (Direction::History, Way::History)
        } else {
            (Direction::XmppToIrc, Way::XmppToIrc)
        };
        let mut ctx = self.ctx(direction, &room_text);
        ctx.origin_id = m.origin_id.as_deref();
        ctx.stanza_id = m.stanza_id.as_deref();
        ctx.body = Some(&body);
        let label = match self.received_label(&mapping, &m) {
            Ok(l) => l,
            Err(why) => {
                // Withheld without a word to the user; audited.
                METRICS.withheld(way, Reason::InvalidLabel);
                let _ = self.now.gate.refuse(&ctx, &why);
                return;
            }
        };
        let Ok(granted) = self.now.gate.decide(&ctx, &self.clearance, &label) else {
            METRICS.withheld(way, Reason::Clearance);
            return; // withheld, audited by the gate
        };
        METRICS.relayed(way);
        let from = if own {
            self.self_source()
        } else {
            self.occupant_source(&room, &nick)
        };
        self.deliver_lines(
            granted,
            &mapping,
            &channel,
            from,
            &label,
            &body,
            m.delay.clone(),
        )
        .await;
    }

    /// Delivers a granted message: the real label's marking in front of every line.
    #[allow(clippy::too_many_arguments)]
    async fn deliver_lines(
        &self,
        _proof: Granted,
        mapping: &Mapping,
        channel: &str,
        from: Source,
        label: &Label,
        body: &str,
        time: Option<String>,
    ) {
        let policies = self.now.gate.policies();
        let marking = label
            .policy
            .as_ref()
            .and_then(|p| policies.get(p))
            .and_then(|p| p.render_marking(label).ok())
            .unwrap_or_else(|| "UNKNOWN".into());
        let prefix = mapping.flot.prefix(&marking);
        // A body that starts with this very marking (the sender's FLOT copy) is not doubled.
        let body = body.strip_prefix(prefix.as_str()).unwrap_or(body);
        for line in mapping.flot.split(&prefix, body, LINE_BUDGET) {
            self.deliver(Delivery::Message {
                from: from.clone(),
                target: channel.to_owned(),
                text: line,
                notice: false,
                tags: vec![(MARKING_TAG.into(), Some(marking.clone()))],
                time: time.clone(),
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_standard_reply_codes() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{s}"
            );
        }
    }
}
