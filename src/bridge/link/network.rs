//! Link mode's network side in: the network's people as occupants of their own, their lines
//! through [`crossing::typed_message`], refusals answered by the service nick.

use std::collections::HashSet;

use jid::BareJid;

use super::{Inbound, Puppet};
use crate::bridge::crossing::{self, Person};
use crate::irc::proto::message::Message;
use crate::link::nick;
use crate::xmpp::muc::History;
use crate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent};

pub(super) fn nick_of(m: &Message) -> &str {
    m.source
        .as_deref()
        .and_then(|s| s.split('!').next())
        .unwrap_or("")
}

impl Inbound {
    pub(super) async fn message(&mut self, m: Message) {
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
                        self.names
                            .entry(nick::fold(&chan))
                            .or_default()
                            .insert(nick::fold(n));
                        if !self.is_me(n) {
                            self.enter(n, &chan).await;
                        }
                    }
                }
            }
            "366" => {
                // RPL_ENDOFNAMES: me, channel. Whoever has a puppet in its room but was not
                // listed is no longer in the channel.
                if let Some(chan) = m.params.get(1) {
                    let chan = chan.clone();
                    let listed = self.names.remove(&nick::fold(&chan)).unwrap_or_default();
                    if let Some(room) = self.mapping(&chan).map(|m| m.room.clone()) {
                        let gone: Vec<String> = self
                            .people
                            .iter()
                            .filter(|(k, p)| p.rooms.contains(&room) && !listed.contains(*k))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for who in gone {
                            self.leave(&who, &chan).await;
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
            "TOPIC" if !self.is_me(&from) && !from.is_empty() => {
                if let (Some(chan), Some(text)) = (m.params.first(), m.params.get(1)) {
                    let (chan, text) = (chan.clone(), text.clone());
                    self.topic_in(&from, &chan, &text).await;
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
                            "this is the gateway itself: to write to someone of the XMPP room privately, write to their nick",
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

    /// `nick` is in `channel`: their puppet is in its room. `false`: it could not be.
    pub(super) async fn enter(&mut self, nick: &str, channel: &str) -> bool {
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
                    // Private messages to the puppet, errors and unconfirmed messages go to
                    // the task; the rest of what the room sends it is let go (the gateway's
                    // occupant reads the room), so its session never stalls. Unbounded: the
                    // task waits on puppet sessions, so a bound here could close a cycle; the
                    // XMPP server's own rate limits bound it.
                    let tx = self.puppet_tx.clone();
                    let who = key.clone();
                    tokio::spawn(async move {
                        while let Some(e) = events.recv().await {
                            if matches!(
                                e,
                                XmppEvent::Private { .. }
                                    | XmppEvent::MessageError { .. }
                                    | XmppEvent::Unconfirmed { .. }
                                    | XmppEvent::RemovedFromRoom { .. }
                            ) && tx.send((who.clone(), e)).is_err()
                            {
                                break;
                            }
                        }
                    });
                    self.people.insert(
                        key.clone(),
                        Puppet {
                            session,
                            nick: nick.to_owned(),
                            rooms: HashSet::new(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(%nick, error = %e, "link: puppet login refused");
                    // The details are the gateway's own (certificates, the XMPP server): logged, not told.
                    self.tell(nick, &format!("you cannot appear in {channel}'s room: the gateway could not log you in to XMPP"));
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

    pub(super) async fn leave(&mut self, nick: &str, channel: &str) {
        let Some(room) = self.mapping(channel).map(|m| m.room.clone()) else {
            return;
        };
        self.puppet_out(&nick::fold(nick), &room).await;
    }

    /// What a puppet's session reported: a private message to it (out to IRC), or the fate of
    /// what its person typed — an error the room answered, a message the server never
    /// confirmed — told to them.
    pub(super) async fn puppet_event(&mut self, puppet: &str, e: XmppEvent) {
        let Some(p) = self.people.get(puppet) else {
            return;
        };
        let nick = p.nick.clone();
        match e {
            XmppEvent::Private {
                room,
                nick: from,
                message,
            } => self.private_to_irc(puppet, room, &from, &message).await,
            XmppEvent::MessageError { from, error, .. } => {
                let to = Person {
                    account: &nick,
                    jid: "",
                    clearance: &self.network.accreditation,
                };
                let condition = crossing::error_report(
                    &self.state,
                    to,
                    from.as_ref(),
                    &self.network.puppet_domain,
                    |r| p.rooms.contains(r),
                    error.as_ref().map(|e| e.condition.as_str()),
                );
                if let Some(condition) = condition {
                    let channel = from
                        .as_ref()
                        .and_then(|j| self.channel_of(&j.to_bare()))
                        .unwrap_or_else(|| "the channel".into());
                    self.tell(
                        &nick,
                        &format!("something you sent in {channel} did not reach its room: the room answered {condition}"),
                    );
                }
            }
            XmppEvent::RemovedFromRoom { room, codes, .. } => {
                // The reason is another occupant's free text: not shown (the codes say enough).
                if let Some(p) = self.people.get_mut(puppet) {
                    p.rooms.remove(&room);
                }
                let channel = self
                    .channel_of(&room)
                    .unwrap_or_else(|| "the channel".into());
                let why = if codes.contains(&301) {
                    "banned"
                } else if codes.contains(&307) {
                    "kicked"
                } else {
                    "removed"
                };
                self.tell(
                    &nick,
                    &format!("you were {why} from {channel}'s XMPP room: your lines there do not reach it until you can enter again (each line tries)"),
                );
            }
            XmppEvent::Unconfirmed { to, .. } => {
                let channel = self
                    .channel_of(&to.to_bare())
                    .unwrap_or_else(|| "the channel".into());
                self.tell(
                    &nick,
                    &format!("a line of yours in {channel} may not have reached its room: the gateway's XMPP connection was lost before the server confirmed it; it is not sent again"),
                );
            }
            _ => {}
        }
    }

    /// A topic set in a mapped channel: decided like a topic typed to the gateway's own
    /// server (a marking labels it; none: the room's label), then set by the typist's puppet
    /// as the room's subject, or refused to them in words.
    pub(super) async fn topic_in(&mut self, nick: &str, channel: &str, text: &str) {
        let Some(mapping) = self.mapping(channel).cloned() else {
            return;
        };
        if !self.enter(nick, channel).await {
            self.tell(nick, &format!("your topic did not reach {channel}'s room"));
            return;
        }
        let jid = self.jid(nick).map(|j| j.to_string()).unwrap_or_default();
        let from = Person {
            account: nick,
            jid: &jid,
            clearance: &self.network.accreditation,
        };
        match crossing::typed_subject(&self.state, from, &mapping.room, &mapping, text) {
            Ok(subject) => {
                let Some(p) = self.people.get(&nick::fold(nick)) else {
                    return;
                };
                if let Err(e) = p.session.set_subject(&mapping.room, &subject).await {
                    self.tell(
                        nick,
                        &format!("your topic did not become {channel}'s room subject: {e}"),
                    );
                }
            }
            Err((_, words)) => self.tell(nick, &format!("{channel}: {words}")),
        }
    }

    /// A line typed in a mapped channel: decided, then sent by the typist's puppet, or refused
    /// to them in words.
    pub(super) async fn line(&mut self, nick: &str, channel: &str, text: &str, notice: bool) {
        let Some(mapping) = self.mapping(channel).cloned() else {
            return;
        };
        if !self.enter(nick, channel).await {
            self.tell(nick, &format!("your line did not reach {channel}'s room"));
            return;
        }
        let (action, text) = match super::words(text) {
            Ok(words) => words,
            Err(why) => {
                self.tell(nick, &format!("{channel}: {why}"));
                return;
            }
        };
        let text = text.as_str();
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
