//! What a session asks of rooms and servers with IQs (each text in them cleared first): kicks
//! (XEP-0045 §8.2), mediated invitations (§7.8.2), a room's public facts (disco#info, §6.4) and
//! security label catalogs (XEP-0258).

use jid::{BareJid, Jid};
use minidom::Element;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::{Message, MessageType};

use super::muc::{NS_MUC_USER, attr_name};
use super::session::{CatalogError, IqError, SendError, Session, new_id};
use crate::audit::Cleared;
use crate::label::xep0258::{Catalog, CatalogRequest};

const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_DATA: &str = "jabber:x:data";

impl Session {
    /// Kicks an occupant (we must be a moderator): XEP-0045 §8.2.
    pub async fn kick(
        &self,
        room: &BareJid,
        nick: &str,
        reason: Option<&Cleared<String>>,
    ) -> Result<(), IqError> {
        let mut item = Element::builder("item", NS_MUC_ADMIN)
            .attr(attr_name("nick"), nick)
            .attr(attr_name("role"), "none");
        if let Some(r) = reason {
            let r = r.get().as_str();
            item = item.append(Element::builder("reason", NS_MUC_ADMIN).append(r).build());
        }
        let query = Element::builder("query", NS_MUC_ADMIN)
            .append(item.build())
            .build();
        let iq = Iq::Set {
            from: None,
            to: Some(Jid::from(room.clone())),
            id: new_id(),
            payload: query,
        };
        self.iq(iq).await.map(|_| ())
    }

    /// Invites `who` to a room we are in, through the room (a mediated invitation, XEP-0045
    /// §7.8.2); no reason text goes with it. Returns the stanza's id: a room that refuses
    /// answers with an error of that id ([`XmppEvent::MessageError`](super::session::XmppEvent)).
    pub async fn invite(&self, room: &BareJid, who: &BareJid) -> Result<String, SendError> {
        let invite = Element::builder("invite", NS_MUC_USER)
            .attr(attr_name("to"), who.to_string())
            .build();
        let x = Element::builder("x", NS_MUC_USER).append(invite).build();
        // A normal message: XEP-0045 §7.8.2 (a room takes no invitation of another type).
        let mut m = Message::new_with_type(MessageType::Normal, Some(Jid::from(room.clone())));
        let id = new_id();
        m.id = Some(xmpp_parsers::message::Id(id.clone()));
        m.payloads.push(x);
        self.send_room_stanza(Stanza::Message(m), room).await?;
        Ok(id)
    }

    /// How many occupants a room says it has (`muc#roominfo_occupants` in its disco#info), if it
    /// says; a room we are not in may answer too.
    pub async fn room_occupants(&self, room: &BareJid) -> Result<Option<usize>, IqError> {
        let iq = Iq::Get {
            from: None,
            to: Some(Jid::from(room.clone())),
            id: new_id(),
            payload: Element::builder("query", NS_DISCO_INFO).build(),
        };
        let Iq::Result {
            payload: Some(query),
            ..
        } = self.iq(iq).await?
        else {
            return Ok(None);
        };
        Ok(occupants_of(&query))
    }

    /// Asks our server for the XEP-0258 label catalog of `target` (e.g. a room).
    pub async fn catalog(&self, target: &Jid) -> Result<Catalog, CatalogError> {
        let req = CatalogRequest {
            to: target.to_string(),
        };
        let iq = Iq::Get {
            from: None,
            to: Some(Jid::from(self.config.jid.domain().to_owned())),
            id: new_id(),
            payload: Element::from(&req),
        };
        match self.iq(iq).await {
            Ok(Iq::Result {
                payload: Some(p), ..
            }) => Catalog::try_from(&p).map_err(|e| CatalogError::Bad(e.to_string())),
            Ok(Iq::Result { payload: None, .. }) => Err(CatalogError::Bad("empty result".into())),
            Ok(Iq::Error { error, .. }) => Err(CatalogError::NoService(format!(
                "{:?}",
                error.defined_condition
            ))),
            Ok(_) => Err(CatalogError::Bad("not a result".into())),
            Err(IqError::Error { condition }) => Err(CatalogError::NoService(condition)),
            Err(e) => Err(e.into()),
        }
    }
}

/// `muc#roominfo_occupants` from a disco#info answer.
fn occupants_of(query: &Element) -> Option<usize> {
    query
        .children()
        .filter(|x| x.is("x", NS_DATA))
        .flat_map(|x| x.children())
        .filter(|f| f.is("field", NS_DATA))
        .find(|f| f.attr("var") == Some("muc#roominfo_occupants"))?
        .children()
        .find(|v| v.is("value", NS_DATA))?
        .text()
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_occupant_count_is_read_from_the_room_info_form() {
        let q: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='conference' type='text'/>\
            <x xmlns='jabber:x:data' type='result'>\
            <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roominfo</value></field>\
            <field var='muc#roominfo_occupants'><value>3</value></field></x></query>"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(occupants_of(&q), Some(3));
        let bad: Element = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <x xmlns='jabber:x:data'><field var='muc#roominfo_occupants'><value>many</value>\
            </field></x></query>"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(occupants_of(&bad), None);
    }
}
