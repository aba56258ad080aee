//! The `boomerang` command line: argument definitions and dispatch.

mod bench;
pub mod check;
pub mod client;
pub mod demo;
mod pki;
mod reload;
pub mod run;
mod signals;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Boomerang: a RADIUS policy server with reverse dynamic authorization (reverse CoA).
#[derive(Debug, Parser)]
#[command(name = "boomerang", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Development certificates.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Validate configuration: report every problem, or print `configuration OK`.
    Check(check::CheckArgs),
    /// Send one RADIUS request (UDP, TCP, TLS) and print the verified reply, or, with
    /// --reverse, act as a NAS that stays connected and answers CoA/Disconnect.
    Client(Box<client::ClientArgs>),
    /// Run the server: the configuration given with -c, or the built-in one.
    Run(Box<run::RunArgs>),
    /// Run the whole reverse CoA flow in one process over loopback (a server, three
    /// simulated NAS devices over RadSec, UDP and HTTP triggers) and print what happened.
    Demo(demo::DemoArgs),
    /// Load generation against any RADIUS server: reverse CoA, forward, connections,
    /// storm, mass-disconnect, and a bare-TLS ceiling (see docs/bench.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Run the command line with the process arguments; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Pki(cmd) => pki::run(cmd),
        Command::Check(args) => check::run(args),
        Command::Client(args) => client::run(*args),
        Command::Run(args) => run::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(cmd) => bench::run(cmd),
    }
}
