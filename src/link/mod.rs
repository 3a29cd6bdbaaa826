//! The link side (link mode): the gateway's own client connections to an existing IRC network,
//! one per person it stands in for, as Isode's M-Link IRC Gateway keeps them.
//!
//! * [`conn`] — one client connection: TLS (or plaintext on loopback), registration with a
//!   nick that is resolved the same way on every collision, PING/PONG both ways, a paced send
//!   queue that never drops, reconnection with backoff across the network's servers, rejoining.
//!   Lines it wrote are confirmed by a PONG that follows them; lines a lost connection cannot
//!   confirm are handed back by id, never forgotten.
//!   Its task (the connect / register / serve cycle) is in `task`.
//! * [`nick`] — IRC nicks from XMPP room nicks (identical where IRC's rules allow) and the
//!   collision sequence.
//! * [`pace`] — the token bucket that keeps each connection within the network's flood limits.
//! * [`sasl`] — SASL PLAIN / EXTERNAL during registration, failing closed.
//!
//! Like [`crate::irc`] (the server side), this module never imports [`crate::xmpp`]; the bridge
//! joins them. It uses only the pure protocol code of [`crate::irc::proto`].

pub mod conn;
pub mod nick;
pub mod pace;
pub mod sasl;
mod task;

pub use conn::{Auth, LineId, LinkConfig, LinkConnection, LinkError, LinkEvent, Server, ServerTls};
