//! What an IRC message's text is beyond its words: CTCP (`\x01ACTION waves\x01`, the `/me` of
//! every client; `VERSION`, `PING`, `DCC` …) and formatting control codes (bold `\x02`, colour
//! `\x03fg,bg`, hex colour `\x04`, monospace `\x11`, reverse `\x16`, italic `\x1d`, strike
//! `\x1e`, underline `\x1f`, reset `\x0f`), per the modern IRC client documentation. Pure.

/// A PRIVMSG or NOTICE text, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ctcp<'a> {
    /// Plain text (perhaps with formatting).
    Text(&'a str),
    /// `/me`: the action's text.
    Action(&'a str),
    /// Any other CTCP: its command (upper case as sent) and arguments.
    Query {
        /// `VERSION`, `PING`, `DCC`, …
        command: &'a str,
        /// The rest.
        args: &'a str,
    },
    /// A CTCP message with a delimiter (`\x01`) inside it, so with text outside the message
    /// (`\x01ACTION\x01 words`): neither a CTCP nor plain text, refused.
    Malformed,
}

/// Reads a message text: CTCP if it starts with `\x01` (the closing `\x01` is optional, as
/// clients are lenient about it).
pub fn read(text: &str) -> Ctcp<'_> {
    let Some(inner) = text.strip_prefix('\x01') else {
        return Ctcp::Text(text);
    };
    // Trailing blanks after the closing delimiter are a client's slip, not text outside it.
    let inner = inner
        .trim_end_matches([' ', '\t'])
        .strip_suffix('\x01')
        .unwrap_or(inner);
    if inner.contains('\x01') {
        return Ctcp::Malformed;
    }
    let (command, args) = inner.split_once(' ').unwrap_or((inner, ""));
    if command.eq_ignore_ascii_case("ACTION") {
        Ctcp::Action(args)
    } else {
        Ctcp::Query { command, args }
    }
}

/// The text of a `/me` for IRC.
pub fn action(text: &str) -> String {
    format!("\x01ACTION {text}\x01")
}

/// A CTCP reply (sent as a NOTICE).
pub fn reply(command: &str, args: &str) -> String {
    if args.is_empty() {
        format!("\x01{command}\x01")
    } else {
        format!("\x01{command} {args}\x01")
    }
}

/// The text without formatting codes or other control characters (tab kept as a space): what
/// an XMPP client can show (XML allows no C0 controls but tab, CR and LF).
pub fn strip_formatting(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x03' => {
                // \x03[fg[,bg]]: one or two digits each; a background only after a foreground.
                let mut fg = false;
                for _ in 0..2 {
                    if chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        fg = true;
                    }
                }
                let mut ahead = chars.clone();
                if fg && ahead.next() == Some(',') && ahead.peek().is_some_and(char::is_ascii_digit)
                {
                    chars.next();
                    for _ in 0..2 {
                        if chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                        }
                    }
                }
            }
            '\x04' => {
                // \x04[RRGGBB[,RRGGBB]].
                let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut ahead = it.clone();
                    if (0..6).all(|_| ahead.next().is_some_and(|c| c.is_ascii_hexdigit())) {
                        for _ in 0..6 {
                            it.next();
                        }
                        true
                    } else {
                        false
                    }
                };
                if hex(&mut chars) {
                    let mut ahead = chars.clone();
                    if ahead.next() == Some(',') {
                        let mut after = ahead.clone();
                        if (0..6).all(|_| after.next().is_some_and(|c| c.is_ascii_hexdigit())) {
                            chars.next();
                            hex(&mut chars);
                        }
                    }
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctcp_is_read() {
        assert_eq!(read("\x01ACTION waves\x01"), Ctcp::Action("waves"));
        assert_eq!(read("\x01action waves"), Ctcp::Action("waves"));
        assert_eq!(
            read("\x01VERSION\x01"),
            Ctcp::Query {
                command: "VERSION",
                args: ""
            }
        );
        assert_eq!(
            read("\x01DCC SEND f 1 2 3\x01"),
            Ctcp::Query {
                command: "DCC",
                args: "SEND f 1 2 3"
            }
        );
        assert_eq!(read("hi"), Ctcp::Text("hi"));
        // Text outside the delimiters: not a CTCP, and not plain text either.
        assert_eq!(read("\x01ACTION\x01 [SECRET] words"), Ctcp::Malformed);
        assert_eq!(read("\x01VERSION\x01\x01"), Ctcp::Malformed);
        assert_eq!(read("\x01ACTION waves\x01  "), Ctcp::Action("waves"));
        // Inside ordinary text a delimiter is a control character like another.
        assert_eq!(read("a \x01ACTION b\x01"), Ctcp::Text("a \x01ACTION b\x01"));
    }

    #[test]
    fn formatting_is_stripped_and_the_text_kept() {
        assert_eq!(
            strip_formatting("\x02bold\x02 \x1ditalic\x0f"),
            "bold italic"
        );
        assert_eq!(
            strip_formatting("\x0304,12red on blue\x03 plain"),
            "red on blue plain"
        );
        assert_eq!(strip_formatting("\x034red"), "red");
        assert_eq!(strip_formatting("\x03,5not a bg"), ",5not a bg");
        assert_eq!(strip_formatting("\x04FF0000,00FF00hex\x04"), "hex");
        assert_eq!(strip_formatting("a\x07b\x0bc\x0cd\x1be\tf"), "abcde f");
        assert_eq!(strip_formatting("\x1funder\x1e\x11\x16"), "under");
        assert_eq!(strip_formatting("1,2 \x03 3"), "1,2  3");
    }
}
