//! Cluster worlds of the core simulation (see `boomerang_sim::core_sim::cluster`): three
//! engines of one cluster on the simulated bus, a NAS fleet spread over them, triggers at
//! any node for NAS on any node, bus loss, bus delay, a node cut off and healed, a node
//! crashed and restarted, connection churn; invariants checked as the world runs.
//!
//! The normal test run covers a fixed set of seeds; `SIM_SEEDS`, `SIM_BUDGET_SECS` and
//! `SIM_SEED` sweep or replay (see `docs/simulation.md`):
//!
//! ```text
//! SIM_BUDGET_SECS=60 cargo nextest run -p boomerang-sim --test core_sim_cluster --no-capture
//! SIM_SEED=1592590336 cargo nextest run -p boomerang-sim --test core_sim_cluster
//! ```

use std::time::Duration;

use boomerang_sim::core_sim::cluster::{ClusterConfig, ClusterReport, run_cluster};
use boomerang_sim::harness::{WorldError, run_one, sweep};

fn world(config: &ClusterConfig) -> Result<ClusterReport, WorldError> {
    run_cluster(config).map_err(|e| WorldError::Violation {
        at: e.at,
        message: e.to_string(),
    })
}

/// Worlds and simulated NAS-hours a test covered, printed at its end for `.ci/run`.
#[derive(Default)]
struct Coverage {
    worlds: u64,
    nas_hours: f64,
    triggers: u64,
    episodes: u64,
    forwarded: u64,
}

fn print(test: &str, seed: u64, r: &ClusterReport) {
    if std::env::var_os("SIM_VERBOSE").is_some() {
        eprintln!(
            "{test} seed {seed}: {} {} triggers ({} UDP, {} liveness), {} NAS requests \
             ({} late, {} resent after a crash, {} after a close), {} forwarded, {} connections opened ({} churned), \
             bus {} delivered / {} lost, episodes {:?}, slowest HTTP outcome {:.2} s, {} steps, virtual {:.1} s, wall {:.2} s, \
             trace {:016x}\n  outcomes {:?}",
            r.mode,
            r.triggers,
            r.udp_triggers,
            r.liveness_triggers,
            r.nas_requests,
            r.late_sends,
            r.resent_after_crash,
            r.resent_after_close,
            r.forwarded,
            r.connections_opened,
            r.churns,
            r.bus_delivered,
            r.bus_lost,
            r.episodes,
            r.max_http_latency.as_secs_f64(),
            r.steps,
            r.virtual_time.as_secs_f64(),
            r.wall_time.as_secs_f64(),
            r.trace_hash,
            r.outcomes,
        );
    }
}

/// The sweep: a fixed set of seeds by default, or what the environment asks for.
#[test]
fn cluster_worlds_keep_every_invariant() {
    let test = "cluster_worlds_keep_every_invariant";
    let mut coverage = Coverage::default();
    sweep(test, 6, |seed| {
        let mut config = ClusterConfig::small(seed);
        // One world in four checks every engine after every step; the others every
        // fifth step (the check costs more than the step).
        if seed % 4 == 0 {
            config.check_every = 1;
        }
        let report = world(&config)?;
        print(test, seed, &report);
        coverage.worlds += 1;
        coverage.nas_hours += report.nas_hours;
        coverage.triggers += report.triggers;
        coverage.episodes += report.episode_count();
        coverage.forwarded += report.forwarded;
        Ok::<_, WorldError>(())
    });
    eprintln!(
        "simulation {test}: covered {} worlds, {:.1} simulated NAS-hours, {} triggers, {} fault \
         episodes, {} forwarded requests",
        coverage.worlds,
        coverage.nas_hours,
        coverage.triggers,
        coverage.episodes,
        coverage.forwarded
    );
}

/// Every kind of fault and both selection modes show up over the fixed seeds, and the
/// worlds do forward (most selections are remote).
#[test]
fn cluster_worlds_cover_every_fault_and_forward() {
    let test = "cluster_worlds_cover_every_fault_and_forward";
    let mut episodes = std::collections::BTreeMap::new();
    let mut modes = std::collections::BTreeSet::new();
    let mut forwarded = 0;
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0x5EED_0000..0x5EED_0000 + 6 {
        let report = run_one(test, seed, |seed| world(&ClusterConfig::small(seed)));
        for (k, v) in report.episodes {
            *episodes.entry(k).or_insert(0) += v;
        }
        modes.insert(report.mode);
        forwarded += report.forwarded;
        outcomes.extend(report.outcomes.into_keys());
    }
    for kind in ["bus loss", "bus delay", "partition", "crash and restart"] {
        assert!(
            episodes.contains_key(kind),
            "no {kind:?} episode: {episodes:?}"
        );
    }
    assert_eq!(modes.len(), 2, "both selection modes: {modes:?}");
    assert!(forwarded > 100, "{forwarded} forwarded");
    for kind in ["http 200", "udp reply", "http 500 NO_REVERSE_CONNECTIONS"] {
        assert!(outcomes.contains(kind), "no {kind:?} outcome: {outcomes:?}");
    }
}

/// One seed run twice gives the same trace; another seed another.
#[test]
fn cluster_world_same_seed_same_trace() {
    let test = "cluster_world_same_seed_same_trace";
    let seed = 0x5EED_0003;
    let config = ClusterConfig {
        chaos: Duration::from_secs(20),
        ..ClusterConfig::small(seed)
    };
    let a = run_one(test, seed, |_| world(&config));
    let b = run_one(test, seed, |_| world(&config));
    assert_eq!(
        a.trace_hash, b.trace_hash,
        "not deterministic; replay with SIM_SEED={seed}"
    );
    assert_eq!(a.outcomes, b.outcomes);
    let c = run_one(test, seed + 1, |s| {
        world(&ClusterConfig {
            seed: s,
            ..config.clone()
        })
    });
    assert_ne!(a.trace_hash, c.trace_hash, "the seed drives the run");
}
