//! The XMPP side: one client session per IRC user, authenticated with a TLS client certificate
//! and SASL EXTERNAL (XEP-0178), acting in multi-user chat rooms (XEP-0045) with security labels
//! (XEP-0258).
//!
//! * [`tls`] builds the rustls configuration once per identity;
//! * [`connect`] gets from TCP to an authenticated stream, with a typed error for each failure;
//! * [`session`] runs a session: the handle, its worker (resource binding, stream management,
//!   reconnect with backoff, IQ tracking), its rooms (presence, messages, (re)joins), and
//!   typed events for the layer above;
//! * [`admin`] the IQs a session sends: kicks, invitations, room info, label catalogs.

pub mod admin;
pub mod connect;
pub mod muc;
pub mod session;
pub mod tls;
