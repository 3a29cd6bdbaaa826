//! The bridge: pairs each IRC user with their own XMPP session and carries messages both ways,
//! every one through the audited gate. It implements the IRC front-end's
//! [`Backend`](crate::irc::backend::Backend).
//!
//! Rules, in both directions: a message's label comes from its FLOT marking or XEP-0258 label,
//! or the room's default; a label that cannot be read or validated is refused (and audited);
//! IRC → XMPP needs the sender's clearance and the room's clearance to dominate the label (and
//! the catalog, where the room restricts to it); XMPP → IRC is delivered only to a user whose
//! clearance dominates the label, with the marking on every line, and withheld silently (but
//! audited) otherwise.

pub mod nick;
mod pairing;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use crate::audit::Gate;
use crate::config::mappings::Mappings;
use crate::irc::backend::{Backend, Delivery, RegisteredUser, Request};
use crate::xmpp::connect::Endpoint;

/// How users log in to XMPP.
#[derive(Debug, Clone)]
pub enum Identity {
    /// One gateway endpoint (certificate) for everyone; the JID goes in the authzid.
    TrustedGateway(Arc<Endpoint>),
    /// Per-user certificates: an endpoint is built per account from `DIR/{account}.crt|key`.
    PerUser {
        /// Template endpoint (address, domain, TLS mode, roots).
        template: Arc<Endpoint>,
        /// The CA file.
        ca_file: PathBuf,
        /// The certificate folder.
        dir: PathBuf,
    },
}

pub(crate) struct Inner {
    pub(crate) gate: Gate,
    pub(crate) mappings: RwLock<Arc<Mappings>>,
    pub(crate) identity: Identity,
}

impl Inner {
    pub(crate) fn mappings(&self) -> Arc<Mappings> {
        match self.mappings.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// The bridge (cheap to clone).
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

impl Bridge {
    /// A bridge deciding through `gate`, serving `mappings`, logging users in as `identity`.
    pub fn new(gate: Gate, mappings: Mappings, identity: Identity) -> Bridge {
        Bridge {
            inner: Arc::new(Inner {
                gate,
                mappings: RwLock::new(Arc::new(mappings)),
                identity,
            }),
        }
    }

    /// Replaces the mappings (new joins use them).
    pub fn reload_mappings(&self, mappings: Mappings) {
        let new = Arc::new(mappings);
        match self.inner.mappings.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }
}

impl Backend for Bridge {
    fn register(
        &self,
        user: RegisteredUser,
        deliveries: mpsc::Sender<Delivery>,
    ) -> mpsc::Sender<Request> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(pairing::run(self.inner.clone(), user, deliveries, rx));
        tx
    }
}
