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

mod engine_loop;
mod http;
mod listeners;
mod outbound;
pub mod rng;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boomerang_core::engine::outbound::AttemptId;
use boomerang_core::engine::{ConnId, EngineCounts, EngineOptions, HttpRequest, Input, Limits};
use boomerang_core::eval::context::Transport as ConnTransport;
use boomerang_core::eval::ir::BackendId;
use boomerang_core::eval::value::IpPrefix;
use boomerang_core::lang::program::{
    BackendKind, CertificateId, CertificateKind, Program, RadiusListen, ServerId, ServerKind,
    ServerTls, TlsVersion as ProgramTlsVersion, Transport,
};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::conn_limit::{ConnLimiter, ConnLimits};
use crate::http_conn::Deadlines;
use crate::management::{
    Access, ConnectionView, ConnectionsSource, ManagementOptions, ManagementState,
};
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
    /// listening socket (64): a client that opens sockets and never finishes a
    /// handshake holds at most this many; 0: no limit.
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
            write_queue: 1024,
            management: true,
            limits: Limits::default(),
            env: BTreeMap::new(),
            wall_clock: std::time::SystemTime::now,
            stream_limits: ConnLimits {
                connections: 50_000,
                per_source: 0,
            },
            handshakes_per_source: 256,
            http_limits: ConnLimits {
                connections: 4096,
                per_source: 1024,
            },
            http_deadlines: Deadlines {
                header: Duration::from_secs(10),
                idle: Duration::from_secs(60),
            },
            management_options: ManagementOptions::default(),
        }
    }
}

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

/// The connections view the management API serves: a copy the engine task refreshes
/// when connections change (and, at most twice a second, when their facts change).
#[derive(Debug, Default)]
pub struct ConnectionsSnapshot {
    views: Mutex<Vec<ConnectionView>>,
    counts: Mutex<EngineCounts>,
}

impl ConnectionsSnapshot {
    fn publish(&self, views: Vec<ConnectionView>) {
        // A poisoned lock only means a reader panicked mid-copy; the data is a plain Vec.
        let mut guard = self.views.lock().unwrap_or_else(|p| p.into_inner());
        *guard = views;
    }

    fn publish_counts(&self, counts: EngineCounts) {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()) = counts;
    }

    /// How much state the engine held when the snapshot was last refreshed (requests
    /// being handled, reverse requests in flight and queued, duplicate-cache entries…):
    /// what a simulation checks is empty after a quiet period.
    pub fn counts(&self) -> EngineCounts {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConnectionsSource for ConnectionsSnapshot {
    fn snapshot(&self) -> Vec<ConnectionView> {
        self.views.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A stream listener and what it serves.
struct StreamServer<L> {
    server: ServerId,
    name: String,
    listener: L,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: StreamOptions,
    limits: ConnLimits,
}

/// A bound HTTP server.
struct HttpServerSocket<L> {
    server: ServerId,
    name: String,
    listener: L,
    /// HTTPS: the acceptor of its `tls { … }` block.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The prefixes of its client list (`None`: every address).
    allow: Option<Arc<[IpPrefix]>>,
    limits: ConnLimits,
    deadlines: Deadlines,
}

/// A driver whose sockets are bound, ready to [`Driver::run`].
pub struct Driver<N: Net> {
    program: Arc<Program>,
    options: DriverOptions,
    metrics: Arc<Metrics>,
    state: Option<ManagementState>,
    snapshot: Arc<ConnectionsSnapshot>,
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
                                    limits: options.stream_limits.with(listen.limits),
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
                    let allow: Option<Arc<[IpPrefix]>> = h.clients.map(|list| {
                        program
                            .client_list(list)
                            .into_iter()
                            .flat_map(|l| &l.clients)
                            .flat_map(|c| c.sources.iter().copied())
                            .collect()
                    });
                    let deadlines = Deadlines {
                        header: h.header_timeout.unwrap_or(options.http_deadlines.header),
                        idle: h.idle_timeout.unwrap_or(options.http_deadlines.idle),
                    };
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
                            allow: allow.clone(),
                            limits: options.http_limits.with(h.limits),
                            deadlines,
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
        let snapshot = Arc::new(ConnectionsSnapshot::default());
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
            state =
                Some(ManagementState::new(metrics.clone(), snapshot.clone()).with_access(access));
        }
        Ok(Driver {
            program,
            options,
            metrics,
            state,
            snapshot,
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
            snapshot,
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
        for (id, name, socket) in udp {
            let local = socket.local_addr();
            if let Ok(local) = local {
                udp_sockets.insert((id, local), (name.clone(), socket.clone()));
            }
            acceptors.push(tokio::spawn(listeners::udp_loop(
                id,
                socket,
                events_tx.clone(),
            )));
        }
        // Warnings held back by the rate limiter are reported once their window ends.
        acceptors.push(tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                crate::log_limit::flush_expired();
            }
        }));
        let handshakes = ConnLimits {
            connections: 0,
            per_source: options.handshakes_per_source,
        };
        for s in streams {
            let spec = listeners::AcceptSpec {
                net: net.clone(),
                server: s.server,
                name: s.name,
                listener: s.listener,
                tls: s.tls,
                options: s.options,
                limiter: ConnLimiter::new(s.limits),
                handshakes: ConnLimiter::new(handshakes),
                metrics: metrics.clone(),
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
            let gate = http::Gate {
                name: h.name.clone(),
                allow: h.allow,
                limiter: ConnLimiter::new(h.limits),
                handshakes: ConnLimiter::new(handshakes),
                deadlines: h.deadlines,
                metrics: metrics.clone(),
            };
            let task = match h.tls {
                None => tokio::spawn(http::serve(
                    h.server,
                    h.name,
                    http::AxumListener {
                        listener: h.listener,
                        gate,
                    },
                    events_tx.clone(),
                    options.http_body_limit,
                    options.http_timeout,
                    stop_rx.clone(),
                )),
                Some(acceptor) => {
                    let listener = http::TlsListener::new(
                        gate,
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
        let engine = boomerang_core::engine::Engine::new(
            program.clone(),
            EngineOptions {
                rng,
                env: options.env.clone(),
                limits: options.limits.clone(),
            },
        );
        let summary = engine_loop::EngineLoop::<N> {
            engine,
            program,
            metrics,
            snapshot,
            udp: udp_sockets,
            sqlite,
            events_tx,
            conns: BTreeMap::new(),
            http_pending: BTreeMap::new(),
            next_conn: 1,
            next_http: 1,
            local: Default::default(),
            snapshot_dirty: false,
            status_answers: 0,
            net,
            connecting: BTreeMap::new(),
            backend_udp: BTreeMap::new(),
            client_tls: BTreeMap::new(),
            connect_timeout: options.handshake_timeout,
            write_queue: options.write_queue,
            wall_clock: options.wall_clock,
        }
        .run(events_rx, shutdown, options.shutdown_deadline, || {
            if let Some(state) = &state {
                state.set_shutting_down();
            }
            for a in &acceptors {
                a.abort();
            }
            let _ = stop_tx.send(true);
        })
        .await;
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
        crate::log_limit::flush_all();
        summary
    }
}
