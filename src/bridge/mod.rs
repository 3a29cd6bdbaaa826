//! The bridge: pairs each IRC user with their own XMPP session and carries what they say both
//! ways, every piece of text through the audited gate. It implements the IRC front-end's
//! [`Backend`](crate::irc::backend::Backend).
//!
//! * [`crossing`] — every crossing and its rules, in one file to read top to bottom; the only
//!   code that asks the gate for a `Cleared` value.
//! * `pairing` — one user's session bookkeeping, reloads and held lines; `requests` (IRC → XMPP)
//!   and `events` (XMPP → IRC; `messages` for room and private messages) hand what crosses to
//!   `crossing` and deliver what it clears.
//! * [`nick`] — occupants under IRC nicks that name exactly one person.
//! * `codes` — the standard-reply codes of refusals; `sent` — what the user sent, for reports.
//! * `typing` — typing notifications both ways, and receipts for delivered private messages.

mod catalog;
mod codes;
pub mod crossing;
mod events;
pub mod link;
mod messages;
mod moderation;
pub mod nick;
mod outbox;
mod outgoing;
mod pairing;
mod pong;
mod requests;
mod sent;
mod typing;

pub use codes::Code;
pub use pairing::{HELD_LIMIT, MARKING_TAG, REPLACES_TAG};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use crate::audit::Gate;
use crate::config::mappings::Mappings;
use crate::config::users::Users;
use crate::irc::backend::{Backend, Delivery, RegisteredUser, Request};
use crate::label::{Label, PolicySet};
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
        /// The check of the server's certificate (CA and CRLs, re-read on reload).
        server_check: Arc<crate::xmpp::tls::ServerVerifier>,
        /// The certificate folder.
        dir: PathBuf,
    },
}

/// Everything a reload replaces, as one snapshot: users see either all of the old or all of
/// the new.
pub(crate) struct State {
    /// The audited decision, under the current policies.
    pub(crate) gate: Gate,
    /// The channel mappings.
    pub(crate) mappings: Arc<Mappings>,
    /// The users file, once a reload has given one: connected users take their clearance from
    /// it (and are disconnected when their account is gone). Before that, the clearance each
    /// user registered with stands.
    pub(crate) users: Option<Arc<Users>>,
}

/// The labels of room subjects as the gateway saw them set, by room: a room replays its
/// subject on join without the label it was set with. A replayed subject the gateway did not
/// see set is unverified (withheld unless the mapping says otherwise). Bounded by the rooms
/// users are in; lost on restart.
#[derive(Default)]
pub(crate) struct Subjects(
    std::sync::Mutex<std::collections::HashMap<jid::BareJid, (String, Vec<Label>)>>,
);

impl Subjects {
    /// Remembers that `subject` was set in `room` carrying `labels` (perhaps none).
    pub(crate) fn set(&self, room: &jid::BareJid, subject: &str, labels: Vec<Label>) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(room.clone(), (subject.to_owned(), labels));
        }
    }

    /// The labels `subject` in `room` was set with, if the gateway saw it set.
    pub(crate) fn get(&self, room: &jid::BareJid, subject: &str) -> Option<Vec<Label>> {
        self.0
            .lock()
            .ok()?
            .get(room)
            .filter(|(s, _)| s == subject)
            .map(|(_, l)| l.clone())
    }
}

pub(crate) struct Inner {
    pub(crate) state: watch::Sender<Arc<State>>,
    pub(crate) subjects: Subjects,
    /// The XMPP server's label catalogs of the rooms.
    pub(crate) catalogs: catalog::Catalogs,
    pub(crate) identity: Identity,
    /// The silence after which a user's session self-pings a room (XEP-0410).
    pub(crate) room_ping: Option<Duration>,
    /// Pairings still running (for a graceful shutdown).
    live: AtomicUsize,
    idle: Notify,
}

/// The bridge (cheap to clone).
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

impl Bridge {
    /// The bridge with users' sessions self-pinging a room silent for `after` (`None`: never).
    /// For a bridge just made (later, it changes nothing).
    pub fn with_room_ping(mut self, after: Option<Duration>) -> Bridge {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.room_ping = after;
        }
        self
    }

    /// A bridge deciding through `gate`, serving `mappings`, logging users in as `identity`.
    /// Only the mappings of the gateway's own IRC server are kept: a channel on an existing
    /// network (link mode) is never a channel of this server, whatever is passed here.
    pub fn new(gate: Gate, mappings: Mappings, identity: Identity) -> Bridge {
        let state = State {
            gate,
            mappings: Arc::new(mappings.own_server()),
            users: None,
        };
        Bridge {
            inner: Arc::new(Inner {
                state: watch::Sender::new(Arc::new(state)),
                subjects: Subjects::default(),
                catalogs: catalog::Catalogs::default(),
                identity,
                room_ping: Some(crate::xmpp::session::DEFAULT_ROOM_PING),
                live: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }

    /// Replaces policies, mappings and users at once, and applies them to connected users
    /// before their next message: a channel whose mapping is gone (or now names another room)
    /// is parted with a reason, as is one whose default label the user's clearance no longer
    /// dominates; a user whose account is gone is disconnected.
    pub fn reload(&self, policies: Arc<PolicySet>, mappings: Mappings, users: Arc<Users>) {
        self.replace(|old| State {
            gate: old.gate.with_policies(policies),
            mappings: Arc::new(mappings.own_server()),
            users: Some(users),
        });
    }

    /// Replaces the mappings only (policies and users stay), applied as [`Bridge::reload`] is.
    pub fn reload_mappings(&self, mappings: Mappings) {
        self.replace(|old| State {
            gate: old.gate.clone(),
            mappings: Arc::new(mappings.own_server()),
            users: old.users.clone(),
        });
    }

    /// Waits until every pairing has finished (each leaves its rooms and closes its XMPP stream
    /// once its IRC user has gone), at most `within`; returns how many were still running.
    pub async fn drain(&self, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let idle = self.inner.idle.notified();
            let live = self.inner.live.load(Ordering::SeqCst);
            if live == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.inner.live.load(Ordering::SeqCst);
            }
        }
    }

    fn replace(&self, f: impl FnOnce(&State) -> State) {
        self.inner.state.send_modify(|s| *s = Arc::new(f(s)));
    }
}

impl Backend for Bridge {
    fn register(
        &self,
        user: RegisteredUser,
        deliveries: mpsc::Sender<Delivery>,
    ) -> mpsc::Sender<Request> {
        let (tx, rx) = mpsc::channel(64);
        let inner = self.inner.clone();
        inner.live.fetch_add(1, Ordering::SeqCst);
        // Subscribed now, before the XMPP session starts: a reload from here on is applied.
        let state = inner.state.subscribe();
        tokio::spawn(async move {
            pairing::run(inner.clone(), user, state, deliveries, rx).await;
            inner.live.fetch_sub(1, Ordering::SeqCst);
            inner.idle.notify_waiters();
        });
        tx
    }
}
