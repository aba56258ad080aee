//! Serving, and SIGHUP as a reload that keeps connections.
//!
//! On SIGHUP the configuration files are read and compiled again, off the async
//! threads, while the running configuration keeps serving. A configuration with errors
//! is refused: its diagnostics are logged and nothing changes. A configuration that
//! compiles is handed to the running driver ([`Reloader`]), which prepares it on the
//! side (new listeners bound, TLS certificate files and SQLite databases opened) and
//! only then swaps it in: listeners whose kind and address are unchanged keep their
//! sockets and NAS connections (new TLS handshakes use the new certificates), removed
//! listeners close, requests in flight finish under the configuration they started
//! with. A configuration that cannot be prepared (a port in use, a certificate that
//! does not load …) is refused with its cause, and the running one stays untouched.
//!
//! What cannot be carried over (a changed management listener, changed `connect`
//! backends, an address that moves to another kind of listener) falls back to an
//! in-process restart, the way SIGTERM stops:
//!
//! 1. the running driver stops accepting and lets work in flight finish, up to the
//!    shutdown deadline, exactly as for SIGTERM; then every socket is closed (NAS
//!    devices see their RadSec/TCP connections close and reconnect);
//! 2. a new driver binds the new configuration and serves;
//! 3. when the new configuration cannot start, the error is logged with its cause and
//!    the previous configuration is bound again; only when that fails too does the
//!    process exit non-zero.
//!
//! SIGTERM/SIGINT keep their meaning throughout: one that arrives while a restart
//! drains ends the process (exit 0) once the drain is over, instead of starting the
//! new configuration.

use std::path::PathBuf;
use std::sync::Arc;

use boomerang_core::lang::diag::has_errors;
use boomerang_core::lang::program::Program;
use boomerang_core::lang::render_all;

use super::signals::{SignalEvent, Signals};
use crate::config_files::load_and_compile;
use crate::driver::rng::OsRandom;
use crate::driver::{Driver, DriverOptions, Listening, ReloadRefused, Reloader, StartError};
use crate::metrics::Metrics;
use crate::net::TokioNet;

/// What the daemon serves, and what it needs to start it again.
pub(crate) struct Served {
    /// The `-c` paths (empty: the built-in configuration, which never reloads).
    pub config: Vec<PathBuf>,
    /// The configuration running now.
    pub program: Arc<Program>,
    /// The driver's settings (kept across reloads).
    pub options: DriverOptions,
    /// The metrics registry (kept across reloads: counters go on counting).
    pub metrics: Arc<Metrics>,
}

/// Why serving ended other than by SIGTERM/SIGINT.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// A reloaded configuration could not start, and the previous one could not start
    /// again either: nothing is listening any more.
    #[error(
        "reload failed: the new configuration could not start ({new}), and the previous configuration could not start again either ({previous}); exiting"
    )]
    Restart {
        /// Why the new configuration did not start.
        new: StartError,
        /// Why the previous configuration did not start again.
        previous: StartError,
    },
}

/// A configuration that compiled, ready to be bound.
struct Candidate {
    program: Arc<Program>,
    /// The paths it was read from, for log lines.
    from: String,
}

/// Why the running driver was asked to stop.
enum Stop {
    /// SIGTERM or SIGINT: exit once drained.
    Terminate,
    /// SIGHUP with a configuration that cannot be applied to the running driver:
    /// restart with it once drained.
    Restart(Candidate),
}

/// What reading the configuration again gave.
enum Checked {
    /// It compiles (warnings, if any, were logged).
    Good(Candidate),
    /// It has errors: the rendered diagnostics.
    Refused(String),
}

fn describe(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read and compile the configuration at `paths` again, off the async threads.
async fn check(paths: &[PathBuf]) -> Checked {
    let from = describe(paths);
    let owned: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let compiled = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        let (loaded, compiled) = load_and_compile(&refs);
        let text = render_all(&compiled.diagnostics, &loaded.sources);
        match compiled.program {
            Some(program) if !has_errors(&compiled.diagnostics) => Ok((program, text)),
            _ => Err(text),
        }
    })
    .await;
    match compiled {
        Ok(Ok((program, warnings))) => {
            if !warnings.trim().is_empty() {
                tracing::warn!("configuration from {from}:\n{warnings}");
            }
            Checked::Good(Candidate {
                program: Arc::new(program),
                from,
            })
        }
        Ok(Err(diagnostics)) => Checked::Refused(diagnostics),
        Err(e) => Checked::Refused(format!("reading the configuration failed: {e}")),
    }
}

/// Serve signals until the running driver must stop: SIGTERM/SIGINT, or SIGHUP with
/// a configuration that only an in-process restart can apply. A SIGHUP with a broken
/// configuration is refused here; one with a good configuration is applied to the
/// running driver through `reloader` (and `program` becomes it), or refused when it
/// cannot be prepared; either way the wait goes on.
async fn wait_for_stop(
    signals: &mut Signals,
    config: &[PathBuf],
    reloader: &Reloader,
    program: &mut Arc<Program>,
    stop: &mut Option<Stop>,
) {
    loop {
        match signals.next().await {
            SignalEvent::Terminate(_) => {
                *stop = Some(Stop::Terminate);
                return;
            }
            SignalEvent::Hangup if config.is_empty() => {
                tracing::info!(
                    "SIGHUP: the built-in configuration cannot change; nothing to reload"
                )
            }
            SignalEvent::Hangup => match check(config).await {
                Checked::Good(candidate) => {
                    tracing::info!(
                        "SIGHUP: the configuration from {} compiles ({} servers, {} backends); applying it",
                        candidate.from,
                        candidate.program.servers.len(),
                        candidate.program.backends.len(),
                    );
                    if candidate.program.logging != program.logging {
                        tracing::warn!(
                            "SIGHUP: the `logging` section changed; it applies at the next start (logging goes on as it started)"
                        );
                    }
                    match reloader.reload(candidate.program.clone()).await {
                        Ok(report) => {
                            tracing::info!(
                                "configuration reloaded from {}: {} listeners kept with their connections, {} opened, {} closed; {} connections closed",
                                candidate.from,
                                report.kept,
                                report.opened.len(),
                                report.closed.len(),
                                report.connections_closed,
                            );
                            for l in &report.closed {
                                tracing::info!(
                                    "stopped listening: {} {} on {}",
                                    l.server,
                                    l.kind,
                                    l.addr
                                );
                            }
                            log_listening(&report.listening);
                            *program = candidate.program;
                        }
                        Err(ReloadRefused::NeedsRestart(why)) => {
                            tracing::info!(
                                "SIGHUP: {why}: restarting with the new configuration: no new requests, finishing work in flight first"
                            );
                            *stop = Some(Stop::Restart(candidate));
                            return;
                        }
                        Err(refused) => tracing::error!(
                            "SIGHUP: reload refused: the configuration from {} cannot start: {refused}; the running configuration stays",
                            candidate.from
                        ),
                    }
                }
                Checked::Refused(diagnostics) => tracing::error!(
                    "SIGHUP: the configuration has errors; reload refused: the running configuration stays\n{diagnostics}"
                ),
            },
        }
    }
}

fn log_listening(listening: &[Listening]) {
    for l in listening {
        tracing::info!("listening: {} {} on {}", l.server, l.kind, l.addr);
    }
}

/// Serve with `driver` until SIGTERM/SIGINT, applying each SIGHUP's configuration
/// (see the module documentation). `Ok` is a clean stop.
pub(crate) async fn serve(
    mut served: Served,
    mut driver: Driver<TokioNet>,
    signals: &mut Signals,
) -> Result<(), ServeError> {
    loop {
        tracing::info!("ready");
        let mut stop = None;
        let reloader = driver.reloader();
        let summary = driver
            .run(
                wait_for_stop(
                    signals,
                    &served.config,
                    &reloader,
                    &mut served.program,
                    &mut stop,
                ),
                Box::new(OsRandom::new()),
            )
            .await;
        let Some(Stop::Restart(mut candidate)) = stop else {
            tracing::info!(
                drained = summary.drained,
                connections_closed = summary.connections_closed,
                http_abandoned = summary.http_abandoned,
                "stopped"
            );
            return Ok(());
        };
        tracing::info!(
            drained = summary.drained,
            connections_closed = summary.connections_closed,
            http_abandoned = summary.http_abandoned,
            "drained for the restart"
        );
        // The next driver numbers connections on from this one's.
        served.options.first_conn = summary.next_conn;
        // Signals that arrived while draining: SIGTERM/SIGINT win; another SIGHUP
        // means the files may have changed again since they were read.
        let mut read_again = false;
        while let Some(event) = signals.try_next() {
            match event {
                SignalEvent::Terminate(name) => {
                    tracing::info!(
                        "{name} arrived during the reload: stopping instead of starting the new configuration"
                    );
                    return Ok(());
                }
                SignalEvent::Hangup => read_again = true,
            }
        }
        if read_again {
            match check(&served.config).await {
                Checked::Good(newer) => candidate = newer,
                Checked::Refused(diagnostics) => tracing::error!(
                    "SIGHUP during the reload: the configuration now has errors; reload refused for it, applying the one read at the first SIGHUP\n{diagnostics}"
                ),
            }
        }
        let bound = Driver::bind(
            TokioNet,
            candidate.program.clone(),
            served.options.clone(),
            served.metrics.clone(),
        )
        .await;
        driver = match bound {
            Ok(new_driver) => {
                tracing::info!(
                    "configuration reloaded from {}: {} servers, {} backends",
                    candidate.from,
                    candidate.program.servers.len(),
                    candidate.program.backends.len(),
                );
                served.program = candidate.program;
                new_driver
            }
            Err(new) => {
                tracing::error!(
                    "reload refused: the configuration from {} cannot start: {new}; starting the previous configuration again",
                    candidate.from
                );
                match Driver::bind(
                    TokioNet,
                    served.program.clone(),
                    served.options.clone(),
                    served.metrics.clone(),
                )
                .await
                {
                    Ok(previous) => {
                        tracing::warn!("the previous configuration is running again");
                        previous
                    }
                    Err(previous) => return Err(ServeError::Restart { new, previous }),
                }
            }
        };
        log_listening(driver.listening());
    }
}
