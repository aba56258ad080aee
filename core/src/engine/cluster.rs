//! The engine's side of the cluster part ([`crate::cluster`]): bus messages in
//! and out, this node's connections published as they change, `@select` over
//! every node's connections, and both ends of a forwarded reverse request.

use std::sync::Arc;

use crate::cluster::wire::{hex, unhex};
use crate::cluster::{
    ClusterConnection, ClusterPart, ClusterSizes, ClusterStatus, ConnFacts, ForwardResult,
    Happened, IncomingKey,
};
use crate::contract::{ConnId, Event, ForwardEnd, ForwardSide, Output, ReverseStep, Severity};
use crate::engine::pipeline::{Started, internal_error};
use crate::engine::task::{Phase, Task, TaskId, Wait, Waiter};
use crate::engine::{Engine, Now};
use crate::eval::context::ConnectionInfo;
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::lang::program::{BackendKind, RadiusServerMode};
use crate::peer::{Failure, Request, Submitted};
use crate::radius::packet::Packet;
use crate::reverse::index::Probe;

/// Two candidate lists in connection-number order, merged in that order.
fn merge(a: Vec<Arc<ConnectionInfo>>, b: Vec<Arc<ConnectionInfo>>) -> Vec<Arc<ConnectionInfo>> {
    if b.is_empty() {
        return a;
    }
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.id <= y.id,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_a { a.next() } else { b.next() };
        out.extend(next);
    }
    out
}

/// The metrics' name for how a forwarded request ended.
fn end_of(result: &ForwardResult) -> ForwardEnd {
    match result {
        ForwardResult::Reply { .. } => ForwardEnd::Reply,
        ForwardResult::Timeout { .. } => ForwardEnd::Timeout,
        ForwardResult::Lost { .. } => ForwardEnd::Lost,
        ForwardResult::Error { .. } => ForwardEnd::Error,
    }
}

impl Engine {
    /// The `@select` candidates of every node, in connection-number order (this
    /// node's and the view's, each from its own index).
    pub(super) fn candidates(&self, probe: Option<&Probe>) -> Vec<Arc<ConnectionInfo>> {
        let local = self.registry.candidates(probe);
        match &self.cluster {
            Some(c) => merge(local, c.view().candidates(probe)),
            None => local,
        }
    }

    /// The cluster part, for an engine that belongs to a cluster.
    pub(super) fn new_cluster_part(
        program: &crate::lang::program::Program,
        rng: &mut dyn crate::rng::RandomSource,
    ) -> Option<ClusterPart<TaskId>> {
        let config = program.cluster.clone()?;
        let mut epoch = [0u8; 8];
        rng.fill(&mut epoch);
        Some(ClusterPart::new(config, u64::from_le_bytes(epoch)))
    }

    /// The cluster: this node, the bus, the other nodes (`None` without
    /// `cluster { … }`).
    pub fn cluster_status(&self) -> Option<ClusterStatus> {
        let c = self.cluster.as_ref()?;
        Some(ClusterStatus {
            name: c.config().name.clone(),
            node: c.me().name.clone(),
            node_id: c.me().id,
            bus_up: c.bus_up(),
            local_connections: self.registry.len(),
            nodes: c.view().nodes(),
            forwarded_waiting: c.outgoing_len(),
            incoming_running: c.incoming_running(),
        })
    }

    /// The other nodes in the view and their connections, counted without a walk
    /// (for gauges; `None` without `cluster { … }`).
    pub fn cluster_sizes(&self) -> Option<ClusterSizes> {
        let c = self.cluster.as_ref()?;
        Some(ClusterSizes {
            nodes: c.view().node_count(),
            view_connections: c.view().len(),
            forwarded_waiting: c.outgoing_len(),
        })
    }

    /// Every connection of the cluster, in connection-number order, with its
    /// node (this node's alone without `cluster { … }`).
    pub fn cluster_connections(&self) -> Vec<ClusterConnection> {
        let me = self
            .cluster
            .as_ref()
            .map_or_else(String::new, |c| c.me().name.clone());
        let local = self.registry.iter().map(|(_, e)| ClusterConnection {
            info: e.info().clone(),
            node: me.clone(),
        });
        let Some(c) = &self.cluster else {
            return local.collect();
        };
        let mut all: Vec<ClusterConnection> = local
            .chain(c.view().iter().map(|(info, r)| ClusterConnection {
                info: info.clone(),
                node: c.view().node_name(r.node).unwrap_or("?").to_owned(),
            }))
            .collect();
        all.sort_by_key(|c| c.info.id);
        all
    }

    /// This node's connections as the view's facts.
    fn local_facts(&self, ids: impl Iterator<Item = ConnId>) -> (Vec<ConnFacts>, Vec<u64>) {
        let (mut upsert, mut remove) = (Vec::new(), Vec::new());
        for id in ids {
            match self.registry.get(id) {
                Some(e) => upsert.push(ConnFacts::of(e.info(), e.state.binding.name())),
                None => remove.push(id.0),
            }
        }
        (upsert, remove)
    }

    /// After each input: publish what changed among this node's connections,
    /// and hand the bus messages to the driver.
    pub(super) fn flush_cluster(&mut self) {
        if self.cluster.is_none() {
            return;
        }
        let changed = self.registry.take_changes();
        if !changed.is_empty() {
            let (upsert, remove) = self.local_facts(changed.into_iter());
            if let Some(c) = &mut self.cluster {
                c.publish(upsert, remove);
            }
        }
        if let Some(c) = &mut self.cluster {
            while let Some((to, data)) = c.poll_send() {
                self.outputs.push_back(Output::Bus { to, data });
            }
        }
    }

    /// The cluster part's timers.
    pub(super) fn cluster_timeout(&mut self, now: Now) {
        let local = self.registry.len();
        let Some(c) = &mut self.cluster else {
            return;
        };
        if c.poll_timeout().is_some_and(|at| at > now.mono) {
            return;
        }
        let happened = c.handle_timeout(now.mono, local);
        self.cluster_happened(now, happened);
    }

    /// `Input::Bus`.
    pub(super) fn on_bus(&mut self, now: Now, data: &[u8]) {
        let local = self.registry.len();
        let Some(c) = &mut self.cluster else {
            self.log(
                Severity::Warn,
                "a cluster message arrived, but this node has no cluster { } section".into(),
            );
            return;
        };
        let happened = c.receive(now.mono, data, local);
        self.cluster_happened(now, happened);
    }

    /// `Input::BusState`.
    pub(super) fn on_bus_state(&mut self, now: Now, up: bool, detail: &str) {
        let local = self.registry.len();
        let Some(c) = &mut self.cluster else {
            return;
        };
        let was = c.bus_up();
        c.bus_state(now.mono, up, local);
        if was != up {
            let (severity, text) = if up {
                (
                    Severity::Info,
                    format!("cluster bus up ({detail}); announcing this node"),
                )
            } else {
                (
                    Severity::Warn,
                    format!(
                        "cluster bus down ({detail}); serving this node's connections only until it returns"
                    ),
                )
            };
            self.log(severity, text);
        }
    }

    fn cluster_happened(&mut self, now: Now, happened: Vec<Happened<TaskId>>) {
        for h in happened {
            match h {
                Happened::Answered {
                    waiter,
                    result,
                    latency,
                } => {
                    self.emit(Event::Forward {
                        side: ForwardSide::Sent,
                        end: end_of(&result),
                        latency: Some(latency),
                    });
                    self.forward_answered(now, waiter, result);
                }
                Happened::TimedOut { waiter } => {
                    self.emit(Event::Forward {
                        side: ForwardSide::Sent,
                        end: ForwardEnd::NoAnswer,
                        latency: None,
                    });
                    let Some(task) = self.runs.take(waiter) else {
                        continue;
                    };
                    let err = ErrorValue::new(
                        ErrorCode::ReverseTimeout,
                        "the node holding the connection did not answer in time",
                    );
                    self.resume_backend(now, waiter, task, Err(err));
                }
                // The owner may have sent it: the rule of a connection closed
                // after the request was written.
                Happened::OwnerLost { waiter } => {
                    self.emit(Event::Forward {
                        side: ForwardSide::Sent,
                        end: ForwardEnd::OwnerLost,
                        latency: None,
                    });
                    self.reverse_connection_lost(now, waiter, true);
                }
                Happened::Forwarded {
                    key,
                    conn,
                    backend,
                    server,
                    packet,
                    timeout,
                } => self.run_forwarded(now, key, conn, &backend, &server, packet, timeout),
                Happened::SnapshotWanted { node } => {
                    let ids: Vec<ConnId> = self.registry.iter().map(|(id, _)| id).collect();
                    let (facts, _) = self.local_facts(ids.into_iter());
                    if let Some(c) = &mut self.cluster {
                        c.send_snapshot(&node, facts);
                    }
                }
                Happened::Membership { node, joined } => {
                    let text = if joined {
                        format!("cluster: node \"{node}\" joined the view")
                    } else {
                        format!(
                            "cluster: node \"{node}\" not heard from in time; its connections left the view"
                        )
                    };
                    self.log(Severity::Info, text);
                }
                Happened::TurnedAway => self.emit(Event::Forward {
                    side: ForwardSide::Served,
                    end: ForwardEnd::Error,
                    latency: None,
                }),
                Happened::Refused { reason } => {
                    self.log(Severity::Warn, format!("cluster message refused: {reason}"));
                }
            }
        }
        self.flush_cluster();
    }

    // ----- the trigger's node -----------------------------------------------

    /// Send task `tid`'s reverse request to the node that holds `conn`.
    pub(super) fn forward(
        &mut self,
        now: Now,
        tid: TaskId,
        task: &mut Task,
        conn: ConnId,
    ) -> Started {
        let program = task.program.clone();
        let Wait::Reverse(call) = &mut task.wait else {
            return Started::Done(Err(internal_error("forward without a reverse call")));
        };
        let Some(backend) = program.backend(call.backend) else {
            return Started::Done(Err(internal_error("reverse backend vanished")));
        };
        let BackendKind::Radius(r) = &backend.kind else {
            return Started::Done(Err(internal_error("reverse backend is not RADIUS")));
        };
        let Some(server) = r.servers.get(call.server) else {
            return Started::Done(Err(internal_error("reverse server vanished")));
        };
        let packet = match call.template.encode() {
            Ok(p) => p,
            Err(e) => {
                return Started::Done(Err(ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!("the reverse request could not be encoded: {e}"),
                )));
            }
        };
        let fid = self.cluster.as_mut().and_then(|c| {
            c.forward(
                now.mono,
                tid,
                conn,
                &backend.name,
                &server.name,
                &packet,
                server.timeout,
            )
        });
        match fid {
            Some(fid) => {
                call.phase = Phase::Forwarded { conn, fid };
                // The owner may write it at any moment.
                call.written = true;
                call.trace.sent(now.mono);
                self.step(ReverseStep::Forwarded);
                self.flush_cluster();
                Started::Parked
            }
            // Closed meanwhile, before anything was sent: select again.
            None => self.retry_or_closed(now, tid, task, false),
        }
    }

    fn forward_answered(&mut self, now: Now, tid: TaskId, result: ForwardResult) {
        match result {
            ForwardResult::Reply {
                packet,
                authenticator,
            } => {
                let decoded = unhex(&packet)
                    .map_err(|e| e.to_string())
                    .and_then(|b| Packet::decode(b.into()).map_err(|e| e.to_string()));
                let auth: Option<[u8; 16]> = unhex(&authenticator)
                    .ok()
                    .and_then(|a| <[u8; 16]>::try_from(a.as_slice()).ok());
                match (decoded, auth) {
                    (Ok(packet), Some(auth)) => {
                        self.step(ReverseStep::Replied);
                        self.reverse_reply(now, tid, &packet, &auth);
                    }
                    (Err(e), _) => self.fail_forward(now, tid, ErrorCode::Error, e),
                    (_, None) => self.fail_forward(
                        now,
                        tid,
                        ErrorCode::Error,
                        "a forwarded reply without its authenticator".into(),
                    ),
                }
            }
            ForwardResult::Timeout { after_ms } => self.fail_forward(
                now,
                tid,
                ErrorCode::ReverseTimeout,
                format!("no reply within {after_ms} ms (on another node's connection)"),
            ),
            ForwardResult::Lost { seen } => self.reverse_connection_lost(now, tid, seen),
            ForwardResult::Error { code, message } => {
                let code = ErrorCode::from_name(&code).unwrap_or(ErrorCode::Error);
                self.fail_forward(now, tid, code, message);
            }
        }
    }

    fn fail_forward(&mut self, now: Now, tid: TaskId, code: ErrorCode, message: String) {
        if let Some(task) = self.runs.take(tid) {
            self.resume_backend(now, tid, task, Err(ErrorValue::new(code, message)));
        }
    }

    // ----- the connection's node ---------------------------------------------

    /// Send a request another node forwarded on this node's connection `conn`.
    #[allow(clippy::too_many_arguments)]
    fn run_forwarded(
        &mut self,
        now: Now,
        key: IncomingKey,
        conn: ConnId,
        backend: &str,
        server: &str,
        packet: Vec<u8>,
        timeout: std::time::Duration,
    ) {
        let answer = |code: ErrorCode, message: String| ForwardResult::Error {
            code: code.name().to_owned(),
            message,
        };
        let secret =
            self.program
                .backends
                .iter()
                .find(|b| b.name == backend)
                .and_then(|b| match &b.kind {
                    BackendKind::Radius(r) => r.servers.iter().find(|s| {
                        s.name == server && matches!(s.mode, RadiusServerMode::Reverse(_))
                    }),
                    BackendKind::Sqlite(_) => None,
                })
                .map(|s| Arc::<[u8]>::from(s.secret.as_bytes()));
        let Some(secret) = secret else {
            let result = answer(
                ErrorCode::Error,
                format!("no reverse server \"{server}\" of backend \"{backend}\" on this node"),
            );
            return self.answer_incoming(now, key, result);
        };
        let template = match Packet::decode(packet.into()) {
            Ok(p) => p,
            Err(e) => {
                let result = answer(ErrorCode::InvalidValue, format!("forwarded request: {e}"));
                return self.answer_incoming(now, key, result);
            }
        };
        if !self.registry.contains(conn) {
            return self.answer_incoming(now, key, ForwardResult::Lost { seen: false });
        }
        let req = Request::reverse(Waiter::Forwarded(key), template, secret, timeout);
        match self.submit_reverse(now, conn, req) {
            None => self.answer_incoming(now, key, ForwardResult::Lost { seen: false }),
            Some(Ok(Submitted::Sent { bytes, .. })) => self.write_reverse(conn, bytes),
            Some(Ok(Submitted::Queued)) => {}
            Some(Err(e)) => self.answer_incoming(now, key, answer(e.code, e.message)),
        }
    }

    fn answer_incoming(&mut self, now: Now, key: IncomingKey, result: ForwardResult) {
        self.emit(Event::Forward {
            side: ForwardSide::Served,
            end: end_of(&result),
            latency: None,
        });
        if let Some(c) = &mut self.cluster {
            c.answer(now.mono, key, result);
        }
        self.flush_cluster();
    }

    /// The NAS answered a forwarded request.
    pub(super) fn answer_forwarded(
        &mut self,
        now: Now,
        key: IncomingKey,
        packet: &Packet,
        authenticator: &[u8; 16],
    ) {
        let result = match packet.encode() {
            Ok(bytes) => ForwardResult::Reply {
                packet: hex(&bytes),
                authenticator: hex(authenticator),
            },
            Err(e) => ForwardResult::Error {
                code: ErrorCode::Error.name().to_owned(),
                message: format!("the reply could not be passed on: {e}"),
            },
        };
        self.answer_incoming(now, key, result);
    }

    /// A forwarded request failed on this node's connection.
    pub(super) fn forwarded_failed(&mut self, now: Now, key: IncomingKey, failure: Failure) {
        let result = match failure {
            Failure::Timeout { after } => ForwardResult::Timeout {
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            },
            Failure::Encode(e) => ForwardResult::Error {
                code: ErrorCode::InvalidValue.name().to_owned(),
                message: format!("the reverse request could not be encoded: {e}"),
            },
            failure @ Failure::Queued { .. } => ForwardResult::Error {
                code: ErrorCode::ReverseTimeout.name().to_owned(),
                message: failure.to_string(),
            },
        };
        self.answer_incoming(now, key, result);
    }

    /// A forwarded request's connection closed before a reply.
    pub(super) fn forwarded_lost(&mut self, now: Now, key: IncomingKey, seen: bool) {
        self.answer_incoming(now, key, ForwardResult::Lost { seen });
    }

    /// The cluster's part of [`Engine::check_invariants`]: the part's own check,
    /// then every forwarded request has its waiting task and back, and every
    /// request another node forwarded is on a peer machine while it runs.
    pub(super) fn check_cluster(&self) -> Result<(), String> {
        let Some(c) = &self.cluster else {
            return Ok(());
        };
        c.check()?;
        for (fid, tid) in c.outgoing_waiters() {
            match self.runs.get(tid).map(|t| &t.wait) {
                Some(Wait::Reverse(call)) if matches!(call.phase, Phase::Forwarded { fid: f, .. } if f == fid) =>
                    {}
                _ => return Err(format!("forward {fid}: task {tid} does not wait for it")),
            }
        }
        for (tid, task) in self.runs.iter() {
            if let Wait::Reverse(call) = &task.wait
                && let Phase::Forwarded { conn, fid } = call.phase
            {
                let owner = crate::lang::program::Cluster::owner_of(conn.0);
                if c.outgoing(fid) != Some((tid, owner)) {
                    return Err(format!(
                        "task {tid} waits for forward {fid} to the owner of {conn}, not pending"
                    ));
                }
            }
        }
        let mut on_peers = 0usize;
        for (_, peer) in self.peers.iter() {
            for w in peer
                .in_flight_waiters()
                .map(|(_, w)| w)
                .chain(peer.queued_waiters())
            {
                if let Waiter::Forwarded(key) = w {
                    if !c.is_running(&key) {
                        return Err(format!("forwarded {key:?} on a peer but not running"));
                    }
                    on_peers += 1;
                }
            }
        }
        if on_peers != c.incoming_running() {
            return Err(format!(
                "{} forwarded requests running, {on_peers} on peer machines",
                c.incoming_running()
            ));
        }
        Ok(())
    }
}
