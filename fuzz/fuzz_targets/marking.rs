#![no_main]
use std::sync::OnceLock;

use labelgate::label::{Policy, load_policy};

static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let policies = POLICIES.get_or_init(|| {
        [
            include_str!("../../tests/fixtures/spif/uk-demo.xml"),
            include_str!("../../tests/fixtures/spif/tlp-plus.xml"),
            include_str!("../../tests/fixtures/spif/food-policy.xml"),
            include_str!("../../tests/fixtures/spif/nato-4774-policy.xml"),
        ]
        .iter()
        .filter_map(|t| load_policy(t).ok())
        .collect()
    });
    if let Some((&which, rest)) = data.split_first() {
        if let Some(p) = policies.get(usize::from(which) % policies.len().max(1)) {
            labelgate::internal::fuzz_marking(p, rest);
        }
    }
});
