//! `boomerang demo`: the whole reverse CoA flow in one process over loopback.
//!
//! One server driver (RadSec listener, UDP trigger server, HTTP API; `config/demo/server.conf`)
//! and three NAS-simulator drivers (`config/demo/nas.conf`, NAS-Identifiers `nas-a`,
//! `nas-b`, `nas-c`) that dial the server over TLS with their own client certificates.
//! Once the server has seen all three NAS devices, five triggers are sent (four over UDP,
//! signed, one over HTTP), their answers are checked against what is expected, and a
//! table is printed. Exit 0 only if every trigger got the expected answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boomerang_core::lang::compile::{CompileOptions, compile};
use boomerang_core::lang::diag::has_errors;
use boomerang_core::lang::program::Program;
use boomerang_core::lang::{load_text, render_all};
use boomerang_core::radius::attr::ERROR_CAUSE;
use boomerang_core::radius::code::Code;
use boomerang_core::radius::dictionary::Dictionary;
use boomerang_core::rng::RandomSource as _;
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::client::{attrs, code_name, net as client_net, oneshot as client_oneshot};
use crate::config_files::{FsDictionarySource, FsLoader};
use crate::driver::rng::OsRandom;
use crate::driver::{ConnectionsSnapshot, Driver, DriverOptions, RunSummary, StartError};
use crate::metrics::Metrics;
use crate::net::TokioNet;
use crate::pki::{ClientSpec, DevPki, PkiError};

/// The demo server's configuration, with `@…_PORT@` placeholders.
pub const SERVER_CONFIG: &str = include_str!("../../../config/demo/server.conf");
/// One simulated NAS's configuration, with `@NAS_ID@` and `@RADSEC_PORT@` placeholders.
pub const NAS_CONFIG: &str = include_str!("../../../config/demo/nas.conf");

/// The simulated NAS devices (NAS-Identifier and client certificate name).
const NAS_DEVICES: [&str; 3] = ["nas-a", "nas-b", "nas-c"];
/// The UDP trigger secret of `config/demo/server.conf`.
const TRIGGER_SECRET: &[u8] = b"demo-trigger";
/// The RadSec server's name in `config/demo/server.conf`.
const RADSEC_SERVER: &str = "RADSEC";
/// Bound on waiting for the NAS devices to connect.
const CONNECT_WAIT: Duration = Duration::from_secs(20);
/// Bound on one trigger's answer (UDP: per attempt, with one retransmission).
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on every driver's shutdown.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);
/// Attempts at finding free ports (another process may take a port between picking it
/// and binding it).
const BIND_ATTEMPTS: usize = 5;

/// Arguments of `boomerang demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the development PKI and the demo's configuration files go. Without it, a
    /// fresh directory under the system's temporary directory, removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log level of the drivers' logs on stderr (`error`, `warn`, `info`, `debug`,
    /// `trace`) or a full `RUST_LOG` filter; `RUST_LOG` wins when set.
    #[arg(long, value_name = "LEVEL", default_value = "error")]
    pub log_level: String,
}

/// Why the demo could not run its triggers at all.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The data directory could not be created or is not UTF-8.
    #[error("data directory {dir}: {reason}")]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The development PKI could not be created.
    #[error("cannot create the development PKI: {0}")]
    Pki(#[from] PkiError),
    /// An embedded configuration does not compile (a bug of the build).
    #[error("the demo configuration `{name}` does not compile:\n{diagnostics}")]
    Config {
        /// The configuration's file name.
        name: String,
        /// The rendered diagnostics.
        diagnostics: String,
    },
    /// A driver could not start.
    #[error("{what}: {source}")]
    Start {
        /// Which driver.
        what: String,
        /// Why.
        source: StartError,
    },
    /// No free ports could be bound.
    #[error("no free loopback ports after {BIND_ATTEMPTS} attempts: {0}")]
    Ports(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Not every NAS connected in time.
    #[error("NAS devices not connected after {}s: {missing}", CONNECT_WAIT.as_secs())]
    NasNotConnected {
        /// The NAS-Identifiers the server has not seen.
        missing: String,
    },
    /// A driver did not stop in time.
    #[error("the drivers did not shut down within {}s", SHUTDOWN_WAIT.as_secs())]
    Shutdown,
}

/// What a trigger is expected to get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A RADIUS reply with this code and, if given, this Error-Cause.
    Radius(Code, Option<u32>),
    /// An HTTP status.
    Http(u16),
}

impl Expect {
    fn text(self) -> String {
        match self {
            Expect::Radius(code, None) => code_name(code),
            Expect::Radius(code, Some(cause)) => {
                format!("{} Error-Cause={cause}", code_name(code))
            }
            Expect::Http(status) => format!("HTTP {status}"),
        }
    }
}

/// One trigger of the demo.
#[derive(Debug, Clone)]
struct Trigger {
    /// What is sent, for the table.
    label: &'static str,
    /// The NAS-Identifier it targets.
    nas: &'static str,
    /// How it is sent.
    kind: TriggerKind,
    /// The expected answer.
    expect: Expect,
}

#[derive(Debug, Clone)]
enum TriggerKind {
    /// A signed RADIUS request over UDP with these attributes.
    Udp(Code, Vec<(&'static str, &'static str)>),
    /// An HTTP POST of this path and query.
    HttpPost(&'static str),
}

fn triggers() -> Vec<Trigger> {
    vec![
        Trigger {
            label: "UDP Disconnect-Request bob",
            nas: "nas-a",
            kind: TriggerKind::Udp(
                Code::DisconnectRequest,
                vec![("User-Name", "bob"), ("NAS-Identifier", "nas-a")],
            ),
            expect: Expect::Radius(Code::DisconnectAck, None),
        },
        Trigger {
            label: "UDP CoA-Request bob",
            nas: "nas-b",
            kind: TriggerKind::Udp(
                Code::CoaRequest,
                vec![
                    ("User-Name", "bob"),
                    ("NAS-Identifier", "nas-b"),
                    ("Filter-Id", "gold"),
                ],
            ),
            expect: Expect::Radius(Code::CoaAck, None),
        },
        Trigger {
            label: "HTTP POST /disconnect bob",
            nas: "nas-c",
            kind: TriggerKind::HttpPost("/disconnect?nas_identifier=nas-c&username=bob"),
            expect: Expect::Http(200),
        },
        Trigger {
            label: "UDP Disconnect-Request locked",
            nas: "nas-a",
            kind: TriggerKind::Udp(
                Code::DisconnectRequest,
                vec![("User-Name", "locked"), ("NAS-Identifier", "nas-a")],
            ),
            expect: Expect::Radius(Code::DisconnectNak, Some(504)),
        },
        Trigger {
            label: "UDP Disconnect-Request bob",
            nas: "nas-x",
            kind: TriggerKind::Udp(
                Code::DisconnectRequest,
                vec![("User-Name", "bob"), ("NAS-Identifier", "nas-x")],
            ),
            expect: Expect::Radius(Code::DisconnectNak, Some(502)),
        },
    ]
}

/// One row of the result table.
#[derive(Debug)]
struct Row {
    trigger: Trigger,
    sent_over: String,
    result: String,
    latency: Duration,
    ok: bool,
}

/// The loopback addresses the server listens on.
#[derive(Debug, Clone, Copy)]
struct Ports {
    radsec: u16,
    udp: u16,
    http: u16,
}

impl Ports {
    /// Three ports the OS just handed out (held open together, so they differ).
    fn pick() -> std::io::Result<Ports> {
        let radsec = std::net::TcpListener::bind("127.0.0.1:0")?;
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let http = std::net::TcpListener::bind("127.0.0.1:0")?;
        Ok(Ports {
            radsec: radsec.local_addr()?.port(),
            udp: udp.local_addr()?.port(),
            http: http.local_addr()?.port(),
        })
    }
}

fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Compile `text` as if it were the file `name` in `dir` (certificate paths are relative
/// to it).
fn compile_text(dir: &str, name: &str, text: &str) -> Result<Arc<Program>, DemoError> {
    let path = format!("{dir}/{name}");
    let loaded = load_text(&FsLoader, &path, text);
    let options = CompileOptions::new().with_dictionary_source(FsDictionarySource);
    let compiled = compile(&loaded, &options);
    match compiled.program {
        Some(program) if !has_errors(&compiled.diagnostics) => Ok(Arc::new(program)),
        _ => Err(DemoError::Config {
            name: name.to_owned(),
            diagnostics: render_all(&compiled.diagnostics, &loaded.sources),
        }),
    }
}

fn driver_options() -> DriverOptions {
    DriverOptions {
        management: false,
        shutdown_deadline: Duration::from_secs(2),
        ..DriverOptions::default()
    }
}

/// Bind the demo server on free ports, trying again with new ports if one was taken.
async fn bind_server(dir: &str) -> Result<(Driver<TokioNet>, Ports), DemoError> {
    let mut last = String::new();
    for _ in 0..BIND_ATTEMPTS {
        let ports = Ports::pick().map_err(|e| DemoError::Ports(e.to_string()))?;
        let text = SERVER_CONFIG
            .replace("@RADSEC_PORT@", &ports.radsec.to_string())
            .replace("@UDP_PORT@", &ports.udp.to_string())
            .replace("@HTTP_PORT@", &ports.http.to_string());
        let program = compile_text(dir, "server.conf", &text)?;
        let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
        match Driver::bind(TokioNet, program, driver_options(), metrics).await {
            Ok(driver) => return Ok((driver, ports)),
            Err(e @ StartError::Bind { .. }) => last = e.to_string(),
            Err(source) => {
                return Err(DemoError::Start {
                    what: "demo server".into(),
                    source,
                });
            }
        }
    }
    Err(DemoError::Ports(last))
}

/// The RadSec connection id of each NAS-Identifier the server has seen.
async fn nas_connections(snapshot: &ConnectionsSnapshot) -> BTreeMap<String, u64> {
    snapshot
        .view()
        .await
        .map(|v| v.connections)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.server_name == RADSEC_SERVER)
        .filter_map(|v| v.status.nas_identifier.map(|n| (n, v.id)))
        .collect()
}

/// Wait (bounded) until every NAS has a connection whose Status-Server carried its
/// NAS-Identifier.
async fn wait_for_nas(snapshot: &ConnectionsSnapshot) -> Result<BTreeMap<String, u64>, DemoError> {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        let seen = nas_connections(snapshot).await;
        let missing: Vec<&str> = NAS_DEVICES
            .iter()
            .copied()
            .filter(|n| !seen.contains_key(*n))
            .collect();
        if missing.is_empty() {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            return Err(DemoError::NasNotConnected {
                missing: missing.join(", "),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Send a signed UDP request (with Message-Authenticator) and describe the verified
/// answer, e.g. `Disconnect-NAK Error-Cause=504`.
async fn send_udp(
    addr: SocketAddr,
    code: Code,
    attributes: &[(&str, &str)],
) -> Result<(Code, Option<u32>), String> {
    let dict = Dictionary::builtin();
    let mut encoded = Vec::new();
    for (name, value) in attributes {
        let text =
            attrs::parse_argument(&format!("{name}={value}"), "demo").map_err(|e| e.to_string())?;
        encoded.push(attrs::encode(dict, &text).map_err(|e| e.to_string())?);
    }
    let mut rng = client_net::OsRandom::new();
    let mut id = [0u8; 1];
    rng.fill(&mut id);
    let request = client_oneshot::build_request(
        dict,
        code,
        id[0],
        &encoded,
        TRIGGER_SECRET,
        Some(client_oneshot::now_epoch_seconds()),
        &mut rng,
    )
    .map_err(|e| e.to_string())?;
    let reply = client_oneshot::exchange_udp(addr, &request.wire, id[0], TRIGGER_TIMEOUT, 1)
        .await
        .map_err(|e| e.to_string())?;
    client_oneshot::check_reply(&request.packet, &reply, TRIGGER_SECRET, true)
        .map_err(|e| e.to_string())?;
    let cause = reply
        .first_value(ERROR_CAUSE)
        .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
        .map(u32::from_be_bytes);
    Ok((reply.code, cause))
}

/// POST `target` (path and query) to the HTTP API with a plain HTTP/1.1 request and
/// return the response status.
async fn send_http(addr: SocketAddr, target: &str) -> Result<u16, String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP response: {text:?}"))
    };
    tokio::time::timeout(TRIGGER_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no HTTP answer within {}s", TRIGGER_TIMEOUT.as_secs()))?
}

/// Send one trigger and judge its answer.
async fn run_trigger(trigger: Trigger, ports: Ports, connections: &BTreeMap<String, u64>) -> Row {
    let sent_over = connections.get(trigger.nas).map_or_else(
        || "- (not connected)".to_owned(),
        |id| format!("conn #{id} ({})", trigger.nas),
    );
    let started = Instant::now();
    let (result, ok) = match &trigger.kind {
        TriggerKind::Udp(code, attributes) => {
            let addr = SocketAddr::from(([127, 0, 0, 1], ports.udp));
            match send_udp(addr, *code, attributes).await {
                Ok((code, cause)) => {
                    let got = Expect::Radius(code, cause);
                    (got.text(), got == trigger.expect)
                }
                Err(e) => (format!("error: {e}"), false),
            }
        }
        TriggerKind::HttpPost(target) => {
            let addr = SocketAddr::from(([127, 0, 0, 1], ports.http));
            match send_http(addr, target).await {
                Ok(status) => {
                    let got = Expect::Http(status);
                    (got.text(), got == trigger.expect)
                }
                Err(e) => (format!("error: {e}"), false),
            }
        }
    };
    Row {
        latency: started.elapsed(),
        trigger,
        sent_over,
        result,
        ok,
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<2} {:<30} {:<10} {:<18} {:<31} {:>10}  check",
        "#", "trigger", "target-NAS", "sent-over", "result", "latency"
    );
    for (i, row) in rows.iter().enumerate() {
        let check = if row.ok {
            "ok".to_owned()
        } else {
            format!("UNEXPECTED (expected {})", row.trigger.expect.text())
        };
        let _ = writeln!(
            out,
            "{:<2} {:<30} {:<10} {:<18} {:<31} {:>7.2} ms  {check}",
            i + 1,
            row.trigger.label,
            row.trigger.nas,
            row.sent_over,
            row.result,
            row.latency.as_secs_f64() * 1000.0,
        );
    }
    let passed = rows.iter().filter(|r| r.ok).count();
    if passed == rows.len() {
        let _ = writeln!(out, "demo OK: {passed}/{} as expected", rows.len());
    } else {
        let failed: Vec<String> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.ok)
            .map(|(i, _)| format!("#{}", i + 1))
            .collect();
        let _ = writeln!(
            out,
            "demo FAILED: {passed}/{} as expected; unexpected: {}",
            rows.len(),
            failed.join(", ")
        );
    }
    out
}

/// Start everything, run the triggers, stop everything; the rows of the table.
async fn demo(dir: &Path) -> Result<Vec<Row>, DemoError> {
    let dir_text = dir.to_str().ok_or_else(|| DemoError::DataDir {
        dir: dir.to_owned(),
        reason: "not UTF-8".into(),
    })?;
    let clients: Vec<ClientSpec> = NAS_DEVICES.iter().map(|n| ClientSpec::new(*n)).collect();
    DevPki::generate(&dir.join("certs"), &[], &clients)?;

    let (server, ports) = bind_server(dir_text).await?;
    let snapshot = server.connections();
    let mut nas_drivers = Vec::new();
    for nas in NAS_DEVICES {
        let text = NAS_CONFIG
            .replace("@NAS_ID@", nas)
            .replace("@RADSEC_PORT@", &ports.radsec.to_string());
        let program = compile_text(dir_text, &format!("{nas}.conf"), &text)?;
        let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
        let driver = Driver::bind(TokioNet, program, driver_options(), metrics)
            .await
            .map_err(|source| DemoError::Start {
                what: format!("NAS simulator {nas}"),
                source,
            })?;
        nas_drivers.push(driver);
    }
    println!(
        "boomerang demo: server RadSec 127.0.0.1:{}, UDP triggers 127.0.0.1:{}, HTTP API 127.0.0.1:{}; NAS simulators {}",
        ports.radsec,
        ports.udp,
        ports.http,
        NAS_DEVICES.join(", ")
    );

    // Every driver runs until its shutdown sender fires (or is dropped).
    let mut stops = Vec::new();
    let mut runs = Vec::new();
    for driver in std::iter::once(server).chain(nas_drivers) {
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        runs.push(driver.run(
            async move {
                let _ = stopped.await;
            },
            Box::new(OsRandom::new()),
        ));
    }
    let scenario = async move {
        let outcome = async {
            let connections = wait_for_nas(&snapshot).await?;
            let list: Vec<String> = connections
                .iter()
                .map(|(nas, id)| format!("{nas} on conn #{id}"))
                .collect();
            println!("connected: {}\n", list.join(", "));
            let mut rows = Vec::new();
            for trigger in triggers() {
                rows.push(run_trigger(trigger, ports, &connections).await);
            }
            Ok(rows)
        }
        .await;
        for stop in stops {
            let _ = stop.send(());
        }
        outcome
    };
    let all = async {
        let (outcome, summaries) = tokio::join!(scenario, futures_join_all(runs));
        (outcome, summaries)
    };
    let (outcome, _summaries) = tokio::time::timeout(CONNECT_WAIT + SHUTDOWN_WAIT * 2, all)
        .await
        .map_err(|_| DemoError::Shutdown)?;
    outcome
}

/// Poll every driver's run future to completion, in one task.
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<RunSummary>
where
    F: std::future::Future<Output = RunSummary>,
{
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<RunSummary>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (fut, slot) in set.iter_mut().zip(done.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            match fut.as_mut().poll(cx) {
                std::task::Poll::Ready(summary) => *slot = Some(summary),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(done.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}

/// A fresh directory for the demo's files under the system's temporary directory.
fn fresh_temp_dir() -> Result<PathBuf, DemoError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("boomerang-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| DemoError::DataDir {
        dir: dir.clone(),
        reason: e.to_string(),
    })?;
    Ok(dir)
}

/// Run `boomerang demo`.
pub fn run(args: DemoArgs) -> ExitCode {
    init_logging(&args.log_level);
    let (dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => match fresh_temp_dir() {
            Ok(dir) => (dir, true),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)
        .and_then(|runtime| runtime.block_on(demo(&dir)));
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match outcome {
        Ok(rows) => {
            let mut out = std::io::stdout();
            let _ = out.write_all(table(&rows).as_bytes());
            let _ = out.flush();
            if rows.iter().all(|r| r.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_configurations_compile_with_ports_substituted() {
        let dir = fresh_temp_dir().unwrap();
        let text = dir.to_str().unwrap().to_owned();
        let clients: Vec<ClientSpec> = NAS_DEVICES.iter().map(|n| ClientSpec::new(*n)).collect();
        DevPki::generate(&dir.join("certs"), &[], &clients).unwrap();
        let server = SERVER_CONFIG
            .replace("@RADSEC_PORT@", "20830")
            .replace("@UDP_PORT@", "37990")
            .replace("@HTTP_PORT@", "40000");
        let compiled = compile_text(&text, "server.conf", &server);
        let nas = NAS_CONFIG
            .replace("@NAS_ID@", "nas-b")
            .replace("@RADSEC_PORT@", "20830");
        let compiled_nas = compile_text(&text, "nas-b.conf", &nas);
        let _ = std::fs::remove_dir_all(&dir);
        compiled.unwrap();
        compiled_nas.unwrap();
    }

    #[test]
    fn table_reports_unexpected_rows() {
        let rows: Vec<Row> = triggers()
            .into_iter()
            .enumerate()
            .map(|(i, trigger)| Row {
                sent_over: "conn #1 (nas-a)".into(),
                result: trigger.expect.text(),
                latency: Duration::from_millis(3),
                ok: i != 3,
                trigger,
            })
            .collect();
        let text = table(&rows);
        assert!(
            text.contains("demo FAILED: 4/5 as expected; unexpected: #4"),
            "{text}"
        );
        assert!(text.contains("UNEXPECTED (expected Disconnect-NAK Error-Cause=504)"));
    }
}
