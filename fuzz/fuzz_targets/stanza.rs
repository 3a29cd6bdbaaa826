#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| labelgate::internal::fuzz_stanza(data));
