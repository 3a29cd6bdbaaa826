//! The task that owns a session's stream: it runs the commands of the [`Session`] handle,
//! sends stanzas through its [`Link`] (which follows them until acknowledged), answers and
//! matches IQs, rejoins rooms after a reset, and reports events.

use super::rooms::{RoomState, away_of};
use super::*;

/// A message sent on a stream with stream management (XEP-0198), followed until the server
/// acknowledges it. If the stream breaks and cannot be resumed, the link hands it back and we
/// report it as [`XmppEvent::Unconfirmed`] rather than let it vanish.
#[derive(Debug)]
pub(super) struct Unacked {
    pub(super) to: Jid,
    pub(super) origin_id: String,
    pub(super) body: String,
}

pub(super) struct Worker {
    pub(super) link: Link<Unacked>,
    pub(super) events: mpsc::Sender<XmppEvent>,
    pub(super) rooms: HashMap<BareJid, RoomState>,
    pub(super) iqs: HashMap<String, oneshot::Sender<Result<Iq, IqError>>>,
    pub(super) bound: FullJid,
    /// The session must end (the server bound a stream to another identity).
    pub(super) closing: bool,
    /// Rooms left whose answer (our unavailable presence) is still to come, with how many.
    pub(super) leaving: HashMap<BareJid, u32>,
    /// Events the layer above has not taken yet, beyond its channel (in order).
    pub(super) backlog: std::collections::VecDeque<XmppEvent>,
    /// Self-pings (XEP-0410) on their way, by IQ id.
    pub(super) self_pings: HashMap<String, super::selfping::SelfPing>,
    /// How long a joined room may be silent before a self-ping (`None`: never).
    pub(super) room_ping: Option<Duration>,
    /// How long an IQ may go unanswered.
    pub(super) iq_timeout: Duration,
}

/// Past this many events waiting for the layer above, the worker stops reading the server
/// (the server and TCP then hold the rest) — but it keeps taking commands, so a consumer that
/// waits on a command while events pile up is never stuck behind its own events.
const BACKLOG_PAUSE: usize = 4096;

pub(super) fn now_stamp() -> String {
    crate::util::timestamp_now(false)
}

impl Worker {
    /// Hands an event to the layer above without waiting: what its channel cannot take now
    /// waits in the backlog, in order. Nothing is dropped; a long backlog pauses reading.
    pub(super) async fn emit(&mut self, e: XmppEvent) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(e);
            return;
        }
        match self.events.try_send(e) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(e)) => self.backlog.push_back(e),
            // Nobody listens any more: the session is being dropped.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let accept = self.link.can_accept();
            let reading = self.backlog.len() < BACKLOG_PAUSE;
            let waiting = !self.backlog.is_empty();
            let rejoin_at = self.rooms.values().filter_map(|r| r.rejoin_after).min();
            let ping_at = self.self_ping_at();
            // A room in the channel for the oldest waiting event (owned: no borrow of self).
            let room_for = self.events.clone().reserve_owned();
            tokio::select! {
                _ = tokio::time::sleep_until(rejoin_at.unwrap_or_else(tokio::time::Instant::now)), if rejoin_at.is_some() => {
                    self.rejoin_due();
                }
                _ = tokio::time::sleep_until(ping_at.unwrap_or_else(tokio::time::Instant::now)), if ping_at.is_some() => {
                    self.self_ping_due();
                }
                permit = room_for, if waiting => match permit {
                    Ok(p) => {
                        if let Some(e) = self.backlog.pop_front() {
                            p.send(e);
                        }
                    }
                    Err(_) => self.backlog.clear(),
                },
                cmd = commands.recv(), if accept => match cmd {
                    Some(Command::Close(done)) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => {
                        self.shutdown().await;
                        return;
                    }
                },
                ev = self.link.next(), if reading => {
                    self.event(ev).await;
                    if self.closing {
                        for (_, tx) in self.iqs.drain() {
                            let _ = tx.send(Err(IqError::Closed));
                        }
                        self.emit(XmppEvent::Closed).await;
                        self.link.close().await;
                        self.flush_backlog().await;
                        return;
                    }
                }
            }
        }
    }

    pub(super) async fn shutdown(mut self) {
        let rooms: Vec<(BareJid, String)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(j, r)| (j.clone(), r.nick.clone()))
            .collect();
        for (room, nick) in rooms {
            // The session closing is its user quitting.
            let status = Some("gateway session closed");
            if let Some(p) = muc::leave_presence(&room, &nick, status, true) {
                self.link.send(Stanza::Presence(p), None);
            }
        }
        self.rooms.clear();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.link.close()).await;
        self.backlog.push_back(XmppEvent::Closed);
        self.flush_backlog().await;
    }

    /// At the end: what waits in the backlog is handed over, in order (at most 10 s: a layer
    /// above that no longer reads does not keep the task alive).
    pub(super) async fn flush_backlog(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Some(e) = self.backlog.pop_front() {
            match tokio::time::timeout_at(deadline, self.events.send(e)).await {
                Ok(Ok(())) => {}
                _ => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    pub(super) async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                room,
                nick,
                history,
                reply,
            } => {
                if let Some(r) = self.rooms.get(&room)
                    && r.joined
                {
                    let _ = reply.send(Ok(Joined {
                        nick: r.nick.clone(),
                        occupants: r.occupants.clone(),
                    }));
                    return;
                }
                let Some(p) = muc::join_presence(&room, &nick, &history) else {
                    let _ = reply.send(Err(JoinError::BadNick));
                    return;
                };
                self.rooms.insert(
                    room,
                    RoomState {
                        nick,
                        history,
                        occupants: Occupants::new(),
                        joined: false,
                        pending: Some(reply),
                        rejoining: false,
                        last_seen: None,
                        renaming: Vec::new(),
                        history_open: false,
                        away: None,
                        unlocking: None,
                        rejoin_after: None,
                        rejoin_tries: 0,
                        heard: tokio::time::Instant::now(),
                        pinging: false,
                    },
                );
                self.link.send(Stanza::Presence(p), None);
            }
            Command::Away { room, away } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.away = away;
                    if r.joined
                        && let Some(p) = muc::away_presence(&room, &r.nick, away_of(&r.away))
                    {
                        self.link.send(Stanza::Presence(p), None);
                    }
                }
            }
            Command::Leave { room, status, quit } => {
                if let Some(r) = self.rooms.remove(&room)
                    && let Some(p) = muc::leave_presence(&room, &r.nick, status.as_deref(), quit)
                {
                    self.link.send(Stanza::Presence(p), None);
                    // Its answer (our unavailable presence) may come after a new join of the
                    // same room (`/cycle`): it is about the old stay, not the new one.
                    *self.leaving.entry(room).or_default() += 1;
                }
            }
            Command::Send {
                stanza,
                room,
                track,
                reply,
            } => {
                if let Some(room) = room
                    && !self.rooms.get(&room).is_some_and(|r| r.joined)
                {
                    let _ = reply.send(Err(SendError::NotJoined(room)));
                    return;
                }
                let to = match &*stanza {
                    Stanza::Message(m) => m.to.clone(),
                    _ => None,
                };
                let track = match (to, track) {
                    (Some(to), Some((origin_id, body))) => Some(Unacked {
                        to,
                        origin_id,
                        body,
                    }),
                    _ => None,
                };
                self.link.send(*stanza, track);
                let _ = reply.send(Ok(()));
            }
            Command::Iq { iq, id, reply } => {
                self.iqs.insert(id, reply);
                self.link.send(Stanza::Iq(*iq), None);
            }
            Command::ForgetIq(id) => {
                self.iqs.remove(&id);
            }
            Command::Occupants { room, reply } => {
                let _ = reply.send(
                    self.rooms
                        .get(&room)
                        .filter(|r| r.joined)
                        .map(|r| (r.nick.clone(), r.occupants.clone())),
                );
            }
            Command::Close(_) => {}
        }
    }

    pub(super) async fn event(&mut self, ev: LinkEvent<Unacked>) {
        match ev {
            LinkEvent::Suspended => self.emit(XmppEvent::Suspended).await,
            LinkEvent::Resumed => self.emit(XmppEvent::Resumed).await,
            LinkEvent::Reset { bound, sm, lost } => {
                // Leaves and self-pings sent on the old stream will not be answered on this one.
                self.leaving.clear();
                self.self_pings.clear();
                // What the old stream carried without acknowledgement is gone with it.
                self.report_unconfirmed(lost).await;
                tracing::debug!(jid = %self.bound.to_bare(), sm, "stream reset");
                match bound.try_into_full() {
                    Ok(full) if full.to_bare() == self.bound.to_bare() => {
                        self.bound = full.clone();
                        self.emit(XmppEvent::Reset { bound: full }).await;
                    }
                    other => {
                        // Bound to someone else (or to no resource): this stream is not the
                        // user's; end the session rather than speak for another identity.
                        tracing::error!(expected = %self.bound.to_bare(), bound = ?other.ok(),
                            "the server bound a new stream to another JID; closing the session");
                        self.closing = true;
                        return;
                    }
                }
                self.rejoin_all().await;
            }
            LinkEvent::NotSent(u) => self.report_unconfirmed(vec![u]).await,
            LinkEvent::Stanza(Stanza::Presence(p)) => self.presence(p).await,
            LinkEvent::Stanza(Stanza::Message(m)) => self.message(m).await,
            LinkEvent::Stanza(Stanza::Iq(iq)) => self.iq(iq).await,
        }
    }

    /// Reports messages the server may not have received.
    pub(super) async fn report_unconfirmed(&mut self, lost: Vec<Unacked>) {
        for u in lost {
            tracing::warn!(to = %u.to, origin_id = %u.origin_id, "message not acknowledged before the stream was reset");
            self.emit(XmppEvent::Unconfirmed {
                to: u.to,
                origin_id: u.origin_id,
                body: u.body,
            })
            .await;
        }
    }

    /// Joins again the rooms whose technical removal is due (see [`TECHNICAL_REJOIN`](super::rooms::TECHNICAL_REJOIN)).
    fn rejoin_due(&mut self) {
        let now = tokio::time::Instant::now();
        let due: Vec<BareJid> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.rejoin_after.is_some_and(|t| t <= now))
            .map(|(j, _)| j.clone())
            .collect();
        for room in due {
            let Some(r) = self.rooms.get_mut(&room) else {
                continue;
            };
            r.rejoin_after = None;
            if let Some(p) = muc::join_presence(&room, &r.nick, &r.rejoin_history()) {
                self.link.send(Stanza::Presence(p), None);
            }
        }
    }

    pub(super) async fn rejoin_all(&mut self) {
        let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let Some(r) = self.rooms.get_mut(&room) else {
                continue;
            };
            let was_pending = r.pending.is_some();
            r.rejoin_after = None;
            r.joined = false;
            r.pinging = false;
            r.history_open = false;
            r.occupants.clear();
            r.rejoining = !was_pending;
            if let Some(p) = muc::join_presence(&room, &r.nick, &r.rejoin_history()) {
                self.link.send(Stanza::Presence(p), None);
            }
        }
    }

    pub(super) async fn iq(&mut self, iq: Iq) {
        let is_get = matches!(iq, Iq::Get { .. });
        // The answer to an instant-room acceptance (XEP-0045 §10.1.2) completes that join.
        if let Iq::Result { id, .. } | Iq::Error { id, .. } = &iq
            && let Some(room) = self
                .rooms
                .iter()
                .find(|(_, r)| r.unlocking.as_deref() == Some(id.as_str()))
                .map(|(j, _)| j.clone())
        {
            if let Iq::Error { error, .. } = &iq {
                tracing::warn!(%room, condition = ?error.defined_condition, "the room we created refused to become an instant room; others may not be able to enter it");
            }
            self.finish_join(&room).await;
            return;
        }
        match iq {
            Iq::Result {
                ref id, ref from, ..
            } if self.self_ping_answer(id, from.as_ref(), None) => {}
            Iq::Error {
                ref id,
                ref from,
                ref error,
                ..
            } if self.self_ping_answer(id, from.as_ref(), Some(&error.defined_condition)) => {}
            Iq::Result { ref id, .. } => {
                if let Some(tx) = self.iqs.remove(id) {
                    let _ = tx.send(Ok(iq));
                }
            }
            Iq::Error {
                ref id, ref error, ..
            } => {
                if let Some(tx) = self.iqs.remove(id) {
                    let _ = tx.send(Err(IqError::Error {
                        condition: format!("{:?}", error.defined_condition),
                    }));
                }
            }
            Iq::Get {
                from, id, payload, ..
            }
            | Iq::Set {
                from, id, payload, ..
            } => {
                // Answer ping, disco#info and version gets (crate::xmpp::disco); refuse
                // everything else (RFC 6120 §8.2.3: every get/set gets an answer).
                let answer = if is_get {
                    crate::xmpp::disco::answer_get(&payload)
                } else {
                    None
                };
                let reply = if let Some(payload) = answer {
                    Iq::Result {
                        from: None,
                        to: from,
                        id,
                        payload,
                    }
                } else {
                    Iq::Error {
                        from: None,
                        to: from,
                        id,
                        error: xmpp_parsers::stanza_error::StanzaError::new(
                            xmpp_parsers::stanza_error::ErrorType::Cancel,
                            xmpp_parsers::stanza_error::DefinedCondition::ServiceUnavailable,
                            "en",
                            "not supported by this gateway session",
                        ),
                        payload: None,
                    }
                };
                self.link.send(Stanza::Iq(reply), None);
            }
        }
    }
}
