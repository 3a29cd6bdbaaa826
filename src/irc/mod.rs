//! The IRC side: a standards-following IRC server front-end (TLS, SASL, IRCv3) that speaks to
//! the rest of the gateway through the narrow [`backend`] interface.

pub mod proto;
