//! Daemon worlds: the real driver (`boomerang_io_tokio::driver::Driver`) on a simulated
//! host, NAS hosts multiplexing many NAS connections, UDP and HTTP trigger senders, a
//! fault schedule drawn from the seed, and a controller that checks liveness and the
//! quiet period once the faults have healed.
//!
//! Timeline of a world: NAS devices come up during the first seconds; senders fire their
//! triggers at seeded times until the schedule's `heal_by`, while the faults play; after
//! the last fault the controller waits for every NAS to have a working connection again
//! (bounded by the NAS's reconnection bound), declares the world calm, sends one trigger
//! to every NAS and requires the exact NAS answer for each, waits for every trigger of the
//! world to have its outcome, and finally checks that the server holds no request.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use boomerang_core::lang::program::Program;
use boomerang_core::rng::SplitMix64;
use boomerang_io_tokio::driver::{ConnectionsSnapshot, Driver, DriverOptions};
use boomerang_io_tokio::metrics::Metrics;
use tokio::task::JoinSet;

use super::config::{HTTP_PORT, RADSEC_PORT, Selection, TCP_PORT, TRIGGER_PORT, compile_server};
use super::ledger::{Ledger, LedgerTotals};
use super::nas::{NasHost, NasTiming, run_host};
use super::trigger::{TriggerTiming, http_trigger, udp_trigger};
use crate::fault::{EpisodeKind, FaultSchedule, FaultSpace, NasHang};
use crate::harness::{SimConfig, World, WorldError, epoch};
use crate::net::{StreamFaults, TurmoilNet};
use crate::pki::{SimPki, SimPkiError};
use crate::seed::sub_seed;
use crate::trace::Trace;

/// The shape of a world; the seed decides everything else.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// NAS hosts speaking RadSec.
    pub tls_hosts: usize,
    /// NAS hosts speaking plain RADIUS/TCP.
    pub tcp_hosts: usize,
    /// NAS devices (connections) per host.
    pub nas_per_host: usize,
    /// Hosts sending UDP triggers.
    pub udp_senders: usize,
    /// Hosts sending HTTP triggers.
    pub http_senders: usize,
    /// Triggers each sender sends while the faults play.
    pub triggers_per_sender: usize,
    /// UDP triggers one sender fires in the same instant (overflowing the server's
    /// receive buffer when larger than `udp_capacity`).
    pub burst: usize,
    /// Share of triggers the NAS refuses, in percent.
    pub nak_percent: u64,
    /// The fault kinds the schedule draws from (empty: no faults).
    pub fault_kinds: Vec<EpisodeKind>,
    /// At most this many fault episodes.
    pub max_episodes: usize,
    /// Faults (and workload) end by then.
    pub heal_by: Duration,
    /// How the server selects connections.
    pub selection: Selection,
    /// The reverse servers' `retries`.
    pub reverse_retries: u32,
    /// Datagrams a host queues before dropping (turmoil's UDP buffer).
    pub udp_capacity: usize,
    /// NAS timing.
    pub nas_timing: NasTiming,
    /// Trigger senders' timing.
    pub trigger_timing: TriggerTiming,
    /// Fault points inside the server's streams while the faults play: percentage of
    /// short writes and resets per million writes (`None`: none).
    pub stream_faults: Option<(u64, u64)>,
    /// Play this schedule instead of drawing one from the seed (regression worlds).
    pub schedule: Option<FaultSchedule>,
    /// NAS that hang (stop reading and answering without closing, then come back on a
    /// new connection). After each hang the controller requires a trigger to that NAS
    /// to be acknowledged within [`hang_bound`].
    pub hangs: Vec<NasHang>,
}

/// The documented bound within which a NAS that hung is reachable again through its new
/// connection (`docs/operations.md`, "Limits and timeouts"): the server's reverse request
/// timeout (5 s), during which a request on the hung connection goes unanswered, plus its
/// liveness probe timeout (10 s), plus the NAS's own time to come back (a reconnection
/// delay with its jitter and a connection attempt).
pub fn hang_bound(nas: &NasTiming) -> Duration {
    Duration::from_secs(5 + 10) + nas.backoff_min + nas.backoff_min / 2 + nas.connect_timeout
}

impl Scenario {
    /// Every NAS-Identifier of the world, by host.
    pub fn hosts(&self) -> Vec<NasHost> {
        (0..self.tls_hosts + self.tcp_hosts)
            .map(|h| {
                let host = format!("nas{h}");
                NasHost {
                    nas: (0..self.nas_per_host)
                        .map(|i| format!("{host}-{i}"))
                        .collect(),
                    host,
                    tls: h < self.tls_hosts,
                }
            })
            .collect()
    }

    /// How many NAS devices the world has.
    pub fn nas_count(&self) -> usize {
        (self.tls_hosts + self.tcp_hosts) * self.nas_per_host
    }

    /// The fault space of this world: links between the server and every NAS host, UDP
    /// loss on the UDP senders' links, crashes of NAS hosts and of the server.
    pub fn fault_space(&self) -> FaultSpace {
        let mut space = FaultSpace::new();
        for h in self.hosts() {
            space.links.push(("server".into(), h.host.clone()));
            space.crashable.push(h.host);
        }
        for u in 0..self.udp_senders {
            space.udp_links.push(("server".into(), format!("udp{u}")));
        }
        space.crashable.push("server".into());
        space.kinds = self.fault_kinds.clone();
        space.max_episodes = self.max_episodes;
        space.heal_by = self.heal_by;
        space.start = Duration::from_secs(3);
        space.normal_latency = (Duration::from_millis(1), Duration::from_millis(20));
        space
    }
}

/// What is prepared once for many worlds: certificates on disk and the compiled server
/// configuration (no file access or key generation inside a world).
pub struct Setup {
    dir: tempfile::TempDir,
    pki: SimPki,
    program: Arc<Program>,
}

/// Preparing a world failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A temporary directory could not be made.
    #[error("temporary directory: {0}")]
    TempDir(std::io::Error),
    /// The PKI could not be generated.
    #[error(transparent)]
    Pki(#[from] SimPkiError),
    /// The configuration did not compile.
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
}

impl Setup {
    /// Certificates for every NAS host of `scenario` and the server's program.
    pub fn new(scenario: &Scenario) -> Result<Self, SetupError> {
        let dir = tempfile::tempdir().map_err(SetupError::TempDir)?;
        let names: Vec<String> = scenario.hosts().into_iter().map(|h| h.host).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let pki = SimPki::generate(dir.path(), &refs, None)?;
        let program = Arc::new(compile_server(
            dir.path(),
            &pki,
            scenario.selection,
            scenario.reverse_retries,
        )?);
        Ok(Self { dir, pki, program })
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// What a world did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The trace (its hash is the determinism check's subject).
    pub trace: Trace,
    /// Counts from the ledger.
    pub totals: LedgerTotals,
    /// Virtual time the world ran.
    pub virtual_time: Duration,
    /// NAS devices times virtual time, in hours.
    pub nas_hours: f64,
    /// Fault episodes played.
    pub episodes: usize,
}

/// The virtual wall clock: the fixed epoch plus virtual time.
fn virtual_wall() -> SystemTime {
    epoch() + turmoil::sim_elapsed().unwrap_or_default()
}

fn addr(host: &str, port: u16) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(host), port)
}

type Probe = Arc<Mutex<Option<Arc<ConnectionsSnapshot>>>>;

/// Run the world of `seed`.
pub fn run(seed: u64, scenario: &Scenario, setup: &Setup) -> Result<Report, WorldError> {
    let config = SimConfig {
        tick: Duration::from_millis(10),
        duration: scenario.heal_by + Duration::from_secs(400),
        tcp_capacity: 4096.max(scenario.nas_count() * 2),
        udp_capacity: scenario.udp_capacity,
        min_latency: Duration::from_millis(1),
        max_latency: Duration::from_millis(20),
        ..SimConfig::default()
    };
    let mut world = World::new(&config, seed);
    let seeds = world.seeds;
    let schedule = match &scenario.schedule {
        Some(fixed) => fixed.clone(),
        None if scenario.fault_kinds.is_empty() => FaultSchedule::none(),
        None => FaultSchedule::draw(seeds.faults, &scenario.fault_space()),
    };
    let heal = schedule.last_at().max(Duration::from_secs(3));
    let episodes = schedule.episodes();
    world.set_schedule(schedule);
    let ledger = Ledger::new(world.trace.clone());
    let probe: Probe = Arc::new(Mutex::new(None));

    // The server: the daemon's driver, restarted from scratch when bounced.
    {
        let program = setup.program.clone();
        let probe = probe.clone();
        let generation = AtomicU64::new(0);
        let engine = seeds.engine;
        let stream_faults =
            scenario
                .stream_faults
                .map(
                    |(short_write_percent, reset_per_million_writes)| StreamFaults {
                        short_write_percent,
                        reset_per_million_writes,
                        until: heal,
                    },
                );
        world.sim.host("server", move || {
            let program = program.clone();
            let probe = probe.clone();
            let round = generation.fetch_add(1, Ordering::Relaxed);
            let rng = SplitMix64::new(sub_seed(engine, &format!("server/{round}")));
            let faults_seed = sub_seed(engine, &format!("faults/{round}"));
            async move {
                let mut net = TurmoilNet::of_host("server");
                if let Some(faults) = stream_faults {
                    net = net.with_faults(faults, faults_seed);
                }
                let options = DriverOptions {
                    management: false,
                    wall_clock: virtual_wall,
                    ..DriverOptions::default()
                };
                let metrics = Arc::new(Metrics::new("sim"));
                let driver = Driver::bind(net, program, options, metrics).await?;
                *probe.lock().unwrap_or_else(|p| p.into_inner()) = Some(driver.connections());
                driver.run(std::future::pending(), Box::new(rng)).await;
                Ok(())
            }
        });
    }

    // NAS hosts.
    for host in scenario.hosts() {
        let name = host.host.clone();
        let pki = setup.pki.clone();
        let ledger = ledger.clone();
        let timing = scenario.nas_timing;
        let seed = sub_seed(seeds.workload, &name);
        let generation = Arc::new(AtomicU64::new(0));
        let port = if host.tls { RADSEC_PORT } else { TCP_PORT };
        let hangs: Vec<NasHang> = scenario
            .hangs
            .iter()
            .filter(|h| host.nas.contains(&h.nas))
            .cloned()
            .collect();
        world.sim.host(name.as_str(), move || {
            run_host(
                host.clone(),
                addr("server", port),
                pki.clone(),
                ledger.clone(),
                timing,
                seed,
                generation.clone(),
                hangs.clone(),
            )
        });
    }

    let targets: Vec<String> = scenario.hosts().into_iter().flat_map(|h| h.nas).collect();
    let targets = Arc::new(targets);

    // Trigger senders: triggers at seeded times while the faults play.
    let workload_start = Duration::from_secs(2);
    let workload_span = scenario
        .heal_by
        .saturating_sub(workload_start)
        .max(Duration::from_secs(1));
    for (kind, count) in [
        ("udp", scenario.udp_senders),
        ("http", scenario.http_senders),
    ] {
        for s in 0..count {
            let name = format!("{kind}{s}");
            let mut rng = SplitMix64::new(sub_seed(seeds.workload, &name));
            let ledger = ledger.clone();
            let targets = targets.clone();
            let timing = scenario.trigger_timing;
            let burst = if kind == "udp" && s == 0 {
                scenario.burst
            } else {
                0
            };
            let mut plan: Vec<(Duration, String, bool, SplitMix64)> = Vec::new();
            let span_ms = u64::try_from(workload_span.as_millis()).unwrap_or(1).max(1);
            let burst_at = workload_start + Duration::from_millis(rng.next_u64() % span_ms);
            for i in 0..scenario.triggers_per_sender + burst {
                let at = if i < scenario.triggers_per_sender {
                    workload_start + Duration::from_millis(rng.next_u64() % span_ms)
                } else {
                    burst_at
                };
                let pick =
                    usize::try_from(rng.next_u64() % targets.len().max(1) as u64).unwrap_or(0);
                let target = targets.get(pick).cloned().unwrap_or_default();
                let nak = rng.next_u64() % 100 < scenario.nak_percent;
                plan.push((at, target, nak, SplitMix64::new(rng.next_u64())));
            }
            plan.sort_by_key(|(at, ..)| *at);
            let is_udp = kind == "udp";
            let sender = name.clone();
            world.sim.client(name.as_str(), async move {
                let net = TurmoilNet::of_host(&sender);
                let server_port = if is_udp { TRIGGER_PORT } else { HTTP_PORT };
                let server = addr("server", server_port);
                let started = tokio::time::Instant::now();
                let mut tasks = JoinSet::new();
                for (at, target, nak, rng) in plan {
                    tokio::time::sleep_until(started + at).await;
                    if is_udp {
                        tasks.spawn(udp_trigger(
                            net.clone(),
                            server,
                            ledger.clone(),
                            target,
                            nak,
                            rng,
                            timing,
                        ));
                    } else {
                        tasks.spawn(http_trigger(
                            net.clone(),
                            server,
                            ledger.clone(),
                            target,
                            nak,
                            timing,
                        ));
                    }
                }
                while tasks.join_next().await.is_some() {}
                Ok(())
            });
        }
    }

    // The controller: liveness after the faults heal, exact answers in calm, then quiet.
    {
        let ledger = ledger.clone();
        let targets = targets.clone();
        let nas_timing = scenario.nas_timing;
        let timing = scenario.trigger_timing;
        let all = scenario.nas_count();
        let workload_end = scenario.heal_by;
        let nak_seed = sub_seed(seeds.workload, "control");
        let mut hangs = scenario.hangs.clone();
        hangs.sort_by_key(|h| h.at);
        world.sim.client("control", async move {
            let started = tokio::time::Instant::now();
            let net = TurmoilNet::of_host("control");
            // Liveness after a hang: triggers to the NAS (one at a time) until one is
            // acknowledged — which only its new connection can do — within the bound.
            let http_server = addr("server", HTTP_PORT);
            for h in &hangs {
                tokio::time::sleep_until(started + h.at).await;
                let bound = hang_bound(&nas_timing);
                let deadline = tokio::time::Instant::now() + bound;
                while !ledger.acked_since(&h.nas, h.at) {
                    if tokio::time::Instant::now() >= deadline {
                        ledger.violation(format!(
                            "liveness: {} hung at {:?} and was not reachable through a new \
                             connection within {bound:?}",
                            h.nas, h.at
                        ));
                        return Ok(());
                    }
                    http_trigger(
                        net.clone(),
                        http_server,
                        ledger.clone(),
                        h.nas.clone(),
                        false,
                        timing,
                    )
                    .await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                ledger.note(format!("{}: reachable again after hanging", h.nas));
            }
            tokio::time::sleep_until(started + heal).await;
            // Liveness: every NAS has a connection the server answers on, within bound.
            // Connections of a large fleet queue for their handshakes: allow 10 ms each.
            let bound = nas_timing.reconnect_bound() + Duration::from_millis(10 * all as u64);
            let deadline = tokio::time::Instant::now() + bound;
            loop {
                let ready = ledger.ready_since(heal);
                if ready.len() == all {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    let missing: Vec<&String> = targets
                        .iter()
                        .filter(|t| !ready.contains(t))
                        .take(10)
                        .collect();
                    ledger.violation(format!(
                        "liveness: {} of {all} NAS have no working connection {bound:?} after the \
                         faults healed at {heal:?}, e.g. {missing:?}",
                        all - ready.len()
                    ));
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            ledger.set_calm();
            // One trigger to every NAS; each must get exactly the NAS's answer.
            let mut rng = SplitMix64::new(nak_seed);
            let udp_server = addr("server", TRIGGER_PORT);
            let http_server = addr("server", HTTP_PORT);
            let mut tasks = JoinSet::new();
            for (i, target) in targets.iter().enumerate() {
                let nak = rng.next_u64().is_multiple_of(10);
                if i % 2 == 0 {
                    tasks.spawn(udp_trigger(
                        net.clone(),
                        udp_server,
                        ledger.clone(),
                        target.clone(),
                        nak,
                        SplitMix64::new(rng.next_u64()),
                        timing,
                    ));
                } else {
                    tasks.spawn(http_trigger(
                        net.clone(),
                        http_server,
                        ledger.clone(),
                        target.clone(),
                        nak,
                        timing,
                    ));
                }
            }
            while tasks.join_next().await.is_some() {}
            // Every trigger of the world has its outcome (senders are bounded). The
            // senders send until `heal_by`.
            tokio::time::sleep_until(started + workload_end).await;
            let deadline = tokio::time::Instant::now() + timing.resolve_bound();
            while !ledger.unresolved().is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let unresolved = ledger.unresolved();
            if !unresolved.is_empty() {
                ledger.violation(format!(
                    "{} trigger(s) never got an outcome, e.g. {:?}",
                    unresolved.len(),
                    unresolved.iter().take(5).collect::<Vec<_>>()
                ));
                return Ok(());
            }
            // Quiet: nothing may be left in the server (the view is taken from the
            // engine task when asked).
            tokio::time::sleep(Duration::from_secs(2)).await;
            let snapshot = probe.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match snapshot {
                None => ledger.violation("the server never started"),
                Some(snapshot) => {
                    let view = snapshot.view().await.unwrap_or_default();
                    let counts = view.counts;
                    let busy: Vec<String> = view
                        .connections
                        .iter()
                        .filter(|c| c.in_flight.unwrap_or(0) > 0 || c.queued.unwrap_or(0) > 0)
                        .map(|c| {
                            format!(
                                "connection {} ({} in flight, {} queued)",
                                c.id,
                                c.in_flight.unwrap_or(0),
                                c.queued.unwrap_or(0)
                            )
                        })
                        .collect();
                    if counts.tasks > 0
                        || counts.reverse_in_flight > 0
                        || counts.reverse_queued > 0
                        || counts.duplicate_in_flight > 0
                        || counts.sql_pending > 0
                        || counts.connect_pending > 0
                        || !busy.is_empty()
                    {
                        ledger.violation(format!(
                            "quiet period: the server still holds work: {counts:?} {busy:?}"
                        ));
                    } else {
                        ledger.note(format!(
                            "quiet: server idle with {} connections",
                            counts.connections
                        ));
                    }
                }
            }
            Ok(())
        });
    }

    world.run()?;
    let virtual_time = world.elapsed();
    Ok(Report {
        trace: world.trace.clone(),
        totals: ledger.totals(),
        virtual_time,
        nas_hours: scenario.nas_count() as f64 * virtual_time.as_secs_f64() / 3600.0,
        episodes,
    })
}
