//! XEP-0410 MUC self-ping: a room the session has heard nothing from for a while is asked
//! whether the session is still in it, by pinging its own occupant. A room can lose its
//! occupants without telling them — in a cluster, the node that held the room dies and takes
//! the room with it while the session's own node stays up — and a session that believed itself
//! joined would then carry nothing, both ways, for good. The answer decides:
//!
//! * a result, `service-unavailable` or `feature-not-implemented`: still joined (the last two
//!   say the occupant's client does not answer pings, not that it is gone);
//! * no answer within the IQ timeout, or `remote-server-*`: undecided, asked again later;
//! * any other error (`not-acceptable`, `item-not-found`, …): not joined; the room is joined
//!   again as after a reset (reported as `Rejoined`, or `RejoinFailed`).

use xmpp_parsers::stanza_error::DefinedCondition;

use super::worker::Worker;
use super::*;

/// `urn:xmpp:ping` (XEP-0199).
const NS_PING: &str = "urn:xmpp:ping";

/// A self-ping on its way.
pub(super) struct SelfPing {
    pub(super) room: BareJid,
    pub(super) sent: tokio::time::Instant,
}

impl Worker {
    /// When the next self-ping is due (`None`: no joined room, or pinging is off).
    pub(super) fn self_ping_at(&self) -> Option<tokio::time::Instant> {
        let quiet = self.room_ping?;
        let pending = self.self_pings.values().map(|p| p.sent + self.iq_timeout);
        self.rooms
            .values()
            .filter(|r| r.joined && !r.pinging)
            .map(|r| r.heard + quiet)
            .chain(pending)
            .min()
    }

    /// Pings the rooms quiet for long enough; forgets pings unanswered past the IQ timeout.
    pub(super) fn self_ping_due(&mut self) {
        let Some(quiet) = self.room_ping else {
            return;
        };
        let now = tokio::time::Instant::now();
        let timeout = self.iq_timeout;
        let expired: Vec<String> = self
            .self_pings
            .iter()
            .filter(|(_, p)| p.sent + timeout <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(p) = self.self_pings.remove(&id)
                && let Some(r) = self.rooms.get_mut(&p.room)
            {
                tracing::debug!(room = %p.room, "self-ping unanswered; asking again later");
                r.pinging = false;
                r.heard = now;
            }
        }
        let due: Vec<(BareJid, String)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.joined && !r.pinging && r.heard + quiet <= now)
            .map(|(j, r)| (j.clone(), r.nick.clone()))
            .collect();
        for (room, nick) in due {
            let Ok(to) = room.with_resource_str(&nick) else {
                continue;
            };
            let id = format!("selfping-{}", new_id());
            let iq = Iq::Get {
                from: None,
                to: Some(Jid::from(to)),
                id: id.clone(),
                payload: minidom::Element::builder("ping", NS_PING).build(),
            };
            self.link.send(Stanza::Iq(iq), None);
            if let Some(r) = self.rooms.get_mut(&room) {
                r.pinging = true;
            }
            self.self_pings.insert(id, SelfPing { room, sent: now });
        }
    }

    /// The answer to a self-ping (`Some(condition)` for an error), from `from`; `false`: not
    /// one of ours. Only the room (or our own occupant in it) may answer: an answer from
    /// anyone else is not taken, and the ping stays on its way.
    pub(super) fn self_ping_answer(
        &mut self,
        id: &str,
        from: Option<&Jid>,
        error: Option<&DefinedCondition>,
    ) -> bool {
        let Some(p) = self.self_pings.get(id) else {
            return false;
        };
        if from.is_none_or(|f| f.to_bare() != p.room) {
            tracing::debug!(room = %p.room, from = ?from, "a self-ping answer not from the room; ignored");
            return true;
        }
        let room = p.room.clone();
        self.self_pings.remove(id);
        let Some(r) = self.rooms.get_mut(&room) else {
            return true;
        };
        r.pinging = false;
        r.heard = tokio::time::Instant::now();
        let joined = matches!(
            error,
            None | Some(
                DefinedCondition::ServiceUnavailable
                    | DefinedCondition::FeatureNotImplemented
                    | DefinedCondition::RemoteServerNotFound
                    | DefinedCondition::RemoteServerTimeout
            )
        );
        if !joined && r.joined {
            tracing::info!(%room, condition = ?error, "self-ping: no longer in the room; joining it again");
            r.joined = false;
            r.history_open = false;
            r.occupants.clear();
            r.rejoining = true;
            r.rejoin_after = Some(tokio::time::Instant::now());
        }
        true
    }
}
