//! The XMPP side: one client session per IRC user, authenticated with a TLS client certificate
//! and SASL EXTERNAL (XEP-0178), acting in multi-user chat rooms (XEP-0045) with security labels
//! (XEP-0258).
//!
//! * [`tls`] builds the rustls configuration once per identity;
//! * [`connect`] gets from TCP to an authenticated stream, with a typed error for each failure;
//! * [`session`] runs a session: the handle, its worker (IQ tracking, rooms: presence,
//!   messages, (re)joins), its link (the stream: resource binding, XEP-0198 stream management
//!   and resumption, reconnect with backoff), and typed events for the layer above;
//! * [`admin`] the IQs a session sends: kicks, invitations, room info, label catalogs;
//! * [`disco`] what a session answers about itself (disco#info, version, ping);
//! * [`chat`] chat states, corrections and receipts (read, and the gateway's own built);
//! * [`files`] file transfer offers in received stanzas (never passed on).

pub mod admin;
pub mod chat;
pub mod connect;
pub mod disco;
pub mod files;
pub mod muc;
pub mod session;
pub mod tls;
