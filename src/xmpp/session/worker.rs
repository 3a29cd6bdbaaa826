//! The task that owns a session's stream: it runs the commands of the [`Session`] handle,
//! sends and tracks stanzas (XEP-0198 acknowledgements), answers and matches IQs, rejoins rooms
//! after a reset, and reports events.

use super::rooms::{RoomState, away_of};
use super::*;

/// A message sent on a stream with stream management (XEP-0198) whose receipt the server has
/// not acknowledged yet. If the stream breaks and cannot be resumed, the library discards it:
/// we report it as [`XmppEvent::Unconfirmed`] rather than let it vanish.
pub(super) struct Unacked {
    pub(super) to: Jid,
    pub(super) origin_id: String,
    pub(super) body: String,
    pub(super) token: StanzaToken,
}

/// At most this many unacknowledged messages are tracked (the oldest are let go).
pub(super) const UNACKED_LIMIT: usize = 4096;

pub(super) struct Worker {
    pub(super) stream: StanzaStream,
    pub(super) events: mpsc::Sender<XmppEvent>,
    pub(super) rooms: HashMap<BareJid, RoomState>,
    pub(super) iqs: HashMap<String, oneshot::Sender<Result<Iq, IqError>>>,
    pub(super) bound: FullJid,
    /// The current stream has stream management (so the server acknowledges stanzas).
    pub(super) sm: bool,
    pub(super) unacked: VecDeque<Unacked>,
    /// Set when a handed-over connection completed negotiation (see [`reconnector`]).
    pub(super) negotiated: Arc<AtomicBool>,
    /// The session must end (the server bound a stream to another identity).
    pub(super) closing: bool,
    /// Rooms left whose answer (our unavailable presence) is still to come, with how many.
    pub(super) leaving: HashMap<BareJid, u32>,
}

pub(super) fn now_stamp() -> String {
    crate::util::timestamp_now(false)
}

impl Worker {
    pub(super) async fn emit(&self, e: XmppEvent) {
        // Bounded: a slow consumer slows reading from the server, nothing is dropped.
        let _ = self.events.send(e).await;
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
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
                ev = self.stream.next() => match ev {
                    Some(ev) => {
                        self.event(ev).await;
                        if self.closing {
                            for (_, tx) in self.iqs.drain() {
                                let _ = tx.send(Err(IqError::Closed));
                            }
                            self.emit(XmppEvent::Closed).await;
                            self.stream.close().await;
                            return;
                        }
                    }
                    None => {
                        for (_, tx) in self.iqs.drain() {
                            let _ = tx.send(Err(IqError::Closed));
                        }
                        self.emit(XmppEvent::Closed).await;
                        return;
                    }
                },
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
                let _ = self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
        }
        self.rooms.clear();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stream.close()).await;
        let _ = self.events.send(XmppEvent::Closed).await;
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
                    },
                );
                self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
            Command::Away { room, away } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.away = away;
                    if r.joined
                        && let Some(p) = muc::away_presence(&room, &r.nick, away_of(&r.away))
                    {
                        self.stream.send(Box::new(Stanza::Presence(p))).await;
                    }
                }
            }
            Command::Leave { room, status, quit } => {
                if let Some(r) = self.rooms.remove(&room)
                    && let Some(p) = muc::leave_presence(&room, &r.nick, status.as_deref(), quit)
                {
                    self.stream.send(Box::new(Stanza::Presence(p))).await;
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
                let token = self.stream.send(stanza).await;
                if let (Some(to), Some((origin_id, body)), true) = (to, track, self.sm) {
                    self.track(Unacked {
                        to,
                        origin_id,
                        body,
                        token,
                    });
                }
                let _ = reply.send(Ok(()));
            }
            Command::Iq { iq, id, reply } => {
                self.iqs.insert(id, reply);
                self.stream.send(Box::new(Stanza::Iq(*iq))).await;
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

    pub(super) async fn event(&mut self, ev: Event) {
        match ev {
            Event::Stream(StreamEvent::Suspended) => self.emit(XmppEvent::Suspended).await,
            Event::Stream(StreamEvent::Resumed) => {
                self.negotiated.store(true, Ordering::SeqCst);
                self.emit(XmppEvent::Resumed).await
            }
            Event::Stream(StreamEvent::Reset {
                bound_jid,
                features,
            }) => {
                self.negotiated.store(true, Ordering::SeqCst);
                // Leaves sent on the old stream will not be answered on this one.
                self.leaving.clear();
                // The old stream's unacknowledged messages are gone with it.
                self.report_unconfirmed().await;
                self.sm = features.stream_management.is_some();
                match bound_jid.try_into_full() {
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
            Event::Stanza(Stanza::Presence(p)) => self.presence(p).await,
            Event::Stanza(Stanza::Message(m)) => self.message(m).await,
            Event::Stanza(Stanza::Iq(iq)) => self.iq(iq).await,
        }
    }

    /// Tracks a sent message until the server acknowledges it; acknowledged ones at the front
    /// are let go on the way.
    pub(super) fn track(&mut self, u: Unacked) {
        while self
            .unacked
            .front()
            .is_some_and(|f| f.token.state() >= StanzaStage::Acked)
        {
            self.unacked.pop_front();
        }
        if self.unacked.len() >= UNACKED_LIMIT {
            self.unacked.pop_front();
        }
        self.unacked.push_back(u);
    }

    /// Reports every tracked message that was not acknowledged on the old stream (after a
    /// reset, the library has discarded those it had sent).
    pub(super) async fn report_unconfirmed(&mut self) {
        // Still-queued ones go out on the new stream before any rejoin, so the room will
        // refuse them: they are reported too.
        let lost: Vec<Unacked> = std::mem::take(&mut self.unacked)
            .into_iter()
            .filter(|u| !matches!(u.token.state(), StanzaState::Acked { .. }))
            .collect();
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

    pub(super) async fn rejoin_all(&mut self) {
        let rooms: Vec<BareJid> = self.rooms.keys().cloned().collect();
        for room in rooms {
            let Some(r) = self.rooms.get_mut(&room) else {
                continue;
            };
            let was_pending = r.pending.is_some();
            r.joined = false;
            r.history_open = false;
            r.occupants.clear();
            r.rejoining = !was_pending;
            let mut history = r.history.clone();
            if let Some(since) = &r.last_seen {
                history = History {
                    max_stanzas: None,
                    since: Some(since.clone()),
                };
            }
            if let Some(p) = muc::join_presence(&room, &r.nick, &history) {
                self.stream.send(Box::new(Stanza::Presence(p))).await;
            }
        }
    }

    pub(super) async fn iq(&mut self, iq: Iq) {
        match iq {
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
                // Answer pings; refuse everything else (RFC 6120 §8.2.3: every get/set gets an
                // answer).
                let reply = if payload.is("ping", "urn:xmpp:ping") {
                    Iq::Result {
                        from: None,
                        to: from,
                        id,
                        payload: None,
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
                self.stream.send(Box::new(Stanza::Iq(reply))).await;
            }
        }
    }
}
