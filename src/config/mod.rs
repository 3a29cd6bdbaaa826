//! Configuration: the user directory and the channel mappings (the gateway file arrives with
//! the bridge). Every loader refuses a file whole and names each problem with file and line.

pub mod gateway;
pub mod mappings;
pub mod users;
