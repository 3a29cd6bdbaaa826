//! The IRC protocol, pure: messages, the line codec, numerics, capabilities, names.

pub mod caps;
pub mod codec;
pub mod ctcp;
pub mod message;
pub mod names;
pub mod numeric;
