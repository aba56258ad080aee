//! eval benchmarks (to be written).
fn main() {}
