//! The scene most bridge tests start from: a gateway on the run's ejabberd with `#ops`
//! (default OFFICIAL, up to `SECRET, UK`) mapped to a fresh room, slixmpp in it as `xavier`,
//! and one IRC user, `sam`, joined.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use labelgate::label::PolicySet;

use crate::bridge::{Gateway, PASSWORD, channel};
use crate::common::{room, server, unique};
use crate::irc::Raw;
use crate::slix::{Slix, SlixLabel};

/// A running scene.
pub struct Scene {
    /// The demo policies.
    pub pol: Arc<PolicySet>,
    /// The gateway.
    pub gw: Gateway,
    /// The room `#ops` is mapped to.
    pub room: jid::BareJid,
    /// slixmpp, in the room as `xavier`.
    pub x: Slix,
    /// The IRC user, in `#ops`.
    pub sam: Raw,
    /// sam's account.
    pub account: String,
}

impl Scene {
    /// The scene with sam cleared for `clearance`; `extra` is appended to the `#ops` block.
    pub async fn start(name: &str, clearance: &str, extra: &str) -> Scene {
        let pol = crate::support::demo_policies();
        let room = room(&unique(name));
        let account = unique("sam");
        let block = format!(
            "{}{extra}\n",
            channel("#ops", &room, "OFFICIAL", "SECRET, UK")
        );
        let gw = Gateway::on_test_server(pol.clone(), &block, &[(&account, clearance)]).await;
        let mut x = Slix::start(server(), "carol").await;
        x.join(&room.to_string(), "xavier").await;
        let mut sam = Raw::login(gw.addr, "sam", &account, PASSWORD).await;
        sam.send("JOIN #ops").await;
        sam.until(" 366 ").await;
        Scene {
            pol,
            gw,
            room,
            x,
            sam,
            account,
        }
    }

    /// The room, as text.
    pub fn room(&self) -> String {
        self.room.to_string()
    }

    /// xavier says `body` at OFFICIAL.
    pub async fn official(&mut self, body: &str) {
        let label = SlixLabel::marking(&self.pol, "OFFICIAL");
        let room = self.room();
        self.x.send(&room, body, Some(label)).await;
    }

    /// The next message xavier gets from `nick` (its own reflections skipped).
    pub async fn from(&mut self, nick: &str) -> crate::slix::Received {
        loop {
            let m = self.x.message(10).await;
            if m.nick == nick {
                return m;
            }
        }
    }
}
