//! Link mode: the rooms' occupants on an existing IRC network and the network's people in the
//! rooms, every line through [`crossing`](crate::bridge::crossing).
//!
//! **The room's side out.** The gateway's own occupant (the service nick, under the puppet
//! domain) sits in every mapped room and is the only reader of it. Each other occupant gets an
//! IRC connection of their own (nick from [`nick::from_room_nick`], collisions resolved by the
//! connection) in the mapped channels of the rooms they are in; their messages are rendered by
//! [`crossing::body_to_irc`](crate::bridge::crossing::body_to_irc) — decided against the room's ceiling and the network's
//! accreditation, withheld and audited otherwise — and sent by their connection, FLOT on every
//! line.
//!
//! **The network's side in.** The people of the network appear in the
//! mapped rooms as occupants of their own (one XMPP session each, under the network's puppet
//! domain), and what they type reaches the room only through [`crossing::typed_message`](crate::bridge::crossing::typed_message) —
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
//! A room line withheld from the network is answered, privately in the room, by the gateway's
//! occupant ([`crossing::withheld_notice`](crate::bridge::crossing::withheld_notice)).
//!
//! Not built yet (issue 14): private messages, topics, reporting lines a lost connection could
//! not confirm.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jid::BareJid;
use tokio::sync::mpsc;

mod network;
mod private;
mod room;

use super::State;
use crate::audit::Gate;
use crate::config::mappings::{Mapping, Mappings};
use crate::config::network::IrcNetwork;
use crate::link::{LinkConfig, LinkConnection, LinkEvent, Server, nick};
use crate::xmpp::connect::Endpoint;
use crate::xmpp::session::Session;
use crate::xmpp::session::XmppEvent;

/// A running network link (ended by [`LinkInbound::close`]).
pub struct LinkInbound {
    service: LinkConnection,
    control: mpsc::UnboundedSender<Reload>,
    task: tokio::task::JoinHandle<()>,
}

/// What a reload hands a running link: the new gate and mappings, and the network's
/// accreditation as the file now says.
struct Reload {
    gate: Gate,
    mappings: Arc<Mappings>,
    accreditation: crate::label::Clearance,
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
        let (service, events) =
            LinkConnection::start(link_config(&network, &servers, &network.service_nick));
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
        let (control, control_rx) = mpsc::unbounded_channel();
        let (puppet_tx, puppet_rx) = mpsc::unbounded_channel();
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
            next_id: 0,
            puppet_tx,
            observer: None,
            observed: HashSet::new(),
            away_since: None,
            names: HashMap::new(),
        };
        let task = tokio::spawn(task.run(events, out_rx, control_rx, puppet_rx));
        LinkInbound {
            service,
            control,
            task,
        }
    }

    /// Applies a reload at once: decisions from now on use `gate`'s policies, `mappings` and
    /// the network's new accreditation (`network`, whose connection settings only a restart
    /// changes); channels no longer mapped (or mapped to another room) are left on both sides,
    /// new ones joined.
    pub fn reload(&self, gate: Gate, mappings: Arc<Mappings>, network: &IrcNetwork) {
        let r = Reload {
            gate,
            mappings,
            accreditation: network.accreditation.clone(),
        };
        if self.control.send(r).is_err() {
            tracing::error!(network = %network.name, "link: the reload found the link ended");
        }
    }

    /// Quits the network and waits, at most `within`, for the puppets, the room occupants'
    /// connections and the gateway's own occupant to leave; `false` if they had not.
    pub async fn close(self, within: std::time::Duration) -> bool {
        self.service.quit(Some("gateway shutting down"));
        tokio::time::timeout(within, self.task).await.is_ok()
    }
}

/// One person of the network, in the rooms.
struct Puppet {
    session: Session,
    /// Their IRC nick as the network spells it.
    nick: String,
    rooms: HashSet<BareJid>,
}

/// What a puppet's session reports that the task must act on (a private message to it, an
/// error the room answered, a message the server never confirmed), with the puppet's folded
/// nick.
type PuppetEvent = (String, XmppEvent);

/// A room occupant on the network.
struct Occupant {
    /// Its id in the connection's events.
    id: u64,
    conn: LinkConnection,
    /// The nick the server gave them.
    irc_nick: String,
    rooms: HashSet<BareJid>,
    /// The lines last handed to the connection: id, room, and which message they were (the
    /// last [`SENT_KEPT`]; a loss reports the unconfirmed ones by room).
    sent: std::collections::VecDeque<(crate::link::LineId, BareJid, u64)>,
    /// Messages handed so far.
    messages: u64,
}

/// How often the gateway's occupant tries again what it could not do (log in, enter a room):
/// until then nothing of that room goes out, and the log says so.
const OBSERVER_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// How many sent lines an occupant's record keeps (far more than a connection writes between
/// two confirmations).
const SENT_KEPT: usize = 512;

struct Inbound {
    network: IrcNetwork,
    servers: Vec<Server>,
    /// Room occupants on the network, by room nick.
    occupants: HashMap<String, Occupant>,
    /// The folded IRC nicks of the gateway's own connections (never read as people).
    ours: HashSet<String>,
    /// Events of the room occupants' connections, by the occupant's id (a room nick changes).
    out_tx: mpsc::Sender<(u64, LinkEvent)>,
    /// The id of the next occupant.
    next_id: u64,
    /// Private messages to the puppets: puppet (folded nick), room, sender's nick, message.
    puppet_tx: mpsc::UnboundedSender<PuppetEvent>,
    /// The gateway's own occupant of the mapped rooms.
    observer: Option<Session>,
    /// The rooms it is in.
    observed: HashSet<BareJid>,
    state: State,
    puppets: Arc<Endpoint>,
    service: LinkConnection,
    me: String,
    people: HashMap<String, Puppet>,
    /// Since when the service connection is away from the network (it reads the network for
    /// the rooms: what is typed meanwhile is not seen).
    away_since: Option<std::time::Instant>,
    /// The nicks a NAMES reply listed so far, by folded channel (at its end, puppets of people
    /// no longer there leave: after a reconnect or a netsplit nobody lingers).
    names: HashMap<String, HashSet<String>>,
}

impl Inbound {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<LinkEvent>,
        mut outbound: mpsc::Receiver<(u64, LinkEvent)>,
        mut control: mpsc::UnboundedReceiver<Reload>,
        mut from_puppets: mpsc::UnboundedReceiver<PuppetEvent>,
    ) {
        let mut room_events = self.observe().await;
        // What the gateway's occupant could not do (log in, enter a room) is tried again.
        let mut retry = tokio::time::interval(OBSERVER_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.tick().await;
        loop {
            tokio::select! {
                _ = retry.tick() => {
                    if room_events.is_none() {
                        self.observer = None;
                        room_events = self.observe().await;
                    } else {
                        for (channel, room) in self.linked().into_values() {
                            if !self.observed.contains(&room) {
                                self.observe_room(&room, &channel).await;
                            }
                        }
                    }
                }
                Some(r) = control.recv() => self.reload(r).await,
                Some((puppet, e)) = from_puppets.recv() => self.puppet_event(&puppet, e).await,
                e = events.recv() => match e {
                    Some(LinkEvent::Registered { nick, .. }) => {
                        self.me = nick;
                        if let Some(since) = self.away_since.take() {
                            self.tell_away(since.elapsed().as_secs()).await;
                        }
                    }
                    Some(LinkEvent::NickChanged(n)) => self.me = n,
                    Some(LinkEvent::Message(m)) => self.message(m).await,
                    Some(LinkEvent::Lost { reason, .. }) => {
                        tracing::warn!(network = %self.network.name, %reason, "link: service connection lost");
                        self.away_since.get_or_insert_with(std::time::Instant::now);
                    }
                    Some(LinkEvent::Closed) | None => break,
                },
                e = recv_room(&mut room_events) => match e {
                    Some(e) => self.room_event(e).await,
                    None => {
                        tracing::error!(network = %self.network.name, "link: the gateway's occupant session ended; logging in again");
                        room_events = None;
                        self.observed.clear();
                    }
                },
                Some((id, e)) = outbound.recv() => {
                    let who = self.occupants.iter().find(|(_, o)| o.id == id).map(|(n, _)| n.clone());
                    if let Some(who) = who {
                        self.outbound_event(&who, e).await;
                    }
                }
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

    /// The channels of this network and their rooms, by folded channel name.
    fn linked(&self) -> HashMap<String, (String, BareJid)> {
        self.state
            .mappings
            .iter()
            .filter(|m| m.network.as_ref() == Some(&self.network.name))
            .map(|m| (nick::fold(&m.channel), (m.channel.clone(), m.room.clone())))
            .collect()
    }

    /// A reload: the new state at once; the channels whose mapping went (or now names another
    /// room) left on both sides; new ones joined.
    async fn reload(&mut self, r: Reload) {
        let before = self.linked();
        self.state = State {
            gate: r.gate,
            mappings: r.mappings,
            users: None,
        };
        self.network.accreditation = r.accreditation;
        let after = self.linked();
        for (key, (channel, room)) in &before {
            if after.get(key).is_some_and(|(_, r)| r == room) {
                continue;
            }
            tracing::info!(%channel, %room, "link: no longer mapped; leaving it");
            if let Err(e) = self.service.part(channel, Some("no longer gatewayed")) {
                tracing::warn!(%channel, error = %e, "link: cannot part");
            }
            self.unlink_room(channel, room).await;
        }
        for (key, (channel, room)) in &after {
            if before.get(key).is_some_and(|(_, r)| r == room) {
                continue;
            }
            tracing::info!(%channel, %room, "link: newly mapped; joining it");
            if let Err(e) = self.service.join(channel) {
                tracing::error!(%channel, error = %e, "link: cannot join");
            }
            self.observe_room(room, channel).await;
        }
    }

    /// Everything of ours leaves `room` (and its `channel`): the network's people, the room
    /// occupants' connections, the gateway's own occupant.
    async fn unlink_room(&mut self, channel: &str, room: &BareJid) {
        let people: Vec<String> = self.people.keys().cloned().collect();
        for key in people {
            self.puppet_out(&key, room).await;
        }
        let occupants: Vec<String> = self.occupants.keys().cloned().collect();
        for nick in occupants {
            self.occupant_out(&nick, room, channel);
        }
        if let Some(s) = &self.observer {
            s.leave(room, None).await;
        }
        self.observed.remove(room);
    }

    /// The puppet of `key` (a folded IRC nick) leaves `room`; with no room left, its session
    /// ends.
    async fn puppet_out(&mut self, key: &str, room: &BareJid) {
        let Some(p) = self.people.get_mut(key) else {
            return;
        };
        if p.rooms.remove(room) {
            p.session.leave(room, None).await;
        }
        if p.rooms.is_empty()
            && let Some(p) = self.people.remove(key)
        {
            p.session.close().await;
        }
    }

    /// The room occupant `nick`'s connection leaves `channel` (of `room`); with no room left,
    /// it quits the network.
    fn occupant_out(&mut self, nick: &str, room: &BareJid, channel: &str) {
        let Some(o) = self.occupants.get_mut(nick) else {
            return;
        };
        if o.rooms.remove(room) {
            let _ = o.conn.part(channel, None);
        }
        if o.rooms.is_empty()
            && let Some(o) = self.occupants.remove(nick)
        {
            self.ours.remove(&nick::fold(&o.irc_nick));
            o.conn.quit(None);
        }
    }

    /// Whether a room nick is the gateway's own (its occupant, or a puppet in that room).
    fn is_ours_in_room(&self, nick: &str, room: &BareJid) -> bool {
        nick == self.network.service_nick
            || self
                .people
                .get(&nick::fold(nick))
                .is_some_and(|p| p.rooms.contains(room))
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

    fn channel_of(&self, room: &BareJid) -> Option<String> {
        self.room_mapping(room).map(|m| m.channel.clone())
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
}

/// A connection of the gateway to `network` under `nick`, with the network's limits and
/// authentication.
fn link_config(network: &IrcNetwork, servers: &[Server], nick: &str) -> LinkConfig {
    let mut cfg = LinkConfig::new(servers.to_vec(), nick);
    cfg.max_nick_len = network.nick_length;
    cfg.burst = network.burst;
    cfg.interval = network.interval;
    use crate::config::network::NetworkAuth;
    use crate::link::sasl::Mechanism;
    cfg.auth = match &network.auth {
        NetworkAuth::None => crate::link::Auth::None,
        NetworkAuth::Password(p) => crate::link::Auth::Password(p.clone()),
        NetworkAuth::SaslPlain { account, password } => crate::link::Auth::Sasl(Mechanism::Plain {
            account: account.clone(),
            password: password.clone(),
        }),
        // The certificate is in the servers' TLS settings.
        NetworkAuth::SaslExternal { .. } => crate::link::Auth::Sasl(Mechanism::External),
    };
    cfg
}

async fn recv_room(rx: &mut Option<mpsc::Receiver<XmppEvent>>) -> Option<XmppEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A network person's PRIVMSG or NOTICE text read as server mode reads its users': `/me` is an
/// action, formatting goes, any other CTCP (or text outside a CTCP's delimiters) is refused in
/// these words; an empty line too.
fn words(text: &str) -> Result<(bool, String), &'static str> {
    use crate::irc::proto::ctcp::{self, Ctcp};
    let (action, words) = match ctcp::read(text) {
        Ctcp::Text(t) => (false, ctcp::strip_formatting(t)),
        Ctcp::Action(t) => (true, ctcp::strip_formatting(t)),
        Ctcp::Query { .. } => return Err("CTCP requests do not cross the gateway"),
        Ctcp::Malformed => {
            return Err(
                "a line with a CTCP delimiter (\\x01) after its start does not cross the gateway; a CTCP message (such as /me) is the whole line",
            );
        }
    };
    if words.trim().is_empty() {
        return Err("a line with no text (only formatting) does not cross the gateway");
    }
    Ok((action, words))
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn network_lines_are_read_like_server_mode_lines() {
        assert_eq!(
            words("\x02[SECRET]\x02 hi"),
            Ok((false, "[SECRET] hi".into()))
        );
        assert_eq!(
            words("\x01ACTION \x0304waves\x01"),
            Ok((true, "waves".into()))
        );
        assert!(words("\x01VERSION\x01").is_err());
        assert!(words("\x01ACTION\x01 [TOP SECRET] x").is_err());
        assert!(words("\x02\x02").is_err());
    }
}
