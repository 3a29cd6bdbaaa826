//! Typing notifications and delivery receipts, the two small extras of a conversation: an IRC
//! user's `+typing` to a room or an occupant, a room's chat states to the user, and the XEP-0184
//! receipt the gateway gives for a private message it delivered. Each is decided in
//! [`crossing`](super::crossing) (chat states) or switched by the room's `receipts` control.

use jid::BareJid;

use super::codes::Code;
use super::crossing;
use super::pairing::Pairing;
use crate::audit::Direction;
use crate::irc::backend::{Delivery, Typing};
use crate::irc::proto::names;
use crate::xmpp::muc::ReceivedMessage;

impl Pairing {
    /// A `+typing` from the user to a channel or a nick (the first room shared with them).
    pub(super) async fn typing(&mut self, target: String, typing: Typing) {
        let (room, nick) = if target.starts_with('#') {
            match self.by_channel.get(&names::fold(&target)) {
                Some(room) => (room.clone(), None),
                None => return, // not in it: the IRC side said so
            }
        } else {
            let found = self.nicks.occupant(&target).into_iter().find_map(|(r, n)| {
                let room = r.parse::<BareJid>().ok()?;
                self.rooms.contains_key(&room).then_some((room, n))
            });
            match found {
                Some((room, nick)) => (room, Some(nick)),
                None => return,
            }
        };
        let person = crossing::Person {
            account: &self.user.account,
            jid: &self.jid,
            clearance: &self.clearance,
        };
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        if !r.ready {
            return; // being rejoined: a typing notification is not worth holding
        }
        let mapping = r.mapping.clone();
        let private = nick.is_some();
        let cleared = crossing::typed_chat_state(
            &self.now,
            person,
            &room,
            &mapping,
            private,
            typing,
            &mut r.told,
        );
        match cleared {
            Ok(out) => {
                if let Some(s) = &self.session
                    && let Err(e) = s.send_chat_state(&room, nick.as_deref(), &out).await
                {
                    tracing::debug!(error = %e, "a typing notification was not sent");
                }
            }
            Err(Some(why)) => {
                // Not counted as a withheld message: a typing notification is not one.
                self.deliver(Delivery::Fail {
                    command: "TAGMSG".into(),
                    code: Code::BoundaryControl.as_str().to_owned(),
                    context: target,
                    text: format!("{why} (said once)"),
                })
                .await;
            }
            Err(None) => {}
        }
    }

    /// A message without a body from a room or an occupant: a chat state, shown to the user
    /// when the room lets them cross (`nick`: who; `private`: sent to the user alone).
    pub(super) async fn chat_state(
        &mut self,
        room: &BareJid,
        nick: &str,
        private: bool,
        m: &ReceivedMessage,
    ) {
        let person = crossing::Person {
            account: &self.user.account,
            jid: &self.jid,
            clearance: &self.clearance,
        };
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if nick == r.nick || m.delay.is_some() {
            return; // our own, reflected; or history
        }
        let mapping = r.mapping.clone();
        let channel = r.channel.clone();
        let direction = if private {
            Direction::Private
        } else {
            Direction::XmppToIrc
        };
        let Some(state) = crossing::chat_state_to_irc(
            &self.now,
            person,
            direction,
            room,
            &mapping,
            m,
            &mut r.told,
        ) else {
            return;
        };
        let target = if private {
            self.user.nick.clone()
        } else {
            channel
        };
        let from = self.occupant_source(room, nick);
        self.deliver(Delivery::Typing {
            from,
            target,
            state,
        })
        .await;
    }

    /// The receipt for a private message delivered to the user, when the sender asked for one
    /// and the room's `receipts` control lets the gateway give it.
    pub(super) async fn receipt(&self, room: &BareJid, nick: &str, m: &ReceivedMessage) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        if !r.mapping.controls.receipts {
            return;
        }
        let Some(id) = crate::xmpp::chat::receipt_requested(&m.payloads, m.id.as_deref()) else {
            return;
        };
        if let Some(s) = &self.session
            && let Err(e) = s.send_receipt(room, nick, &id).await
        {
            tracing::debug!(error = %e, "a receipt was not sent");
        }
    }
}
