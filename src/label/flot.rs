//! FLOT ("first line of text") markings: the label's display marking written in front of every
//! line of a message, e.g. `[SECRET] text`, and read back from the start of a typed line.

use regex::Regex;

/// The default prefix template.
pub const DEFAULT_TEMPLATE: &str = "[{marking}] ";
/// The placeholder in templates.
pub const PLACEHOLDER: &str = "{marking}";
/// Longest marking text the parser will take from a line.
pub const MAX_MARKING: usize = 256;

/// A FLOT template or pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlotError {
    /// The template lacks the placeholder, or has it twice.
    #[error("the FLOT template must contain {PLACEHOLDER} exactly once")]
    Template,
    /// The pattern is not a valid regular expression.
    #[error("bad FLOT pattern: {0}")]
    Pattern(String),
    /// The pattern lacks the named group.
    #[error("the FLOT pattern must have a group named `marking`")]
    NoGroup,
    /// A line opens a marking but does not close it.
    #[error("the marking at the start of the line is not closed")]
    Unterminated,
    /// The marking text is implausibly long.
    #[error("the marking at the start of the line is longer than {MAX_MARKING} bytes")]
    TooLong,
}

/// How markings are written and read for one room.
#[derive(Debug, Clone)]
pub struct Flot {
    before: String,
    after: String,
    pattern: Option<Regex>,
}

impl Default for Flot {
    fn default() -> Self {
        Flot {
            before: "[".into(),
            after: "] ".into(),
            pattern: None,
        }
    }
}

/// The result of reading a typed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The marking text, if the line starts with one.
    pub marking: Option<&'a str>,
    /// The rest of the line.
    pub text: &'a str,
}

impl Flot {
    /// A FLOT from a template (containing `{marking}`) and an optional regular expression with
    /// a `marking` group, anchored at the start of the line. Without a pattern, a marking is
    /// the bracketed text at the start of a line, brackets nested (so `[TLP:AMBER [REGION=EU]]`
    /// works).
    pub fn new(template: &str, pattern: Option<&str>) -> Result<Flot, FlotError> {
        let (before, after) = template
            .split_once(PLACEHOLDER)
            .ok_or(FlotError::Template)?;
        if after.contains(PLACEHOLDER) {
            return Err(FlotError::Template);
        }
        let pattern = match pattern {
            None => None,
            Some(p) => {
                let anchored = if p.starts_with('^') {
                    p.to_owned()
                } else {
                    format!("^(?:{p})")
                };
                let re = Regex::new(&anchored).map_err(|e| FlotError::Pattern(e.to_string()))?;
                if !re.capture_names().any(|n| n == Some("marking")) {
                    return Err(FlotError::NoGroup);
                }
                Some(re)
            }
        };
        Ok(Flot {
            before: before.to_owned(),
            after: after.to_owned(),
            pattern,
        })
    }

    /// The prefix for a marking.
    pub fn prefix(&self, marking: &str) -> String {
        let mut s = String::with_capacity(self.before.len() + marking.len() + self.after.len());
        s.push_str(&self.before);
        s.push_str(marking);
        s.push_str(&self.after);
        s
    }

    /// Reads a marking from the start of a typed line.
    pub fn parse<'a>(&self, line: &'a str) -> Result<Parsed<'a>, FlotError> {
        if let Some(re) = &self.pattern {
            return Ok(match re.captures(line) {
                Some(c) => {
                    let whole = c.get(0).map_or(0, |m| m.end());
                    let m = c.name("marking").map(|m| m.as_str().trim());
                    if m.is_some_and(|m| m.len() > MAX_MARKING) {
                        return Err(FlotError::TooLong);
                    }
                    Parsed {
                        marking: m.filter(|m| !m.is_empty()),
                        text: &line[whole..],
                    }
                }
                None => Parsed {
                    marking: None,
                    text: line,
                },
            });
        }
        let trimmed = line.trim_start();
        if !trimmed.starts_with('[') {
            return Ok(Parsed {
                marking: None,
                text: line,
            });
        }
        let mut depth = 0usize;
        for (i, ch) in trimmed.char_indices() {
            match ch {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        let marking = trimmed[1..i].trim();
                        if marking.len() > MAX_MARKING {
                            return Err(FlotError::TooLong);
                        }
                        let rest = &trimmed[i + 1..];
                        let rest = rest.strip_prefix(' ').unwrap_or(rest);
                        return Ok(Parsed {
                            marking: Some(marking).filter(|m| !m.is_empty()),
                            text: rest,
                        });
                    }
                }
                _ => {}
            }
            if i > MAX_MARKING + 2 {
                return Err(FlotError::TooLong);
            }
        }
        Err(FlotError::Unterminated)
    }

    /// Splits a message body into lines of at most `max_bytes` bytes, each starting with
    /// `prefix`. Line breaks in the body start new lines; long lines break at white space where
    /// possible and never inside a UTF-8 character. NUL and CR are removed.
    pub fn split(&self, prefix: &str, body: &str, max_bytes: usize) -> Vec<String> {
        split_lines(prefix, body, max_bytes)
    }
}

/// See [`Flot::split`].
pub fn split_lines(prefix: &str, body: &str, max_bytes: usize) -> Vec<String> {
    // Always room for at least one character of text.
    let budget = max_bytes.saturating_sub(prefix.len()).max(4);
    let mut out = Vec::new();
    // Every line terminator Unicode names: a client may render any of them as a new line, and
    // each shown line must start with the real marking.
    let breaks = [
        '\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}',
    ];
    for raw in body.split(breaks) {
        let line: String = raw.chars().filter(|&c| c != '\0').collect();
        let mut rest = line.trim_end();
        if rest.is_empty() {
            continue;
        }
        while !rest.is_empty() {
            if rest.len() <= budget {
                out.push(format!("{prefix}{rest}"));
                break;
            }
            let mut cut = budget;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            // Prefer the last space in the window, if it leaves a reasonable piece.
            if let Some(sp) = rest[..cut].rfind(' ')
                && sp >= budget / 2
            {
                cut = sp;
            }
            if cut == 0 {
                // A single character wider than the budget: take it whole.
                cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            out.push(format!("{prefix}{}", &rest[..cut]));
            rest = rest[cut..].trim_start_matches(' ');
        }
    }
    if out.is_empty() {
        out.push(prefix.trim_end().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parse() {
        let f = Flot::default();
        let p = f.parse("[SECRET] hello").unwrap();
        assert_eq!(p.marking, Some("SECRET"));
        assert_eq!(p.text, "hello");
        let p = f.parse("[TLP:AMBER [REGION=EU]] x").unwrap();
        assert_eq!(p.marking, Some("TLP:AMBER [REGION=EU]"));
        assert_eq!(p.text, "x");
        let p = f.parse("no marking").unwrap();
        assert_eq!(p.marking, None);
        assert_eq!(p.text, "no marking");
        assert_eq!(
            f.parse("[SECRET oops").unwrap_err(),
            FlotError::Unterminated
        );
        assert_eq!(f.prefix("SECRET"), "[SECRET] ");
    }

    #[test]
    fn custom_template_and_pattern() {
        let f = Flot::new("({marking}) ", Some(r"\((?P<marking>[^)]*)\)\s?")).unwrap();
        assert_eq!(f.prefix("S"), "(S) ");
        let p = f.parse("(SECRET) hi").unwrap();
        assert_eq!((p.marking, p.text), (Some("SECRET"), "hi"));
        assert_eq!(
            Flot::new("no placeholder", None).unwrap_err(),
            FlotError::Template
        );
        assert!(
            Flot::new("{marking}", Some("(x"))
                .unwrap_err()
                .to_string()
                .starts_with("bad FLOT pattern")
        );
        assert_eq!(
            Flot::new("{marking}", Some("x")).unwrap_err(),
            FlotError::NoGroup
        );
    }

    #[test]
    fn split_keeps_prefix_and_utf8() {
        let lines = split_lines("[S] ", "héllo wörld ".repeat(20).as_str(), 40);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(l.starts_with("[S] "));
            assert!(l.len() <= 40, "{l:?}");
        }
        let lines = split_lines("[S] ", "a\r\nb\n\nc", 100);
        assert_eq!(lines, ["[S] a", "[S] b", "[S] c"]);
        // Every Unicode line terminator breaks a line, so none can start one with other text.
        let lines = split_lines("[S] ", "a\u{2028}[T] b\u{2029}c\u{85}d\u{b}e\u{c}f\rg", 100);
        assert_eq!(
            lines,
            [
                "[S] a",
                "[S] [T] b",
                "[S] c",
                "[S] d",
                "[S] e",
                "[S] f",
                "[S] g"
            ]
        );
        assert_eq!(split_lines("[S] ", "", 100), ["[S]"]);
    }
}
