//! `boomerang run`: load the configuration (or the built-in one), bind every listener,
//! and serve until SIGTERM or SIGINT; on SIGHUP, restart in process with the
//! configuration read again (see [`reload`]).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use boomerang_core::lang::compile::{CompileOptions, compile};
use boomerang_core::lang::diag::has_errors;
use boomerang_core::lang::program::Logging;
use boomerang_core::lang::{Loaded, load_text, render_all};
use clap::{Args, ValueEnum};

use super::reload::{self, Served};
use super::signals::Signals;
use crate::config_files::{FsDictionarySource, FsLoader, load_and_compile, process_env};
use crate::driver::{Driver, DriverOptions, Listening};
use crate::metrics::Metrics;
use crate::net::TokioNet;
use crate::pki::DevPki;

/// The built-in configuration used when no `-c` is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.conf");

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `boomerang run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A configuration file or directory; repeat to load several in order. Without
    /// one, the built-in configuration (`config/default.conf`) runs from the data
    /// directory, with a development PKI created there.
    #[arg(short = 'c', long = "config", value_name = "PATH")]
    pub config: Vec<PathBuf>,
    /// Where the built-in configuration keeps its files (certificates).
    #[arg(long, value_name = "DIR", default_value = "./boomerang-data")]
    pub data_dir: PathBuf,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`) or a full `RUST_LOG`
    /// filter; `RUST_LOG` wins when set. Default: the configuration's `logging {
    /// level …; }`, else `info`.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log line format. Default: the configuration's `logging { format …; }`, else
    /// `text`.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// How long shutdown waits for work in flight, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub shutdown_timeout: u64,
}

/// Start logging: `RUST_LOG`, then the command line, then the configuration's
/// `logging { level …; format …; file "…"; }` decide, in that order. `file` is the log
/// file already opened ([`crate::log_file::open`]): lines are appended to it.
fn init_logging(args: &RunArgs, logging: &Logging, file: Option<std::fs::File>) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let level = args
        .log_level
        .clone()
        .or_else(|| logging.level.clone())
        .unwrap_or_else(|| "info".to_owned());
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The NATS client logs each reconnect attempt at info level; the cluster bus logs
    // when NATS becomes unreachable and when it rejoins. A filter that names the
    // client itself decides for it.
    let named = std::env::var("RUST_LOG").unwrap_or(level);
    if !named.contains("async_nats")
        && let Ok(quiet) = "async_nats=warn".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let format = args.log_format.unwrap_or(match logging.format.as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    });
    // Colours only on a terminal: log files and journals get plain text.
    let (writer, ansi) = match file {
        Some(file) => (BoxMakeWriter::new(Arc::new(file)), false),
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// What `-c` (or the built-in configuration) gave.
struct Source {
    loaded: Loaded,
    compiled: boomerang_core::lang::compile::Compiled,
}

fn load_configuration(args: &RunArgs) -> Result<Source, String> {
    if args.config.is_empty() {
        let certs = args.data_dir.join("certs");
        let pki =
            DevPki::generate(&certs, &[], &[crate::pki::ClientSpec::new("nas1")]).map_err(|e| {
                format!(
                    "cannot create the development PKI in {}: {e}",
                    certs.display()
                )
            })?;
        for path in &pki.written {
            println!("created {}", path.display());
        }
        let dir = args.data_dir.to_str().ok_or_else(|| {
            format!(
                "the data directory {} is not UTF-8",
                args.data_dir.display()
            )
        })?;
        let name = format!("{dir}/default.conf");
        let loaded = load_text(&FsLoader, &name, DEFAULT_CONFIG);
        let options = CompileOptions::new()
            .with_env(process_env())
            .with_dictionary_source(FsDictionarySource);
        let compiled = compile(&loaded, &options);
        return Ok(Source { loaded, compiled });
    }
    let mut paths = Vec::new();
    for p in &args.config {
        paths.push(
            p.to_str()
                .ok_or_else(|| format!("the path `{}` is not UTF-8", p.display()))?
                .to_owned(),
        );
    }
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (loaded, compiled) = load_and_compile(&refs);
    Ok(Source { loaded, compiled })
}

fn print_banner(args: &RunArgs, listening: &[Listening]) {
    let mut out = std::io::stdout();
    for l in listening {
        let _ = writeln!(out, "listening: {} {} on {}", l.server, l.kind, l.addr);
    }
    if args.config.is_empty() {
        let certs = args.data_dir.join("certs");
        let c = |f: &str| certs.join(f).display().to_string();
        let _ = writeln!(
            out,
            "\nConnect a NAS (RadSec, development certificates):\n  boomerang client --reverse --transport tls --server 127.0.0.1:2083 \\\n    --ca {} --cert {} --key {} --nas-identifier nas1",
            c("ca.pem"),
            c("client-nas1.pem"),
            c("client-nas1.key"),
        );
        let _ = writeln!(
            out,
            "Trigger a disconnect over UDP:\n  boomerang client disconnect-request --server 127.0.0.1:3799 --secret boomerang-trigger User-Name=bob NAS-Identifier=nas1"
        );
        let _ = writeln!(
            out,
            "or over HTTP:\n  curl -X POST 'http://127.0.0.1:4000/disconnect?nas_identifier=nas1&username=bob'"
        );
    }
    let _ = out.flush();
}

/// Run `boomerang run`.
pub fn run(args: RunArgs) -> ExitCode {
    let source = match load_configuration(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let diagnostics = &source.compiled.diagnostics;
    let _ = std::io::stderr().write_all(render_all(diagnostics, &source.loaded.sources).as_bytes());
    let program = match (&source.compiled.program, has_errors(diagnostics)) {
        (Some(p), false) => Arc::new(p.clone()),
        _ => {
            eprintln!("error: the configuration has errors; not starting");
            return ExitCode::FAILURE;
        }
    };
    // A log file that cannot be opened is reported at the setting that names it.
    let log_file = match program.logging.file.as_deref().map(crate::log_file::open) {
        None => None,
        Some(Ok(file)) => Some(file),
        Some(Err(e)) => {
            match crate::log_file::setting_span(&source.loaded) {
                Some(span) => {
                    let d = boomerang_core::lang::Diagnostic::error(span, e);
                    let text = render_all(&[d], &source.loaded.sources);
                    let _ = std::io::stderr().write_all(text.as_bytes());
                }
                None => eprintln!("error: {e}"),
            }
            return ExitCode::FAILURE;
        }
    };
    init_logging(&args, &program.logging, log_file);
    // One descriptor per NAS connection: take every one the hard limit allows.
    if let Some(files) = crate::fd_limit::raise() {
        tracing::info!(
            open_files = files,
            "open-file limit (one per NAS connection; raise the hard limit for more)"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Signals are watched from the start, so that one arriving while the
        // listeners are being bound is not lost (nor kills the process).
        let mut signals = Signals::install();
        let options = DriverOptions {
            env: process_env(),
            shutdown_deadline: std::time::Duration::from_secs(args.shutdown_timeout),
            ..DriverOptions::default()
        };
        let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
        let driver =
            match Driver::bind(TokioNet, program.clone(), options.clone(), metrics.clone()).await {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
        print_banner(&args, driver.listening());
        let served = Served {
            config: args.config.clone(),
            program,
            options,
            metrics,
        };
        match reload::serve(served, driver, &mut signals).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}
