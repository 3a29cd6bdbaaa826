//! The admin tools of the `labelgate` binary (not part of the library): policy and label
//! commands; user and configuration commands stay in `main.rs` beside the runtime's entry.

pub mod label;
