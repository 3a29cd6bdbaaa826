//! Rendering: a label or a clearance as the text a person reads, from the policy's marking data
//! and qualifiers, in the policy's default language or another one it is written in
//! (`xml:lang`).
//!
//! # Rules, as the policy writes them
//!
//! * The policy name (or the phrase of a `replacePolicy` marking at policy, classification or
//!   category level) comes first, then the classification, then one group per tag in the
//!   policy's order of tag sets, tags and categories, joined by the policy's separator (a space
//!   when it gives none); the policy's prefix and suffix wrap the whole.
//! * A category whose marking says `suppressClassName` leaves the classification out, as
//!   written. Such a marking may fit several classifications; reading it back picks the
//!   highest (see [`Policy::parse_marking`]), so a label is never read lower than it was.
//! * Within a group, the tag's prefix, its categories joined by the tag's separator (`/` when
//!   the tag gives none) and its suffix.
//! * A clearance: the classifications held, lowest first, as `{A|B}`, then its categories in
//!   the same groups.

use super::clearance::Clearance;
use super::marking::contrasting_text;
use super::model::Label;
use super::policy::{CategoryRef, MarkingCode, MarkingData, Policy, marking_in};
use super::validate::Invalid;
use super::xep0258::DisplayMarking;

/// The separator between the categories of one tag when the tag gives none.
pub const DEFAULT_TAG_SEPARATOR: &str = "/";

/// The separator between the parts of a marking when the policy gives none.
pub const DEFAULT_POLICY_SEPARATOR: &str = " ";

pub(crate) fn has(md: Option<&MarkingData>, code: MarkingCode) -> bool {
    md.is_some_and(|m| m.codes.contains(&code))
}

/// The phrase that replaces the policy name at policy level (`replacePolicy`), if any.
pub(crate) fn policy_replacement<'p>(policy: &'p Policy, lang: Option<&str>) -> Option<&'p str> {
    let md = marking_in(&policy.marking, lang)?;
    md.codes
        .contains(&MarkingCode::ReplacePolicy)
        .then(|| md.phrase.as_deref().unwrap_or(""))
}

impl Policy {
    /// The policy as its markings name it (its prefix qualifier and the name or the phrase
    /// that replaces it: `DEMO-UK` for a policy named `UK`), for operators' messages.
    pub fn marking_name(&self) -> String {
        format!(
            "{}{}",
            self.qualifiers.prefix.as_deref().unwrap_or(""),
            policy_replacement(self, None).unwrap_or(&self.name)
        )
    }

    /// Renders a label's display marking in the default language, e.g.
    /// `DEMO-UK SECRET - UK / EU EYES ONLY`.
    pub fn render_marking(&self, label: &Label) -> Result<String, Invalid> {
        self.render_marking_in(label, None)
    }

    /// Renders a label's display marking in `lang` (an `xml:lang` tag such as `fr` or
    /// `fr-CA`; text the policy does not give in that language is taken from the default).
    ///
    /// The label must be under this policy with a known classification and categories (it need
    /// not be valid otherwise).
    pub fn render_marking_in(&self, label: &Label, lang: Option<&str>) -> Result<String, Invalid> {
        let lacv = label.classification.ok_or(Invalid::NoClassification)?;
        let class_idx = self
            .classification_index(lacv)
            .ok_or(Invalid::UnknownClassification(lacv))?;
        let class = &self.classifications[class_idx];
        let refs = self.sorted_refs(label.categories.iter())?;
        let q = self.qualifiers.in_lang(lang);
        let policy_sep = q.separator.unwrap_or(DEFAULT_POLICY_SEPARATOR);
        let class_md = marking_in(&class.marking, lang);
        let mut replacements: Vec<&str> = Vec::new();
        if has(class_md, MarkingCode::ReplacePolicy)
            && let Some(p) = class_md.and_then(|m| m.phrase.as_deref())
        {
            replacements.push(p);
        }
        let mut suppress_class = false;
        for r in &refs {
            let md = marking_in(&self.tag_category(*r).marking, lang);
            if has(md, MarkingCode::ReplacePolicy)
                && let Some(p) = md.and_then(|m| m.phrase.as_deref())
            {
                replacements.push(p);
            }
            suppress_class |= has(md, MarkingCode::SuppressClassName);
        }
        let mut parts: Vec<String> = Vec::new();
        if replacements.is_empty() {
            parts.push(
                policy_replacement(self, lang)
                    .unwrap_or(&self.name)
                    .to_owned(),
            );
        } else {
            parts.push(replacements.join(policy_sep));
        }
        if !suppress_class && !has(class_md, MarkingCode::NoMarkingDisplay) {
            let shown = match class_md {
                Some(m) if !m.codes.contains(&MarkingCode::ReplacePolicy) => {
                    m.phrase.as_deref().unwrap_or(&class.name)
                }
                _ => &class.name,
            };
            parts.push(shown.to_owned());
        }
        self.category_groups(&refs, lang, false, &mut parts);
        let body: Vec<&str> = parts
            .iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .collect();
        Ok(format!(
            "{}{}{}",
            q.prefix.unwrap_or(""),
            body.join(policy_sep),
            q.suffix.unwrap_or("")
        ))
    }

    /// Renders a clearance, e.g. `DEMO-{OFFICIAL|SECRET} - UK / EU EYES ONLY`: the policy's
    /// prefix, the classifications held (lowest first) in braces, the categories held in the
    /// groups a label's marking uses, the policy's suffix.
    pub fn render_clearance(
        &self,
        clearance: &Clearance,
        lang: Option<&str>,
    ) -> Result<String, Invalid> {
        if clearance.policy != self.id {
            return Err(Invalid::WrongPolicy {
                label: clearance.policy.clone(),
                policy: self.id.clone(),
            });
        }
        let mut classes: Vec<(usize, &str)> = Vec::new();
        for &lacv in &clearance.classes {
            let i = self
                .classification_index(lacv)
                .ok_or(Invalid::UnknownClassification(lacv))?;
            let c = &self.classifications[i];
            let shown = match marking_in(&c.marking, lang) {
                Some(m) if lang.is_some() && !m.codes.contains(&MarkingCode::ReplacePolicy) => {
                    m.phrase.as_deref().unwrap_or(&c.name)
                }
                _ => &c.name,
            };
            classes.push((i, shown));
        }
        classes.sort_by_key(|(i, _)| (self.classifications[*i].hierarchy, *i));
        let names: Vec<&str> = classes.iter().map(|(_, n)| *n).collect();
        let mut parts = vec![format!("{{{}}}", names.join("|"))];
        let refs = self.sorted_refs(clearance.categories.iter())?;
        self.category_groups(&refs, lang, true, &mut parts);
        let q = self.qualifiers.in_lang(lang);
        Ok(format!(
            "{}{}{}",
            q.prefix.unwrap_or(""),
            parts.join(q.separator.unwrap_or(DEFAULT_POLICY_SEPARATOR)),
            q.suffix.unwrap_or("")
        ))
    }

    /// The XEP-0258 display marking for a label: the rendered text, the classification's colour
    /// as background, and black or white text, whichever reads better on it.
    pub fn display_marking(&self, label: &Label) -> Result<DisplayMarking, Invalid> {
        self.display_marking_in(label, None)
    }

    /// [`Policy::display_marking`] in another language.
    pub fn display_marking_in(
        &self,
        label: &Label,
        lang: Option<&str>,
    ) -> Result<DisplayMarking, Invalid> {
        let text = self.render_marking_in(label, lang)?;
        let bg = label
            .classification
            .and_then(|c| self.classification(c))
            .and_then(|c| c.color.clone());
        let fg = bg.as_deref().map(|c| contrasting_text(c).to_owned());
        Ok(DisplayMarking { text, fg, bg })
    }

    /// The categories' places in the policy, in the policy's order.
    fn sorted_refs<'a>(
        &self,
        categories: impl Iterator<Item = &'a super::model::Category>,
    ) -> Result<Vec<CategoryRef>, Invalid> {
        let mut refs = Vec::new();
        for c in categories {
            refs.push(
                self.find_category(c)
                    .ok_or_else(|| Invalid::UnknownCategory(c.clone()))?,
            );
        }
        refs.sort_by_key(|r| (r.set, r.tag, r.cat));
        Ok(refs)
    }

    /// One text per tag that has a visible category among `refs` (sorted), appended to `out`.
    /// In a clearance (`clearance`), a category that replaces the policy name is shown in its
    /// group, there being no policy name to replace.
    fn category_groups(
        &self,
        refs: &[CategoryRef],
        lang: Option<&str>,
        clearance: bool,
        out: &mut Vec<String>,
    ) {
        let mut i = 0;
        while i < refs.len() {
            let (s, t) = (refs[i].set, refs[i].tag);
            let tag = &self.tag_sets[s].tags[t];
            let mut texts: Vec<&str> = Vec::new();
            while i < refs.len() && refs[i].set == s && refs[i].tag == t {
                let def = self.tag_category(refs[i]);
                let md = marking_in(&def.marking, lang);
                let phrase = md.and_then(|m| m.phrase.as_deref());
                let hidden = has(md, MarkingCode::NoMarkingDisplay)
                    || (!clearance && has(md, MarkingCode::ReplacePolicy))
                    || (has(md, MarkingCode::NoNameDisplay) && phrase.is_none());
                if !hidden {
                    texts.push(phrase.unwrap_or(&def.name));
                }
                i += 1;
            }
            if !texts.is_empty() {
                let q = tag.qualifiers.in_lang(lang);
                out.push(format!(
                    "{}{}{}",
                    q.prefix.unwrap_or(""),
                    texts.join(q.separator.unwrap_or(DEFAULT_TAG_SEPARATOR)),
                    q.suffix.unwrap_or("")
                ));
            }
        }
    }
}
