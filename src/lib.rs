//! labelgate: an IRC server front-end for security-labelled XMPP multi-user chat.
//!
//! IRC users connect with ordinary clients; for each of them the gateway keeps an XMPP session
//! under the user's own identity, and every message crossing between the two carries a
//! security label (XEP-0258 on the XMPP side, a FLOT marking on the IRC side) that is checked
//! against the sender's and each receiver's clearance.
//!
//! # Layout
//!
//! One-way dependencies, leaves first:
//!
//! * [`label`] — policies, labels, clearances, the access decision, ESS / XEP-0258 /
//!   ADatP-4774 codecs, display markings and FLOT. Pure code, no I/O.
//! * [`util`] — small pure helpers (timestamps).
//! * [`pki`] — certificates, keys and CRLs from PEM files, path validation with CRLs, used by
//!   both sides.
//! * [`fips`] — whether this is a FIPS build, and the check that every TLS configuration is in
//!   FIPS mode.
//! * [`config`] — the user directory (accounts, JIDs, clearances, credentials); uses `label`.
//! * [`xmpp`] — the XMPP side: connector (TLS, SASL EXTERNAL), sessions, MUC; uses `label`'s
//!   XEP-0258 types.
//! * [`irc`] — the IRC side: protocol, server, clients, and the `backend` interface the bridge
//!   implements; uses `config`.
//! * [`audit`] — the audit trail and the gate every access decision passes through.
//! * [`internal`] — entry points for fuzz targets and benchmarks (not a stable API).
//!
//! `irc` and `xmpp` never import each other; the bridge (next) is the only place that joins
//! them, and the only way to hand a message across is with a [`label::Granted`] from the access
//! decision.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod bridge;
pub mod config;
pub mod fips;
pub mod irc;
pub mod label;
pub mod link;
pub mod metrics;
pub mod pki;
pub mod util;
pub mod xmpp;

#[doc(hidden)]
pub mod internal;
