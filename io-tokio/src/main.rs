//! The `boomerang` command-line tool.

/// mimalloc instead of the system allocator: under load the runtime's workers
/// allocate and free packets, contexts and buffers concurrently, and glibc's malloc
/// spent about a sixth of the daemon's CPU on it (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    boomerang_io_tokio::cli::main()
}
