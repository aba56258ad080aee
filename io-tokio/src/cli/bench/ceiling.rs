//! `bench ceiling`: the speed-of-light baseline in the same harness. N TLS connections
//! (as many as NAS) carry K request/response exchanges each in flight (or T in total),
//! with the packet sizes of the reverse path, to a bare echo server in a separate
//! process: no RADIUS processing, no policy. What `reverse` achieves divided by this is
//! the share of the machine the server's work leaves.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use serde_json::{Map, json};

use super::BenchError;
use super::options::{InFlight, LoadOptions, Plan, RunOptions, TlsOptions, resolve_server};
use super::pipeline::{Exchange, Io, Lane, Shared, Verdict, run_lanes};
use super::report::{self, ServerWatch};
use crate::cli::client::net::StreamConnector;

/// Arguments of `bench ceiling`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example (the shape of `reverse --nas 100 --per-nas-in-flight 4`):\n  \
    boomerang bench ceiling --pki certs --nas 100 --per-nas-in-flight 4 --duration 10s"
)]
pub struct CeilingArgs {
    /// Connections (the NAS count of the run it is the ceiling of).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub nas: usize,
    /// Load shape (in flight per connection or in total, or a rate).
    #[command(flatten)]
    pub load: LoadOptions,
    /// Request size, octets: a Disconnect-Request as the server sends it to a NAS
    /// (User-Name, NAS-Identifier, Event-Timestamp, Message-Authenticator).
    #[arg(long, value_name = "N", default_value_t = 70)]
    pub request_size: usize,
    /// Reply size, octets: a Disconnect-ACK with Message-Authenticator.
    #[arg(long, value_name = "N", default_value_t = 38)]
    pub reply_size: usize,
    /// Use an echo server already running at HOST:PORT (`boomerang bench echo-server`)
    /// instead of starting one.
    #[arg(long, value_name = "HOST:PORT")]
    pub echo: Option<String>,
    /// Worker threads of the echo server started here.
    #[arg(long, value_name = "N")]
    pub echo_threads: Option<usize>,
    /// Certificates: --pki DIR gives the echo server server.pem/server.key and the
    /// clients ca.pem and client-nas1.pem/.key, as for `reverse`.
    #[command(flatten)]
    pub tls: TlsOptions,
    /// Duration, warm-up, report (--server-pid defaults to the echo server's).
    #[command(flatten)]
    pub run: RunOptions,
}

/// Builds echo requests: identifier = slot, the sequence number in the authenticator.
struct EchoExchange {
    size: usize,
}

impl Exchange for EchoExchange {
    fn request(&mut self, slot: usize, seq: u64, out: &mut Vec<u8>) -> Result<[u8; 16], String> {
        let id = u8::try_from(slot).map_err(|_| "more than 256 slots on a connection")?;
        let len = u16::try_from(self.size).map_err(|_| "request size too large")?;
        let mut auth = [0u8; 16];
        auth[..8].copy_from_slice(&seq.to_be_bytes());
        out.resize(self.size, 0);
        out[0] = 40;
        out[1] = id;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        out[4..20].copy_from_slice(&auth);
        Ok(auth)
    }

    fn judge(&mut self, reply: &Bytes, authenticator: &[u8; 16]) -> Verdict {
        if reply.get(4..20) == Some(&authenticator[..]) {
            Verdict::Ack
        } else {
            Verdict::Stray
        }
    }
}

/// The echo server child; killed when dropped.
struct EchoChild(Child);

impl Drop for EchoChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `boomerang bench echo-server` and reads the address it listens on.
fn spawn_echo(args: &CeilingArgs) -> Result<(EchoChild, String), BenchError> {
    let pki = args.tls.pki.as_ref().ok_or_else(|| {
        BenchError::BadArgument(
            "ceiling needs --pki DIR (server.pem/server.key for the echo server) or --echo ADDR"
                .into(),
        )
    })?;
    let cert = pki.join("server.pem");
    let key = pki.join("server.key");
    for f in [&cert, &key] {
        if !f.is_file() {
            return Err(BenchError::MissingFile(f.clone()));
        }
    }
    let exe = std::env::current_exe().map_err(|e| BenchError::Echo(e.to_string()))?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "echo-server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args(["--reply-size", &args.reply_size.to_string()]);
    let ca = args.tls.ca.clone().unwrap_or_else(|| pki.join("ca.pem"));
    if ca.is_file() {
        cmd.arg("--ca").arg(ca);
    }
    if let Some(t) = args.echo_threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| BenchError::Echo(format!("cannot start: {e}")))?;
    let stdout = child.stdout.take();
    let child = EchoChild(child);
    let mut line = String::new();
    if let Some(out) = stdout {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| BenchError::Echo(format!("unexpected first line {line:?}")))?
        .to_string();
    Ok((child, addr))
}

/// Runs the scenario and prints its report.
pub async fn run(args: CeilingArgs) -> Result<(), BenchError> {
    if args.nas == 0 {
        return Err(BenchError::BadArgument("--nas must be at least 1".into()));
    }
    if args.request_size < 20 || args.request_size > 4096 {
        return Err(BenchError::BadArgument(
            "--request-size must be 20..=4096".into(),
        ));
    }
    let total = args.load.total(args.nas)?;
    let (child, echo_addr) = match &args.echo {
        Some(a) => (None, a.clone()),
        None => {
            let (c, a) = spawn_echo(&args)?;
            (Some(c), a)
        }
    };
    let (addr, host) = resolve_server(&echo_addr).await?;
    let timeout = args.run.common.timeout;
    let connector = StreamConnector {
        tls: Some(args.tls.connector(&host)?),
        timeout,
    };
    // Spread the slots over the connections as the reverse run spreads them over NAS.
    let per_conn: Vec<usize> = match args.load.in_flight()? {
        InFlight::PerNas(k) => vec![k; args.nas],
        InFlight::Total(_) => (0..args.nas)
            .map(|i| total / args.nas + usize::from(i < total % args.nas))
            .collect(),
    };
    if per_conn.iter().any(|&k| k > 256) {
        return Err(BenchError::BadArgument(
            "at most 256 in flight per connection (identifiers)".into(),
        ));
    }
    let mut ios = Vec::with_capacity(args.nas);
    for _ in 0..args.nas {
        ios.push(Io::stream(connector.connect(addr).await?));
    }
    let plan = Plan::new(&args.run);
    let shared = Arc::new(Shared::default());
    let lanes_count = per_conn.iter().filter(|&&k| k > 0).count();
    let lanes: Vec<_> = ios
        .into_iter()
        .zip(per_conn.iter().copied())
        .filter(|(_, k)| *k > 0)
        .enumerate()
        .map(|(index, (io, slots))| Lane {
            io,
            exchange: EchoExchange {
                size: args.request_size,
            },
            slots,
            index,
            lanes: lanes_count,
            mode: args.load.mode(),
            plan,
            shared: Arc::clone(&shared),
        })
        .collect();
    let pid = args
        .run
        .common
        .server_pid
        .or_else(|| child.as_ref().map(|c| c.0.id()));
    let watch = ServerWatch::start(pid, plan.measure_from)?;
    let generator = report::watch_generator(plan.measure_from);
    let outcome = run_lanes(lanes).await;
    let mut out = Map::new();
    out.insert("scenario".into(), json!("ceiling"));
    let mut shape = args.load.describe(args.nas);
    if let Some(o) = shape.as_object_mut() {
        o.insert("connections".into(), json!(args.nas));
        o.insert("request_size".into(), json!(args.request_size));
        o.insert("reply_size".into(), json!(args.reply_size));
        o.insert("echo".into(), json!(addr.to_string()));
    }
    out.insert("shape".into(), shape);
    out.extend(report::load(&plan, &outcome));
    report::add_server(&mut out, watch).await;
    report::add_process(&mut out, "generator", generator).await;
    drop(child);
    report::print(&out, args.run.common.json);
    Ok(())
}
