//! What an IRC user asks of their pairing: joining and parting channels, lines to rooms and to
//! occupants, topics, the channel list, nick changes. Every text that goes to a room is cleared
//! by [`crossing`](super::crossing) first.

use std::sync::Arc;

use jid::BareJid;

use super::codes::Code;
use super::crossing::{self, AUDIT_FAILED};
use super::pairing::{HELD_LIMIT, JOIN_SUBJECT_WAIT, Outgoing, Pairing, PendingJoin, Room, member};
use crate::audit::What;
use crate::irc::backend::{Delivery, JoinRefusal, Request, Text};
use crate::irc::proto::names;
use crate::metrics::METRICS;
use crate::xmpp::muc::History;
use crate::xmpp::session::origin_id;

/// A typed line: its text and whether it is a `/me`.
#[derive(Clone, Copy)]
struct Line<'a> {
    text: &'a str,
    action: bool,
    /// An IRC NOTICE: it stays one for the gateway's other users.
    notice: bool,
}

impl Pairing {
    pub(super) async fn request(&mut self, r: Request) {
        if let Request::Labelled { label, request } = r {
            self.answer_start(label);
            Box::pin(self.request(*request)).await;
            self.answer_end().await;
            return;
        }
        match r {
            Request::Labelled { .. } => {}
            Request::Join { channel } => self.join(channel).await,
            Request::Part { channel, reason } => {
                let Some(room) = self.by_channel.get(&names::fold(&channel)).cloned() else {
                    return;
                };
                let Some(mapping) = self.rooms.get(&room).map(|r| r.mapping.clone()) else {
                    return;
                };
                let status = match crossing::typed_reason(
                    &self.now,
                    self.person(),
                    &room,
                    &mapping,
                    What::Reason,
                    reason.as_deref(),
                ) {
                    Ok(s) => s,
                    Err(why) => {
                        self.notice(format!(
                            "[{channel}] Your part message was not passed on: {why}."
                        ))
                        .await;
                        None
                    }
                };
                let shown = status.clone().map(Text::Cleared);
                self.part(&room, "you left the channel", true, status, shown)
                    .await;
            }
            Request::Message {
                notice,
                target,
                text,
                action,
                echo,
                ..
            } => {
                // NOTICE and PRIVMSG both become chat messages.
                let command = if notice { "NOTICE" } else { "PRIVMSG" };
                let line = Line {
                    text: &text,
                    action,
                    notice,
                };
                if target.starts_with('#') {
                    self.send_to_room(command, &target, line, echo).await;
                } else {
                    self.send_private(command, &target, line, echo).await;
                }
            }
            Request::Typing { target, state } => self.typing(target, state).await,
            Request::Topic { channel, topic } => self.topic(&channel, topic).await,
            Request::List => {
                let mappings = self.now.mappings.clone();
                // Only the channels the user could join.
                let open: Vec<_> = mappings
                    .iter()
                    .filter(|m| {
                        self.now
                            .gate
                            .policies()
                            .check(&self.clearance, &m.default_label)
                            .is_ok()
                    })
                    .collect();
                // How many are in the rooms the user is not in, as each room says (asked
                // together); the topic of such a room is never shown: it was not decided for
                // this user (the IRC side shows its own for the channels the user is in).
                let counts = futures::future::join_all(open.iter().map(|m| async {
                    match (&self.session, self.rooms.contains_key(&m.room)) {
                        (Some(s), false) => s.room_occupants(&m.room).await.ok().flatten(),
                        _ => None,
                    }
                }))
                .await;
                let mut entries: Vec<_> = open
                    .iter()
                    .zip(counts)
                    .map(|(m, n)| (m.channel.clone(), n.unwrap_or(0), Text::Own(String::new())))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                self.deliver(Delivery::List { entries }).await;
            }
            Request::Labels { channel } => {
                let Some(m) = self
                    .by_channel
                    .get(&names::fold(&channel))
                    .and_then(|r| self.rooms.get(r))
                    .map(|r| r.mapping.clone())
                else {
                    return;
                };
                for text in crossing::label_facts(&self.now, &m, &self.clearance) {
                    let channel = m.channel.clone();
                    self.deliver(Delivery::ChannelNotice { channel, text })
                        .await;
                }
            }
            Request::Nick { nick } => {
                // The IRC side has changed the nick already; the rooms follow.
                self.user.nick = nick.clone();
                self.nicks.set_own(&nick);
                let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
                for room in rooms {
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
            Request::Away { text } => {
                self.away = text;
                let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
                for room in rooms {
                    self.away_in(&room).await;
                }
            }
            Request::Kick {
                channel,
                nick,
                reason,
            } => self.kick(&channel, &nick, reason).await,
            Request::Invite { nick, channel } => self.invite(&nick, &channel).await,
            Request::Ping { token } => self.ping(token).await,
            Request::Quit { .. } => {}
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
        let me = self.person();
        let admitted = crossing::admit(
            &self.now,
            me,
            &mapping.room,
            &mapping,
            &self.user.groups,
            self.user.login,
        );
        if let Err(reason) = admitted {
            self.deliver(Delivery::JoinRefused { channel, reason })
                .await;
            return;
        }
        if let Err(why) = self.join_decision(&mapping) {
            let reason = if why.unaudited() {
                JoinRefusal::Other(AUDIT_FAILED.into())
            } else {
                JoinRefusal::NotCleared(format!(
                    "your clearance does not cover the room's default label ({})",
                    why.denied
                ))
            };
            self.deliver(Delivery::JoinRefused { channel, reason })
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
        // The server's catalog for the room, when it has one the gateway can use (asked before
        // the join: nothing of the room is queued for us yet). The mapping as this user reads
        // markings (their language, where the room's policy has it).
        let lang = self.user.marking_language.as_deref();
        let mut mapping = mapping.read_in(self.now.gate.policies(), lang);
        let server_catalog = self
            .inner
            .catalogs
            .for_room(session, &self.now, &mapping)
            .await;
        if let Some(labels) = &server_catalog {
            mapping.catalog = labels.clone();
        }
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
                let mapping_room = room.clone();
                let room_key = room.to_string();
                // In a stable order, so the same room gives the same nicks.
                let mut present: Vec<_> = joined.occupants.values().collect();
                present.sort_by(|a, b| a.nick.cmp(&b.nick));
                let mut members = Vec::new();
                let mut away = Vec::new();
                for o in present {
                    let source = if o.nick == joined.nick {
                        self.self_source()
                    } else {
                        let person = o.jid.as_ref().map(|j| j.to_bare().to_string());
                        let irc = self.nicks.add(&room_key, &o.nick, person.as_deref());
                        self.shown(&room, irc)
                    };
                    if o.away && o.nick != joined.nick {
                        away.push((source.clone(), o.status.clone()));
                    }
                    members.push(member(source, o.role));
                }
                self.by_channel.insert(names::fold(&channel), room.clone());
                self.rooms.insert(
                    room,
                    Room {
                        server_catalog: server_catalog.clone(),
                        channel: mapping.channel.clone(),
                        nick: joined.nick,
                        mapping: Arc::new(mapping),
                        ready: true,
                        rate: None,
                        told: crossing::Told::default(),
                    },
                );
                let facts = self
                    .rooms
                    .get(&mapping_room)
                    .map(|r| crossing::label_facts(&self.now, &r.mapping, &self.clearance))
                    .unwrap_or_default();
                // The JOIN burst waits for the room's subject (it follows the history), so
                // that the topic comes before NAMES and the history after; meanwhile what
                // concerns the channel is held, in order, starting with its label facts.
                let mut buffered: Vec<Delivery> = facts
                    .into_iter()
                    .map(|text| Delivery::ChannelNotice {
                        channel: channel.clone(),
                        text,
                    })
                    .collect();
                // Who is away already (for WHO, 301 and away-notify).
                if let Some(m) = self.rooms.get(&mapping_room).map(|r| r.mapping.clone()) {
                    for (who, status) in away {
                        let text = self.away_text(&mapping_room, &m, true, status.as_deref());
                        buffered.push(Delivery::Away { who, text });
                    }
                }
                self.begin_join(PendingJoin {
                    channel,
                    members,
                    buffered,
                    deadline: tokio::time::Instant::now() + JOIN_SUBJECT_WAIT,
                    label: self.answer_later().await,
                });
                if self.away.is_some() {
                    self.away_in(&mapping_room).await;
                }
            }
        }
    }

    async fn topic(&mut self, channel: &str, topic: Option<String>) {
        let Some((room, mapping)) = self.room_of(channel).await else {
            return;
        };
        // A query is answered by the IRC side from what it was given.
        let Some(t) = topic else { return };
        let subject = match crossing::typed_subject(&self.now, self.person(), &room, &mapping, &t) {
            Ok(s) => s,
            Err((code, why)) => {
                self.fail("TOPIC", code, channel, why).await;
                return;
            }
        };
        let Some(s) = &self.session else { return };
        match s.set_subject(&room, &subject).await {
            // The room's answer is the TOPIC the user sees (a PING waits for it).
            Ok(()) => {
                let wait = super::pong::PONG_WAIT;
                self.topics_set.retain(|(_, at)| at.elapsed() < wait);
                self.topics_set.push((room, tokio::time::Instant::now()));
            }
            Err(e) => {
                let why = format!("the topic was not changed: {e}");
                self.fail("TOPIC", Code::XmppError, channel, why).await;
            }
        }
    }

    /// Shows the user's away state (with its message where it may cross) in `room`.
    pub(super) async fn away_in(&mut self, room: &BareJid) {
        let Some((channel, mapping)) = self
            .rooms
            .get(room)
            .map(|r| (r.channel.clone(), r.mapping.clone()))
        else {
            return;
        };
        let Some(text) = self.away.clone() else {
            if let Some(s) = &self.session {
                s.set_away(room, None).await;
            }
            return;
        };
        let person = self.person();
        let status = match crossing::typed_reason(
            &self.now,
            person,
            room,
            &mapping,
            What::Status,
            Some(&text),
        ) {
            Ok(s) => s,
            Err(why) => {
                let text =
                    format!("[{channel}] You are shown away there without your message: {why}.");
                self.notice(text).await;
                None
            }
        };
        if let Some(s) = &self.session {
            s.set_away(room, Some(status.as_ref())).await;
        }
    }

    /// IRC → XMPP to a channel's room.
    async fn send_to_room(&mut self, command: &str, channel: &str, text: Line<'_>, echo: bool) {
        let Some(room) = self.by_channel.get(&names::fold(channel)).cloned() else {
            let why = "you are not in this channel".into();
            self.fail(command, Code::NotInChannel, channel, why).await;
            return;
        };
        self.send_typed(command, channel, room, None, text, echo)
            .await;
    }

    /// IRC → XMPP private message to the one occupant the nick names, through the first of
    /// their rooms (in room order) that lets the line through; refused with the first room's
    /// reason when none does.
    async fn send_private(&mut self, command: &str, target: &str, text: Line<'_>, echo: bool) {
        let found = self.nicks.occupant(target);
        if found.is_empty() {
            self.deliver(Delivery::NoSuchTarget {
                target: target.to_owned(),
            })
            .await;
            return;
        }
        let mut first_refusal = None;
        for (room, nick) in found {
            let Ok(room) = room.parse::<BareJid>() else {
                continue;
            };
            match self.clear_typed(&room, Some(&nick), text) {
                Ok(t) => {
                    let out = Outgoing {
                        command: command.to_owned(),
                        target: target.to_owned(),
                        room,
                        nick: Some(nick),
                        echo,
                        typed: text.text.to_owned(),
                        action: text.action,
                        message: t.message,
                        defaulted: None,
                    };
                    self.send_or_hold(out).await;
                    return;
                }
                Err(r) => {
                    first_refusal.get_or_insert(r);
                }
            }
        }
        if let Some((code, why)) = first_refusal {
            self.fail(command, code, target, why).await;
        }
    }

    /// Clears a typed line for `room` (to `nick`, for a private message), or says why not.
    fn clear_typed(
        &mut self,
        room: &BareJid,
        nick: Option<&str>,
        text: Line<'_>,
    ) -> Result<crossing::TypedOut, (Code, String)> {
        let Some(r) = self.rooms.get_mut(room) else {
            return Err((Code::NotInChannel, "you are not in that room".into()));
        };
        let me = crossing::Person {
            account: &self.user.account,
            jid: &self.jid,
            clearance: &self.clearance,
        };
        crossing::rate(&self.now, me, room, &r.mapping, &mut r.rate)?;
        let mapping = r.mapping.clone();
        crossing::typed_message(
            &self.now,
            self.person(),
            room,
            &mapping,
            nick.is_some(),
            text.text,
            text.action,
            text.notice,
            origin_id(),
        )
    }

    /// A typed line to a room: cleared, then sent — or held while the room is being rejoined
    /// — or refused with a standard reply naming the rule.
    async fn send_typed(
        &mut self,
        command: &str,
        target: &str,
        room: BareJid,
        nick: Option<String>,
        text: Line<'_>,
        echo: bool,
    ) {
        let typed = match self.clear_typed(&room, nick.as_deref(), text) {
            Ok(t) => t,
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
            typed: text.text.to_owned(),
            action: text.action,
            message: typed.message,
            defaulted: typed.defaulted,
        };
        self.send_or_hold(out).await;
    }

    async fn send_or_hold(&mut self, out: Outgoing) {
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
            self.fail(&out.command, Code::QueueFull, &out.target, why)
                .await;
        }
    }
}
