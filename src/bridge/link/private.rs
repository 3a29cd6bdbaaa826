//! Link mode's private messages, both ways, each decided like a room line of its room and the
//! mapping's `private_messages` switch: a room occupant's private message to a person of the
//! network (their puppet in the room) goes out from the occupant's own IRC connection; a
//! person's private message to an occupant's IRC nick goes in from their puppet, in a room
//! both are in. Refusals are told to the sender on their own side.

use jid::BareJid;

use super::Inbound;
use crate::audit::Direction;
use crate::bridge::crossing::{self, LinkNotice, Person};
use crate::irc::proto::message::Message;
use crate::link::nick;
use crate::metrics::Reason;
use crate::xmpp::muc::ReceivedMessage;

impl Inbound {
    /// `from` (a room occupant) wrote privately, in `room`, to the puppet of `to_key` (a
    /// person of the network, by folded nick).
    pub(super) async fn private_to_irc(
        &mut self,
        to_key: &str,
        room: BareJid,
        from: &str,
        message: &ReceivedMessage,
    ) {
        if self.is_ours_in_room(from, &room) || message.delay.is_some() {
            return;
        }
        let (Some(mapping), Some(body)) = (self.room_mapping(&room).cloned(), message.body.clone())
        else {
            return;
        };
        let Some(to_nick) = self.people.get(to_key).map(|p| p.nick.clone()) else {
            return;
        };
        if !mapping.private_messages {
            self.tell_link_notice(
                from,
                &room,
                &mapping,
                LinkNotice::Withheld(Reason::PrivateDisabled),
            )
            .await;
            return;
        }
        self.occupant_in(from, &room, &mapping.channel);
        let to = Person {
            account: &to_nick,
            jid: "",
            clearance: &self.network.accreditation,
        };
        let out = match crossing::body_to_irc(
            &self.state,
            to,
            Direction::Private,
            &room,
            &mapping,
            message,
            &body,
        ) {
            Ok(out) => out,
            Err(why) => {
                self.tell_link_notice(from, &room, &mapping, LinkNotice::Withheld(why))
                    .await;
                return;
            }
        };
        let queued = self
            .occupants
            .get(from)
            .map(|o| o.conn.say(&to_nick, &out.message, out.action));
        if !matches!(queued, Some(Ok(_))) {
            tracing::warn!(%from, to = %to_nick, "link: a private message could not be queued for IRC");
            self.tell_link_notice(
                from,
                &room,
                &mapping,
                LinkNotice::Withheld(Reason::QueueFull),
            )
            .await;
        }
    }

    /// A PRIVMSG or NOTICE that reached the IRC connection of the room occupant `occupant`
    /// (by room nick): a person of the network writing to them privately.
    pub(super) async fn private_from_irc(&mut self, occupant: &str, m: Message) {
        let from = super::network::nick_of(&m).to_owned();
        let notice = m.verb.eq_ignore_ascii_case("NOTICE");
        let Some(text) = m.params.get(1).cloned() else {
            return;
        };
        // Our own connections, the server, and channel lines (the service reads those).
        if from.is_empty()
            || from.contains('.')
            || self.is_me(&from)
            || m.params
                .first()
                .is_some_and(|t| t.starts_with(['#', '&', '+', '!']))
        {
            return;
        }
        // A NOTICE is never answered (RFC 2812), not even by a refusal.
        let refuse = |s: &Self, words: &str| {
            if !notice {
                s.tell(&from, words);
            }
        };
        let (action, text) = match super::words(&text) {
            Ok(words) => words,
            Err(why) => {
                refuse(self, why);
                return;
            }
        };
        // A room both are in: the occupant's rooms where the person has a puppet.
        let key = nick::fold(&from);
        let shared: Option<BareJid> = {
            let theirs = self.people.get(&key).map(|p| &p.rooms);
            let mut both: Vec<&BareJid> = self
                .occupants
                .get(occupant)
                .map(|o| {
                    o.rooms
                        .iter()
                        .filter(|r| theirs.is_some_and(|t| t.contains(*r)))
                        .collect()
                })
                .unwrap_or_default();
            both.sort_by_key(|r| r.to_string());
            both.first().map(|r| (*r).clone())
        };
        let Some(room) = shared else {
            refuse(
                self,
                &format!(
                    "{occupant} is reached through the gateway only in a channel you are both in; your message did not reach them"
                ),
            );
            return;
        };
        let Some(mapping) = self.room_mapping(&room).cloned() else {
            return;
        };
        if !mapping.private_messages {
            refuse(
                self,
                &format!(
                    "private messages are off in {}; your message did not reach {occupant}",
                    mapping.channel
                ),
            );
            return;
        }
        let jid = self.jid(&from).map(|j| j.to_string()).unwrap_or_default();
        let sender = Person {
            account: &from,
            jid: &jid,
            clearance: &self.network.accreditation,
        };
        let decided = crossing::typed_message(
            &self.state,
            sender,
            &room,
            &mapping,
            true,
            &text,
            action,
            notice,
            crate::xmpp::session::origin_id(),
        );
        match decided {
            Ok(out) => {
                let Some(p) = self.people.get(&key) else {
                    return;
                };
                if let Err(e) = p.session.send_private(&room, occupant, &out.message).await {
                    refuse(self, &format!("your message did not reach {occupant}: {e}"));
                }
            }
            Err((_, words)) => refuse(self, &format!("{occupant}: {words}")),
        }
    }
}
