//! Display markings: render a label as the text a person reads (from the policy's marking data
//! and qualifiers), and parse such text back into a label.

use std::collections::BTreeSet;

use super::model::{Category, Label};
use super::policy::{CategoryRef, MarkingCode, Policy, lang_rank, marking_in};
use super::render::{DEFAULT_TAG_SEPARATOR, has, policy_replacement};

/// Black or white, whichever contrasts better with a `#rrggbb`, `#rgb` or common CSS colour.
pub fn contrasting_text(colour: &str) -> &'static str {
    let rgb = match colour.strip_prefix('#') {
        Some(h) if h.len() == 6 => u32::from_str_radix(h, 16).ok(),
        Some(h) if h.len() == 3 => u32::from_str_radix(h, 16).ok().map(|v| {
            let (r, g, b) = ((v >> 8) & 0xf, (v >> 4) & 0xf, v & 0xf);
            (r * 17) << 16 | (g * 17) << 8 | (b * 17)
        }),
        _ => match colour.to_ascii_lowercase().as_str() {
            "black" | "navy" | "blue" | "maroon" | "purple" | "green" | "red" | "teal"
            | "olive" => Some(0),
            _ => Some(0xffffff),
        },
    };
    let v = rgb.unwrap_or(0xffffff);
    let (r, g, b) = ((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
    // ITU-R BT.601 luma.
    if r * 299 + g * 587 + b * 114 > 128_000 {
        "black"
    } else {
        "white"
    }
}

/// Folds text for comparison: upper case, runs of white space made one space, trimmed.
pub fn fold(s: &str) -> String {
    fold_mapped(s).0
}

/// [`fold`], also returning for each byte of the result the byte offset in the input.
fn fold_mapped(s: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len());
    let mut pending_space: Option<usize> = None;
    for (i, ch) in s.char_indices() {
        if ch.is_whitespace() {
            if !out.is_empty() && pending_space.is_none() {
                pending_space = Some(i);
            }
            continue;
        }
        if let Some(at) = pending_space.take() {
            out.push(' ');
            map.push(at);
        }
        for up in ch.to_uppercase() {
            let before = out.len();
            out.push(up);
            map.extend(std::iter::repeat_n(i, out.len() - before));
        }
    }
    (out, map)
}

/// Why a marking text could not be turned into a label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkingError {
    /// The text is empty.
    #[error("the marking is empty")]
    Empty,
    /// A word that is no part of any marking of the policy.
    #[error("`{word}` is not a classification, category or qualifier of policy {policy}")]
    UnknownWord {
        /// The word as typed.
        word: String,
        /// The policy's name.
        policy: String,
    },
    /// A word that could mean more than one category.
    #[error("`{word}` is ambiguous: it could be {candidates}")]
    Ambiguous {
        /// The word as typed.
        word: String,
        /// The meanings.
        candidates: String,
    },
    /// Two classifications.
    #[error("the marking names two classifications, {0} and {1}")]
    TwoClassifications(String, String),
    /// No classification, and the categories do not imply one.
    #[error("the marking names no classification")]
    NoClassification,
    /// No classification, and the categories fit several that have no order.
    #[error("the marking names no classification and its categories fit several ({0}): name one")]
    SeveralClassifications(String),
}

/// What a token of marking text means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    PolicyPrefix,
    PolicySuffix,
    PolicySeparator,
    PolicyName,
    ClassReplace(usize),
    Class(usize),
    Category(CategoryRef),
    /// A category's phrase that stands in place of the policy name (`replacePolicy`).
    CategoryReplace(CategoryRef),
    TagPrefix(usize, usize),
    TagSuffix(usize, usize),
    TagSeparator,
}

/// The folded texts a policy's markings are made of, longest first: built once per policy.
#[derive(Debug, Clone, Default)]
pub struct MarkingTable {
    tokens: Vec<(String, Vec<Meaning>)>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

impl MarkingTable {
    /// Builds the table for a policy's markings in `lang` (`None`: the default language).
    pub(crate) fn build(policy: &Policy, lang: Option<&str>) -> MarkingTable {
        let mut raw: Vec<(String, Meaning)> = Vec::new();
        let mut add = |s: &str, m: Meaning| {
            let f = fold(s);
            if !f.is_empty() {
                raw.push((f, m));
            }
        };
        let q = policy.qualifiers.in_lang(lang);
        if let Some(p) = q.prefix {
            add(p, Meaning::PolicyPrefix);
        }
        if let Some(p) = q.suffix {
            add(p, Meaning::PolicySuffix);
        }
        if let Some(p) = q.separator {
            add(p, Meaning::PolicySeparator);
        }
        add(&policy.name, Meaning::PolicyName);
        if let Some(p) = policy_replacement(policy, lang) {
            add(p, Meaning::PolicyName);
        }
        for (i, c) in policy.classifications.iter().enumerate() {
            add(&c.name, Meaning::Class(i));
            if let Some(md) = marking_in(&c.marking, lang)
                && let Some(p) = &md.phrase
            {
                if md.codes.contains(&MarkingCode::ReplacePolicy) {
                    add(p, Meaning::ClassReplace(i));
                } else {
                    add(p, Meaning::Class(i));
                }
            }
        }
        for r in policy.all_categories() {
            let def = policy.tag_category(r);
            let md = marking_in(&def.marking, lang);
            if !has(md, MarkingCode::NoNameDisplay) {
                add(&def.name, Meaning::Category(r));
            }
            if let Some(m) = md
                && let Some(p) = &m.phrase
            {
                if m.codes.contains(&MarkingCode::ReplacePolicy) {
                    add(p, Meaning::CategoryReplace(r));
                } else {
                    add(p, Meaning::Category(r));
                }
            }
        }
        for (s, set) in policy.tag_sets.iter().enumerate() {
            for (t, tag) in set.tags.iter().enumerate() {
                let q = tag.qualifiers.in_lang(lang);
                if let Some(p) = q.prefix {
                    add(p, Meaning::TagPrefix(s, t));
                }
                if let Some(p) = q.suffix {
                    add(p, Meaning::TagSuffix(s, t));
                }
                add(
                    q.separator.unwrap_or(DEFAULT_TAG_SEPARATOR),
                    Meaning::TagSeparator,
                );
            }
        }
        let mut tokens: Vec<(String, Vec<Meaning>)> = Vec::new();
        for (text, m) in raw {
            match tokens.iter_mut().find(|(t, _)| *t == text) {
                Some((_, ms)) => {
                    if !ms.contains(&m) {
                        ms.push(m)
                    }
                }
                None => tokens.push((text, vec![m])),
            }
        }
        tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        MarkingTable { tokens }
    }

    /// The longest tokens matching at `pos` of folded text, respecting word boundaries.
    fn longest_at(&self, text: &str, pos: usize) -> Option<(usize, &[Meaning])> {
        let rest = &text[pos..];
        let prev = text[..pos].chars().next_back();
        for (tok, ms) in &self.tokens {
            if !rest.starts_with(tok.as_str()) {
                continue;
            }
            let first = tok.chars().next();
            let last = tok.chars().next_back();
            let next = rest[tok.len()..].chars().next();
            let starts_ok = !(first.is_some_and(is_word_char) && prev.is_some_and(is_word_char));
            let ends_ok = !(last.is_some_and(is_word_char) && next.is_some_and(is_word_char));
            if starts_ok && ends_ok {
                return Some((tok.len(), ms));
            }
        }
        None
    }
}

impl Policy {
    /// The classifications (indexes) under which the label's categories would be valid.
    fn implied_classes<'a>(&'a self, label: &'a Label) -> impl Iterator<Item = usize> + 'a {
        self.classifications
            .iter()
            .enumerate()
            .filter_map(move |(i, c)| {
                let mut l = label.clone();
                l.classification = Some(c.lacv);
                self.validate(&l).is_ok().then_some(i)
            })
    }

    /// Parses marking text (as rendered, or as a person types it: any case and spacing, the
    /// policy name and qualifiers optional) into a label under this policy.
    ///
    /// A marking without a classification is read only when one of its categories suppresses
    /// the class name: then as the highest classification its categories are valid at (a
    /// marking that fits several is never read lower than the highest), or, where the policy
    /// has no hierarchy, only if they fit exactly one.
    ///
    /// The result is not validated; call [`Policy::validate`].
    pub fn parse_marking(&self, text: &str) -> Result<Label, MarkingError> {
        self.parse_marking_in(text, None)
    }

    /// [`Policy::parse_marking`] for text written in `lang` (the policy's phrases and
    /// qualifiers in that language, those it does not translate in the default language).
    pub fn parse_marking_in(&self, text: &str, lang: Option<&str>) -> Result<Label, MarkingError> {
        let (folded, map) = fold_mapped(text);
        if folded.is_empty() {
            return Err(MarkingError::Empty);
        }
        let word_at = |pos: usize| -> String {
            let start = map.get(pos).copied().unwrap_or(0);
            text[start..]
                .split(char::is_whitespace)
                .next()
                .unwrap_or("")
                .to_owned()
        };
        let table = match lang {
            None => &self.marking_table,
            Some(l) => self
                .marking_tables
                .iter()
                .filter_map(|(have, t)| Some((lang_rank(Some(have), Some(l))?, t)))
                .filter(|(rank, _)| *rank < 2)
                .min_by_key(|(rank, _)| *rank)
                .map_or(&self.marking_table, |(_, t)| t),
        };
        let mut class: Option<usize> = None;
        let mut categories: BTreeSet<Category> = BTreeSet::new();
        let mut context: Option<(usize, usize)> = None;
        let mut seen_policy = false;
        // Inside a group whose tag has a visible separator, another item must follow one; a
        // category straight after an item ends the group.
        let mut after_item = false;
        let mut pos = 0;
        while pos < folded.len() {
            if folded[pos..].starts_with(' ') {
                pos += 1;
                continue;
            }
            let Some((len, meanings)) = table.longest_at(&folded, pos) else {
                return Err(MarkingError::UnknownWord {
                    word: word_at(pos),
                    policy: self.name.clone(),
                });
            };
            if after_item && meanings.iter().any(|m| matches!(m, Meaning::Category(_))) {
                context = None;
            }
            after_item = false;
            let chosen = self.choose(meanings, class.is_some(), seen_policy, context);
            match chosen {
                Ok(Meaning::PolicyName) | Ok(Meaning::ClassReplace(_)) => seen_policy = true,
                Ok(Meaning::PolicyPrefix | Meaning::PolicySuffix | Meaning::PolicySeparator) => {}
                Ok(Meaning::TagSeparator) => {}
                Ok(Meaning::TagPrefix(s, t)) => context = Some((s, t)),
                Ok(Meaning::TagSuffix(..)) => context = None,
                Ok(Meaning::Class(i)) => {
                    if let Some(prev) = class
                        && prev != i
                    {
                        return Err(MarkingError::TwoClassifications(
                            self.classifications[prev].name.clone(),
                            self.classifications[i].name.clone(),
                        ));
                    }
                    class = Some(i);
                    seen_policy = true;
                }
                Ok(Meaning::CategoryReplace(r)) => {
                    categories.insert(self.category_at(r));
                    seen_policy = true;
                }
                Ok(Meaning::Category(r)) => {
                    categories.insert(self.category_at(r));
                    seen_policy = true;
                    after_item = context == Some((r.set, r.tag))
                        && !self
                            .tag(r)
                            .qualifiers
                            .in_lang(lang)
                            .separator
                            .unwrap_or(DEFAULT_TAG_SEPARATOR)
                            .trim()
                            .is_empty();
                }
                Err(candidates) => {
                    return Err(MarkingError::Ambiguous {
                        word: text[map[pos]..map.get(pos + len).copied().unwrap_or(text.len())]
                            .trim()
                            .to_owned(),
                        candidates,
                    });
                }
            }
            pos += len;
        }
        let mut label = Label {
            policy: Some(self.id.clone()),
            classification: None,
            privacy_mark: None,
            categories,
        };
        let class = match class {
            Some(c) => c,
            None => {
                let implied: Vec<usize> = self.implied_classes(&label).collect();
                let suppressing = label.categories.iter().any(|c| {
                    self.find_category(c).is_some_and(|r| {
                        has(
                            marking_in(&self.tag_category(r).marking, lang),
                            MarkingCode::SuppressClassName,
                        )
                    })
                });
                match implied.as_slice() {
                    _ if !suppressing => return Err(MarkingError::NoClassification),
                    [] => return Err(MarkingError::NoClassification),
                    [only] => *only,
                    several if self.is_hierarchical() => several
                        .iter()
                        .copied()
                        .max_by_key(|&i| self.classifications[i].hierarchy)
                        .unwrap_or(several[0]),
                    several => {
                        return Err(MarkingError::SeveralClassifications(
                            several
                                .iter()
                                .map(|&i| self.classifications[i].name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ));
                    }
                }
            }
        };
        label.classification = Some(self.classifications[class].lacv);
        Ok(label)
    }

    /// Picks one meaning for a token from its context.
    fn choose(
        &self,
        meanings: &[Meaning],
        have_class: bool,
        seen_policy: bool,
        context: Option<(usize, usize)>,
    ) -> Result<Meaning, String> {
        if meanings.len() == 1 {
            return Ok(meanings[0]);
        }
        // Before the classification, a category phrase that replaces the policy name wins over
        // the policy name itself: where the two read the same, the stricter label is chosen.
        // After it, such phrases are not in play.
        let replace = meanings
            .iter()
            .find(|m| matches!(m, Meaning::CategoryReplace(_)));
        if !have_class && let Some(m) = replace {
            return Ok(*m);
        }
        let meanings: Vec<Meaning> = meanings
            .iter()
            .copied()
            .filter(|m| !matches!(m, Meaning::CategoryReplace(_)))
            .collect();
        let meanings = meanings.as_slice();
        if meanings.len() == 1 {
            return Ok(meanings[0]);
        }
        // Position decides between the policy name, a classification and a category.
        if !seen_policy
            && !have_class
            && let Some(m) = meanings.iter().find(|m| matches!(m, Meaning::PolicyName))
        {
            return Ok(*m);
        }
        if !have_class && let Some(m) = meanings.iter().find(|m| matches!(m, Meaning::Class(_))) {
            return Ok(*m);
        }
        let cats: Vec<CategoryRef> = meanings
            .iter()
            .filter_map(|m| match m {
                Meaning::Category(r) => Some(*r),
                _ => None,
            })
            .collect();
        if let Some((s, t)) = context
            && let Some(r) = cats.iter().find(|r| r.set == s && r.tag == t)
        {
            return Ok(Meaning::Category(*r));
        }
        if cats.len() == 1 {
            return Ok(Meaning::Category(cats[0]));
        }
        // Outside a group, prefer categories of tags that have no prefix (they stand bare).
        let bare: Vec<&CategoryRef> = cats
            .iter()
            .filter(|r| self.tag(**r).qualifiers.prefix.is_none())
            .collect();
        if bare.len() == 1 {
            return Ok(Meaning::Category(*bare[0]));
        }
        if cats.is_empty() {
            return Ok(meanings[0]);
        }
        Err(cats
            .iter()
            .map(|r| self.category_name(&self.category_at(*r)))
            .collect::<Vec<_>>()
            .join(" or "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(fold("  Top   secret\t- uk "), "TOP SECRET - UK");
        let (f, map) = fold_mapped("a  b");
        assert_eq!(f, "A B");
        assert_eq!(map, vec![0, 1, 3]);
    }
}
