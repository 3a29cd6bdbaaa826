//! What one message from the other side puts on IRC: its lines, the tags that ride with them,
//! and its original time. The bridge decides all of it at once, so the IRC side takes it only
//! as a `Cleared<Relayed>`: an identifier or a time from a stanza cannot reach a client except
//! inside a value the gate let through.

/// A relayed message, as the IRC side writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// The message's IRC lines, each with its marking.
    pub lines: Vec<String>,
    /// Tags for clients that negotiated message-tags (the marking, `msgid`, what a correction
    /// replaces), values unescaped.
    pub tags: Vec<(String, Option<String>)>,
    /// Original time (IRCv3 `server-time` form) for history; `None` means now.
    pub time: Option<String>,
}
