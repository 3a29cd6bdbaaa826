//! Link mode, the network's side in: the people of an existing IRC network appear in the
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
//! Not built yet (issue 14): the room's side out (an IRC connection per room occupant),
//! private messages, topics.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::mpsc;

use super::State;
use super::crossing::{self, Person};
use crate::audit::Gate;
use crate::config::mappings::{Mapping, Mappings};
use crate::config::network::IrcNetwork;
use crate::irc::proto::message::Message;
use crate::link::{LinkConfig, LinkConnection, LinkEvent, Server, nick};
use crate::xmpp::connect::Endpoint;
use crate::xmpp::muc::History;
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
        let mut cfg = LinkConfig::new(servers, &network.service_nick);
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
        let task = Inbound {
            network,
            state,
            puppets,
            service: service.clone(),
            me: String::new(),
            people: HashMap::new(),
        };
        tokio::spawn(task.run(events));
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

struct Inbound {
    network: IrcNetwork,
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
    async fn run(mut self, mut events: mpsc::Receiver<LinkEvent>) {
        while let Some(e) = events.recv().await {
            match e {
                LinkEvent::Registered { nick, .. } => self.me = nick,
                LinkEvent::NickChanged(n) => self.me = n,
                LinkEvent::Message(m) => self.message(m).await,
                LinkEvent::Lost { reason, .. } => {
                    tracing::warn!(network = %self.network.name, %reason, "link: service connection lost");
                }
                LinkEvent::Closed => break,
            }
        }
        for (_, p) in self.people.drain() {
            p.session.close().await;
        }
    }

    fn mapping(&self, channel: &str) -> Option<&Mapping> {
        self.state
            .mappings
            .get(channel)
            .filter(|m| m.network.as_ref() == Some(&self.network.name))
    }

    fn is_me(&self, nick: &str) -> bool {
        nick::fold(nick) == nick::fold(&self.me)
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
