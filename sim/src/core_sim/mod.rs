//! Core-level simulation: the server [`Engine`] and thousands of simulated NASes on
//! an in-memory network with a virtual clock (the quinn-proto `Pair` style: no
//! sockets, no runtime, one thread, one seed).
//!
//! A closed-loop workload keeps a number of triggers outstanding (HTTP requests,
//! and UDP Disconnect-Requests with retransmissions), each targeting a NAS by its
//! NAS-Identifier; NASes answer after a random delay (some NAK, some never answer);
//! connections churn (a NAS drops its connection and a new one opens). Invariants
//! are checked as the world runs:
//!
//! 1. every HTTP trigger gets exactly one response; a UDP trigger never gets two
//!    different replies;
//! 2. every request reaches an open connection whose NAS-Identifier is the one the
//!    trigger asked for;
//! 3. no identifier is in flight twice on a connection, never more than 256;
//! 4. a retransmitted UDP trigger never yields a second request to a NAS (a trigger
//!    reaches a NAS again only after the connection it was on closed);
//! 5. after the work is done and the timers have run out, the engine holds no task,
//!    request, queue entry or timer ([`boomerang_core::engine::Engine::counts`]);
//!
//! plus the engine's own cross-reference check every `check_every` events.
//! The same seed gives the same trace hash.

pub mod nas;
pub mod program;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use boomerang_core::contract::Transport;
use boomerang_core::engine::{
    ConnId, Engine, EngineOptions, HttpRequest, HttpRequestId, Input, Limits, Now, Output,
};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::radius::auth::{SignOptions, sign_request};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

use nas::{Behaviour, NAS_IDENTIFIER, SimNas};
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
    /// Wall time spent inside the engine (handle, handle_timeout, poll_output).
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

/// Something scheduled on the virtual network or workload.
#[derive(Debug)]
enum Event {
    /// Deliver to the engine.
    ToEngine(Input),
    /// Bytes from the engine reach a NAS.
    ToNas { conn: ConnId, data: Bytes },
    /// A NAS answers a request it received.
    Answer { conn: ConnId, request: Box<Packet> },
    /// A NAS sends its periodic Status-Server.
    Status(ConnId),
    /// Issue a new trigger.
    Trigger,
    /// A UDP trigger's client retransmits (or gives up).
    UdpRetry { trigger: u64, attempt: u8 },
}

/// A trigger in flight.
#[derive(Debug)]
struct Trigger {
    udp: Option<UdpState>,
}

#[derive(Debug)]
struct UdpState {
    port: u16,
    bytes: Bytes,
}

struct World {
    config: Config,
    engine: Engine,
    rng: SplitMix64,
    base: Instant,
    wall: SystemTime,
    now: Duration,
    queue: BTreeMap<(Duration, u64), Event>,
    seq: u64,
    nases: BTreeMap<ConnId, SimNas>,
    by_name: Vec<BTreeSet<ConnId>>,
    next_conn: u64,
    triggers: BTreeMap<u64, Trigger>,
    next_trigger: u64,
    http_ids: BTreeMap<HttpRequestId, u64>,
    /// The trigger last sent from each (port, identifier).
    udp_ports: BTreeMap<(u16, u8), u64>,
    /// The first reply each UDP trigger got (until its port is reused).
    udp_replies: BTreeMap<u64, Bytes>,
    /// The connections each trigger's requests went to, in order.
    nas_requests_per_trigger: BTreeMap<u64, Vec<ConnId>>,
    completed: u64,
    report: Report,
    hash: u64,
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
        World {
            rng: SplitMix64::new(seeds.next_u64()),
            engine,
            base: Instant::now(),
            wall: UNIX_EPOCH + Duration::from_secs(1_750_000_000),
            now: Duration::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            nases: BTreeMap::new(),
            by_name: vec![BTreeSet::new(); names],
            next_conn: 0,
            triggers: BTreeMap::new(),
            next_trigger: 0,
            http_ids: BTreeMap::new(),
            udp_ports: BTreeMap::new(),
            udp_replies: BTreeMap::new(),
            nas_requests_per_trigger: BTreeMap::new(),
            completed: 0,
            report: Report::default(),
            hash: 0xcbf2_9ce4_8422_2325,
            config,
        }
    }

    fn err(&self, message: impl Into<String>) -> SimError {
        SimError {
            seed: self.config.seed,
            at: self.now,
            message: message.into(),
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: self.base + self.now,
            wall: self.wall + self.now,
        }
    }

    fn uniform(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let span = hi.saturating_sub(lo).as_nanos() as u64;
        if span == 0 {
            return lo;
        }
        lo + Duration::from_nanos(self.rng.next_u64() % span)
    }

    fn per_mille(&mut self, p: u64) -> bool {
        self.rng.next_u64() % 1000 < p
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), event);
    }

    fn latency(&mut self) -> Duration {
        self.uniform(self.config.latency)
    }

    fn name(index: usize) -> String {
        format!("nas-{index}")
    }

    // ----- engine calls (timed) ---------------------------------------------------

    fn engine_handle(&mut self, input: Input) -> Result<(), SimError> {
        let now = self.now();
        let t = Instant::now();
        self.engine.handle(now, input);
        self.report.engine_time += t.elapsed();
        self.drain()
    }

    fn engine_timeout(&mut self) -> Result<(), SimError> {
        let now = self.now();
        let t = Instant::now();
        self.engine.handle_timeout(now);
        self.report.engine_time += t.elapsed();
        self.drain()
    }

    fn drain(&mut self) -> Result<(), SimError> {
        loop {
            let t = Instant::now();
            let out = self.engine.poll_output();
            self.report.engine_time += t.elapsed();
            let Some(out) = out else { return Ok(()) };
            self.trace(&out);
            self.on_output(out)?;
        }
    }

    fn trace(&mut self, out: &Output) {
        let mut h = self.hash;
        fnv(&mut h, &(self.now.as_nanos() as u64).to_le_bytes());
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
            Output::BackendDatagram { data, .. } => fnv(&mut h, data),
        }
        self.hash = h;
    }

    fn on_output(&mut self, out: Output) -> Result<(), SimError> {
        match out {
            Output::StreamWrite { conn, data } => {
                let packet = Packet::decode(data.clone())
                    .map_err(|e| self.err(format!("engine wrote a bad packet: {e}")))?;
                if packet.code.is_request() {
                    self.check_request(conn, &packet)?;
                }
                let delay = self.latency();
                self.schedule(delay, Event::ToNas { conn, data });
            }
            Output::StreamClose { conn, reason } => {
                return Err(self.err(format!("engine closed healthy connection {conn}: {reason}")));
            }
            Output::HttpResponse {
                id, status, body, ..
            } => {
                let Some(t) = self.http_ids.remove(&id) else {
                    return Err(self.err(format!("second response to HTTP request {}", id.0)));
                };
                let kind = if status == 200 {
                    "http 200".to_owned()
                } else {
                    format!("http {status} {}", json_error_code(&body))
                };
                *self.report.outcomes.entry(kind).or_default() += 1;
                self.complete(t)?;
            }
            Output::SendDatagram { peer, data, .. } => {
                let id = data.get(1).copied().unwrap_or(0);
                let Some(&t) = self.udp_ports.get(&(peer.port(), id)) else {
                    return Err(self.err("UDP reply to no trigger"));
                };
                match self.udp_replies.get(&t) {
                    Some(prev) if *prev != data => {
                        return Err(self.err(format!("UDP trigger {t} got two different replies")));
                    }
                    Some(_) => {}
                    None => {
                        self.udp_replies.insert(t, data);
                        if self.triggers.contains_key(&t) {
                            *self.report.outcomes.entry("udp reply".into()).or_default() += 1;
                            self.complete(t)?;
                        } else {
                            // The DAC had given up already.
                            *self
                                .report
                                .outcomes
                                .entry("udp late reply".into())
                                .or_default() += 1;
                        }
                    }
                }
            }
            Output::Sql { .. } => return Err(self.err("no SQL backend in this program")),
            Output::Log(_) => {}
            Output::Connect { .. }
            | Output::AbortConnect { .. }
            | Output::BackendDatagram { .. } => {
                return Err(self.err("no `connect` backend in this program"));
            }
        }
        Ok(())
    }

    /// Invariants 2 and 4 for a request the engine sends.
    fn check_request(&mut self, conn: ConnId, packet: &Packet) -> Result<(), SimError> {
        let Some(nas) = self.nases.get(&conn) else {
            return Err(self.err(format!("request to closed or unknown connection {conn}")));
        };
        if packet.code == Code::StatusServer {
            // A liveness probe after a timeout: no trigger behind it.
            return Ok(());
        }
        let want = Self::name(nas.name);
        let got = packet.first_value(NAS_IDENTIFIER).map(|v| v.to_vec());
        if got.as_deref() != Some(want.as_bytes()) {
            return Err(self.err(format!(
                "request for {:?} sent to connection {conn} of {want}",
                got.map(|g| String::from_utf8_lossy(&g).into_owned())
            )));
        }
        let marker = packet
            .first_value(USER_NAME)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.strip_prefix('t'))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| self.err("request without a trigger marker"))?;
        // A trigger reaches a NAS again only after the connection it was sent on is
        // gone (the engine then selects again); never twice on one connection, and a
        // retransmission never produces one.
        let earlier = self.nas_requests_per_trigger.entry(marker).or_default();
        let duplicate = earlier.contains(&conn);
        let still_open = earlier.iter().copied().find(|c| self.nases.contains_key(c));
        earlier.push(conn);
        if duplicate {
            return Err(self.err(format!(
                "trigger {marker} produced a second request on connection {conn}"
            )));
        }
        if let Some(open) = still_open {
            return Err(self.err(format!(
                "trigger {marker} produced a second request to a NAS while connection {open} \
                 it was sent on is still open"
            )));
        }
        self.report.nas_requests += 1;
        Ok(())
    }

    fn complete(&mut self, t: u64) -> Result<(), SimError> {
        self.triggers.remove(&t);
        self.nas_requests_per_trigger.remove(&t);
        self.completed += 1;
        if self.config.churn_every > 0 && self.completed % self.config.churn_every == 0 {
            self.churn()?;
        }
        if self.next_trigger < self.config.requests {
            self.schedule(Duration::ZERO, Event::Trigger);
        }
        Ok(())
    }

    // ----- connections --------------------------------------------------------------

    fn open(&mut self, name: usize) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let n = self.next_conn as u32;
        let peer = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)),
            40_000,
        );
        let behaviour = if self.per_mille(self.config.silent_per_mille) {
            Behaviour::Silent
        } else {
            Behaviour::Answers
        };
        let seed = self.rng.next_u64();
        self.nases
            .insert(conn, SimNas::new(conn, name, behaviour, seed));
        if let Some(set) = self.by_name.get_mut(name) {
            set.insert(conn);
        }
        self.report.connections_opened += 1;
        let input = Input::StreamOpened {
            conn,
            server: RADSEC,
            peer,
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)), 2083),
            transport: Transport::Tls,
            peer_certificates: Vec::new(),
        };
        self.schedule(Duration::ZERO, Event::ToEngine(input));
        let first_status = self.latency();
        self.schedule(first_status, Event::Status(conn));
        conn
    }

    /// A NAS drops its connection (the engine hears it at once, so nothing is
    /// written to it afterwards) and a new connection with the same name opens.
    fn churn(&mut self) -> Result<(), SimError> {
        if self.nases.is_empty() {
            return Ok(());
        }
        let index = (self.rng.next_u64() % self.nases.len() as u64) as usize;
        let Some(conn) = self.nases.keys().nth(index).copied() else {
            return Ok(());
        };
        // Forget it first: the engine may select again for requests that were on it.
        let nas = self.nases.remove(&conn);
        if let Some(nas) = &nas
            && let Some(set) = self.by_name.get_mut(nas.name)
        {
            set.remove(&conn);
        }
        self.engine_handle(Input::StreamClosed { conn })?;
        if let Some(nas) = nas {
            self.open(nas.name);
        }
        Ok(())
    }

    // ----- workload ---------------------------------------------------------------

    fn trigger(&mut self) -> Result<(), SimError> {
        if self.next_trigger >= self.config.requests {
            return Ok(());
        }
        let t = self.next_trigger;
        self.next_trigger += 1;
        self.report.triggers += 1;
        let target = if self.per_mille(self.config.unknown_target_per_mille) {
            None
        } else {
            Some((self.rng.next_u64() % self.by_name.len() as u64) as usize)
        };
        let target = target.map_or_else(|| "nobody".to_owned(), Self::name);
        let marker = format!("t{t}");
        if self.per_mille(self.config.udp_per_mille) {
            self.report.udp_triggers += 1;
            let port = 10_000 + (t % 50_000) as u16;
            let id = (t % 256) as u8;
            let mut p = Packet::new(Code::DisconnectRequest, id);
            p.push(USER_NAME, marker.into_bytes());
            p.push(NAS_IDENTIFIER, target.into_bytes());
            let bytes = sign_request(
                &mut p,
                DAC_SECRET.as_bytes(),
                &mut self.rng,
                &SignOptions::default(),
            )
            .map_err(|e| self.err(format!("DAC request: {e}")))?;
            if let Some(old) = self.udp_ports.insert((port, id), t) {
                if self.triggers.contains_key(&old) {
                    return Err(self.err("UDP port/identifier reused while in flight"));
                }
                self.udp_replies.remove(&old);
            }
            self.triggers.insert(
                t,
                Trigger {
                    udp: Some(UdpState {
                        port,
                        bytes: bytes.clone(),
                    }),
                },
            );
            self.send_udp(port, bytes);
            self.schedule(
                Duration::from_secs(3),
                Event::UdpRetry {
                    trigger: t,
                    attempt: 1,
                },
            );
        } else {
            let id = HttpRequestId(t);
            self.http_ids.insert(id, t);
            self.triggers.insert(t, Trigger { udp: None });
            let mut query = BTreeMap::new();
            query.insert("nas".to_owned(), target);
            query.insert("user".to_owned(), marker);
            let delay = self.latency();
            self.schedule(
                delay,
                Event::ToEngine(Input::HttpRequest(HttpRequest {
                    id,
                    server: HTTP,
                    peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 55_000),
                    method: "POST".into(),
                    path: "/disconnect".into(),
                    query,
                    headers: BTreeMap::new(),
                    body: Bytes::new(),
                })),
            );
        }
        Ok(())
    }

    fn send_udp(&mut self, port: u16, data: Bytes) {
        let delay = self.latency();
        self.schedule(
            delay,
            Event::ToEngine(Input::Datagram {
                server: UDP,
                peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)), 3799),
                data,
            }),
        );
    }

    fn udp_retry(&mut self, t: u64, attempt: u8) -> Result<(), SimError> {
        let Some(state) = self.triggers.get(&t).and_then(|tr| tr.udp.as_ref()) else {
            return Ok(());
        };
        if attempt >= 3 {
            // The DAC gives up: the trigger's outcome is "no reply" (an error the
            // policy did not turn into a reply, e.g. NO_REVERSE_CONNECTIONS).
            *self
                .report
                .outcomes
                .entry("udp no reply".into())
                .or_default() += 1;
            return self.complete(t);
        }
        let (port, bytes) = (state.port, state.bytes.clone());
        self.send_udp(port, bytes);
        self.schedule(
            Duration::from_secs(3),
            Event::UdpRetry {
                trigger: t,
                attempt: attempt + 1,
            },
        );
        Ok(())
    }

    // ----- the loop ---------------------------------------------------------------

    fn step(&mut self, event: Event) -> Result<(), SimError> {
        match event {
            Event::ToEngine(input) => {
                if let Input::StreamData { conn, .. } = &input {
                    if !self.nases.contains_key(conn) {
                        return Ok(()); // the NAS closed meanwhile
                    }
                }
                self.engine_handle(input)?;
            }
            Event::ToNas { conn, data } => {
                // The server's timeout (5 s) plus its quarantine (5 s), less the
                // spread of network latency.
                let reuse_after = Duration::from_secs(10) - self.config.latency.1;
                let now = self.now;
                let requests = match self.nases.get_mut(&conn) {
                    Some(nas) => nas.receive(&data, now, reuse_after).map_err(|e| SimError {
                        seed: self.config.seed,
                        at: self.now,
                        message: e,
                    })?,
                    None => return Ok(()),
                };
                let silent = self
                    .nases
                    .get(&conn)
                    .is_some_and(|n| n.behaviour == Behaviour::Silent);
                if let Some(nas) = self.nases.get(&conn) {
                    self.report.max_in_flight_per_connection = self
                        .report
                        .max_in_flight_per_connection
                        .max(nas.max_in_flight);
                    if nas.max_in_flight > 256 {
                        return Err(self.err(format!(
                            "{} requests in flight on {conn}",
                            nas.max_in_flight
                        )));
                    }
                }
                for request in requests {
                    // A silent NAS ignores the server's requests but answers its
                    // Status-Server liveness probes (it is alive, not hung).
                    if !silent || request.code == Code::StatusServer {
                        let delay = self.uniform(self.config.nas_delay);
                        self.schedule(
                            delay,
                            Event::Answer {
                                conn,
                                request: Box::new(request),
                            },
                        );
                    }
                }
            }
            Event::Answer { conn, request } => {
                let ack = !self.per_mille(self.config.nak_per_mille)
                    || request.code == Code::StatusServer;
                let Some(nas) = self.nases.get_mut(&conn) else {
                    return Ok(());
                };
                let data = nas.answer(&request, ack);
                let delay = self.latency();
                self.schedule(delay, Event::ToEngine(Input::StreamData { conn, data }));
            }
            Event::Status(conn) => {
                let Some(nas) = self.nases.get_mut(&conn) else {
                    return Ok(());
                };
                let name = Self::name(nas.name);
                let data = nas.status_server(&name);
                self.schedule(
                    Duration::ZERO,
                    Event::ToEngine(Input::StreamData { conn, data }),
                );
                let jitter = self.uniform((Duration::from_secs(14), Duration::from_secs(16)));
                self.schedule(jitter, Event::Status(conn));
            }
            Event::Trigger => self.trigger()?,
            Event::UdpRetry { trigger, attempt } => self.udp_retry(trigger, attempt)?,
        }
        Ok(())
    }

    fn run_until_done(&mut self) -> Result<(), SimError> {
        loop {
            let next_event = self.queue.keys().next().map(|(at, _)| *at);
            let next_timer = self
                .engine
                .poll_timeout()
                .map(|i| i.saturating_duration_since(self.base));
            let work_left = self.completed < self.config.requests;
            match (next_event, next_timer) {
                (Some(e), Some(t)) if t <= e => {
                    self.now = self.now.max(t);
                    self.engine_timeout()?;
                }
                (Some(_), _) => {
                    let Some(((at, _), event)) = self.queue.pop_first() else {
                        continue;
                    };
                    // Periodic Status-Server events go on forever; stop once the
                    // workload is done and only they remain.
                    if !work_left && matches!(event, Event::Status(_)) {
                        continue;
                    }
                    self.now = self.now.max(at);
                    self.step(event)?;
                }
                (None, Some(t)) => {
                    self.now = self.now.max(t);
                    self.engine_timeout()?;
                }
                (None, None) => return Ok(()),
            }
            self.report.events += 1;
            if self.config.check_every > 0 && self.report.events % self.config.check_every == 0 {
                self.engine
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
        let mut nas = SimNas::new(conn, i, Behaviour::Answers, i as u64);
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
            data: nas.status_server(&World::name(i)),
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
    let names = world.by_name.len();
    for i in 0..config.connections {
        world.open(i % names.max(1));
    }
    // Deliver the opens and the first Status-Servers.
    let warmup_end = world.now + Duration::from_secs(1);
    while let Some(&(at, _)) = world.queue.keys().next() {
        if at > warmup_end {
            break;
        }
        let Some((_, event)) = world.queue.pop_first() else {
            break;
        };
        world.now = world.now.max(at);
        world.step(event)?;
    }
    let rss_after = rss_bytes();
    if world.engine.counts().connections != config.connections {
        return Err(world.err(format!(
            "{} of {} connections registered",
            world.engine.counts().connections,
            config.connections
        )));
    }
    world.report.rss_bytes_per_connection = match (rss_before, rss_after) {
        (Some(b), Some(a)) if config.connections > 0 => {
            Some(a.saturating_sub(b) as f64 / config.connections as f64)
        }
        _ => None,
    };
    for _ in 0..config.concurrency {
        world.schedule(Duration::ZERO, Event::Trigger);
    }
    world.run_until_done()?;
    // Invariant 5: let every timer run out, then nothing may be left.
    world.now += Duration::from_secs(60);
    world.engine_timeout()?;
    world
        .engine
        .check_invariants()
        .map_err(|e| world.err(format!("engine: {e}")))?;
    let counts = world.engine.counts();
    if counts.tasks != 0
        || counts.sql_pending != 0
        || counts.reverse_in_flight != 0
        || counts.reverse_queued != 0
        || counts.quarantined_ids != 0
        || counts.timers != 0
        || counts.duplicate_in_flight != 0
    {
        return Err(world.err(format!("state left after the work completed: {counts:?}")));
    }
    if world.completed != config.requests || !world.triggers.is_empty() {
        return Err(world.err(format!(
            "{} of {} triggers completed, {} left",
            world.completed,
            config.requests,
            world.triggers.len()
        )));
    }
    world.report.virtual_time = world.now;
    world.report.wall_time = started.elapsed();
    world.report.trace_hash = world.hash;
    Ok(world.report)
}
