//! Cluster worlds: three engines of one cluster on the core's test network and its
//! simulated bus (NATS's stand-in), a NAS fleet spread over them, triggers arriving
//! at any node for NAS on any node, and seeded faults in the bus and the nodes.
//!
//! A world runs in four phases:
//!
//! 1. **Chaos.** Triggers (HTTP and UDP Disconnect-Requests) arrive at random nodes,
//!    open-loop, each naming a NAS by NAS-Identifier (a few name nobody), so most
//!    selections are remote and forwarded to the connection's owner. NASes answer
//!    ACK, NAK (a per-mille) or, for the silent names, never. NAS connections churn
//!    (a connection closes, its NAS reconnects to a random node). Fault episodes
//!    drawn from the seed overlap: bus loss, bus delay (which also reorders), one
//!    node cut off the bus (sometimes with its driver reporting the bus down) and
//!    healed, one node crashed and restarted (its NAS fleet reconnects to the other
//!    nodes, its bus comes up after a boot time).
//! 2. **Heal and settle.** Every fault ends, triggers stop; the world runs long
//!    enough for every trigger to have its outcome and for the view to settle
//!    (`node_timeout` + `heartbeat` and more). Then every node's view of the
//!    cluster's connections must be exactly the connections open.
//! 3. **Liveness.** With no NAK, every answering NAS name that is connected gets one
//!    HTTP trigger at every node: each must be answered 200.
//! 4. **Quiet.** Periodic Status-Servers stop, every timer runs out: no engine holds
//!    a task, a request in flight or queued, a duplicate in flight, a forwarded
//!    request waiting or running.
//!
//! Invariants, checked as the world runs (each failure is a [`SimError`] naming the
//! seed to replay):
//!
//! - **one outcome per trigger**: an HTTP trigger gets exactly one response, within
//!   [`ClusterConfig::outcome_bound`] of being sent (checked after every step); a UDP
//!   trigger gets at most one reply (the sender gives up after its retransmissions:
//!   the policy's silence). A trigger whose node crashed while it was in flight has
//!   the outcome "crashed" (its client saw the connection reset);
//! - **never two sends per trigger**: the program has no `retries`, so a second
//!   Disconnect-Request written to any NAS connection of any node for one trigger
//!   (recognised by the User-Name `t<N>` every trigger carries) is a violation. A UDP
//!   trigger whose node crashed is exempt (its sender retransmits to the restarted
//!   node, which has no memory of it: a new request there, as documented);
//! - **only to a connection `@select` accepts**: every request written goes to an open
//!   connection of the node that wrote it, whose NAS announced the NAS-Identifier the
//!   request names;
//! - **liveness after heal** (phase 3) and **views converge** (phase 2);
//! - **every engine's `check_invariants`** (which includes the cluster part's) after
//!   every step;
//! - **nothing left** at the end (phase 4), and every trigger has its outcome.
//!
//! The same seed gives the same trace hash (every output of every node with its
//! virtual time).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;

use boomerang_core::contract::{Event, ReverseStep};
use boomerang_core::engine::{Engine, EngineOptions, HttpRequestId, Input, Limits, Output};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::program::{Cluster, Nats, NatsAuth, Program};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;
use boomerang_core::testnet::{
    Clock, Ctx, NasMode, NasSpec, Net, NetError, NodeId, Observer, Retransmit, Step, Timing,
    UdpReply, signed_request,
};

use super::nas::{NAS_IDENTIFIER, RADSEC_SECRET_STR};
use super::program::{DAC_SECRET, HTTP, RADSEC, UDP, sim_program};
use super::{SimError, USER_NAME, fnv, json_error_code};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Drives everything: the fleet, the workload, the faults, the engines.
    pub seed: u64,
    /// Engines in the cluster.
    pub nodes: u16,
    /// NAS-Identifiers in the fleet.
    pub names: usize,
    /// Each name has 1 to this many connections, on random nodes.
    pub max_conns_per_name: usize,
    /// Per mille of names whose NAS never answers a request (it answers
    /// Status-Server).
    pub silent_per_mille: u64,
    /// Per mille of answers that are NAKs (during the chaos).
    pub nak_per_mille: u64,
    /// Per mille of triggers sent over UDP (the rest over HTTP).
    pub udp_per_mille: u64,
    /// Per mille of triggers naming a NAS-Identifier nobody has.
    pub unknown_per_mille: u64,
    /// Time between two triggers, uniform in this range.
    pub trigger_gap: (Duration, Duration),
    /// Time between two connection churns, uniform in this range (`None`: none).
    pub churn_gap: Option<(Duration, Duration)>,
    /// How long the chaos phase lasts.
    pub chaos: Duration,
    /// At most this many fault episodes (the seed draws 0 to this many).
    pub max_episodes: usize,
    /// One-way network latency (streams, datagrams, HTTP, the bus), uniform.
    pub latency: (Duration, Duration),
    /// How long a NAS takes to answer, uniform.
    pub nas_delay: (Duration, Duration),
    /// The reverse servers' `timeout` (no `retries`).
    pub timeout: Duration,
    /// `cluster { heartbeat }`.
    pub heartbeat: Duration,
    /// `cluster { node_timeout }`.
    pub node_timeout: Duration,
    /// `cluster { forward_margin }`.
    pub forward_margin: Duration,
    /// The largest extra bus delay a delay episode draws.
    pub max_bus_delay: Duration,
    /// Run every engine's `check_invariants` every this many steps (1: every step).
    pub check_every: u64,
}

impl ClusterConfig {
    /// A small world that runs in a debug build in about a second: 3 nodes, 24
    /// NAS names, 40 s of chaos, every engine checked every fifth step.
    pub fn small(seed: u64) -> ClusterConfig {
        ClusterConfig {
            seed,
            nodes: 3,
            names: 24,
            max_conns_per_name: 2,
            silent_per_mille: 100,
            nak_per_mille: 50,
            udp_per_mille: 250,
            unknown_per_mille: 40,
            trigger_gap: (Duration::from_millis(5), Duration::from_millis(150)),
            churn_gap: Some((Duration::from_millis(200), Duration::from_secs(2))),
            chaos: Duration::from_secs(40),
            max_episodes: 6,
            latency: (Duration::from_micros(200), Duration::from_millis(10)),
            nas_delay: (Duration::from_millis(1), Duration::from_millis(400)),
            timeout: Duration::from_secs(3),
            heartbeat: Duration::from_secs(1),
            node_timeout: Duration::from_secs(3),
            forward_margin: Duration::from_secs(1),
            max_bus_delay: Duration::from_millis(1500),
            check_every: 5,
        }
    }

    /// How long after it is sent an HTTP trigger must have its response: the
    /// reverse `timeout` plus `forward_margin` (the trigger's node gives up on a
    /// forward then), plus a slack of 2 s, a network round trip and two bus round
    /// trips at the largest bus delay (a forward answered `lost` before the NAS
    /// saw it is selected again, with a fresh deadline).
    pub fn outcome_bound(&self) -> Duration {
        self.timeout
            + self.forward_margin
            + Duration::from_secs(2)
            + self.latency.1 * 6
            + self.max_bus_delay * 4
    }

    /// The `cluster { … }` settings of node `n` (named `n{n}`, `node_id` n) in these
    /// worlds.
    pub fn cluster(&self, n: u16) -> Cluster {
        Cluster {
            name: "sim".into(),
            node: format!("n{n}"),
            node_id: n,
            nats: Nats {
                servers: vec!["nats://127.0.0.1:4222".into()],
                tls: None,
                auth: NatsAuth::None,
                connect_timeout: Duration::from_secs(2),
            },
            heartbeat: self.heartbeat,
            node_timeout: self.node_timeout,
            forward_margin: self.forward_margin,
        }
    }
}

/// What a cluster world measured.
#[derive(Debug, Clone, Default)]
pub struct ClusterReport {
    /// Triggers issued (chaos and liveness).
    pub triggers: u64,
    /// Of which over UDP.
    pub udp_triggers: u64,
    /// Of which in the liveness phase.
    pub liveness_triggers: u64,
    /// Requests written to NAS connections (every node).
    pub nas_requests: u64,
    /// Of which written after the trigger already had its outcome (a forward
    /// delayed on the bus past the trigger node's deadline).
    pub late_sends: u64,
    /// Of which written for a UDP trigger again after its node crashed.
    pub resent_after_crash: u64,
    /// Of which written again after the connection of the first closed with
    /// nothing heard from its NAS since (the engine's free reselection).
    pub resent_after_close: u64,
    /// The longest an HTTP trigger waited for its response.
    pub max_http_latency: Duration,
    /// Requests forwarded to another node (every engine, restarted ones too).
    pub forwarded: u64,
    /// Outcomes by kind (`http 200`, `http 500 REVERSE_TIMEOUT`, `udp reply`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Fault episodes by kind.
    pub episodes: BTreeMap<String, u64>,
    /// `@select first` or `round-robin` (drawn from the seed).
    pub mode: String,
    /// Connections closed and reopened by churn.
    pub churns: u64,
    /// Connections opened in total.
    pub connections_opened: u64,
    /// Bus messages delivered and lost.
    pub bus_delivered: u64,
    /// Bus messages lost (loss or a cut).
    pub bus_lost: u64,
    /// Steps run.
    pub steps: u64,
    /// Virtual time simulated.
    pub virtual_time: Duration,
    /// Wall time of the run.
    pub wall_time: Duration,
    /// NAS connection-hours simulated (the integral of open connections).
    pub nas_hours: f64,
    /// FNV-1a hash of every output of every node with its virtual time.
    pub trace_hash: u64,
}

impl ClusterReport {
    /// Fault episodes in total.
    pub fn episode_count(&self) -> u64 {
        self.episodes.values().sum()
    }
}

/// One trigger as the simulation follows it.
#[derive(Debug, Clone)]
struct Trig {
    node: usize,
    udp: bool,
    liveness: bool,
    sent: Duration,
    outcome: Option<String>,
    /// Its node crashed while it was in flight.
    crashed: bool,
    sends: u32,
    /// Where its requests went: (virtual time, node, connection).
    sent_to: Vec<(Duration, usize, u64)>,
}

/// The simulation's side of the network: bookkeeping and the invariants checked
/// on every output.
struct Watch {
    /// Open NAS connections, by (node, connection), and their name's index.
    open: BTreeMap<(usize, u64), usize>,
    triggers: BTreeMap<u64, Trig>,
    /// HTTP triggers waiting for their response, by the time they were sent.
    deadlines: BTreeSet<(Duration, u64)>,
    /// The trigger last sent from each UDP (port, identifier).
    udp_ports: BTreeMap<(u16, u8), u64>,
    report: ClusterReport,
    hash: u64,
}

impl Watch {
    fn outcome(&mut self, now: Duration, t: u64, kind: String) -> Result<(), String> {
        let Some(trig) = self.triggers.get_mut(&t) else {
            return Err(format!("an outcome for unknown trigger {t}"));
        };
        if trig.outcome.is_some() {
            if trig.crashed {
                // Its client saw the connection reset; a UDP sender's later reply
                // from the restarted node is not a second outcome.
                *self
                    .report
                    .outcomes
                    .entry(format!("{kind} after crash"))
                    .or_default() += 1;
                return Ok(());
            }
            return Err(format!(
                "trigger {t} got a second outcome {kind:?} after {:?}",
                trig.outcome
            ));
        }
        if trig.liveness && kind != "http 200" {
            return Err(format!(
                "liveness: trigger {t} on node {} (after every fault healed) got {kind:?}",
                trig.node
            ));
        }
        // A NAS's answer (ACK or NAK, mapped) needs a request that reached a NAS.
        let answered = kind == "http 200" || kind == "http 403 reject" || kind == "udp reply";
        if answered && trig.sends == 0 {
            return Err(format!(
                "trigger {t} on node {} got {kind:?} but no request for it was written to a NAS",
                trig.node
            ));
        }
        if !trig.udp {
            self.deadlines.remove(&(trig.sent, t));
            let took = now.saturating_sub(trig.sent);
            self.report.max_http_latency = self.report.max_http_latency.max(took);
        }
        trig.outcome = Some(kind.clone());
        *self.report.outcomes.entry(kind).or_default() += 1;
        Ok(())
    }

    fn trace(&mut self, now: Duration, node: NodeId, out: &Output) {
        let mut h = self.hash;
        fnv(&mut h, &(now.as_nanos() as u64).to_le_bytes());
        fnv(&mut h, &(node.0 as u64).to_le_bytes());
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

    /// A request written by `node` on `conn`: to an open connection of the NAS it
    /// names, once per trigger.
    fn check_request(
        &mut self,
        now: Duration,
        node: usize,
        conn: u64,
        data: &Bytes,
    ) -> Result<(), String> {
        let packet =
            Packet::decode(data.clone()).map_err(|e| format!("engine wrote a bad packet: {e}"))?;
        if !packet.code.is_request() || packet.code == Code::StatusServer {
            return Ok(());
        }
        let Some(&name) = self.open.get(&(node, conn)) else {
            return Err(format!(
                "node {node} wrote a request to connection {conn}, which is not open on it"
            ));
        };
        let want = name_of(name);
        let got = packet.first_value(NAS_IDENTIFIER).map(|v| v.to_vec());
        if got.as_deref() != Some(want.as_bytes()) {
            return Err(format!(
                "a request for {:?} written to connection {conn} of node {node}, whose NAS is {want}",
                got.map(|g| String::from_utf8_lossy(&g).into_owned())
            ));
        }
        let marker = packet
            .first_value(USER_NAME)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.strip_prefix('t'))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("a request without a trigger marker")?;
        let Some(trig) = self.triggers.get_mut(&marker) else {
            return Err(format!("a request for unknown trigger {marker}"));
        };
        // The engine's rule for a connection that closes with a request on it: a
        // request it never heard back about after writing it is selected again for
        // free (`retries` is not spent). So a second request is allowed only once
        // every connection an earlier one went to is closed — never on the same
        // connection, never while an earlier connection is still open.
        let reselected = !trig.sent_to.is_empty()
            && trig
                .sent_to
                .iter()
                .all(|(_, n, c)| !self.open.contains_key(&(*n, *c)) && (*n, *c) != (node, conn));
        trig.sends += 1;
        trig.sent_to.push((now, node, conn));
        self.report.nas_requests += 1;
        if trig.outcome.is_some() && !trig.crashed {
            self.report.late_sends += 1;
        }
        if trig.sends > 1 {
            if trig.crashed && trig.udp {
                self.report.resent_after_crash += 1;
            } else if reselected {
                self.report.resent_after_close += 1;
            } else {
                return Err(format!(
                    "trigger {marker} ({} at {:?} to node {}) produced a second request to a \
                     NAS while a connection it went to is still open (or on the same \
                     connection); the program has no retries. Requests (time, node, connection): {:x?}",
                    if trig.udp { "UDP" } else { "HTTP" },
                    trig.sent,
                    trig.node,
                    trig.sent_to
                ));
            }
        }
        Ok(())
    }
}

impl Observer for Watch {
    fn event(&mut self, _ctx: &mut Ctx<'_>, _node: NodeId, event: &Event) -> Result<(), String> {
        if *event == Event::Reverse(ReverseStep::Forwarded) {
            self.report.forwarded += 1;
        }
        Ok(())
    }

    fn output(&mut self, ctx: &mut Ctx<'_>, node: NodeId, out: &Output) -> Result<(), String> {
        self.trace(ctx.now, node, out);
        match out {
            Output::StreamWrite { conn, data } => self.check_request(ctx.now, node.0, conn.0, data),
            Output::StreamClose { conn, reason } => Err(format!(
                "node {} closed healthy connection {conn}: {reason}",
                node.0
            )),
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
        let kind = if status == 200 {
            "http 200".to_owned()
        } else {
            format!("http {status} {}", json_error_code(body))
        };
        self.outcome(ctx.now, id.0, kind)
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
                    return Err("a UDP reply to no trigger".into());
                };
                self.outcome(ctx.now, t, "udp reply".into())
            }
            UdpReply::Late => {
                *self
                    .report
                    .outcomes
                    .entry("udp late reply".into())
                    .or_default() += 1;
                Ok(())
            }
            UdpReply::Repeat => Ok(()),
            UdpReply::Unknown => Err("a UDP reply to no trigger".into()),
        }
    }

    fn udp_gave_up(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer: SocketAddr,
        identifier: u8,
    ) -> Result<(), String> {
        let Some(&t) = self.udp_ports.get(&(peer.port(), identifier)) else {
            return Err("a UDP sender gave up on no trigger".into());
        };
        self.outcome(ctx.now, t, "udp no reply".into())
    }
}

fn name_of(index: usize) -> String {
    format!("nas-{index}")
}

/// A fault episode.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Bus messages lost, per mille.
    Loss(u32),
    /// Extra bus delay up to this.
    Delay(Duration),
    /// A node cut off the bus; `driver_down`: its driver reports the bus down
    /// meanwhile.
    Partition { node: usize, driver_down: bool },
    /// A node crashes and restarts; its bus comes up after `boot`.
    Crash { node: usize, boot: Duration },
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::Loss(_) => "bus loss",
            Fault::Delay(_) => "bus delay",
            Fault::Partition { .. } => "partition",
            Fault::Crash { .. } => "crash and restart",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    at: Duration,
    until: Duration,
    fault: Fault,
}

/// Wake-up tokens: kind in the high bits, an argument below.
const TRIGGER: u64 = 1 << 32;
const START: u64 = 2 << 32;
const END: u64 = 3 << 32;
const CHURN: u64 = 4 << 32;
const RECONNECT: u64 = 5 << 32;
const BUS_UP: u64 = 6 << 32;
const KIND: u64 = !0xffff_ffff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Chaos,
    Settle,
    Liveness,
    Quiet,
}

struct World {
    config: ClusterConfig,
    net: Net<Watch>,
    program: Arc<Program>,
    mode: SelectMode,
    silent: Vec<bool>,
    episodes: Vec<Episode>,
    active: BTreeSet<usize>,
    /// Nodes whose bus is down (booting after a crash, or their driver says so).
    bus_down: BTreeSet<usize>,
    /// Reconnections waiting: name, a node to avoid.
    reconnects: Vec<(usize, Option<usize>)>,
    engine_seeds: SplitMix64,
    next_trigger: u64,
    phase: Phase,
    /// Forwarded counts of engines that were replaced.
    /// Virtual time the NAS-seconds were last added up to.
    counted_to: Duration,
    nas_seconds: f64,
}

fn dac_addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn server_local(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)), port)
}

impl World {
    fn new(config: ClusterConfig) -> Result<World, SimError> {
        let mut seeds = SplitMix64::new(config.seed);
        let mut rng = SplitMix64::new(seeds.next_u64());
        let engine_seeds = SplitMix64::new(seeds.next_u64());
        let mode = if rng.next_u64().is_multiple_of(2) {
            SelectMode::First
        } else {
            SelectMode::RoundRobin
        };
        let silent = (0..config.names)
            .map(|_| rng.next_u64() % 1000 < config.silent_per_mille)
            .collect();
        let watch = Watch {
            open: BTreeMap::new(),
            triggers: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            udp_ports: BTreeMap::new(),
            report: ClusterReport::default(),
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
        net.sql().record = false;
        let program = sim_program(mode, config.timeout, 0);
        let mut world = World {
            episodes: Vec::new(),
            active: BTreeSet::new(),
            bus_down: BTreeSet::new(),
            reconnects: Vec::new(),
            engine_seeds,
            next_trigger: 0,
            phase: Phase::Chaos,
            counted_to: Duration::ZERO,
            nas_seconds: 0.0,
            silent,
            mode,
            program,
            net,
            config,
        };
        for n in 0..world.config.nodes {
            let engine = world.engine(n + 1);
            let node = world.net.add(engine);
            world.net.start(node).map_err(|e| world.sim_err(e))?;
        }
        for i in 0..usize::from(world.config.nodes) {
            world.bus(i, true)?;
        }
        world.episodes = world.draw_episodes(&mut rng);
        Ok(world)
    }

    /// Engine of node `n` (1-based), with fresh randomness (a restart draws a new
    /// epoch).
    fn engine(&mut self, n: u16) -> Engine {
        let mut program = (*self.program).clone();
        program.cluster = Some(self.config.cluster(n));
        Engine::new(
            Arc::new(program),
            EngineOptions {
                rng: Box::new(SplitMix64::new(self.engine_seeds.next_u64())),
                env: BTreeMap::new(),
                limits: Limits::default(),
            },
        )
    }

    fn draw_episodes(&self, rng: &mut SplitMix64) -> Vec<Episode> {
        let chaos = self.config.chaos;
        let count = (rng.next_u64() % (self.config.max_episodes as u64 + 1)) as usize;
        let start = Duration::from_secs(3);
        let nodes = u64::from(self.config.nodes);
        let mut out = Vec::new();
        for _ in 0..count {
            if chaos <= start * 2 {
                break;
            }
            let at = start + uniform(rng, (Duration::ZERO, chaos - start * 2));
            let length = uniform(rng, (Duration::from_secs(1), Duration::from_secs(10)));
            let until = (at + length).min(chaos);
            let node = (rng.next_u64() % nodes) as usize;
            let fault = match rng.next_u64() % 4 {
                0 => Fault::Loss(50 + (rng.next_u64() % 700) as u32),
                1 => Fault::Delay(uniform(
                    rng,
                    (Duration::from_millis(20), self.config.max_bus_delay),
                )),
                2 => Fault::Partition {
                    node,
                    driver_down: rng.next_u64().is_multiple_of(2),
                },
                _ => Fault::Crash {
                    node,
                    boot: uniform(rng, (Duration::from_millis(100), Duration::from_secs(3))),
                },
            };
            out.push(Episode { at, until, fault });
        }
        out
    }

    fn err(&self, message: impl Into<String>) -> SimError {
        SimError {
            seed: self.config.seed,
            at: self.net.elapsed(),
            message: message.into(),
        }
    }

    fn sim_err(&self, e: NetError) -> SimError {
        SimError {
            seed: self.config.seed,
            at: e.at,
            message: e.message,
        }
    }

    fn rand(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.net.rng.next_u64() % n
        }
    }

    fn per_mille(&mut self, p: u64) -> bool {
        self.rand(1000) < p
    }

    fn nodes(&self) -> usize {
        usize::from(self.config.nodes)
    }

    /// The driver of node `i` says its bus is up or down.
    fn bus(&mut self, i: usize, up: bool) -> Result<(), SimError> {
        if up {
            self.bus_down.remove(&i);
        } else {
            self.bus_down.insert(i);
        }
        self.apply_faults();
        self.net
            .handle(
                NodeId(i),
                Input::BusState {
                    up,
                    detail: "simulated".into(),
                },
            )
            .map_err(|e| self.sim_err(e))
    }

    // ----- the fleet ----------------------------------------------------------------

    /// A NAS of `name` connects to node `i`.
    fn connect(&mut self, i: usize, name: usize) -> Result<(), SimError> {
        let mode = if self.silent[name] {
            NasMode::Ignore
        } else {
            NasMode::Ack
        };
        let seed = self.net.rng.next_u64();
        let number = self.net.observer.report.connections_opened as u32 + 1;
        self.net.observer.report.connections_opened += 1;
        let peer = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(
                10,
                (number >> 16) as u8,
                (number >> 8) as u8,
                number as u8,
            )),
            40_000,
        );
        // The server's timeout plus its rest, less the spread of network latency:
        // after that a NAS accepts an unanswered identifier again.
        let reuse_after = self.config.timeout * 2 - self.config.latency.1;
        let spec = NasSpec {
            seed,
            record: false,
            reuse_after: Some(reuse_after),
            status: Some((
                name_of(name),
                (Duration::from_secs(3), Duration::from_secs(6)),
            )),
            certificates: vec![Bytes::from_static(super::program::NAS_CERTIFICATE)],
            ..NasSpec::new(RADSEC, peer, RADSEC_SECRET_STR, mode)
        };
        // A new connection has nothing queued: the engine writes no request to it
        // while it hears of it, so it is registered once numbered.
        let conn = self
            .net
            .connect_nas(NodeId(i), spec)
            .map_err(|e| self.sim_err(e))?;
        if Cluster::owner_of(conn.0) != u16::try_from(i + 1).unwrap_or(0) {
            return Err(self.err(format!("connection {conn} of node {i} names another owner")));
        }
        self.net.observer.open.insert((i, conn.0), name);
        Ok(())
    }

    /// A random open connection closes; its NAS reconnects to a random node soon.
    fn churn(&mut self) -> Result<(), SimError> {
        let count = self.net.observer.open.len() as u64;
        if count == 0 {
            return Ok(());
        }
        let index = self.rand(count) as usize;
        let Some((&(node, conn), &name)) = self.net.observer.open.iter().nth(index) else {
            return Ok(());
        };
        self.net.observer.open.remove(&(node, conn));
        self.net
            .nas_close(NodeId(node), boomerang_core::engine::ConnId(conn))
            .map_err(|e| self.sim_err(e))?;
        self.net.observer.report.churns += 1;
        let after = uniform(
            &mut self.net.rng,
            (Duration::ZERO, Duration::from_millis(1500)),
        );
        self.reconnect_later(name, None, after);
        Ok(())
    }

    fn reconnect_later(&mut self, name: usize, avoid: Option<usize>, after: Duration) {
        self.reconnects.push((name, avoid));
        self.net
            .schedule(after, RECONNECT | (self.reconnects.len() as u64 - 1));
    }

    fn reconnect(&mut self, index: usize) -> Result<(), SimError> {
        let Some(&(name, avoid)) = self.reconnects.get(index) else {
            return Err(self.err(format!("no reconnection {index}")));
        };
        let choices: Vec<usize> = (0..self.nodes()).filter(|&n| Some(n) != avoid).collect();
        let pick = self.rand(choices.len() as u64) as usize;
        let node = choices.get(pick).copied().unwrap_or(0);
        self.connect(node, name)
    }

    // ----- faults -------------------------------------------------------------------

    fn start_episode(&mut self, index: usize) -> Result<(), SimError> {
        let Some(episode) = self.episodes.get(index).copied() else {
            return Ok(());
        };
        *self
            .net
            .observer
            .report
            .episodes
            .entry(episode.fault.kind().to_owned())
            .or_default() += 1;
        if let Fault::Crash { node, boot } = episode.fault {
            return self.crash(node, boot);
        }
        self.active.insert(index);
        if let Fault::Partition {
            node,
            driver_down: true,
        } = episode.fault
        {
            self.bus(node, false)?;
        }
        self.apply_faults();
        Ok(())
    }

    fn end_episode(&mut self, index: usize) -> Result<(), SimError> {
        if !self.active.remove(&index) {
            return Ok(());
        }
        self.apply_faults();
        if let Some(Episode {
            fault:
                Fault::Partition {
                    node,
                    driver_down: true,
                },
            ..
        }) = self.episodes.get(index).copied()
        {
            let still_down = self.active.iter().any(|&a| {
                matches!(
                    self.episodes.get(a).map(|e| e.fault),
                    Some(Fault::Partition { node: n, driver_down: true }) if n == node
                )
            });
            if !still_down {
                self.bus(node, true)?;
            }
        }
        Ok(())
    }

    /// The bus's faults are those of the active episodes; a node whose bus is
    /// down is cut off too (its driver drops what it publishes, hears nothing).
    fn apply_faults(&mut self) {
        let mut loss = 0;
        let mut delay = Duration::ZERO;
        let mut cut = self.bus_down.clone();
        for &a in &self.active {
            match self.episodes.get(a).map(|e| e.fault) {
                Some(Fault::Loss(p)) => loss = loss.max(p),
                Some(Fault::Delay(d)) => delay = delay.max(d),
                Some(Fault::Partition { node, .. }) => {
                    cut.insert(node);
                }
                _ => {}
            }
        }
        self.net.bus.loss_permille = loss;
        self.net.bus.delay = (Duration::ZERO, delay);
        self.net.bus.cut = cut;
    }

    /// Node `node` crashes and restarts empty: its NAS fleet reconnects to the
    /// other nodes, its bus comes up after `boot`, the triggers it held are lost.
    fn crash(&mut self, node: usize, boot: Duration) -> Result<(), SimError> {
        let gone: Vec<((usize, u64), usize)> = self
            .net
            .observer
            .open
            .iter()
            .filter(|((n, _), _)| *n == node)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (key, _) in &gone {
            self.net.observer.open.remove(key);
        }
        let (seed, at) = (self.config.seed, self.net.elapsed());
        let watch = &mut self.net.observer;
        let crashed: Vec<u64> = watch
            .triggers
            .iter()
            .filter(|(_, t)| t.node == node && t.outcome.is_none())
            .map(|(id, _)| *id)
            .collect();
        for t in crashed {
            if let Some(trig) = watch.triggers.get_mut(&t) {
                trig.crashed = true;
            }
            watch
                .outcome(at, t, "crashed".into())
                .map_err(|message| SimError { seed, at, message })?;
        }
        let n = u16::try_from(node + 1).unwrap_or(u16::MAX);
        let engine = self.engine(n);
        self.net
            .restart(NodeId(node), engine)
            .map_err(|e| self.sim_err(e))?;
        // Booting: its bus is not up yet (the new engine's starts down).
        self.bus_down.insert(node);
        self.apply_faults();
        self.net.schedule(boot, BUS_UP | node as u64);
        for (_, name) in gone {
            let after = uniform(
                &mut self.net.rng,
                (Duration::from_millis(50), Duration::from_secs(3)),
            );
            self.reconnect_later(name, Some(node), after);
        }
        Ok(())
    }

    /// Every fault ends.
    fn heal(&mut self) -> Result<(), SimError> {
        self.active.clear();
        self.apply_faults();
        let down: Vec<usize> = self.bus_down.iter().copied().collect();
        for node in down {
            self.bus(node, true)?;
        }
        Ok(())
    }

    // ----- triggers -----------------------------------------------------------------

    /// Number and file a new trigger.
    fn new_trigger(&mut self, node: usize, udp: bool, liveness: bool) -> u64 {
        let t = self.next_trigger;
        self.next_trigger += 1;
        let report = &mut self.net.observer.report;
        report.triggers += 1;
        report.udp_triggers += u64::from(udp);
        report.liveness_triggers += u64::from(liveness);
        let now = self.net.elapsed();
        self.net.observer.triggers.insert(
            t,
            Trig {
                node,
                udp,
                liveness,
                sent: now,
                outcome: None,
                crashed: false,
                sends: 0,
                sent_to: Vec::new(),
            },
        );
        t
    }

    fn send_trigger(
        &mut self,
        node: usize,
        target: Option<usize>,
        udp: bool,
        liveness: bool,
    ) -> Result<(), SimError> {
        let t = self.new_trigger(node, udp, liveness);
        let target = target.map_or_else(|| "nobody".to_owned(), name_of);
        let marker = format!("t{t}");
        if udp {
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
            let watch = &mut self.net.observer;
            if let Some(old) = watch.udp_ports.insert((port, id), t)
                && watch
                    .triggers
                    .get(&old)
                    .is_some_and(|o| o.outcome.is_none())
            {
                return Err(self.err("UDP port/identifier reused while in flight"));
            }
            self.net
                .udp_trigger(
                    NodeId(node),
                    UDP,
                    dac_addr(port),
                    server_local(3799),
                    id,
                    bytes,
                    Retransmit::RADCLIENT,
                )
                .map_err(|e| self.sim_err(e))?;
        } else {
            let sent = self.net.elapsed();
            self.net.observer.deadlines.insert((sent, t));
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
                .http_request(NodeId(node), request)
                .map_err(|e| self.sim_err(e))?;
        }
        Ok(())
    }

    /// A chaos trigger: a random node, a random name (or nobody), HTTP or UDP.
    fn chaos_trigger(&mut self) -> Result<(), SimError> {
        let node = self.rand(self.nodes() as u64) as usize;
        let target = if self.per_mille(self.config.unknown_per_mille) {
            None
        } else {
            Some(self.rand(self.config.names as u64) as usize)
        };
        let udp = self.per_mille(self.config.udp_per_mille);
        self.send_trigger(node, target, udp, false)
    }

    // ----- the loop -----------------------------------------------------------------

    /// One step of the network, its wake-up acted on, then the checks.
    fn step(&mut self) -> Result<(), SimError> {
        let step = self.net.step().map_err(|e| self.sim_err(e))?;
        self.count_nas_time();
        if let Some(Step::App(token)) = step {
            let arg = token & 0xffff_ffff;
            match token & KIND {
                TRIGGER if self.phase == Phase::Chaos => {
                    self.chaos_trigger()?;
                    let gap = uniform(&mut self.net.rng, self.config.trigger_gap);
                    self.net.schedule(gap, TRIGGER);
                }
                START if self.phase == Phase::Chaos => self.start_episode(arg as usize)?,
                END if self.phase == Phase::Chaos => self.end_episode(arg as usize)?,
                CHURN if self.phase == Phase::Chaos => {
                    self.churn()?;
                    if let Some(gap) = self.config.churn_gap {
                        let gap = uniform(&mut self.net.rng, gap);
                        self.net.schedule(gap, CHURN);
                    }
                }
                RECONNECT => self.reconnect(arg as usize)?,
                BUS_UP if self.phase == Phase::Chaos => {
                    // Still cut off with its driver reporting the bus down: stays
                    // down until that episode ends.
                    let node = arg as usize;
                    let held = self.active.iter().any(|&a| {
                        matches!(
                            self.episodes.get(a).map(|e| e.fault),
                            Some(Fault::Partition { node: n, driver_down: true }) if n == node
                        )
                    });
                    if !held {
                        self.bus(node, true)?;
                    }
                }
                _ => {} // chaos wake-ups after the chaos ended
            }
        }
        let report = &mut self.net.observer.report;
        report.steps += 1;
        let steps = report.steps;
        if self.config.check_every > 0 && steps.is_multiple_of(self.config.check_every) {
            self.check_engines()?;
        }
        self.check_deadlines()
    }

    fn count_nas_time(&mut self) {
        let now = self.net.elapsed();
        let span = now.saturating_sub(self.counted_to);
        self.nas_seconds += span.as_secs_f64() * self.net.observer.open.len() as f64;
        self.counted_to = now;
    }

    fn check_engines(&self) -> Result<(), SimError> {
        for i in 0..self.nodes() {
            self.net
                .engine(NodeId(i))
                .check_invariants()
                .map_err(|e| self.err(format!("node {i}: engine invariant: {e}")))?;
        }
        Ok(())
    }

    /// Every HTTP trigger has its response within the bound.
    fn check_deadlines(&self) -> Result<(), SimError> {
        let now = self.net.elapsed();
        let bound = self.config.outcome_bound();
        let watch = &self.net.observer;
        // Filed by send time: the oldest is first.
        match watch.deadlines.first() {
            Some(&(sent, t)) if sent + bound < now => {
                let node = watch.triggers.get(&t).map_or(usize::MAX, |t| t.node);
                Err(self.err(format!(
                    "HTTP trigger {t} (node {node}, sent at {sent:?}) has no response after {bound:?}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Run every wake-up up to virtual time `until`.
    fn run_until(&mut self, until: Duration) -> Result<(), SimError> {
        while self.net.next_wakeup().is_some_and(|at| at <= until) {
            self.step()?;
        }
        self.net.clock.set(until);
        self.count_nas_time();
        self.check_deadlines()
    }

    /// Every node's view of the cluster's connections is the set open now.
    fn check_views(&self) -> Result<(), SimError> {
        let mut want: Vec<u64> = self.net.observer.open.keys().map(|(_, c)| *c).collect();
        want.sort_unstable();
        for i in 0..self.nodes() {
            let got: Vec<u64> = self
                .net
                .engine(NodeId(i))
                .cluster_connections()
                .iter()
                .map(|c| c.info.id)
                .collect();
            if got != want {
                let missing: Vec<u64> = want.iter().filter(|c| !got.contains(c)).copied().collect();
                let stale: Vec<u64> = got.iter().filter(|c| !want.contains(c)).copied().collect();
                return Err(self.err(format!(
                    "after the heal, node {i}'s view misses connections {missing:x?} and holds \
                     stale {stale:x?} ({} open)",
                    want.len()
                )));
            }
        }
        Ok(())
    }
}

fn uniform(rng: &mut SplitMix64, (lo, hi): (Duration, Duration)) -> Duration {
    let span = hi.saturating_sub(lo).as_nanos() as u64;
    if span == 0 {
        return lo;
    }
    lo + Duration::from_nanos(rng.next_u64() % span)
}

/// Run one cluster world.
pub fn run_cluster(config: &ClusterConfig) -> Result<ClusterReport, SimError> {
    let started = Instant::now();
    let mut w = World::new(config.clone())?;
    // Let the nodes hear each other, then connect the fleet.
    w.run_until(Duration::from_secs(2))?;
    for name in 0..config.names {
        let conns = 1 + w.rand(config.max_conns_per_name.max(1) as u64) as usize;
        for _ in 0..conns {
            let node = w.rand(w.nodes() as u64) as usize;
            w.connect(node, name)?;
        }
    }
    // The first Status-Servers, their updates.
    let t0 = w.net.elapsed() + Duration::from_secs(1);
    w.run_until(t0)?;
    // Chaos.
    w.net.schedule(Duration::ZERO, TRIGGER);
    if let Some(gap) = config.churn_gap {
        let gap = uniform(&mut w.net.rng, gap);
        w.net.schedule(gap, CHURN);
    }
    for (i, e) in w.episodes.clone().iter().enumerate() {
        w.net.schedule(e.at, START | i as u64);
        if !matches!(e.fault, Fault::Crash { .. }) {
            w.net.schedule(e.until, END | i as u64);
        }
    }
    let chaos_end = t0 + config.chaos;
    w.run_until(chaos_end)?;
    // Heal and settle: every trigger gets its outcome (a UDP sender gives up after
    // its three tries of 3 s), every NAS has reconnected, the view settles.
    w.phase = Phase::Settle;
    w.heal()?;
    let settle = (Duration::from_secs(10) + config.latency.1 * 2)
        .max(config.node_timeout + config.heartbeat * 3)
        .max(config.outcome_bound());
    w.run_until(chaos_end + settle)?;
    let open_outcomes: Vec<u64> = w
        .net
        .observer
        .triggers
        .iter()
        .filter(|(_, t)| t.outcome.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !open_outcomes.is_empty() {
        return Err(w.err(format!(
            "{} triggers without an outcome after the heal: {:?}",
            open_outcomes.len(),
            &open_outcomes[..open_outcomes.len().min(10)]
        )));
    }
    w.check_views()?;
    // Liveness: every answering NAS that is connected, from every node.
    w.phase = Phase::Liveness;
    w.net.timing.nak_per_mille = 0;
    let connected: BTreeSet<usize> = w.net.observer.open.values().copied().collect();
    for name in connected {
        if w.silent[name] {
            continue;
        }
        for node in 0..w.nodes() {
            w.send_trigger(node, Some(name), false, true)?;
        }
    }
    let live_end = w.net.elapsed() + config.outcome_bound();
    w.run_until(live_end)?;
    // Quiet: every timer runs out.
    w.phase = Phase::Quiet;
    w.net.stop_periodic();
    let quiet = config.timeout * 2 + config.forward_margin + config.node_timeout * 2;
    let end = w.net.elapsed() + quiet + Duration::from_secs(5);
    w.run_until(end)?;
    w.check_engines()?;
    for i in 0..w.nodes() {
        let engine = w.net.engine(NodeId(i));
        let counts = engine.counts();
        if counts.tasks != 0
            || counts.reverse_in_flight != 0
            || counts.reverse_queued != 0
            || counts.duplicate_in_flight != 0
        {
            return Err(w.err(format!("node {i}: state left at the end: {counts:?}")));
        }
        if let Some(status) = engine.cluster_status()
            && (status.forwarded_waiting != 0 || status.incoming_running != 0)
        {
            return Err(w.err(format!(
                "node {i}: forwarded requests left at the end: {} waiting, {} running",
                status.forwarded_waiting, status.incoming_running
            )));
        }
    }
    let watch = &w.net.observer;
    if let Some((t, _)) = watch.triggers.iter().find(|(_, t)| t.outcome.is_none()) {
        return Err(w.err(format!("trigger {t} has no outcome at the end")));
    }
    if w.net.udp_in_flight() != 0 {
        return Err(w.err(format!(
            "{} UDP triggers still waiting at the end",
            w.net.udp_in_flight()
        )));
    }
    let crashed_http = watch
        .triggers
        .values()
        .filter(|t| !t.udp && t.crashed)
        .count();
    if w.net.http_pending() != crashed_http {
        return Err(w.err(format!(
            "{} HTTP requests unanswered at the end, {crashed_http} of them lost in a crash",
            w.net.http_pending()
        )));
    }
    let virtual_time = w.net.elapsed();
    let (delivered, lost) = (w.net.bus.delivered, w.net.bus.lost);
    let nas_hours = w.nas_seconds / 3600.0;
    let mut report = std::mem::take(&mut w.net.observer.report);
    report.mode = format!("{:?}", w.mode);
    report.bus_delivered = delivered;
    report.bus_lost = lost;
    report.virtual_time = virtual_time;
    report.wall_time = started.elapsed();
    report.nas_hours = nas_hours;
    report.trace_hash = w.net.observer.hash;
    Ok(report)
}
