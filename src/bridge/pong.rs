//! A client's PING answered after everything it asked before: a JOIN burst waiting for its
//! room, the room's reflection of a message it sent or of a topic it set. So the PONG a client waits for follows
//! the answers, in order, as from a standalone ircd (clients and test suites synchronise on
//! it) — but never later than [`PONG_WAIT`].

use std::time::Duration;

use tokio::time::Instant;

use super::pairing::Pairing;
use crate::irc::backend::Delivery;

/// The longest a PONG waits for earlier answers.
pub(super) const PONG_WAIT: Duration = Duration::from_secs(5);

/// A PING not answered yet.
pub(super) struct WaitingPong {
    token: String,
    /// Its label, when the client asked for a labelled answer.
    label: Option<String>,
    deadline: Instant,
}

impl Pairing {
    /// A client PING with `token`.
    pub(super) async fn ping(&mut self, token: String) {
        let label = self.answer_later().await;
        self.pongs.push_back(WaitingPong {
            token,
            label,
            deadline: Instant::now() + PONG_WAIT,
        });
        self.flush_pongs().await;
    }

    /// Whether something asked before is still being answered.
    fn answering(&self) -> bool {
        let joining = self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false);
        let topic = self
            .topics_set
            .iter()
            .any(|(_, at)| at.elapsed() < PONG_WAIT);
        joining || topic || self.sent.awaiting_reflection(PONG_WAIT)
    }

    /// Sends the PONGs whose earlier answers have gone (or that waited long enough).
    pub(super) async fn flush_pongs(&mut self) {
        let now = Instant::now();
        let busy = self.answering();
        while self
            .pongs
            .front()
            .is_some_and(|p| !busy || p.deadline <= now)
        {
            let Some(p) = self.pongs.pop_front() else {
                break;
            };
            let pong = Delivery::Pong { token: p.token };
            self.send_answer(p.label, vec![pong]).await;
        }
    }

    /// When the oldest waiting PONG goes regardless.
    pub(super) fn next_pong_deadline(&self) -> Option<Instant> {
        self.pongs.front().map(|p| p.deadline)
    }
}
