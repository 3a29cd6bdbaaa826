//! Typed lines on their way to XMPP: handed to the session (with the "sent as" notice for
//! clients that see no echo, and the echo of a private message), held while a room is rejoined,
//! sent in order when it is ready, decided again after a reload, or refused with the reason.

use std::collections::{HashSet, VecDeque};

use jid::BareJid;

use super::codes::Code;
use super::crossing;
use super::pairing::{Outgoing, Pairing};
use super::sent::Sent;
use crate::irc::backend::Delivery;
use crate::metrics::{METRICS, Way};

impl Pairing {
    /// Hands a cleared message to the XMPP session.
    pub(super) async fn transmit(&mut self, out: Outgoing) {
        let Some(session) = &self.session else {
            let why = "your XMPP session is not available".to_owned();
            self.fail(&out.command, Code::XmppError, &out.target, why)
                .await;
            return;
        };
        let message = out.message.get();
        let id = message.origin_id.clone();
        let sent = match &out.nick {
            None => session.send_groupchat(&out.room, &out.message).await,
            Some(n) => session.send_private(&out.room, n, &out.message).await,
        };
        match sent {
            Ok(()) => {
                METRICS.relayed(if out.nick.is_some() {
                    Way::Private
                } else {
                    Way::IrcToXmpp
                });
                if let (false, None, Some(marking)) = (out.echo, &out.nick, &out.defaulted) {
                    let text = format!(
                        "{}: sent as {marking} (no marking typed: the channel's default label)",
                        out.target
                    );
                    let channel = out.target.clone();
                    self.deliver(Delivery::ChannelNotice { channel, text })
                        .await;
                }
                let mut record = Sent::new(&out.target, &message.body, out.echo);
                record.reflects = out.nick.is_none();
                if out.echo && out.nick.is_none() {
                    // The room's reflection is the echo, and the answer.
                    record.label = self.answer_later().await;
                } else if out.echo {
                    self.echo_private(&out).await;
                }
                record.to = match &out.nick {
                    None => out.room.to_string(),
                    Some(n) => format!("{}/{n}", out.room),
                };
                self.sent.insert(id, record);
            }
            Err(e) => {
                self.fail(&out.command, Code::XmppError, &out.target, e.to_string())
                    .await
            }
        }
    }

    /// The echo of a private message (echo-message): no room reflects it, so it is made here,
    /// decided for the user like any delivery.
    pub(super) async fn echo_private(&self, out: &Outgoing) {
        let Some(mapping) = self.rooms.get(&out.room).map(|r| r.mapping.clone()) else {
            return;
        };
        let sent = out.message.get();
        let Some(e) = crossing::echo_to_sender(&self.now, self.person(), &out.room, &mapping, sent)
        else {
            return; // refused, audited
        };
        self.deliver(Delivery::Message {
            from: self.self_source(),
            target: out.target.clone(),
            message: e.message,
            action: e.action,
            notice: sent.notice,
        })
        .await;
    }

    /// Sends the held messages whose rooms are ready again, in the order they were typed.
    pub(super) async fn flush_held(&mut self) {
        let mut keep = VecDeque::new();
        while let Some(out) = self.held.pop_front() {
            if self.ready(&out.room) {
                METRICS.held(-1);
                self.transmit(out).await;
            } else {
                keep.push_back(out);
            }
        }
        self.held = keep;
    }

    /// Decides every held line again under the current state (clearance, mapping, policy): each
    /// is cleared anew or refused with the reason.
    pub(super) async fn redecide_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for mut o in held {
            let Some(mapping) = self.rooms.get(&o.room).map(|r| r.mapping.clone()) else {
                METRICS.held(-1);
                let why = "its channel was left while it waited".to_owned();
                self.fail(&o.command, Code::XmppError, &o.target, why).await;
                continue;
            };
            let id = o.message.get().origin_id.clone();
            let private = o.nick.is_some();
            let person = self.person();
            match crossing::typed_message(
                &self.now,
                person,
                &o.room,
                &mapping,
                private,
                &o.typed,
                o.action,
                o.command == "NOTICE",
                id,
            ) {
                Ok(t) => {
                    o.message = t.message;
                    o.defaulted = t.defaulted;
                    self.held.push_back(o);
                }
                Err((code, why)) => {
                    METRICS.held(-1);
                    let why = format!("the gateway's rules changed while it waited: {why}");
                    self.fail(&o.command, code, &o.target, why).await;
                }
            }
        }
    }

    /// Refuses the held messages for `room` (it could not be rejoined, or was left).
    pub(super) async fn refuse_held(&mut self, room: &BareJid, why: &str) {
        let (refused, keep): (VecDeque<Outgoing>, VecDeque<Outgoing>) =
            std::mem::take(&mut self.held)
                .into_iter()
                .partition(|o| &o.room == room);
        self.held = keep;
        METRICS.held(-(refused.len() as i64));
        for o in refused {
            self.fail(&o.command, Code::XmppError, &o.target, why.to_owned())
                .await;
        }
    }

    /// Refuses every held message.
    pub(super) async fn refuse_all_held(&mut self, why: &str) {
        let rooms: HashSet<BareJid> = self.held.iter().map(|o| o.room.clone()).collect();
        for room in rooms {
            self.refuse_held(&room, why).await;
        }
    }
}
