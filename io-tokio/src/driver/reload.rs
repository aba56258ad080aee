//! Applying a new program to a running driver (SIGHUP) without dropping connections.
//!
//! A [`Reloader`] asks the running driver to apply a compiled program. The driver
//! first prepares everything the program needs on the side, while the running program
//! keeps serving: new listeners are bound, every TLS acceptor is built again
//! (certificate files are read again), every SQLite database is opened. Anything that
//! fails refuses the reload with nothing torn down. Then the engine task swaps the
//! program ([`Engine::reload`](boomerang_core::engine::Engine::reload): connections,
//! requests in flight, identifier pools and the duplicate cache are kept), and the
//! listeners are matched by (kind, configured address):
//!
//! - a listener the new program still has keeps its socket, its task and its
//!   connections; its [`ListenerSlot`] is given the server's new number, the new TLS
//!   acceptor (new handshakes use it, connections already up stay as they are) and
//!   the new socket options;
//! - a listener the new program does not have is closed (its connections are closed
//!   by the engine, since their server is gone);
//! - a new listener starts on the socket bound while preparing.
//!
//! The management listener keeps its socket too; a new `allow` list or `token` decides
//! from the next request on.
//!
//! What cannot be carried over asks for an in-process restart instead
//! ([`ReloadRefused::NeedsRestart`]): a management listener with another address or
//! other connection limits, changed
//! `connect` backends (their outbound connections), or an address that moves from
//! one kind of listener to another (the old socket must close before the new one can
//! bind).
//!
//! Numbers: datagrams, accepted connections and HTTP requests are tagged with the
//! server number their slot holds when they arrive. One that arrives while the swap
//! is under way may carry the previous number; this matters only when the reload
//! renumbered servers (servers added or removed before it in the configuration).

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use boomerang_core::contract::{CloseReason, ServerId};
use boomerang_core::engine::{Now, ReloadError, Reloaded};
use boomerang_core::eval::ir::BackendId;
use boomerang_core::eval::value::IpPrefix;
use boomerang_core::lang::program::Program;
use boomerang_core::lang::program::connect_backends_unchanged;
use tokio::sync::{mpsc, oneshot, watch};

use super::engine_loop::{EngineLoop, UdpSockets};
use super::{DriverOptions, Event, Listening, StartError, http, listeners};
use crate::conn_limit::{ConnLimiter, ConnLimits};
use crate::http_conn::Deadlines;
use crate::management::{Access, ManagementState};
use crate::net::{DatagramSocket, Net, StreamOptions};
use crate::sqlite::SqliteExecutor;

/// What a listener's tasks read each time something arrives: the server it belongs
/// to now, its TLS acceptor and the socket options of accepted connections. A reload
/// replaces them; the socket and its connections stay.
pub(crate) struct ListenerSlot {
    server: AtomicU32,
    tls: RwLock<Option<tokio_rustls::TlsAcceptor>>,
    options: RwLock<StreamOptions>,
}

impl ListenerSlot {
    /// A slot holding these settings.
    pub(crate) fn new(
        server: ServerId,
        tls: Option<tokio_rustls::TlsAcceptor>,
        options: StreamOptions,
    ) -> Arc<ListenerSlot> {
        Arc::new(ListenerSlot {
            server: AtomicU32::new(server.0),
            tls: RwLock::new(tls),
            options: RwLock::new(options),
        })
    }

    /// The server's number in the running program.
    pub(crate) fn server(&self) -> ServerId {
        ServerId(self.server.load(Ordering::Acquire))
    }

    /// The TLS acceptor of the running program (`None`: plain TCP or HTTP).
    pub(crate) fn tls(&self) -> Option<tokio_rustls::TlsAcceptor> {
        // A poisoned lock only means a writer panicked mid-assignment of a clone.
        self.tls.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The socket options of accepted connections.
    pub(crate) fn options(&self) -> StreamOptions {
        *self.options.read().unwrap_or_else(|p| p.into_inner())
    }

    fn set(
        &self,
        server: ServerId,
        tls: Option<tokio_rustls::TlsAcceptor>,
        options: StreamOptions,
    ) {
        *self.tls.write().unwrap_or_else(|p| p.into_inner()) = tls;
        *self.options.write().unwrap_or_else(|p| p.into_inner()) = options;
        self.server.store(server.0, Ordering::Release);
    }
}

/// What identifies a listener across reloads: its kind (`udp`, `tcp`, `tls`,
/// `http`, `https`) and its configured address (port 0 stays the port bound first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ListenerKey {
    pub kind: &'static str,
    pub addr: SocketAddr,
}

impl ListenerKey {
    /// Datagram and stream sockets may share an address; two stream listeners may not.
    fn clashes_with(&self, other: &ListenerKey) -> bool {
        self.addr == other.addr && (self.kind == "udp") == (other.kind == "udp")
    }
}

/// A socket bound for a listener.
pub(super) enum Socket<N: Net> {
    Udp(Arc<N::Datagram>),
    Stream(N::Listener),
    Http(N::Listener),
}

/// One listener of a program: its settings, and its socket when it is new (`None`:
/// the running listener with the same key goes on).
pub(super) struct Planned<N: Net> {
    pub key: ListenerKey,
    pub server: ServerId,
    pub name: String,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub options: StreamOptions,
    /// What it admits at accept; fixed when the listener starts (a kept listener
    /// keeps the limits it started with).
    pub admission: Admission,
    pub socket: Option<(Socket<N>, SocketAddr)>,
}

/// What a stream or HTTP listener checks at accept (see [`crate::conn_limit`]).
#[derive(Clone)]
pub(super) struct Admission {
    /// `limits { … }` over the driver's defaults.
    pub limits: ConnLimits,
    /// HTTP: the prefixes of its client list (`None`: every address).
    pub allow: Option<Arc<[IpPrefix]>>,
    /// HTTP: header and idle timeouts.
    pub deadlines: Deadlines,
}

/// A listener being served.
pub(super) struct Live<N: Net> {
    pub key: ListenerKey,
    pub name: String,
    pub local: SocketAddr,
    pub slot: Arc<ListenerSlot>,
    pub task: tokio::task::JoinHandle<()>,
    /// Its socket, for a UDP listener (replies go out of it).
    pub udp: Option<Arc<N::Datagram>>,
}

impl<N: Net> Live<N> {
    /// HTTP servers stop gracefully (requests in progress are answered); the other
    /// listeners' tasks are aborted.
    pub fn is_http(&self) -> bool {
        matches!(self.key.kind, "http" | "https")
    }

    fn listening(&self) -> Listening {
        Listening {
            server: self.name.clone(),
            kind: self.key.kind,
            addr: self.local,
        }
    }
}

/// The listeners being served, shared by the reload path and shutdown.
pub(super) type LiveSet<N> = Arc<Mutex<Vec<Live<N>>>>;

/// Starts listener tasks.
#[derive(Clone)]
pub(super) struct Spawner<N: Net> {
    pub net: N,
    /// Where refused connections are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub events: mpsc::Sender<Event>,
    pub stop: watch::Receiver<bool>,
    pub options: DriverOptions,
}

impl<N: Net> Spawner<N> {
    /// Serve a listener whose socket was just bound.
    pub fn spawn(&self, planned: Planned<N>) -> Option<Live<N>> {
        let (socket, local) = planned.socket?;
        let slot = ListenerSlot::new(planned.server, planned.tls, planned.options);
        let o = &self.options;
        let handshakes = ConnLimits {
            connections: 0,
            per_source: o.handshakes_per_source,
        };
        let gate = http::Gate {
            name: planned.name.clone(),
            allow: planned.admission.allow.clone(),
            limiter: ConnLimiter::new(planned.admission.limits),
            handshakes: ConnLimiter::new(handshakes),
            deadlines: planned.admission.deadlines,
            metrics: self.metrics.clone(),
        };
        let http_shared = http::Shared {
            slot: slot.clone(),
            name: planned.name.as_str().into(),
            events: self.events.clone(),
            body_limit: o.http_body_limit,
            timeout: o.http_timeout,
            metrics: self.metrics.clone(),
        };
        let mut udp = None;
        let task = match socket {
            Socket::Udp(socket) => {
                udp = Some(socket.clone());
                tokio::spawn(listeners::udp_loop(
                    slot.clone(),
                    socket,
                    self.events.clone(),
                ))
            }
            Socket::Stream(listener) => {
                let spec = listeners::AcceptSpec {
                    net: self.net.clone(),
                    slot: slot.clone(),
                    name: planned.name.clone(),
                    listener,
                    limiter: ConnLimiter::new(planned.admission.limits),
                    handshakes: ConnLimiter::new(handshakes),
                    metrics: self.metrics.clone(),
                };
                tokio::spawn(listeners::accept_loop(
                    spec,
                    o.handshake_timeout,
                    o.write_queue,
                    self.events.clone(),
                ))
            }
            Socket::Http(listener) if planned.key.kind == "https" => {
                let listener =
                    http::TlsListener::new(gate, listener, slot.clone(), o.handshake_timeout);
                tokio::spawn(http::serve(http_shared, listener, self.stop.clone()))
            }
            Socket::Http(listener) => tokio::spawn(http::serve(
                http_shared,
                http::AxumListener { listener, gate },
                self.stop.clone(),
            )),
        };
        Some(Live {
            key: planned.key,
            name: planned.name,
            local,
            slot,
            task,
            udp,
        })
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Every socket listening now, in configuration order (management excluded).
    pub listening: Vec<Listening>,
    /// Listeners kept with their sockets and connections.
    pub kept: usize,
    /// Listeners started.
    pub opened: Vec<Listening>,
    /// Listeners closed.
    pub closed: Vec<Listening>,
    /// Connections closed because their server was removed or no longer takes them.
    pub connections_closed: usize,
}

/// Why a reload was not applied. Nothing was torn down: the running program goes on.
#[derive(Debug, thiserror::Error)]
pub enum ReloadRefused {
    /// The new program cannot start: a listener that cannot bind, TLS files that do
    /// not load, an SQLite database that cannot be opened.
    #[error("{0}")]
    Start(#[from] StartError),
    /// The program cannot be applied to the running connections; an in-process
    /// restart (drain, then bind the new program) can apply it.
    #[error("{0}")]
    NeedsRestart(String),
    /// The driver stopped before the reload could be applied.
    #[error("the server is shutting down")]
    Stopped,
}

/// A request to apply a program, with where to answer.
pub(super) struct ReloadRequest {
    pub program: Arc<Program>,
    pub answer: oneshot::Sender<Result<ReloadReport, ReloadRefused>>,
}

/// A handle to reload a running driver (see the module documentation).
#[derive(Debug, Clone)]
pub struct Reloader {
    pub(super) requests: mpsc::Sender<ReloadRequest>,
}

impl Reloader {
    /// Apply `program` to the running driver. Answers once the program runs (or
    /// was refused, with the running program untouched). The driver must be
    /// running ([`Driver::run`](super::Driver::run)): until it runs, this waits.
    pub async fn reload(&self, program: Arc<Program>) -> Result<ReloadReport, ReloadRefused> {
        let (answer, answered) = oneshot::channel();
        if self
            .requests
            .send(ReloadRequest { program, answer })
            .await
            .is_err()
        {
            return Err(ReloadRefused::Stopped);
        }
        answered.await.unwrap_or(Err(ReloadRefused::Stopped))
    }
}

/// The engine task's part of a reload: what it swaps (an `Apply<N>` travels in
/// [`Event::Reload`] as `Box<dyn Any + Send>`, since events do not name the network).
pub(super) struct Apply<N: Net> {
    pub program: Arc<Program>,
    pub udp: UdpSockets<N>,
    pub sqlite: BTreeMap<BackendId, (String, Arc<SqliteExecutor>)>,
    pub answer: oneshot::Sender<Result<Reloaded, ReloadError>>,
}

impl<N: Net> EngineLoop<N> {
    /// Swap the program (see [`Engine::reload`](boomerang_core::engine::Engine::reload))
    /// and what the engine task keeps per program: UDP sockets and SQLite executors by
    /// number, the servers of connections (for metrics), TLS client configurations.
    pub(super) fn apply_reload(&mut self, apply: Box<dyn Any + Send>) {
        let Ok(apply) = apply.downcast::<Apply<N>>() else {
            tracing::error!("reload for another network; ignored");
            return;
        };
        let Apply {
            program,
            udp,
            sqlite,
            answer,
        } = *apply;
        // What the engine observed so far is counted under the names of the program
        // it observed it with.
        self.count_events();
        let now = Now {
            mono: tokio::time::Instant::now().into_std(),
            wall: (self.wall_clock)(),
        };
        let reloaded = match self.engine.reload(now, program.clone()) {
            Ok(r) => r,
            Err(e) => {
                let _ = answer.send(Err(e));
                return;
            }
        };
        let old = std::mem::replace(&mut self.program, program);
        let closed: BTreeSet<_> = reloaded.closed.iter().copied().collect();
        for (conn, handle) in &mut self.conns {
            let Some(server) = handle.server else {
                continue;
            };
            match reloaded.servers.get(&server) {
                Some(new) if !closed.contains(conn) => handle.server = Some(*new),
                // Counted closed now, under its server's name (the engine's close
                // of it is not counted again).
                _ => {
                    let name = usize::try_from(server.0)
                        .ok()
                        .and_then(|i| old.servers.get(i))
                        .map_or("?", |s| s.name.as_str());
                    self.metrics
                        .connection_closed(name, handle.transport, &CloseReason::Shutdown);
                    handle.server = None;
                }
            }
        }
        for (server, _) in self.http_pending.values_mut() {
            if let Some(new) = reloaded.servers.get(server) {
                *server = *new;
            }
        }
        self.set_udp(udp);
        self.sqlite = sqlite;
        // Built again on next use: certificate files may have changed.
        self.client_tls.clear();
        self.gauges_dirty = true;
        let _ = answer.send(Ok(reloaded));
    }
}

/// Everything the reload path needs, owned by the future that serves reloads.
pub(super) struct Reloads<N: Net> {
    pub requests: mpsc::Receiver<ReloadRequest>,
    pub spawner: Spawner<N>,
    pub live: LiveSet<N>,
    pub program: Arc<Program>,
    /// The management listener's state, whose `allow` and `token` a reload replaces.
    pub management: Option<ManagementState>,
}

impl<N: Net> Reloads<N> {
    /// Complete when `shutdown` does, serving reload requests meanwhile.
    pub async fn serve_until(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                request = self.requests.recv() => match request {
                    Some(request) => {
                        let result = self.reload(request.program).await;
                        let _ = request.answer.send(result);
                    }
                    // Every `Reloader` is gone: only shutdown is left to wait for.
                    None => {
                        shutdown.await;
                        return;
                    }
                },
            }
        }
    }

    async fn reload(&mut self, program: Arc<Program>) -> Result<ReloadReport, ReloadRefused> {
        let options = &self.spawner.options;
        let old = &self.program;
        if options.management
            && (old.management.enabled != program.management.enabled
                || (program.management.enabled
                    && (
                        old.management.ip,
                        old.management.port,
                        old.management.limits,
                    ) != (
                        program.management.ip,
                        program.management.port,
                        program.management.limits,
                    )))
        {
            return Err(ReloadRefused::NeedsRestart(
                "the management listener changed".to_owned(),
            ));
        }
        if !connect_backends_unchanged(old, &program) {
            return Err(ReloadRefused::NeedsRestart(
                ReloadError::DialerChanged.to_string(),
            ));
        }
        if old.cluster != program.cluster {
            return Err(ReloadRefused::NeedsRestart(
                ReloadError::ClusterChanged.to_string(),
            ));
        }
        let running: Vec<ListenerKey> = lock(&self.live).iter().map(|l| l.key).collect();
        let wanted = super::listener_keys(&program);
        for key in &wanted {
            if running.contains(key) {
                continue;
            }
            if let Some(old) = running
                .iter()
                .find(|r| !wanted.contains(r) && r.clashes_with(key))
            {
                return Err(ReloadRefused::NeedsRestart(format!(
                    "{} moves from {} to {}",
                    key.addr, old.kind, key.kind
                )));
            }
        }
        let keep: BTreeSet<ListenerKey> = running.iter().copied().collect();
        let (planned, _) =
            super::plan_listeners(&self.spawner.net, &program, options, &keep).await?;
        let sqlite = super::open_sqlite(&program)?;
        // The UDP sockets by the new numbers: kept ones and new ones.
        let mut udp: UdpSockets<N> = BTreeMap::new();
        {
            let live = lock(&self.live);
            for p in &planned {
                let socket = match &p.socket {
                    Some((Socket::Udp(s), _)) => Some(s.clone()),
                    Some(_) => None,
                    None => live
                        .iter()
                        .find(|l| l.key == p.key)
                        .and_then(|l| l.udp.clone()),
                };
                if let Some(socket) = socket
                    && let Ok(local) = socket.local_addr()
                {
                    udp.insert((p.server, local), (p.name.clone(), socket));
                }
            }
        }
        let (answer, answered) = oneshot::channel();
        let apply: Apply<N> = Apply {
            program: program.clone(),
            udp,
            sqlite,
            answer,
        };
        if self
            .spawner
            .events
            .send(Event::Reload(Box::new(apply)))
            .await
            .is_err()
        {
            return Err(ReloadRefused::Stopped);
        }
        let reloaded = match answered.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(ReloadRefused::NeedsRestart(e.to_string())),
            Err(_) => return Err(ReloadRefused::Stopped),
        };
        // The engine runs the new program: close what it no longer has, hand the
        // kept listeners their new settings, start the new ones.
        let mut stopped = Vec::new();
        let mut report = ReloadReport {
            listening: Vec::new(),
            kept: 0,
            opened: Vec::new(),
            closed: Vec::new(),
            connections_closed: reloaded.closed.len(),
        };
        {
            let mut live = lock(&self.live);
            let mut previous = std::mem::take(&mut *live);
            for p in planned {
                match previous.iter().position(|l| l.key == p.key) {
                    Some(i) if p.socket.is_none() => {
                        let mut l = previous.remove(i);
                        l.slot.set(p.server, p.tls, p.options);
                        l.name = p.name;
                        report.kept += 1;
                        live.push(l);
                    }
                    _ => {
                        if let Some(l) = self.spawner.spawn(p) {
                            report.opened.push(l.listening());
                            live.push(l);
                        }
                    }
                }
            }
            for l in previous {
                report.closed.push(l.listening());
                l.task.abort();
                stopped.push(l.task);
            }
            report.listening = live.iter().map(Live::listening).collect();
        }
        // Aborted tasks are awaited so that their sockets are closed on return.
        for task in stopped {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        // Who may read the management API: from the next request on.
        if let Some(state) = &self.management {
            state.set_access(Access {
                allow: program.management.allow.clone(),
                token: program.management.token.clone(),
            });
        }
        self.program = program;
        Ok(report)
    }
}

/// The live set, even when a holder panicked (it is a plain list).
pub(super) fn lock<N: Net>(live: &LiveSet<N>) -> std::sync::MutexGuard<'_, Vec<Live<N>>> {
    live.lock().unwrap_or_else(|p| p.into_inner())
}
