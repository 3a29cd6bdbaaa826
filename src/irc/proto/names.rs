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

/// Whether a folded `mask` with `*` (any run) and `?` (any one character) matches the folded
/// `name`.
pub fn glob(mask: &str, name: &str) -> bool {
    let (m, n): (Vec<char>, Vec<char>) = (mask.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while j < n.len() {
        if i < m.len() && (m[i] == '?' || m[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < m.len() && m[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    m[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod glob_tests {
    use super::glob;

    #[test]
    fn masks() {
        assert!(glob("*", "alice"));
        assert!(glob("al*", "alice"));
        assert!(glob("?lice", "alice"));
        assert!(glob("a*e", "alice"));
        assert!(glob("alice", "alice"));
        assert!(!glob("bob*", "alice"));
        assert!(!glob("a?", "alice"));
        assert!(glob("*x*", "dr__x_who"));
    }
}
