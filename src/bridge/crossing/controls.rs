//! The boundary controls (`config::controls`) where people and text cross: who may join a
//! room, which kinds of line may go, how fast, and file transfer (never). Each refusal is
//! audited with the name of the control that refused it, and the person is told.

use std::time::Instant;

use jid::BareJid;

use super::Person;
use crate::audit::{Context, Direction, What};
use crate::bridge::State;
use crate::bridge::codes::Code;
use crate::config::controls::{Login, RateLimit, Stopped, name};
use crate::config::mappings::Mapping;
use crate::irc::backend::JoinRefusal;
use crate::xmpp::muc::ReceivedMessage;

/// Whether `who` (in `groups`, logged in by `login`) may join `mapping`'s room: its deny and
/// allow lists and the authentication it requires.
pub(in crate::bridge) fn admit(
    state: &State,
    who: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    groups: &[String],
    login: Login,
) -> Result<(), JoinRefusal> {
    mapping
        .controls
        .admits(who.account, groups, login)
        .map_err(|s| {
            let room_text = room.to_string();
            let ctx = who.ctx(Direction::Join, &room_text);
            let why = state.gate.stop(&ctx, s.control, &s.why);
            JoinRefusal::Control {
                authentication: s.control == name::AUTHENTICATION,
                why,
            }
        })
}

/// Whether a line typed on IRC may go to the room (`private`: to an occupant): private
/// messages, room messages and `/me` switched on, and within the size limit.
pub(super) fn typed(
    state: &State,
    ctx: &Context<'_>,
    mapping: &Mapping,
    private: bool,
    action: bool,
    text: &str,
) -> Result<(), (Code, String)> {
    if private && !mapping.private_messages {
        let why = format!("private messages are not allowed in {}", mapping.channel);
        let why = state.gate.stop(ctx, name::PRIVATE_MESSAGES, &why);
        return Err((Code::NoPrivateMessages, why));
    }
    mapping
        .controls
        .typed(private, action, text)
        .map_err(|s| stopped(state, ctx, s))
}

/// One more line from `who` to `room`, counted against the room's rate (per sender).
pub(in crate::bridge) fn rate(
    state: &State,
    who: Person<'_>,
    room: &BareJid,
    mapping: &Mapping,
    limit: &mut Option<RateLimit>,
) -> Result<(), (Code, String)> {
    let now = Instant::now();
    let bucket = limit.get_or_insert_with(|| RateLimit::new(&mapping.controls, now));
    bucket.take(&mapping.controls, now).map_err(|s| {
        let room_text = room.to_string();
        let ctx = who.ctx(Direction::IrcToXmpp, &room_text);
        stopped(state, &ctx, s)
    })
}

/// Whether subjects cross for this room (either way); the refusal audited as a subject's.
pub(super) fn subject(state: &State, ctx: &Context<'_>, mapping: &Mapping) -> Result<(), String> {
    mapping.controls.subject().map_err(|s| {
        let ctx = Context {
            what: Some(What::Subject),
            ..ctx.clone()
        };
        state.gate.stop(&ctx, s.control, &s.why)
    })
}

/// A received stanza that offers a file is not passed on (audited).
pub(super) fn no_files(state: &State, ctx: &Context<'_>, m: &ReceivedMessage) -> Result<(), ()> {
    match crate::xmpp::files::offer(&m.payloads) {
        None => Ok(()),
        Some(kind) => {
            let why = format!("file transfer is never passed on ({kind})");
            state.gate.stop(ctx, name::FILE_TRANSFER, &why);
            Err(())
        }
    }
}

fn stopped(state: &State, ctx: &Context<'_>, s: Stopped) -> (Code, String) {
    let code = if s.control == name::RATE {
        Code::RateLimited
    } else {
        Code::BoundaryControl
    };
    (code, state.gate.stop(ctx, s.control, &s.why))
}
