//! `boomerang bench`: an end-to-end load generator for any RADIUS server.
//!
//! Scenarios (one module each): `reverse` (NAS over RadSec/TCP answer Disconnect-Requests
//! the server sends them, triggered over UDP or HTTP), `forward` (Access-Request /
//! Accounting-Request to any server), `connections` (hold N NAS connections, handshake
//! rate, RSS per connection), `storm` (N NAS connect at once), `mass-disconnect` (M
//! triggers over N NAS: lost, duplicated, misdirected) and `ceiling` (a bare TLS echo of
//! the same shape: the speed-of-light baseline), `cluster` (local against cross-node
//! triggers over one fleet). Shared pieces: [`options`],
//! [`pipeline`] (the load engine), [`nas`] (the NAS fleet), [`trigger`], [`histogram`],
//! [`process`] (server CPU and RSS from /proc), [`report`].
//!
//! The load runs on a multi-threaded tokio runtime; the generator shares the machine with
//! the server, so its hot paths avoid per-request work that can be done once (attribute
//! numbers resolved up front, one reused buffer per lane, one task per socket).

mod ceiling;
mod cluster;
mod connections;
mod echo;
mod forward;
mod histogram;
mod mass_disconnect;
mod nas;
mod options;
mod pipeline;
mod process;
mod report;
mod reverse;
mod storm;
mod trigger;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::cli::client::ClientError;
use crate::tls::TlsConfigError;

/// The scenarios of `boomerang bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Reverse CoA: N NAS keep RadSec (or RADIUS/TCP) connections and answer the
    /// Disconnect-Requests the server sends them; triggers go over UDP or HTTP.
    Reverse(Box<reverse::ReverseArgs>),
    /// Access-Request or Accounting-Request to any RADIUS server over UDP, TCP or TLS.
    Forward(Box<forward::ForwardArgs>),
    /// Open and hold N NAS connections: handshake rate and server RSS per connection.
    Connections(Box<connections::ConnectionsArgs>),
    /// N NAS connect at once (as after a restart): time until all are identified.
    Storm(Box<connections::ConnectionsArgs>),
    /// M disconnects over N NAS as fast as the server takes them: lost, duplicated and
    /// misdirected triggers.
    MassDisconnect(Box<mass_disconnect::MassDisconnectArgs>),
    /// Cluster: one NAS fleet on one node; triggers alternately to that node (local
    /// path) and to another node (forwarded over the cluster bus), in one run.
    Cluster(Box<cluster::ClusterArgs>),
    /// The speed-of-light baseline: a bare TLS request/response echo with the same
    /// packet sizes, connections and concurrency, no RADIUS.
    Ceiling(Box<ceiling::CeilingArgs>),
    /// The echo server of `ceiling` (started by it as a child process).
    #[command(hide = true)]
    EchoServer(echo::EchoArgs),
}

/// Everything that stops a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An option is wrong or options contradict each other.
    #[error("{0}")]
    BadArgument(String),
    /// A certificate or key file is missing.
    #[error("{} does not exist (run `boomerang pki dev --out DIR` or pass the file)", .0.display())]
    MissingFile(PathBuf),
    /// Building the TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// Resolving or connecting failed (client helpers).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server could not be reached.
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// Where.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// Not every NAS connected and was identified.
    #[error("only {identified} of {wanted} NAS were identified (Status-Server answered){}", .first_error.as_ref().map(|e| format!("; first error: {e}")).unwrap_or_default())]
    Fleet {
        /// Identified NAS.
        identified: usize,
        /// NAS started.
        wanted: usize,
        /// The first failure.
        first_error: Option<String>,
    },
    /// The server process could not be sampled.
    #[error("cannot read /proc of the server process {pid}: {reason}")]
    ServerProcess {
        /// The pid.
        pid: u32,
        /// Why.
        reason: String,
    },
    /// The echo server could not be started or did not say where it listens.
    #[error("echo server: {0}")]
    Echo(String),
    /// A socket operation failed.
    #[error("{0}")]
    Io(std::io::Error),
}

impl BenchCommand {
    fn threads(&self) -> Option<usize> {
        match self {
            BenchCommand::Reverse(a) => a.run.common.threads,
            BenchCommand::Forward(a) => a.run.common.threads,
            BenchCommand::Connections(a) | BenchCommand::Storm(a) => a.common.threads,
            BenchCommand::MassDisconnect(a) => a.common.threads,
            BenchCommand::Ceiling(a) => a.run.common.threads,
            BenchCommand::Cluster(a) => a.run.common.threads,
            BenchCommand::EchoServer(a) => a.threads,
        }
    }
}

/// Runs a scenario on a multi-threaded runtime; exit 0 when it ran (whatever it
/// measured), 2 on an error.
pub fn run(command: BenchCommand) -> ExitCode {
    // One descriptor per NAS connection or trigger socket.
    let _ = crate::fd_limit::raise();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = command.threads() {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match command {
            BenchCommand::Reverse(a) => reverse::run(*a).await,
            BenchCommand::Forward(a) => forward::run(*a).await,
            BenchCommand::Connections(a) => connections::run(*a, connections::Kind::Hold).await,
            BenchCommand::Storm(a) => storm::run(*a).await,
            BenchCommand::MassDisconnect(a) => mass_disconnect::run(*a).await,
            BenchCommand::Ceiling(a) => ceiling::run(*a).await,
            BenchCommand::Cluster(a) => cluster::run(*a).await,
            BenchCommand::EchoServer(a) => echo::run(a).await,
        }
    });
    // Tasks still blocked on sockets must not hold the process.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
