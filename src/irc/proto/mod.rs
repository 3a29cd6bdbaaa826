//! The IRC protocol, pure: messages, the line codec, numerics, capabilities, names, and the
//! PROXY protocol header a load balancer puts before it, and the shape of a relayed message.

pub mod caps;
pub mod codec;
pub mod ctcp;
pub mod message;
pub mod names;
pub mod numeric;
pub mod proxy;
pub mod relayed;
