//! Configuration: the user directory (and, with the bridge, the gateway file and mappings).

pub mod users;
