//! IRC → XMPP: what an IRC user types, decided before it goes to the room — a line's label
//! (FLOT, or the room's default; the catalog), a topic's, a part, quit or away text at the
//! room's label — and the channel's label facts the user is shown. See [`super`] for the rules.

use jid::BareJid;

use super::controls;
use super::forms::{irc_marking, outgoing_label, read_line};
use super::{AUDIT_FAILED, Person, one_line};
use crate::audit::{Check, Cleared, Context, Direction, What};
use crate::bridge::State;
use crate::bridge::codes::Code;
use crate::config::mappings::{Mapping, PresenceStatus};
use crate::label::{Clearance, Label};
use crate::xmpp::muc::{OutgoingMessage, OutgoingSubject};

/// A line typed to a room (or, with `private`, to an occupant): its label read (FLOT, after an
/// optional addressee; the room's default without one), allowed by the catalog, within the
/// sender's clearance and the room's; the message built with the label (an `action` as a
/// XEP-0245 `/me `). Or the refusal, with its code and words (audited).
#[allow(clippy::too_many_arguments)]
pub(in crate::bridge) fn typed_message(
    state: &State,
    from: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    private: bool,
    text: &str,
    action: bool,
    notice: bool,
    origin_id: String,
) -> Result<TypedOut, (Code, String)> {
    let room_text = room.to_string();
    let direction = if private {
        Direction::Private
    } else {
        Direction::IrcToXmpp
    };
    let mut ctx = from.ctx(direction, &room_text);
    ctx.origin_id = Some(&origin_id);
    controls::typed(state, &ctx, mapping, private, action, text)?;
    let (label, rest, defaulted) = typed_label(state, &ctx, mapping, from.clearance, text)?;
    ctx.body = Some(&rest);
    let sl = outgoing_label(state, mapping, &label)
        .map_err(|e| (Code::InvalidLabel, state.gate.refuse(&ctx, &e)))?;
    let shown = sl.display.as_ref().map_or("", |d| d.text.as_str());
    let body = if mapping.flot_in_body {
        format!("{}{rest}", mapping.flot.prefix(shown))
    } else {
        rest.clone()
    };
    let body = if action { format!("/me {body}") } else { body };
    let message = OutgoingMessage {
        body,
        label: Some(sl),
        origin_id: origin_id.clone(),
        notice,
    };
    let defaulted = defaulted.then(|| display_text(&message));
    let checks = [
        Check::Person(from.clearance),
        Check::Room(&mapping.clearance),
    ];
    state
        .gate
        .clear(&ctx, &checks, &[&label], message)
        .map(|message| TypedOut { message, defaulted })
        .map_err(|r| refusal(&r, "this label"))
}

/// A typed line, cleared: the message, and the marking it went out with when no marking was
/// typed (so a sender who cannot see their echo can be told).
pub(in crate::bridge) struct TypedOut {
    pub message: Cleared<OutgoingMessage>,
    pub defaulted: Option<String>,
}

fn display_text(m: &OutgoingMessage) -> String {
    m.label
        .as_ref()
        .and_then(|l| l.display.as_ref())
        .map(|d| d.text.clone())
        .unwrap_or_default()
}

/// A channel's label facts for `who`, in the gateway's words: the default label, the ceiling's
/// classification (its categories are not named: a codeword's name can itself be above a
/// user's clearance), the syntax, and the catalog labels `who` is cleared for.
pub(in crate::bridge) fn label_facts(
    state: &State,
    mapping: &Mapping,
    who: &Clearance,
) -> Vec<String> {
    let policies = state.gate.policies();
    let policy = policies.primary();
    let render = |l: &Label| irc_marking(state, mapping, l).unwrap_or_else(|| "?".into());
    let ceiling = mapping
        .clearance
        .classes
        .iter()
        .filter_map(|c| policy.classification(*c))
        .max_by_key(|c| {
            (
                c.hierarchy.unwrap_or(0),
                policy.classification_index(c.lacv),
            )
        })
        .map_or("?", |c| c.name.as_str());
    let mut out = vec![format!(
        "Labels in {}: a line without a marking goes out as {}; the room carries labels up to \
         {ceiling}; mark a line by starting it with {}",
        mapping.channel,
        render(&mapping.default_label),
        mapping.flot.prefix("MARKING").trim_end(),
    )];
    let usable: Vec<&Label> = mapping
        .catalog
        .iter()
        .filter(|l| policies.check(who, l).is_ok())
        .collect();
    if !usable.is_empty() {
        let list: Vec<String> = usable.into_iter().map(render).collect();
        let only = if mapping.restrict_to_catalog {
            "only these may be used"
        } else {
            "any label within the ceiling may be used"
        };
        out.push(format!(
            "Catalog of {}: {} ({only})",
            mapping.channel,
            list.join(", ")
        ));
    }
    out
}

/// A topic typed on IRC: read for a marking like a message (none: the room's label); the sender
/// and the room must be cleared for it. A marked topic carries its label to the room.
pub(in crate::bridge) fn typed_subject(
    state: &State,
    from: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    text: &str,
) -> Result<Cleared<OutgoingSubject>, (Code, String)> {
    let room_text = room.to_string();
    let mut ctx = from.ctx(Direction::IrcToXmpp, &room_text);
    ctx.what = Some(What::Subject);
    controls::subject(state, &ctx, mapping).map_err(|why| (Code::BoundaryControl, why))?;
    let typed = read_line(state, mapping, text).map_err(|e| {
        (
            Code::InvalidLabel,
            state.gate.refuse(&ctx, &syntax_hint(mapping, &e)),
        )
    })?;
    ctx.body = Some(&typed.text);
    let (label, subject) = match typed.label {
        None => (
            mapping.room_label.clone(),
            OutgoingSubject {
                text: typed.text.clone(),
                label: None,
            },
        ),
        Some(l) => {
            let sl = outgoing_label(state, mapping, &l)
                .map_err(|e| (Code::InvalidLabel, state.gate.refuse(&ctx, &e)))?;
            let shown = sl.display.as_ref().map_or("", |d| d.text.as_str());
            let text = format!("{}{}", mapping.flot.prefix(shown), typed.text);
            let label = Some(sl);
            (l, OutgoingSubject { text, label })
        }
    };
    let checks = [
        Check::Person(from.clearance),
        Check::Room(&mapping.clearance),
    ];
    state
        .gate
        .clear(&ctx, &checks, &[&label], subject)
        .map_err(|r| refusal(&r, "this topic's label"))
}

/// A PART or QUIT reason (`what` = [`What::Reason`]) or an AWAY message ([`What::Status`])
/// typed on IRC, as the room's presence status: folded away unless the mapping lets status
/// cross; at the room's label (a marked text must be marked with it). `Ok(None)`: nothing goes
/// with the presence; `Err`: refused, with words for the user.
pub(in crate::bridge) fn typed_reason(
    state: &State,
    from: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    what: What,
    text: Option<&str>,
) -> Result<Option<Cleared<String>>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let kind = if what == What::Status {
        "an away message"
    } else {
        "a part or quit message"
    };
    if mapping.presence_status == PresenceStatus::Fold {
        let kinds = if what == What::Status {
            "away messages"
        } else {
            "part and quit messages"
        };
        return Err(format!(
            "{} does not pass {kinds} to the room",
            mapping.channel
        ));
    }
    let room_text = room.to_string();
    let mut ctx = from.ctx(Direction::IrcToXmpp, &room_text);
    ctx.what = Some(what);
    let typed = read_line(state, mapping, text)
        .map_err(|e| state.gate.refuse(&ctx, &syntax_hint(mapping, &e)))?;
    ctx.body = Some(&typed.text);
    if typed
        .label
        .as_ref()
        .is_some_and(|l| l != &mapping.room_label)
    {
        let room_marking =
            irc_marking(state, mapping, &mapping.room_label).unwrap_or_else(|| "?".into());
        let why = format!(
            "{kind} can only be at the room's label [{room_marking}]: presence carries no label"
        );
        return Err(state.gate.refuse(&ctx, &why));
    }
    let checks = [
        Check::Person(from.clearance),
        Check::Room(&mapping.clearance),
    ];
    state
        .gate
        .clear(&ctx, &checks, &[&mapping.room_label], one_line(&typed.text))
        .map(Some)
        .map_err(|r| refusal(&r, "the room's label").1)
}

/// The label a typed line asks for and the text to send, or the refusal (audited).
fn typed_label(
    state: &State,
    ctx: &Context<'_>,
    mapping: &Mapping,
    who: &Clearance,
    text: &str,
) -> Result<(Label, String, bool), (Code, String)> {
    let typed = read_line(state, mapping, text).map_err(|e| {
        (
            Code::InvalidLabel,
            state.gate.refuse(ctx, &syntax_hint(mapping, &e)),
        )
    })?;
    let defaulted = typed.label.is_none();
    let label = typed.label.unwrap_or_else(|| mapping.default_label.clone());
    if mapping.restrict_to_catalog && !mapping.catalog.contains(&label) {
        let policies = state.gate.policies();
        let list: Vec<String> = mapping
            .catalog
            .iter()
            .filter(|l| policies.check(who, l).is_ok())
            .filter_map(|l| irc_marking(state, mapping, l))
            .collect();
        let why = format!(
            "the room allows only the labels of its catalog: {}",
            list.join(", ")
        );
        return Err((Code::NotInCatalog, state.gate.refuse(ctx, &why)));
    }
    Ok((label, typed.text, defaulted))
}

/// A refusal's code and words.
fn refusal(r: &crate::audit::Refusal, what: &str) -> (Code, String) {
    if r.unaudited() {
        (Code::AuditFailed, AUDIT_FAILED.to_owned())
    } else if r.room {
        let why = format!("the room does not allow {what} ({})", r.denied);
        (Code::RoomClearance, why)
    } else {
        let why = format!("your clearance does not cover {what} ({})", r.denied);
        (Code::NotCleared, why)
    }
}

/// A typed-marking error with the room's syntax named, so the user can type it right.
fn syntax_hint(mapping: &Mapping, e: &crate::label::typed::TypedError) -> String {
    use crate::label::typed::TypedError;
    match e {
        TypedError::NearMiss { .. } => format!(
            "{e}; {} marks a line by starting it with {}",
            mapping.channel,
            mapping.flot.prefix("MARKING").trim_end()
        ),
        _ => e.to_string(),
    }
}
