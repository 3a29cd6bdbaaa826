//! One IRC user paired with their XMPP session: requests from IRC go to rooms, events from
//! rooms come back to IRC, each message through the audited gate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::mpsc;

use super::Inner;
use super::nick::irc_nick;
use crate::audit::{Context, Direction};
use crate::config::mappings::Mapping;
use crate::irc::backend::{Delivery, JoinRefusal, Member, RegisteredUser, Request, Source};
use crate::irc::proto::names;
use crate::label::xep0258::{LabelPayload, SecurityLabel};
use crate::label::{Granted, Label, nato};
use crate::xmpp::muc::{History, OutgoingMessage, ReceivedMessage, Role};
use crate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent, origin_id};
use crate::xmpp::tls;

/// The vendor tag carrying the marking, for clients that negotiated message-tags.
pub const MARKING_TAG: &str = "labelgate/marking";
/// Bytes of text per IRC line (prefix included), leaving room for the source and command.
const LINE_BUDGET: usize = 400;

struct Room {
    channel: String,
    mapping: Mapping,
    nick: String,
    /// Occupants: folded IRC nick → room nick (for private messages).
    occupants: HashMap<String, String>,
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
    inner: Arc<Inner>,
    user: RegisteredUser,
    jid: String,
    out: mpsc::Sender<Delivery>,
    session: Option<Session>,
    rooms: HashMap<BareJid, Room>,
    by_channel: HashMap<String, BareJid>,
    /// origin-ids of our own messages whose room reflection is still to come.
    sent: HashSet<String>,
    /// Of those, the ones the client wants echoed.
    echo: HashSet<String>,
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
    let mut p = Pairing {
        inner,
        jid: user.jid.to_string(),
        user,
        out,
        session,
        rooms: HashMap::new(),
        by_channel: HashMap::new(),
        sent: HashSet::new(),
        echo: HashSet::new(),
    };
    loop {
        tokio::select! {
            r = requests.recv() => match r {
                None | Some(Request::Quit { .. }) => break,
                Some(r) => p.request(r).await,
            },
            e = async { match events.as_mut() { Some(ev) => ev.recv().await, None => std::future::pending().await } } => match e {
                Some(XmppEvent::Closed) | None => {
                    p.notice("Your XMPP session has ended.".into()).await;
                    events = None;
                }
                Some(e) => p.event(e).await,
            },
        }
    }
    if let Some(s) = &p.session {
        s.close().await;
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

    fn occupant_source(&self, room: &BareJid, nick: &str) -> Source {
        Source {
            nick: irc_nick(nick),
            user: "xmpp".into(),
            host: room.domain().to_string(),
            account: None,
        }
    }

    fn self_source(&self) -> Source {
        Source {
            nick: self.user.nick.clone(),
            user: self.user.user.clone(),
            host: self.user.host.clone(),
            account: Some(self.user.account.clone()),
        }
    }

    async fn request(&mut self, r: Request) {
        match r {
            Request::Join { channel } => self.join(channel).await,
            Request::Part { channel, reason } => {
                if let Some(room) = self.by_channel.remove(&names::fold(&channel)) {
                    self.rooms.remove(&room);
                    if let Some(s) = &self.session {
                        s.leave(&room, reason.as_deref()).await;
                    }
                    let who = self.self_source();
                    self.deliver(Delivery::Part {
                        channel,
                        who,
                        reason,
                    })
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
                if target.starts_with('#') {
                    self.send_to_room(&target, &text, notice, echo).await;
                } else {
                    self.send_private(&target, &text).await;
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
                let mappings = self.inner.mappings();
                let mut entries = Vec::new();
                // Only the channels the user could join.
                for m in mappings.iter() {
                    if self
                        .inner
                        .gate
                        .policies()
                        .check(&self.user.clearance, &m.default_label)
                        .is_ok()
                    {
                        entries.push((m.channel.clone(), 0, m.room.to_string()));
                    }
                }
                entries.sort();
                self.deliver(Delivery::List { entries }).await;
            }
            Request::Away { .. } | Request::Nick { .. } | Request::Quit { .. } => {}
        }
    }

    async fn join(&mut self, channel: String) {
        let mappings = self.inner.mappings();
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
            .inner
            .gate
            .decide(&ctx, &self.user.clearance, &mapping.default_label)
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
                let members = joined
                    .occupants
                    .values()
                    .map(|o| Member {
                        source: if o.nick == joined.nick {
                            self.self_source()
                        } else {
                            self.occupant_source(&room, &o.nick)
                        },
                        op: o.role == Role::Moderator,
                        voice: false,
                    })
                    .collect();
                let occupants = joined
                    .occupants
                    .keys()
                    .filter(|n| **n != joined.nick)
                    .map(|n| (names::fold(&irc_nick(n)), n.clone()))
                    .collect();
                self.by_channel.insert(names::fold(&channel), room.clone());
                self.rooms.insert(
                    room,
                    Room {
                        channel: mapping.channel.clone(),
                        nick: joined.nick,
                        mapping,
                        occupants,
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

    async fn send_to_room(&mut self, channel: &str, text: &str, notice: bool, echo: bool) {
        let Some(room_jid) = self.by_channel.get(&names::fold(channel)).cloned() else {
            return;
        };
        let Some(room) = self.rooms.get(&room_jid) else {
            return;
        };
        let mapping = room.mapping.clone();
        let room_text = room_jid.to_string();
        let refuse = |why: String| format!("[{channel}] Not sent: {why}");
        let id = origin_id();
        let mut ctx = self.ctx(Direction::IrcToXmpp, &room_text);
        ctx.origin_id = Some(&id);
        let (label, rest) = match self.typed_label(&mapping, text, &ctx) {
            Ok(x) => x,
            Err(why) => {
                self.notice(refuse(why)).await;
                return;
            }
        };
        ctx.body = Some(rest);
        let _ = notice; // NOTICE and PRIVMSG both become groupchat messages.
        let auth = match self.authorize(&ctx, &mapping, label, rest, id.clone()) {
            Ok(a) => a,
            Err(why) => {
                self.notice(refuse(why)).await;
                return;
            }
        };
        let Some(session) = &self.session else { return };
        match session
            .send_groupchat(&room_jid, auth.message())
            .await
            .map_err(|e| e.to_string())
        {
            Ok(()) => {
                self.sent.insert(id.clone());
                if echo {
                    self.echo.insert(id);
                }
            }
            Err(e) => self.notice(refuse(e)).await,
        }
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
    ) -> Result<Authorized, String> {
        let sender = self
            .inner
            .gate
            .decide(ctx, &self.user.clearance, &label)
            .map_err(|d| format!("your clearance does not cover this label ({d})"))?;
        let room_ctx = Context {
            account: "(room clearance)",
            ..ctx.clone()
        };
        let room = self
            .inner
            .gate
            .decide(&room_ctx, &mapping.clearance, &label)
            .map_err(|d| format!("the room does not allow this label ({d})"))?;
        let display = self
            .inner
            .gate
            .policies()
            .primary()
            .display_marking(&label)
            .map_err(|e| e.to_string())?;
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
    ) -> Result<(Label, &'t str), String> {
        let policy = self.inner.gate.policies().primary();
        let parsed = mapping
            .flot
            .parse(text)
            .map_err(|e| self.inner.gate.refuse(ctx, &e.to_string()))?;
        let label = match parsed.marking {
            None => mapping.default_label.clone(),
            Some(m) => policy
                .parse_marking(m)
                .map_err(|e| e.to_string())
                .and_then(|l| policy.validate(&l).map(|()| l).map_err(|e| e.to_string()))
                .map_err(|e| {
                    self.inner
                        .gate
                        .refuse(ctx, &format!("the marking [{m}] is not a valid label: {e}"))
                })?,
        };
        if mapping.restrict_to_catalog && !mapping.catalog.contains(&label) {
            return Err(self
                .inner
                .gate
                .refuse(ctx, "the room allows only the labels of its catalog"));
        }
        Ok((label, parsed.text))
    }

    /// IRC → XMPP private message to a room occupant (within the room's rules).
    async fn send_private(&mut self, target: &str, text: &str) {
        let key = names::fold(target);
        let found = self
            .rooms
            .iter()
            .find(|(_, r)| r.occupants.contains_key(&key))
            .map(|(j, r)| (j.clone(), r.mapping.clone(), r.occupants[&key].clone()));
        let Some((room_jid, mapping, room_nick)) = found else {
            self.deliver(Delivery::NoSuchTarget {
                target: target.to_owned(),
            })
            .await;
            return;
        };
        let refuse = |why: String| format!("[{target}] Not sent: {why}");
        if !mapping.private_messages {
            self.notice(refuse(format!(
                "private messages are not allowed in {}",
                mapping.channel
            )))
            .await;
            return;
        }
        let room_text = room_jid.to_string();
        let id = origin_id();
        let mut ctx = self.ctx(Direction::Private, &room_text);
        ctx.origin_id = Some(&id);
        let (label, rest) = match self.typed_label(&mapping, text, &ctx) {
            Ok(x) => x,
            Err(why) => {
                self.notice(refuse(why)).await;
                return;
            }
        };
        ctx.body = Some(rest);
        let auth = match self.authorize(&ctx, &mapping, label, rest, id.clone()) {
            Ok(a) => a,
            Err(why) => {
                self.notice(refuse(why)).await;
                return;
            }
        };
        let Some(session) = &self.session else { return };
        if let Err(e) = session
            .send_private(&room_jid, &room_nick, auth.message())
            .await
        {
            self.notice(refuse(e.to_string())).await;
        }
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
            let _ = self
                .inner
                .gate
                .refuse(&ctx, "private messages are not allowed in this room");
            return;
        }
        let label = match self.received_label(&mapping, &m) {
            Ok(l) => l,
            Err(why) => {
                let _ = self.inner.gate.refuse(&ctx, &why);
                return;
            }
        };
        // Within the room's clearance, and the receiver's.
        let room_ctx = Context {
            account: "(room clearance)",
            ..ctx.clone()
        };
        if self
            .inner
            .gate
            .decide(&room_ctx, &mapping.clearance, &label)
            .is_err()
        {
            return;
        }
        let Ok(granted) = self.inner.gate.decide(&ctx, &self.user.clearance, &label) else {
            return;
        };
        let from = self.occupant_source(&room, &nick);
        let me = self.user.nick.clone();
        self.deliver_lines(granted, &mapping, &me, from, &label, &body, m.delay.clone())
            .await;
    }

    /// The label of a received room message, or why there is none usable.
    fn received_label(&self, mapping: &Mapping, m: &ReceivedMessage) -> Result<Label, String> {
        let policies = self.inner.gate.policies();
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
                let channel = match self.rooms.get_mut(&room) {
                    Some(r) if occupant.nick != r.nick => {
                        r.occupants.insert(
                            names::fold(&irc_nick(&occupant.nick)),
                            occupant.nick.clone(),
                        );
                        Some(r.channel.clone())
                    }
                    _ => None,
                };
                if let Some(channel) = channel {
                    let who = Member {
                        source: self.occupant_source(&room, &occupant.nick),
                        op: occupant.role == Role::Moderator,
                        voice: false,
                    };
                    self.deliver(Delivery::Join { channel, who }).await;
                }
            }
            XmppEvent::OccupantLeft {
                room,
                nick,
                codes,
                reason,
            } => {
                if let Some(r) = self.rooms.get(&room) {
                    let channel = r.channel.clone();
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
                            nick: irc_nick(&nick),
                            reason,
                        })
                        .await;
                    } else {
                        let who = self.occupant_source(&room, &nick);
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
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.occupants.remove(&names::fold(&irc_nick(&old)));
                    r.occupants
                        .insert(names::fold(&irc_nick(&new)), new.clone());
                    let who = self.occupant_source(&room, &old);
                    self.deliver(Delivery::Nick {
                        who,
                        new: irc_nick(&new),
                    })
                    .await;
                }
            }
            XmppEvent::RemovedFromRoom { room, reason, .. } => {
                if let Some(r) = self.rooms.remove(&room) {
                    self.by_channel.remove(&names::fold(&r.channel));
                    let who = self.self_source();
                    let reason =
                        Some(reason.unwrap_or_else(|| "removed from the XMPP room".into()));
                    self.deliver(Delivery::Part {
                        channel: r.channel,
                        who,
                        reason,
                    })
                    .await;
                }
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
                self.notice("XMPP connection re-established; rejoining rooms.".into())
                    .await
            }
            XmppEvent::RejoinFailed { room, error } => {
                if let Some(r) = self.rooms.remove(&room) {
                    self.by_channel.remove(&names::fold(&r.channel));
                    let who = self.self_source();
                    self.deliver(Delivery::Part {
                        channel: r.channel,
                        who,
                        reason: Some(format!("could not rejoin: {error}")),
                    })
                    .await;
                }
            }
            XmppEvent::MessageError { error, .. } => {
                let why = error
                    .map(|e| e.text.unwrap_or(e.condition))
                    .unwrap_or_else(|| "unknown error".into());
                self.notice(format!("A message was bounced by the XMPP server: {why}"))
                    .await;
            }
            XmppEvent::Suspended
            | XmppEvent::Resumed
            | XmppEvent::Rejoined { .. }
            | XmppEvent::Direct { .. }
            | XmppEvent::Closed => {}
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
            && self.sent.remove(id)
            && !self.echo.remove(id)
        {
            return; // our own reflection, not asked to echo
        }
        let mapping = r.mapping.clone();
        let channel = r.channel.clone();
        let room_text = room.to_string();
        let direction = if m.delay.is_some() {
            Direction::History
        } else {
            Direction::XmppToIrc
        };
        let mut ctx = self.ctx(direction, &room_text);
        ctx.origin_id = m.origin_id.as_deref();
        ctx.stanza_id = m.stanza_id.as_deref();
        ctx.body = Some(&body);
        let label = match self.received_label(&mapping, &m) {
            Ok(l) => l,
            Err(why) => {
                // Withheld without a word to the user; audited.
                let _ = self.inner.gate.refuse(&ctx, &why);
                return;
            }
        };
        let Ok(granted) = self.inner.gate.decide(&ctx, &self.user.clearance, &label) else {
            return; // withheld, audited by the gate
        };
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
        let policies = self.inner.gate.policies();
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
