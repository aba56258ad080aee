//! The `boomerang` command-line tool.

fn main() {
    println!("boomerang {}", env!("CARGO_PKG_VERSION"));
}
