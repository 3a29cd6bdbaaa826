//! Every crossing of the gateway, in one place: each piece of text that goes from a room to an
//! IRC user or from an IRC user to a room — message bodies, subjects, presence status, part,
//! quit and kick reasons, error reports — is decided here, through the audited gate, and comes
//! out as a [`Cleared`] value, the only form in which the IRC and XMPP sides accept foreign
//! text. Nothing else in the bridge can make one.
//!
//! The rules, read top to bottom:
//!
//! * **Labels in.** A stanza's label is its `<securitylabel>`'s primary label; an empty
//!   `<label/>` is the room's default; no label at all is the room's default for bodies and the
//!   room's label (`room_label`) for other text. A primary label that cannot be read or whose
//!   policy is not loaded makes the stanza unusable: equivalent labels are never a way round it
//!   (an equivalent under a loaded policy must be the primary's own translation, or the stanza is
//!   refused as inconsistent).
//! * **To IRC.** The room's clearance and the receiver's must both dominate every label that
//!   applies: for a body, its label; for a subject, the room's label and any label it carries
//!   (the more restrictive wins); for a reason or status, the room's label. Status text is
//!   folded away unless the mapping says `presence_status = "room-label"`.
//! * **To XMPP.** The sender's clearance and the room's must dominate the label typed (FLOT, or
//!   the room's default; for a topic, the room's label). A line whose start looks like a marking
//!   the room's syntax did not read is refused, never sent at the default. Reasons are at the
//!   room's label: a marked one must be marked with exactly that label (presence carries none).
//! * **Errors.** Only the user's own server or a room they are in may cause an error report, and
//!   it is the gateway's own words plus the RFC 6120 condition (one of the defined ones; an
//!   element name of the sender's own reads as `undefined-condition`), never the stanza's text.
//! * **Link mode's notices** ([`link`]): an XMPP sender whose line did not reach the IRC network
//!   is told privately in the room, in the gateway's own words at the room's label.
//! * **Undelivered private messages** ([`undelivered`]): the occupant whose private message was
//!   withheld from this user is told so by the user's occupant, in the gateway's own words at
//!   the room's label, cleared for the user and the room (never in answer to a notice).
//!
//! The files: this one holds what comes from the room (bodies, subjects, free text, error
//! reports); [`relayed`] what rides with a message's lines (tags, time), cleared with them;
//! [`typed`] what an IRC user types; [`extras`] chat states and corrections;
//! [`forms`] how a mapping shows and reads labels; [`controls`] the boundary controls;
//! [`link`] link mode's notices; [`undelivered`] the word back about a withheld private message.

use jid::{BareJid, Jid};

mod controls;
mod extras;
mod forms;
mod link;
mod relayed;
mod typed;
mod undelivered;
pub(super) use controls::{admit, rate};
pub(super) use extras::{CORRECTION, Told, chat_state_to_irc, typed_chat_state};
pub(super) use forms::label_in;
use forms::{irc_marking, message_label, outgoing_label, payload_label, read_room_line};
pub(super) use link::{LinkNotice, withheld_notice};
pub(super) use typed::{TypedOut, label_facts, typed_message, typed_reason, typed_subject};
pub(super) use undelivered::undelivered_notice;

use super::State;
use crate::audit::{Check, Cleared, Context, Direction, What};
use crate::config::mappings::{Mapping, PresenceStatus};
use crate::irc::backend::Relayed;
use crate::label::flot::split_lines;

use crate::label::{Clearance, Label};
use crate::metrics::Reason;
use crate::xmpp::muc::{OutgoingMessage, ReceivedMessage};

/// Bytes of text per IRC line (prefix included), leaving room for the source and command.
pub const LINE_BUDGET: usize = 400;
/// A prefix longer than this share of a line is shortened (the full marking is given once).
const LONGEST_PREFIX: usize = LINE_BUDGET / 3;

/// The person a decision is about.
#[derive(Clone, Copy)]
pub(super) struct Person<'a> {
    pub account: &'a str,
    pub jid: &'a str,
    pub clearance: &'a Clearance,
}

impl<'a> Person<'a> {
    fn ctx(&self, direction: Direction, room: &'a str) -> Context<'a> {
        Context {
            direction: Some(direction),
            account: self.account,
            jid: self.jid,
            room,
            ..Default::default()
        }
    }
}

/// A message body for an IRC user: its lines, with what rides with them, cleared as one.
pub(super) struct ToIrc {
    pub message: Cleared<Relayed>,
    /// A `/me` (XEP-0245): the lines go as CTCP ACTION.
    pub action: bool,
}

/// A room message or private message body for `to`: decided on its label against the room's
/// clearance and the receiver's, rendered as marked lines.
pub(super) fn body_to_irc(
    state: &State,
    to: Person<'_>,
    direction: Direction,
    room: &BareJid,
    mapping: &Mapping,
    m: &ReceivedMessage,
    body: &str,
) -> Result<ToIrc, Reason> {
    let room_text = room.to_string();
    let mut ctx = to.ctx(direction, &room_text);
    ctx.origin_id = m.origin_id.as_deref();
    ctx.stanza_id = m.stanza_id.as_deref();
    ctx.body = Some(body);
    if controls::no_files(state, &ctx, m).is_err() {
        return Err(Reason::Control);
    }
    let label = message_label(state, &ctx, mapping, m).map_err(|()| Reason::InvalidLabel)?;
    let correction = extras::correction(state, &ctx, mapping, m)?;
    // XEP-0245: a body starting with "/me " is an action.
    let (action, text) = match body.strip_prefix("/me ") {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let corrected;
    let text = match correction {
        Some(_) => {
            corrected = format!("{CORRECTION}{text}");
            corrected.as_str()
        }
        None => text,
    };
    let Some((marking, lines)) = render(state, mapping, &label, text) else {
        state.gate.refuse(&ctx, "the label has no display marking");
        return Err(Reason::InvalidLabel);
    };
    let message = relayed::received(m, direction, lines, marking, correction.flatten());
    let checks = [Check::Room(&mapping.clearance), Check::Person(to.clearance)];
    match state.gate.clear(&ctx, &checks, &[&label], message) {
        Ok(message) => Ok(ToIrc { message, action }),
        Err(r) if r.room => Err(Reason::RoomClearance),
        Err(_) => Err(Reason::Clearance),
    }
}

/// The echo of a private message the user sent (IRCv3 echo-message; a room reflects room
/// messages itself): what went out, with the marking of the label it went out with, decided
/// for the user as any delivery to them.
pub(super) fn echo_to_sender(
    state: &State,
    me: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    sent: &OutgoingMessage,
) -> Option<ToIrc> {
    let room_text = room.to_string();
    let mut ctx = me.ctx(Direction::Private, &room_text);
    ctx.origin_id = Some(&sent.origin_id);
    ctx.body = Some(&sent.body);
    let Some(Ok(label)) = sent
        .label
        .as_ref()
        .map(|l| payload_label(state, &mapping.default_label, &l.label))
    else {
        state.gate.refuse(&ctx, "the echo's label is not known");
        return None;
    };
    let label = &label;
    let (action, text) = match sent.body.strip_prefix("/me ") {
        Some(rest) => (true, rest),
        None => (false, sent.body.as_str()),
    };
    let Some((marking, lines)) = render(state, mapping, label, text) else {
        state.gate.refuse(&ctx, "the label has no display marking");
        return None;
    };
    let message = relayed::echo(lines, marking, &sent.origin_id);
    let checks = [Check::Person(me.clearance)];
    let message = state.gate.clear(&ctx, &checks, &[label], message).ok()?;
    Some(ToIrc { message, action })
}

/// The labels a room subject carries: its `<securitylabel>`, and a FLOT marking at the start of
/// its text (an IRC user's topic keeps its marking there). `Err`: unusable (withhold).
pub(super) fn subject_labels(
    state: &State,
    mapping: &Mapping,
    m: &ReceivedMessage,
    subject: &str,
) -> Result<Vec<Label>, String> {
    let mut labels: Vec<Label> = label_in(state, &mapping.room_label, &m.label)?
        .into_iter()
        .collect();
    match read_room_line(state, mapping, subject) {
        Ok(t) => labels.extend(t.label),
        Err(e) => return Err(format!("the subject's marking cannot be used: {e}")),
    }
    Ok(labels)
}

/// A room's subject for `to`: the room's label and every label the subject carries (or, for the
/// subject a room replays on join without its label, the label it had when the gateway saw it
/// set: `remembered`) must be within the room's clearance and the receiver's. `None`: withheld
/// (audited).
pub(super) fn subject_to_irc(
    state: &State,
    to: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    m: &ReceivedMessage,
    subject: &str,
    remembered: &[Label],
) -> Option<Cleared<String>> {
    let room_text = room.to_string();
    let mut ctx = to.ctx(Direction::XmppToIrc, &room_text);
    ctx.what = Some(What::Subject);
    ctx.body = Some(subject);
    controls::subject(state, &ctx, mapping).ok()?;
    let carried = match subject_labels(state, mapping, m, subject) {
        Ok(l) => l,
        Err(why) => {
            state.gate.refuse(&ctx, &why);
            return None;
        }
    };
    let mut labels = vec![&mapping.room_label];
    labels.extend(carried.iter());
    labels.extend(remembered.iter());
    let checks = [Check::Room(&mapping.clearance), Check::Person(to.clearance)];
    let text = one_line(subject);
    state.gate.clear(&ctx, &checks, &labels, text).ok()
}

/// An occupant's status text or a moderator's reason, for `to`, at the room's label. Status is
/// folded away unless the mapping lets it cross. `None`: nothing to show (or withheld, audited).
pub(super) fn free_text_to_irc(
    state: &State,
    to: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    what: What,
    text: Option<&str>,
) -> Option<Cleared<String>> {
    let text = text.map(str::trim).filter(|t| !t.is_empty())?;
    if what == What::Status && mapping.presence_status == PresenceStatus::Fold {
        return None;
    }
    let room_text = room.to_string();
    let mut ctx = to.ctx(Direction::XmppToIrc, &room_text);
    ctx.what = Some(what);
    ctx.body = Some(text);
    let checks = [Check::Room(&mapping.clearance), Check::Person(to.clearance)];
    state
        .gate
        .clear(&ctx, &checks, &[&mapping.room_label], one_line(text))
        .ok()
}

/// The report of an error stanza, or `None` when whoever sent it may not cause one (audited):
/// only the user's own server, or a room they are in (`room`), may. The words are the
/// gateway's, with the condition; the stanza's text is never shown.
pub(super) fn error_report(
    state: &State,
    to: Person<'_>,
    from: Option<&Jid>,
    server: &str,
    in_room: impl Fn(&BareJid) -> bool,
    condition: Option<&str>,
) -> Option<String> {
    let trusted = match from {
        None => true,
        Some(j) => {
            let bare = j.to_bare();
            (j.resource().is_none() && (bare.to_string() == server || in_room(&bare)))
                || (bare.node().is_none() && bare.domain().as_str() == server)
        }
    };
    if trusted {
        return Some(condition.unwrap_or("undefined-condition").to_owned());
    }
    let from_text = from.map(ToString::to_string).unwrap_or_default();
    let mut ctx = to.ctx(Direction::Ignored, &from_text);
    ctx.what = Some(What::Error);
    state.gate.refuse(
        &ctx,
        "an error stanza from someone other than the server or a room was not shown",
    );
    None
}

/// Records a stanza that is not shown at all (a message from outside any room).
pub(super) fn ignored(state: &State, to: Person<'_>, from: Option<&Jid>, why: &str) {
    let from_text = from.map(ToString::to_string).unwrap_or_default();
    let ctx = to.ctx(Direction::Ignored, &from_text);
    state.gate.refuse(&ctx, why);
}

/// What a user is told when a decision could not be written to the audit trail.
pub const AUDIT_FAILED: &str = "the gateway could not record the decision in its audit trail, so nothing was done; tell \
     the operator";

/// The marking and the IRC lines of a body under `label`: the marking on every line (shortened
/// when it would crowd the text out, the full marking then given once), the sender's own FLOT
/// copy not doubled, at most the mapping's `max_lines` (the rest replaced by a note).
fn render(
    state: &State,
    mapping: &Mapping,
    label: &Label,
    body: &str,
) -> Option<(String, Vec<String>)> {
    let policies = state.gate.policies();
    let policy = policies.get(label.policy.as_ref()?)?;
    let marking = irc_marking(state, mapping, label)?;
    let full = mapping.flot.prefix(&marking);
    let body = body.strip_prefix(full.as_str()).unwrap_or(body);
    let mut lines = Vec::new();
    let prefix = if full.len() > LONGEST_PREFIX {
        let class = label
            .classification
            .and_then(|c| policy.classification(c))
            .map_or("LABELLED", |c| c.name.as_str());
        let short = mapping.flot.prefix(&format!("{class} …"));
        lines.extend(split_lines(
            &short,
            &format!("full marking: {marking}"),
            LINE_BUDGET,
        ));
        short
    } else {
        full
    };
    lines.extend(split_lines(&prefix, body, LINE_BUDGET));
    if lines.len() > mapping.max_lines {
        let more = lines.len() - (mapping.max_lines - 1);
        lines.truncate(mapping.max_lines - 1);
        lines.push(format!(
            "{prefix}({more} more lines not shown: the message is longer than {} shows on IRC; \
             read it in an XMPP client)",
            mapping.channel
        ));
    }
    Some((marking, lines))
}

/// The gateway's own words to an occupant (`words`, its label not yet set), privately in
/// `room`, at the room's label: cleared with `checks` (audited, the words as its body), or
/// `None` when the room's label cannot be written (refused, audited).
fn gateway_words(
    state: &State,
    who: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    checks: &[Check<'_>],
    mut words: OutgoingMessage,
) -> Option<Cleared<OutgoingMessage>> {
    let room_text = room.to_string();
    let mut ctx = who.ctx(Direction::Private, &room_text);
    ctx.origin_id = Some(&words.origin_id);
    ctx.body = Some(&words.body);
    let label = &mapping.room_label;
    match outgoing_label(state, mapping, label) {
        Ok(sl) => words.label = Some(sl),
        Err(e) => {
            state.gate.refuse(&ctx, &e);
            return None;
        }
    }
    state.gate.clear(&ctx, checks, &[label], words.clone()).ok()
}

/// Free text for a single IRC parameter: line breaks (U+2028 and U+2029 too) and control
/// characters made spaces.
fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    out.truncate(out.trim_end().len());
    let mut cut = out.len().min(LINE_BUDGET);
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut < out.len() {
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::audit::{AuditLog, Gate};
    use crate::config::mappings::Mappings;
    use crate::label::{PolicySet, load_policy};

    fn state_with(block: &str) -> (State, Arc<Mapping>) {
        #[allow(clippy::expect_used)]
        let policy = load_policy(include_str!("../../../tests/fixtures/spif/uk-demo.xml"))
            .expect("the demo policy loads");
        let policies = PolicySet::new(policy);
        let text = format!(
            "[[channel]]\nirc = \"#ops\"\nroom = \"ops@conference.labelgate.test\"\n\
             default_label = \"OFFICIAL\"\nclearance = \"SECRET, UK\"\n{block}"
        );
        #[allow(clippy::expect_used)]
        let mappings =
            Mappings::parse(&[(PathBuf::from("m.toml"), text)], &policies).expect("mapping");
        #[allow(clippy::expect_used)]
        let mapping = Arc::new(mappings.get("#ops").expect("#ops").clone());
        let gate = Gate::new(
            Arc::new(policies),
            Arc::new(AuditLog::to_writer(Box::new(std::io::sink()), false)),
        );
        let state = State {
            gate,
            mappings: Arc::new(mappings),
            users: None,
        };
        (state, mapping)
    }

    #[test]
    fn long_prefixes_are_shortened_and_the_full_marking_given_once() {
        let pad = "x".repeat(200);
        // The pattern reads the padded template back (the mapping loader checks that it does).
        let (state, mapping) = state_with(&format!(
            "flot_template = \"{pad}[{{marking}}] \"\nflot_pattern = '^x*\\[(?P<marking>[^\\]]+)\\] ?'\n"
        ));
        let label = mapping.default_label.clone();
        let (marking, lines) = render(&state, &mapping, &label, "hello\nworld").unwrap_or_default();
        assert_eq!(marking, "DEMO-UK OFFICIAL");
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].ends_with("[OFFICIAL …] full marking: DEMO-UK OFFICIAL"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with("[OFFICIAL …] hello"), "{}", lines[1]);
        assert!(lines.iter().all(|l| l.len() <= LINE_BUDGET));
    }

    #[test]
    fn lines_beyond_the_limit_become_one_note() {
        let (state, mapping) = state_with("max_lines = 3\n");
        let label = mapping.default_label.clone();
        let (_, lines) = render(&state, &mapping, &label, "a\nb\nc\nd\ne").unwrap_or_default();
        assert_eq!(
            lines,
            [
                "[DEMO-UK OFFICIAL] a",
                "[DEMO-UK OFFICIAL] b",
                "[DEMO-UK OFFICIAL] (3 more lines not shown: the message is longer than #ops \
                 shows on IRC; read it in an XMPP client)"
            ]
        );
    }
}
