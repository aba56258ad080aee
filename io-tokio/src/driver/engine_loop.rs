//! The engine task: the one place that calls the [`Engine`], and the one function
//! ([`EngineLoop::execute`]) that carries out its [`Output`]s.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boomerang_core::engine::outbound::{AttemptId, ServerRef};
use boomerang_core::engine::{
    ConnId, Engine, HttpRequestId, Input, LogLine, Now, Output, Severity, Stats,
};
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::{BackendKind, Program, ServerId};
use tokio::sync::{mpsc, oneshot};

use super::listeners::ConnHandle;
use super::outbound;
use super::{ConnectionsSnapshot, Event, HttpAnswer};
use crate::management::ConnectionView;
use crate::metrics::{self, ClaimResult, DropReason, Metrics, RequestResult};
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

/// The socket kept for one UDP `connect` server.
pub(super) struct BackendSocket<N: Net> {
    socket: Arc<N::Datagram>,
    /// The server's address, resolved when the socket was opened.
    addr: SocketAddr,
    /// Its receive loop.
    task: tokio::task::JoinHandle<()>,
}

/// State of the engine task.
pub(super) struct EngineLoop<N: Net> {
    pub engine: Engine,
    pub program: Arc<Program>,
    pub metrics: Arc<Metrics>,
    pub snapshot: Arc<ConnectionsSnapshot>,
    pub udp: UdpSockets<N>,
    pub sqlite: BTreeMap<BackendId, (String, Arc<SqliteExecutor>)>,
    pub events_tx: mpsc::Sender<Event>,
    pub conns: BTreeMap<ConnId, ConnHandle>,
    pub http_pending: BTreeMap<HttpRequestId, (ServerId, oneshot::Sender<HttpAnswer>)>,
    pub next_conn: u64,
    pub next_http: u64,
    /// Inputs the engine task produced itself (a failed write, an SQL backend that
    /// does not exist), fed before the next event.
    pub local: VecDeque<Input>,
    pub snapshot_dirty: bool,
    /// Status-Server requests the engine answered while handling the last event: the
    /// next that many Access-Accepts written are counted as Status-Server answers.
    pub status_answers: u64,
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
}

impl<N: Net> EngineLoop<N> {
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
        stop_accepting: impl FnOnce(),
    ) -> RunSummary {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut refresh = tokio::time::interval(Duration::from_millis(500));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Outbound `connect` backends that must stay connected dial out now.
        self.engine.start(now(self.wall_clock));
        self.drain_outputs().await;
        // Phase 1: serve.
        loop {
            self.feed_local();
            let timer = self.engine.poll_timeout();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                () = sleep_until_opt(timer) => {
                    self.engine.handle_timeout(now(self.wall_clock));
                    // A timeout changes requests in flight (connections view, gauges).
                    self.snapshot_dirty = true;
                    self.drain_outputs().await;
                }
                _ = refresh.tick(), if self.snapshot_dirty => self.publish_snapshot(),
            }
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
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
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
                    handle.transport.into(),
                    metrics::CloseReason::Shutdown,
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
        // Give writer tasks a moment to send close_notify / FIN.
        tokio::time::sleep(Duration::from_millis(100)).await;
        RunSummary {
            drained,
            connections_closed,
            http_abandoned,
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

    /// Count what the engine discarded while handling one packet of `server`.
    fn count_drops(&self, server: ServerId, before: &Stats) {
        let after = self.engine.stats();
        let name = self.server_name(server);
        let diffs = [
            (
                after.udp_malformed.saturating_sub(before.udp_malformed),
                DropReason::Malformed,
            ),
            (
                after
                    .udp_unknown_client
                    .saturating_sub(before.udp_unknown_client),
                DropReason::UnknownClient,
            ),
            (
                after
                    .udp_bad_authenticator
                    .saturating_sub(before.udp_bad_authenticator),
                DropReason::BadAuthenticator,
            ),
            (
                after
                    .udp_not_a_request
                    .saturating_sub(before.udp_not_a_request),
                DropReason::UnknownCode,
            ),
            (
                (after.udp_duplicates_joined + after.udp_duplicates_replayed)
                    - (before.udp_duplicates_joined + before.udp_duplicates_replayed),
                DropReason::Duplicate,
            ),
            (
                (after.udp_duplicate_cache_full + after.tasks_refused)
                    - (before.udp_duplicate_cache_full + before.tasks_refused),
                DropReason::Overloaded,
            ),
            (
                after
                    .stream_unknown_code
                    .saturating_sub(before.stream_unknown_code),
                DropReason::UnknownCode,
            ),
            (
                after
                    .reverse_stray_replies
                    .saturating_sub(before.reverse_stray_replies),
                DropReason::UnmatchedReply,
            ),
        ];
        for (n, reason) in diffs {
            for _ in 0..n {
                self.metrics.radius_dropped(name, reason);
            }
        }
        if after.no_policy > before.no_policy {
            self.metrics.policy_no_match(name);
        }
        let claims = [
            (
                after
                    .nas_identifier_duplicates
                    .saturating_sub(before.nas_identifier_duplicates),
                ClaimResult::Duplicate,
            ),
            (
                after
                    .nas_identifier_mismatches
                    .saturating_sub(before.nas_identifier_mismatches),
                ClaimResult::Mismatch,
            ),
            (
                after
                    .nas_identifier_conflicts
                    .saturating_sub(before.nas_identifier_conflicts),
                ClaimResult::Conflict,
            ),
        ];
        for (n, result) in claims {
            for _ in 0..n {
                self.metrics.nas_identifier_claim(name, result);
            }
        }
    }

    /// For a reply code we send: the request code it answers and how it ended.
    fn reply_kind(&mut self, code: u8) -> Option<(&'static str, RequestResult)> {
        if code == 2 && self.status_answers > 0 {
            self.status_answers -= 1;
            return Some(("Status-Server", RequestResult::Accept));
        }
        reply_kind(code)
    }

    fn feed_local(&mut self) {
        while let Some(input) = self.local.pop_front() {
            self.engine.handle(now(self.wall_clock), input);
        }
    }

    fn on_event(&mut self, event: Event) {
        // Any event can change what the connections view shows (requests in flight,
        // Status-Server facts); the view is refreshed at most twice a second.
        self.snapshot_dirty = true;
        match event {
            Event::Input(input) => {
                let dropping_server = match &input {
                    Input::Datagram { server, .. } => Some(*server),
                    Input::StreamData { conn, .. } => self.conns.get(conn).and_then(|h| h.server),
                    _ => None,
                };
                let before = dropping_server.map(|_| self.engine.stats().clone());
                match &input {
                    Input::StreamClosed { conn } => {
                        if let Some(handle) = self.conns.remove(conn) {
                            if let Some(server) = handle.server {
                                self.metrics.connection_closed(
                                    self.server_name(server),
                                    handle.transport.into(),
                                    metrics::CloseReason::PeerClosed,
                                );
                            }
                            self.snapshot_dirty = true;
                        }
                    }
                    Input::ConnectFailed { attempt, reason } => {
                        tracing::info!(attempt = attempt.0, "outbound connection failed: {reason}");
                        self.connecting.remove(attempt);
                    }
                    Input::StreamData { .. } => self.snapshot_dirty = true,
                    _ => {}
                }
                let status_before = self.engine.stats().status_server;
                self.engine.handle(now(self.wall_clock), input);
                self.status_answers += self
                    .engine
                    .stats()
                    .status_server
                    .saturating_sub(status_before);
                if let (Some(server), Some(before)) = (dropping_server, before) {
                    self.count_drops(server, &before);
                }
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
                    .connection_opened(self.server_name(server), transport.into());
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
                self.snapshot_dirty = true;
            }
            Event::Connected {
                attempt,
                peer,
                local,
                transport,
                certificates,
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
                        local,
                        peer,
                        peer_certificates: certificates,
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
        }
    }

    async fn drain_outputs(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            self.execute(output).await;
        }
        if self.snapshot_dirty && self.conns.len() != self.snapshot_len() {
            self.publish_snapshot();
        }
    }

    fn snapshot_len(&self) -> usize {
        use crate::management::ConnectionsSource;
        self.snapshot.snapshot().len()
    }

    fn publish_snapshot(&mut self) {
        let views = self
            .engine
            .connections()
            .iter()
            .map(|c| ConnectionView::from_info(&c.info, c.in_flight, c.queued))
            .collect();
        self.snapshot.publish(views);
        self.snapshot.publish_counts(self.engine.counts());
        self.snapshot_dirty = false;
        self.publish_backend_gauges();
    }

    /// Set the backend gauges (`reverse_in_flight`, `reverse_queue_depth`,
    /// `identifiers_in_use`, `backend_server_up`) from the engine. It walks every
    /// backend request the engine holds, so it runs with the connections view (at
    /// most twice a second while things change), not per packet.
    fn publish_backend_gauges(&self) {
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
            Output::SendDatagram {
                server,
                local,
                peer,
                data,
            } => {
                let kind = data.first().and_then(|c| self.reply_kind(*c));
                let socket = self.udp.get(&(server, local)).or_else(|| {
                    self.udp
                        .iter()
                        .find(|((s, _), _)| *s == server)
                        .map(|(_, v)| v)
                });
                let Some((name, socket)) = socket else {
                    tracing::warn!(server = %self.server_name(server), "no UDP socket to send from");
                    return;
                };
                if let Some((code, result)) = kind {
                    self.metrics.radius_request(name, code, result);
                }
                if let Err(e) = socket.send_to(&data, peer).await {
                    tracing::debug!(%peer, "UDP send failed: {e}");
                }
            }
            Output::StreamWrite { conn, data } => {
                let kind = data.first().and_then(|c| self.reply_kind(*c));
                let Some(handle) = self.conns.get(&conn) else {
                    return;
                };
                if let (Some((code, result)), Some(server)) = (kind, handle.server) {
                    self.metrics
                        .radius_request(self.server_name(server), code, result);
                }
                if !handle.write(conn, data) {
                    self.conns.remove(&conn);
                    self.local.push_back(Input::StreamClosed { conn });
                }
            }
            Output::StreamClose { conn, reason } => {
                if let Some(handle) = self.conns.remove(&conn) {
                    tracing::info!(%conn, %reason, "closing connection");
                    let why = match reason {
                        boomerang_core::engine::CloseReason::Idle => {
                            metrics::CloseReason::IdleTimeout
                        }
                        _ => metrics::CloseReason::ProtocolError,
                    };
                    if let Some(server) = handle.server {
                        self.metrics.connection_closed(
                            self.server_name(server),
                            handle.transport.into(),
                            why,
                        );
                    }
                    // Dropping the writer's queue ends it after what is queued is
                    // written; it then shuts the connection down and stops the reader.
                    drop(handle);
                    self.snapshot_dirty = true;
                }
            }
            Output::HttpResponse {
                id,
                status,
                headers,
                body,
            } => {
                if let Some((server, answer)) = self.http_pending.remove(&id) {
                    self.metrics.http_request(self.server_name(server), status);
                    let _ = answer.send(HttpAnswer {
                        status,
                        headers,
                        body,
                    });
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
            Output::BackendRequestFinished {
                backend,
                outcome,
                latency,
            } => {
                self.metrics
                    .reverse_request(self.backend_name(backend), outcome.into(), latency);
            }
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
                if let Some(b) = self.backend_udp.get(&server) {
                    if let Err(e) = b.socket.send_to(&data, b.addr).await {
                        tracing::debug!(addr = %b.addr, "backend UDP send failed: {e}");
                    }
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
        Severity::Warn => tracing::warn!(logger, "{}", line.text),
    }
}

/// For a reply code we send: the request code it answers and how it ended.
fn reply_kind(code: u8) -> Option<(&'static str, RequestResult)> {
    Some(match code {
        2 => ("Access-Request", RequestResult::Accept),
        3 => ("Access-Request", RequestResult::Reject),
        11 => ("Access-Request", RequestResult::Challenge),
        5 => ("Accounting-Request", RequestResult::AccountingResponse),
        41 => ("Disconnect-Request", RequestResult::Ack),
        42 => ("Disconnect-Request", RequestResult::Nak),
        44 => ("CoA-Request", RequestResult::Ack),
        45 => ("CoA-Request", RequestResult::Nak),
        _ => return None,
    })
}

async fn sleep_until_opt(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
