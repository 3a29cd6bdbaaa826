//! XEP-0198 bookkeeping of one stream, without I/O: how many of the server's stanzas we have
//! handled (our `h`), how many of ours it has acknowledged (its `h`), and which of ours are
//! still unacknowledged (resent after a resumption, reported after a reset).
//!
//! Counters are modulo 2³² as the XEP says; an acknowledgement of more than was sent is an
//! error, never a wrap-around.

use std::collections::VecDeque;

use tokio_xmpp::Stanza;

/// A stanza on its way out, with what the layer above wants to hear if it is lost.
#[derive(Debug)]
pub(crate) struct Outgoing<T> {
    pub(crate) stanza: Stanza,
    pub(crate) track: Option<T>,
}

/// The server acknowledged more stanzas than were sent on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server acknowledged {h} stanzas; {sent} were sent")]
pub(crate) struct AckTooHigh {
    pub(crate) h: u32,
    pub(crate) sent: u32,
}

/// One stream's counters and unacknowledged stanzas.
#[derive(Debug)]
pub(crate) struct Counters<T> {
    /// Stanzas received and handled on this stream (sent as `h` in our `<a/>`).
    inbound: u32,
    /// The server's last `h`: how many of ours it has handled.
    acked: u32,
    /// Sent and not yet acknowledged, oldest first: the i-th is stanza number `acked + i + 1`.
    unacked: VecDeque<Outgoing<T>>,
}

impl<T> Default for Counters<T> {
    fn default() -> Self {
        Counters {
            inbound: 0,
            acked: 0,
            unacked: VecDeque::new(),
        }
    }
}

impl<T> Counters<T> {
    /// Our `h`.
    pub(crate) fn inbound(&self) -> u32 {
        self.inbound
    }

    /// One more stanza of the server's handled (every stanza counts, one we could not read too).
    pub(crate) fn received(&mut self) {
        self.inbound = self.inbound.wrapping_add(1);
    }

    /// A stanza was written to the stream.
    pub(crate) fn sent(&mut self, out: Outgoing<T>) {
        self.unacked.push_back(out);
    }

    /// How many stanzas of ours the stream has carried.
    pub(crate) fn sent_count(&self) -> u32 {
        self.acked.wrapping_add(self.unacked.len() as u32)
    }

    /// How many wait for an acknowledgement.
    #[cfg(test)]
    pub(crate) fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// The server's `<a h/>` (or `<resumed h/>`): lets go of what it has handled.
    pub(crate) fn ack(&mut self, h: u32) -> Result<(), AckTooHigh> {
        let newly = h.wrapping_sub(self.acked) as usize;
        if newly > self.unacked.len() {
            return Err(AckTooHigh {
                h,
                sent: self.sent_count(),
            });
        }
        self.unacked.drain(..newly);
        self.acked = h;
        Ok(())
    }

    /// After `<resumed h/>`: what the server did not get, to be sent again in order. The
    /// stream's outbound count then stands at `h`.
    pub(crate) fn resume(&mut self, h: u32) -> Result<VecDeque<Outgoing<T>>, AckTooHigh> {
        self.ack(h)?;
        Ok(std::mem::take(&mut self.unacked))
    }

    /// The stream is gone for good: everything unacknowledged, for reporting.
    pub(crate) fn abandon(&mut self) -> VecDeque<Outgoing<T>> {
        self.inbound = 0;
        self.acked = 0;
        std::mem::take(&mut self.unacked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::presence::{Presence, Type};

    fn out(n: u32) -> Outgoing<u32> {
        Outgoing {
            stanza: Stanza::Presence(Presence::new(Type::None)),
            track: Some(n),
        }
    }

    fn tracks(q: &VecDeque<Outgoing<u32>>) -> Vec<u32> {
        q.iter().filter_map(|o| o.track).collect()
    }

    #[test]
    fn an_ack_lets_go_of_what_the_server_handled() {
        let mut c = Counters::default();
        for n in 1..=5 {
            c.sent(out(n));
        }
        assert_eq!(c.sent_count(), 5);
        c.ack(3).unwrap();
        assert_eq!(c.unacked_len(), 2);
        // A repeated or older-looking ack of the same count changes nothing.
        c.ack(3).unwrap();
        assert_eq!(c.unacked_len(), 2);
        assert_eq!(tracks(&c.abandon()), vec![4, 5]);
    }

    #[test]
    fn an_ack_of_more_than_was_sent_is_refused_and_changes_nothing() {
        let mut c = Counters::default();
        c.sent(out(1));
        assert_eq!(c.ack(2), Err(AckTooHigh { h: 2, sent: 1 }));
        assert_eq!(c.unacked_len(), 1);
        // Not taken for a wrap-around either.
        assert!(c.ack(u32::MAX).is_err());
    }

    #[test]
    fn counters_wrap_around_at_two_to_the_32() {
        let mut c = Counters::<u32> {
            inbound: u32::MAX,
            acked: u32::MAX - 1,
            unacked: VecDeque::new(),
        };
        c.received();
        assert_eq!(c.inbound(), 0);
        c.sent(out(1));
        c.sent(out(2));
        c.sent(out(3));
        assert_eq!(c.sent_count(), 1);
        c.ack(0).unwrap();
        assert_eq!(tracks(&c.abandon()), vec![3]);
    }

    #[test]
    fn a_resumption_hands_back_what_the_server_missed_in_order() {
        let mut c = Counters::default();
        for n in 1..=4 {
            c.sent(out(n));
        }
        let again = c.resume(1).unwrap();
        assert_eq!(tracks(&again), vec![2, 3, 4]);
        assert_eq!(c.sent_count(), 1);
        assert!(c.resume(9).is_err());
    }
}
