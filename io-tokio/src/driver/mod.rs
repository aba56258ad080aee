//! The production driver: sockets, TLS, HTTP, SQLite and the clock around the sans-IO
//! [`Engine`](boomerang_core::engine::Engine).
//!
//! Structure (one process):
//!
//! ```text
//!  UDP recv loops ─┐                                   ┌─▶ UDP send_to
//!  accept loops ───┤  bounded mpsc   ┌─────────────┐   ├─▶ per-connection writer tasks
//!  (+ TLS, reader) ├───────────────▶ │ engine task │ ──┼─▶ HTTP oneshot answers
//!  HTTP handlers ──┤     Event       │ owns Engine │   ├─▶ SQLite executor tasks
//!  SQL tasks ──────┘                 └─────────────┘   └─▶ tracing, metrics, snapshot
//! ```
//!
//! The engine task is the only code that calls the engine. Its `select!` is biased:
//! shutdown first, then events, then the engine's next timer, so that a busy event
//! stream cannot starve shutdown and timers never run ahead of events already queued.
//! The clock is tokio's (`tokio::time::Instant`, virtual under a simulated runtime) plus
//! `SystemTime` for wall-clock timestamps.

pub mod bus;
mod datagrams;
mod engine_loop;
mod http;
mod listeners;
mod outbound;
mod reload;
pub mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::engine::dialer::AttemptId;
use boomerang_core::engine::{ConnId, EngineCounts, EngineOptions, HttpRequest, Input, Limits};
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::{
    BackendKind, CertificateId, CertificateKind, Program, RadiusListen, ServerKind, ServerTls,
    TlsVersion as ProgramTlsVersion,
};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::conn_limit::ConnLimits;
use crate::http_conn::Deadlines;
use crate::management::{
    Access, ClusterView, ConnectionView, ConnectionsSource, ManagementOptions, ManagementState,
    Scope,
};
use crate::metrics::Metrics;
use crate::net::{
    BindOptions, DEFAULT_LISTEN_BACKLOG, DatagramSocket, Net, StreamListener, StreamOptions,
    TcpKeepalive,
};
use crate::sqlite::{SqlError, SqliteConfig, SqliteExecutor};
use crate::tls::{ServerTlsSettings, TlsConfigError, TlsVersion};

pub use engine_loop::RunSummary;
pub use reload::{ReloadRefused, ReloadReport, Reloader};

/// How the driver behaves; [`DriverOptions::default`] gives the daemon's settings.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// How long shutdown waits for work in flight before closing connections (10 s).
    pub shutdown_deadline: Duration,
    /// Bound on a TLS handshake of an accepted connection, RadSec or HTTPS (10 s).
    pub handshake_timeout: Duration,
    /// Listen backlog of every stream listener (RADIUS TCP/TLS, HTTP, management):
    /// connections the kernel completes before we accept them. The kernel caps it at
    /// `net.core.somaxconn`. Default [`DEFAULT_LISTEN_BACKLOG`] (4096).
    pub listen_backlog: u32,
    /// Largest HTTP request body accepted (64 KiB); larger → 413.
    pub http_body_limit: usize,
    /// How long an HTTP request may wait for the engine's answer (60 s); then 504.
    pub http_timeout: Duration,
    /// Capacity of the event queue into the engine task (socket tasks wait when full).
    pub event_queue: usize,
    /// Receive buffer asked for on every UDP RADIUS listener without its own
    /// `receive_buffer` (4 MiB: room for well over 1,000 triggers arriving at once;
    /// the kernel grants at most `net.core.rmem_max`).
    pub udp_receive_buffer: usize,
    /// Packets queued for one connection's writer; a connection that does not drain
    /// its queue is closed rather than buffered without bound.
    pub write_queue: usize,
    /// Bind the management listener of the program (`management { listen … }`).
    pub management: bool,
    /// The engine's bounds.
    pub limits: Limits,
    /// `env.*` as pipelines see it.
    pub env: BTreeMap<String, String>,
    /// Connections per RADIUS TCP/TLS listening socket, in all (50,000) and per source
    /// address (0: none, since NAS fleets behind one NAT share an address); a
    /// listener's `limits { … }` replaces them.
    pub stream_limits: ConnLimits,
    /// TLS handshakes in progress at once from one source address, per RadSec or HTTPS
    /// listening socket: a client that opens sockets and never finishes a handshake
    /// holds at most this many; 0: no limit. Default [`default_handshakes_per_source`]:
    /// an eighth of the process's open-file limit, between 64 and 4,096 (a fleet
    /// behind one NAT reconnecting at once is not refused, one address cannot take
    /// the descriptors every other client needs).
    pub handshakes_per_source: usize,
    /// Connections per HTTP(S) listening socket, in all (4,096) and per source address
    /// (1,024: one orchestrator may fire a thousand triggers at once); a server's
    /// `listen { limits { … } }` replaces them.
    pub http_limits: ConnLimits,
    /// Header and idle timeouts of HTTP(S) connections (10 s and 60 s); a server's
    /// `header_timeout` and `idle_timeout` replace them.
    pub http_deadlines: Deadlines,
    /// Limits and timeouts of the management listener's connections (256 in all, 64
    /// per source, 10 s and 60 s); `management { listen { limits { … } } }` replaces
    /// the limits.
    pub management_options: ManagementOptions,
    /// Where wall-clock time (Event-Timestamp, `connection.connected`, log times the
    /// engine sees) comes from: `SystemTime::now` in the daemon, the virtual clock in a
    /// simulated world.
    pub wall_clock: fn() -> std::time::SystemTime,
    /// The number of the first connection (1): an in-process restart continues
    /// from the previous run's [`RunSummary::next_conn`], so that no
    /// `connection.id` names two connections in one process (one stored in a
    /// database before the restart then names none). In a cluster the node's own
    /// range and a run drawn at random decide instead.
    pub first_conn: u64,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            shutdown_deadline: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            listen_backlog: DEFAULT_LISTEN_BACKLOG,
            http_body_limit: 64 * 1024,
            http_timeout: Duration::from_secs(60),
            event_queue: 4096,
            udp_receive_buffer: DEFAULT_UDP_RECEIVE_BUFFER,
            write_queue: 1024,
            management: true,
            limits: Limits::default(),
            env: BTreeMap::new(),
            wall_clock: std::time::SystemTime::now,
            stream_limits: ConnLimits {
                connections: default_stream_connections(),
                per_source: 0,
            },
            handshakes_per_source: default_handshakes_per_source(),
            http_limits: ConnLimits {
                connections: 4096,
                per_source: 1024,
            },
            http_deadlines: Deadlines {
                header: Duration::from_secs(10),
                idle: Duration::from_secs(60),
            },
            management_options: ManagementOptions::default(),
            first_conn: 1,
        }
    }
}

/// Connections one RADIUS/TCP or RadSec listening socket holds at once, by default:
/// 50,000, or the open-file limit in force less a tenth of it (at least 64, at most
/// 4,096) kept for everything else — management, HTTP, UDP sockets, databases,
/// `connect` backends — whichever is lower. Connections from inside a client range
/// that hold descriptors (silent ones are closed after a minute) then cannot take
/// the last descriptors the health checks and the operator need.
pub fn default_stream_connections() -> usize {
    stream_connections_for(open_file_limit())
}

/// The open-file limit in force (`u64::MAX` when unlimited).
fn open_file_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// [`default_stream_connections`] for an open-file limit of `files`.
pub fn stream_connections_for(files: u64) -> usize {
    let reserve = (files / 10).clamp(64, 4096);
    let left = files.saturating_sub(reserve).max(1);
    usize::try_from(left.min(50_000)).unwrap_or(50_000)
}

/// TLS handshakes one source address may have in progress per listening socket, by
/// default: an eighth of the open-file limit in force, at least 64 and at most 4,096.
pub fn default_handshakes_per_source() -> usize {
    let files = open_file_limit();
    usize::try_from((files / 8).clamp(64, 4096)).unwrap_or(4096)
}

/// Default receive buffer of UDP RADIUS listeners (4 MiB).
pub const DEFAULT_UDP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Why the driver could not start. Every variant names the server (or backend) and
/// the address, so the operator knows which line of configuration to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A socket could not be bound.
    #[error("server `{server}`: cannot listen on {addr} ({transport}): {source}")]
    Bind {
        /// The server's configuration name.
        server: String,
        /// The address.
        addr: SocketAddr,
        /// `udp`, `tcp`, `tls`, `http` or `https`.
        transport: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS settings of a listener could not be turned into a TLS configuration.
    #[error("server `{server}`: TLS configuration: {source}")]
    Tls {
        /// The server's configuration name.
        server: String,
        /// What went wrong.
        source: TlsConfigError,
    },
    /// A `tls` block names a certificate entry of the wrong kind.
    #[error("server `{server}`: `{entry}` is not {expected} entry of `certificates`")]
    CertificateKind {
        /// The server's configuration name.
        server: String,
        /// The certificate entry's name (or its number when it has none).
        entry: String,
        /// `an x509` or `a key`.
        expected: &'static str,
    },
    /// An SQLite backend could not be opened.
    #[error("backend `{backend}`: {source}")]
    Sqlite {
        /// The backend's configuration name.
        backend: String,
        /// What SQLite said.
        source: SqlError,
    },
    /// The cluster bus settings (`cluster { nats { … } }`) cannot be used.
    #[error("{0}")]
    Cluster(#[from] bus::BusError),
    /// The management listener could not be bound.
    #[error("management: cannot listen on {addr}: {source}")]
    Management {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One socket the driver listens on, for start-up messages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// The server's configuration name (`management` for the management listener).
    pub server: String,
    /// `udp`, `tcp`, `tls`, `http`, `https` or `management`.
    pub kind: &'static str,
    /// The bound address.
    pub addr: SocketAddr,
}

/// An answer for an HTTP handler.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// A command for a connection's writer task.
#[derive(Debug)]
pub(crate) enum WriteCmd {
    /// Write one packet.
    Write(Bytes),
}

/// What socket tasks tell the engine task.
pub(crate) enum Event {
    /// An engine input whose identifiers the sender already knows.
    Input(Input),
    /// A stream connection was accepted (TLS: handshake done); the engine task numbers
    /// it (so numbers follow the order the engine sees connections) and answers with
    /// the number before the reader starts.
    Opened {
        server: ServerId,
        peer: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        certificates: Vec<Bytes>,
        writer: mpsc::Sender<WriteCmd>,
        number: oneshot::Sender<ConnId>,
    },
    /// An outbound connection the engine asked for is established (TLS: handshake
    /// done); numbered by the engine task like an accepted one.
    Connected {
        attempt: AttemptId,
        peer: SocketAddr,
        transport: Transport,
        writer: mpsc::Sender<WriteCmd>,
        number: oneshot::Sender<ConnId>,
    },
    /// An HTTP request (its `id` is filled in by the engine task).
    Http {
        request: HttpRequest,
        answer: oneshot::Sender<HttpAnswer>,
    },
    /// Swap the program (SIGHUP): a `reload::Apply<N>` of the driver's network,
    /// prepared beforehand (see [`reload`]).
    Reload(Box<dyn std::any::Any + Send>),
}

impl From<Input> for Event {
    fn from(input: Input) -> Event {
        Event::Input(input)
    }
}

/// How old a view of the engine's state may be when it is served again instead of
/// being built anew: the engine task builds at most one view of each kind (this
/// node's connections, the cluster's, the counts alone) per this interval, however
/// many clients ask. `/api/v1/connections` may thus be up to this old.
pub const VIEW_MAX_AGE: Duration = Duration::from_secs(1);

/// A request for the engine task's [`EngineView`]: which connections to copy
/// (`None`: none, only the counts and the cluster's state) and where to answer.
pub(crate) struct ViewRequest {
    pub scope: Option<Scope>,
    pub answer: oneshot::Sender<EngineView>,
}

/// What the engine task held at one moment: every inbound stream connection (the
/// `@select` candidates, oldest first) and the engine's counts. Cheap to clone: the
/// connections are shared, so one view built serves every request it answers.
#[derive(Debug, Clone, Default)]
pub struct EngineView {
    /// Every active connection, in establishment order.
    pub connections: Arc<[ConnectionView]>,
    /// How much state the engine holds (requests being handled, reverse requests in
    /// flight and queued, duplicate-cache entries…).
    pub counts: EngineCounts,
    /// The cluster as this node sees it (`None` without `cluster { … }`).
    pub cluster: Option<ClusterView>,
}

/// The connections view the management API serves. Each call asks the engine task,
/// which builds the view then, or answers with the one it built less than
/// [`VIEW_MAX_AGE`] ago: the cost (one copy of every connection's facts, about 50 ms
/// with 15,000 connections) is paid at most once per interval and kind of view,
/// never per event the engine handles nor per client asking, so that pollers cannot
/// stall RADIUS processing.
#[derive(Debug, Clone)]
pub struct ConnectionsSnapshot {
    requests: mpsc::Sender<ViewRequest>,
}

impl ConnectionsSnapshot {
    /// A handle and the receiving end the engine task answers from.
    fn channel() -> (ConnectionsSnapshot, mpsc::Receiver<ViewRequest>) {
        let (requests, inbox) = mpsc::channel(64);
        (ConnectionsSnapshot { requests }, inbox)
    }

    /// The engine task's view (at most [`VIEW_MAX_AGE`] old), with this node's
    /// connections; `None` when it is not running (not started yet, or stopped).
    pub async fn view(&self) -> Option<EngineView> {
        self.view_of(Some(Scope::Node)).await
    }

    /// The engine task's view (at most [`VIEW_MAX_AGE`] old), with the connections
    /// of `scope` (none for `None`).
    pub async fn view_of(&self, scope: Option<Scope>) -> Option<EngineView> {
        let (answer, view) = oneshot::channel();
        self.requests
            .send(ViewRequest { scope, answer })
            .await
            .ok()?;
        view.await.ok()
    }

    /// How much state the engine held (at most [`VIEW_MAX_AGE`] ago); `None` when the
    /// engine task is not running.
    pub async fn counts(&self) -> Option<EngineCounts> {
        self.view_of(None).await.map(|v| v.counts)
    }
}

impl ConnectionsSource for ConnectionsSnapshot {
    fn snapshot(&self, scope: Scope) -> crate::management::SnapshotFuture<'_> {
        Box::pin(async move {
            self.view_of(Some(scope))
                .await
                .map(|v| v.connections)
                .unwrap_or_default()
        })
    }

    fn cluster(&self) -> crate::management::ClusterFuture<'_> {
        Box::pin(async move { self.view_of(None).await.and_then(|v| v.cluster) })
    }
}

/// A driver whose sockets are bound, ready to [`Driver::run`].
pub struct Driver<N: Net> {
    program: Arc<Program>,
    options: DriverOptions,
    metrics: Arc<Metrics>,
    state: Option<ManagementState>,
    snapshot: Arc<ConnectionsSnapshot>,
    /// Where the engine task answers [`ConnectionsSnapshot`] requests.
    view_requests: mpsc::Receiver<ViewRequest>,
    listening: Vec<Listening>,
    listeners: Vec<reload::Planned<N>>,
    management: Option<tokio::net::TcpListener>,
    sqlite: BTreeMap<BackendId, (String, Arc<SqliteExecutor>)>,
    /// The cluster bus to start (`cluster { … }`), and its state for `/ready`.
    bus: Option<(bus::BusSettings, bus::BusStatus)>,
    net: N,
    /// Reload requests ([`Driver::reloader`]), served while the driver runs.
    reloads: (
        mpsc::Sender<reload::ReloadRequest>,
        mpsc::Receiver<reload::ReloadRequest>,
    ),
}

impl<N: Net> std::fmt::Debug for Driver<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("listening", &self.listening)
            .finish_non_exhaustive()
    }
}

fn cert_path<'a>(
    program: &'a Program,
    server: &str,
    id: CertificateId,
    want_key: bool,
) -> Result<(&'a str, Option<&'a str>), StartError> {
    let entry = usize::try_from(id.0)
        .ok()
        .and_then(|i| program.certificates.get(i));
    let wrong = || StartError::CertificateKind {
        server: server.to_owned(),
        entry: entry.map_or_else(|| format!("#{}", id.0), |c| c.name.clone()),
        expected: if want_key { "a key" } else { "an x509" },
    };
    match entry.map(|c| &c.kind) {
        Some(CertificateKind::X509 { path }) if !want_key => Ok((path, None)),
        Some(CertificateKind::Key { path, password }) if want_key => {
            Ok((path, password.as_deref()))
        }
        _ => Err(wrong()),
    }
}

fn tls_version(v: ProgramTlsVersion) -> TlsVersion {
    match v {
        ProgramTlsVersion::Tls12 => TlsVersion::Tls12,
        ProgramTlsVersion::Tls13 => TlsVersion::Tls13,
    }
}

/// Ask for `asked` bytes of receive buffer on a UDP listener; say so when the system
/// grants less (the kernel caps it at `net.core.rmem_max`), since bursts beyond it
/// are dropped by the kernel (counted as `radius_dropped_total{reason="receive_buffer_full"}`).
fn receive_buffer<N: Net>(
    net: &N,
    socket: &N::Datagram,
    server: &str,
    local: SocketAddr,
    asked: usize,
) {
    match net.set_receive_buffer(socket, asked) {
        Ok(Some(granted)) if granted < asked => tracing::warn!(
            server,
            %local,
            asked,
            granted,
            "UDP receive buffer smaller than asked for; raise net.core.rmem_max to at least {asked}"
        ),
        Ok(Some(granted)) => tracing::debug!(server, %local, granted, "UDP receive buffer"),
        Ok(None) => {}
        Err(e) => tracing::warn!(server, %local, "cannot set the UDP receive buffer: {e}"),
    }
}

/// The socket options of a RADIUS listener's accepted connections.
fn stream_options(listen: &boomerang_core::lang::program::NetworkListen) -> StreamOptions {
    StreamOptions {
        keepalive: listen.keepalive.map(|k| TcpKeepalive {
            idle: k.idle,
            interval: k.interval,
            count: k.count,
        }),
    }
}

/// The TLS acceptor of a server's `tls { … }` block; HTTPS servers offer ALPN
/// `http/1.1` (the only HTTP version served), RadSec listeners offer none.
fn tls_acceptor(
    program: &Program,
    server: &str,
    tls: &ServerTls,
    https: bool,
) -> Result<tokio_rustls::TlsAcceptor, StartError> {
    let settings = server_tls_settings(program, server, tls)?;
    let mut config = settings.build_config().map_err(|source| StartError::Tls {
        server: server.to_owned(),
        source,
    })?;
    if https {
        let mut with_alpn = (*config).clone();
        with_alpn.alpn_protocols = vec![b"http/1.1".to_vec()];
        config = Arc::new(with_alpn);
    }
    Ok(crate::tls::acceptor(config))
}

/// The rustls settings of a listener's `tls { … }` block.
pub fn server_tls_settings(
    program: &Program,
    server: &str,
    tls: &ServerTls,
) -> Result<ServerTlsSettings, StartError> {
    let (cert, _) = cert_path(program, server, tls.certificate, false)?;
    let (key, password) = cert_path(program, server, tls.certificate_key, true)?;
    let mut settings = ServerTlsSettings::new(cert, key);
    settings.key_password = password.map(str::to_owned);
    settings.client_ca_path = match tls.client_ca_certificate {
        Some(ca) => Some(cert_path(program, server, ca, false)?.0.into()),
        None => None,
    };
    settings.require_client_certificate = tls.require_client_certificate;
    settings.min_version = tls.min_version.map(tls_version);
    settings.max_version = tls.max_version.map(tls_version);
    Ok(settings)
}

/// The listeners `program` asks for, by kind and configured address, in
/// configuration order.
fn listener_keys(program: &Program) -> Vec<reload::ListenerKey> {
    let mut keys = Vec::new();
    for server in &program.servers {
        match &server.kind {
            ServerKind::Radius(r) => {
                if let RadiusListen::Network(listen) = &r.listen {
                    for ip in &listen.ips {
                        keys.push(reload::ListenerKey {
                            kind: listen.protocol.name(),
                            addr: SocketAddr::new(*ip, listen.port),
                        });
                    }
                }
            }
            ServerKind::Http(h) => {
                let kind = if h.tls.is_some() { "https" } else { "http" };
                for ip in &h.ips {
                    keys.push(reload::ListenerKey {
                        kind,
                        addr: SocketAddr::new(*ip, h.port),
                    });
                }
            }
        }
    }
    keys
}

/// Every listener of `program`, with its TLS acceptor (built from the certificate
/// files now) and its socket, bound now unless `keep` has its key (a running
/// listener that goes on). The sockets bound are returned with their addresses.
async fn plan_listeners<N: Net>(
    net: &N,
    program: &Program,
    options: &DriverOptions,
    keep: &BTreeSet<reload::ListenerKey>,
) -> Result<(Vec<reload::Planned<N>>, Vec<Listening>), StartError> {
    let mut planned = Vec::new();
    let mut listening = Vec::new();
    for (index, server) in program.servers.iter().enumerate() {
        let Ok(index) = u32::try_from(index) else {
            continue;
        };
        let id = ServerId(index);
        let name = server.name.clone();
        let bind_err = |addr, transport, source| StartError::Bind {
            server: name.clone(),
            addr,
            transport,
            source,
        };
        let mut udp_buffer = None;
        let mut admission = reload::Admission {
            limits: options.stream_limits,
            allow: None,
            deadlines: options.http_deadlines,
        };
        let (tls, stream_opts, ips, port) = match &server.kind {
            ServerKind::Radius(r) => {
                let RadiusListen::Network(listen) = &r.listen else {
                    // `listen { backend … }`: no socket of its own; its requests
                    // arrive over the backend's outbound connections, which the
                    // engine asks for (`Output::Connect`) once it starts.
                    tracing::info!(
                        server = %name,
                        "server listens on a backend's outbound connections"
                    );
                    continue;
                };
                let tls = match (&listen.protocol, &listen.tls) {
                    (Transport::Tls, Some(tls)) => Some(tls_acceptor(program, &name, tls, false)?),
                    _ => None,
                };
                udp_buffer = listen.receive_buffer;
                admission.limits = options.stream_limits.with(listen.limits);
                (tls, stream_options(listen), &listen.ips, listen.port)
            }
            ServerKind::Http(h) => {
                let tls = match &h.tls {
                    Some(tls) => Some(tls_acceptor(program, &name, tls, true)?),
                    None => None,
                };
                admission = reload::Admission {
                    limits: options.http_limits.with(h.limits),
                    // The client list is address-based: applied at accept.
                    allow: h.clients.map(|list| {
                        program
                            .client_list(list)
                            .into_iter()
                            .flat_map(|l| &l.clients)
                            .flat_map(|c| c.sources.iter().copied())
                            .collect()
                    }),
                    deadlines: Deadlines {
                        header: h.header_timeout.unwrap_or(options.http_deadlines.header),
                        idle: h.idle_timeout.unwrap_or(options.http_deadlines.idle),
                    },
                };
                (tls, StreamOptions::default(), &h.ips, h.port)
            }
        };
        let kind = match &server.kind {
            ServerKind::Radius(r) => match &r.listen {
                RadiusListen::Network(listen) => listen.protocol.name(),
                RadiusListen::Backend(_) => continue,
            },
            ServerKind::Http(_) if tls.is_some() => "https",
            ServerKind::Http(_) => "http",
        };
        // An IPv6 socket is dual-stack unless the server also listens on an IPv4
        // address at this port (`ip 0.0.0.0; ip ::;`), which it would clash with.
        let v6_only = ips.iter().any(IpAddr::is_ipv4);
        let bind = BindOptions {
            backlog: options.listen_backlog,
            v6_only,
        };
        for ip in ips {
            let addr = SocketAddr::new(*ip, port);
            let key = reload::ListenerKey { kind, addr };
            let socket = if keep.contains(&key) {
                None
            } else {
                Some(match kind {
                    "udp" => {
                        let socket = net
                            .bind_with(addr, bind)
                            .await
                            .map_err(|e| bind_err(addr, kind, e))?;
                        let local = socket.local_addr().unwrap_or(addr);
                        let asked = udp_buffer
                            .and_then(|b| usize::try_from(b).ok())
                            .unwrap_or(options.udp_receive_buffer);
                        receive_buffer(net, &socket, &name, local, asked);
                        (reload::Socket::Udp(Arc::new(socket)), local)
                    }
                    _ => {
                        let listener = net
                            .listen_with(addr, bind)
                            .await
                            .map_err(|e| bind_err(addr, kind, e))?;
                        let local = listener.local_addr().unwrap_or(addr);
                        if matches!(kind, "http" | "https") {
                            (reload::Socket::Http(listener), local)
                        } else {
                            (reload::Socket::Stream(listener), local)
                        }
                    }
                })
            };
            if let Some((_, local)) = &socket {
                listening.push(Listening {
                    server: name.clone(),
                    kind,
                    addr: *local,
                });
            }
            planned.push(reload::Planned {
                key,
                server: id,
                name: name.clone(),
                tls: tls.clone(),
                options: stream_opts,
                admission: admission.clone(),
                socket,
            });
        }
    }
    Ok((planned, listening))
}

/// Open every SQLite backend of `program`.
fn open_sqlite(
    program: &Program,
) -> Result<BTreeMap<BackendId, (String, Arc<SqliteExecutor>)>, StartError> {
    let mut sqlite = BTreeMap::new();
    for (index, backend) in program.backends.iter().enumerate() {
        let (Ok(index), BackendKind::Sqlite(s)) = (u32::try_from(index), &backend.kind) else {
            continue;
        };
        let config = SqliteConfig::from_backend(&backend.name, s);
        let executor =
            SqliteExecutor::open_for(&config, &s.queries).map_err(|source| StartError::Sqlite {
                backend: backend.name.clone(),
                source,
            })?;
        sqlite.insert(BackendId(index), (backend.name.clone(), Arc::new(executor)));
    }
    Ok(sqlite)
}

impl<N: Net> Driver<N> {
    /// Bind every listener of `program` (and the management listener), open every
    /// SQLite backend and build every TLS configuration. Nothing is served until
    /// [`Driver::run`].
    pub async fn bind(
        net: N,
        program: Arc<Program>,
        options: DriverOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Driver<N>, StartError> {
        let (listeners, mut listening) =
            plan_listeners(&net, &program, &options, &BTreeSet::new()).await?;
        let sqlite = open_sqlite(&program)?;
        let bus = bus::BusSettings::from_program(&program)?
            .map(|settings| (settings, bus::BusStatus::default()));
        let (snapshot, view_requests) = ConnectionsSnapshot::channel();
        let snapshot = Arc::new(snapshot);
        let mut management = None;
        let mut state = None;
        if options.management && program.management.enabled {
            let addr = SocketAddr::new(program.management.ip, program.management.port);
            let listener = crate::net::tcp_listen(addr, options.listen_backlog)
                .map_err(|source| StartError::Management { addr, source })?;
            let local = listener.local_addr().unwrap_or(addr);
            listening.push(Listening {
                server: "management".to_owned(),
                kind: "management",
                addr: local,
            });
            management = Some(listener);
            let access = Access {
                allow: program.management.allow.clone(),
                token: program.management.token.clone(),
            };
            let mut management_state =
                ManagementState::new(metrics.clone(), snapshot.clone()).with_access(access);
            if let Some((_, status)) = &bus {
                management_state = management_state.with_bus_status(status.clone());
            }
            state = Some(management_state);
        }
        Ok(Driver {
            program,
            options,
            metrics,
            state,
            snapshot,
            view_requests,
            listening,
            listeners,
            management,
            sqlite,
            bus,
            net,
            reloads: mpsc::channel(1),
        })
    }

    /// A handle that applies a new program to this driver while it runs, keeping
    /// its connections (see [`reload`]).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            requests: self.reloads.0.clone(),
        }
    }

    /// Every socket bound, in configuration order (the management listener last).
    pub fn listening(&self) -> &[Listening] {
        &self.listening
    }

    /// The connections view (what the management API serves); it keeps being updated
    /// while [`Driver::run`] runs, so an in-process caller can wait for NAS devices.
    pub fn connections(&self) -> Arc<ConnectionsSnapshot> {
        self.snapshot.clone()
    }

    /// Serve until `shutdown` completes, then drain (see [`engine_loop`]) and return.
    /// Every socket of this driver is closed by then: a new driver may bind the same
    /// addresses (an in-process restart on SIGHUP does).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
        rng: Box<dyn boomerang_core::rng::RandomSource + Send>,
    ) -> RunSummary {
        let Driver {
            program,
            options,
            metrics,
            state,
            snapshot: _,
            view_requests,
            listening: _,
            listeners,
            management,
            sqlite,
            bus,
            net,
            reloads: (_, reload_requests),
        } = self;
        let options_first_conn = options.first_conn;
        let (events_tx, events_rx) = mpsc::channel(options.event_queue.max(1));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let spawner = reload::Spawner {
            net: net.clone(),
            metrics: metrics.clone(),
            events: events_tx.clone(),
            stop: stop_rx,
            options: options.clone(),
        };
        let mut udp_sockets = BTreeMap::new();
        // Warnings held back by the rate limiter are reported once their window ends.
        let log_flush = tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                crate::log_limit::flush_expired();
            }
        });
        let mut live = Vec::new();
        // UDP loops first, then stream accept loops, then HTTP servers: the order
        // tasks start in (a simulated world's task numbering depends on it).
        let rank = |p: &reload::Planned<N>| match p.key.kind {
            "udp" => 0,
            "tcp" | "tls" => 1,
            _ => 2,
        };
        let mut listeners = listeners;
        listeners.sort_by_key(rank);
        for planned in listeners {
            let (server, name) = (planned.server, planned.name.clone());
            let Some(l) = spawner.spawn(planned) else {
                continue;
            };
            if let Some(socket) = &l.udp
                && let Ok(local) = socket.local_addr()
            {
                udp_sockets.insert((server, local), (name, socket.clone()));
            }
            live.push(l);
        }
        let live: reload::LiveSet<N> = Arc::new(Mutex::new(live));
        // The management listener stays up while draining (probes see `shutting_down`)
        // and stops gracefully when `run` returns (kept-alive connections included, so
        // none goes on answering for this driver), so that a new driver can bind it.
        let (management_stop, management_stopped) = oneshot::channel::<()>();
        let management_options = ManagementOptions {
            limits: options
                .management_options
                .limits
                .with(program.management.limits),
            ..options.management_options
        };
        let management = management.zip(state.clone()).map(|(listener, state)| {
            tokio::spawn(async move {
                let stop = async move {
                    let _ = management_stopped.await;
                };
                let served =
                    crate::management::serve_with(listener, state, management_options, stop).await;
                if let Err(e) = served {
                    tracing::error!("management listener failed: {e}");
                }
            })
        });
        if let Some(state) = &state {
            state.set_ready();
        }
        // The cluster bus connects in the background (and keeps retrying): the node
        // serves its own connections meanwhile.
        let bus = match bus {
            Some((settings, status)) => {
                match bus::Bus::start(settings, events_tx.clone(), metrics.clone(), status).await {
                    Ok(bus) => Some(bus),
                    Err(e) => {
                        tracing::error!("{e}; this node runs without the cluster bus");
                        None
                    }
                }
            }
            None => None,
        };
        // With a cluster, connection numbers carry this node's `node_id` above bit
        // 48, so that they are unique in the cluster, and a run drawn for this start
        // below it, so that a restart does not number new connections as the
        // previous start did (`Cluster::run_base`).
        let mut rng = rng;
        let next_conn = program
            .cluster
            .as_ref()
            .map_or(options.first_conn.max(1), |c| {
                let mut run = [0u8; 8];
                rng.fill(&mut run);
                boomerang_core::lang::program::Cluster::run_base(c.node_id, u64::from_le_bytes(run))
                    + 1
            });
        let engine = boomerang_core::engine::Engine::new(
            program.clone(),
            EngineOptions {
                rng,
                env: options.env.clone(),
                limits: options.limits.clone(),
            },
        );
        let mut engine_loop = engine_loop::EngineLoop::<N> {
            engine,
            program: program.clone(),
            metrics,
            views: view_requests,
            views_built: engine_loop::ViewsBuilt::default(),
            udp: BTreeMap::new(),
            udp_senders: Vec::new(),
            sqlite,
            events_tx,
            conns: BTreeMap::new(),
            http_pending: BTreeMap::new(),
            next_conn,
            bus,
            next_http: 1,
            local: Default::default(),
            gauges_dirty: false,
            net,
            connecting: BTreeMap::new(),
            backend_udp: BTreeMap::new(),
            client_tls: BTreeMap::new(),
            connect_timeout: options.handshake_timeout,
            write_queue: options.write_queue,
            udp_queue: options.event_queue,
            wall_clock: options.wall_clock,
        };
        engine_loop.set_udp(udp_sockets);
        let stopping = state.clone();
        let stopping_live = live.clone();
        let stop_accepting = move || {
            if let Some(state) = &stopping {
                state.set_shutting_down();
            }
            for l in reload::lock(&stopping_live).iter().filter(|l| !l.is_http()) {
                l.task.abort();
            }
            let _ = stop_tx.send(true);
        };
        // The engine loop is a task of its own, so the runtime schedules it on a worker
        // like every socket task (a caller's `block_on` thread does not carry it). The
        // caller's `shutdown` (which may borrow) is watched here, with reload requests
        // served alongside it (so a reload never races a shutdown), and passed on.
        let serving = reload::Reloads {
            requests: reload_requests,
            spawner,
            live: live.clone(),
            program,
            management: state.clone(),
        }
        .serve_until(shutdown);
        let (stop_serving, serving_stopped) = oneshot::channel::<()>();
        let mut engine_task = tokio::spawn(engine_loop.run(
            events_rx,
            async move {
                let _ = serving_stopped.await;
            },
            options.shutdown_deadline,
            stop_accepting,
        ));
        let mut serving = std::pin::pin!(serving);
        let joined = tokio::select! {
            biased;
            () = &mut serving => {
                let _ = stop_serving.send(());
                (&mut engine_task).await
            }
            joined = &mut engine_task => joined,
        };
        let summary = match joined {
            Ok(summary) => summary,
            // A panic in the engine task is a bug: it ends the process as it would
            // have on the caller's thread.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => RunSummary {
                drained: false,
                connections_closed: 0,
                http_abandoned: 0,
                next_conn: options_first_conn,
            },
        };
        // Every socket is closed when `run` returns (aborted tasks are awaited so that
        // their sockets are dropped), so the same addresses can be bound again at once.
        let live = std::mem::take(&mut *reload::lock(&live));
        for mut l in live {
            if l.is_http()
                && tokio::time::timeout(Duration::from_secs(2), &mut l.task)
                    .await
                    .is_ok()
            {
                continue;
            }
            l.task.abort();
            let _ = l.task.await;
        }
        let _ = management_stop.send(());
        if let Some(mut task) = management
            && tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        log_flush.abort();
        let _ = log_flush.await;
        crate::log_limit::flush_all();
        summary
    }
}

#[cfg(test)]
mod stream_limit_tests {
    use super::stream_connections_for;

    /// A tenth of the descriptors (64 to 4,096) stays free for everything else.
    #[test]
    fn the_default_connection_limit_leaves_descriptors_free() {
        assert_eq!(stream_connections_for(512), 448);
        assert_eq!(stream_connections_for(1024), 922);
        assert_eq!(stream_connections_for(20_000), 18_000);
        assert_eq!(stream_connections_for(1_048_576), 50_000);
        assert_eq!(stream_connections_for(10), 1);
    }
}
