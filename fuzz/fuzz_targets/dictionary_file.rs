#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| boomerang_core::fuzzing::dictionary::parse_dictionary(data)
);
