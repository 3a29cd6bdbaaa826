//! Messages from a room or an occupant, turned into IRC deliveries: room messages (the room's
//! own notices, our reflections as echoes and answers, history with its time), private
//! messages (and their receipts), and bodiless ones handed to the typing module. Every body
//! reaches IRC only as lines [`crossing`](super::crossing) cleared for this user.

use jid::BareJid;

use super::crossing;
use super::pairing::Pairing;
use crate::audit::Direction;
use crate::irc::backend::{Delivery, Source};
use crate::metrics::{METRICS, Way};
use crate::xmpp::muc::ReceivedMessage;

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
            self.relay(&room, &m, &body, to).await;
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
        // The echo of a labelled message is its answer.
        let Some(label) = answer else {
            self.relay(&room, &m, &body, to).await;
            return;
        };
        self.answer_start(label);
        self.relay(&room, &m, &body, to).await;
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
            METRICS.withheld(Way::Private, crate::metrics::Reason::PrivateDisabled);
            crossing::ignored(
                &self.now,
                self.person(),
                m.from.as_ref(),
                "private messages are not allowed in this room",
            );
            return;
        }
        let to = Relay {
            from: self.occupant_source(&room, &nick),
            target: self.user.nick.clone(),
            notice: m.notice,
            direction: Direction::Private,
            way: Way::Private,
        };
        if self.relay(&room, &m, &body, to).await {
            self.receipt(&room, &nick, &m).await;
        }
    }

    /// A received body, decided for this user (withheld and audited, or delivered with its
    /// marking on every line, the `server-time` of history kept).
    async fn relay(&self, room: &BareJid, m: &ReceivedMessage, body: &str, to: Relay) -> bool {
        let Some(mapping) = self.rooms.get(room).map(|r| r.mapping.clone()) else {
            return false;
        };
        let person = self.person();
        let out =
            match crossing::body_to_irc(&self.now, person, to.direction, room, &mapping, m, body) {
                Ok(o) => o,
                Err(reason) => {
                    METRICS.withheld(to.way, reason);
                    return false; // withheld, audited
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
        true
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
