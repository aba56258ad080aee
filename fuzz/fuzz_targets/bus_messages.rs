#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = boomerang_core::fuzzing::cluster::bus_messages(data, std::time::Instant::now());
});
