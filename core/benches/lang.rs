//! lang benchmarks (to be written).
fn main() {}
