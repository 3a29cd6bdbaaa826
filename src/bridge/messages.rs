//! Messages from a room or an occupant, turned into IRC deliveries: room messages (the room's
//! own notices, our reflections as echoes and answers, history with its time), private
//! messages (and their receipts), and bodiless ones handed to the typing module. Every body
//! reaches IRC only as lines [`crossing`](super::crossing) cleared for this user.

use jid::BareJid;

use super::crossing;
use super::pairing::Pairing;
use crate::audit::Direction;
use crate::irc::backend::{Delivery, Source};
use crate::metrics::{METRICS, Reason, Way};
use crate::xmpp::muc::ReceivedMessage;
use crate::xmpp::session::origin_id;

impl Pairing {
    pub(super) async fn groupchat(
        &mut self,
        room: BareJid,
        nick: Option<String>,
        m: ReceivedMessage,
    ) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let Some(body) = m.body.clone() else {
            if let Some(nick) = nick {
                self.chat_state(&room, &nick, false, &m).await;
            }
            return;
        };
        let channel = r.channel.clone();
        // A message from the room itself (a configuration notice): decided like any body, shown
        // as a NOTICE from `room` (a name no occupant can take).
        let Some(nick) = nick else {
            let to = Relay {
                from: room_source(&room),
                target: channel,
                notice: true,
                direction: Direction::XmppToIrc,
                way: Way::XmppToIrc,
            };
            let _ = self.relay(&room, &m, &body, to).await;
            return;
        };
        let own = nick == r.nick;
        let mut answer = None;
        if own
            && let Some(id) = &m.origin_id
            && let Some(sent) = self.sent.take(id)
        {
            if !sent.echo {
                return; // our own reflection, not asked to echo
            }
            answer = sent.label;
        }
        let (direction, way) = if m.delay.is_some() {
            (Direction::History, Way::History)
        } else {
            (Direction::XmppToIrc, Way::XmppToIrc)
        };
        let from = if own {
            self.self_source()
        } else {
            self.occupant_source(&room, &nick)
        };
        let to = Relay {
            from,
            target: channel,
            notice: m.notice,
            direction,
            way,
        };
        // The echo of a labelled message is its answer. (A room line withheld from this user
        // is audited and never hinted at, to them or to its sender: others may well have it.)
        let Some(label) = answer else {
            let _ = self.relay(&room, &m, &body, to).await;
            return;
        };
        self.answer_start(label);
        let _ = self.relay(&room, &m, &body, to).await;
        self.answer_end().await;
    }

    /// XMPP → IRC private message from a room occupant.
    pub(super) async fn private(&mut self, room: BareJid, nick: String, m: ReceivedMessage) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let Some(body) = m.body.clone() else {
            if r.mapping.private_messages {
                self.chat_state(&room, &nick, true, &m).await;
            }
            return;
        };
        if !r.mapping.private_messages {
            METRICS.withheld(Way::Private, Reason::PrivateDisabled);
            crossing::ignored(
                &self.now,
                self.person(),
                m.from.as_ref(),
                "private messages are not allowed in this room",
            );
            self.tell_undelivered(&room, &nick, &m, Reason::PrivateDisabled)
                .await;
            return;
        }
        let to = Relay {
            from: self.occupant_source(&room, &nick),
            target: self.user.nick.clone(),
            notice: m.notice,
            direction: Direction::Private,
            way: Way::Private,
        };
        match self.relay(&room, &m, &body, to).await {
            Ok(()) => self.receipt(&room, &nick, &m).await,
            Err(Some(why)) => self.tell_undelivered(&room, &nick, &m, why).await,
            Err(None) => {}
        }
    }

    /// Tells the occupant `nick`, whose private message was withheld from this user, that it
    /// was not received — unless it was a notice, which is never answered.
    async fn tell_undelivered(&self, room: &BareJid, nick: &str, m: &ReceivedMessage, why: Reason) {
        let (Some(r), Some(session)) = (self.rooms.get(room), &self.session) else {
            return;
        };
        if m.notice {
            return;
        }
        let Some(notice) = crossing::undelivered_notice(
            &self.now,
            self.person(),
            room,
            &r.mapping,
            &r.nick,
            why,
            origin_id(),
        ) else {
            return;
        };
        if let Err(e) = session.send_private(room, nick, &notice).await {
            tracing::warn!(%room, %nick, error = %e, "a sender could not be told that their private message was withheld");
        }
    }

    /// A received body, decided for this user (withheld and audited, or delivered with its
    /// marking on every line, the `server-time` of history kept). `Err(None)`: the room is
    /// not (or no longer) this user's.
    async fn relay(
        &self,
        room: &BareJid,
        m: &ReceivedMessage,
        body: &str,
        to: Relay,
    ) -> Result<(), Option<Reason>> {
        let Some(mapping) = self.rooms.get(room).map(|r| r.mapping.clone()) else {
            return Err(None);
        };
        let person = self.person();
        let out =
            match crossing::body_to_irc(&self.now, person, to.direction, room, &mapping, m, body) {
                Ok(o) => o,
                Err(reason) => {
                    METRICS.withheld(to.way, reason);
                    return Err(Some(reason)); // withheld, audited
                }
            };
        METRICS.relayed(to.way);
        self.deliver(Delivery::Message {
            from: to.from,
            target: to.target,
            message: out.message,
            action: out.action,
            notice: to.notice,
        })
        .await;
        Ok(())
    }
}

/// Where and how a received body goes on IRC.
struct Relay {
    from: Source,
    target: String,
    notice: bool,
    direction: Direction,
    way: Way,
}

/// The room itself as an IRC source (kicks, the room's own notices).
pub(super) fn room_source(room: &BareJid) -> Source {
    Source {
        nick: "room".into(),
        user: "xmpp".into(),
        host: room.domain().to_string(),
        account: None,
    }
}
