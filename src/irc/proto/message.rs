//! IRC messages: parse one line into tags, source, verb and parameters, and write one back
//! (IRCv3 tag escaping; the last parameter gets a `:` when it needs one).

use std::fmt::Write as _;

/// Most parameters accepted in one message (the modern IRC limit is 15; we allow more so that
/// nothing is silently cut, and refuse beyond this).
pub const MAX_PARAMS: usize = 32;

/// A parsed IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 tags, in order, values unescaped (`None` for a tag without value).
    pub tags: Vec<(String, Option<String>)>,
    /// The source (prefix), without the leading colon.
    pub source: Option<String>,
    /// The command or numeric, as sent (callers upper-case for matching).
    pub verb: String,
    /// Parameters, the trailing one included.
    pub params: Vec<String>,
}

/// Why a line is not an IRC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but white space.
    #[error("empty line")]
    Empty,
    /// Tags or source without a command.
    #[error("no command")]
    NoCommand,
    /// Too many parameters.
    #[error("more than {MAX_PARAMS} parameters")]
    TooManyParams,
    /// A malformed tag.
    #[error("malformed tag")]
    BadTag,
    /// A command with characters no command has.
    #[error("malformed command")]
    BadCommand,
    /// A NUL byte (never allowed in IRC messages).
    #[error("NUL byte in line")]
    Nul,
}

fn unescape_tag(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(':') => out.push(';'),
                Some('s') => out.push(' '),
                Some('\\') => out.push('\\'),
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes a tag value (IRCv3 message-tags).
pub fn escape_tag(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

impl Message {
    /// A message with a verb and parameters.
    pub fn new(verb: impl Into<String>, params: Vec<String>) -> Self {
        Message {
            tags: Vec::new(),
            source: None,
            verb: verb.into(),
            params,
        }
    }

    /// Sets the source.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: Option<String>) -> Self {
        self.tags.push((key.into(), value));
        self
    }

    /// A tag's value (`Some(None)` for a tag without value).
    pub fn tag(&self, key: &str) -> Option<Option<&str>> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    /// Parses one line (without CR LF).
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        if line.contains('\0') {
            return Err(ParseError::Nul);
        }
        let mut rest = line.trim_start_matches(' ');
        let mut msg = Message::default();
        if let Some(r) = rest.strip_prefix('@') {
            let (tags, after) = r.split_once(' ').unwrap_or((r, ""));
            for tag in tags.split(';').filter(|t| !t.is_empty()) {
                let (k, v) = match tag.split_once('=') {
                    Some((k, v)) => (k, Some(unescape_tag(v)).filter(|v| !v.is_empty())),
                    None => (tag, None),
                };
                if k.is_empty() || k == "+" {
                    return Err(ParseError::BadTag);
                }
                // A repeated key: the last value wins (IRCv3).
                msg.tags.retain(|(old, _)| old != k);
                msg.tags.push((k.to_owned(), v));
            }
            rest = after.trim_start_matches(' ');
        }
        if let Some(r) = rest.strip_prefix(':') {
            let (src, after) = r.split_once(' ').unwrap_or((r, ""));
            msg.source = Some(src.to_owned());
            rest = after.trim_start_matches(' ');
        }
        let (verb, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if verb.is_empty() {
            return Err(if line.trim().is_empty() {
                ParseError::Empty
            } else {
                ParseError::NoCommand
            });
        }
        if !verb.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::BadCommand);
        }
        msg.verb = verb.to_owned();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if msg.params.len() >= MAX_PARAMS {
                return Err(ParseError::TooManyParams);
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_owned());
                break;
            }
            let (p, after) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.params.push(p.to_owned());
            rest = after;
        }
        Ok(msg)
    }

    /// Writes the message as a line (without CR LF). CR, LF and NUL inside parameters are
    /// replaced by spaces, so a message can never become two lines.
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(64);
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(k);
                if let Some(v) = v {
                    out.push('=');
                    escape_tag(v, &mut out);
                }
            }
            out.push(' ');
        }
        if let Some(s) = &self.source {
            out.push(':');
            out.push_str(&clean(s).replace(' ', ""));
            out.push(' ');
        }
        out.push_str(&self.verb);
        let n = self.params.len();
        for (i, p) in self.params.iter().enumerate() {
            out.push(' ');
            let p = clean(p);
            let last = i + 1 == n;
            if last
                && (p.is_empty()
                    || p.contains(' ')
                    || p.starts_with(':')
                    || always_trailing(&self.verb))
            {
                out.push(':');
                out.push_str(&p);
            } else {
                // A middle parameter may not hold spaces or start with ':'.
                let _ = write!(out, "{}", p.replace(' ', "_").trim_start_matches(':'));
            }
        }
        out
    }
}

/// Verbs whose last parameter is text: written with `:` always, as clients expect.
fn always_trailing(verb: &str) -> bool {
    (verb.len() == 3 && verb.bytes().all(|b| b.is_ascii_digit()))
        || matches!(
            verb,
            "PRIVMSG" | "NOTICE" | "PART" | "QUIT" | "KICK" | "TOPIC" | "AWAY" | "ERROR"
        )
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write() {
        let m = Message::parse("@a=b\\sc;d :nick!u@h PRIVMSG #chan :hello world").unwrap();
        assert_eq!(
            m.tags,
            [("a".into(), Some("b c".into())), ("d".into(), None)]
        );
        assert_eq!(m.source.as_deref(), Some("nick!u@h"));
        assert_eq!(m.verb, "PRIVMSG");
        assert_eq!(m.params, ["#chan", "hello world"]);
        assert_eq!(
            m.to_line(),
            "@a=b\\sc;d :nick!u@h PRIVMSG #chan :hello world"
        );
        assert_eq!(Message::parse("   "), Err(ParseError::Empty));
        assert_eq!(Message::parse(":src"), Err(ParseError::NoCommand));
        assert_eq!(Message::parse("PRI/VMSG x"), Err(ParseError::BadCommand));
        let m = Message::new("PRIVMSG", vec!["#c".into(), "a\r\nQUIT".into()]);
        assert_eq!(m.to_line(), "PRIVMSG #c :a  QUIT");
    }
}
