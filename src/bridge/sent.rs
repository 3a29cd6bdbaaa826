//! The messages a user sent that something may still be said about: the room's reflection
//! (not delivered back unless the client asked for echo-message), a bounce, or the server's
//! failure to acknowledge it before the stream broke — so a report can name the message.

use std::collections::{HashMap, VecDeque};

/// At most this many are remembered; the oldest are forgotten first.
pub const SENT_LIMIT: usize = 512;

/// One sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The IRC target it was typed to (channel or nick).
    pub target: String,
    /// The start of its text, for reports.
    pub snippet: String,
    /// The client asked for echo-message.
    pub echo: bool,
    /// Where the stanza went (the room, or `room/nick`): only an error from there is about it.
    pub to: String,
    /// The client's label, for its echo (IRCv3 labeled-response).
    pub label: Option<String>,
    /// Sent to a room, which reflects it (a client's PING waits for that, see `pong`).
    pub reflects: bool,
    /// When it was sent.
    pub at: std::time::Instant,
}

impl Sent {
    /// A record for a message typed to `target`, with up to 80 characters of `text`.
    pub fn new(target: &str, text: &str, echo: bool) -> Sent {
        let mut snippet: String = text.chars().take(80).collect();
        if snippet.len() < text.len() {
            snippet.push('…');
        }
        Sent {
            target: target.to_owned(),
            snippet,
            echo,
            to: String::new(),
            label: None,
            reflects: false,
            at: std::time::Instant::now(),
        }
    }
}

/// Sent messages by origin-id, bounded.
#[derive(Debug, Default)]
pub struct SentLog {
    by_id: HashMap<String, Sent>,
    order: VecDeque<String>,
}

impl SentLog {
    /// Remembers a message.
    pub fn insert(&mut self, id: String, sent: Sent) {
        self.order.push_back(id.clone());
        self.by_id.insert(id, sent);
        while self.by_id.len() > SENT_LIMIT {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_id.remove(&old);
                }
                None => break,
            }
        }
        // Ids already taken leave stale entries in `order`; drop them now and then.
        if self.order.len() > 2 * SENT_LIMIT {
            let by_id = &self.by_id;
            self.order.retain(|id| by_id.contains_key(id));
        }
    }

    /// Takes a message out (it has been accounted for).
    pub fn peek(&self, id: &str) -> Option<&Sent> {
        self.by_id.get(id)
    }

    /// Whether a message sent to a room less than `within` ago has not been reflected yet.
    pub fn awaiting_reflection(&self, within: std::time::Duration) -> bool {
        self.by_id
            .values()
            .any(|s| s.reflects && s.at.elapsed() < within)
    }

    /// Forgets a message, returning it (its reflection came, or a report about it).
    pub fn take(&mut self, id: &str) -> Option<Sent> {
        self.by_id.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_taken_once() {
        let mut log = SentLog::default();
        for i in 0..(3 * SENT_LIMIT) {
            log.insert(format!("id{i}"), Sent::new("#c", &format!("m{i}"), false));
            if i % 2 == 0 {
                assert!(log.take(&format!("id{i}")).is_some());
            }
        }
        assert!(log.by_id.len() <= SENT_LIMIT);
        assert!(log.order.len() <= 2 * SENT_LIMIT + 1);
        // The newest are kept, the oldest forgotten.
        let last = 3 * SENT_LIMIT - 1;
        assert_eq!(
            log.take(&format!("id{last}")).unwrap().snippet,
            format!("m{last}")
        );
        assert!(log.take(&format!("id{last}")).is_none());
        assert!(log.take("id1").is_none());
        let long = Sent::new("#c", &"é".repeat(100), true);
        assert_eq!(long.snippet.chars().count(), 81);
    }
}
