//! Chat states (typing notifications) and corrections where they cross: each switched by the
//! mapping's controls, decided like a body at the label that applies (a chat state carries
//! no text, but that someone is typing in a room is still the room's traffic), audited.
//!
//! * **To IRC.** A chat state's label is its own, else the room's default; the room's clearance
//!   and the receiver's must dominate it. It becomes an IRCv3 `+typing` (composing: active,
//!   paused: paused, anything else: done).
//! * **To XMPP.** A `+typing` goes at the room's default label, which the sender's clearance and
//!   the room's must dominate (active: composing, paused: paused, done: active).
//! * **Switched off**, a chat state does not cross; the first one each way in each room is
//!   audited with the control (and the IRC user told once), the rest are not, so that typing
//!   cannot flood the audit trail.
//! * **Corrections** (XEP-0308) from the room cross as new lines marked `(correction)` when the
//!   room's `corrections` control allows, else are withheld, each audited.

use jid::BareJid;

use super::Person;
use super::forms::{message_label, outgoing_label};
use crate::audit::{Check, Cleared, Context, Direction, What};
use crate::bridge::State;
use crate::config::mappings::Mapping;
use crate::irc::backend::Typing;
use crate::metrics::Reason;
use crate::xmpp::chat::{self, ChatState, OutgoingChatState};
use crate::xmpp::muc::ReceivedMessage;

/// What a switched-off control has already said, per room and way (so it says it once).
#[derive(Debug, Clone, Copy, Default)]
pub(in crate::bridge) struct Told {
    /// A chat state from the room was withheld and audited.
    pub from_room: bool,
    /// A typing notification from the user was refused, audited and the user told.
    pub from_user: bool,
}

/// The words shown before a correction's text on IRC.
pub(in crate::bridge) const CORRECTION: &str = "(correction) ";

fn typing_of(s: ChatState) -> Typing {
    match s {
        ChatState::Composing => Typing::Active,
        ChatState::Paused => Typing::Paused,
        ChatState::Active | ChatState::Inactive | ChatState::Gone => Typing::Done,
    }
}

fn state_of(t: Typing) -> ChatState {
    match t {
        Typing::Active => ChatState::Composing,
        Typing::Paused => ChatState::Paused,
        Typing::Done => ChatState::Active,
    }
}

/// A chat state from the room (a stanza without a body) for `to`. `None`: nothing to show
/// (switched off, not a chat state, or withheld; audited as the module says).
#[allow(clippy::too_many_arguments)]
pub(in crate::bridge) fn chat_state_to_irc(
    state: &State,
    to: Person<'_>,
    direction: Direction,
    room: &BareJid,
    mapping: &Mapping,
    m: &ReceivedMessage,
    told: &mut Told,
) -> Option<Cleared<Typing>> {
    let cs = chat::chat_state(&m.payloads)?;
    let room_text = room.to_string();
    let mut ctx = to.ctx(direction, &room_text);
    ctx.what = Some(What::ChatState);
    if let Err(s) = mapping.controls.chat_state() {
        if !std::mem::replace(&mut told.from_room, true) {
            state.gate.stop(&ctx, s.control, &s.why);
        }
        return None;
    }
    let label = message_label(state, &ctx, mapping, m).ok()?;
    let checks = [Check::Room(&mapping.clearance), Check::Person(to.clearance)];
    state
        .gate
        .clear(&ctx, &checks, &[&label], typing_of(cs))
        .ok()
}

/// A typing notification from the user to the room (`private`: to an occupant), at the room's
/// default label. `Err(Some(words))`: tell the user; `Err(None)`: refused and audited, or
/// refused before and told then.
pub(in crate::bridge) fn typed_chat_state(
    state: &State,
    from: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    private: bool,
    typing: Typing,
    told: &mut Told,
) -> Result<Cleared<OutgoingChatState>, Option<String>> {
    let room_text = room.to_string();
    let direction = if private {
        Direction::Private
    } else {
        Direction::IrcToXmpp
    };
    let mut ctx: Context<'_> = from.ctx(direction, &room_text);
    ctx.what = Some(What::ChatState);
    if private && !mapping.private_messages {
        if std::mem::replace(&mut told.from_user, true) {
            return Err(None);
        }
        let why = format!("private messages are not allowed in {}", mapping.channel);
        return Err(Some(state.gate.stop(
            &ctx,
            crate::config::controls::name::PRIVATE_MESSAGES,
            &why,
        )));
    }
    if let Err(s) = mapping.controls.chat_state() {
        if std::mem::replace(&mut told.from_user, true) {
            return Err(None);
        }
        return Err(Some(state.gate.stop(&ctx, s.control, &s.why)));
    }
    let label = &mapping.default_label;
    let sl = outgoing_label(state, mapping, label).map_err(|e| {
        state.gate.refuse(&ctx, &e);
        None
    })?;
    let out = OutgoingChatState {
        state: state_of(typing),
        label: Some(sl),
    };
    let checks = [
        Check::Person(from.clearance),
        Check::Room(&mapping.clearance),
    ];
    state
        .gate
        .clear(&ctx, &checks, &[label], out)
        .map_err(|_| None)
}

/// Whether a body is a correction, and if so whether it may cross: `Ok(None)`: not a
/// correction; `Ok(Some(id))`: a correction that crosses (of `id`, when the gateway will
/// repeat it); `Err`: withheld by the room's `corrections` control (audited).
pub(super) fn correction(
    state: &State,
    ctx: &Context<'_>,
    mapping: &Mapping,
    m: &ReceivedMessage,
) -> Result<Option<Option<String>>, Reason> {
    let Some(id) = chat::replaces(&m.payloads) else {
        return Ok(None);
    };
    match mapping.controls.correction() {
        Ok(()) => Ok(Some(id)),
        Err(s) => {
            state.gate.stop(ctx, s.control, &s.why);
            Err(Reason::Control)
        }
    }
}
