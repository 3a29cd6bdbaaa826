//! The label engine: security policies (Open XML SPIF), labels, clearances, the access
//! decision, and the codecs and markings labels travel in. Pure code: no I/O, no async.
//!
//! # Data flow
//!
//! ```text
//!  SPIF XML ──spif::load_policy──▶ Policy ─┐
//!                                          │
//!  ESS DER / base64 ─ess─┐                 ▼
//!  <securitylabel> ─xep0258─▶ Label ──PolicySet::decide(clearance)──▶ Granted | Denied
//!  4774 XML ─nato─┘        ▲   │
//!  "[SECRET] text" ─flot─▶ marking::parse_marking     render_marking ─▶ "[SECRET] " + flot::split
//! ```
//!
//! A [`decision::Granted`] can only be made by the crate-private `PolicySet::decide`, which only
//! the audited gate (`crate::audit::Gate`) calls; the layers that deliver messages require a
//! grant, so a message cannot reach a user without an audited decision.

pub mod clearance;
pub mod decision;
pub mod der;
pub mod ess;
pub mod flot;
pub mod marking;
pub mod missi;
pub mod model;
pub mod nato;
pub mod oid;
pub mod policy;
pub mod privileges;
pub mod render;
pub mod shown;
pub mod spif;
pub mod typed;
pub mod validate;
pub mod xep0258;

pub use clearance::Clearance;
pub use decision::{Denied, Granted, PolicySet};
pub use model::{Category, Label, PrivacyMark, TagClass, TagType};
pub use oid::Oid;
pub use policy::Policy;
pub use spif::load_policy;
pub use validate::Invalid;
