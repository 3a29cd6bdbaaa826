//! Link mode: the rooms' occupants on an existing IRC network and the network's people in the
//! rooms, every line through [`crossing`].
//!
//! **The room's side out.** The gateway's own occupant (the service nick, under the puppet
//! domain) sits in every mapped room and is the only reader of it. Each other occupant gets an
//! IRC connection of their own (nick from [`nick::from_room_nick`], collisions resolved by the
//! connection) in the mapped channels of the rooms they are in; their messages are rendered by
//! [`crossing::body_to_irc`] — decided against the room's ceiling and the network's
//! accreditation, withheld and audited otherwise — and sent by their connection, FLOT on every
//! line.
//!
//! **The network's side in.** The people of the network appear in the
//! mapped rooms as occupants of their own (one XMPP session each, under the network's puppet
//! domain), and what they type reaches the room only through [`crossing::typed_message`] —
//! decided against the network's accreditation (the clearance the gateway can vouch for: it
//! does not know the network's people one by one) and the room's ceiling, audited; a refused
//! line is answered by a NOTICE from the gateway's service nick.
//!
//! One service connection per network ([`LinkConnection`]) sits in every mapped channel and is
//! the only reader of the network: a line reaches the room once, however many of the gateway's
//! connections are in the channel.
//!
//! **No loops.** Lines from the gateway's own connections are never read as the network's
//! people; room messages from the gateway's own puppets are never sent out again.
//!
//! Not built yet (issue 14): telling an XMPP sender that a withheld line did not reach IRC,
//! private messages, topics, reporting lines a lost connection could not confirm.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::mpsc;

use super::State;
use super::crossing::{self, Person};
use crate::audit::Direction;
use crate::audit::Gate;
use crate::config::mappings::{Mapping, Mappings};
use crate::config::network::IrcNetwork;
use crate::irc::proto::message::Message;
use crate::link::{LinkConfig, LinkConnection, LinkEvent, Server, nick};
use crate::xmpp::connect::Endpoint;
use crate::xmpp::muc::History;
use crate::xmpp::session::XmppEvent;
use crate::xmpp::session::{IdentityMode, Session, SessionConfig};

/// A running network link (ends when dropped with [`LinkInbound::close`]).
pub struct LinkInbound {
    service: LinkConnection,
}

impl LinkInbound {
    /// Connects the service nick to `servers`, joins every channel mapped to `network`, and
    /// carries the network's people into the rooms, their sessions logged in on `puppets` (an
    /// endpoint whose certificate names the puppet domain).
    pub fn start(
        network: IrcNetwork,
        servers: Vec<Server>,
        gate: Gate,
        mappings: Arc<Mappings>,
        puppets: Arc<Endpoint>,
    ) -> LinkInbound {
        let mut cfg = LinkConfig::new(servers.clone(), &network.service_nick);
        cfg.max_nick_len = network.nick_length;
        cfg.burst = network.burst;
        cfg.interval = network.interval;
        if let crate::config::network::NetworkAuth::Password(p) = &network.auth {
            cfg.auth = crate::link::Auth::Password(p.clone());
        }
        let (service, events) = LinkConnection::start(cfg);
        for m in mappings
            .iter()
            .filter(|m| m.network.as_ref() == Some(&network.name))
        {
            if let Err(e) = service.join(&m.channel) {
                tracing::error!(channel = %m.channel, error = %e, "link: cannot join");
            }
        }
        let state = State {
            gate,
            mappings,
            users: None,
        };
        let (out_tx, out_rx) = mpsc::channel(256);
        let task = Inbound {
            servers,
            network,
            state,
            puppets,
            service: service.clone(),
            me: String::new(),
            people: HashMap::new(),
            occupants: HashMap::new(),
            ours: HashSet::new(),
            out_tx,
            observer: None,
        };
        tokio::spawn(task.run(events, out_rx));
        LinkInbound { service }
    }

    /// Quits the network (the puppets leave their rooms as the task ends).
    pub fn close(&self) {
        self.service.quit(Some("gateway shutting down"));
    }
}

/// One person of the network, in the rooms.
struct Puppet {
    session: Session,
    rooms: HashSet<BareJid>,
}

/// A room occupant on the network.
struct Occupant {
    conn: LinkConnection,
    /// The nick the server gave them.
    irc_nick: String,
    rooms: HashSet<BareJid>,
}

struct Inbound {
    network: IrcNetwork,
    servers: Vec<Server>,
    /// Room occupants on the network, by room nick.
    occupants: HashMap<String, Occupant>,
    /// The folded IRC nicks of the gateway's own connections (never read as people).
    ours: HashSet<String>,
    out_tx: mpsc::Sender<(String, LinkEvent)>,
    /// The gateway's own occupant of the mapped rooms.
    observer: Option<Session>,
    state: State,
    puppets: Arc<Endpoint>,
    service: LinkConnection,
    me: String,
    people: HashMap<String, Puppet>,
}

fn nick_of(m: &Message) -> &str {
    m.source
        .as_deref()
        .and_then(|s| s.split('!').next())
        .unwrap_or("")
}

impl Inbound {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<LinkEvent>,
        mut outbound: mpsc::Receiver<(String, LinkEvent)>,
    ) {
        let mut room_events = self.observe().await;
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Some(LinkEvent::Registered { nick, .. }) => self.me = nick,
                    Some(LinkEvent::NickChanged(n)) => self.me = n,
                    Some(LinkEvent::Message(m)) => self.message(m).await,
                    Some(LinkEvent::Lost { reason, .. }) => {
                        tracing::warn!(network = %self.network.name, %reason, "link: service connection lost");
                    }
                    Some(LinkEvent::Closed) | None => break,
                },
                e = recv_room(&mut room_events) => match e {
                    Some(e) => self.room_event(e),
                    None => room_events = None,
                },
                Some((who, e)) = outbound.recv() => self.outbound_event(&who, e),
            }
        }
        for (_, p) in self.people.drain() {
            p.session.close().await;
        }
        for (_, o) in self.occupants.drain() {
            o.conn.quit(None);
        }
        if let Some(s) = self.observer.take() {
            s.close().await;
        }
    }

    /// The gateway's own occupant in every mapped room; `None` when it cannot be there (then
    /// nothing goes out: fail closed, logged).
    async fn observe(&mut self) -> Option<mpsc::Receiver<XmppEvent>> {
        let jid = self.jid(&self.network.service_nick)?;
        let config = SessionConfig::new(self.puppets.clone(), jid, IdentityMode::TrustedGateway);
        let (session, events) = match Session::start(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(network = %self.network.name, error = %e, "link: the gateway's occupant cannot log in; nothing goes out to IRC");
                return None;
            }
        };
        let rooms: Vec<(BareJid, String)> = self
            .state
            .mappings
            .iter()
            .filter(|m| m.network.as_ref() == Some(&self.network.name))
            .map(|m| (m.room.clone(), m.channel.clone()))
            .collect();
        let nick = self.network.service_nick.clone();
        for (room, channel) in rooms {
            match session
                .join(
                    &room,
                    &nick,
                    History {
                        max_stanzas: Some(0),
                        since: None,
                    },
                )
                .await
            {
                Ok(joined) => {
                    for o in joined.occupants.values() {
                        self.occupant_in(&o.nick, &room, &channel);
                    }
                }
                Err(e) => {
                    tracing::error!(%room, error = %e, "link: the gateway's occupant cannot join; nothing of this room goes out")
                }
            }
        }
        self.observer = Some(session);
        Some(events)
    }

    /// Whether a room nick is the gateway's own (its occupant, or a puppet in that room).
    fn is_ours_in_room(&self, nick: &str, room: &BareJid) -> bool {
        nick == self.network.service_nick
            || self
                .people
                .get(&nick::fold(nick))
                .is_some_and(|p| p.rooms.contains(room))
    }

    /// A room occupant (not ours) is in `room`: their connection joins its channel.
    fn occupant_in(&mut self, room_nick: &str, room: &BareJid, channel: &str) {
        if self.is_ours_in_room(room_nick, room) {
            return;
        }
        let o = match self.occupants.get_mut(room_nick) {
            Some(o) => o,
            None => {
                let wanted = nick::from_room_nick(
                    &self.network.nick_template,
                    room_nick,
                    self.network.nick_length,
                );
                let mut cfg = LinkConfig::new(self.servers.clone(), &wanted);
                cfg.max_nick_len = self.network.nick_length;
                cfg.burst = self.network.burst;
                cfg.interval = self.network.interval;
                if let crate::config::network::NetworkAuth::Password(p) = &self.network.auth {
                    cfg.auth = crate::link::Auth::Password(p.clone());
                }
                let (conn, mut events) = LinkConnection::start(cfg);
                let tx = self.out_tx.clone();
                let who = room_nick.to_owned();
                tokio::spawn(async move {
                    while let Some(e) = events.recv().await {
                        // Only what the task needs: nicks (to know its own) and losses.
                        if matches!(e, LinkEvent::Message(_)) {
                            continue;
                        }
                        if tx.send((who.clone(), e)).await.is_err() {
                            break;
                        }
                    }
                });
                self.occupants
                    .entry(room_nick.to_owned())
                    .or_insert(Occupant {
                        conn,
                        irc_nick: String::new(),
                        rooms: HashSet::new(),
                    })
            }
        };
        if o.rooms.insert(room.clone())
            && let Err(e) = o.conn.join(channel)
        {
            tracing::warn!(nick = %room_nick, %channel, error = %e, "link: cannot join");
        }
    }

    fn outbound_event(&mut self, who: &str, e: LinkEvent) {
        let Some(o) = self.occupants.get_mut(who) else {
            return;
        };
        match e {
            LinkEvent::Registered { nick, .. } | LinkEvent::NickChanged(nick) => {
                self.ours.remove(&nick::fold(&o.irc_nick));
                self.ours.insert(nick::fold(&nick));
                o.irc_nick = nick;
            }
            LinkEvent::Lost {
                reason,
                unconfirmed,
                ..
            } => {
                tracing::warn!(nick = %who, %reason, unconfirmed = unconfirmed.len(), "link: an occupant's connection was lost");
            }
            LinkEvent::Message(_) | LinkEvent::Closed => {}
        }
    }

    fn room_event(&mut self, e: XmppEvent) {
        match e {
            XmppEvent::OccupantJoined { room, occupant } => {
                if let Some(channel) = self.channel_of(&room) {
                    self.occupant_in(&occupant.nick, &room, &channel);
                }
            }
            XmppEvent::OccupantLeft { room, nick, .. } => {
                let Some(channel) = self.channel_of(&room) else {
                    return;
                };
                let Some(o) = self.occupants.get_mut(&nick) else {
                    return;
                };
                if o.rooms.remove(&room) {
                    let _ = o.conn.part(&channel, None);
                }
                if o.rooms.is_empty()
                    && let Some(o) = self.occupants.remove(&nick)
                {
                    self.ours.remove(&nick::fold(&o.irc_nick));
                    o.conn.quit(None);
                }
            }
            XmppEvent::Groupchat {
                room,
                nick: Some(nick),
                message,
            } => {
                if self.is_ours_in_room(&nick, &room) || message.delay.is_some() {
                    return;
                }
                let (Some(mapping), Some(body)) =
                    (self.room_mapping(&room).cloned(), message.body.clone())
                else {
                    return;
                };
                self.occupant_in(&nick, &room, &mapping.channel);
                let to = Person {
                    account: &nick,
                    jid: "",
                    clearance: &self.network.accreditation,
                };
                // Withheld lines are audited by the decision itself.
                let Ok(out) = crossing::body_to_irc(
                    &self.state,
                    to,
                    Direction::XmppToIrc,
                    &room,
                    &mapping,
                    &message,
                    &body,
                ) else {
                    return;
                };
                if let Some(o) = self.occupants.get(&nick)
                    && let Err(e) = o.conn.say(&mapping.channel, &out.lines, out.action)
                {
                    tracing::warn!(%nick, channel = %mapping.channel, error = %e, "link: a room line could not be queued for IRC");
                }
            }
            _ => {}
        }
    }

    fn room_mapping(&self, room: &BareJid) -> Option<&Mapping> {
        self.state
            .mappings
            .iter()
            .find(|m| &m.room == room && m.network.as_ref() == Some(&self.network.name))
    }

    fn mapping(&self, channel: &str) -> Option<&Mapping> {
        self.state
            .mappings
            .get(channel)
            .filter(|m| m.network.as_ref() == Some(&self.network.name))
    }

    /// Whether an IRC nick is one of the gateway's own connections (the service nick or a
    /// room occupant's): never read as a person of the network.
    fn is_me(&self, nick: &str) -> bool {
        nick::fold(nick) == nick::fold(&self.me) || self.ours.contains(&nick::fold(nick))
    }

    async fn message(&mut self, m: Message) {
        let from = nick_of(&m).to_owned();
        match m.verb.to_ascii_uppercase().as_str() {
            "JOIN" if !self.is_me(&from) => {
                if let Some(chan) = m.params.first() {
                    self.enter(&from, chan).await;
                }
            }
            "353" => {
                // RPL_NAMREPLY: me, symbol, channel, names (with status prefixes).
                if let (Some(chan), Some(names)) = (m.params.get(2), m.params.get(3)) {
                    let chan = chan.clone();
                    for n in names.split(' ').filter(|n| !n.is_empty()) {
                        let n = n.trim_start_matches(['@', '+', '%', '~', '&']);
                        if !self.is_me(n) {
                            self.enter(n, &chan).await;
                        }
                    }
                }
            }
            "PART" => {
                if let Some(chan) = m.params.first() {
                    self.leave(&from, chan).await;
                }
            }
            "KICK" => {
                if let (Some(chan), Some(who)) = (m.params.first(), m.params.get(1)) {
                    let who = who.clone();
                    self.leave(&who, chan).await;
                }
            }
            "QUIT" => {
                if let Some(p) = self.people.remove(&nick::fold(&from)) {
                    p.session.close().await;
                }
            }
            "NICK" if !self.is_me(&from) => {
                if let Some(new) = m.params.first() {
                    // The XMPP identity is the nick's: a new nick is a new occupant.
                    let rooms: Vec<BareJid> = match self.people.remove(&nick::fold(&from)) {
                        Some(p) => {
                            let r = p.rooms.iter().cloned().collect();
                            p.session.close().await;
                            r
                        }
                        None => Vec::new(),
                    };
                    let new = new.clone();
                    for room in rooms {
                        if let Some(chan) = self.channel_of(&room) {
                            self.enter(&new, &chan).await;
                        }
                    }
                }
            }
            "PRIVMSG" | "NOTICE" if !self.is_me(&from) && !from.is_empty() => {
                let (Some(target), Some(text)) = (m.params.first(), m.params.get(1)) else {
                    return;
                };
                if !target.starts_with(['#', '&', '+', '!']) {
                    if m.verb.eq_ignore_ascii_case("PRIVMSG") {
                        self.tell(
                            &from,
                            "private messages do not cross the gateway in link mode yet",
                        );
                    }
                    return;
                }
                let notice = m.verb.eq_ignore_ascii_case("NOTICE");
                let (target, text) = (target.clone(), text.clone());
                self.line(&from, &target, &text, notice).await;
            }
            _ => {}
        }
    }

    fn channel_of(&self, room: &BareJid) -> Option<String> {
        self.state
            .mappings
            .iter()
            .find(|m| &m.room == room && m.network.as_ref() == Some(&self.network.name))
            .map(|m| m.channel.clone())
    }

    fn tell(&self, nick: &str, words: &str) {
        if let Err(e) = self.service.notice(nick, words) {
            tracing::warn!(%nick, error = %e, "link: cannot tell a refusal");
        }
    }

    fn jid(&self, nick: &str) -> Option<BareJid> {
        BareJid::new(&format!(
            "{}@{}",
            nick::fold(nick),
            self.network.puppet_domain
        ))
        .ok()
    }

    /// `nick` is in `channel`: their puppet is in its room. `false`: it could not be.
    async fn enter(&mut self, nick: &str, channel: &str) -> bool {
        let Some(room) = self.mapping(channel).map(|m| m.room.clone()) else {
            return false;
        };
        let key = nick::fold(nick);
        if !self.people.contains_key(&key) {
            let Some(jid) = self.jid(nick) else {
                self.tell(
                    nick,
                    "your nick cannot be an XMPP address; you do not appear in the room",
                );
                return false;
            };
            let config =
                SessionConfig::new(self.puppets.clone(), jid, IdentityMode::TrustedGateway);
            match Session::start(config).await {
                Ok((session, mut events)) => {
                    // The room's side out is not built: what the room sends the puppet is read
                    // and let go, so its session never stalls.
                    tokio::spawn(async move { while events.recv().await.is_some() {} });
                    self.people.insert(
                        key.clone(),
                        Puppet {
                            session,
                            rooms: HashSet::new(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(%nick, error = %e, "link: puppet login refused");
                    self.tell(nick, &format!("you cannot appear in {channel}'s room: {e}"));
                    return false;
                }
            }
        }
        let Some(p) = self.people.get_mut(&key) else {
            return false;
        };
        if p.rooms.contains(&room) {
            return true;
        }
        match p
            .session
            .join(
                &room,
                nick,
                History {
                    max_stanzas: Some(0),
                    since: None,
                },
            )
            .await
        {
            Ok(_) => {
                p.rooms.insert(room);
                true
            }
            Err(e) => {
                tracing::warn!(%nick, %room, error = %e, "link: puppet join refused");
                self.tell(nick, &format!("you could not enter {channel}'s room: {e}"));
                false
            }
        }
    }

    async fn leave(&mut self, nick: &str, channel: &str) {
        let Some(room) = self.mapping(channel).map(|m| m.room.clone()) else {
            return;
        };
        let key = nick::fold(nick);
        let Some(p) = self.people.get_mut(&key) else {
            return;
        };
        if p.rooms.remove(&room) {
            p.session.leave(&room, None).await;
        }
        if p.rooms.is_empty()
            && let Some(p) = self.people.remove(&key)
        {
            p.session.close().await;
        }
    }

    /// A line typed in a mapped channel: decided, then sent by the typist's puppet, or refused
    /// to them in words.
    async fn line(&mut self, nick: &str, channel: &str, text: &str, notice: bool) {
        let Some(mapping) = self.mapping(channel).cloned() else {
            return;
        };
        if !self.enter(nick, channel).await {
            self.tell(nick, &format!("your line did not reach {channel}'s room"));
            return;
        }
        let (action, text) = match text.strip_prefix("\u{1}ACTION ") {
            Some(rest) => (true, rest.trim_end_matches('\u{1}')),
            None if text.starts_with('\u{1}') => {
                self.tell(nick, "CTCP requests do not cross the gateway");
                return;
            }
            None => (false, text),
        };
        let jid = self.jid(nick).map(|j| j.to_string()).unwrap_or_default();
        let from = Person {
            account: nick,
            jid: &jid,
            clearance: &self.network.accreditation,
        };
        let origin = crate::xmpp::session::origin_id();
        let decided = crossing::typed_message(
            &self.state,
            from,
            &mapping.room,
            &mapping,
            false,
            text,
            action,
            notice,
            origin,
        );
        match decided {
            Ok(out) => {
                let Some(p) = self.people.get(&nick::fold(nick)) else {
                    return;
                };
                if let Err(e) = p.session.send_groupchat(&mapping.room, &out.message).await {
                    self.tell(
                        nick,
                        &format!("your line did not reach {channel}'s room: {e}"),
                    );
                }
            }
            Err((_, words)) => self.tell(nick, &format!("{channel}: {words}")),
        }
    }
}

async fn recv_room(rx: &mut Option<mpsc::Receiver<XmppEvent>>) -> Option<XmppEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
