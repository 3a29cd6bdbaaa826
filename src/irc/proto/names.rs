//! Nicknames and channel names: validation and case folding (`CASEMAPPING=ascii`).

/// Longest nick.
pub const NICKLEN: usize = 30;
/// Longest channel name.
pub const CHANNELLEN: usize = 64;
/// Longest topic.
pub const TOPICLEN: usize = 390;

/// Folds case for comparison (ASCII only, as advertised).
pub fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Whether a nick is acceptable: starts with a letter or one of `[]\`_^{|}`, then letters,
/// digits, `-` and those specials; at most [`NICKLEN`] bytes.
pub fn valid_nick(n: &str) -> bool {
    let special = |c: char| "[]\\`_^{|}".contains(c);
    let mut chars = n.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || special(c) => {}
        _ => return false,
    }
    n.len() <= NICKLEN && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
}

/// Whether a channel name is acceptable: `#` then no space, comma, BEL or control character;
/// at most [`CHANNELLEN`] bytes.
pub fn valid_channel(c: &str) -> bool {
    c.starts_with('#')
        && c.len() > 1
        && c.len() <= CHANNELLEN
        && !c
            .chars()
            .any(|ch| ch == ' ' || ch == ',' || ch == '\x07' || ch.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_and_channels() {
        for ok in ["alice", "a-b", "[x]", "_z9", "Bob^"] {
            assert!(valid_nick(ok), "{ok}");
        }
        for bad in ["", "9abc", "a b", "a!b", "#a", &"x".repeat(31)] {
            assert!(!valid_nick(bad), "{bad}");
        }
        assert!(valid_channel("#ops"));
        for bad in ["ops", "#", "#a,b", "#a b", "#a\x07"] {
            assert!(!valid_channel(bad), "{bad:?}");
        }
        assert_eq!(fold("Alice[]"), "alice[]");
    }
}
