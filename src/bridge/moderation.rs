//! IRC moderation as the room's own: KICK is a MUC kick (its reason decided like a part
//! message), INVITE a mediated invitation. The room decides whether the user may; its refusal
//! comes back as the numeric an IRC client expects.

use jid::BareJid;

use super::codes::Code;
use super::crossing;
use super::pairing::Pairing;
use super::sent::Sent;
use crate::audit::What;
use crate::config::mappings::Mapping;
use crate::irc::backend::Delivery;
use crate::irc::proto::names;
use crate::xmpp::session::IqError;
use std::sync::Arc;

impl Pairing {
    /// The room and mapping of a channel the user is in; otherwise 442 or 403 is delivered.
    pub(super) async fn room_of(&self, channel: &str) -> Option<(BareJid, Arc<Mapping>)> {
        let found = self
            .by_channel
            .get(&names::fold(channel))
            .and_then(|room| Some((room.clone(), self.rooms.get(room)?.mapping.clone())));
        if found.is_none() {
            let mapped = self.now.mappings.get(channel).is_some();
            let channel = channel.to_owned();
            self.deliver(Delivery::NotInChannel { channel, mapped })
                .await;
        }
        found
    }

    /// KICK `nick` from `channel`'s room.
    pub(super) async fn kick(&mut self, channel: &str, nick: &str, reason: Option<String>) {
        let Some((room, mapping)) = self.room_of(channel).await else {
            return;
        };
        let key = room.to_string();
        let occupant = self
            .nicks
            .occupant(nick)
            .into_iter()
            .find(|(r, _)| *r == key)
            .map(|(_, n)| n);
        let Some(occupant) = occupant else {
            let why = if crate::irc::proto::names::fold(nick)
                == crate::irc::proto::names::fold(&self.user.nick)
            {
                "you cannot kick yourself; PART leaves the channel".to_owned()
            } else {
                format!("{nick} is not in the room")
            };
            self.fail("KICK", Code::NotInChannel, channel, why).await;
            return;
        };
        let person = self.person();
        let reason = match crossing::typed_reason(
            &self.now,
            person,
            &room,
            &mapping,
            What::Reason,
            reason.as_deref(),
        ) {
            Ok(r) => r,
            Err(why) => {
                self.notice(format!(
                    "[{channel}] Your kick reason was not passed on: {why}."
                ))
                .await;
                None
            }
        };
        let Some(session) = &self.session else {
            let why = "your XMPP session is not available".to_owned();
            self.fail("KICK", Code::XmppError, channel, why).await;
            return;
        };
        match session.kick(&room, &occupant, reason.as_ref()).await {
            // The room announces the kick to everyone, this user included.
            Ok(()) => {}
            Err(IqError::Error { condition }) if refused(&condition) => {
                let why = "You are not a moderator of the XMPP room".to_owned();
                let channel = channel.to_owned();
                self.deliver(Delivery::NotOperator { channel, why }).await;
            }
            Err(e) => {
                let why = format!("the room did not kick {nick}: {e}");
                self.fail("KICK", Code::XmppError, channel, why).await;
            }
        }
    }

    /// INVITE `nick` into `channel`'s room.
    pub(super) async fn invite(&mut self, nick: &str, channel: &str) {
        let Some((room, _)) = self.room_of(channel).await else {
            return;
        };
        let Some(jid) = self
            .nicks
            .person(nick)
            .and_then(|p| p.parse::<BareJid>().ok())
        else {
            let why = format!(
                "the rooms you share with {nick} do not show their XMPP address, so the room \
                 cannot invite them"
            );
            self.fail("INVITE", Code::CannotInvite, nick, why).await;
            return;
        };
        let Some(session) = &self.session else {
            let why = "your XMPP session is not available".to_owned();
            self.fail("INVITE", Code::XmppError, channel, why).await;
            return;
        };
        match session.invite(&room, &jid).await {
            Ok(id) => {
                // A refusal from the room names the invitation.
                let mut record = Sent::new(channel, &format!("invitation of {nick}"), false);
                record.to = room.to_string();
                self.sent.insert(id, record);
                let (nick, channel) = (nick.to_owned(), channel.to_owned());
                self.deliver(Delivery::Inviting { nick, channel }).await;
            }
            Err(e) => {
                let why = format!("the invitation did not go: {e}");
                self.fail("INVITE", Code::XmppError, channel, why).await;
            }
        }
    }
}

/// Whether an IQ error condition is the room refusing the user the right.
fn refused(condition: &str) -> bool {
    matches!(condition, "Forbidden" | "NotAllowed" | "NotAuthorized")
}
