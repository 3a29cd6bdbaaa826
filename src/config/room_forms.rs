//! The forms a mapping's labels take: on IRC (language, an equivalent policy, a table of
//! the operator's own markings — [`Shown`]) and toward the room (`label_format`: ESS or
//! ADatP-4774 XML), read from a mapping's keys and checked so that no form lowers a label.
//!
//! ```toml
//! marking_language = "fr"            # markings in the policy's French (xml:lang)
//! irc_policy = "TLP"                 # show labels translated to this equivalent policy
//! label_format = "adatp-4774"        # labels sent to the room as ADatP-4774 XML (default "ess")
//! [channel.irc_markings]             # the operator's own FLOT texts for some labels
//! "SECRET - UK / EU EYES ONLY" = "S-UKEU"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::mappings::Mapping;
use crate::label::flot::Flot;
use crate::label::shown::Shown;
use crate::label::{Clearance, Label, Policy, PolicySet};

/// How labels are written in the stanzas the gateway sends to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelFormat {
    /// XEP-0258 `<esssecuritylabel>` (base64 DER).
    #[default]
    Ess,
    /// An ADatP-4774 `originatorConfidentialityLabel`, for rooms whose clients read that form.
    #[serde(rename = "adatp-4774")]
    Adatp4774,
}

impl LabelFormat {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            LabelFormat::Ess => "ess",
            LabelFormat::Adatp4774 => "adatp-4774",
        }
    }
}

/// The mapping keys this module reads (`marking_language`, `irc_policy`, `irc_markings`).
#[derive(Debug)]
pub struct RawForms<'a> {
    /// `marking_language`.
    pub marking_language: Option<&'a Spanned<String>>,
    /// `irc_policy`.
    pub irc_policy: Option<&'a Spanned<String>>,
    /// `[channel.irc_markings]`: policy marking → shown text.
    pub irc_markings: &'a BTreeMap<String, String>,
}

/// A problem: where (a byte offset, when known) and what.
pub type Problem = (Option<usize>, String);

/// The policy a name or OID stands for among those loaded.
fn find_policy<'p>(policies: &'p PolicySet, name: &str) -> Option<&'p Policy> {
    policies
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name) || p.id.to_string() == name)
}

/// Reads the IRC form of a mapping's labels; `samples` are the labels the room can carry that
/// the form must show and read back no lower.
pub fn shown(
    raw: &RawForms<'_>,
    policies: &PolicySet,
    room_clearance: &Clearance,
    flot: &Flot,
    samples: &[&Label],
) -> Result<Shown, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    let primary = policies.primary();
    let policy = match &raw.irc_policy {
        None => None,
        Some(s) => match find_policy(policies, s.get_ref()) {
            Some(p) if p.id == primary.id => None,
            Some(p) => Some(p),
            None => {
                let loaded: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
                problems.push((
                    Some(s.span().start),
                    format!(
                        "irc_policy `{}` is not a loaded policy (loaded: {}; add it to [policy] equivalent)",
                        s.get_ref(),
                        loaded.join(", ")
                    ),
                ));
                None
            }
        },
    };
    let lang = match &raw.marking_language {
        None => None,
        Some(s) => {
            let l = s.get_ref();
            let p = policy.unwrap_or(primary);
            if !p.writes_language(l) {
                problems.push((
                    Some(s.span().start),
                    format!(
                        "marking_language `{l}`: policy {} has no markings in it (it has: {})",
                        p.name,
                        p.languages_text()
                    ),
                ));
            }
            Some(l.clone())
        }
    };
    let mut table = Vec::new();
    for (marking, text) in raw.irc_markings {
        let label = primary
            .parse_marking(marking)
            .map_err(|e| e.to_string())
            .and_then(|l| primary.validate(&l).map(|()| l).map_err(|e| e.to_string()));
        match label {
            Err(e) => problems.push((None, format!("irc_markings `{marking}`: {e}"))),
            Ok(_) if text.trim().is_empty() => {
                problems.push((
                    None,
                    format!("irc_markings `{marking}`: the shown text is empty"),
                ));
            }
            Ok(l) => {
                if let Err(why) = policies.check(room_clearance, &l) {
                    problems.push((
                        None,
                        format!("irc_markings `{marking}` is above the room's clearance: {why}"),
                    ));
                }
                table.push((l, text.clone()));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let shown = Shown {
        lang,
        policy: policy.map(|p| p.id.clone()),
        table,
    };
    let mut all: Vec<&Label> = samples.to_vec();
    all.extend(shown.table.iter().map(|(l, _)| l));
    // The proof holds for the mapping's language and for every other language of the shown
    // policy, which a user may read in (users file `marking_language`).
    let shown_policy = policy.unwrap_or(primary);
    let mut found = Vec::new();
    let langs = std::iter::once(shown.lang.clone()).chain(
        shown_policy
            .marking_languages()
            .filter(|l| shown.lang.as_deref() != Some(*l))
            .map(|l| Some(l.to_owned())),
    );
    for lang in langs {
        let form = Shown {
            lang,
            ..shown.clone()
        };
        for p in form
            .check(policies, all.iter().copied())
            .into_iter()
            .chain(flot_problems(flot, &form, policies, &all))
        {
            if !found.contains(&p) {
                found.push(p);
            }
        }
    }
    if found.is_empty() {
        Ok(shown)
    } else {
        Err(found.into_iter().map(|p| (None, p)).collect())
    }
}

impl Mapping {
    /// The mapping as a person who reads markings in `lang` sees it: their language on IRC,
    /// where the shown policy has it (the loader proved every such language safe); the room
    /// keeps its own language for what goes to XMPP.
    pub fn read_in(&self, policies: &PolicySet, lang: Option<&str>) -> Mapping {
        let Some(lang) = lang else {
            return self.clone();
        };
        let policy = match &self.shown.policy {
            None => Some(policies.primary()),
            Some(id) => policies.get(id),
        };
        if !policy.is_some_and(|p| p.writes_language(lang)) {
            return self.clone();
        }
        let mut m = self.clone();
        m.shown.lang = Some(lang.to_owned());
        m
    }
}

/// Shown markings the room's FLOT syntax would not read back whole (a marking with the FLOT's
/// own closing bracket in it): typing the marking shown would then go out as another label.
fn flot_problems(
    flot: &Flot,
    shown: &Shown,
    policies: &PolicySet,
    labels: &[&Label],
) -> Vec<String> {
    let mut out = Vec::new();
    for label in labels {
        let Ok(text) = shown.render(policies, label) else {
            continue; // reported by Shown::check
        };
        let line = format!("{}x", flot.prefix(&text));
        let back = flot.parse(&line).ok().and_then(|p| p.marking);
        if back != Some(text.trim()) && !out.iter().any(|o: &String| o.contains(&line)) {
            out.push(format!(
                "the marking `{text}` written as `{line}` is not read back whole by the room's FLOT syntax (set flot_template and flot_pattern to brackets the marking does not use)"
            ));
        }
    }
    out
}

/// The labels a room can carry that a form is checked on: the given ones (default, room
/// label, catalog) and every classification alone and with each single category, where
/// valid and within the room's clearance.
pub fn samples(policies: &PolicySet, clearance: &Clearance, given: &[&Label]) -> Vec<Label> {
    let p = policies.primary();
    let mut out: Vec<Label> = given.iter().map(|l| (*l).clone()).collect();
    for class in &p.classifications {
        let base = Label::new(p.id.clone(), class.lacv);
        let mut candidates = vec![base.clone()];
        for r in p.all_categories() {
            let mut l = base.clone();
            l.categories.insert(p.category_at(r));
            candidates.push(l);
        }
        for l in candidates {
            if p.validate(&l).is_ok() && policies.check(clearance, &l).is_ok() && !out.contains(&l)
            {
                out.push(l);
            }
        }
    }
    out
}
