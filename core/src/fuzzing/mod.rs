//! Bodies of the cargo-fuzz targets in `fuzz/`.
//!
//! Each target is a one-line `fuzz_target!` calling a function here, so the same body
//! runs under libFuzzer, under proptest, and in the stable test that replays the
//! committed seeds and crash files (`core/tests/fuzz_replay.rs`). Every function must
//! accept any byte string without panicking; a panic is a bug.

pub mod cluster;
pub mod dictionary;
pub mod lang;
pub mod radius;
