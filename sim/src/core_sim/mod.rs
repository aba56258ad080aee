//! Core-level simulation: the server [`Engine`] and thousands of simulated NASes on
//! the shared test network of the core ([`boomerang_core::testnet`]: an in-memory
//! network with a virtual clock in the quinn-proto `Pair` style — no sockets, no
//! runtime, one thread, one seed). This module is the workload and the invariants;
//! the network carries every output.
//!
//! A closed-loop workload keeps a number of triggers outstanding (HTTP requests,
//! and UDP Disconnect-Requests with retransmissions), each targeting a NAS by its
//! NAS-Identifier; NASes answer after a random delay (some NAK, some never answer);
//! connections churn (a NAS drops its connection and a new one opens). Invariants
//! are checked as the world runs:
//!
//! 1. every HTTP trigger gets exactly one response (the network's HTTP client
//!    refuses a second one; the observer, a response to a trigger not in flight); a
//!    UDP trigger never gets two different replies (the network's UDP senders);
//! 2. every request reaches an open connection whose NAS-Identifier is the one the
//!    trigger asked for (the observer, on every stream write);
//! 3. no identifier is in flight twice on a connection (the network's NAS, with
//!    `reuse_after` the server's timeout plus its rest), never more than 256 (the
//!    observer, from the NAS's count, on every write and when a NAS goes);
//! 4. a retransmitted UDP trigger never yields a second request to a NAS (a trigger
//!    reaches a NAS again only after the connection it was on closed; the observer);
//! 5. after the work is done and the timers have run out, the engine holds no task,
//!    request, queue entry or timer ([`boomerang_core::engine::Engine::counts`]; the
//!    end of [`run`]), and every trigger has exactly one outcome;
//!
//! plus the engine's own cross-reference check every `check_every` steps, and the
//! network's own checks of what the engine writes (requests verify and carry
//! Message-Authenticator). The engine closing a connection, or asking for SQL or a
//! `connect` backend, is an error. The same seed gives the same trace hash (every
//! output with its virtual time, hashed by the observer).

pub mod cluster;
pub mod nas;
pub mod program;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;

use boomerang_core::contract::Transport;
use boomerang_core::engine::{
    ConnId, Engine, EngineOptions, HttpRequestId, Input, Limits, Now, Output,
};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;
use boomerang_core::testnet::{
    Clock, Ctx, Nas, NasMode, NasSpec, Net, NetError, NodeId, Observer, Retransmit, Step, Timing,
    UdpReply, signed_request,
};

use nas::{NAS_IDENTIFIER, RADSEC_SECRET, RADSEC_SECRET_STR};
use program::{DAC_SECRET, HTTP, RADSEC, UDP, sim_program};

/// User-Name (RFC 2865 §5.1): carries the trigger's marker.
const USER_NAME: u8 = 1;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Config {
    /// Drives everything (workload, delays, faults, the engine's randomness).
    pub seed: u64,
    /// NAS connections open at any time.
    pub connections: usize,
    /// Connections sharing one NAS-Identifier.
    pub connections_per_name: usize,
    /// Reverse requests to trigger in total.
    pub requests: u64,
    /// Triggers outstanding at once.
    pub concurrency: usize,
    /// `@select first` or `round-robin`.
    pub mode: SelectMode,
    /// One-way network latency, uniform in this range.
    pub latency: (Duration, Duration),
    /// How long a NAS takes to answer, uniform in this range.
    pub nas_delay: (Duration, Duration),
    /// Per mille of answers that are NAKs.
    pub nak_per_mille: u64,
    /// Per mille of NASes that never answer.
    pub silent_per_mille: u64,
    /// Per mille of triggers that target a NAS-Identifier nobody has.
    pub unknown_target_per_mille: u64,
    /// Per mille of triggers sent over UDP (the rest over HTTP).
    pub udp_per_mille: u64,
    /// After every this many completed triggers, one connection drops and a new
    /// one opens (0: no churn).
    pub churn_every: u64,
    /// Run the engine's cross-reference check every this many events.
    pub check_every: u64,
}

impl Config {
    /// A small configuration that runs in a debug build in seconds.
    pub fn smoke(seed: u64) -> Config {
        Config {
            seed,
            connections: 500,
            connections_per_name: 2,
            requests: 20_000,
            concurrency: 400,
            mode: SelectMode::RoundRobin,
            latency: (Duration::from_micros(200), Duration::from_millis(20)),
            nas_delay: (Duration::from_millis(1), Duration::from_millis(200)),
            nak_per_mille: 50,
            silent_per_mille: 10,
            unknown_target_per_mille: 10,
            udp_per_mille: 200,
            churn_every: 200,
            check_every: 5_000,
        }
    }

    /// The full run: 10,000 NAS connections and 1,000,000 reverse requests.
    pub fn full(seed: u64) -> Config {
        Config {
            connections: 10_000,
            requests: 1_000_000,
            concurrency: 5_000,
            churn_every: 1_000,
            check_every: 200_000,
            ..Config::smoke(seed)
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Triggers issued (HTTP + UDP).
    pub triggers: u64,
    /// Of which over UDP.
    pub udp_triggers: u64,
    /// Requests the NASes received.
    pub nas_requests: u64,
    /// Outcomes by kind (`200`, `500 REVERSE_TIMEOUT`, `udp reply`, `udp none`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Events processed.
    pub events: u64,
    /// Virtual time simulated.
    pub virtual_time: Duration,
    /// Wall time spent inside the engine (handle, handle_timeout, poll_output,
    /// poll_event), taken by the observer around every engine call.
    pub engine_time: Duration,
    /// Wall time of the whole run.
    pub wall_time: Duration,
    /// The most requests in flight on one connection, seen by the NASes.
    pub max_in_flight_per_connection: usize,
    /// Connections opened in total (initial + churn).
    pub connections_opened: u64,
    /// Resident memory growth per connection while the fleet connected (bytes),
    /// engine and simulated NASes together, from `/proc/self/statm`; `None` where
    /// unavailable. See [`engine_memory_per_connection`] for the engine alone.
    pub rss_bytes_per_connection: Option<f64>,
    /// FNV-1a hash of every output with its virtual time.
    pub trace_hash: u64,
}

impl Report {
    /// Reverse requests per second of engine time.
    pub fn engine_requests_per_sec(&self) -> f64 {
        let secs = self.engine_time.as_secs_f64();
        if secs > 0.0 {
            self.nas_requests as f64 / secs
        } else {
            0.0
        }
    }
}

/// A broken invariant, with how to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    /// The seed of the run.
    pub seed: u64,
    /// Virtual time when it was found.
    pub at: Duration,
    /// What broke.
    pub message: String,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant broken at {:?}: {} (replay with SIM_SEED={})",
            self.at, self.message, self.seed
        )
    }
}

impl std::error::Error for SimError {}

/// The observer's wake-up tokens ([`Step::App`]).
const TRIGGER: u64 = 0;
const CHURN: u64 = 1;

/// The engine's node in the network.
const SERVER: NodeId = NodeId(0);

/// The simulation's side of the network: the workload's bookkeeping, the
/// invariants checked on every output, the trace hash and the engine's time.
struct Watch {
    seed: u64,
    churn_every: u64,
    /// Open NAS connections and the index of their NAS-Identifier.
    open: BTreeMap<ConnId, usize>,
    /// Triggers in flight.
    triggers: BTreeSet<u64>,
    /// The trigger last sent from each UDP (port, identifier).
    udp_ports: BTreeMap<(u16, u8), u64>,
    /// The connections each trigger's requests went to, in order.
    nas_requests_per_trigger: BTreeMap<u64, Vec<ConnId>>,
    completed: u64,
    report: Report,
    hash: u64,
}

impl Watch {
    fn err(&self, at: Duration, message: impl Into<String>) -> SimError {
        SimError {
            seed: self.seed,
            at,
            message: message.into(),
        }
    }

    fn outcome(&mut self, kind: &str) {
        match self.report.outcomes.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.report.outcomes.insert(kind.to_owned(), 1);
            }
        }
    }

    fn trace(&mut self, now: Duration, out: &Output) {
        let mut h = self.hash;
        fnv(&mut h, &(now.as_nanos() as u64).to_le_bytes());
        match out {
            Output::StreamWrite { conn, data } => {
                fnv(&mut h, &conn.0.to_le_bytes());
                fnv(&mut h, data);
            }
            Output::SendDatagram { peer, data, .. } => {
                fnv(&mut h, &peer.port().to_le_bytes());
                fnv(&mut h, data);
            }
            Output::HttpResponse {
                id, status, body, ..
            } => {
                fnv(&mut h, &id.0.to_le_bytes());
                fnv(&mut h, &status.to_le_bytes());
                fnv(&mut h, body);
            }
            Output::StreamClose { conn, .. } => fnv(&mut h, &conn.0.to_le_bytes()),
            Output::Sql { effect, .. } => fnv(&mut h, &effect.0.to_le_bytes()),
            Output::Log(line) => fnv(&mut h, line.text.as_bytes()),
            Output::Connect { attempt, .. } | Output::AbortConnect { attempt } => {
                fnv(&mut h, &attempt.0.to_le_bytes())
            }
            Output::BackendDatagram { data, .. } | Output::Bus { data, .. } => fnv(&mut h, data),
        }
        self.hash = h;
    }

    /// Invariants 2 and 4 for a request the engine sends.
    fn check_request(&mut self, conn: ConnId, data: &Bytes) -> Result<(), String> {
        let packet =
            Packet::decode(data.clone()).map_err(|e| format!("engine wrote a bad packet: {e}"))?;
        if !packet.code.is_request() {
            return Ok(());
        }
        let Some(&name) = self.open.get(&conn) else {
            return Err(format!("request to closed or unknown connection {conn}"));
        };
        if packet.code == Code::StatusServer {
            // A liveness probe after a timeout: no trigger behind it.
            return Ok(());
        }
        let want = World::name(name);
        let got = packet.first_value(NAS_IDENTIFIER).map(|v| v.to_vec());
        if got.as_deref() != Some(want.as_bytes()) {
            return Err(format!(
                "request for {:?} sent to connection {conn} of {want}",
                got.map(|g| String::from_utf8_lossy(&g).into_owned())
            ));
        }
        let marker = packet
            .first_value(USER_NAME)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.strip_prefix('t'))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("request without a trigger marker")?;
        // A trigger reaches a NAS again only after the connection it was sent on is
        // gone (the engine then selects again); never twice on one connection, and a
        // retransmission never produces one.
        let earlier = self.nas_requests_per_trigger.entry(marker).or_default();
        let duplicate = earlier.contains(&conn);
        let still_open = earlier.iter().copied().find(|c| self.open.contains_key(c));
        earlier.push(conn);
        if duplicate {
            return Err(format!(
                "trigger {marker} produced a second request on connection {conn}"
            ));
        }
        if let Some(open) = still_open {
            return Err(format!(
                "trigger {marker} produced a second request to a NAS while connection {open} \
                 it was sent on is still open"
            ));
        }
        self.report.nas_requests += 1;
        Ok(())
    }

    /// Invariant 3: the most requests the NAS on `conn` has had in flight at once.
    fn note_in_flight(&mut self, conn: ConnId, max: usize) -> Result<(), String> {
        let r = &mut self.report;
        r.max_in_flight_per_connection = r.max_in_flight_per_connection.max(max);
        if max > 256 {
            return Err(format!("{max} requests in flight on {conn}"));
        }
        Ok(())
    }

    fn complete(&mut self, ctx: &mut Ctx<'_>, t: u64) {
        self.triggers.remove(&t);
        self.nas_requests_per_trigger.remove(&t);
        self.completed += 1;
        if self.churn_every > 0 && self.completed.is_multiple_of(self.churn_every) {
            ctx.schedule(Duration::ZERO, CHURN);
        }
        ctx.schedule(Duration::ZERO, TRIGGER);
    }
}

impl Observer for Watch {
    fn engine<R>(&mut self, call: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = call();
        self.report.engine_time += t.elapsed();
        r
    }

    fn output(&mut self, ctx: &mut Ctx<'_>, node: NodeId, out: &Output) -> Result<(), String> {
        self.trace(ctx.now, out);
        match out {
            Output::StreamWrite { conn, data } => {
                if let Some(nas) = ctx.nas(node, *conn) {
                    self.note_in_flight(*conn, nas.max_in_flight)?;
                }
                self.check_request(*conn, data)
            }
            Output::StreamClose { conn, reason } => {
                Err(format!("engine closed healthy connection {conn}: {reason}"))
            }
            Output::Sql { .. } => Err("no SQL backend in this program".into()),
            Output::Connect { .. }
            | Output::AbortConnect { .. }
            | Output::BackendDatagram { .. } => Err("no `connect` backend in this program".into()),
            _ => Ok(()),
        }
    }

    fn http_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: HttpRequestId,
        status: u16,
        body: &Bytes,
    ) -> Result<(), String> {
        let t = id.0;
        if !self.triggers.contains(&t) {
            return Err(format!("second response to HTTP request {t}"));
        }
        if status == 200 {
            self.outcome("http 200");
        } else {
            self.outcome(&format!("http {status} {}", json_error_code(body)));
        }
        self.complete(ctx, t);
        Ok(())
    }

    fn udp_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: SocketAddr,
        data: &Bytes,
        kind: UdpReply,
    ) -> Result<(), String> {
        let id = data.get(1).copied().unwrap_or(0);
        match kind {
            UdpReply::First => {
                let Some(&t) = self.udp_ports.get(&(peer.port(), id)) else {
                    return Err("UDP reply to no trigger".into());
                };
                self.outcome("udp reply");
                self.complete(ctx, t);
            }
            // The DAC had given up already.
            UdpReply::Late => self.outcome("udp late reply"),
            UdpReply::Repeat => {}
            UdpReply::Unknown => return Err("UDP reply to no trigger".into()),
        }
        Ok(())
    }

    fn udp_gave_up(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: SocketAddr,
        identifier: u8,
    ) -> Result<(), String> {
        // The DAC gives up: the trigger's outcome is "no reply" (an error the policy
        // did not turn into a reply, e.g. NO_REVERSE_CONNECTIONS).
        let Some(&t) = self.udp_ports.get(&(peer.port(), identifier)) else {
            return Err("UDP sender gave up on no trigger".into());
        };
        self.outcome("udp no reply");
        self.complete(ctx, t);
        Ok(())
    }
}

struct World {
    config: Config,
    net: Net<Watch>,
    /// How many NAS-Identifiers the fleet has.
    names: usize,
    next_trigger: u64,
}

fn fnv(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn dac_addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn server_local(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)), port)
}

impl World {
    fn new(config: Config) -> World {
        let mut seeds = SplitMix64::new(config.seed);
        let engine_seed = seeds.next_u64();
        let engine = Engine::new(
            sim_program(config.mode, Duration::from_secs(5), 0),
            EngineOptions {
                rng: Box::new(SplitMix64::new(engine_seed)),
                env: BTreeMap::new(),
                limits: Limits::default(),
            },
        );
        let names = config
            .connections
            .div_ceil(config.connections_per_name.max(1));
        let watch = Watch {
            seed: config.seed,
            churn_every: config.churn_every,
            open: BTreeMap::new(),
            triggers: BTreeSet::new(),
            udp_ports: BTreeMap::new(),
            nas_requests_per_trigger: BTreeMap::new(),
            completed: 0,
            report: Report::default(),
            hash: 0xcbf2_9ce4_8422_2325,
        };
        let clock = Clock::with_epoch(
            Instant::now(),
            UNIX_EPOCH + Duration::from_secs(1_750_000_000),
        );
        let mut net = Net::with_observer(clock, watch);
        net.rng = SplitMix64::new(seeds.next_u64());
        net.timing = Timing {
            latency: config.latency,
            answer_delay: config.nas_delay,
            nak_per_mille: config.nak_per_mille,
        };
        net.add(engine);
        net.sql().record = false;
        World {
            net,
            names,
            next_trigger: 0,
            config,
        }
    }

    fn err(&self, message: impl Into<String>) -> SimError {
        self.net.observer.err(self.net.elapsed(), message)
    }

    fn sim_err(&self, e: NetError) -> SimError {
        self.net.observer.err(e.at, e.message)
    }

    fn per_mille(&mut self, p: u64) -> bool {
        self.net.rng.next_u64() % 1000 < p
    }

    fn name(index: usize) -> String {
        format!("nas-{index}")
    }

    // ----- connections --------------------------------------------------------------

    fn open(&mut self, name: usize) -> Result<ConnId, SimError> {
        let behaviour = if self.per_mille(self.config.silent_per_mille) {
            // It ignores the server's requests but answers its Status-Server
            // liveness probes (it is alive, not hung).
            NasMode::Ignore
        } else {
            NasMode::Ack
        };
        let seed = self.net.rng.next_u64();
        // The server's timeout (5 s) plus its rest (5 s), less the spread of
        // network latency: after that a NAS accepts an unanswered identifier again.
        let reuse_after = Duration::from_secs(10) - self.config.latency.1;
        let number = self.net.observer.report.connections_opened as u32 + 1;
        let peer = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(
                10,
                (number >> 16) as u8,
                (number >> 8) as u8,
                number as u8,
            )),
            40_000,
        );
        let spec = NasSpec {
            seed,
            record: false,
            reuse_after: Some(reuse_after),
            status: Some((
                Self::name(name),
                (Duration::from_secs(14), Duration::from_secs(16)),
            )),
            certificates: vec![Bytes::from_static(program::NAS_CERTIFICATE)],
            ..NasSpec::new(RADSEC, peer, RADSEC_SECRET_STR, behaviour)
        };
        self.net.observer.report.connections_opened += 1;
        // Registered before the engine hears of it: its first writes are checked.
        let conn = ConnId(u64::from(number));
        self.net.observer.open.insert(conn, name);
        let got = self
            .net
            .connect_nas(SERVER, spec)
            .map_err(|e| self.sim_err(e))?;
        if got != conn {
            return Err(self.err(format!("connection numbered {got}, expected {conn}")));
        }
        Ok(conn)
    }

    /// A NAS drops its connection (the engine hears it at once, so nothing is
    /// written to it afterwards) and a new connection with the same name opens.
    fn churn(&mut self) -> Result<(), SimError> {
        let open = &self.net.observer.open;
        if open.is_empty() {
            return Ok(());
        }
        let index = (self.net.rng.next_u64() % open.len() as u64) as usize;
        let Some((&conn, &name)) = open.iter().nth(index) else {
            return Ok(());
        };
        self.note_in_flight(conn)?;
        // Forget it first: the engine may select again for requests that were on it.
        self.net.observer.open.remove(&conn);
        self.net
            .nas_close(SERVER, conn)
            .map_err(|e| self.sim_err(e))?;
        self.open(name)?;
        Ok(())
    }

    /// Invariant 3 for a NAS about to go: the most requests it saw in flight.
    fn note_in_flight(&mut self, conn: ConnId) -> Result<(), SimError> {
        let Some(nas) = self.net.nas(SERVER, conn) else {
            return Ok(());
        };
        let max = nas.max_in_flight;
        self.net
            .observer
            .note_in_flight(conn, max)
            .map_err(|m| self.err(m))
    }

    // ----- workload ---------------------------------------------------------------

    fn trigger(&mut self) -> Result<(), SimError> {
        if self.next_trigger >= self.config.requests {
            return Ok(());
        }
        let t = self.next_trigger;
        self.next_trigger += 1;
        self.net.observer.report.triggers += 1;
        let target = if self.per_mille(self.config.unknown_target_per_mille) {
            None
        } else {
            Some((self.net.rng.next_u64() % self.names as u64) as usize)
        };
        let target = target.map_or_else(|| "nobody".to_owned(), Self::name);
        let marker = format!("t{t}");
        self.net.observer.triggers.insert(t);
        if self.per_mille(self.config.udp_per_mille) {
            self.net.observer.report.udp_triggers += 1;
            let port = 10_000 + (t % 50_000) as u16;
            let id = (t % 256) as u8;
            let (_, bytes) = signed_request(
                Code::DisconnectRequest,
                id,
                &[
                    (USER_NAME, marker.as_bytes()),
                    (NAS_IDENTIFIER, target.as_bytes()),
                ],
                DAC_SECRET,
                &mut self.net.rng,
            )
            .map_err(|e| self.err(format!("DAC request: {e}")))?;
            if let Some(old) = self.net.observer.udp_ports.insert((port, id), t)
                && self.net.observer.triggers.contains(&old)
            {
                return Err(self.err("UDP port/identifier reused while in flight"));
            }
            self.net
                .udp_trigger(
                    SERVER,
                    UDP,
                    dac_addr(port),
                    server_local(3799),
                    id,
                    bytes,
                    Retransmit::RADCLIENT,
                )
                .map_err(|e| self.sim_err(e))?;
        } else {
            let mut query = BTreeMap::new();
            query.insert("nas".to_owned(), target);
            query.insert("user".to_owned(), marker);
            let request = self.net.http_client().request_as(
                HttpRequestId(t),
                HTTP,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 55_000),
                "POST",
                "/disconnect",
                query,
            );
            self.net
                .http_request(SERVER, request)
                .map_err(|e| self.sim_err(e))?;
        }
        Ok(())
    }

    // ----- the loop ---------------------------------------------------------------

    fn step(&mut self) -> Result<bool, SimError> {
        match self.net.step().map_err(|e| self.sim_err(e))? {
            None => return Ok(false),
            Some(Step::Ran) => {}
            Some(Step::App(TRIGGER)) => self.trigger()?,
            Some(Step::App(_)) => self.churn()?,
        }
        Ok(true)
    }

    fn run_until_done(&mut self) -> Result<(), SimError> {
        let mut periodic = true;
        loop {
            // Periodic Status-Server events go on forever; stop them once the
            // workload is done.
            if periodic && self.net.observer.completed >= self.config.requests {
                self.net.stop_periodic();
                periodic = false;
            }
            if !self.step()? {
                return Ok(());
            }
            let report = &mut self.net.observer.report;
            report.events += 1;
            if self.config.check_every > 0 && report.events.is_multiple_of(self.config.check_every)
            {
                self.net
                    .engine(SERVER)
                    .check_invariants()
                    .map_err(|e| self.err(format!("engine: {e}")))?;
            }
        }
    }
}

/// The value of `"error":"…"` in one of the engine's JSON error bodies, read
/// without pulling a JSON library into the simulator.
fn json_error_code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let field = |name: &str| {
        text.split(&format!("\"{name}\":\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    field("error")
        .or_else(|| field("result"))
        .unwrap_or_else(|| "?".to_owned())
}

/// An engine running the simulation's program, for measurements.
pub fn fleet_engine() -> Engine {
    Engine::new(
        sim_program(SelectMode::First, Duration::from_secs(5), 0),
        EngineOptions {
            rng: Box::new(SplitMix64::new(1)),
            env: BTreeMap::new(),
            limits: Limits::default(),
        },
    )
}

/// The inputs that connect a fleet of `connections` NASes to [`fleet_engine`]:
/// each connection opens and sends one Status-Server with its NAS-Identifier.
pub fn fleet_inputs(connections: usize) -> Vec<Input> {
    let mut inputs = Vec::with_capacity(connections * 2);
    for i in 0..connections {
        let conn = ConnId(i as u64 + 1);
        let n = i as u32 + 1;
        let mut nas = Nas::new(conn, RADSEC_SECRET, NasMode::Ack, i as u64);
        inputs.push(Input::StreamOpened {
            conn,
            server: RADSEC,
            peer: SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)),
                40_000,
            ),
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)), 2083),
            transport: Transport::Tls,
            peer_certificates: Vec::new(),
        });
        inputs.push(Input::StreamData {
            conn,
            data: nas.status_server(Some(&World::name(i))).unwrap_or_default(),
        });
    }
    inputs
}

/// Feed `inputs` to `engine` at one instant, discarding its outputs. The inputs
/// stay with the caller (cloning them only bumps reference counts), so a
/// measurement around this call sees the engine's allocations alone.
pub fn feed(engine: &mut Engine, inputs: &[Input]) {
    let now = Now {
        mono: Instant::now(),
        wall: UNIX_EPOCH + Duration::from_secs(1_750_000_000),
    };
    for input in inputs {
        engine.handle(now, input.clone());
        while engine.poll_output().is_some() {}
    }
}

/// Resident memory the engine gains per connection when a fleet of `connections`
/// connects ([`fleet_inputs`]), from `/proc/self/statm`: every input is built
/// before the first reading, so only the engine's own allocations count. Only
/// meaningful in a fresh process (freed memory is reused without growing the
/// resident set). `None` where `/proc/self/statm` is unavailable.
pub fn engine_memory_per_connection(connections: usize) -> Option<f64> {
    let mut engine = fleet_engine();
    let inputs = fleet_inputs(connections);
    let before = rss_bytes()?;
    feed(&mut engine, &inputs);
    let after = rss_bytes()?;
    (engine.counts().connections == connections && connections > 0)
        .then(|| after.saturating_sub(before) as f64 / connections as f64)
}

/// Run one simulation.
pub fn run(config: &Config) -> Result<Report, SimError> {
    let started = Instant::now();
    let mut world = World::new(config.clone());
    // Connect the fleet, measuring the engine's resident memory growth.
    let rss_before = rss_bytes();
    let names = world.names;
    for i in 0..config.connections {
        world.open(i % names.max(1))?;
    }
    // Deliver the first Status-Servers.
    let warmup_end = world.net.elapsed() + Duration::from_secs(1);
    while world.net.next_wakeup().is_some_and(|at| at <= warmup_end) {
        world.step()?;
    }
    let rss_after = rss_bytes();
    let connections = world.net.engine(SERVER).counts().connections;
    if connections != config.connections {
        return Err(world.err(format!(
            "{connections} of {} connections registered",
            config.connections
        )));
    }
    world.net.observer.report.rss_bytes_per_connection = match (rss_before, rss_after) {
        (Some(b), Some(a)) if config.connections > 0 => {
            Some(a.saturating_sub(b) as f64 / config.connections as f64)
        }
        _ => None,
    };
    for _ in 0..config.concurrency {
        world.net.schedule(Duration::ZERO, TRIGGER);
    }
    world.run_until_done()?;
    // Invariant 5: let every timer run out, then nothing may be left.
    world
        .net
        .advance(Duration::from_secs(60))
        .map_err(|e| world.sim_err(e))?;
    let engine = world.net.engine(SERVER);
    engine
        .check_invariants()
        .map_err(|e| world.err(format!("engine: {e}")))?;
    let counts = engine.counts();
    if counts.tasks != 0
        || counts.sql_pending != 0
        || counts.reverse_in_flight != 0
        || counts.reverse_queued != 0
        || counts.resting_ids != 0
        || counts.timers != 0
        || counts.duplicate_in_flight != 0
    {
        return Err(world.err(format!("state left after the work completed: {counts:?}")));
    }
    let watch = &world.net.observer;
    if watch.completed != config.requests || !watch.triggers.is_empty() {
        return Err(world.err(format!(
            "{} of {} triggers completed, {} left",
            watch.completed,
            config.requests,
            watch.triggers.len()
        )));
    }
    let open: Vec<ConnId> = world.net.observer.open.keys().copied().collect();
    for conn in open {
        world.note_in_flight(conn)?;
    }
    let virtual_time = world.net.elapsed();
    let mut report = std::mem::take(&mut world.net.observer.report);
    report.virtual_time = virtual_time;
    report.wall_time = started.elapsed();
    report.trace_hash = world.net.observer.hash;
    Ok(report)
}
