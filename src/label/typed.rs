//! What label a person typed at the start of an IRC line: the room's FLOT marking, also after an
//! addressee (`xavier: [SECRET] …`, as nick completion writes it); and, failing closed, lines
//! whose start looks like an attempt at a marking that is not one in the room's syntax (another
//! room's brackets, `SECRET UK:`, full-width brackets, an invisible character in front). Such a
//! line would otherwise go out at the room's default label with the marking as plain text.

use super::flot::{Flot, FlotError, MAX_MARKING};
use super::marking::fold;
use super::model::Label;
use super::policy::Policy;

/// A typed line read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// The label asked for (`None`: no marking, the room's default applies).
    pub label: Option<Label>,
    /// The marking as typed, if any.
    pub marking: Option<String>,
    /// The text to send: the line without its marking, the addressee kept in front.
    pub text: String,
}

/// Why a typed line cannot go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypedError {
    /// The marking could not be read at all.
    #[error("{0}")]
    Flot(#[from] FlotError),
    /// The marking is not a valid label of the policy.
    #[error("the marking [{marking}] is not a valid label: {why}")]
    Marking {
        /// As typed.
        marking: String,
        /// Why.
        why: String,
    },
    /// The line starts like a marking, but not in this room's syntax.
    #[error(
        "the line starts with `{seen}`, which looks like a marking but is not one in this room's syntax"
    )]
    NearMiss {
        /// The start of the line that looked like a marking.
        seen: String,
    },
}

/// Characters that show as nothing (or as plain space) and could hide a marking's start.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00A0}' | '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180E}' | '\u{2000}'..='\u{200F}' | '\u{2028}'..='\u{202F}'
        | '\u{205F}'..='\u{206F}' | '\u{3000}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}')
}

/// Full-width and other look-alike brackets and colons, as their ASCII forms.
fn plain(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '【' | '〔' | '〖' | '〘' | '〚' | '⟦' => '[',
        '】' | '〕' | '〗' | '〙' | '〛' | '⟧' => ']',
        '⦅' | '﹙' | '❨' | '❪' => '(',
        '⦆' | '﹚' | '❩' | '❫' => ')',
        '〈' | '《' | '‹' | '«' | '⟨' | '❬' | '❮' => '<',
        '〉' | '》' | '›' | '»' | '⟩' | '❭' | '❯' => '>',
        '「' | '『' | '❴' => '{',
        '」' | '』' | '❵' => '}',
        '꞉' | '∶' => ':',
        _ => c,
    }
}

/// Reads the label typed at the start of `line` under `policy`, in `flot`'s syntax.
pub fn read_typed(flot: &Flot, policy: &Policy, line: &str) -> Result<Typed, TypedError> {
    let read = |m: &str| -> Result<Label, String> {
        policy
            .parse_marking(m)
            .map_err(|e| e.to_string())
            .and_then(|l| policy.validate(&l).map(|()| l).map_err(|e| e.to_string()))
    };
    read_typed_with(flot, policy, &read, line)
}

/// [`read_typed`] with the marking read by `read` (a room's [`super::shown::Shown`] form:
/// another language, an equivalent policy, a table), near misses judged against `typing`.
pub fn read_typed_with(
    flot: &Flot,
    typing: &Policy,
    read: &dyn Fn(&str) -> Result<Label, String>,
    line: &str,
) -> Result<Typed, TypedError> {
    let marking_label = |m: &str| {
        read(m).map_err(|why| TypedError::Marking {
            marking: m.to_owned(),
            why,
        })
    };
    let parsed = flot.parse(line)?;
    if let Some(m) = parsed.marking {
        return Ok(Typed {
            label: Some(marking_label(m)?),
            marking: Some(m.to_owned()),
            text: parsed.text.to_owned(),
        });
    }
    // An addressee first: `nick: [MARKING] text` or `nick, [MARKING] text`.
    if let Some((addressee, rest)) = addressee(line) {
        let p = flot.parse(rest)?;
        if let Some(m) = p.marking {
            return Ok(Typed {
                label: Some(marking_label(m)?),
                marking: Some(m.to_owned()),
                text: format!("{addressee} {}", p.text),
            });
        }
        near_miss(flot, typing, rest)?;
    }
    near_miss(flot, typing, line)?;
    Ok(Typed {
        label: None,
        marking: None,
        text: line.to_owned(),
    })
}

/// `nick:` or `nick,` followed by white space: the addressee (with its punctuation) and the
/// rest of the line.
fn addressee(line: &str) -> Option<(&str, &str)> {
    let end = line.find([':', ','])?;
    let name = &line[..end];
    if name.is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
        return None;
    }
    let after = &line[end + 1..];
    if !after.starts_with(' ') {
        return None;
    }
    Some((&line[..=end], after.trim_start()))
}

/// Refuses a line whose start looks like a marking attempt the room's syntax did not read.
fn near_miss(flot: &Flot, policy: &Policy, line: &str) -> Result<(), TypedError> {
    let start = line.trim_start_matches(|c: char| c.is_whitespace() || invisible(c));
    let hidden = line[..line.len() - start.len()].chars().any(invisible);
    // The first stretch, normalised, long enough to hold any marking.
    let head: String = start.chars().take(MAX_MARKING + 8).map(plain).collect();
    let seen = |s: &str| TypedError::NearMiss {
        seen: s.chars().take(80).collect(),
    };
    if hidden || head != start.chars().take(MAX_MARKING + 8).collect::<String>() {
        // Invisible characters in front or look-alike brackets: refused if what they hide
        // reads as a marking in this room's syntax.
        if flot.parse(&head).is_ok_and(|p| p.marking.is_some()) {
            return Err(seen(start));
        }
    }
    if let Some(close) = head
        .strip_prefix(['[', '(', '{', '<'])
        .and_then(|inner| inner.find([']', ')', '}', '>']).map(|i| &inner[..i]))
    {
        if looks_like_marking(policy, close, false) {
            return Err(seen(&head[..close.len() + 2]));
        }
        return Ok(());
    }
    // `SECRET UK: text` or `TOP SECRET text`: a classification typed in capitals, or a whole
    // marking as a heading.
    let colon = head.find(':').filter(|&i| i <= MAX_MARKING);
    let upto = colon.unwrap_or(head.len());
    if looks_like_marking(policy, &head[..upto], true)
        || colon.is_some_and(|i| policy.parse_marking(head[..i].trim()).is_ok())
    {
        return Err(seen(&head[..upto]));
    }
    Ok(())
}

/// Whether `text` reads as a marking of `policy`, or names one of its classifications (or the
/// policy) as a word; with `capitals`, only if typed in capitals at its start.
fn looks_like_marking(policy: &Policy, text: &str, capitals: bool) -> bool {
    let t = text.trim();
    if t.is_empty() {
        return false;
    }
    if !capitals && policy.parse_marking(t).is_ok() {
        return true;
    }
    let folded = fold(t);
    let names = policy
        .classifications
        .iter()
        .flat_map(|c| {
            std::iter::once(c.name.as_str())
                .chain(c.marking.iter().filter_map(|m| m.phrase.as_deref()))
        })
        .chain(std::iter::once(policy.name.as_str()))
        .map(fold)
        .filter(|n| !n.is_empty());
    for name in names {
        let at_word = |i: usize| {
            let before = folded[..i].chars().next_back();
            let after = folded[i + name.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        };
        if capitals {
            // At the start, typed in capitals.
            if folded.starts_with(&name) && at_word(0) {
                let typed: String = t.chars().take(name.chars().count()).collect();
                if typed == typed.to_uppercase() {
                    return true;
                }
            }
        } else if folded.match_indices(&name).any(|(i, _)| at_word(i)) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressee_is_split_off() {
        assert_eq!(addressee("xavier: [S] hi"), Some(("xavier:", "[S] hi")));
        assert_eq!(addressee("xavier, hi"), Some(("xavier,", "hi")));
        assert_eq!(addressee("a:b"), None);
        assert_eq!(addressee("two words: x"), None);
        assert_eq!(addressee(": x"), None);
    }

    #[test]
    fn look_alikes_become_ascii() {
        let s: String = "［SECRET］（x）".chars().map(plain).collect();
        assert_eq!(s, "[SECRET](x)");
        assert!(invisible('\u{200B}') && invisible('\u{FEFF}') && !invisible('a'));
    }
}
