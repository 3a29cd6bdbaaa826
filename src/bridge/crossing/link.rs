//! Link mode's notices: what the gateway tells an XMPP sender whose room message did not reach
//! the IRC network. The words are the gateway's own (the channel, and why — never the text or
//! the label of the line), at the room's label, decided against the room's clearance.

use jid::BareJid;

use super::{OutgoingMessage, Person, State};
use crate::audit::{Check, Cleared};
use crate::config::mappings::Mapping;
use crate::metrics::Reason;

/// What an XMPP sender is told about their room messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::bridge) enum LinkNotice {
    /// One message was withheld from the channel (or could not be queued), for this reason.
    Withheld(Reason),
    /// This many messages were written to the network but the connection was lost before the
    /// server confirmed them.
    Unconfirmed(usize),
    /// A private message to the gateway's own occupant: it goes nowhere.
    ToGateway,
    /// A subject the channel may not carry (its label, or the room's, above the ceiling or
    /// unreadable): it did not become the channel's topic.
    SubjectWithheld,
    /// The IRC server refused the occupant's topic (e.g. only channel operators may set it).
    TopicRefused,
    /// To the whole room: the gateway was away from the network this many seconds, so what
    /// was typed in the channel meanwhile did not reach the room.
    Away(u64),
}

/// A message in `room` — private to the occupant `to` (their nick in `to.account`) about their
/// messages to the IRC channel of `mapping`, or, for [`LinkNotice::Away`], to the room from
/// the gateway's occupant (`to` then names it). `None`: the room's own label could not carry it
/// (audited; the withholding itself is audited by its own decision).
pub(in crate::bridge) fn withheld_notice(
    state: &State,
    to: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    what: LinkNotice,
    origin_id: String,
) -> Option<Cleared<OutgoingMessage>> {
    let channel = &mapping.channel;
    let body = match what {
        LinkNotice::Withheld(why) => {
            let because = match why {
                Reason::Clearance | Reason::RoomClearance => {
                    "its label is above what the channel may carry"
                }
                Reason::InvalidLabel => "its security label could not be read or shown on IRC",
                Reason::PrivateDisabled => "private messages are off for this room",
                Reason::QueueFull => {
                    "the gateway's connection to the network is too far behind (its queue is full)"
                }
                _ => "the gateway could not send it",
            };
            format!(
                "Your message did not reach IRC ({channel}): {because}. Nobody on the IRC side saw it."
            )
        }
        LinkNotice::Unconfirmed(1) => format!(
            "Your last message may not have reached IRC ({channel}): the gateway's connection to the network was lost before the server confirmed it. It is not sent again."
        ),
        LinkNotice::SubjectWithheld => format!(
            "Your subject did not become the topic of {channel} on IRC: its label is above what the channel may carry, or could not be read."
        ),
        LinkNotice::TopicRefused => format!(
            "Your subject did not become the topic of {channel} on IRC: the IRC server refused it (on many channels only operators may set the topic)."
        ),
        LinkNotice::ToGateway => format!(
            "This is the gateway's own occupant (it links this room with {channel}): your message goes no further. To write to someone of the IRC network privately, write to their nick here."
        ),
        LinkNotice::Away(secs) => format!(
            "The gateway was away from the IRC network for {secs} s: what was typed in {channel} meanwhile did not reach this room."
        ),
        LinkNotice::Unconfirmed(n) => format!(
            "Your last {n} messages may not have reached IRC ({channel}): the gateway's connection to the network was lost before the server confirmed them. They are not sent again."
        ),
    };
    let checks = [Check::Room(&mapping.clearance)];
    let words = OutgoingMessage {
        body,
        label: None,
        origin_id,
        notice: false,
    };
    super::gateway_words(state, to, room, mapping, &checks, words)
}
