//! Labels in and out of a room's crossings: read from a stanza's `<securitylabel>` and from
//! the FLOT marking a person typed (in the mapping's [`Shown`](crate::label::shown::Shown)
//! form), and written into stanzas (`label_format`, the mapping's language) and IRC markings.

use super::State;
use crate::config::mappings::{LabelFormat, Mapping};
use crate::irc::proto::ctcp::strip_formatting;
use crate::label::shown::Shown;
use crate::label::typed::{Typed, TypedError, read_typed_with};
use crate::label::xep0258::{LabelPayload, SecurityLabel, XepError};
use crate::label::{Label, missi, nato};

/// The label of a received stanza (see the module rules), or why it has none usable.
pub(crate) fn label_in(
    state: &State,
    default: &Label,
    label: &Option<Result<SecurityLabel, XepError>>,
) -> Result<Option<Label>, String> {
    let policies = state.gate.policies();
    let read = |p: &LabelPayload| payload_label(state, default, p);
    let sl = match label {
        None => return Ok(None),
        Some(Err(e)) => return Err(format!("unreadable security label: {e}")),
        Some(Ok(sl)) => sl,
    };
    let primary = read(&sl.label)?;
    let Some(policy) = primary.policy.as_ref() else {
        return Err("the label names no security policy".into());
    };
    if policies.get(policy).is_none() {
        return Err(format!("the label's policy {policy} is not known here"));
    }
    for eq in &sl.equivalents {
        if matches!(eq, LabelPayload::Default) {
            return Err("an equivalent label is empty".into());
        }
        if let Ok(e) = read(eq)
            && let Some(p) = e.policy.as_ref()
            && policies.get(p).is_some()
            && policies.translate(&primary, p).ok().as_ref() != Some(&e)
        {
            return Err("an equivalent label is not the primary label's translation".into());
        }
    }
    Ok(Some(primary))
}

/// The label a received message goes at: its own, else the room's default label. `Err`: the
/// stanza's label cannot be used (refused and audited under `ctx`).
pub(super) fn message_label(
    state: &State,
    ctx: &crate::audit::Context<'_>,
    mapping: &Mapping,
    m: &crate::xmpp::muc::ReceivedMessage,
) -> Result<Label, ()> {
    match label_in(state, &mapping.default_label, &m.label) {
        Ok(l) => Ok(l.unwrap_or_else(|| mapping.default_label.clone())),
        Err(why) => {
            state.gate.refuse(ctx, &why);
            Err(())
        }
    }
}

/// The label a `<label>` payload holds, read as [`label_in`] reads it.
pub(super) fn payload_label(
    state: &State,
    default: &Label,
    p: &LabelPayload,
) -> Result<Label, String> {
    match p {
        LabelPayload::Default => Ok(default.clone()),
        LabelPayload::Ess(l) => Ok(l.clone()),
        LabelPayload::EssMissi { label, .. } => {
            missi::resolve(state.gate.policies(), label).map_err(|e| e.to_string())
        }
        LabelPayload::Other(el) => {
            nato::from_element_in(state.gate.policies(), el).map_err(|e| e.to_string())
        }
    }
}

/// Reads the label typed at the start of an IRC line, in the mapping's shown form.
pub(super) fn read_line(state: &State, mapping: &Mapping, text: &str) -> Result<Typed, TypedError> {
    // Every text typed on IRC comes through here, in either mode: its formatting codes (and
    // any other control character) go first, so that a bold or coloured marking is read as
    // the marking it shows, and nothing XML cannot carry goes on toward the room.
    let text = strip_formatting(text);
    let policies = state.gate.policies();
    let read = |m: &str| mapping.shown.read(policies, m).map_err(|e| e.to_string());
    read_typed_with(
        &mapping.flot,
        mapping.shown.typing_policy(policies),
        &read,
        &text,
    )
}

/// Reads a FLOT marking in text from the room (a subject): the room's own policy in the
/// mapping's language (or the default language), not the IRC form.
pub(super) fn read_room_line(
    state: &State,
    mapping: &Mapping,
    text: &str,
) -> Result<Typed, TypedError> {
    let policies = state.gate.policies();
    let room_form = Shown {
        lang: mapping.room_language.clone(),
        ..Shown::default()
    };
    let read = |m: &str| room_form.read(policies, m).map_err(|e| e.to_string());
    read_typed_with(&mapping.flot, policies.primary(), &read, text)
}

/// The marking an IRC user sees for `label` in this mapping.
pub(super) fn irc_marking(state: &State, mapping: &Mapping, label: &Label) -> Option<String> {
    mapping.shown.render(state.gate.policies(), label).ok()
}

/// The `<securitylabel>` for a stanza to the mapping's room: the display marking in the
/// mapping's language, the label in the mapping's `label_format`. `Err`: why it cannot be
/// written (the stanza must not go).
pub(super) fn outgoing_label(
    state: &State,
    mapping: &Mapping,
    label: &Label,
) -> Result<SecurityLabel, String> {
    let policies = state.gate.policies();
    let policy = label
        .policy
        .as_ref()
        .and_then(|id| policies.get(id))
        .ok_or("the label's policy is not loaded")?;
    let display = policy
        .display_marking_in(label, mapping.room_language.as_deref())
        .map_err(|e| e.to_string())?;
    let payload = match mapping.label_format {
        LabelFormat::Ess if missi::uses_missi(policy) => {
            LabelPayload::missi(policy, label.clone()).map_err(|e| e.to_string())?
        }
        LabelFormat::Ess => LabelPayload::Ess(label.clone()),
        LabelFormat::Adatp4774 => LabelPayload::Other(
            nato::to_element(policy, label)
                .ok_or("the label cannot be written as an ADatP-4774 label")?,
        ),
    };
    Ok(SecurityLabel {
        display: Some(display),
        label: payload,
        equivalents: vec![],
    })
}
