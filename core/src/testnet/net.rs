//! The test network: engines and simulated peers on one virtual clock.
//!
//! Shaped like quinn-proto's test `Pair`: every party is a state machine, time is
//! virtual, and [`Net::step`] moves the clock to the earliest wake-up — an
//! engine's [`Engine::poll_timeout`] or the next scheduled delivery or peer
//! action — and runs it. Outputs of the engines are carried out in one place
//! ([`Net::dispatch`]): stream writes reach the simulated NAS (or the other
//! engine, or the upstream server) at the other end, datagrams go back to the
//! UDP trigger senders, HTTP responses to the HTTP client, SQL statements to the
//! SQL responder, `connect` dials to another engine or an upstream server. What
//! the peers send back becomes engine input, after the network's latency (at
//! once, in the same call, when it is zero: the tests then see a request and its
//! whole consequence in one call).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::contract::{ServerId, Transport};
use crate::engine::dialer::{ServerRef, Target};
use crate::engine::{ConnId, Engine, HttpRequest, HttpRequestId, Input, Now, Output};
use crate::radius::code::Code;
use crate::radius::packet::Packet;
use crate::rng::SplitMix64;
use crate::testnet::bus::{Member, SimBus};
use crate::testnet::clock::Clock;
use crate::testnet::http::HttpClient;
use crate::testnet::nas::{Nas, NasMode, Reaction};
use crate::testnet::node::NodeId;
use crate::testnet::observer::{Ctx, Observer};
use crate::testnet::peers::{NasEntry, Peers};
use crate::testnet::record::{Passed, Record, Reported};
use crate::testnet::sched::{Event, Sched};
use crate::testnet::sql::{SqlFn, SqlResponder};
use crate::testnet::trigger::{Outstanding, Retransmit, RetryAction};
use crate::testnet::upstream::Upstream;

/// Delays of the network and its peers. All zero by default: everything is
/// delivered at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// One-way network latency, uniform in this range.
    pub latency: (Duration, Duration),
    /// How long a NAS takes to answer, uniform in this range.
    pub answer_delay: (Duration, Duration),
    /// Per mille of a NAS's ACKs ([`NasMode::Ack`]) turned into NAKs.
    pub nak_per_mille: u64,
}

/// A broken expectation found while the network ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    /// Virtual time when it was found.
    pub at: Duration,
    /// What broke.
    pub message: String,
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {:?}: {}", self.at, self.message)
    }
}

impl std::error::Error for NetError {}

/// What [`Net::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ran a timer, a delivery or a peer action.
    Ran,
    /// A wake-up the observer scheduled ([`Ctx::schedule`]) or [`Net::schedule`]: the
    /// caller acts on it.
    App(u64),
}

/// A NAS about to connect.
#[derive(Debug, Clone)]
pub struct NasSpec {
    /// The RADIUS stream server it connects to.
    pub server: ServerId,
    /// Its address.
    pub peer: SocketAddr,
    /// TCP or TLS.
    pub transport: Transport,
    /// Its certificate chain, DER, leaf first.
    pub certificates: Vec<Bytes>,
    /// The connection's secret.
    pub secret: Vec<u8>,
    /// How it answers.
    pub mode: NasMode,
    /// Its randomness (mixed with the connection's number).
    pub seed: u64,
    /// Keep every packet received (see [`Nas::record`]).
    pub record: bool,
    /// See [`Nas::reuse_after`].
    pub reuse_after: Option<Duration>,
    /// Send Status-Server with this NAS-Identifier periodically: the first after
    /// one network latency, then every interval drawn from the range.
    pub status: Option<(String, (Duration, Duration))>,
}

impl NasSpec {
    /// A NAS at `peer` on `server` with `secret`, answering in `mode`.
    pub fn new(server: ServerId, peer: SocketAddr, secret: &str, mode: NasMode) -> Self {
        NasSpec {
            server,
            peer,
            transport: Transport::Tls,
            certificates: Vec::new(),
            secret: secret.as_bytes().to_vec(),
            mode,
            seed: 0,
            record: true,
            reuse_after: None,
            status: None,
        }
    }
}

fn no_engine(at: Duration, node: usize) -> NetError {
    NetError {
        at,
        message: format!("no engine {node} in the network"),
    }
}

/// The address an engine's `connect` target resolves to (its `ip`, or
/// 192.0.2.1 for a host name).
pub fn target_addr(target: &Target) -> SocketAddr {
    let ip = target.ip.unwrap_or(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    SocketAddr::new(ip, target.port)
}

/// Engines and simulated peers on one virtual clock.
pub struct Net<O: Observer = ()> {
    /// The virtual clock.
    pub clock: Clock,
    /// The network's randomness: latencies, answer delays, NAKs; a simulation's
    /// workload may draw from it too.
    pub rng: SplitMix64,
    /// Delays.
    pub timing: Timing,
    /// The cluster bus between engines with `cluster { … }`.
    pub bus: SimBus,
    /// Watches every output.
    pub observer: O,
    engines: Vec<Engine>,
    /// Engines handed input since their outputs were last drained by [`Net::settle`].
    dirty: Vec<bool>,
    sched: Sched,
    peers: Peers,
    next_conn: u64,
    sent_http: u64,
    /// [`Net::stop_periodic`] was called: no NAS sends Status-Server on its own any
    /// more, not even one connecting later.
    periodic_stopped: bool,
}

impl Net<()> {
    /// A network whose clock starts at `base`, with no observer.
    pub fn new(base: Instant) -> Self {
        Net::with_observer(Clock::new(base), ())
    }
}

impl<O: Observer> Net<O> {
    /// A network on `clock` watched by `observer`; randomness seeded with 0.
    pub fn with_observer(clock: Clock, observer: O) -> Self {
        let peers = Peers {
            sql: SqlResponder::none(),
            ..Peers::default()
        };
        Net {
            clock,
            rng: SplitMix64::new(0),
            timing: Timing::default(),
            bus: SimBus::default(),
            observer,
            engines: Vec::new(),
            dirty: Vec::new(),
            sched: Sched::default(),
            peers,
            next_conn: 0,
            sent_http: 0,
            periodic_stopped: false,
        }
    }

    // ----- set-up -----------------------------------------------------------------

    /// Add an engine (not started: see [`Net::start`]).
    pub fn add(&mut self, engine: Engine) -> NodeId {
        self.bus
            .members
            .push(engine.program().cluster.as_ref().map(|c| Member {
                cluster: c.name.clone(),
                node: c.node.clone(),
            }));
        self.engines.push(engine);
        self.dirty.push(false);
        NodeId(self.engines.len() - 1)
    }

    /// Start an engine (its `connect` backends dial) and carry out what follows.
    pub fn start(&mut self, node: NodeId) -> Result<(), NetError> {
        let now = self.now();
        let at = self.elapsed();
        let Some(engine) = self.engines.get_mut(node.0) else {
            return Err(no_engine(at, node.0));
        };
        self.observer.engine(|| engine.start(now));
        self.settle()
    }

    /// Keep every output that passes, for [`Net::passed`].
    pub fn record(&mut self, on: bool) {
        self.peers.record = on.then(Record::default);
    }

    /// Dials of `from`'s `connect` backends land on `to`'s stream server `server`.
    pub fn route_connects(&mut self, from: NodeId, to: NodeId, server: ServerId) {
        self.peers.routes.insert(from.0, (to.0, server));
    }

    /// Refuse every dial (nobody listens).
    pub fn refuse_connects(&mut self, refuse: bool) {
        self.peers.refuse = refuse;
    }

    /// An upstream RADIUS server at `addr` for `connect` backends.
    pub fn add_upstream(&mut self, addr: SocketAddr, upstream: Upstream) {
        self.peers.upstreams.insert(addr, upstream);
    }

    /// The SQL responder.
    pub fn sql(&mut self) -> &mut SqlResponder {
        &mut self.peers.sql
    }

    /// Answer SQL with `f` (`None`: every statement fails).
    pub fn set_sql(&mut self, f: Option<SqlFn>) {
        self.peers.sql.set_script(f);
    }

    // ----- reading ------------------------------------------------------------------

    /// The engine of `node`. Panics if there is none (test misuse).
    pub fn engine(&self, node: NodeId) -> &Engine {
        match self.engines.get(node.0) {
            Some(e) => e,
            None => panic!("no engine {}", node.0),
        }
    }

    /// The engine of `node`, mutably (for calls like `reload`; run
    /// [`Net::settle`] after). Panics if there is none (test misuse).
    pub fn engine_mut(&mut self, node: NodeId) -> &mut Engine {
        match self.engines.get_mut(node.0) {
            Some(e) => e,
            None => panic!("no engine {}", node.0),
        }
    }

    /// The time to hand to an engine.
    pub fn now(&self) -> Now {
        self.clock.now()
    }

    /// Virtual time elapsed.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The NAS on `conn` of `node`, while connected.
    pub fn nas(&self, node: NodeId, conn: ConnId) -> Option<&Nas> {
        self.peers.nas(node, conn)
    }

    /// The NAS on `conn` of `node`, mutably.
    pub fn nas_mut(&mut self, node: NodeId, conn: ConnId) -> Option<&mut Nas> {
        self.peers
            .nases
            .get_mut(&(node.0, conn))
            .map(|e| &mut e.nas)
    }

    /// NASes connected now.
    pub fn nas_count(&self) -> usize {
        self.peers.nases.len()
    }

    /// The upstream server at `addr`.
    pub fn upstream(&self, addr: SocketAddr) -> Option<&Upstream> {
        self.peers.upstreams.get(&addr)
    }

    /// The upstream server at `addr`, mutably.
    pub fn upstream_mut(&mut self, addr: SocketAddr) -> Option<&mut Upstream> {
        self.peers.upstreams.get_mut(&addr)
    }

    /// The other end of a connection between two engines.
    pub fn link(&self, node: NodeId, conn: ConnId) -> Option<(NodeId, ConnId)> {
        self.peers
            .links
            .get(&(node.0, conn))
            .map(|&(n, c)| (NodeId(n), c))
    }

    /// Every connection between two engines, as seen from `node`.
    pub fn links_of(&self, node: NodeId) -> Vec<(ConnId, NodeId, ConnId)> {
        self.peers
            .links
            .iter()
            .filter(|((n, _), _)| *n == node.0)
            .map(|(&(_, c), &(on, oc))| (c, NodeId(on), oc))
            .collect()
    }

    /// The outputs that passed, in order (with [`Net::record`] on).
    pub fn passed(&self) -> &[Passed] {
        self.peers.record.as_ref().map_or(&[], |r| r.passed())
    }

    /// The events reported, in order (with [`Net::record`] on).
    pub fn reported(&self) -> &[Reported] {
        self.peers.record.as_ref().map_or(&[], |r| r.reported())
    }

    /// How many events `node` reported that `which` is true of (with
    /// [`Net::record`] on).
    pub fn count_reported(
        &self,
        node: NodeId,
        which: impl Fn(&crate::contract::Event) -> bool,
    ) -> usize {
        self.reported()
            .iter()
            .filter(|r| r.node == node && which(&r.event))
            .count()
    }

    /// Remove the recorded outputs for which `take` is true, in order.
    pub fn take_passed(&mut self, take: impl FnMut(&Passed) -> bool) -> Vec<Passed> {
        match self.peers.record.as_mut() {
            Some(r) => r.take(take),
            None => Vec::new(),
        }
    }

    /// UDP triggers still waiting for a reply.
    pub fn udp_in_flight(&self) -> usize {
        self.peers.udp.in_flight()
    }

    /// HTTP requests still waiting for a response.
    pub fn http_pending(&self) -> usize {
        self.peers.http.pending()
    }

    // ----- peers act ----------------------------------------------------------------------

    /// A new connection number (strictly increasing, shared by every engine).
    pub fn next_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// A new connection number for `node`: with `cluster { node_id N; }` it
    /// starts at N × 2⁴⁸, as the daemon numbers them.
    pub fn next_conn_of(&mut self, node: NodeId) -> ConnId {
        let base = self
            .engines
            .get(node.0)
            .and_then(|e| e.program().cluster.as_ref())
            .map_or(0, |c| {
                crate::lang::program::Cluster::first_conn_number(c.node_id)
            });
        ConnId(base + self.next_conn().0)
    }

    /// Replace engine `node` with `engine` (a crash and restart): every
    /// connection it held is gone (its NAS devices see them close), and the new
    /// engine starts with an empty state and a new epoch.
    pub fn restart(&mut self, node: NodeId, engine: Engine) -> Result<(), NetError> {
        let at = self.elapsed();
        let Some(slot) = self.engines.get_mut(node.0) else {
            return Err(no_engine(at, node.0));
        };
        *slot = engine;
        self.peers.nases.retain(|(n, _), _| *n != node.0);
        self.peers.links.retain(|(n, _), _| *n != node.0);
        self.peers.upstream_conns.retain(|(n, _), _| *n != node.0);
        self.sched.queue.retain(|_, e| match e {
            Event::Input { node: n, .. }
            | Event::ToNas { node: n, .. }
            | Event::Answer { node: n, .. }
            | Event::Status { node: n, .. }
            | Event::Bus { node: n, .. } => *n != node.0,
            _ => true,
        });
        self.start(node)
    }

    /// A NAS connects to `node`; the engine hears of it at once.
    /// Its periodic Status-Server ([`NasSpec::status`]) is dropped after
    /// [`Net::stop_periodic`].
    pub fn connect_nas(&mut self, node: NodeId, mut spec: NasSpec) -> Result<ConnId, NetError> {
        let conn = self.next_conn_of(node);
        let mut nas = Nas::new(conn, &spec.secret, spec.mode, spec.seed ^ conn.0);
        nas.record = spec.record;
        nas.reuse_after = spec.reuse_after;
        if self.periodic_stopped {
            spec.status = None;
        }
        if spec.status.is_some() {
            let first = self.latency();
            self.sched
                .push(self.elapsed() + first, Event::Status { node: node.0, conn });
        }
        self.peers.nases.insert(
            (node.0, conn),
            NasEntry {
                nas,
                status: spec.status,
            },
        );
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2083);
        self.handle(
            node,
            Input::StreamOpened {
                conn,
                server: spec.server,
                peer: spec.peer,
                local,
                transport: spec.transport,
                peer_certificates: spec.certificates,
            },
        )?;
        Ok(conn)
    }

    /// The NAS on `conn` sends `data` (after one latency).
    pub fn nas_send(&mut self, node: NodeId, conn: ConnId, data: Bytes) -> Result<(), NetError> {
        let delay = self.latency();
        self.deliver(node.0, Input::StreamData { conn, data }, delay)
    }

    /// The NAS on `conn` sends a Status-Server.
    pub fn nas_status(
        &mut self,
        node: NodeId,
        conn: ConnId,
        nas_identifier: Option<&str>,
    ) -> Result<(), NetError> {
        let data = self.with_nas(node, conn, |n| n.status_server(nas_identifier))?;
        self.nas_send(node, conn, data)
    }

    /// The NAS on `conn` answers its oldest held request: `false` if it held none.
    pub fn nas_answer_held(
        &mut self,
        node: NodeId,
        conn: ConnId,
        ack: bool,
    ) -> Result<bool, NetError> {
        match self.with_nas(node, conn, |n| n.answer_held(ack))? {
            Some(data) => self.nas_send(node, conn, data).map(|()| true),
            None => Ok(false),
        }
    }

    /// The NAS on `conn` is gone: its connection fails (a reset, or a stale
    /// connection timing out); the engine hears it at once.
    pub fn nas_close(&mut self, node: NodeId, conn: ConnId) -> Result<(), NetError> {
        self.nas_end(node, conn, false)
    }

    /// The NAS on `conn` closes its connection in order (FIN, close_notify), having
    /// read what reached it; the engine hears it at once.
    pub fn nas_close_orderly(&mut self, node: NodeId, conn: ConnId) -> Result<(), NetError> {
        self.nas_end(node, conn, true)
    }

    fn nas_end(&mut self, node: NodeId, conn: ConnId, orderly: bool) -> Result<(), NetError> {
        self.peers.nases.remove(&(node.0, conn));
        self.handle(node, Input::StreamClosed { conn, orderly })
    }

    fn with_nas<R>(
        &mut self,
        node: NodeId,
        conn: ConnId,
        f: impl FnOnce(&mut Nas) -> Result<R, String>,
    ) -> Result<R, NetError> {
        let at = self.elapsed();
        let nas = self.nas_mut(node, conn).ok_or_else(|| NetError {
            at,
            message: format!("no NAS on connection {conn}"),
        })?;
        f(nas).map_err(|message| NetError { at, message })
    }

    /// Both ends of a connection between two engines hear it close, `node`'s first.
    pub fn cut(&mut self, node: NodeId, conn: ConnId) -> Result<(), NetError> {
        let Some((other, oc)) = self.peers.links.remove(&(node.0, conn)) else {
            return Err(self.error(format!("connection {conn} is no link")));
        };
        self.peers.links.remove(&(other, oc));
        self.handle(
            node,
            Input::StreamClosed {
                conn,
                orderly: false,
            },
        )?;
        let orderly = false;
        self.handle(NodeId(other), Input::StreamClosed { conn: oc, orderly })
    }

    /// A UDP trigger sender at `peer` sends `data` (a signed request with
    /// `identifier`) to `node`'s UDP server, retransmitting it as `retransmit` says.
    #[allow(clippy::too_many_arguments)]
    pub fn udp_trigger(
        &mut self,
        node: NodeId,
        server: ServerId,
        peer: SocketAddr,
        local: SocketAddr,
        identifier: u8,
        data: Bytes,
        retransmit: Retransmit,
    ) -> Result<(), NetError> {
        let o = Outstanding {
            node: node.0,
            server,
            local,
            data: data.clone(),
            sent: 1,
            retransmit,
        };
        self.peers
            .udp
            .send(peer, identifier, o)
            .map_err(|m| self.error(m))?;
        if retransmit.tries > 0 {
            self.sched.push(
                self.elapsed() + retransmit.interval,
                Event::UdpRetry { peer, identifier },
            );
        }
        self.datagram(node, server, peer, local, data)
    }

    /// A datagram from `peer` to `node`'s UDP server (after one latency).
    pub fn datagram(
        &mut self,
        node: NodeId,
        server: ServerId,
        peer: SocketAddr,
        local: SocketAddr,
        data: Bytes,
    ) -> Result<(), NetError> {
        let delay = self.latency();
        self.deliver(
            node.0,
            Input::Datagram {
                server,
                peer,
                local,
                data,
            },
            delay,
        )
    }

    /// The HTTP client sends a request to `node`'s HTTP server (after one latency).
    pub fn http(
        &mut self,
        node: NodeId,
        server: ServerId,
        peer: SocketAddr,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<HttpRequestId, NetError> {
        let request = self.peers.http.request(server, peer, method, path, query);
        self.http_request(node, request)
    }

    /// The HTTP client sends a request built with [`Net::http_client`].
    pub fn http_request(
        &mut self,
        node: NodeId,
        request: HttpRequest,
    ) -> Result<HttpRequestId, NetError> {
        let id = request.id;
        self.sent_http = self.sent_http.max(id.0);
        let delay = self.latency();
        self.deliver(node.0, Input::HttpRequest(request), delay)?;
        Ok(id)
    }

    /// The HTTP client, to build requests.
    pub fn http_client(&mut self) -> &mut HttpClient {
        &mut self.peers.http
    }

    /// The upstream at `addr` sends `data` to `node` for backend server `server`.
    pub fn upstream_send(
        &mut self,
        node: NodeId,
        addr: SocketAddr,
        server: ServerRef,
        data: Bytes,
    ) -> Result<(), NetError> {
        let delay = self.latency();
        self.deliver(
            node.0,
            Input::BackendDatagram {
                server,
                from: addr,
                data,
            },
            delay,
        )
    }

    /// Wake the caller up after `after` with `token` ([`Step::App`]).
    pub fn schedule(&mut self, after: Duration, token: u64) {
        self.sched.app(self.elapsed() + after, token);
    }

    // ----- engine calls -------------------------------------------------------------

    /// `node` handles `input` now; then everything that follows is carried out.
    pub fn handle(&mut self, node: NodeId, input: Input) -> Result<(), NetError> {
        self.deliver(node.0, input, Duration::ZERO)
    }

    fn deliver(&mut self, node: usize, input: Input, delay: Duration) -> Result<(), NetError> {
        if delay > Duration::ZERO {
            self.sched
                .push(self.elapsed() + delay, Event::Input { node, input });
            return Ok(());
        }
        self.handle_now(node, input)?;
        self.settle()
    }

    /// Hand `input` to `node` without carrying out the outputs (they are carried
    /// out by the caller's own settle loop).
    fn handle_now(&mut self, node: usize, input: Input) -> Result<(), NetError> {
        let now = self.now();
        let at = self.elapsed();
        let Some(engine) = self.engines.get_mut(node) else {
            return Err(no_engine(at, node));
        };
        self.observer.engine(|| engine.handle(now, input));
        self.dirty[node] = true;
        Ok(())
    }

    /// Carry out every engine's outputs until none has any left: every engine
    /// once, then again each engine handed input after its outputs were drained
    /// (by an output of an engine drained after it).
    pub fn settle(&mut self) -> Result<(), NetError> {
        let mut every = true;
        loop {
            for node in 0..self.engines.len() {
                if !every && !self.dirty[node] {
                    continue;
                }
                loop {
                    let engine = &mut self.engines[node];
                    let Some(out) = self.observer.engine(|| engine.poll_output()) else {
                        break;
                    };
                    self.pass(node, out)?;
                }
                self.drain_events(node)?;
                // Input it was handed while its outputs were drained has been drained
                // with them.
                self.dirty[node] = false;
            }
            every = false;
            if !self.dirty.contains(&true) {
                return Ok(());
            }
        }
    }

    fn ctx(&mut self) -> (&mut O, Ctx<'_>) {
        let now = self.clock.elapsed();
        (
            &mut self.observer,
            Ctx {
                now,
                rng: &mut self.rng,
                sched: &mut self.sched,
                peers: &self.peers,
            },
        )
    }

    fn error(&self, message: impl Into<String>) -> NetError {
        NetError {
            at: self.clock.elapsed(),
            message: message.into(),
        }
    }

    /// Every event `node` has reported: shown to the observer, recorded.
    fn drain_events(&mut self, node: usize) -> Result<(), NetError> {
        // All of them in one engine call: the observer may time every call, and
        // events are drained after every input.
        let engine = &mut self.engines[node];
        let events: Vec<crate::contract::Event> = self
            .observer
            .engine(|| std::iter::from_fn(|| engine.poll_event()).collect());
        for event in events {
            let (observer, mut ctx) = self.ctx();
            observer
                .event(&mut ctx, NodeId(node), &event)
                .map_err(|m| self.error(m))?;
            if let Some(record) = self.peers.record.as_mut() {
                record.report(self.clock.elapsed(), NodeId(node), &event);
            }
        }
        Ok(())
    }

    /// One output: shown to the observer, recorded, carried out.
    fn pass(&mut self, node: usize, out: Output) -> Result<(), NetError> {
        let (observer, mut ctx) = self.ctx();
        observer
            .output(&mut ctx, NodeId(node), &out)
            .map_err(|m| self.error(m))?;
        if let Some(record) = self.peers.record.as_mut() {
            record.push(self.clock.elapsed(), NodeId(node), &out);
        }
        self.dispatch(node, out)
    }

    /// Carry out one output of `node`. The one place that matches on [`Output`].
    fn dispatch(&mut self, node: usize, out: Output) -> Result<(), NetError> {
        match out {
            Output::Bus { to, data } => {
                if self.bus.cut.contains(&node) {
                    self.bus.lost += 1;
                    return Ok(());
                }
                for to in self.bus.receivers(node, &to) {
                    let lose = self.bus.loss_permille > 0
                        && (self.rng.next_u64() % 1000) < u64::from(self.bus.loss_permille);
                    if lose {
                        self.bus.lost += 1;
                        continue;
                    }
                    let delay = self.latency() + self.uniform(self.bus.delay);
                    self.sched.push(
                        self.elapsed() + delay,
                        Event::Bus {
                            node: to,
                            data: data.clone(),
                        },
                    );
                }
                Ok(())
            }
            Output::StreamWrite { conn, data } => self.stream_write(node, conn, data),
            Output::StreamClose { conn, reason } => {
                let (observer, mut ctx) = self.ctx();
                observer
                    .engine_closed(&mut ctx, NodeId(node), conn, &reason)
                    .map_err(|m| self.error(m))?;
                self.peers.nases.remove(&(node, conn));
                if let Some(addr) = self.peers.upstream_conns.remove(&(node, conn))
                    && let Some(up) = self.peers.upstreams.get_mut(&addr)
                {
                    up.closed(conn);
                }
                if let Some((other, oc)) = self.peers.links.remove(&(node, conn)) {
                    self.peers.links.remove(&(other, oc));
                    // The engine closed its end: the other end sees it in order.
                    let orderly = true;
                    self.handle_now(other, Input::StreamClosed { conn: oc, orderly })?;
                }
                Ok(())
            }
            Output::SendDatagram { peer, data, .. } => {
                let kind = self
                    .peers
                    .udp
                    .reply(peer, &data)
                    .map_err(|m| self.error(m))?;
                let (observer, mut ctx) = self.ctx();
                observer
                    .udp_reply(&mut ctx, peer, &data, kind)
                    .map_err(|m| self.error(m))
            }
            Output::HttpResponse {
                id, status, body, ..
            } => {
                if !self.peers.http.response(id) && id.0 <= self.sent_http {
                    return Err(self.error(format!("second response to HTTP request {}", id.0)));
                }
                let (observer, mut ctx) = self.ctx();
                observer
                    .http_response(&mut ctx, id, status, &body)
                    .map_err(|m| self.error(m))
            }
            Output::Sql {
                effect,
                statement,
                params,
                ..
            } => {
                let result = self.peers.sql.run(&statement, &params);
                self.handle_now(node, Input::SqlDone { effect, result })
            }
            Output::Connect {
                attempt, target, ..
            } => self.dial(node, attempt, &target),
            Output::BackendDatagram { server, to, data } => {
                let addr = target_addr(&to);
                let at = self.elapsed();
                let Some(up) = self.peers.upstreams.get_mut(&addr) else {
                    return Ok(()); // nobody there: the test answers by hand, or nobody does
                };
                let err = |message| NetError { at, message };
                let request = up.check(data).map_err(err)?;
                let answer = up.handle(server, request).map_err(err)?;
                match answer {
                    Some(data) => self.upstream_send(NodeId(node), addr, server, data),
                    None => Ok(()),
                }
            }
            Output::Log(_) | Output::AbortConnect { .. } => Ok(()),
        }
    }

    fn stream_write(&mut self, node: usize, conn: ConnId, data: Bytes) -> Result<(), NetError> {
        if let Some(&(other, oc)) = self.peers.links.get(&(node, conn)) {
            return self.handle_now(other, Input::StreamData { conn: oc, data });
        }
        if let Some(&addr) = self.peers.upstream_conns.get(&(node, conn)) {
            let at = self.elapsed();
            let Some(up) = self.peers.upstreams.get_mut(&addr) else {
                return Ok(());
            };
            let err = |message| NetError { at, message };
            let mut answers = Vec::new();
            for p in up.receive_stream(conn, &data).map_err(err)? {
                // A dialed connection carries no server reference of its own.
                let server = ServerRef {
                    backend: crate::eval::ir::BackendId(u32::MAX),
                    server: 0,
                };
                answers.extend(up.handle(server, p).map_err(err)?);
            }
            for data in answers {
                self.handle_now(node, Input::StreamData { conn, data })?;
            }
            return Ok(());
        }
        if !self.peers.nases.contains_key(&(node, conn)) {
            return Ok(()); // nobody at the other end any more
        }
        let delay = self.latency();
        if delay > Duration::ZERO {
            self.sched
                .push(self.elapsed() + delay, Event::ToNas { node, conn, data });
            Ok(())
        } else {
            self.nas_receives(node, conn, data)
        }
    }

    /// An engine dials: another engine accepts, an upstream server accepts, or
    /// nobody answers (the attempt stays pending) or it is refused.
    fn dial(
        &mut self,
        node: usize,
        attempt: crate::engine::dialer::AttemptId,
        target: &Target,
    ) -> Result<(), NetError> {
        if self.peers.refuse {
            return self.handle_now(
                node,
                Input::ConnectFailed {
                    attempt,
                    reason: "connection refused".into(),
                },
            );
        }
        let addr = target_addr(target);
        let here = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)), 40_000);
        if let Some(&(other, server)) = self.peers.routes.get(&node) {
            let s_conn = self.next_conn();
            let n_conn = self.next_conn();
            self.handle_now(
                other,
                Input::StreamOpened {
                    conn: s_conn,
                    server,
                    peer: here,
                    local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2083),
                    transport: Transport::Tls,
                    peer_certificates: Vec::new(),
                },
            )?;
            self.peers.links.insert((node, n_conn), (other, s_conn));
            self.peers.links.insert((other, s_conn), (node, n_conn));
            return self.handle_now(
                node,
                Input::Connected {
                    attempt,
                    conn: n_conn,
                    peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2083),
                },
            );
        }
        if self.peers.upstreams.contains_key(&addr) {
            let conn = self.next_conn();
            self.peers.upstream_conns.insert((node, conn), addr);
            return self.handle_now(
                node,
                Input::Connected {
                    attempt,
                    conn,
                    peer: addr,
                },
            );
        }
        Ok(())
    }

    fn nas_receives(&mut self, node: usize, conn: ConnId, data: Bytes) -> Result<(), NetError> {
        let now = self.elapsed();
        let Some(entry) = self.peers.nases.get_mut(&(node, conn)) else {
            return Ok(()); // it closed meanwhile
        };
        let requests = entry
            .nas
            .receive(&data, now)
            .map_err(|message| NetError { at: now, message })?;
        for (request, reaction) in requests {
            let Reaction::Answer(ack) = reaction else {
                continue;
            };
            let delay = self.uniform(self.timing.answer_delay);
            if delay > Duration::ZERO {
                self.sched.push(
                    now + delay,
                    Event::Answer {
                        node,
                        conn,
                        request: Box::new(request),
                    },
                );
            } else {
                self.answer(node, conn, &request, ack)?;
            }
        }
        Ok(())
    }

    /// A NAS answers `request` (ACK unless `ack` is false or the network's
    /// per-mille turns it into a NAK).
    fn answer(
        &mut self,
        node: usize,
        conn: ConnId,
        request: &Packet,
        ack: bool,
    ) -> Result<(), NetError> {
        let nak =
            self.timing.nak_per_mille > 0 && self.rng.next_u64() % 1000 < self.timing.nak_per_mille;
        let ack = ack && (!nak || request.code == Code::StatusServer);
        let now = self.elapsed();
        let Some(entry) = self.peers.nases.get_mut(&(node, conn)) else {
            return Ok(());
        };
        let data = entry
            .nas
            .answer(request, ack)
            .map_err(|message| NetError { at: now, message })?;
        let delay = self.latency();
        self.deliver(node, Input::StreamData { conn, data }, delay)
    }

    fn uniform(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let span = hi.saturating_sub(lo).as_nanos() as u64;
        if span == 0 {
            return lo;
        }
        lo + Duration::from_nanos(self.rng.next_u64() % span)
    }

    /// One network latency.
    pub fn latency(&mut self) -> Duration {
        self.uniform(self.timing.latency)
    }

    // ----- time -------------------------------------------------------------------

    /// The earliest wake-up: an engine's timer or a scheduled event.
    pub fn next_wakeup(&self) -> Option<Duration> {
        let timer = self
            .engines
            .iter()
            .filter_map(|e| e.poll_timeout())
            .min()
            .map(|i| self.clock.at(i));
        match (timer, self.sched.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Move the clock to the earliest wake-up and run it (a timer before an event
    /// due at the same time). `None` when nothing is left to do.
    pub fn step(&mut self) -> Result<Option<Step>, NetError> {
        let timer = self
            .engines
            .iter()
            .filter_map(|e| e.poll_timeout())
            .min()
            .map(|i| self.clock.at(i));
        let event = self.sched.next();
        match (timer, event) {
            (Some(t), e) if e.is_none_or(|e| t <= e) => {
                self.clock.set(t);
                self.fire_timers()?;
                Ok(Some(Step::Ran))
            }
            (_, Some(_)) => match self.sched.queue.pop_first() {
                Some(((at, _), event)) => {
                    self.clock.set(at);
                    self.run(event)
                }
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Run every due engine timer, then carry out the outputs.
    fn fire_timers(&mut self) -> Result<(), NetError> {
        let now = self.now();
        for engine in &mut self.engines {
            if engine.poll_timeout().is_some_and(|at| at <= now.mono) {
                self.observer.engine(|| engine.handle_timeout(now));
            }
        }
        self.settle()
    }

    fn run(&mut self, event: Event) -> Result<Option<Step>, NetError> {
        match event {
            Event::Input { node, input } => {
                if let Input::StreamData { conn, .. } = &input
                    && !self.peers.nases.contains_key(&(node, *conn))
                    && !self.peers.links.contains_key(&(node, *conn))
                    && !self.peers.upstream_conns.contains_key(&(node, *conn))
                {
                    return Ok(Some(Step::Ran)); // the sender closed meanwhile
                }
                self.handle_now(node, input)?;
                self.settle()?;
            }
            Event::ToNas { node, conn, data } => self.nas_receives(node, conn, data)?,
            Event::Bus { node, data } => {
                if self.bus.cut.contains(&node) {
                    self.bus.lost += 1;
                } else {
                    self.bus.delivered += 1;
                    self.handle_now(node, Input::Bus { data })?;
                    self.settle()?;
                }
            }
            Event::Answer {
                node,
                conn,
                request,
            } => self.answer(node, conn, &request, true)?,
            Event::Status { node, conn } => {
                let Some(entry) = self.peers.nases.get_mut(&(node, conn)) else {
                    return Ok(Some(Step::Ran));
                };
                let Some((name, every)) = entry.status.clone() else {
                    return Ok(Some(Step::Ran));
                };
                let data = entry
                    .nas
                    .status_server(Some(&name))
                    .map_err(|m| self.error(m))?;
                let next = self.uniform(every);
                self.sched
                    .push(self.elapsed() + next, Event::Status { node, conn });
                self.handle_now(node, Input::StreamData { conn, data })?;
                self.settle()?;
            }
            Event::UdpRetry { peer, identifier } => match self.peers.udp.retry(peer, identifier) {
                Some(RetryAction::Resend(o)) => {
                    self.sched.push(
                        self.elapsed() + o.retransmit.interval,
                        Event::UdpRetry { peer, identifier },
                    );
                    self.datagram(NodeId(o.node), o.server, peer, o.local, o.data)?;
                }
                Some(RetryAction::GaveUp) => {
                    let (observer, mut ctx) = self.ctx();
                    observer
                        .udp_gave_up(&mut ctx, peer, identifier)
                        .map_err(|m| self.error(m))?;
                }
                None => {}
            },
            Event::App(token) => return Ok(Some(Step::App(token))),
        }
        Ok(Some(Step::Ran))
    }

    /// Drop the periodic Status-Server of every NAS, and of every NAS that
    /// connects from now on (a simulation whose workload is done stops them, so
    /// that the network can go idle: a periodic sender connecting later — a NAS
    /// replacing one that churned away — would keep it busy for ever).
    pub fn stop_periodic(&mut self) {
        self.periodic_stopped = true;
        for entry in self.peers.nases.values_mut() {
            entry.status = None;
        }
        self.sched
            .queue
            .retain(|_, e| !matches!(e, Event::Status { .. }));
    }

    /// Advance the clock by `d`, running every wake-up on the way at its own time,
    /// then every engine's timers at the end. Panics on a [`Step::App`] wake-up
    /// (use [`Net::step`] for those) — test misuse.
    pub fn advance(&mut self, d: Duration) -> Result<(), NetError> {
        let target = self.elapsed() + d;
        while self.next_wakeup().is_some_and(|at| at <= target) {
            if let Some(Step::App(token)) = self.step()? {
                panic!("Net::advance met the wake-up {token}: drive it with Net::step");
            }
        }
        self.clock.set(target);
        let now = self.now();
        for engine in &mut self.engines {
            self.observer.engine(|| engine.handle_timeout(now));
        }
        self.settle()
    }
}
