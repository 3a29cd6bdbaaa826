//! One `[[channel]]` of a mapping file, read and checked whole: its room, clearance, labels
//! (the default from the mapping, its room's domain or the gateway), catalog, FLOT syntax, label
//! forms (with the never-lower proof) and boundary controls.

use std::path::Path;

use super::*;

/// The mapping `c` describes (`channel` as written, at byte `at` of `text`), or `None` when it
/// has problems, each noted in `problems` with its line.
#[allow(clippy::too_many_arguments)]
pub(super) fn read(
    c: &RawChannel,
    channel: String,
    at: usize,
    path: &Path,
    text: &str,
    policies: &PolicySet,
    defaults: &Defaults,
    problems: &mut Vec<FileProblem>,
) -> Option<Mapping> {
    let policy = policies.primary();
    let problem = |offset: Option<usize>, message: String| FileProblem {
        file: path.to_owned(),
        line: offset.map(|o| line_of(text, o)),
        message,
    };
    let mut bad = |offset: usize, msg: String| problems.push(problem(Some(offset), msg));
    let room: jid::BareJid = match c.room.get_ref().parse() {
        Ok(r) => r,
        Err(e) => {
            bad(
                c.room.span().start,
                format!("`{}` is not a room JID: {e}", c.room.get_ref()),
            );
            return None;
        }
    };
    let clearance = match Clearance::parse(policy, c.clearance.get_ref()) {
        Ok(cl) => cl,
        Err(e) => {
            bad(c.clearance.span().start, format!("room clearance: {e}"));
            return None;
        }
    };
    let mut label_of = |s: &Spanned<String>, what: &str| -> Option<Label> {
        let parsed = policy
            .parse_marking(s.get_ref())
            .map_err(|e| e.to_string())
            .and_then(|l| policy.validate(&l).map(|()| l).map_err(|e| e.to_string()));
        match parsed {
            Ok(l) => Some(l),
            Err(e) => {
                problems.push(problem(
                    Some(s.span().start),
                    format!("{what} `{}`: {e}", s.get_ref()),
                ));
                None
            }
        }
    };
    // The mapping's own default label, else its room's domain's, else the gateway's.
    let domain = room.domain().to_string();
    let (default_text, from) = match (
        &c.default_label,
        defaults.domain_labels.get(&domain),
        &defaults.label,
    ) {
        (Some(d), _, _) => (d.clone(), "default label"),
        (None, Some(d), _) => (
            Spanned::new(c.irc.span(), d.clone()),
            "default label (from the gateway's [labels.domains] for this room's domain)",
        ),
        (None, None, Some(d)) => (
            Spanned::new(c.irc.span(), d.clone()),
            "default label (from the gateway's [labels] default)",
        ),
        (None, None, None) => {
            problems.push(problem(
                Some(at),
                format!(
                    "{channel}: no default label: set default_label, or the gateway \
                     file's [labels] default or [labels.domains] \"{domain}\""
                ),
            ));
            return None;
        }
    };
    let default_label = label_of(&default_text, from)?;
    let c_default_span = default_text.span();
    let catalog: Vec<Label> = c
        .catalog
        .iter()
        .filter_map(|s| label_of(s, "catalog label"))
        .collect();
    if catalog.len() != c.catalog.len() {
        return None;
    }
    if c.restrict_to_catalog && !catalog.contains(&default_label) {
        problems.push(problem(
            Some(c_default_span.start),
            "restrict_to_catalog is on but the default label is not in the catalog: \
             every unmarked line would be refused"
                .into(),
        ));
        return None;
    }
    let room_label = match &c.room_label {
        None => default_label.clone(),
        Some(s) => label_of(s, "room label")?,
    };
    if let (Some(s), Err(why)) = (&c.room_label, policies.check(&clearance, &room_label)) {
        problems.push(problem(
            Some(s.span().start),
            format!("the room's clearance does not dominate its room label: {why}"),
        ));
        return None;
    }
    let max_lines = *c.max_lines.get_ref();
    if !(2..=1000).contains(&max_lines) {
        problems.push(problem(
            Some(c.max_lines.span().start),
            format!("max_lines must be from 2 to 1000, not {max_lines}"),
        ));
        return None;
    }
    if let Err(why) = policies.check(&clearance, &default_label) {
        problems.push(problem(
            Some(c_default_span.start),
            format!("the room's clearance does not dominate its {from}: {why}"),
        ));
        return None;
    }
    let mut catalog_ok = true;
    for (l, s) in catalog.iter().zip(&c.catalog) {
        if let Err(why) = policies.check(&clearance, l) {
            problems.push(problem(
                Some(s.span().start),
                format!(
                    "catalog label `{}` is above the room's clearance: {why}",
                    s.get_ref()
                ),
            ));
            catalog_ok = false;
        }
    }
    if !catalog_ok {
        return None;
    }
    let template = c
        .flot_template
        .as_ref()
        .map(|t| t.get_ref().as_str())
        .unwrap_or(DEFAULT_TEMPLATE);
    let flot = match Flot::new(
        template,
        c.flot_pattern.as_ref().map(|p| p.get_ref().as_str()),
    ) {
        Ok(f) => f,
        Err(e) => {
            let at = c
                .flot_pattern
                .as_ref()
                .or(c.flot_template.as_ref())
                .map_or(at, |s| s.span().start);
            problems.push(problem(Some(at), e.to_string()));
            return None;
        }
    };
    let given: Vec<&Label> = std::iter::once(&default_label)
        .chain(std::iter::once(&room_label))
        .chain(catalog.iter())
        .collect();
    let forms = RawForms {
        marking_language: c.marking_language.as_ref(),
        irc_policy: c.irc_policy.as_ref(),
        irc_markings: &c.irc_markings,
    };
    let samples = room_forms::samples(policies, &clearance, &given);
    let samples: Vec<&Label> = samples.iter().collect();
    let shown = match room_forms::shown(&forms, policies, &clearance, &flot, &samples) {
        Ok(s) => s,
        Err(ps) => {
            for (offset, msg) in ps {
                problems.push(problem(
                    Some(offset.unwrap_or(at)),
                    format!("{channel}: {msg}"),
                ));
            }
            return None;
        }
    };
    let controls = match defaults.controls.under(&c.controls).resolve() {
        Ok(ctl) => ctl,
        Err(es) => {
            for e in es {
                problems.push(problem(Some(at), format!("{channel}: {e}")));
            }
            return None;
        }
    };
    Some(Mapping {
        channel,
        room,
        default_label,
        clearance,
        clearance_text: c.clearance.get_ref().clone(),
        catalog,
        restrict_to_catalog: c.restrict_to_catalog,
        flot,
        history: c.history,
        flot_in_body: c.flot_in_body,
        private_messages: c.private_messages,
        room_label,
        presence_status: c.presence_status,
        max_lines,
        replayed_subjects: c.replayed_subjects,
        network: c.network.as_ref().map(|n| n.get_ref().clone()),
        controls,
        room_language: shown.lang.clone(),
        shown,
        label_format: c.label_format,
        file: path.to_owned(),
        line: line_of(text, at),
    })
}
