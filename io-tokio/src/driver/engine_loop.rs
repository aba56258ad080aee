//! The engine task: the one place that calls the [`Engine`], the one function
//! ([`EngineLoop::execute`]) that carries out its [`Output`]s (commands), and the one
//! function ([`EngineLoop::count`]) that turns its observations ([`EngineEvent`]s)
//! into metrics.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boomerang_core::contract::{
    AttemptId, CloseReason, DropReason, ServerId, ServerRef, Unanswered,
};
use boomerang_core::engine::{
    ConnId, Engine, Event as EngineEvent, HttpRequestId, Input, LogLine, Now, Output, Severity,
};
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::{BackendKind, Program};
use tokio::sync::{mpsc, oneshot};

use super::bus::Bus;
use super::datagrams::DatagramSender;
use super::listeners::ConnHandle;
use super::outbound;
use super::{EngineView, Event, HttpAnswer, VIEW_MAX_AGE, ViewRequest};
use crate::management::{ClusterView, ConnectionView, Scope};
use crate::metrics::{self, Metrics, RequestResult};
use crate::net::{DatagramSocket, Net};
use crate::sqlite::{SqlError, SqliteExecutor};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// All work in flight finished before the shutdown deadline.
    pub drained: bool,
    /// Connections closed at the end.
    pub connections_closed: usize,
    /// HTTP requests still unanswered at the end (answered 503).
    pub http_abandoned: usize,
    /// The number the next connection would have had (see
    /// [`DriverOptions::first_conn`](super::DriverOptions::first_conn)).
    pub next_conn: u64,
}

/// The clock: tokio's (virtual under a simulated runtime) and the wall clock `wall`
/// ([`DriverOptions::wall_clock`](super::DriverOptions::wall_clock)).
fn now(wall: fn() -> SystemTime) -> Now {
    Now {
        mono: tokio::time::Instant::now().into_std(),
        wall: wall(),
    }
}

/// UDP sockets by (server, local address), with the server's name.
pub(super) type UdpSockets<N> =
    BTreeMap<(ServerId, SocketAddr), (String, Arc<<N as Net>::Datagram>)>;

/// What the engine task keeps per UDP listener: the queue into its sender task and
/// the socket, whose kernel drop counter becomes
/// `radius_dropped_total{reason="receive_buffer_full"}`.
pub(super) struct UdpOut<N: Net> {
    /// The server's configuration name.
    name: String,
    sender: DatagramSender,
    socket: Arc<N::Datagram>,
    /// The kernel's drop counter when last read.
    drops_seen: Option<u64>,
}

/// Events taken off the queue per turn of the loop before the outputs are carried
/// out: fewer wake-ups under load, and still a bounded wait for what is queued.
const EVENT_BATCH: usize = 64;

/// The socket kept for one UDP `connect` server.
pub(super) struct BackendSocket<N: Net> {
    socket: Arc<N::Datagram>,
    /// The server's address, resolved when the socket was opened.
    addr: SocketAddr,
    /// Its receive loop.
    task: tokio::task::JoinHandle<()>,
}

/// The last view of each kind the engine task built (this node's connections, the
/// cluster's, the counts alone) and when it was done: a request within
/// [`VIEW_MAX_AGE`] of that is answered with it, so that however many clients poll
/// (and however fast), a build starts at least [`VIEW_MAX_AGE`] after the previous
/// one of its kind ended. Requests that queued up while a view was being built are
/// answered with it: they join that build (even one that took longer than the
/// interval).
#[derive(Default)]
pub(super) struct ViewsBuilt {
    /// At most one entry per kind (three).
    last: Vec<(Option<Scope>, tokio::time::Instant, EngineView)>,
}

impl ViewsBuilt {
    /// The view of `kind` built less than [`VIEW_MAX_AGE`] before `now`, if any.
    fn fresh(&self, kind: Option<Scope>, now: tokio::time::Instant) -> Option<&EngineView> {
        self.last
            .iter()
            .find(|(k, at, _)| *k == kind && now.saturating_duration_since(*at) < VIEW_MAX_AGE)
            .map(|(_, _, view)| view)
    }

    /// Keep `view`, of `kind`, done at `at` (replacing the previous one of its kind).
    fn keep(&mut self, kind: Option<Scope>, at: tokio::time::Instant, view: EngineView) {
        self.last.retain(|(k, _, _)| *k != kind);
        self.last.push((kind, at, view));
    }
}

/// State of the engine task.
pub(super) struct EngineLoop<N: Net> {
    pub engine: Engine,
    pub program: Arc<Program>,
    pub metrics: Arc<Metrics>,
    /// Requests for the connections view ([`ConnectionsSnapshot`](super::ConnectionsSnapshot)), answered between
    /// events.
    pub views: mpsc::Receiver<ViewRequest>,
    /// The views built last, served again while younger than [`VIEW_MAX_AGE`].
    pub views_built: ViewsBuilt,
    pub udp: BTreeMap<(ServerId, SocketAddr), UdpOut<N>>,
    /// The UDP sender tasks started so far; each ends once its sender is dropped.
    pub udp_senders: Vec<tokio::task::JoinHandle<()>>,
    /// Datagrams queued per UDP sender task.
    pub udp_queue: usize,
    pub sqlite: BTreeMap<BackendId, (String, Arc<SqliteExecutor>)>,
    pub events_tx: mpsc::Sender<Event>,
    pub conns: BTreeMap<ConnId, ConnHandle>,
    pub http_pending: BTreeMap<HttpRequestId, (ServerId, oneshot::Sender<HttpAnswer>)>,
    pub next_conn: u64,
    pub next_http: u64,
    /// Inputs the engine task produced itself (a failed write, an SQL backend that
    /// does not exist), fed before the next event.
    pub local: VecDeque<Input>,
    /// Something changed since the backend gauges were last set.
    pub gauges_dirty: bool,
    /// The network outbound connections and backend sockets are opened on.
    pub net: N,
    /// Outbound connection attempts in progress, to abort when the engine gives up.
    pub connecting: BTreeMap<AttemptId, tokio::task::JoinHandle<()>>,
    /// One UDP socket per UDP `connect` server, opened on first use with the
    /// server's address (resolved then, not per datagram) and its receive loop.
    pub backend_udp: BTreeMap<ServerRef, BackendSocket<N>>,
    /// TLS connectors of `connect` servers, built on first use.
    pub client_tls: BTreeMap<ServerRef, Option<outbound::TlsClient>>,
    /// Bound on connecting plus the TLS handshake of an outbound connection.
    pub connect_timeout: Duration,
    /// Packets queued for one connection's writer.
    pub write_queue: usize,
    /// Where wall-clock time comes from.
    pub wall_clock: fn() -> SystemTime,
    /// The cluster bus (`cluster { … }`), closed at the end of the run.
    pub bus: Option<Bus>,
}

impl<N: Net> EngineLoop<N> {
    /// Send through `sockets` from now on: a socket already served keeps its sender
    /// task (and drop count); a new one gets a sender task; a socket no longer listed
    /// lets its task end.
    pub(super) fn set_udp(&mut self, sockets: UdpSockets<N>) {
        let mut old: Vec<UdpOut<N>> = std::mem::take(&mut self.udp).into_values().collect();
        for (key, (name, socket)) in sockets {
            let out = match old.iter().position(|o| Arc::ptr_eq(&o.socket, &socket)) {
                Some(i) => {
                    let mut o = old.swap_remove(i);
                    o.name = name;
                    o
                }
                None => {
                    let (sender, task) = DatagramSender::start(socket.clone(), self.udp_queue);
                    self.udp_senders.push(task);
                    UdpOut {
                        name,
                        sender,
                        socket,
                        drops_seen: None,
                    }
                }
            };
            self.udp.insert(key, out);
        }
        self.udp_senders.retain(|t| !t.is_finished());
    }

    fn server_name(&self, server: ServerId) -> &str {
        usize::try_from(server.0)
            .ok()
            .and_then(|i| self.program.servers.get(i))
            .map_or("?", |s| s.name.as_str())
    }

    fn backend_name(&self, backend: BackendId) -> &str {
        self.program
            .backend(backend)
            .map_or("?", |b| b.name.as_str())
    }

    /// Serve until `shutdown`; then call `stop_accepting`, drain up to `deadline` and
    /// close everything.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        shutdown: impl Future<Output = ()> + Send,
        deadline: Duration,
        stop_accepting: impl FnOnce() + Send,
    ) -> RunSummary {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut refresh = tokio::time::interval(Duration::from_millis(500));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Outbound `connect` backends that must stay connected dial out now.
        self.engine.start(now(self.wall_clock));
        self.drain_outputs().await;
        // Phase 1: serve.
        loop {
            let timer = self.engine.poll_timeout();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(answer) = self.views.recv() => self.answer_view(answer),
                event = events.recv() => match event {
                    Some(event) => self.on_events(event, &mut events),
                    None => break,
                },
                () = sleep_until_opt(timer) => {
                    let started = std::time::Instant::now();
                    self.engine.handle_timeout(now(self.wall_clock));
                    self.metrics.engine_busy(started.elapsed());
                    // A timeout changes requests in flight (the gauges).
                    self.gauges_dirty = true;
                }
                _ = refresh.tick(), if self.gauges_dirty => self.publish_backend_gauges(),
            }
            self.drain_outputs().await;
            self.feed_local();
            self.drain_outputs().await;
        }
        tracing::info!("shutting down: no new requests; waiting for work in flight");
        stop_accepting();
        // Phase 2: drain work in flight (connections stay open so NAS replies arrive).
        let limit = tokio::time::Instant::now() + deadline;
        let mut drained = self.idle();
        while !drained {
            self.feed_local();
            let timer = self.engine.poll_timeout();
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(limit) => break,
                Some(answer) = self.views.recv() => self.answer_view(answer),
                event = events.recv() => match event {
                    Some(event) => self.on_events(event, &mut events),
                    None => break,
                },
                () = sleep_until_opt(timer) => self.engine.handle_timeout(now(self.wall_clock)),
            }
            self.drain_outputs().await;
            drained = self.idle();
        }
        if !drained {
            tracing::warn!(
                counts = ?self.engine.counts(),
                "shutdown deadline reached with work in flight"
            );
        }
        // Phase 3: close connections and answer what is left.
        let connections_closed = self.conns.len();
        for (_, task) in std::mem::take(&mut self.connecting) {
            task.abort();
        }
        for (_, b) in std::mem::take(&mut self.backend_udp) {
            b.task.abort();
        }
        for (conn, handle) in std::mem::take(&mut self.conns) {
            if let Some(server) = handle.server {
                self.metrics.connection_closed(
                    self.server_name(server),
                    handle.transport,
                    &CloseReason::Shutdown,
                );
            }
            tracing::debug!(%conn, "closing connection for shutdown");
            drop(handle);
        }
        let http_abandoned = self.http_pending.len();
        for (_, (_, answer)) in std::mem::take(&mut self.http_pending) {
            let _ = answer.send(HttpAnswer {
                status: 503,
                headers: vec![("content-type".into(), "application/json".into())],
                body: r#"{"error":"shutting down"}"#.into(),
            });
        }
        // Give writer tasks a moment to send close_notify / FIN; the cluster bus sends
        // what is queued meanwhile and closes its NATS connection.
        let bus_closed = async {
            if let Some(bus) = self.bus.take() {
                bus.close().await;
            }
        };
        tokio::join!(tokio::time::sleep(Duration::from_millis(100)), bus_closed);
        // The UDP senders end (and let go of their sockets, so that the addresses can
        // be bound again at once) when their queues are dropped.
        self.udp.clear();
        for mut task in std::mem::take(&mut self.udp_senders) {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
        RunSummary {
            drained,
            connections_closed,
            http_abandoned,
            next_conn: self.next_conn,
        }
    }

    /// No request, SQL statement or reverse request is in flight.
    fn idle(&self) -> bool {
        let c = self.engine.counts();
        c.tasks == 0
            && c.sql_pending == 0
            && c.reverse_in_flight == 0
            && c.reverse_queued == 0
            && self.http_pending.is_empty()
    }

    /// Count one observation of the engine. Every [`EngineEvent`] variant is
    /// handled here and only here: the metrics they feed come from nothing else.
    fn count(&self, event: EngineEvent) {
        match event {
            EngineEvent::Dropped { server, reason } => {
                self.metrics
                    .radius_dropped(self.server_name(server), reason);
            }
            EngineEvent::RequestAnswered {
                server,
                request_code,
                reply_code,
            } => {
                if let Some(result) = RequestResult::of_reply(reply_code) {
                    self.metrics.radius_request(
                        self.server_name(server),
                        &request_code.to_string(),
                        result,
                    );
                }
            }
            EngineEvent::RequestUnanswered {
                server,
                request_code,
                ending,
            } => {
                let name = self.server_name(server);
                if ending == Unanswered::NoPolicy {
                    self.metrics.policy_no_match(name);
                }
                let result = if ending.is_error() {
                    RequestResult::Error
                } else {
                    RequestResult::Ignored
                };
                self.metrics
                    .radius_request(name, &request_code.to_string(), result);
            }
            EngineEvent::BackendRequestFinished {
                backend,
                outcome,
                latency,
            } => {
                self.metrics
                    .reverse_request(self.backend_name(backend), outcome, latency);
            }
            EngineEvent::NasIdentifierClaim { server, claim } => {
                self.metrics
                    .nas_identifier_claim(self.server_name(server), claim);
            }
            EngineEvent::Reverse(step) => self.metrics.reverse_step(step),
            EngineEvent::Forward { side, end, latency } => {
                self.metrics
                    .cluster_forward(self.cluster_name(), side, end, latency);
            }
        }
    }

    /// The cluster's name (empty without `cluster { … }`: no forward happens then).
    fn cluster_name(&self) -> &str {
        self.program
            .cluster
            .as_ref()
            .map_or("", |c| c.name.as_str())
    }

    /// Count what the engine observed since last asked.
    pub(super) fn count_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            self.count(event);
        }
        // Constant time: three counters the cluster part keeps.
        if let Some(sizes) = self.engine.cluster_sizes() {
            self.metrics.set_cluster_sizes(self.cluster_name(), sizes);
        }
    }

    fn feed_local(&mut self) {
        while let Some(input) = self.local.pop_front() {
            self.engine.handle(now(self.wall_clock), input);
        }
    }

    /// Handle `first` and whatever else is already queued, up to [`EVENT_BATCH`]
    /// events, before the outputs are carried out.
    fn on_events(&mut self, first: Event, events: &mut mpsc::Receiver<Event>) {
        let started = std::time::Instant::now();
        self.on_event(first);
        for _ in 1..EVENT_BATCH {
            let Ok(event) = events.try_recv() else {
                break;
            };
            self.feed_local();
            self.on_event(event);
        }
        self.metrics.engine_busy(started.elapsed());
    }

    fn on_event(&mut self, event: Event) {
        // Any event can change the backend gauges (requests in flight); they are set
        // at most twice a second.
        self.gauges_dirty = true;
        match event {
            Event::Input(input) => {
                match &input {
                    Input::StreamClosed { conn, .. } => {
                        if let Some(handle) = self.conns.remove(conn)
                            && let Some(server) = handle.server
                        {
                            self.metrics.connection_closed(
                                self.server_name(server),
                                handle.transport,
                                &CloseReason::PeerClosed,
                            );
                        }
                    }
                    Input::ConnectFailed { attempt, reason } => {
                        tracing::info!(attempt = attempt.0, "outbound connection failed: {reason}");
                        self.connecting.remove(attempt);
                    }
                    _ => {}
                }
                self.engine.handle(now(self.wall_clock), input);
            }
            Event::Opened {
                server,
                peer,
                local,
                transport,
                certificates,
                writer,
                number,
            } => {
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                if number.send(conn).is_err() {
                    return;
                }
                self.metrics
                    .connection_opened(self.server_name(server), transport);
                self.conns.insert(
                    conn,
                    ConnHandle {
                        writer,
                        server: Some(server),
                        transport,
                    },
                );
                self.engine.handle(
                    now(self.wall_clock),
                    Input::StreamOpened {
                        conn,
                        server,
                        peer,
                        local,
                        transport,
                        peer_certificates: certificates,
                    },
                );
            }
            Event::Connected {
                attempt,
                peer,
                transport,
                writer,
                number,
            } => {
                self.connecting.remove(&attempt);
                let conn = ConnId(self.next_conn);
                self.next_conn += 1;
                if number.send(conn).is_err() {
                    return;
                }
                tracing::info!(%conn, %peer, attempt = attempt.0, "outbound connection established");
                self.conns.insert(
                    conn,
                    ConnHandle {
                        writer,
                        server: None,
                        transport,
                    },
                );
                self.engine.handle(
                    now(self.wall_clock),
                    Input::Connected {
                        attempt,
                        conn,
                        peer,
                    },
                );
            }
            Event::Http {
                mut request,
                answer,
            } => {
                let id = HttpRequestId(self.next_http);
                self.next_http += 1;
                request.id = id;
                self.http_pending.insert(id, (request.server, answer));
                self.engine
                    .handle(now(self.wall_clock), Input::HttpRequest(request));
            }
            Event::Reload(apply) => self.apply_reload(apply),
        }
    }

    async fn drain_outputs(&mut self) {
        let started = std::time::Instant::now();
        self.count_events();
        let mut any = false;
        while let Some(output) = self.engine.poll_output() {
            any = true;
            self.execute(output).await;
        }
        if any {
            self.metrics.engine_busy(started.elapsed());
        }
    }

    /// Answer a [`ConnectionsSnapshot`](super::ConnectionsSnapshot) request: with the
    /// view of its kind built less than [`VIEW_MAX_AGE`] ago, or else with one built
    /// now (the only place a view is built). Building copies every connection (about
    /// 50 ms with 15,000): that time counts in `engine_busy_seconds_total`, and each
    /// build in `engine_view_builds_total`.
    fn answer_view(&mut self, request: ViewRequest) {
        if request.answer.is_closed() {
            // Nobody waits for it any more (the client went away).
            return;
        }
        // Without a cluster, the cluster's connections are this node's.
        let kind = match request.scope {
            Some(Scope::Cluster) if self.program.cluster.is_none() => Some(Scope::Node),
            scope => scope,
        };
        if let Some(view) = self.views_built.fresh(kind, tokio::time::Instant::now()) {
            let _ = request.answer.send(view.clone());
            return;
        }
        let started = std::time::Instant::now();
        let connections: Arc<[ConnectionView]> = match kind {
            None => Arc::from(Vec::new()),
            Some(Scope::Node) => self.local_connections().into_values().collect(),
            Some(Scope::Cluster) => self.cluster_connections().into(),
        };
        let cluster = self
            .engine
            .cluster_status()
            .map(|status| ClusterView::of(&status, now(self.wall_clock).mono));
        let view = EngineView {
            connections,
            counts: self.engine.counts(),
            cluster,
        };
        self.views_built
            .keep(kind, tokio::time::Instant::now(), view.clone());
        self.metrics.engine_busy(started.elapsed());
        self.metrics.engine_view_built();
        let _ = request.answer.send(view);
    }

    /// This node's connections with their counts (and this node's name in a
    /// cluster), by connection number.
    fn local_connections(&self) -> BTreeMap<u64, ConnectionView> {
        let me = self.program.cluster.as_ref().map(|c| c.node.clone());
        self.engine
            .connections()
            .iter()
            .map(|c| {
                let mut view = ConnectionView::from_info(&c.info, c.in_flight, c.queued);
                view.node.clone_from(&me);
                (c.info.id, view)
            })
            .collect()
    }

    /// Every connection of the cluster: this node's with their counts, the other
    /// nodes' with their node's name, in connection-number order.
    fn cluster_connections(&self) -> Vec<ConnectionView> {
        let local = self.local_connections();
        if self.program.cluster.is_none() {
            return local.into_values().collect();
        }
        let mut all = local;
        for c in self.engine.cluster_connections() {
            all.entry(c.info.id)
                .or_insert_with(|| ConnectionView::remote(&c.info, &c.node));
        }
        all.into_values().collect()
    }

    /// Set the backend gauges (`reverse_in_flight`, `reverse_queue_depth`,
    /// `identifiers_in_use`, `backend_server_up`) from the engine. It walks every
    /// connection and backend request the engine holds, so it runs at most twice a
    /// second while things change, never per packet.
    fn publish_backend_gauges(&mut self) {
        self.gauges_dirty = false;
        for out in self.udp.values_mut() {
            let Some(now) = self.net.datagram_drops(&out.socket) else {
                continue;
            };
            let new = now.saturating_sub(out.drops_seen.unwrap_or(now));
            if new > 0 {
                self.metrics
                    .radius_dropped_many(&out.name, DropReason::ReceiveBufferFull, new);
                tracing::warn!(
                    server = %out.name,
                    dropped = new,
                    "the kernel dropped datagrams: the UDP receive buffer was full"
                );
            }
            out.drops_seen = Some(now);
        }
        let gauges = self.engine.backend_gauges();
        for (backend, load) in &gauges.backends {
            let name = self.backend_name(*backend);
            self.metrics.set_reverse_in_flight(name, load.in_flight);
            self.metrics.set_reverse_queue_depth(name, load.queued);
        }
        for (server, count) in &gauges.identifiers {
            self.metrics
                .set_identifiers_in_use(self.server_name(*server), *count);
        }
        for (server, up) in &gauges.servers_up {
            let name = self
                .program
                .backend(server.backend)
                .and_then(|b| match &b.kind {
                    BackendKind::Radius(r) => usize::try_from(server.server)
                        .ok()
                        .and_then(|i| r.servers.get(i)),
                    BackendKind::Sqlite(_) => None,
                })
                .map_or("?", |d| d.name.as_str());
            self.metrics
                .set_backend_server_up(self.backend_name(server.backend), name, *up);
        }
    }

    /// Carry out one engine command. Every `Output` variant is handled here and only
    /// here.
    async fn execute(&mut self, output: Output) {
        match output {
            // Queued for the publisher task; never waits (a full queue drops it).
            Output::Bus { to, data } => match &self.bus {
                Some(bus) => bus.publish(&to, data),
                None => tracing::debug!("no cluster bus: message dropped"),
            },
            Output::SendDatagram {
                server,
                local,
                peer,
                data,
            } => {
                let Some((bound, out)) = udp_socket_for(&self.udp, server, local) else {
                    tracing::warn!(server = %self.server_name(server), "no UDP socket to send from");
                    return;
                };
                // A wildcard socket sends from the address the request came to.
                let source = (bound.ip().is_unspecified() && !local.ip().is_unspecified())
                    .then_some(local.ip());
                out.sender.send(data, peer, source).await;
            }
            Output::StreamWrite { conn, data } => {
                let Some(handle) = self.conns.get(&conn) else {
                    return;
                };
                if !handle.write(conn, data) {
                    // Closed like any other: counted, so that `connections_active`
                    // stays equal to what `/api/v1/connections` lists.
                    if let Some(handle) = self.conns.remove(&conn)
                        && let Some(server) = handle.server
                    {
                        self.metrics.connection_closed(
                            self.server_name(server),
                            handle.transport,
                            &CloseReason::WriteQueueFull,
                        );
                    }
                    let orderly = false;
                    self.local.push_back(Input::StreamClosed { conn, orderly });
                }
            }
            Output::StreamClose { conn, reason } => {
                if let Some(handle) = self.conns.remove(&conn) {
                    tracing::info!(%conn, %reason, "closing connection");
                    if let Some(server) = handle.server {
                        self.metrics.connection_closed(
                            self.server_name(server),
                            handle.transport,
                            &reason,
                        );
                    }
                    // Dropping the writer's queue ends it after what is queued is
                    // written; it then shuts the connection down and stops the reader.
                    drop(handle);
                }
            }
            Output::HttpResponse {
                id,
                status,
                headers,
                body,
            } => {
                if let Some((server, answer)) = self.http_pending.remove(&id) {
                    // Counted by the HTTP handler when it sends it (or its 504).
                    let sent = answer.send(HttpAnswer {
                        status,
                        headers,
                        body,
                    });
                    if sent.is_err() {
                        // The caller got 504 at the HTTP timeout (or went away); what
                        // the request did (a disconnect, say) stands: say so. Any
                        // client can cause this (by closing its connection), so the
                        // warning is rate-limited per server and status.
                        let name = self.server_name(server);
                        crate::log_limit::warn(
                            &format!(
                                "HTTP server \"{name}\": answered with status {status} after its caller had given up"
                            ),
                            format_args!(
                                "HTTP request {} to server \"{name}\": answered with status {status} after its caller had given up (504 at the HTTP timeout, or the connection closed)",
                                id.0
                            ),
                        );
                    }
                }
            }
            Output::Sql {
                effect,
                backend,
                statement,
                params,
            } => match self.sqlite.get(&backend) {
                Some((name, executor)) => {
                    let (name, executor) = (name.clone(), executor.clone());
                    let events = self.events_tx.clone();
                    let metrics = self.metrics.clone();
                    tokio::spawn(async move {
                        let started = tokio::time::Instant::now();
                        let result = executor.query(&statement, params).await;
                        let kind = match &result {
                            Ok(_) => metrics::SqlResult::Ok,
                            Err(SqlError::Busy { .. }) => metrics::SqlResult::Busy,
                            Err(SqlError::Timeout { .. }) => metrics::SqlResult::Timeout,
                            Err(_) => metrics::SqlResult::Error,
                        };
                        metrics.sql_query(&name, kind, started.elapsed());
                        let result = result.map_err(|e| e.to_string());
                        let _ = events
                            .send(Event::Input(Input::SqlDone { effect, result }))
                            .await;
                    });
                }
                None => self.local.push_back(Input::SqlDone {
                    effect,
                    result: Err("no SQLite database is open for this backend".to_owned()),
                }),
            },
            Output::Log(line) => log(&line),
            Output::Connect {
                attempt,
                server,
                target,
            } => {
                let tls = match self.client_tls.get(&server) {
                    Some(tls) => Ok(tls.clone()),
                    None => outbound::client_tls(&self.program, server, &target),
                };
                let tls = match tls {
                    Ok(tls) => {
                        self.client_tls.insert(server, tls.clone());
                        tls
                    }
                    Err(reason) => {
                        self.local
                            .push_back(Input::ConnectFailed { attempt, reason });
                        return;
                    }
                };
                tracing::debug!(attempt = attempt.0, ?target, "connecting out");
                let task = tokio::spawn(outbound::connect(
                    self.net.clone(),
                    attempt,
                    target,
                    tls,
                    self.connect_timeout,
                    self.write_queue,
                    self.events_tx.clone(),
                ));
                self.connecting.insert(attempt, task);
            }
            Output::AbortConnect { attempt } => {
                if let Some(task) = self.connecting.remove(&attempt) {
                    task.abort();
                }
            }
            Output::BackendDatagram { server, to, data } => {
                if !self.backend_udp.contains_key(&server) {
                    let addr = match outbound::resolve(&to).await {
                        Ok(addr) => addr,
                        Err(e) => {
                            tracing::warn!("cannot send to backend server: {e}");
                            return;
                        }
                    };
                    let any: SocketAddr = if addr.is_ipv4() {
                        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                    } else {
                        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    match self.net.bind(any).await {
                        Ok(socket) => {
                            let socket = Arc::new(socket);
                            let task = tokio::spawn(outbound::backend_udp_loop(
                                server,
                                socket.clone(),
                                self.events_tx.clone(),
                            ));
                            self.backend_udp
                                .insert(server, BackendSocket { socket, addr, task });
                        }
                        Err(e) => {
                            tracing::warn!("cannot open a UDP socket for a backend server: {e}");
                            return;
                        }
                    }
                }
                if let Some(b) = self.backend_udp.get(&server)
                    && let Err(e) = b.socket.send_to(&data, b.addr).await
                {
                    tracing::debug!(addr = %b.addr, "backend UDP send failed: {e}");
                }
            }
        }
    }
}

fn log(line: &LogLine) {
    let logger = line.logger.as_deref().unwrap_or("engine");
    match line.severity {
        Severity::Debug => tracing::debug!(logger, "{}", line.text),
        Severity::Info => tracing::info!(logger, "{}", line.text),
        // The engine's own warnings are about dropped input, as often as peers send it:
        // rate-limited per reason and server — and those about a NAS-Identifier claim
        // (duplicate, mismatch, conflict) per identifier, so that each identifier's is
        // written and a summary still names it. Named loggers are the policy's: kept.
        Severity::Warn if line.logger.is_none() => {
            match crate::log_limit::key_naming(&line.text, "announces NAS-Identifier ") {
                Some(key) => crate::log_limit::warn_named(&key, &line.text),
                None => crate::log_limit::warn(&crate::log_limit::key_of(&line.text), &line.text),
            }
        }
        Severity::Warn => tracing::warn!(logger, "{}", line.text),
    }
}

async fn sleep_until_opt(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The socket of `server` a reply to a request that arrived at `local` goes out of,
/// with the address it is bound to: the socket bound to `local` itself; else the
/// server's wildcard socket at that port in the same family; else its IPv6 wildcard
/// at that port (dual-stack: it takes IPv4 too); else any of its sockets.
fn udp_socket_for<N: Net>(
    udp: &BTreeMap<(ServerId, SocketAddr), UdpOut<N>>,
    server: ServerId,
    local: SocketAddr,
) -> Option<(SocketAddr, &UdpOut<N>)> {
    if let Some(out) = udp.get(&(server, local)) {
        return Some((local, out));
    }
    let mut ours = udp
        .iter()
        .filter(|((s, _), _)| *s == server)
        .map(|((_, bound), out)| (*bound, out));
    let at_port = |bound: &SocketAddr| bound.port() == local.port() && bound.ip().is_unspecified();
    ours.clone()
        .find(|(bound, _)| at_port(bound) && bound.is_ipv4() == local.is_ipv4())
        .or_else(|| {
            ours.clone()
                .find(|(bound, _)| at_port(bound) && bound.is_ipv6())
        })
        .or_else(|| ours.next())
}
