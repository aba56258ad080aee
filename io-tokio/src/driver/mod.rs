//! The production driver: sockets, TLS, HTTP, SQLite and the clock around the sans-IO
//! [`Engine`].
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

mod datagrams;
mod engine_loop;
mod http;
mod listeners;
mod outbound;
pub mod rng;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::engine::outbound::AttemptId;
use boomerang_core::engine::{ConnId, EngineCounts, EngineOptions, HttpRequest, Input, Limits};
use boomerang_core::eval::context::Transport as ConnTransport;
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::{
    BackendKind, CertificateId, CertificateKind, Program, RadiusListen, ServerId, ServerKind,
    ServerTls, TlsVersion as ProgramTlsVersion, Transport,
};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::management::{ConnectionView, ConnectionsSource, ManagementState};
use crate::metrics::Metrics;
use crate::net::{
    DEFAULT_LISTEN_BACKLOG, DatagramSocket, Net, StreamListener, StreamOptions, TcpKeepalive,
};
use crate::sqlite::{SqlError, SqliteConfig, SqliteExecutor};
use crate::tls::{ServerTlsSettings, TlsConfigError, TlsVersion};

pub use engine_loop::RunSummary;

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
    /// Where wall-clock time (Event-Timestamp, `connection.connected`, log times the
    /// engine sees) comes from: `SystemTime::now` in the daemon, the virtual clock in a
    /// simulated world.
    pub wall_clock: fn() -> std::time::SystemTime,
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
        }
    }
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
        transport: ConnTransport,
        certificates: Vec<Bytes>,
        writer: mpsc::Sender<WriteCmd>,
        number: oneshot::Sender<ConnId>,
    },
    /// An outbound connection the engine asked for is established (TLS: handshake
    /// done); numbered by the engine task like an accepted one.
    Connected {
        attempt: AttemptId,
        peer: SocketAddr,
        local: SocketAddr,
        transport: ConnTransport,
        certificates: Vec<Bytes>,
        writer: mpsc::Sender<WriteCmd>,
        number: oneshot::Sender<ConnId>,
    },
    /// An HTTP request (its `id` is filled in by the engine task).
    Http {
        request: HttpRequest,
        answer: oneshot::Sender<HttpAnswer>,
    },
}

/// A request for the engine task's view, answered with what it holds at that moment.
pub(crate) type ViewRequest = oneshot::Sender<EngineView>;

/// What the engine task holds at one moment: every inbound stream connection (the
/// `@select` candidates, oldest first) and the engine's counts.
#[derive(Debug, Clone, Default)]
pub struct EngineView {
    /// Every active connection, in establishment order.
    pub connections: Vec<ConnectionView>,
    /// How much state the engine holds (requests being handled, reverse requests in
    /// flight and queued, duplicate-cache entries…).
    pub counts: EngineCounts,
}

/// The connections view the management API serves. Each call asks the engine task,
/// which builds the view then: the cost (one copy of every connection's facts) is
/// paid per request for the view, never per event the engine handles, so serving
/// does not slow down as connections accumulate.
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

    /// The engine task's view now; `None` when it is not running (not started yet,
    /// or stopped).
    pub async fn view(&self) -> Option<EngineView> {
        let (answer, view) = oneshot::channel();
        self.requests.send(answer).await.ok()?;
        view.await.ok()
    }

    /// How much state the engine held when asked (what a simulation checks is empty
    /// after a quiet period); `None` when the engine task is not running.
    pub async fn counts(&self) -> Option<EngineCounts> {
        self.view().await.map(|v| v.counts)
    }
}

impl ConnectionsSource for ConnectionsSnapshot {
    fn snapshot(&self) -> crate::management::SnapshotFuture<'_> {
        Box::pin(async move { self.view().await.map(|v| v.connections).unwrap_or_default() })
    }
}

/// A stream listener and what it serves.
struct StreamServer<L> {
    server: ServerId,
    name: String,
    listener: L,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: StreamOptions,
}

/// A bound HTTP server.
struct HttpServerSocket<L> {
    server: ServerId,
    name: String,
    listener: L,
    /// HTTPS: the acceptor of its `tls { … }` block.
    tls: Option<tokio_rustls::TlsAcceptor>,
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
    udp: Vec<(ServerId, String, Arc<N::Datagram>)>,
    streams: Vec<StreamServer<N::Listener>>,
    http: Vec<HttpServerSocket<N::Listener>>,
    management: Option<tokio::net::TcpListener>,
    sqlite: BTreeMap<BackendId, (String, Arc<SqliteExecutor>)>,
    net: N,
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
        let mut listening = Vec::new();
        let mut udp = Vec::new();
        let mut streams = Vec::new();
        let mut http = Vec::new();
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
            match &server.kind {
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
                        (Transport::Tls, Some(tls)) => {
                            Some(tls_acceptor(&program, &name, tls, false)?)
                        }
                        _ => None,
                    };
                    for ip in &listen.ips {
                        let addr = SocketAddr::new(*ip, listen.port);
                        let kind = listen.protocol.name();
                        match listen.protocol {
                            Transport::Udp => {
                                let socket =
                                    net.bind(addr).await.map_err(|e| bind_err(addr, kind, e))?;
                                let local = socket.local_addr().unwrap_or(addr);
                                let asked = listen
                                    .receive_buffer
                                    .and_then(|b| usize::try_from(b).ok())
                                    .unwrap_or(options.udp_receive_buffer);
                                receive_buffer(&net, &socket, &name, local, asked);
                                listening.push(Listening {
                                    server: name.clone(),
                                    kind,
                                    addr: local,
                                });
                                udp.push((id, name.clone(), Arc::new(socket)));
                            }
                            Transport::Tcp | Transport::Tls => {
                                let listener = net
                                    .listen_with_backlog(addr, options.listen_backlog)
                                    .await
                                    .map_err(|e| bind_err(addr, kind, e))?;
                                let local = listener.local_addr().unwrap_or(addr);
                                listening.push(Listening {
                                    server: name.clone(),
                                    kind,
                                    addr: local,
                                });
                                streams.push(StreamServer {
                                    server: id,
                                    name: name.clone(),
                                    listener,
                                    tls: tls.clone(),
                                    options: stream_options(listen),
                                });
                            }
                        }
                    }
                }
                ServerKind::Http(h) => {
                    let tls = match &h.tls {
                        Some(tls) => Some(tls_acceptor(&program, &name, tls, true)?),
                        None => None,
                    };
                    let kind = if tls.is_some() { "https" } else { "http" };
                    for ip in &h.ips {
                        let addr = SocketAddr::new(*ip, h.port);
                        let listener = net
                            .listen_with_backlog(addr, options.listen_backlog)
                            .await
                            .map_err(|e| bind_err(addr, kind, e))?;
                        let local = listener.local_addr().unwrap_or(addr);
                        listening.push(Listening {
                            server: name.clone(),
                            kind,
                            addr: local,
                        });
                        http.push(HttpServerSocket {
                            server: id,
                            name: name.clone(),
                            listener,
                            tls: tls.clone(),
                        });
                    }
                }
            }
        }
        let mut sqlite = BTreeMap::new();
        for (index, backend) in program.backends.iter().enumerate() {
            let (Ok(index), BackendKind::Sqlite(s)) = (u32::try_from(index), &backend.kind) else {
                continue;
            };
            let executor = SqliteExecutor::open(&SqliteConfig::from_backend(&backend.name, s))
                .map_err(|source| StartError::Sqlite {
                    backend: backend.name.clone(),
                    source,
                })?;
            sqlite.insert(BackendId(index), (backend.name.clone(), Arc::new(executor)));
        }
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
            state = Some(ManagementState::new(metrics.clone(), snapshot.clone()));
        }
        Ok(Driver {
            program,
            options,
            metrics,
            state,
            snapshot,
            view_requests,
            listening,
            udp,
            streams,
            http,
            management,
            sqlite,
            net,
        })
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
            udp,
            streams,
            http,
            management,
            sqlite,
            net,
        } = self;
        let (events_tx, events_rx) = mpsc::channel(options.event_queue.max(1));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut acceptors = Vec::new();
        let mut udp_sockets = BTreeMap::new();
        let mut udp_senders = Vec::new();
        let mut udp_drops = Vec::new();
        for (id, name, socket) in udp {
            udp_drops.push(engine_loop::DropProbe::new(name.clone(), socket.clone()));
            let local = socket.local_addr();
            if let Ok(local) = local {
                let (sender, task) =
                    datagrams::DatagramSender::start(socket.clone(), options.event_queue);
                udp_senders.push(task);
                udp_sockets.insert((id, local), (name.clone(), sender));
            }
            acceptors.push(tokio::spawn(listeners::udp_loop(
                id,
                socket,
                events_tx.clone(),
            )));
        }
        for s in streams {
            let spec = listeners::AcceptSpec {
                net: net.clone(),
                server: s.server,
                name: s.name,
                listener: s.listener,
                tls: s.tls,
                options: s.options,
            };
            acceptors.push(tokio::spawn(listeners::accept_loop(
                spec,
                options.handshake_timeout,
                options.write_queue,
                events_tx.clone(),
            )));
        }
        let mut servers = Vec::new();
        for h in http {
            let task = match h.tls {
                None => tokio::spawn(http::serve(
                    h.server,
                    h.name,
                    http::AxumListener(h.listener),
                    events_tx.clone(),
                    options.http_body_limit,
                    options.http_timeout,
                    stop_rx.clone(),
                )),
                Some(acceptor) => {
                    let listener = http::TlsListener::new(
                        h.name.clone(),
                        h.listener,
                        acceptor,
                        options.handshake_timeout,
                    );
                    tokio::spawn(http::serve(
                        h.server,
                        h.name,
                        listener,
                        events_tx.clone(),
                        options.http_body_limit,
                        options.http_timeout,
                        stop_rx.clone(),
                    ))
                }
            };
            servers.push(task);
        }
        // The management listener stays up while draining (probes see `shutting_down`)
        // and stops gracefully when `run` returns (kept-alive connections included, so
        // none goes on answering for this driver), so that a new driver can bind it.
        let (management_stop, management_stopped) = oneshot::channel::<()>();
        let management = management.zip(state.clone()).map(|(listener, state)| {
            tokio::spawn(async move {
                let stop = async move {
                    let _ = management_stopped.await;
                };
                if let Err(e) = crate::management::serve(listener, state, stop).await {
                    tracing::error!("management listener failed: {e}");
                }
            })
        });
        if let Some(state) = &state {
            state.set_ready();
        }
        let engine = boomerang_core::engine::Engine::new(
            program.clone(),
            EngineOptions {
                rng,
                env: options.env.clone(),
                limits: options.limits.clone(),
            },
        );
        let engine_loop = engine_loop::EngineLoop::<N> {
            engine,
            program,
            metrics,
            views: view_requests,
            udp: udp_sockets,
            udp_drops,
            sqlite,
            events_tx,
            conns: BTreeMap::new(),
            http_pending: BTreeMap::new(),
            next_conn: 1,
            next_http: 1,
            local: Default::default(),
            gauges_dirty: false,
            status_answers: 0,
            net,
            connecting: BTreeMap::new(),
            backend_udp: BTreeMap::new(),
            client_tls: BTreeMap::new(),
            connect_timeout: options.handshake_timeout,
            write_queue: options.write_queue,
            wall_clock: options.wall_clock,
        };
        let stopping = state.clone();
        let accepting: Vec<_> = acceptors.iter().map(|a| a.abort_handle()).collect();
        let stop_accepting = move || {
            if let Some(state) = &stopping {
                state.set_shutting_down();
            }
            for a in &accepting {
                a.abort();
            }
            let _ = stop_tx.send(true);
        };
        // The engine loop is a task of its own, so the runtime schedules it on a worker
        // like every socket task (a caller's `block_on` thread does not carry it). The
        // caller's `shutdown` (which may borrow) is watched here and passed on.
        let (stop_serving, serving_stopped) = oneshot::channel::<()>();
        let mut engine_task = tokio::spawn(engine_loop.run(
            events_rx,
            async move {
                let _ = serving_stopped.await;
            },
            options.shutdown_deadline,
            stop_accepting,
        ));
        let mut shutdown = std::pin::pin!(shutdown);
        let joined = tokio::select! {
            biased;
            () = &mut shutdown => {
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
            },
        };
        // The UDP senders end once the engine loop (their last sender) is gone.
        for mut task in udp_senders {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
        // Every socket is closed when `run` returns (aborted tasks are awaited so that
        // their sockets are dropped), so the same addresses can be bound again at once.
        for mut s in servers {
            if tokio::time::timeout(Duration::from_secs(2), &mut s)
                .await
                .is_err()
            {
                s.abort();
                let _ = s.await;
            }
        }
        for task in acceptors {
            task.abort();
            let _ = task.await;
        }
        let _ = management_stop.send(());
        if let Some(mut task) = management {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
        summary
    }
}
