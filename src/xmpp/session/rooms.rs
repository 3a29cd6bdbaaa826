//! The rooms a session is in: their state, and what the worker makes of room presence (joins,
//! leaves, nick changes, away, removals) and messages (groupchat, private, subjects, errors).

use super::worker::{Worker, now_stamp};
use super::*;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

pub(super) struct RoomState {
    pub(super) nick: String,
    pub(super) history: History,
    pub(super) occupants: Occupants,
    pub(super) joined: bool,
    pub(super) pending: Option<oneshot::Sender<Result<Joined, JoinError>>>,
    /// A rejoin after a reset (report as `Rejoined`, not to a caller).
    pub(super) rejoining: bool,
    /// The newest delay stamp or receive time seen, for `since` on rejoin.
    pub(super) last_seen: Option<String>,
    /// New nicks announced by a nick change whose available presence has not come yet.
    pub(super) renaming: Vec<String>,
    /// Joined, and the room has not sent its subject yet: messages now are the history it
    /// replays on join (XEP-0045 §7.2.15), the only ones whose `<delay/>` is honoured.
    pub(super) history_open: bool,
    /// Away, with its status, as last set (sent again after a rejoin).
    pub(super) away: Option<Option<String>>,
    /// The id of our acceptance of the instant room this join created (status 201: the room
    /// stays locked to others until its creator accepts or configures it, XEP-0045 §10.1.2).
    /// The join completes when the room answers.
    pub(super) unlocking: Option<String>,
    /// Removed for a technical reason (332/333) while the stream stayed up, or a rejoin found
    /// the room not there yet: join again then.
    pub(super) rejoin_after: Option<tokio::time::Instant>,
    /// Rejoins tried since the room was last joined.
    pub(super) rejoin_tries: u8,
    /// When the room was last heard from (a self-ping, XEP-0410, follows a long silence).
    pub(super) heard: tokio::time::Instant,
    /// A self-ping is on its way.
    pub(super) pinging: bool,
}

/// How many times a rejoin that finds the room not there is tried again, and how far apart.
const REJOIN_TRIES: u8 = 5;
const REJOIN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long after a technical removal (332/333) a room is joined again if the stream has not
/// been reset meanwhile (a reset joins every room at once).
pub(super) const TECHNICAL_REJOIN: std::time::Duration = std::time::Duration::from_secs(5);

impl RoomState {
    /// The history to ask for when joining again: what came since the last message seen, or
    /// the first join's request when nothing was seen.
    pub(super) fn rejoin_history(&self) -> History {
        match &self.last_seen {
            Some(since) => History {
                max_stanzas: None,
                since: Some(since.clone()),
            },
            None => self.history.clone(),
        }
    }
}

/// The away state as [`muc::away_presence`] takes it.
pub(super) fn away_of(away: &Option<Option<String>>) -> Option<Option<&str>> {
    away.as_ref().map(|s| s.as_deref())
}

impl Worker {
    pub(super) async fn presence(&mut self, p: Presence) {
        let Some(from) = p.from.clone() else { return };
        let room = from.to_bare();
        if p.type_ != PresenceType::Error
            && let Some(r) = self.rooms.get_mut(&room)
        {
            r.heard = tokio::time::Instant::now();
        }
        if p.type_ == PresenceType::Error {
            // An error about another nick than ours is a refused nick change: we stay.
            if let Some(r) = self.rooms.get(&room)
                && r.pending.is_none()
                && !r.rejoining
                && from.resource().is_some_and(|n| n.as_str() != r.nick)
            {
                let nick = from
                    .resource()
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_default();
                let error = muc::stanza_error(&p.payloads)
                    .map(|e| JoinError::from_stanza_error(e, &nick))
                    .unwrap_or(JoinError::Other {
                        condition: "undefined-condition".into(),
                        text: None,
                    });
                self.emit(XmppEvent::NickRefused { room, nick, error })
                    .await;
                return;
            }
            if let Some(mut r) = self.rooms.remove(&room) {
                let err = muc::stanza_error(&p.payloads)
                    .map(|e| JoinError::from_stanza_error(e, &r.nick))
                    .unwrap_or(JoinError::Other {
                        condition: "undefined-condition".into(),
                        text: None,
                    });
                if let Some(reply) = r.pending.take() {
                    let _ = reply.send(Err(err));
                } else if r.rejoining
                    && matches!(err, JoinError::NotFound)
                    && r.rejoin_tries < REJOIN_TRIES
                {
                    // Rejoining after a restart, the room is "not there" while whoever
                    // recreated it first has not unlocked it yet (XEP-0045 §10.1.2): try
                    // again shortly, a few times, before calling it a failure.
                    r.rejoin_tries += 1;
                    r.rejoin_after = Some(tokio::time::Instant::now() + REJOIN_RETRY);
                    tracing::info!(%room, tries = r.rejoin_tries, "the room is not there yet; joining it again shortly");
                    self.rooms.insert(room, r);
                } else if r.rejoining {
                    self.emit(XmppEvent::RejoinFailed { room, error: err })
                        .await;
                } else {
                    self.emit(XmppEvent::RemovedFromRoom {
                        room,
                        codes: vec![],
                        reason: None,
                        condition: Some(err.to_string()),
                    })
                    .await;
                }
            }
            return;
        }
        let Some(op) = muc::read_occupant_presence(&p) else {
            return;
        };
        if !self.rooms.contains_key(&room) {
            return;
        }
        if op.is_self() {
            self.self_presence(op).await;
        } else {
            self.occupant_presence(op).await;
        }
    }

    async fn self_presence(&mut self, op: OccupantPresence) {
        let room = op.room.clone();
        // Only while the room is left or being joined again: once joined, an unavailable
        // presence is a real removal (the server answers a leave before a later join).
        let rejoining = self.rooms.get(&room).is_none_or(|r| r.pending.is_some());
        if !op.available
            && !op.codes.contains(&303)
            && rejoining
            && let Some(n) = self.leaving.get_mut(&room)
        {
            *n -= 1;
            if *n == 0 {
                self.leaving.remove(&room);
            }
            return;
        }
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        if !op.available {
            if op.codes.contains(&303)
                && let Some(new) = op.new_nick.clone()
            {
                let old = std::mem::replace(&mut r.nick, new.clone());
                muc::rename_occupant(&mut r.occupants, &old, &new);
                if r.joined {
                    self.emit(XmppEvent::NickChanged { room, old, new }).await;
                }
                return;
            }
            // XEP-0045 332 (system shutdown) and 333 (removed for a technical reason, e.g.
            // "recipient unavailable"): not a decision about us. The room stays ours: after a
            // shutdown the stream resets and every room is joined again; if the stream is
            // still up a little later, the room is joined again then (not at once: a server
            // shutting down answers "the room does not exist"). Only a kick, ban or
            // affiliation change (and anything unknown) is a removal.
            if r.joined && (op.codes.contains(&332) || op.codes.contains(&333)) {
                r.joined = false;
                r.history_open = false;
                r.occupants.clear();
                r.rejoining = true;
                r.rejoin_after = Some(tokio::time::Instant::now() + TECHNICAL_REJOIN);
                tracing::info!(%room, codes = ?op.codes, "removed from the room for a technical reason; it will be joined again");
                return;
            }
            let was_joined = r.joined;
            let pending = r.pending.take();
            self.rooms.remove(&room);
            if let Some(reply) = pending {
                let _ = reply.send(Err(JoinError::Other {
                    condition: "removed".into(),
                    text: op.reason.clone(),
                }));
            } else if was_joined {
                self.emit(XmppEvent::RemovedFromRoom {
                    room,
                    codes: op.codes,
                    condition: None,
                    reason: op.reason,
                })
                .await;
            }
            return;
        }
        // The room may have changed our nick (status 210).
        r.nick = op.occupant.nick.clone();
        r.occupants.insert(op.occupant.nick.clone(), op.occupant);
        if r.joined || r.unlocking.is_some() {
            return;
        }
        if op.codes.contains(&201) {
            // We created the room: accept it as an instant room (an empty submitted form)
            // before the join is complete, so that others can enter it.
            let id = new_id();
            r.unlocking = Some(id.clone());
            let iq = muc::instant_room(&room, id);
            self.link.send(Stanza::Iq(iq), None);
            return;
        }
        self.finish_join(&room).await;
    }

    /// The join of `room` is complete: its caller (or, after a reset, the bridge) is told.
    pub(super) async fn finish_join(&mut self, room: &BareJid) {
        let room = room.clone();
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        r.unlocking = None;
        if r.joined {
            return;
        }
        r.joined = true;
        r.rejoin_tries = 0;
        r.history_open = true;
        r.heard = tokio::time::Instant::now();
        r.pinging = false;
        let joined = Joined {
            nick: r.nick.clone(),
            occupants: r.occupants.clone(),
        };
        if let Some(reply) = r.pending.take() {
            let _ = reply.send(Ok(joined));
        } else if r.rejoining {
            r.rejoining = false;
            if r.away.is_some()
                && let Some(p) = muc::away_presence(&room, &r.nick, away_of(&r.away))
            {
                self.link.send(Stanza::Presence(p), None);
            }
            self.emit(XmppEvent::Rejoined {
                room,
                occupants: joined.occupants,
            })
            .await;
        }
    }

    async fn occupant_presence(&mut self, op: OccupantPresence) {
        let room = op.room.clone();
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let joined = r.joined;
        let nick = op.occupant.nick.clone();
        if op.available {
            let before = r
                .occupants
                .insert(nick.clone(), op.occupant.clone())
                .map(|o| (o.away, o.status));
            let now = (op.occupant.away, op.occupant.status.clone());
            if let Some(i) = r.renaming.iter().position(|n| *n == nick) {
                // The second half of a nick change, already reported as `NickChanged`.
                r.renaming.swap_remove(i);
                return;
            }
            if !joined {
                return;
            }
            match before {
                None => {
                    self.emit(XmppEvent::OccupantJoined {
                        room,
                        occupant: op.occupant,
                    })
                    .await
                }
                Some(before) if before != now => {
                    self.emit(XmppEvent::OccupantAway {
                        room,
                        nick,
                        away: now.0,
                        status: now.1,
                    })
                    .await
                }
                Some(_) => {}
            }
            return;
        }
        if op.codes.contains(&303)
            && let Some(new) = op.new_nick.clone()
        {
            // The occupant is known under the new nick at once, so the roster never misses
            // them between the two halves; the available presence under the new nick follows
            // and brings the rest of its details.
            muc::rename_occupant(&mut r.occupants, &nick, &new);
            if !joined {
                return;
            }
            r.renaming.push(new.clone());
            self.emit(XmppEvent::NickChanged {
                room,
                old: nick,
                new,
            })
            .await;
            return;
        }
        r.occupants.remove(&nick);
        if !joined {
            return;
        }
        self.emit(XmppEvent::OccupantLeft {
            room,
            nick,
            codes: op.codes,
            reason: op.reason,
            status: op.status,
            quit: op.quit,
        })
        .await;
    }

    pub(super) async fn message(&mut self, m: Message) {
        let mut received = muc::read_message(&m);
        let from = m.from.clone();
        if m.type_ == MessageType::Error {
            self.emit(XmppEvent::MessageError {
                from,
                id: received.id.clone(),
                error: received.error.clone(),
            })
            .await;
            return;
        }
        let Some(from) = from else {
            self.emit(XmppEvent::Direct {
                message: Box::new(received),
            })
            .await;
            return;
        };
        let room = from.to_bare();
        let Some(r) = self.rooms.get_mut(&room) else {
            self.refuse_direct(&m, &from, received.body.is_some());
            self.emit(XmppEvent::Direct {
                message: Box::new(received),
            })
            .await;
            return;
        };
        if m.type_ != MessageType::Error {
            r.heard = tokio::time::Instant::now();
        }
        let nick = from.resource().map(|r| r.as_str().to_owned());
        // Only the room assigns stanza-ids here (XEP-0359 `by`), and only the history the room
        // replays on join is delayed: a sender's own <delay/> on a live message is ignored.
        received.stanza_id = muc::stanza_id_by(&m.payloads, &room);
        if !(m.type_ == MessageType::Groupchat && r.history_open) {
            received.delay = None;
        }
        match m.type_ {
            MessageType::Groupchat => {
                r.last_seen = Some(received.delay.clone().unwrap_or_else(now_stamp));
                if received.body.is_none()
                    && let Some(subject) = received.subject.clone()
                {
                    // The subject ends the history (XEP-0045 §7.2.16).
                    let replay = std::mem::replace(&mut r.history_open, false);
                    self.emit(XmppEvent::Subject {
                        room,
                        nick,
                        subject,
                        message: Box::new(received),
                        replay,
                    })
                    .await;
                    return;
                }
                self.emit(XmppEvent::Groupchat {
                    room,
                    nick,
                    message: Box::new(received),
                })
                .await;
            }
            _ => match nick {
                Some(nick) => {
                    self.emit(XmppEvent::Private {
                        room,
                        nick,
                        message: Box::new(received),
                    })
                    .await
                }
                None => {
                    self.emit(XmppEvent::Direct {
                        message: Box::new(received),
                    })
                    .await
                }
            },
        }
    }

    /// A message with words from someone outside this session's rooms (a contact writing to
    /// the user's JID directly) reaches nobody: its sender is told so with `service-unavailable`
    /// rather than left to think it arrived. Not for what has no words (chat states, receipts),
    /// headlines, room protocol, the server itself or the user's own account, and never to a room this
    /// session is in or joining (a MUC service removes an occupant who sends it errors; those
    /// rooms' messages do not come here).
    fn refuse_direct(&mut self, m: &Message, from: &Jid, words: bool) {
        let kind_answered = matches!(m.type_, MessageType::Chat | MessageType::Normal);
        // A room's own protocol (a mediated invitation, a decline) is not answered either.
        let room_protocol = m.payloads.iter().any(|e| e.ns() == muc::NS_MUC_USER);
        if !words
            || !kind_answered
            || room_protocol
            || from.node().is_none()
            || from.to_bare() == self.bound.to_bare()
        {
            return;
        }
        let mut error = Message::new_with_type(MessageType::Error, Some(from.clone()));
        error.id = m.id.clone();
        error.payloads.push(minidom::Element::from(StanzaError::new(
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            "en",
            "This account takes part in chat through labelgate's IRC gateway: only private messages through the rooms it is in reach it.",
        )));
        self.link.send(Stanza::Message(error), None);
    }
}
