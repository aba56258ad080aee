//! Codec benchmarks (to be written by the codec work).
fn main() {}
