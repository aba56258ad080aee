//! Running worlds: the turmoil configuration every world shares, a world driver that applies
//! a fault schedule while stepping the simulation, the seed sweep that prints a copy-paste
//! replay line on failure, and the determinism self-check.
//!
//! A test is written as a function from a master seed to a world run:
//!
//! ```no_run
//! use boomerang_sim::harness::{SimConfig, World, WorldError, sweep};
//!
//! fn scenario(seed: u64) -> Result<(), WorldError> {
//!     let mut world = World::new(&SimConfig::default(), seed);
//!     // world.sim.host(...); world.sim.client(...);
//!     world.run()
//! }
//!
//! sweep("scenario", 5, scenario);
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use turmoil::Sim;

use crate::fault::{Fault, FaultSchedule};
use crate::seed::{SeedPlan, Seeds, repro_line};
use crate::trace::Trace;

/// The fixed start of virtual time, 2026-01-01T00:00:00Z, so that nothing a world computes
/// from the wall clock depends on when it runs.
pub const EPOCH_UNIX_SECS: u64 = 1_767_225_600;

/// The fixed epoch as a `SystemTime`.
pub fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECS)
}

/// turmoil settings shared by the worlds of a test. Everything random in turmoil comes from
/// the master seed through [`Seeds::turmoil`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Virtual time per step. RADIUS timers are seconds, so 5 ms is fine-grained enough and
    /// keeps long scenarios cheap.
    pub tick: Duration,
    /// Longest virtual run before turmoil gives up on unfinished clients (an error).
    pub duration: Duration,
    /// Start of virtual time.
    pub epoch: SystemTime,
    /// Smallest message latency.
    pub min_latency: Duration,
    /// Largest message latency.
    pub max_latency: Duration,
    /// Queued inbound TCP segments per host before refusing.
    pub tcp_capacity: usize,
    /// Queued inbound datagrams per host before dropping.
    pub udp_capacity: usize,
    /// Shuffle the order hosts run in each step (from the seed), to explore interleavings.
    pub random_order: bool,
}

impl Default for SimConfig {
    /// 5 ms ticks, 120 s of virtual time, the fixed [`epoch`], 1–50 ms latency, capacities
    /// of 1024, random host order.
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(5),
            duration: Duration::from_secs(120),
            epoch: epoch(),
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(50),
            tcp_capacity: 1024,
            udp_capacity: 1024,
            random_order: true,
        }
    }
}

impl SimConfig {
    /// A turmoil builder with these settings, seeded from `seeds`.
    pub fn builder(&self, seeds: &Seeds) -> turmoil::Builder {
        let mut b = turmoil::Builder::new();
        b.rng_seed(seeds.turmoil)
            .epoch(self.epoch)
            .tick_duration(self.tick)
            .simulation_duration(self.duration)
            .min_message_latency(self.min_latency)
            .max_message_latency(self.max_latency)
            .tcp_capacity(self.tcp_capacity)
            .udp_capacity(self.udp_capacity);
        if self.random_order {
            b.enable_random_order();
        }
        b
    }
}

/// tokio numbers tasks from one process-wide counter and keeps a runtime's tasks in
/// lists sharded by that number (four shards on a current-thread runtime); when turmoil
/// crashes or bounces a host it drops the host's tasks shard by shard, and the sockets
/// they hold send their closing segments in that order, each taking its latency from
/// turmoil's generator. So that a world replays identically whatever ran before it in
/// the process, every world starts numbering its tasks at a multiple of
/// [`TASK_ID_ALIGNMENT`] (a no-op task is spawned until the counter gets there).
///
/// This holds when nothing else in the process spawns tokio tasks meanwhile: under
/// `cargo nextest` every test is its own process; a replay with `SIM_SEED` runs one
/// world.
pub const TASK_ID_ALIGNMENT: u64 = 64;

fn align_task_ids() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    for _ in 0..TASK_ID_ALIGNMENT {
        let handle = runtime.spawn(async {});
        let id = handle.id().to_string().parse::<u64>().unwrap_or(0);
        let _ = runtime.block_on(handle);
        if (id + 1) % TASK_ID_ALIGNMENT == 0 {
            return;
        }
    }
}

/// A world run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// turmoil reported a failure: a host or client returned an error or panicked, or the
    /// clients did not finish within the simulation duration.
    #[error("simulation failed at {at:?}: {message}")]
    Sim {
        /// Virtual time of the failure.
        at: Duration,
        /// turmoil's message.
        message: String,
    },
    /// A host reported an invariant violation through [`Trace::violation`].
    #[error("invariant violated at {at:?}: {message}")]
    Violation {
        /// Virtual time it was reported at.
        at: Duration,
        /// What was violated.
        message: String,
    },
    /// The test's own check failed.
    #[error("{0}")]
    Check(String),
}

/// A turmoil simulation with its trace, its seeds and a fault schedule applied while it runs.
pub struct World<'a> {
    /// The simulation: register hosts and clients on it before running.
    pub sim: Sim<'a>,
    /// The world's event trace; hand clones to hosts.
    pub trace: Trace,
    /// The seeds of this world.
    pub seeds: Seeds,
    schedule: FaultSchedule,
    next_fault: usize,
}

impl<'a> World<'a> {
    /// A world for master seed `master`, with no fault schedule.
    pub fn new(config: &SimConfig, master: u64) -> Self {
        align_task_ids();
        let seeds = Seeds::derive(master);
        Self {
            sim: config.builder(&seeds).build(),
            trace: Trace::new(),
            seeds,
            schedule: FaultSchedule::none(),
            next_fault: 0,
        }
    }

    /// Apply `schedule` while running (faults already due are applied at the next step).
    pub fn set_schedule(&mut self, schedule: FaultSchedule) {
        self.schedule = schedule;
        self.next_fault = 0;
    }

    /// The schedule being applied.
    pub fn schedule(&self) -> &FaultSchedule {
        &self.schedule
    }

    /// Virtual time since the start of the simulation.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Apply `fault` now, and record it in the trace.
    pub fn apply(&mut self, fault: &Fault) {
        self.trace
            .record_at(self.sim.elapsed(), format!("fault: {fault}"));
        fault.apply(&mut self.sim);
    }

    /// Apply the faults that are due, then advance the simulation one tick. Returns whether
    /// every client has finished.
    pub fn step(&mut self) -> Result<bool, WorldError> {
        let now = self.sim.elapsed();
        while let Some(sf) = self.schedule.faults().get(self.next_fault) {
            if sf.at > now {
                break;
            }
            let fault = sf.fault.clone();
            self.next_fault += 1;
            self.apply(&fault);
        }
        let finished = self.sim.step().map_err(|err| WorldError::Sim {
            at: self.sim.elapsed(),
            message: err.to_string(),
        })?;
        if let Some((at, message)) = self.trace.first_violation() {
            return Err(WorldError::Violation { at, message });
        }
        Ok(finished)
    }

    /// Run until every client has finished.
    pub fn run(&mut self) -> Result<(), WorldError> {
        while !self.step()? {}
        Ok(())
    }

    /// Run until `done` holds for the trace (checked after every step): `Ok(true)`; or until
    /// every client has finished first: `Ok(false)`.
    pub fn run_until(&mut self, mut done: impl FnMut(&Trace) -> bool) -> Result<bool, WorldError> {
        loop {
            if done(&self.trace) {
                return Ok(true);
            }
            if self.step()? {
                return Ok(done(&self.trace));
            }
        }
    }

    /// Run for `span` of virtual time (or until every client has finished).
    pub fn run_for(&mut self, span: Duration) -> Result<bool, WorldError> {
        let until = self.sim.elapsed() + span;
        while self.sim.elapsed() < until {
            if self.step()? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Drop for World<'_> {
    /// With `SIM_TRACE` set, print the world's seed, fault schedule and trace when it ends
    /// (whether it passed, failed or panicked), to see what a replayed seed did.
    fn drop(&mut self) {
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!(
                "--- world of seed {} ended at {:?}\n--- fault schedule:\n{}\n--- trace:\n{}",
                self.seeds.master,
                self.sim.elapsed(),
                self.schedule,
                self.trace.render()
            );
        }
    }
}

/// What a sweep ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSummary {
    /// The plan it followed.
    pub plan: SeedPlan,
    /// How many seeds ran (all passed: a failure panics).
    pub seeds_run: u64,
}

/// Run one world for `seed`. On failure (an error or a panic) print the replay line and fail
/// the test: the error becomes a panic, a panic is re-raised unchanged.
pub fn run_one<T>(test: &str, seed: u64, world: impl FnOnce(u64) -> Result<T, WorldError>) -> T {
    match catch_unwind(AssertUnwindSafe(|| world(seed))) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            eprintln!("{}", failure_banner(test, seed));
            panic!(
                "{test}: seed {seed} failed: {err}\nreplay with: {}",
                repro_line(seed, test)
            );
        }
        Err(payload) => {
            eprintln!("{}", failure_banner(test, seed));
            resume_unwind(payload)
        }
    }
}

/// The text printed when a seed fails.
pub fn failure_banner(test: &str, seed: u64) -> String {
    format!(
        "\n=== simulation {test} failed with seed {seed}; replay with:\n{}\n",
        repro_line(seed, test)
    )
}

/// Run `world` for the seeds given by the environment (see [`SeedPlan::from_env`]), or for
/// `default_count` fixed seeds when none is given. Prints the plan (and so the base seed).
/// Panics, after printing the replay line, on the first failing seed.
pub fn sweep<T>(
    test: &str,
    default_count: u64,
    world: impl FnMut(u64) -> Result<T, WorldError>,
) -> SweepSummary {
    let plan = match SeedPlan::from_env(default_count) {
        Ok(plan) => plan,
        Err(err) => panic!("{test}: {err}"),
    };
    eprintln!("simulation {test}: {plan}");
    let started = Instant::now();
    let summary = run_plan(test, plan, || started.elapsed(), world);
    eprintln!(
        "simulation {test}: {} seed(s) passed in {:.1}s (wall clock)",
        summary.seeds_run,
        started.elapsed().as_secs_f64()
    );
    summary
}

/// Run `world` for every seed of `plan`; a budget is measured with `clock` (wall-clock time
/// since the start). Panics, after printing the replay line, on the first failing seed.
pub fn run_plan<T>(
    test: &str,
    plan: SeedPlan,
    mut clock: impl FnMut() -> Duration,
    mut world: impl FnMut(u64) -> Result<T, WorldError>,
) -> SweepSummary {
    let mut index = 0u64;
    loop {
        let more = match plan {
            SeedPlan::Replay(_) => index == 0,
            SeedPlan::Count { count, .. } => index < count,
            SeedPlan::Budget { budget, .. } => index == 0 || clock() < budget,
        };
        if !more {
            break;
        }
        run_one(test, plan.seed_at(index), &mut world);
        index += 1;
    }
    SweepSummary {
        plan,
        seeds_run: index,
    }
}

/// Run the world of `seed` twice and compare the hashes of their traces. On a mismatch print
/// where the traces part and the replay line, and panic. Returns the hash.
pub fn check_determinism(
    test: &str,
    seed: u64,
    mut world: impl FnMut(u64) -> Result<Trace, WorldError>,
) -> u64 {
    let first = run_one(test, seed, &mut world);
    let second = run_one(test, seed, &mut world);
    if first.hash() != second.hash() {
        let divergence = first
            .first_divergence(&second)
            .map(|d| d.to_string())
            .unwrap_or_else(|| "same events, different hashes".to_string());
        eprintln!("{}", failure_banner(test, seed));
        panic!(
            "{test}: seed {seed} is not deterministic: trace hashes {:016x} and {:016x}\n{divergence}\nreplay with: {}",
            first.hash(),
            second.hash(),
            repro_line(seed, test)
        );
    }
    first.hash()
}
