//! Server mode's word back to the sender of a private message that this user's gateway withheld
//! from them: a line either arrives or its sender is told. The words are the gateway's own (who
//! did not receive it, and why — never the text or the label of the line), sent by the user's
//! own occupant as a notice at the room's label, decided against the user's clearance and the
//! room's like anything else the user sends.
//!
//! Bouncing the message with a stanza error is not an option: MUC services remove an occupant
//! who sends errors into the room (ejabberd does), which would part the user. A notice is never
//! answered with another (IRC's rule for NOTICE), so two gateways cannot tell each other about
//! their notices for ever.

use jid::BareJid;

use super::{OutgoingMessage, Person, State};
use crate::audit::{Check, Cleared};
use crate::config::mappings::Mapping;
use crate::metrics::Reason;

/// The notice telling the occupant who wrote a private message (withheld for `why`) that
/// `own_nick` did not receive it. `None`: the room's label could not carry it (audited).
pub(in crate::bridge) fn undelivered_notice(
    state: &State,
    me: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    own_nick: &str,
    why: Reason,
    origin_id: String,
) -> Option<Cleared<OutgoingMessage>> {
    let because = match why {
        Reason::Clearance => "their clearance does not cover its label",
        Reason::RoomClearance => "its label is above what the room may carry",
        Reason::InvalidLabel => "its security label could not be read or shown on IRC",
        Reason::Catalog => "its label is not in the room's catalog",
        Reason::PrivateDisabled => "private messages are off for this room on IRC",
        Reason::Control => "a boundary control of the room refused it",
        Reason::QueueFull | Reason::XmppError => "the gateway could not pass it on",
    };
    let body = format!(
        "(labelgate) {own_nick} did not receive your private message: {because}. It was withheld by the gateway."
    );
    let checks = [Check::Person(me.clearance), Check::Room(&mapping.clearance)];
    let words = OutgoingMessage {
        body,
        label: None,
        origin_id,
        notice: true,
    };
    super::gateway_words(state, me, room, mapping, &checks, words)
}
