//! The `boomerang` command-line tool.

fn main() -> std::process::ExitCode {
    boomerang_io_tokio::cli::main()
}
