//! labelgate: an IRC server front-end for security-labelled XMPP multi-user chat.
//!
//! IRC users connect with ordinary clients; for each of them the gateway keeps an XMPP session
//! under the user's own identity, and every message crossing between the two carries a
//! security label (XEP-0258 on the XMPP side, a FLOT marking on the IRC side) that is checked
//! against the sender's and each receiver's clearance.
//!
//! # Layout
//!
//! * [`label`] — policies, labels, clearances, the access decision, ESS / XEP-0258 / ADatP-4774
//!   codecs, display markings and FLOT. Pure code, no I/O; every other layer builds on it.
//! * [`internal`] — entry points for fuzz targets and benchmarks (not a stable API).
//!
//! Later layers (`config`, `irc`, `xmpp`, `bridge`) follow the one-way dependency order
//! `label ← config ← irc | xmpp ← bridge ← main`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod irc;
pub mod label;
pub mod util;
pub mod xmpp;

#[doc(hidden)]
pub mod internal;
