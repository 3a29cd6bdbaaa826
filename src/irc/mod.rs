//! The IRC side: a standards-following IRC server front-end (TLS, SASL, IRCv3) that speaks to
//! the rest of the gateway through the narrow [`backend`] interface.
//!
//! * [`proto`] — pure protocol: messages, the bounded line codec, numerics and capabilities;
//! * [`server`] — listeners and shared state; `client` — one task per connection;
//! * [`backend`] — typed requests and deliveries between the front-end and the bridge;
//! * [`tls`] — the listener's TLS (client certificates for SASL EXTERNAL);
//! * [`passwords`] — argon2id checks on a small pool of dedicated threads.
//! * [`proxied`] — the PROXY protocol header before a connection (from load balancers only).

pub mod backend;
pub mod cert;
mod client;
pub mod logins;
pub mod passwords;
pub mod proto;
pub mod proxied;
pub mod server;
pub mod tls;
