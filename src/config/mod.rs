//! Configuration: the gateway file, the IRC front-end's settings, the IRC networks of link mode,
//! the user directory and the channel mappings (the gateway file's `[xmpp]` section in `xmpp`).
//! Every loader refuses a file whole and names each problem with file and
//! line. `config` uses only the pure parts of the protocols (`irc::proto::names`).

pub mod controls;
pub mod gateway;
pub mod irc;
pub mod mappings;
pub mod network;
pub mod proxy;
pub mod room_forms;
mod start_only;
pub mod users;
pub mod xmpp;
