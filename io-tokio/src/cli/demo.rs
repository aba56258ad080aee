//! `boomerang demo`: the whole reverse CoA flow in one process over loopback.
//!
//! One server driver (RadSec listener, UDP trigger server, HTTP API; `config/demo/server.conf`)
//! and three NAS-simulator drivers (`config/demo/nas.conf`, NAS-Identifiers `nas-a`,
//! `nas-b`, `nas-c`) that dial the server over TLS with their own client certificates.
//! Once the server has seen all three NAS devices, five triggers are sent (four over UDP,
//! signed, one over HTTP), their answers are checked against what is expected, and a
//! table is printed. Exit 0 only if every trigger got the expected answer.
//!
//! With `--cluster`: a `nats-server` (from PATH) on a free loopback port, three server
//! drivers joined as the cluster `demo` over it (`node-1`, `node-2`, `node-3`: the same
//! server configuration plus a `cluster { … }` section), and the three NAS simulators
//! connected to different nodes (`nas-a` to node-1, `nas-b` to node-2, `nas-c` to
//! node-3). Every trigger is sent to node-1, which forwards those for NAS devices held
//! by other nodes over NATS (docs/cluster.md). Everything is stopped afterwards, the
//! nats-server last.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
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
/// `--cluster`: the nodes' names (node N has `node_id` N).
const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];
/// `--cluster`: the node (index in [`NODES`]) each NAS simulator dials.
const CLUSTER_NAS: [(&str, usize); 3] = [("nas-a", 0), ("nas-b", 1), ("nas-c", 2)];
/// `--cluster`: the node (index in [`NODES`]) every trigger is sent to.
const ENTRY_NODE: usize = 0;
/// `--cluster`: bound on nats-server accepting connections once started.
const NATS_WAIT: Duration = Duration::from_secs(10);
/// `--cluster`: pause between two tries of a trigger answered "no such NAS" while the
/// entry node has not yet heard of the NAS over the bus.
const VIEW_RETRY: Duration = Duration::from_millis(20);

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
    /// Run three server nodes as one cluster over a local `nats-server` (it must be on
    /// PATH), with the NAS simulators connected to different nodes and every trigger
    /// sent to node-1 (see docs/cluster.md).
    #[arg(long)]
    pub cluster: bool,
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
    /// `--cluster` without `nats-server` on PATH.
    #[error(
        "`boomerang demo --cluster` needs nats-server on PATH; install it with \
         `sudo apt-get install nats-server` (Debian, Ubuntu) or, from a Boomerang \
         checkout, `bash .ci/setup`"
    )]
    NatsServerMissing,
    /// `nats-server` could not be started.
    #[error("nats-server: {0}")]
    NatsServer(String),
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
/// `name` is the file name it is compiled as; `extra` is appended to the configuration.
async fn bind_server(
    dir: &str,
    name: &str,
    extra: &str,
) -> Result<(Driver<TokioNet>, Ports), DemoError> {
    let mut last = String::new();
    for _ in 0..BIND_ATTEMPTS {
        let ports = Ports::pick().map_err(|e| DemoError::Ports(e.to_string()))?;
        let mut text = SERVER_CONFIG
            .replace("@RADSEC_PORT@", &ports.radsec.to_string())
            .replace("@UDP_PORT@", &ports.udp.to_string())
            .replace("@HTTP_PORT@", &ports.http.to_string());
        text.push_str(extra);
        let program = compile_text(dir, name, &text)?;
        let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
        match Driver::bind(TokioNet, program, driver_options(), metrics).await {
            Ok(driver) => return Ok((driver, ports)),
            Err(e @ StartError::Bind { .. }) => last = e.to_string(),
            Err(source) => {
                return Err(DemoError::Start {
                    what: format!("demo server ({name})"),
                    source,
                });
            }
        }
    }
    Err(DemoError::Ports(last))
}

/// Start the NAS simulator `nas` dialling RadSec port `radsec`.
async fn bind_nas(dir: &str, nas: &str, radsec: u16) -> Result<Driver<TokioNet>, DemoError> {
    let text = NAS_CONFIG
        .replace("@NAS_ID@", nas)
        .replace("@RADSEC_PORT@", &radsec.to_string());
    let program = compile_text(dir, &format!("{nas}.conf"), &text)?;
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    Driver::bind(TokioNet, program, driver_options(), metrics)
        .await
        .map_err(|source| DemoError::Start {
            what: format!("NAS simulator {nas}"),
            source,
        })
}

/// The RadSec connection id of each NAS-Identifier the server has seen.
async fn nas_connections(snapshot: &ConnectionsSnapshot) -> BTreeMap<String, u64> {
    snapshot
        .view()
        .await
        .map(|v| v.connections)
        .unwrap_or_default()
        .iter()
        .filter(|v| v.server_name == RADSEC_SERVER)
        .filter_map(|v| v.status.nas_identifier.clone().map(|n| (n, v.id)))
        .collect()
}

/// Wait (bounded) until every NAS of `expected` has a connection whose Status-Server
/// carried its NAS-Identifier.
async fn wait_for_nas(
    snapshot: &ConnectionsSnapshot,
    expected: &[&str],
) -> Result<BTreeMap<String, u64>, DemoError> {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        let seen = nas_connections(snapshot).await;
        let missing: Vec<&str> = expected
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

/// Send one trigger to the UDP trigger server at `udp` or the HTTP API at `http`; what
/// came back.
async fn attempt(trigger: &Trigger, udp: SocketAddr, http: SocketAddr) -> Result<Expect, String> {
    match &trigger.kind {
        TriggerKind::Udp(code, attributes) => send_udp(udp, *code, attributes)
            .await
            .map(|(code, cause)| Expect::Radius(code, cause)),
        TriggerKind::HttpPost(target) => send_http(http, target).await.map(Expect::Http),
    }
}

/// Judge one answer: the row's result text and whether it was the expected one.
fn judge(trigger: &Trigger, got: &Result<Expect, String>) -> (String, bool) {
    match got {
        Ok(got) => (got.text(), *got == trigger.expect),
        Err(e) => (format!("error: {e}"), false),
    }
}

/// Send one trigger and judge its answer.
async fn run_trigger(trigger: Trigger, ports: Ports, connections: &BTreeMap<String, u64>) -> Row {
    let sent_over = connections.get(trigger.nas).map_or_else(
        || "- (not connected)".to_owned(),
        |id| format!("conn #{id} ({})", trigger.nas),
    );
    let started = Instant::now();
    let got = attempt(
        &trigger,
        SocketAddr::from(([127, 0, 0, 1], ports.udp)),
        SocketAddr::from(([127, 0, 0, 1], ports.http)),
    )
    .await;
    let (result, ok) = judge(&trigger, &got);
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

    let (server, ports) = bind_server(dir_text, "server.conf", "").await?;
    let snapshot = server.connections();
    let mut nas_drivers = Vec::new();
    for nas in NAS_DEVICES {
        nas_drivers.push(bind_nas(dir_text, nas, ports.radsec).await?);
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
            let connections = wait_for_nas(&snapshot, &NAS_DEVICES).await?;
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

/// `--cluster`: the triggers, all sent to node-1; most are for NAS devices connected to
/// other nodes.
fn cluster_triggers() -> Vec<Trigger> {
    vec![
        Trigger {
            label: "UDP Disconnect-Request bob",
            nas: "nas-b",
            kind: TriggerKind::Udp(
                Code::DisconnectRequest,
                vec![("User-Name", "bob"), ("NAS-Identifier", "nas-b")],
            ),
            expect: Expect::Radius(Code::DisconnectAck, None),
        },
        Trigger {
            label: "UDP CoA-Request bob",
            nas: "nas-c",
            kind: TriggerKind::Udp(
                Code::CoaRequest,
                vec![
                    ("User-Name", "bob"),
                    ("NAS-Identifier", "nas-c"),
                    ("Filter-Id", "gold"),
                ],
            ),
            expect: Expect::Radius(Code::CoaAck, None),
        },
        Trigger {
            label: "HTTP POST /disconnect bob",
            nas: "nas-b",
            kind: TriggerKind::HttpPost("/disconnect?nas_identifier=nas-b&username=bob"),
            expect: Expect::Http(200),
        },
        Trigger {
            label: "UDP Disconnect-Request locked",
            nas: "nas-c",
            kind: TriggerKind::Udp(
                Code::DisconnectRequest,
                vec![("User-Name", "locked"), ("NAS-Identifier", "nas-c")],
            ),
            expect: Expect::Radius(Code::DisconnectNak, Some(504)),
        },
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

/// `--cluster`: the `cluster { … }` section of node `index` (0-based) of [`NODES`].
fn cluster_section(index: usize, nats_port: u16) -> String {
    format!(
        r#"
cluster {{
    name "demo";
    node "{node}";
    node_id {id};
    heartbeat 200ms;
    node_timeout 1s;
    nats {{
        server "nats://127.0.0.1:{nats_port}";
    }}
}}
"#,
        node = NODES[index],
        id = index + 1,
    )
}

/// `nats-server` on PATH, if any.
fn find_nats_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

/// A `nats-server` child process on a loopback port, killed (and reaped) on drop.
struct NatsProcess {
    child: Child,
    port: u16,
}

impl NatsProcess {
    /// Start `bin -a 127.0.0.1 -p PORT` on a free port and wait (bounded) until it
    /// accepts connections; another port is tried if it exits (the port was taken).
    async fn start(bin: &Path) -> Result<NatsProcess, DemoError> {
        let mut last = String::new();
        for _ in 0..BIND_ATTEMPTS {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| DemoError::Ports(e.to_string()))?
                .port();
            let child = std::process::Command::new(bin)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| DemoError::NatsServer(format!("cannot run {}: {e}", bin.display())))?;
            let mut nats = NatsProcess { child, port };
            let deadline = Instant::now() + NATS_WAIT;
            loop {
                if let Ok(Some(status)) = nats.child.try_wait() {
                    last = format!("exited with {status} on port {port}");
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Ok(nats);
                }
                if Instant::now() >= deadline {
                    return Err(DemoError::NatsServer(format!(
                        "not accepting on 127.0.0.1:{port} after {}s",
                        NATS_WAIT.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Err(DemoError::NatsServer(last))
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--cluster`: one trigger sent to the entry node. A trigger for a NAS that is
/// connected to some node but answered "no such NAS" (502, or HTTP 404) is sent again
/// (bounded) while the entry node has not yet heard of the NAS over the bus; such an
/// answer means it reached no NAS. The row and how many times it was sent again.
async fn run_cluster_trigger(
    trigger: Trigger,
    entry: Ports,
    held_by: &BTreeMap<String, (usize, u64)>,
) -> (Row, usize) {
    let udp = SocketAddr::from(([127, 0, 0, 1], entry.udp));
    let http = SocketAddr::from(([127, 0, 0, 1], entry.http));
    let sent_over = match held_by.get(trigger.nas) {
        None => "- (not connected)".to_owned(),
        Some((node, _)) if *node == ENTRY_NODE => format!("{} (local)", NODES[ENTRY_NODE]),
        Some((node, _)) => format!("{} → {}", NODES[ENTRY_NODE], NODES[*node]),
    };
    let deadline = Instant::now() + CONNECT_WAIT;
    let mut retries = 0;
    loop {
        let started = Instant::now();
        let got = attempt(&trigger, udp, http).await;
        let unknown = matches!(got, Ok(Expect::Radius(_, Some(502)) | Expect::Http(404)));
        if unknown && held_by.contains_key(trigger.nas) && Instant::now() < deadline {
            retries += 1;
            tokio::time::sleep(VIEW_RETRY).await;
            continue;
        }
        let (result, ok) = judge(&trigger, &got);
        let row = Row {
            latency: started.elapsed(),
            trigger,
            sent_over,
            result,
            ok,
        };
        return (row, retries);
    }
}

/// `--cluster`: start nats-server, three nodes and the NAS simulators, send the
/// triggers to node-1, stop everything; the rows of the table and notes for under it.
async fn demo_cluster(dir: &Path) -> Result<(Vec<Row>, Vec<String>), DemoError> {
    let nats_bin = find_nats_server().ok_or(DemoError::NatsServerMissing)?;
    let dir_text = dir.to_str().ok_or_else(|| DemoError::DataDir {
        dir: dir.to_owned(),
        reason: "not UTF-8".into(),
    })?;
    let clients: Vec<ClientSpec> = NAS_DEVICES.iter().map(|n| ClientSpec::new(*n)).collect();
    DevPki::generate(&dir.join("certs"), &[], &clients)?;
    let nats = NatsProcess::start(&nats_bin).await?;

    let mut nodes = Vec::new();
    for (index, node) in NODES.iter().enumerate() {
        let section = cluster_section(index, nats.port);
        nodes.push(bind_server(dir_text, &format!("{node}.conf"), &section).await?);
    }
    let snapshots: Vec<_> = nodes.iter().map(|(d, _)| d.connections()).collect();
    let ports: Vec<Ports> = nodes.iter().map(|(_, p)| *p).collect();
    let mut nas_drivers = Vec::new();
    for (nas, node) in CLUSTER_NAS {
        nas_drivers.push(bind_nas(dir_text, nas, ports[node].radsec).await?);
    }
    let listing: Vec<String> = NODES
        .iter()
        .zip(&ports)
        .map(|(node, p)| {
            format!(
                "{node} (RadSec :{}, UDP :{}, HTTP :{})",
                p.radsec, p.udp, p.http
            )
        })
        .collect();
    let placement: Vec<String> = CLUSTER_NAS
        .iter()
        .map(|(nas, node)| format!("{nas} → {}", NODES[*node]))
        .collect();
    println!(
        "boomerang demo --cluster: nats-server 127.0.0.1:{}; cluster \"demo\": {}; NAS simulators {}; every trigger is sent to {}",
        nats.port,
        listing.join(", "),
        placement.join(", "),
        NODES[ENTRY_NODE]
    );

    let mut stops = Vec::new();
    let mut runs = Vec::new();
    for driver in nodes.into_iter().map(|(d, _)| d).chain(nas_drivers) {
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        runs.push(driver.run(
            async move {
                let _ = stopped.await;
            },
            Box::new(OsRandom::new()),
        ));
    }
    let entry = ports[ENTRY_NODE];
    let scenario = async move {
        let outcome = async {
            let mut held_by = BTreeMap::new();
            for (index, snapshot) in snapshots.iter().enumerate() {
                let expected: Vec<&str> = CLUSTER_NAS
                    .iter()
                    .filter(|(_, node)| *node == index)
                    .map(|(nas, _)| *nas)
                    .collect();
                for (nas, id) in wait_for_nas(snapshot, &expected).await? {
                    if expected.contains(&nas.as_str()) {
                        held_by.insert(nas, (index, id));
                    }
                }
            }
            let list: Vec<String> = held_by
                .iter()
                .map(|(nas, (node, id))| format!("{nas} on {} conn #{id}", NODES[*node]))
                .collect();
            println!("connected: {}\n", list.join(", "));
            let mut rows = Vec::new();
            let mut notes = Vec::new();
            for trigger in cluster_triggers() {
                let (row, retries) = run_cluster_trigger(trigger, entry, &held_by).await;
                if retries > 0 {
                    notes.push(format!(
                        "#{}: sent {} more time(s): {} had not yet heard of {} over the bus \
                         and answered \"not connected\" (a trigger that finds no NAS reaches none)",
                        rows.len() + 1,
                        retries,
                        NODES[ENTRY_NODE],
                        row.trigger.nas
                    ));
                }
                rows.push(row);
            }
            Ok((rows, notes))
        }
        .await;
        for stop in stops {
            let _ = stop.send(());
        }
        outcome
    };
    let all = async { tokio::join!(scenario, futures_join_all(runs)) };
    let result = tokio::time::timeout(CONNECT_WAIT * 2 + SHUTDOWN_WAIT * 2, all).await;
    // The nodes have closed their bus connections: the server can go.
    drop(nats);
    let (outcome, _summaries) = result.map_err(|_| DemoError::Shutdown)?;
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
    let cluster = args.cluster;
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)
        .and_then(|runtime| {
            runtime.block_on(async {
                if cluster {
                    demo_cluster(&dir).await
                } else {
                    demo(&dir).await.map(|rows| (rows, Vec::new()))
                }
            })
        });
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match outcome {
        Ok((rows, notes)) => {
            let mut out = std::io::stdout();
            let mut text = table(&rows);
            for note in notes {
                let _ = writeln!(text, "note: {note}");
            }
            let _ = out.write_all(text.as_bytes());
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
    fn cluster_node_configurations_compile_with_their_cluster_section() {
        let dir = fresh_temp_dir().unwrap();
        let text = dir.to_str().unwrap().to_owned();
        let clients: Vec<ClientSpec> = NAS_DEVICES.iter().map(|n| ClientSpec::new(*n)).collect();
        DevPki::generate(&dir.join("certs"), &[], &clients).unwrap();
        let compiled: Vec<_> = (0..NODES.len())
            .map(|index| {
                let mut server = SERVER_CONFIG
                    .replace("@RADSEC_PORT@", "20830")
                    .replace("@UDP_PORT@", "37990")
                    .replace("@HTTP_PORT@", "40000");
                server.push_str(&cluster_section(index, 4222));
                compile_text(&text, &format!("{}.conf", NODES[index]), &server)
            })
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        for (index, program) in compiled.into_iter().enumerate() {
            let program = program.unwrap();
            let cluster = program.cluster.as_ref().expect("a cluster section");
            assert_eq!(cluster.name, "demo");
            assert_eq!(cluster.node, NODES[index]);
            assert_eq!(usize::from(cluster.node_id), index + 1);
            assert_eq!(cluster.nats.servers, ["nats://127.0.0.1:4222"]);
        }
    }

    #[test]
    fn the_cluster_triggers_are_all_for_nas_devices_on_other_nodes_but_two() {
        let rows = cluster_triggers();
        let placed = |nas: &str| CLUSTER_NAS.iter().find(|(n, _)| *n == nas).map(|p| p.1);
        let remote = rows
            .iter()
            .filter(|t| placed(t.nas).is_some_and(|node| node != ENTRY_NODE))
            .count();
        assert_eq!(remote, rows.len() - 2, "one local, one for no NAS");
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
