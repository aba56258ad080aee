//! The server engine: a deterministic state machine, events in, commands out.
//!
//! ```text
//! engine.handle(now, Input::…);                       // feed one event
//! while let Some(out) = engine.poll_output() { … }    // carry out commands, in order
//! engine.poll_timeout() -> Option<Instant>;           // sleep until then, or until input
//! engine.handle_timeout(now);                         // then call this
//! ```
//!
//! It runs RADIUS servers over UDP, TCP and TLS (client lookup, verification,
//! RFC 5080 duplicate detection on UDP, RFC 6613 close rules on streams,
//! Status-Server), HTTP servers, the policies of the [`Program`], SQL backends as
//! effects the driver carries out, and reverse backends entirely inside: `@select`
//! over the registry of inbound stream connections, per-connection identifier
//! pools with a bounded FIFO backlog, signing, reply matching and verification,
//! timeouts and retries; and the dialer ([`dialer`], wired in by
//! `dialed.rs`): `connect` backends in query and proxy mode, and `listen { backend
//! … }` servers answering requests that arrive over our own dialed connections.
//! See `docs/architecture.md` for the contract with the driver and the invariants.

pub mod attrs;
pub mod backoff;
pub mod cert;
pub mod dedup;
pub mod dialer;
pub mod options;
pub mod task;
pub mod time;

mod backend;
mod backend_metrics;
mod cluster;
mod dialed;
pub mod identity;
mod inbound;
mod liveness;
mod pipeline;
mod reload;
mod request;
mod runs;
mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

pub use crate::cluster::{ClusterConnection, ClusterStatus};
pub use crate::contract::{BackendGauges, BackendLoad, ReloadError, Reloaded};
pub use crate::contract::{
    BackendOutcome, CloseReason, ConnId, DropReason, EffectId, Event, HttpRequest, HttpRequestId,
    Input, LogLine, NasIdentifierClaim, Output, REMOVED_BACKEND, ReverseStep, Severity, Unanswered,
};
pub use options::{EngineOptions, Limits};
pub use task::TaskId;
pub use time::Now;

use crate::cluster::ClusterPart;
use crate::engine::attrs::DictSchema;
use crate::engine::dedup::DupCache;
use crate::engine::dialer::{Dialer, DialerCounts};
use crate::engine::runs::Runs;
use crate::engine::task::Waiter;
use crate::eval::context::ConnectionInfo;
use crate::eval::ir::BackendId;
use crate::lang::program::Program;
use crate::peer::Peers;
use crate::reverse::index::SelectPlan;
use crate::reverse::registry::Registry;
use crate::rng::RandomSource;
use crate::timers::Timers;

use crate::engine::stream::StreamState;

/// How much state the engine holds: every count but `connections`, `timers`
/// (idle timers of open connections) and `duplicate_answers` is zero once all work
/// has completed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounts {
    /// Requests being handled.
    pub tasks: usize,
    /// SQL statements asked for and not yet answered.
    pub sql_pending: usize,
    /// Reverse requests in flight, over all connections.
    pub reverse_in_flight: usize,
    /// Reverse requests waiting for an identifier, over all connections.
    pub reverse_queued: usize,
    /// Identifiers resting after a timeout (retired), over all connections.
    pub resting_ids: usize,
    /// Timers set.
    pub timers: usize,
    /// Active stream connections.
    pub connections: usize,
    /// UDP requests in flight in the duplicate cache.
    pub duplicate_in_flight: usize,
    /// Answered UDP requests kept for retransmissions.
    pub duplicate_answers: usize,
    /// Requests handed to `connect` backends and not yet answered.
    pub connect_pending: usize,
}

/// One active stream connection, for the management API and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    /// What `connection.*` reads.
    pub info: Arc<ConnectionInfo>,
    /// Our requests in flight on it.
    pub in_flight: usize,
    /// Our requests waiting for an identifier on it.
    pub queued: usize,
    /// Identifiers allocated (in flight or resting after a timeout); at most 256.
    pub ids_in_use: usize,
}

/// Events of earlier inputs kept for a dispatcher that does not call
/// [`Engine::poll_event`] (a test or simulation that only executes commands), so
/// that they cannot pile up. The events of the input being handled are never
/// dropped, however many it makes (a connection closing with 16,000 requests
/// pending makes several per request), so a dispatcher that drains them after every
/// input, as the daemon does, loses none.
pub const EVENT_QUEUE_LIMIT: usize = 4096;

/// The server engine; see the module documentation.
pub struct Engine {
    program: Arc<Program>,
    schema: Arc<DictSchema>,
    rng: Box<dyn RandomSource + Send>,
    env: Arc<BTreeMap<String, String>>,
    limits: Limits,
    outputs: VecDeque<Output>,
    /// Observations not yet taken with [`Engine::poll_event`] (at most
    /// [`EVENT_QUEUE_LIMIT`]).
    events: VecDeque<Event>,
    /// The idle timer of each accepted stream connection that has an idle timeout.
    idle_timers: Timers<ConnId>,
    registry: Registry<StreamState>,
    /// The peer machine of each accepted stream connection (our requests on it).
    peers: Peers<ConnId, Waiter>,
    /// The tasks and what they are parked on.
    runs: Runs,
    dedup: DupCache,
    /// Round-robin counters per reverse server (backend, server index).
    counters: BTreeMap<(BackendId, usize), u64>,
    /// `@select` index plans per reverse server.
    plans: BTreeMap<(BackendId, usize), SelectPlan>,
    /// The dialer (`connect` backends, `listen { backend … }` servers),
    /// created by [`Engine::start`].
    dialer: Option<Dialer>,
    /// This node's part of its `cluster { … }`, if any.
    cluster: Option<ClusterPart<TaskId>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine running `program`.
    pub fn new(program: Arc<Program>, options: EngineOptions) -> Engine {
        let plans = crate::reverse::index::select_plans(&program);
        let limits = options.limits;
        let mut rng = options.rng;
        let cluster = Self::new_cluster_part(&program, rng.as_mut());
        let mut registry = Registry::new();
        if cluster.is_some() {
            registry.track_changes();
        }
        Engine {
            schema: Arc::new(DictSchema::new(program.dictionary.clone())),
            program,
            rng,
            env: Arc::new(options.env),
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            idle_timers: Timers::default(),
            registry,
            peers: Peers::default(),
            runs: Runs::new(),
            dedup: DupCache::new(limits.duplicate_cache_entries, limits.duplicate_cache_ttl),
            counters: BTreeMap::new(),
            plans,
            limits,
            dialer: None,
            cluster,
        }
    }

    /// The program being run.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Feed one event.
    pub fn handle(&mut self, now: Now, input: Input) {
        // Timers that are due run first, so that an event never sees state a due
        // timeout should already have changed.
        self.handle_timeout(now);
        match input {
            Input::Bus { data } => self.on_bus(now, &data),
            Input::BusState { up, detail } => self.on_bus_state(now, up, &detail),
            Input::StreamData { conn, data } if self.dialer_owns(conn) => {
                self.on_dialed_stream_data(now, conn, &data)
            }
            Input::StreamClosed { conn, .. } if self.dialer_owns(conn) => {
                self.on_dialed_stream_closed(now, conn)
            }
            Input::StreamOpened { conn, .. } if self.dialer_owns(conn) => {
                self.refuse_clashing_stream(conn)
            }
            Input::Connected {
                attempt,
                conn,
                peer,
            } => self.on_connected(now, attempt, conn, peer),
            Input::ConnectFailed { attempt, reason } => {
                self.on_connect_failed(now, attempt, &reason)
            }
            Input::BackendDatagram { server, from, data } => {
                self.on_backend_datagram(now, server, from, &data)
            }
            Input::Datagram {
                server,
                peer,
                local,
                data,
            } => self.on_datagram(now, server, peer, local, data),
            Input::StreamOpened {
                conn,
                server,
                peer,
                local,
                transport,
                peer_certificates,
            } => self.on_stream_opened(
                now,
                conn,
                server,
                peer,
                local,
                transport,
                &peer_certificates,
            ),
            Input::StreamData { conn, data } => self.on_stream_data(now, conn, &data),
            Input::StreamClosed { conn, orderly } => self.on_stream_closed(now, conn, orderly),
            Input::HttpRequest(req) => self.on_http(now, req),
            Input::SqlDone { effect, result } => self.on_sql_done(now, effect, result),
        }
        self.drain_dialer(now);
        self.flush_cluster();
    }

    /// The next command for the driver, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next observation, for metrics, in order. Events are not commands: a
    /// dispatcher that does not count anything may leave them; the engine then
    /// keeps only the latest [`EVENT_QUEUE_LIMIT`] of earlier inputs' events.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.idle_timers.next(),
            self.peers.poll_timeout(),
            self.dedup.next_expiry(),
            self.dialer.as_ref().and_then(Dialer::poll_timeout),
            self.cluster.as_ref().and_then(ClusterPart::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Now) {
        // Every input starts here ([`Engine::handle`] too): events earlier inputs
        // left untaken are trimmed now, never those of the input to come.
        if let Some(excess) = self.events.len().checked_sub(EVENT_QUEUE_LIMIT) {
            self.events.drain(..excess);
        }
        self.start(now);
        // The engine's timers and the peers' deadlines, earliest first (the
        // engine's first at the same instant).
        loop {
            let due = |at: Option<Instant>| at.filter(|at| *at <= now.mono);
            match (due(self.idle_timers.next()), due(self.peers.poll_timeout())) {
                (Some(t), p) if p.is_none_or(|p| t <= p) => {
                    match self.idle_timers.pop_due(now.mono) {
                        Some(conn) => self.on_idle_timer(now, conn),
                        None => break,
                    }
                }
                (_, Some(_)) => match self.peers.fire_next(now.mono, self.rng.as_mut()) {
                    Some((conn, events)) => self.on_peer_events(now, conn, events),
                    None => break,
                },
                _ => break,
            }
        }
        self.dedup.expire(now.mono);
        if let Some(o) = self.dialer.as_mut() {
            o.handle_timeout(now);
        }
        self.drain_dialer(now);
        self.cluster_timeout(now);
        self.flush_cluster();
    }

    /// The dialer's counts (`None` before [`Engine::start`]).
    pub fn dialer_counts(&self) -> Option<DialerCounts> {
        self.dialer.as_ref().map(Dialer::counts)
    }

    /// How much state the engine holds.
    pub fn counts(&self) -> EngineCounts {
        let mut counts = EngineCounts {
            tasks: self.runs.len(),
            sql_pending: self.runs.sql_pending(),
            timers: self.idle_timers.len(),
            connections: self.registry.len(),
            duplicate_in_flight: self.dedup.in_flight(),
            duplicate_answers: self.dedup.answered_len(),
            connect_pending: self.runs.connect_pending(),
            ..EngineCounts::default()
        };
        for (_, peer) in self.peers.iter() {
            counts.reverse_in_flight += peer.in_flight();
            counts.reverse_queued += peer.queued();
            counts.resting_ids += peer.resting();
            counts.timers += peer.deadlines();
        }
        counts
    }

    fn snapshot(&self, conn: ConnId, info: &Arc<ConnectionInfo>) -> ConnectionSnapshot {
        let peer = self.peers.get(conn);
        ConnectionSnapshot {
            info: info.clone(),
            in_flight: peer.map_or(0, |p| p.in_flight()),
            queued: peer.map_or(0, |p| p.queued()),
            ids_in_use: peer.map_or(0, |p| p.ids_in_use()),
        }
    }

    /// Every active stream connection, oldest first.
    pub fn connections(&self) -> Vec<ConnectionSnapshot> {
        self.registry
            .iter()
            .map(|(conn, e)| self.snapshot(conn, e.info()))
            .collect()
    }

    /// One active stream connection.
    pub fn connection(&self, conn: ConnId) -> Option<ConnectionSnapshot> {
        self.registry
            .get(conn)
            .map(|e| self.snapshot(conn, e.info()))
    }

    /// Check the engine's internal cross-references (for tests and simulations):
    /// each part's own invariants ([`Runs::check`] for the tasks and what they
    /// wait on), then across parts: every request in flight or queued on a
    /// connection belongs to a task parked on exactly that, and back; at most 256
    /// identifiers are in use per connection; the dialer has as many
    /// requests pending as tasks wait for; every timer is accounted for. Returns
    /// the first inconsistency found.
    pub fn check_invariants(&self) -> Result<(), String> {
        use crate::engine::task::{Phase, Wait};
        let mut expected_timers = 0usize;
        self.runs.check()?;
        self.peers.check()?;
        self.registry.check()?;
        self.dedup.check()?;
        self.check_cluster()?;
        if self.peers.iter().count() != self.registry.len() {
            return Err("a peer machine without its connection, or back".into());
        }
        for (conn, entry) in self.registry.iter() {
            let Some(peer) = self.peers.get(conn) else {
                return Err(format!("connection {conn} has no peer machine"));
            };
            if peer.ids_in_use() > 256 {
                return Err(format!(
                    "connection {conn}: {} identifiers in use",
                    peer.ids_in_use()
                ));
            }
            if peer.probing() && entry.info().healthy {
                return Err(format!("connection {conn}: probed while healthy"));
            }
            if let Some(key) = entry.state.idle_timer {
                if self.idle_timers.get(key) != Some(&conn) {
                    return Err(format!("connection {conn}: its idle timer is not set"));
                }
                expected_timers += 1;
            }
            for (id, waiter) in peer.in_flight_waiters() {
                // Requests of other nodes: `check_cluster`.
                let Waiter::Task(waiter) = waiter else {
                    continue;
                };
                match self.runs.get(waiter).map(|t| &t.wait) {
                    Some(Wait::Reverse(call)) if matches!(call.phase, Phase::InFlight { conn: c, id: i } if c == conn && i == id) =>
                        {}
                    _ => {
                        return Err(format!(
                            "connection {conn} identifier {id}: task {waiter} is not waiting for it"
                        ));
                    }
                }
            }
            for w in peer.queued_waiters() {
                let Waiter::Task(w) = w else {
                    continue;
                };
                match self.runs.get(w).map(|t| &t.wait) {
                    Some(Wait::Reverse(call)) if matches!(call.phase, Phase::Queued { conn: c } if c == conn) =>
                        {}
                    _ => return Err(format!("connection {conn}: queued task {w} is not queued")),
                }
            }
        }
        for (tid, task) in self.runs.iter() {
            let Wait::Reverse(call) = &task.wait else {
                continue;
            };
            match call.phase {
                Phase::Queued { conn } => {
                    let queued = self
                        .peers
                        .get(conn)
                        .is_some_and(|p| p.queued_waiters().any(|w| w == Waiter::Task(tid)));
                    if !queued {
                        return Err(format!(
                            "task {tid} queued on {conn} but not in its backlog"
                        ));
                    }
                }
                Phase::InFlight { conn, id } => {
                    let ok =
                        self.peers.get(conn).and_then(|p| p.waiter(id)) == Some(Waiter::Task(tid));
                    if !ok {
                        return Err(format!(
                            "task {tid} in flight on {conn}/{id} but not on its peer"
                        ));
                    }
                }
                // `Runs::check` covers the others.
                Phase::Idle | Phase::Selecting { .. } | Phase::Forwarded { .. } => {}
            }
        }
        if let Some(o) = &self.dialer {
            o.check_invariants().map_err(|e| e.to_string())?;
            if o.counts().pending_requests != self.runs.connect_pending() {
                return Err(format!(
                    "{} connect requests pending, {} tasks wait for one",
                    o.counts().pending_requests,
                    self.runs.connect_pending()
                ));
            }
        }
        if self.idle_timers.len() != expected_timers {
            return Err(format!(
                "{} idle timers set, {expected_timers} accounted for",
                self.idle_timers.len()
            ));
        }
        Ok(())
    }

    /// Report a step of the reverse path ([`Event::Reverse`]).
    fn step(&mut self, step: ReverseStep) {
        self.emit(Event::Reverse(step));
    }

    /// Report an observation (see [`Event`]; bounded across inputs by
    /// [`EVENT_QUEUE_LIMIT`]).
    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    fn log(&mut self, severity: Severity, text: String) {
        self.outputs.push_back(Output::Log(LogLine {
            severity,
            logger: None,
            text,
        }));
    }
}
