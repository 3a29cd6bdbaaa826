//! What goes to the IRC side, and when: a channel's deliveries held until its JOIN burst can
//! go (the room's subject comes first), and the deliveries answering a labelled request
//! (IRCv3 labeled-response) collected into one answer.

use super::pairing::{Pairing, PendingJoin};
use crate::audit::Cleared;
use crate::irc::backend::Delivery;
use crate::irc::proto::names;

/// The deliveries answering a labelled request so far (IRCv3 labeled-response).
pub(super) struct Answer {
    pub(super) label: String,
    pub(super) deliveries: Vec<Delivery>,
}

/// The channel a delivery is about, if any.
fn channel_of(d: &Delivery) -> Option<&str> {
    match d {
        Delivery::Joined { channel, .. }
        | Delivery::Join { channel, .. }
        | Delivery::Part { channel, .. }
        | Delivery::Kick { channel, .. }
        | Delivery::Topic { channel, .. }
        | Delivery::ChannelNotice { channel, .. } => Some(channel),
        Delivery::Message { target, .. } if target.starts_with('#') => Some(target),
        _ => None,
    }
}

impl Pairing {
    pub(super) async fn deliver(&self, d: Delivery) {
        if let Some(ch) = channel_of(&d)
            && let Ok(mut pending) = self.pending.lock()
            && let Some(p) = pending.get_mut(&names::fold(ch))
        {
            p.buffered.push(d);
            return;
        }
        if let Ok(mut answer) = self.answer.lock()
            && let Some(a) = answer.as_mut()
        {
            a.deliveries.push(d);
            return;
        }
        let _ = self.out.send(d).await;
    }

    /// Starts collecting the answer to a labelled request.
    pub(super) fn answer_start(&self, label: String) {
        if let Ok(mut answer) = self.answer.lock() {
            *answer = Some(Answer {
                label,
                deliveries: Vec::new(),
            });
        }
    }

    /// Moves the label to an answer that comes later (a JOIN burst, an echo): what was
    /// collected so far goes out as it is.
    pub(super) async fn answer_later(&self) -> Option<String> {
        let a = self.answer.lock().ok().and_then(|mut a| a.take())?;
        for d in a.deliveries {
            let _ = self.out.send(d).await;
        }
        Some(a.label)
    }

    /// Sends the answer collected (nothing collected: the client says `ACK`).
    pub(super) async fn answer_end(&self) {
        let Some(a) = self.answer.lock().ok().and_then(|mut a| a.take()) else {
            return;
        };
        let _ = self
            .out
            .send(Delivery::Response {
                label: a.label,
                deliveries: a.deliveries,
            })
            .await;
    }

    /// Sends `deliveries` as the answer to `label`, or as they are without one.
    pub(super) async fn send_answer(&self, label: Option<String>, deliveries: Vec<Delivery>) {
        match label {
            Some(label) => {
                let _ = self
                    .out
                    .send(Delivery::Response { label, deliveries })
                    .await;
            }
            None => {
                for d in deliveries {
                    let _ = self.out.send(d).await;
                }
            }
        }
    }

    /// Starts holding a channel's deliveries until its JOIN burst can go.
    pub(super) fn begin_join(&self, p: PendingJoin) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(names::fold(&p.channel), p);
        }
    }

    /// Whether `channel`'s JOIN burst is waiting for the subject.
    pub(super) fn join_pending(&self, channel: &str) -> bool {
        self.pending
            .lock()
            .is_ok_and(|p| p.contains_key(&names::fold(channel)))
    }

    /// Sends a waiting JOIN burst — JOIN, topic, NAMES — then what was held for the channel.
    pub(super) async fn complete_join(
        &self,
        channel: &str,
        topic: Option<Cleared<String>>,
        topic_by: Option<String>,
    ) {
        let Some(p) = self
            .pending
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&names::fold(channel)))
        else {
            return;
        };
        let joined = Delivery::Joined {
            channel: p.channel,
            topic,
            topic_by,
            members: p.members,
        };
        let mut burst = vec![joined];
        burst.extend(p.buffered);
        self.send_answer(p.label, burst).await;
    }

    /// When the next waiting JOIN burst goes without a subject.
    pub(super) fn next_join_deadline(&self) -> Option<tokio::time::Instant> {
        self.pending
            .lock()
            .ok()
            .and_then(|p| p.values().map(|j| j.deadline).min())
    }

    /// Sends the JOIN bursts whose subject did not come in time, without a topic.
    pub(super) async fn expire_joins(&self) {
        let now = tokio::time::Instant::now();
        let due: Vec<String> = self
            .pending
            .lock()
            .map(|p| {
                p.values()
                    .filter(|j| j.deadline <= now)
                    .map(|j| j.channel.clone())
                    .collect()
            })
            .unwrap_or_default();
        for channel in due {
            self.complete_join(&channel, None, None).await;
        }
    }

    /// Forgets a waiting JOIN burst (the channel was left before it went).
    pub(super) fn drop_join(&self, channel: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&names::fold(channel));
        }
    }
}
