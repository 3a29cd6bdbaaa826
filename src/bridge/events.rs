//! What a user's XMPP session reports, turned into IRC deliveries: room messages and private
//! messages, subjects, occupants coming, going and renaming, reconnects, bounces. Every text
//! from the room reaches IRC only as a value [`crossing`](super::crossing) cleared for this user.

use jid::BareJid;

use super::crossing;
use super::messages::room_source;
use super::pairing::{Pairing, member, occupant_as};
use super::sent::Sent;
use crate::audit::What;
use crate::config::mappings::ReplayedSubjects;
use crate::irc::backend::{Delivery, Text};
use crate::metrics::METRICS;
use crate::xmpp::session::XmppEvent;

impl Pairing {
    pub(super) async fn event(&mut self, e: XmppEvent) {
        match e {
            XmppEvent::Groupchat {
                room,
                nick,
                message,
            } => self.groupchat(room, nick, *message).await,
            XmppEvent::Private {
                room,
                nick,
                message,
            } => self.private(room, nick, *message).await,
            XmppEvent::OccupantJoined { room, occupant } => {
                let Some(r) = self.rooms.get(&room) else {
                    return;
                };
                if occupant.nick == r.nick {
                    return;
                }
                let channel = r.channel.clone();
                let person = occupant.jid.as_ref().map(|j| j.to_bare().to_string());
                if self.nicks.has(&room.to_string(), &occupant.nick) {
                    return; // a role or status change
                }
                let irc = self
                    .nicks
                    .add(&room.to_string(), &occupant.nick, person.as_deref());
                let source = self.shown(&room, irc);
                let who = member(source.clone(), occupant.role);
                let mapping = r.mapping.clone();
                self.deliver(Delivery::Join { channel, who }).await;
                if occupant.away {
                    let status = occupant.status.as_deref();
                    let text = self.away_text(&room, &mapping, true, status);
                    self.deliver(Delivery::Away { who: source, text }).await;
                }
            }
            XmppEvent::OccupantAway {
                room,
                nick,
                away,
                status,
            } => {
                let Some(mapping) = self.rooms.get(&room).map(|r| r.mapping.clone()) else {
                    return;
                };
                let who = self.occupant_source(&room, &nick);
                let text = self.away_text(&room, &mapping, away, status.as_deref());
                self.deliver(Delivery::Away { who, text }).await;
            }
            XmppEvent::OccupantLeft {
                room,
                nick,
                codes,
                reason,
                status,
                quit,
            } => {
                self.occupant_left(room, nick, codes, reason, status, quit)
                    .await
            }
            XmppEvent::NickChanged { room, old, new } => {
                let key = room.to_string();
                if let Some(r) = self.rooms.get_mut(&room)
                    && old == r.nick
                {
                    // Our own change (the IRC side has shown it already).
                    r.nick = new;
                } else if self.rooms.contains_key(&room) {
                    let old_irc = self
                        .nicks
                        .remove(&key, &old)
                        .unwrap_or_else(|| self.nicks.irc(&key, &old, None));
                    let new_irc = self.nicks.add(&key, &new, None);
                    if old_irc != new_irc {
                        let who = occupant_as(&room, old_irc);
                        self.deliver(Delivery::Nick { who, new: new_irc }).await;
                    }
                }
            }
            XmppEvent::RemovedFromRoom {
                room,
                reason,
                condition,
                codes,
            } => {
                let Some(mapping) = self.rooms.get(&room).map(|r| r.mapping.clone()) else {
                    return;
                };
                let said = crossing::free_text_to_irc(
                    &self.now,
                    self.person(),
                    &room,
                    &mapping,
                    What::Reason,
                    reason.as_deref(),
                );
                let why = match (said, condition) {
                    (Some(s), _) => Text::Cleared(s),
                    (None, Some(c)) => Text::Own(format!("removed from the XMPP room: {c}")),
                    (None, None) => Text::Own("removed from the XMPP room".into()),
                };
                if codes.contains(&307) || codes.contains(&301) {
                    return self.kicked(&room, Some(why)).await;
                }
                let held_why = "you were removed from the room".to_owned();
                self.part(&room, &held_why, false, None, Some(why)).await;
            }
            XmppEvent::Subject {
                room,
                nick,
                subject,
                message,
                replay,
            } => {
                let Some(r) = self.rooms.get(&room) else {
                    return;
                };
                let (channel, mapping) = (r.channel.clone(), r.mapping.clone());
                let own = r.nick.clone();
                if nick.as_deref() == Some(own.as_str()) {
                    self.topics_set.retain(|(r, _)| *r != room);
                }
                let by = nick.map(|n| {
                    if n == own {
                        self.self_source()
                    } else {
                        self.occupant_source(&room, &n)
                    }
                });
                // A live change: what it carries is remembered for the room's later replays.
                if !replay
                    && let Ok(labels) =
                        crossing::subject_labels(&self.now, &mapping, &message, &subject)
                {
                    self.inner.subjects.set(&room, &subject, labels);
                }
                let remembered = self.inner.subjects.get(&room, &subject);
                if replay
                    && remembered.is_none()
                    && !subject.is_empty()
                    && mapping.replayed_subjects == ReplayedSubjects::Withhold
                {
                    crossing::ignored(
                        &self.now,
                        self.person(),
                        message.from.as_ref(),
                        "the room's subject was not shown: the gateway did not see it set, so \
                         its label is unknown",
                    );
                    self.complete_join(&channel, None, None).await;
                    return;
                }
                let remembered = remembered.unwrap_or_default();
                // Withheld (and audited) when this user may not see it: the topic stays as the
                // user last saw it.
                let topic = crossing::subject_to_irc(
                    &self.now,
                    self.person(),
                    &room,
                    &mapping,
                    &message,
                    &subject,
                    &remembered,
                );
                if self.join_pending(&channel) {
                    // The subject that ends a join's history: the JOIN burst goes now.
                    let topic = topic.filter(|t| !t.get().is_empty());
                    let by = by.map(|b| b.nick);
                    let by = topic.as_ref().and(by);
                    self.complete_join(&channel, topic, by).await;
                } else if let Some(topic) = topic {
                    self.deliver(Delivery::Topic {
                        channel,
                        topic: Some(topic),
                        by,
                    })
                    .await;
                }
            }
            XmppEvent::ReconnectFailed { error, retry_in } => {
                // One notice per loss (the first failed attempt says why); the attempts after
                // it are logged, and the recovery is told once.
                if self.told_down {
                    tracing::info!(account = %self.user.account, %error, ?retry_in, "XMPP reconnect attempt failed");
                } else {
                    self.told_down = true;
                    self.notice(format!(
                        "XMPP connection lost ({error}); retrying in {:.1} s, and until it is back.",
                        retry_in.as_secs_f64()
                    ))
                    .await;
                }
            }
            XmppEvent::Reset { .. } => {
                // A new stream: every room is being rejoined; messages wait for it.
                self.set_connected(true);
                METRICS.reconnected();
                for r in self.rooms.values_mut() {
                    r.ready = false;
                }
                self.told_down = false;
                self.notice("XMPP connection re-established; rejoining rooms.".into())
                    .await
            }
            XmppEvent::Rejoined { room, occupants } => {
                // Occupants still present keep their IRC nicks; the IRC side hears who left
                // and who came while the stream was down.
                let key = room.to_string();
                let mut changes = Vec::new();
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.ready = true;
                    let own = r.nick.clone();
                    let channel = r.channel.clone();
                    for gone in self.nicks.retain(&key, |n| occupants.contains_key(n)) {
                        changes.push(Delivery::Part {
                            channel: channel.clone(),
                            who: occupant_as(&room, gone),
                            reason: Some(Text::Own(
                                "left while the gateway was reconnecting".into(),
                            )),
                        });
                    }
                    let mut new: Vec<_> = occupants
                        .values()
                        .filter(|o| o.nick != own && !self.nicks.has(&key, &o.nick))
                        .collect();
                    new.sort_by(|a, b| a.nick.cmp(&b.nick));
                    for o in new {
                        let person = o.jid.as_ref().map(|j| j.to_bare().to_string());
                        let irc = self.nicks.add(&key, &o.nick, person.as_deref());
                        changes.push(Delivery::Join {
                            channel: channel.clone(),
                            who: member(self.shown(&room, irc), o.role),
                        });
                    }
                }
                for d in changes {
                    self.deliver(d).await;
                }
                self.flush_held().await;
            }
            XmppEvent::RejoinFailed { room, error } => {
                let why = format!("could not rejoin: {error}");
                let reason = Some(Text::Own(why.clone()));
                self.part(&room, &why, false, None, reason).await;
            }
            XmppEvent::Suspended => self.set_connected(false),
            XmppEvent::Resumed => {
                self.set_connected(true);
                if std::mem::take(&mut self.told_down) {
                    self.notice("XMPP connection resumed.".into()).await;
                }
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
                        (Some(_), Some(nick)) => self.occupant_source(&room, nick.as_str()).nick,
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
            XmppEvent::MessageError { from, id, error } => {
                let server = self.user.jid.domain().to_string();
                let rooms = &self.rooms;
                let condition = error.as_ref().map(|e| e.condition.as_str());
                let Some(condition) = crossing::error_report(
                    &self.now,
                    self.person(),
                    from.as_ref(),
                    &server,
                    |r| rooms.contains_key(r),
                    condition,
                ) else {
                    // A private-message bounce comes from the occupant's JID: only that one,
                    // for a message we sent there, is a report.
                    self.occupant_bounce(from, id, error.map(|e| e.condition))
                        .await;
                    return;
                };
                let from_text = from.as_ref().map(|f| f.to_string()).unwrap_or_default();
                let sent = id
                    .as_deref()
                    .and_then(|id| self.sent.peek(id))
                    .filter(|s| from.is_none() || s.to == from_text || from_text == server);
                match sent.map(|s| s.to.clone()) {
                    Some(_) => {
                        let Some(sent) = id.and_then(|id| self.sent.take(&id)) else {
                            return;
                        };
                        self.notice(format!(
                            "[{}] Not delivered: \"{}\" was bounced by the XMPP server \
                             ({condition})",
                            sent.target, sent.snippet
                        ))
                        .await
                    }
                    None => {
                        self.notice(format!(
                            "The XMPP server reported an error ({condition}) about something \
                             this session sent."
                        ))
                        .await
                    }
                }
            }
            XmppEvent::Direct { message } => {
                crossing::ignored(
                    &self.now,
                    self.person(),
                    message.from.as_ref(),
                    "a message from outside the user's rooms was not shown",
                );
            }
            XmppEvent::Closed => {}
        }
    }

    /// An error from an occupant's JID: shown only as the bounce of a private message we sent
    /// to exactly that occupant (already audited as ignored otherwise).
    async fn occupant_bounce(
        &mut self,
        from: Option<jid::Jid>,
        id: Option<String>,
        condition: Option<String>,
    ) {
        let Some(from) = from else { return };
        let matches = id
            .as_deref()
            .and_then(|id| self.sent.peek(id))
            .is_some_and(|s| s.to == from.to_string());
        if !matches || !self.rooms.contains_key(&from.to_bare()) {
            return;
        }
        if let Some(sent) = id.and_then(|id| self.sent.take(&id)) {
            let condition = condition.unwrap_or_else(|| "undefined-condition".into());
            self.notice(format!(
                "[{}] Not delivered: \"{}\" was bounced by the XMPP server ({condition})",
                sent.target, sent.snippet
            ))
            .await;
        }
    }

    async fn occupant_left(
        &mut self,
        room: BareJid,
        nick: String,
        codes: Vec<u16>,
        reason: Option<String>,
        status: Option<String>,
        quit: bool,
    ) {
        let key = room.to_string();
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let (channel, mapping) = (r.channel.clone(), r.mapping.clone());
        let irc = self
            .nicks
            .remove(&key, &nick)
            .unwrap_or_else(|| self.nicks.irc(&key, &nick, None));
        let kicked = codes.contains(&307) || codes.contains(&301);
        let (what, text) = if kicked {
            (What::Reason, reason.as_deref())
        } else {
            (What::Status, status.as_deref())
        };
        let said =
            crossing::free_text_to_irc(&self.now, self.person(), &room, &mapping, what, text)
                .map(Text::Cleared);
        if kicked {
            let by = room_source(&room);
            self.deliver(Delivery::Kick {
                channel,
                by,
                nick: irc,
                reason: said,
            })
            .await;
        } else if quit {
            // An IRC user of a gateway quitting: one QUIT (the IRC side shows it once, for
            // every channel shared).
            let who = occupant_as(&room, irc);
            self.deliver(Delivery::Quit { who, reason: said }).await;
        } else {
            let who = occupant_as(&room, irc);
            self.deliver(Delivery::Part {
                channel,
                who,
                reason: said,
            })
            .await;
        }
    }

    /// An occupant's away state for IRC: `None` when back; when away, their status as decided
    /// for this user, or the gateway's own word when it may not be shown.
    pub(super) fn away_text(
        &self,
        room: &BareJid,
        mapping: &crate::config::mappings::Mapping,
        away: bool,
        status: Option<&str>,
    ) -> Option<Text> {
        if !away {
            return None;
        }
        let said = crossing::free_text_to_irc(
            &self.now,
            self.person(),
            room,
            mapping,
            What::Status,
            status,
        );
        Some(said.map_or_else(|| Text::Own("away".into()), Text::Cleared))
    }
}
