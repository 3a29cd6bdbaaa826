//! Link mode's room side out: the gateway's own occupant reads each mapped room, and every
//! other occupant gets an IRC connection of their own, their lines through
//! [`crossing::body_to_irc`].

use std::collections::{HashMap, HashSet, VecDeque};

use jid::BareJid;
use tokio::sync::mpsc;

use super::{Inbound, Occupant, SENT_KEPT};
use crate::audit::Direction;
use crate::bridge::crossing::{self, LinkNotice, Person};
use crate::link::{LinkConnection, LinkEvent, nick};
use crate::metrics::Reason;
use crate::xmpp::muc::History;
use crate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent};

impl Inbound {
    /// The gateway's own occupant in every mapped room; `None` when it cannot be there (then
    /// nothing goes out: fail closed, logged).
    pub(super) async fn observe(&mut self) -> Option<mpsc::Receiver<XmppEvent>> {
        let jid = self.jid(&self.network.service_nick)?;
        let config = SessionConfig::new(self.puppets.clone(), jid, IdentityMode::TrustedGateway);
        let (session, events) = match Session::start(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(network = %self.network.name, error = %e, "link: the gateway's occupant cannot log in; nothing goes out to IRC until it can (tried again every 30 s)");
                return None;
            }
        };
        self.observer = Some(session);
        for (channel, room) in self.linked().into_values() {
            self.observe_room(&room, &channel).await;
        }
        Some(events)
    }

    /// The gateway's own occupant enters `room`; the occupants it finds there get their
    /// connections into `channel`.
    pub(super) async fn observe_room(&mut self, room: &BareJid, channel: &str) {
        let Some(session) = &self.observer else {
            return;
        };
        let history = History {
            max_stanzas: Some(0),
            since: None,
        };
        match session
            .join(room, &self.network.service_nick, history)
            .await
        {
            Ok(joined) => {
                self.observed.insert(room.clone());
                for o in joined.occupants.values() {
                    self.occupant_in(&o.nick, room, channel);
                }
            }
            Err(e) => {
                tracing::error!(%room, error = %e, "link: the gateway's occupant cannot join; nothing of this room goes out until it can (tried again every 30 s)")
            }
        }
    }

    /// A room occupant (not ours) is in `room`: their connection joins its channel.
    pub(super) fn occupant_in(&mut self, room_nick: &str, room: &BareJid, channel: &str) {
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
                let (conn, mut events) = LinkConnection::start(super::link_config(
                    &self.network,
                    &self.servers,
                    &wanted,
                ));
                let tx = self.out_tx.clone();
                self.next_id += 1;
                let id = self.next_id;
                tokio::spawn(async move {
                    while let Some(e) = events.recv().await {
                        // Only what the task needs: nicks (to know its own), losses, private
                        // messages to this occupant (the service reads the channels) and a
                        // refused topic.
                        if let LinkEvent::Message(m) = &e
                            && !(matches!(
                                m.verb.to_ascii_uppercase().as_str(),
                                "PRIVMSG" | "NOTICE"
                            ) && m
                                .params
                                .first()
                                .is_some_and(|t| !t.starts_with(['#', '&', '+', '!'])))
                            && m.verb != "482"
                        {
                            continue;
                        }
                        if tx.send((id, e)).await.is_err() {
                            break;
                        }
                    }
                });
                self.occupants
                    .entry(room_nick.to_owned())
                    .or_insert(Occupant {
                        id,
                        conn,
                        irc_nick: String::new(),
                        rooms: HashSet::new(),
                        sent: VecDeque::new(),
                        messages: 0,
                    })
            }
        };
        if o.rooms.insert(room.clone())
            && let Err(e) = o.conn.join(channel)
        {
            tracing::warn!(nick = %room_nick, %channel, error = %e, "link: cannot join");
        }
    }

    /// An occupant of `room` changed nick: their connection follows (a NICK, collisions
    /// resolved by the connection's sequence) when that room is their only one; otherwise the
    /// old nick leaves this room's channel and the new one gets a connection of its own.
    pub(super) fn occupant_renamed(&mut self, room: &BareJid, old: &str, new: &str) {
        let Some(channel) = self.channel_of(room) else {
            return;
        };
        if self.is_ours_in_room(new, room) {
            return;
        }
        let only_here = self
            .occupants
            .get(old)
            .is_some_and(|o| o.rooms.len() == 1 && o.rooms.contains(room));
        if only_here && !self.occupants.contains_key(new) {
            if let Some(o) = self.occupants.remove(old) {
                let wanted = nick::from_room_nick(
                    &self.network.nick_template,
                    new,
                    self.network.nick_length,
                );
                if let Err(e) = o.conn.change_nick(&wanted) {
                    tracing::warn!(%old, %new, error = %e, "link: cannot follow a nick change");
                }
                self.occupants.insert(new.to_owned(), o);
            }
            return;
        }
        self.occupant_out(old, room, &channel);
        self.occupant_in(new, room, &channel);
    }

    /// `nick` set the subject of `room`: decided like a subject shown to IRC users, it becomes
    /// the channel's topic, set by their own connection; withheld, they are told.
    async fn subject_out(
        &mut self,
        room: &BareJid,
        nick: &str,
        subject: &str,
        message: &crate::xmpp::muc::ReceivedMessage,
    ) {
        let Some(mapping) = self.room_mapping(room).cloned() else {
            return;
        };
        let to = Person {
            account: nick,
            jid: "",
            clearance: &self.network.accreditation,
        };
        let Some(text) =
            crossing::subject_to_irc(&self.state, to, room, &mapping, message, subject, &[])
        else {
            self.tell_link_notice(nick, room, &mapping, LinkNotice::SubjectWithheld)
                .await;
            return;
        };
        self.occupant_in(nick, room, &mapping.channel);
        let sent = self
            .occupants
            .get(nick)
            .map(|o| o.conn.topic(&mapping.channel, &text));
        if !matches!(sent, Some(Ok(_))) {
            self.tell_link_notice(nick, room, &mapping, LinkNotice::TopicRefused)
                .await;
        }
    }

    /// Tells every linked room, and its channel, that the service connection was away from
    /// the network for `secs`: what was typed in the channel meanwhile was never seen.
    pub(super) async fn tell_away(&self, secs: u64) {
        for (channel, room) in self.linked().into_values() {
            let words = format!(
                "The gateway was away from this network for {secs} s: what was typed here meanwhile did not reach the XMPP room."
            );
            if let Err(e) = self.service.notice(&channel, &words) {
                tracing::warn!(%channel, error = %e, "link: cannot tell the channel of the gap");
            }
            let Some(mapping) = self.room_mapping(&room).cloned() else {
                continue;
            };
            let me = Person {
                account: &self.network.service_nick,
                jid: "",
                clearance: &self.network.accreditation,
            };
            let notice = crossing::withheld_notice(
                &self.state,
                me,
                &room,
                &mapping,
                LinkNotice::Away(secs),
                crate::xmpp::session::origin_id(),
            );
            let sent = match (&self.observer, notice) {
                (Some(o), Some(n)) => o.send_groupchat(&room, &n).await.map_err(|e| e.to_string()),
                _ => Err("the gateway's occupant cannot speak in the room".to_owned()),
            };
            if let Err(e) = sent {
                tracing::warn!(%room, error = %e, "link: cannot tell the room of the gap");
            }
        }
    }

    /// Tells `nick`, privately in `room`, what became of their lines to the channel.
    pub(super) async fn tell_link_notice(
        &self,
        nick: &str,
        room: &BareJid,
        mapping: &crate::config::mappings::Mapping,
        what: LinkNotice,
    ) {
        let to = Person {
            account: nick,
            jid: "",
            clearance: &self.network.accreditation,
        };
        let (Some(observer), Some(notice)) = (
            &self.observer,
            crossing::withheld_notice(
                &self.state,
                to,
                room,
                mapping,
                what,
                crate::xmpp::session::origin_id(),
            ),
        ) else {
            tracing::warn!(%nick, %room, "link: a sender could not be told that their line was withheld");
            return;
        };
        if let Err(e) = observer.send_private(room, nick, &notice).await {
            tracing::warn!(%nick, %room, error = %e, "link: a sender could not be told that their line was withheld");
        }
    }

    pub(super) async fn outbound_event(&mut self, who: &str, e: LinkEvent) {
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
                // Which messages, in which rooms, the server never confirmed: their senders
                // are told (the lines are not sent again: they may have arrived).
                let mut by_room: HashMap<BareJid, HashSet<u64>> = HashMap::new();
                for (id, room, message) in &o.sent {
                    if unconfirmed.contains(id) {
                        by_room.entry(room.clone()).or_default().insert(*message);
                    }
                }
                for (room, messages) in by_room {
                    if let Some(mapping) = self.room_mapping(&room).cloned() {
                        self.tell_link_notice(
                            who,
                            &room,
                            &mapping,
                            LinkNotice::Unconfirmed(messages.len()),
                        )
                        .await;
                    }
                }
            }
            // ERR_CHANOPRIVSNEEDED: me, channel, text — the only command an occupant's
            // connection sends that needs channel privileges is TOPIC.
            LinkEvent::Message(m) if m.verb == "482" => {
                let room = m
                    .params
                    .get(1)
                    .and_then(|c| self.mapping(c))
                    .map(|m| m.room.clone());
                if let Some(room) = room
                    && let Some(mapping) = self.room_mapping(&room).cloned()
                {
                    self.tell_link_notice(who, &room, &mapping, LinkNotice::TopicRefused)
                        .await;
                }
            }
            LinkEvent::Message(m) => self.private_from_irc(who, m).await,
            LinkEvent::Closed => {}
        }
    }

    pub(super) async fn room_event(&mut self, e: XmppEvent) {
        match e {
            XmppEvent::OccupantJoined { room, occupant } => {
                if let Some(channel) = self.channel_of(&room) {
                    self.occupant_in(&occupant.nick, &room, &channel);
                }
            }
            XmppEvent::OccupantLeft { room, nick, .. } => {
                if let Some(channel) = self.channel_of(&room) {
                    self.occupant_out(&nick, &room, &channel);
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
                // Withheld lines are audited by the decision itself; the sender is told.
                let out = match crossing::body_to_irc(
                    &self.state,
                    to,
                    Direction::XmppToIrc,
                    &room,
                    &mapping,
                    &message,
                    &body,
                ) {
                    Ok(out) => out,
                    Err(why) => {
                        self.tell_link_notice(&nick, &room, &mapping, LinkNotice::Withheld(why))
                            .await;
                        return;
                    }
                };
                let Some(o) = self.occupants.get_mut(&nick) else {
                    return;
                };
                match o.conn.say(&mapping.channel, &out.message, out.action) {
                    Ok(ids) => {
                        o.messages += 1;
                        for id in ids {
                            if o.sent.len() == SENT_KEPT {
                                o.sent.pop_front();
                            }
                            o.sent.push_back((id, room.clone(), o.messages));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%nick, channel = %mapping.channel, error = %e, "link: a room line could not be queued for IRC");
                        let why = match e {
                            crate::link::LinkError::QueueFull => Reason::QueueFull,
                            _ => Reason::XmppError,
                        };
                        self.tell_link_notice(&nick, &room, &mapping, LinkNotice::Withheld(why))
                            .await;
                    }
                }
            }
            XmppEvent::NickChanged { room, old, new } => self.occupant_renamed(&room, &old, &new),
            XmppEvent::Subject {
                room,
                nick: Some(nick),
                subject,
                message,
                replay: false,
            } if !self.is_ours_in_room(&nick, &room) => {
                self.subject_out(&room, &nick, &subject, &message).await;
            }
            XmppEvent::Private { room, nick, .. } if !self.is_ours_in_room(&nick, &room) => {
                if let Some(mapping) = self.room_mapping(&room).cloned() {
                    self.tell_link_notice(&nick, &room, &mapping, LinkNotice::ToGateway)
                        .await;
                }
            }
            _ => {}
        }
    }
}
