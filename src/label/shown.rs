//! How a room's labels are shown to people on IRC and read back from what they type: in which
//! of the policy's languages, under which policy (the room's own, or an equivalent one the
//! labels are translated to and from), and with which markings replaced by a table of the
//! operator's own FLOT texts.
//!
//! Reading always ends under the gateway's own policy, validated: what a person types in the
//! shown form is translated back before any decision. [`Shown::check`] proves, for the labels a
//! room can carry, that showing a label and reading the shown text back never gives a lower
//! label ([`Policy::dominates`]) — so that replying "at the marking shown" cannot downgrade.

use super::decision::PolicySet;
use super::marking::fold;
use super::model::{Label, TagClass};
use super::oid::Oid;
use super::policy::Policy;

/// One room's way of showing labels on IRC. The default shows the label's own policy in its
/// default language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    /// The language of markings (`xml:lang` tag), `None` for the policy's default.
    pub lang: Option<String>,
    /// The policy markings are shown in, when not the gateway's own (an equivalent policy).
    pub policy: Option<Oid>,
    /// Labels (under the gateway's policy) shown as the operator's own text instead.
    pub table: Vec<(Label, String)>,
}

/// Why a label cannot be shown, or a shown text cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShownError {
    /// The label's policy is not loaded.
    #[error("the label's policy is not loaded")]
    UnknownPolicy,
    /// Translation to or from the shown policy failed.
    #[error("{0}")]
    Translation(String),
    /// The label or marking is not valid.
    #[error("{0}")]
    Invalid(String),
}

impl Shown {
    fn shown_policy<'p>(&self, policies: &'p PolicySet) -> Result<&'p Policy, ShownError> {
        match &self.policy {
            None => Ok(policies.primary()),
            Some(id) => policies.get(id).ok_or(ShownError::UnknownPolicy),
        }
    }

    /// The marking a person on IRC sees for `label`.
    pub fn render(&self, policies: &PolicySet, label: &Label) -> Result<String, ShownError> {
        if let Some((_, text)) = self.table.iter().find(|(l, _)| l == label) {
            return Ok(text.clone());
        }
        let id = label.policy.as_ref().ok_or(ShownError::UnknownPolicy)?;
        let (policy, label) = match &self.policy {
            Some(to) if to != id => {
                let t = policies
                    .translate(label, to)
                    .map_err(|e| ShownError::Translation(e.to_string()))?;
                (self.shown_policy(policies)?, t)
            }
            _ => (
                policies.get(id).ok_or(ShownError::UnknownPolicy)?,
                label.clone(),
            ),
        };
        policy
            .render_marking_in(&label, self.lang.as_deref())
            .map_err(|e| ShownError::Invalid(e.to_string()))
    }

    /// The label (under the gateway's policy, validated) a person means by `text`: a table
    /// entry, else a marking of the shown policy in the shown language (or its default
    /// language), translated back.
    pub fn read(&self, policies: &PolicySet, text: &str) -> Result<Label, ShownError> {
        let folded = fold(text);
        if let Some((l, _)) = self.table.iter().find(|(_, t)| fold(t) == folded) {
            return Ok(l.clone());
        }
        let policy = self.shown_policy(policies)?;
        let parsed = match policy.parse_marking_in(text, self.lang.as_deref()) {
            Ok(l) => l,
            Err(first) if self.lang.is_some() => policy
                .parse_marking(text)
                .map_err(|_| ShownError::Invalid(first.to_string()))?,
            Err(e) => return Err(ShownError::Invalid(e.to_string())),
        };
        policy
            .validate(&parsed)
            .map_err(|e| ShownError::Invalid(e.to_string()))?;
        let primary = policies.primary();
        if policy.id == primary.id {
            return Ok(parsed);
        }
        policies
            .translate(&parsed, &primary.id)
            .map_err(|e| ShownError::Translation(e.to_string()))
    }

    /// The policy a person's typing is judged against for near misses (the shown one).
    pub fn typing_policy<'p>(&self, policies: &'p PolicySet) -> &'p Policy {
        self.shown_policy(policies)
            .unwrap_or_else(|_| policies.primary())
    }

    /// Problems with showing these labels (under the gateway's policy) this way: a label that
    /// cannot be shown, a shown text that reads back as another label that is not at least as
    /// high, table texts that clash with each other or read as a different label of the
    /// policy. Empty when every label shows and reads back no lower.
    pub fn check<'a>(
        &self,
        policies: &PolicySet,
        labels: impl IntoIterator<Item = &'a Label>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let primary = policies.primary();
        for (i, (label, text)) in self.table.iter().enumerate() {
            if let Some((other, _)) = self.table[..i].iter().find(|(_, t)| fold(t) == fold(text)) {
                let m = primary.render_marking(other).unwrap_or_default();
                problems.push(format!("`{text}` is the shown marking of [{m}] already"));
            }
            let without = Shown {
                table: Vec::new(),
                ..self.clone()
            };
            if let Ok(l) = without.read(policies, text)
                && l != *label
            {
                let m = primary.render_marking(&l).unwrap_or_default();
                problems.push(format!(
                    "`{text}` already reads as the policy's marking [{m}]: a table text must not"
                ));
            }
        }
        for label in labels {
            let m = primary.render_marking(label).unwrap_or_default();
            let shown = match self.render(policies, label) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("[{m}] cannot be shown on IRC: {e}"));
                    continue;
                }
            };
            match self.read(policies, &shown) {
                Ok(back) if primary.dominates(&back, label) => {}
                Ok(back) => {
                    let b = primary.render_marking(&back).unwrap_or_default();
                    problems.push(format!(
                        "[{m}] is shown as [{shown}], which reads back as the lower [{b}]"
                    ));
                }
                Err(e) => problems.push(format!(
                    "[{m}] is shown as [{shown}], which does not read back: {e}"
                )),
            }
        }
        problems
    }
}

impl Policy {
    /// Whether label `a` is at least as high as `b` under this policy: every clearance that
    /// dominates `a` dominates `b` (classification no lower; every restrictive category of `b`
    /// in `a`; for each permissive tag set `b` restricts, `a` restricts it to a subset).
    /// Labels under another policy, or with unknown parts, are never judged higher.
    pub fn dominates(&self, a: &Label, b: &Label) -> bool {
        if a.policy.as_ref() != Some(&self.id) || b.policy.as_ref() != Some(&self.id) {
            return false;
        }
        let (Some(ca), Some(cb)) = (a.classification, b.classification) else {
            return false;
        };
        let class_ok = if self.is_hierarchical() {
            let h = |l| self.classification(l).and_then(|c| c.hierarchy);
            matches!((h(ca), h(cb)), (Some(x), Some(y)) if x >= y)
        } else {
            ca == cb
        };
        if !class_ok {
            return false;
        }
        let class_of = |c: &super::model::Category| c.tag_type.class();
        let restrictive_ok = b
            .categories
            .iter()
            .filter(|c| class_of(c) == TagClass::Restrictive)
            .all(|c| a.categories.contains(c));
        let permissive_ok = b
            .categories
            .iter()
            .filter(|c| class_of(c) == TagClass::Permissive)
            .map(|c| &c.tag_set)
            .all(|set| {
                let in_set = |l: &Label| -> Vec<super::model::Category> {
                    l.categories
                        .iter()
                        .filter(|c| class_of(c) == TagClass::Permissive && &c.tag_set == set)
                        .cloned()
                        .collect()
                };
                let (sa, sb) = (in_set(a), in_set(b));
                !sa.is_empty() && sa.iter().all(|c| sb.contains(c))
            });
        restrictive_ok && permissive_ok
    }
}
