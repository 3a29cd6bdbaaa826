#![no_main]
use std::sync::OnceLock;

use labelgate::label::{Policy, load_policy};

static POLICY: OnceLock<Option<Policy>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let policy = POLICY.get_or_init(|| load_policy(include_str!("../../tests/fixtures/spif/uk-demo.xml")).ok());
    if let Some(p) = policy {
        labelgate::internal::fuzz_typed(p, data);
    }
});
