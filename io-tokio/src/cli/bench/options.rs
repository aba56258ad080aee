//! Command-line options shared by the scenarios: how long to run, how to reach the server
//! as a fleet of NAS, and the shape of the load.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use boomerang_core::contract::Transport;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};
use tokio::time::Instant;

use super::BenchError;
use crate::cli::client::net::{StreamConnector, parse_server};
use crate::cli::client::parse_cli_duration;
use crate::tls::{self, ClientTlsSettings};

/// How long a scenario runs and what it reports.
#[derive(Debug, Clone, Args)]
pub struct RunOptions {
    /// Measure for this long (after --warmup): `10s`, `1m`; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_cli_duration)]
    pub duration: Duration,
    /// Stop after this many requests in total (warm-up included) instead of --duration.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Run this long before measuring; what completes during it is not in the figures.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_cli_duration)]
    pub warmup: Duration,
    /// Timeout, report format, server process.
    #[command(flatten)]
    pub common: CommonOptions,
}

/// Options of every scenario.
#[derive(Debug, Clone, Args)]
pub struct CommonOptions {
    /// A request without an answer after this long counts as a timeout; also bounds
    /// connecting, TLS handshakes and the first Status-Server.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_cli_duration)]
    pub timeout: Duration,
    /// The server's process id: report its CPU per thread and its RSS (Linux /proc).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads of the generator's runtime (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// The time plan of a run: when measuring starts and when sending stops.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// When the load starts.
    pub start: Instant,
    /// Completions before this are warm-up.
    pub measure_from: Instant,
    /// No request is sent after this (`None` with --count: the count stops it).
    pub stop_at: Option<Instant>,
    /// The total number of requests, with --count.
    pub count: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Plan {
    /// A plan starting now.
    pub fn new(run: &RunOptions) -> Plan {
        let start = Instant::now();
        let measure_from = start + run.warmup;
        Plan {
            start,
            measure_from,
            stop_at: match run.count {
                Some(_) => None,
                None => Some(measure_from + run.duration),
            },
            count: run.count,
            timeout: run.common.timeout,
        }
    }
}

/// How the emulated NAS answer the requests the server sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NasAnswer {
    /// Disconnect-ACK / CoA-ACK.
    Ack,
    /// Disconnect-NAK / CoA-NAK with Error-Cause 503 (Session-Context-Not-Found).
    Nak,
    /// No answer at all (the server times out).
    Silent,
}

impl NasAnswer {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            NasAnswer::Ack => "ack",
            NasAnswer::Nak => "nak",
            NasAnswer::Silent => "silent",
        }
    }
}

/// How to connect as NAS devices, and how they behave.
#[derive(Debug, Clone, Args)]
pub struct NasOptions {
    /// The server's RadSec or RADIUS/TCP listener, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2083")]
    pub server: String,
    /// Transport of the NAS connections.
    #[arg(
        long,
        default_value_t = Transport::Tls,
        value_parser = PossibleValuesParser::new(["tls", "tcp"]).try_map(|s| s.parse::<Transport>()),
    )]
    pub transport: Transport,
    /// Number of NAS connections.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub nas: usize,
    /// NAS-Identifier prefix: the NAS are PREFIX0 … PREFIX(N-1).
    #[arg(long, value_name = "PREFIX", default_value = "nas-")]
    pub nas_prefix: String,
    /// Certificates.
    #[command(flatten)]
    pub tls: TlsOptions,
    /// Shared secret of the NAS connections (default `radsec` on tls).
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// How the NAS answer requests from the server.
    #[arg(long, value_enum, default_value_t = NasAnswer::Ack)]
    pub nas_answer: NasAnswer,
    /// Each NAS waits this long before answering.
    #[arg(long, value_name = "DURATION", value_parser = parse_cli_duration)]
    pub nas_delay: Option<Duration>,
    /// Interval of the Status-Server watchdog each NAS sends after its first one.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_cli_duration)]
    pub status_interval: Duration,
    /// At most this many NAS connect (TCP + TLS + Status-Server) at the same time
    /// (default: all at once).
    #[arg(long, value_name = "N")]
    pub connect_concurrency: Option<usize>,
}

/// The NAS side, resolved: address, connector, secret.
#[derive(Debug, Clone)]
pub struct NasTarget {
    /// Where to connect.
    pub addr: SocketAddr,
    /// TCP or TLS connector.
    pub connector: StreamConnector,
    /// Shared secret.
    pub secret: Vec<u8>,
}

impl NasOptions {
    /// Resolves the address, loads the certificates, builds the connector.
    pub async fn target(&self, timeout: Duration) -> Result<NasTarget, BenchError> {
        let secret = match (&self.secret, self.transport) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Transport::Tls) => b"radsec".to_vec(),
            (None, Transport::Tcp | Transport::Udp) => {
                return Err(BenchError::BadArgument(
                    "--secret is required with --transport tcp (only tls has a default, `radsec`)"
                        .into(),
                ));
            }
        };
        let (addr, host) = resolve_server(&self.server).await?;
        let tls = match self.transport {
            Transport::Tcp | Transport::Udp => None,
            Transport::Tls => Some(self.tls.connector(&host)?),
        };
        Ok(NasTarget {
            addr,
            connector: StreamConnector { tls, timeout },
            secret,
        })
    }

    /// The NAS-Identifier of NAS number `i`.
    pub fn nas_name(&self, i: usize) -> String {
        format!("{}{i}", self.nas_prefix)
    }
}

/// Certificates of TLS connections.
#[derive(Debug, Clone, Args)]
pub struct TlsOptions {
    /// A `boomerang pki dev --out DIR` directory: ca.pem, and client-nas1.pem/.key as
    /// the client certificate every connection presents (see --pki-client).
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// Which client certificate of --pki to present (`client-NAME.pem`).
    #[arg(long, value_name = "NAME", default_value = "nas1")]
    pub pki_client: String,
    /// CA certificate the server's certificate must chain to (overrides --pki).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (chain), PEM (overrides --pki).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert, PEM (overrides --pki).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Name the server certificate must carry (default: the host of --server).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// The rustls connector and the server name, from the files.
    pub fn connector(
        &self,
        host: &str,
    ) -> Result<
        (
            tokio_rustls::TlsConnector,
            rustls_pki_types::ServerName<'static>,
        ),
        BenchError,
    > {
        let from_pki = |file: String| self.pki.as_ref().map(|d| d.join(file));
        let ca = self
            .ca
            .clone()
            .or_else(|| from_pki("ca.pem".into()))
            .ok_or_else(|| {
                BenchError::BadArgument(
                    "TLS needs --pki DIR or --ca FILE (the CA the server certificate chains to)"
                        .into(),
                )
            })?;
        let cert = self
            .cert
            .clone()
            .or_else(|| from_pki(format!("client-{}.pem", self.pki_client)));
        let key = self
            .key
            .clone()
            .or_else(|| from_pki(format!("client-{}.key", self.pki_client)));
        for path in [Some(&ca), cert.as_ref(), key.as_ref()]
            .into_iter()
            .flatten()
        {
            if !path.is_file() {
                return Err(BenchError::MissingFile(path.clone()));
            }
        }
        let name = self.server_name.clone().unwrap_or_else(|| host.to_string());
        let mut settings = ClientTlsSettings::new(ca, name);
        settings.certificate_chain_path = cert;
        settings.key_path = key;
        let config = settings.build_config()?;
        Ok((tls::connector(config), settings.server_name()?))
    }
}

/// Resolves `HOST:PORT` (a port is required); also returns the host.
pub async fn resolve_server(text: &str) -> Result<(SocketAddr, String), BenchError> {
    let server = parse_server(text)?;
    let port = server
        .port
        .ok_or_else(|| BenchError::BadArgument(format!("`{text}` needs a port: HOST:PORT")))?;
    let addr = crate::cli::client::net::resolve(&server.host, port).await?;
    Ok((addr, server.host))
}

/// The shape of the load: how many requests in flight, or a rate.
#[derive(Debug, Clone, Args)]
pub struct LoadOptions {
    /// Closed loop with T requests in flight IN TOTAL, over all NAS (see --target for
    /// which NAS each names).
    #[arg(long, value_name = "T", conflicts_with = "per_nas_in_flight")]
    pub in_flight: Option<usize>,
    /// Closed loop with K requests in flight PER NAS (N × K in total), each NAS always
    /// K. The default when neither this nor --in-flight is given: 1.
    #[arg(long, value_name = "K")]
    pub per_nas_in_flight: Option<usize>,
    /// Open loop: R requests per second whatever the answers; the in-flight figure then
    /// bounds how many may be outstanding (default 1024 in total).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
}

/// How many in flight, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlight {
    /// In total.
    Total(usize),
    /// Per NAS (connection).
    PerNas(usize),
}

impl LoadOptions {
    /// The in-flight choice (default 1 per NAS; 1024 in total with --rate).
    pub fn in_flight(&self) -> Result<InFlight, BenchError> {
        let f = match (self.in_flight, self.per_nas_in_flight) {
            (Some(t), _) => InFlight::Total(t),
            (None, Some(k)) => InFlight::PerNas(k),
            (None, None) if self.rate.is_some() => InFlight::Total(1024),
            (None, None) => InFlight::PerNas(1),
        };
        if matches!(f, InFlight::Total(0) | InFlight::PerNas(0)) {
            return Err(BenchError::BadArgument(
                "in flight must be at least 1".into(),
            ));
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(BenchError::BadArgument(format!(
                "--rate {r} is not a positive number"
            )));
        }
        Ok(f)
    }

    /// Total requests in flight for `nas` NAS.
    pub fn total(&self, nas: usize) -> Result<usize, BenchError> {
        Ok(match self.in_flight()? {
            InFlight::Total(t) => t,
            InFlight::PerNas(k) => k.saturating_mul(nas.max(1)),
        })
    }

    /// Closed or open loop.
    pub fn mode(&self) -> super::pipeline::Mode {
        match self.rate {
            Some(rate) => super::pipeline::Mode::Open { rate },
            None => super::pipeline::Mode::Closed,
        }
    }

    /// The shape for the report.
    pub fn describe(&self, nas: usize) -> serde_json::Value {
        let (per_nas, total) = match self.in_flight() {
            Ok(InFlight::PerNas(k)) => (Some(k), k.saturating_mul(nas)),
            Ok(InFlight::Total(t)) => (None, t),
            Err(_) => (None, 0),
        };
        serde_json::json!({
            "loop": if self.rate.is_some() { "open" } else { "closed" },
            "rate_per_second": self.rate,
            "in_flight_total": total,
            "in_flight_per_nas": per_nas,
        })
    }
}
