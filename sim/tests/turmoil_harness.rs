//! The simulation harness itself: seed plans from the environment, sweeps bounded by count
//! or budget, the replay line printed on failure, the determinism self-check, and fault
//! schedules drawn from seeds.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use boomerang_sim::fault::{
    EpisodeKind, Fault, FaultSchedule, FaultSpace, ScheduleError, ScheduledFault,
};
use boomerang_sim::harness::{
    SimConfig, World, WorldError, check_determinism, failure_banner, run_one, run_plan,
};
use boomerang_sim::seed::{
    DEFAULT_BASE_SEED, SeedPlan, SeedPlanError, Seeds, parse_seed, repro_line, sub_seed,
};
use boomerang_sim::trace::Trace;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_random() -> u64 {
    panic!("random base drawn although one was given")
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn sim_seed_replays_one_seed_in_decimal_or_hex() {
    let plan = SeedPlan::from_vars(vars(&[("SIM_SEED", "12345")]), 20, no_random).unwrap();
    assert_eq!(plan, SeedPlan::Replay(12345));
    let plan = SeedPlan::from_vars(vars(&[("SIM_SEED", "0xDEAD_beef")]), 20, no_random).unwrap();
    assert_eq!(plan, SeedPlan::Replay(0xdead_beef));
    // SIM_SEED wins over a sweep.
    let plan = SeedPlan::from_vars(
        vars(&[
            ("SIM_SEED", "7"),
            ("SIM_SEEDS", "100"),
            ("SIM_BUDGET_SECS", "9"),
        ]),
        20,
        no_random,
    )
    .unwrap();
    assert_eq!(plan, SeedPlan::Replay(7));
    assert_eq!(parse_seed(" 18446744073709551615 "), Some(u64::MAX));
    assert_eq!(parse_seed("18446744073709551616"), None);
    assert_eq!(parse_seed("seven"), None);
}

#[test]
fn without_variables_the_fixed_smoke_set_runs() {
    let plan = SeedPlan::from_vars(vars(&[]), 20, no_random).unwrap();
    assert_eq!(
        plan,
        SeedPlan::Count {
            base: DEFAULT_BASE_SEED,
            count: 20
        }
    );
    // An empty value counts as unset.
    let plan = SeedPlan::from_vars(vars(&[("SIM_SEED", "")]), 0, no_random).unwrap();
    assert_eq!(
        plan,
        SeedPlan::Count {
            base: DEFAULT_BASE_SEED,
            count: 1
        }
    );
}

#[test]
fn sweeps_take_their_base_from_sim_base_seed_or_draw_one() {
    let plan = SeedPlan::from_vars(
        vars(&[("SIM_SEEDS", "50"), ("SIM_BASE_SEED", "1000")]),
        20,
        no_random,
    )
    .unwrap();
    assert_eq!(
        plan,
        SeedPlan::Count {
            base: 1000,
            count: 50
        }
    );
    assert_eq!(plan.seed_at(3), 1003);
    let plan = SeedPlan::from_vars(vars(&[("SIM_SEEDS", "50")]), 20, || 77).unwrap();
    assert_eq!(
        plan,
        SeedPlan::Count {
            base: 77,
            count: 50
        }
    );
    let plan = SeedPlan::from_vars(vars(&[("SIM_BUDGET_SECS", "300")]), 20, || 5).unwrap();
    assert_eq!(
        plan,
        SeedPlan::Budget {
            base: 5,
            budget: Duration::from_secs(300)
        }
    );
    // The printed plan names the base so the sweep can be rerun.
    assert_eq!(
        plan.to_string(),
        "seeds from SIM_BASE_SEED=5 for SIM_BUDGET_SECS=300"
    );
    assert_eq!(
        SeedPlan::Count { base: 9, count: 2 }.to_string(),
        "2 seed(s) from SIM_BASE_SEED=9"
    );
}

#[test]
fn bad_seed_variables_are_errors_not_silent_defaults() {
    let err = SeedPlan::from_vars(vars(&[("SIM_SEED", "12x")]), 20, no_random).unwrap_err();
    assert_eq!(
        err,
        SeedPlanError::NotANumber {
            var: "SIM_SEED",
            value: "12x".into()
        }
    );
    assert!(err.to_string().contains("SIM_SEED=\"12x\""), "{err}");
    let err = SeedPlan::from_vars(vars(&[("SIM_SEEDS", "0")]), 20, || 1).unwrap_err();
    assert_eq!(err, SeedPlanError::Zero { var: "SIM_SEEDS" });
    let err = SeedPlan::from_vars(vars(&[("SIM_BUDGET_SECS", "0")]), 20, || 1).unwrap_err();
    assert_eq!(
        err,
        SeedPlanError::Zero {
            var: "SIM_BUDGET_SECS"
        }
    );
}

#[test]
fn budget_sweep_stops_when_the_budget_is_spent() {
    // A fake clock advancing one second per reading: with a 3 s budget the sweep runs the
    // first seed unconditionally, then one more per reading below 3 s.
    let now = Cell::new(Duration::ZERO);
    let clock = || {
        now.set(now.get() + Duration::from_secs(1));
        now.get()
    };
    let mut seen = Vec::new();
    let plan = SeedPlan::Budget {
        base: 40,
        budget: Duration::from_secs(3),
    };
    let summary = run_plan("t", plan, clock, |seed| {
        seen.push(seed);
        Ok(())
    });
    assert_eq!(seen, vec![40, 41, 42]);
    assert_eq!(summary.seeds_run, 3);

    // A budget already spent still runs one seed.
    let mut count = 0;
    let plan = SeedPlan::Budget {
        base: 0,
        budget: Duration::from_secs(1),
    };
    let summary = run_plan(
        "t",
        plan,
        || Duration::from_secs(100),
        |_| {
            count += 1;
            Ok(())
        },
    );
    assert_eq!((count, summary.seeds_run), (1, 1));
}

#[test]
fn count_and_replay_plans_run_exactly_their_seeds() {
    let mut seen = Vec::new();
    run_plan(
        "t",
        SeedPlan::Count {
            base: u64::MAX - 1,
            count: 3,
        },
        || Duration::ZERO,
        |seed| {
            seen.push(seed);
            Ok(())
        },
    );
    assert_eq!(seen, vec![u64::MAX - 1, u64::MAX, 0]);
    seen.clear();
    run_plan(
        "t",
        SeedPlan::Replay(99),
        || Duration::ZERO,
        |seed| {
            seen.push(seed);
            Ok(())
        },
    );
    assert_eq!(seen, vec![99]);
}

#[test]
fn repro_line_is_copy_paste_ready() {
    assert_eq!(
        repro_line(123, "turmoil_radsec_smoke"),
        "SIM_SEED=123 cargo nextest run -p boomerang-sim turmoil_radsec_smoke"
    );
    let banner = failure_banner("x", 5);
    assert!(
        banner.contains("failed with seed 5") && banner.contains(&repro_line(5, "x")),
        "{banner}"
    );
}

#[test]
fn a_failing_seed_fails_the_test_with_the_replay_line() {
    // An error from the world becomes a panic carrying the replay line.
    let payload = catch_unwind(AssertUnwindSafe(|| {
        run_plan(
            "my_test",
            SeedPlan::Count { base: 10, count: 5 },
            || Duration::ZERO,
            |seed| {
                if seed == 12 {
                    Err(WorldError::Check("boom".into()))
                } else {
                    Ok(())
                }
            },
        )
    }))
    .unwrap_err();
    let text = panic_text(payload);
    assert!(text.contains("seed 12 failed: boom"), "{text}");
    assert!(
        text.contains("SIM_SEED=12 cargo nextest run -p boomerang-sim my_test"),
        "{text}"
    );

    // A panic inside the world is re-raised unchanged (the banner goes to stderr).
    let payload = catch_unwind(AssertUnwindSafe(|| {
        run_one("my_test", 3, |_| -> Result<(), WorldError> {
            panic!("original")
        })
    }))
    .unwrap_err();
    assert_eq!(panic_text(payload), "original");
}

#[test]
fn determinism_check_catches_a_world_that_differs_between_runs() {
    let runs = Cell::new(0u32);
    let world = |_seed: u64| {
        runs.set(runs.get() + 1);
        let trace = Trace::new();
        trace.record_at(Duration::from_millis(5), "same");
        // Like a stray wall-clock read: the second run records something else.
        trace.record_at(Duration::from_millis(10), format!("run {}", runs.get()));
        Ok(trace)
    };
    let payload = catch_unwind(AssertUnwindSafe(|| check_determinism("nd", 4, world))).unwrap_err();
    let text = panic_text(payload);
    assert!(text.contains("seed 4 is not deterministic"), "{text}");
    assert!(text.contains("traces differ at event #1"), "{text}");
    assert!(text.contains("run 1") && text.contains("run 2"), "{text}");
    assert!(text.contains("SIM_SEED=4 cargo nextest run"), "{text}");

    let stable = |_seed: u64| {
        let trace = Trace::new();
        trace.record_at(Duration::from_millis(5), "same");
        Ok(trace)
    };
    check_determinism("d", 4, stable);
}

#[test]
fn a_violation_reported_by_a_host_fails_the_world() {
    let mut world = World::new(&SimConfig::default(), 1);
    let t = world.trace.clone();
    world.sim.client("c", async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A spawned task's panic would be swallowed; a violation is not.
        tokio::spawn(async move { t.violation("two answers to one request") });
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    });
    match world.run() {
        Err(WorldError::Violation { at, message }) => {
            assert_eq!(message, "two answers to one request");
            assert!(
                at >= Duration::from_millis(50) && at < Duration::from_secs(1),
                "{at:?}"
            );
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn sub_seeds_are_pinned() {
    // These values are what every recorded seed replays with: changing the derivation
    // changes every world, so it must be a deliberate act. (Computed independently of the
    // Rust code: SplitMix64 seeded with master ^ FNV-1a64(label), second output.)
    let s = Seeds::derive(1);
    assert_eq!(s.master, 1);
    assert_eq!(s.turmoil, sub_seed(1, "turmoil"));
    assert_eq!(sub_seed(1, "turmoil"), PINNED_TURMOIL_OF_1);
    assert_eq!(sub_seed(1, "faults"), PINNED_FAULTS_OF_1);
}

const PINNED_TURMOIL_OF_1: u64 = 13_527_680_386_984_041_492;
const PINNED_FAULTS_OF_1: u64 = 18_014_476_365_160_092_500;

fn space() -> FaultSpace {
    let mut space = FaultSpace::new();
    space.links = vec![
        ("nas-1".into(), "server".into()),
        ("nas-2".into(), "server".into()),
    ];
    space.udp_links = vec![("nas-udp".into(), "server".into())];
    space.crashable = vec!["server".into()];
    space
}

#[test]
fn fault_schedules_are_reproducible_and_within_bounds() {
    let space = space();
    let mut kinds_seen = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for seed in 0..300u64 {
        let a = FaultSchedule::draw(seed, &space);
        let b = FaultSchedule::draw(seed, &space);
        assert_eq!(a, b, "seed {seed}");
        a.check_within(&space)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{a}"));
        assert!(a.episodes() <= space.max_episodes);
        assert!(a.last_at() <= space.heal_by);
        for sf in a.faults() {
            let kind = match sf.fault {
                Fault::Partition { .. } => EpisodeKind::Partition,
                Fault::PartitionOneway { .. } => EpisodeKind::PartitionOneway,
                Fault::Hold { .. } => EpisodeKind::Hold,
                Fault::Crash { .. } => EpisodeKind::CrashRestart,
                Fault::Bounce { .. } => EpisodeKind::Bounce,
                Fault::LinkFailRate { ppm, .. } if ppm > 0 => EpisodeKind::UdpLoss,
                Fault::LinkLatency { .. } => EpisodeKind::LatencySpike,
                _ => continue,
            };
            if !kinds_seen.contains(&kind) {
                kinds_seen.push(kind);
            }
            // Random loss only ever on the UDP-only link.
            if let Fault::LinkFailRate { a, .. } = &sf.fault {
                assert_eq!(a, "nas-udp");
            }
        }
        distinct.insert(a.to_string());
    }
    kinds_seen.sort();
    assert_eq!(kinds_seen, EpisodeKind::ALL.to_vec(), "every kind is drawn");
    assert!(distinct.len() > 250, "seeds give varied schedules");
}

#[test]
fn fault_kinds_without_targets_are_never_drawn() {
    let mut space = FaultSpace::new();
    assert!(FaultSchedule::draw(1, &space).is_empty());
    space.crashable = vec!["server".into()];
    for seed in 0..50 {
        let s = FaultSchedule::draw(seed, &space);
        s.check_within(&space).unwrap();
        assert!(
            s.faults()
                .iter()
                .all(|f| matches!(f.fault, Fault::Crash { .. } | Fault::Bounce { .. })),
            "{s}"
        );
    }
    space.kinds = vec![EpisodeKind::Hold];
    assert!(FaultSchedule::draw(1, &space).is_empty());
}

#[test]
fn check_within_rejects_schedules_outside_the_space() {
    let space = space();
    let at = |ms: u64, fault: Fault| ScheduledFault {
        at: Duration::from_millis(ms),
        fault,
    };
    let part = || Fault::Partition {
        a: "nas-1".into(),
        b: "server".into(),
    };
    let repair = || Fault::Repair {
        a: "server".into(),
        b: "nas-1".into(),
    };
    let ok = FaultSchedule::from_faults(vec![at(2000, part()), at(3000, repair())]);
    assert_eq!(ok.episodes(), 1);
    ok.check_within(&space).unwrap();

    let unhealed = FaultSchedule::from_faults(vec![at(2000, part())]);
    assert!(matches!(
        unhealed.check_within(&space),
        Err(ScheduleError::NotHealed(_))
    ));
    let early = FaultSchedule::from_faults(vec![at(10, part()), at(3000, repair())]);
    assert!(matches!(
        early.check_within(&space),
        Err(ScheduleError::OutOfWindow { index: 0, .. })
    ));
    let wrong_link = FaultSchedule::from_faults(vec![
        at(
            2000,
            Fault::LinkFailRate {
                a: "nas-1".into(),
                b: "server".into(),
                ppm: 10,
            },
        ),
        at(
            3000,
            Fault::LinkFailRate {
                a: "nas-1".into(),
                b: "server".into(),
                ppm: 0,
            },
        ),
    ]);
    assert!(matches!(
        wrong_link.check_within(&space),
        Err(ScheduleError::NotAllowed { index: 0, .. })
    ));
    let crash_bounce = FaultSchedule::from_faults(vec![
        at(
            2000,
            Fault::Crash {
                host: "server".into(),
            },
        ),
        at(
            2500,
            Fault::Bounce {
                host: "server".into(),
            },
        ),
        at(
            2600,
            Fault::Bounce {
                host: "server".into(),
            },
        ),
    ]);
    assert_eq!(crash_bounce.episodes(), 2);
    crash_bounce.check_within(&space).unwrap();
}

#[test]
fn a_drawn_schedule_is_applied_at_its_times_in_a_world() {
    let space = {
        let mut s = FaultSpace::new();
        s.links = vec![("a".into(), "b".into())];
        s.crashable = vec!["b".into()];
        s.heal_by = Duration::from_secs(8);
        s
    };
    let schedule = FaultSchedule::draw(7, &space);
    assert!(!schedule.is_empty());
    let config = SimConfig::default();
    let mut world = World::new(&config, 7);
    world.set_schedule(schedule.clone());
    world.sim.host("b", || async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    world.sim.client("a", async {
        tokio::time::sleep(Duration::from_secs(9)).await;
        Ok(())
    });
    world.run().unwrap();
    let applied: Vec<_> = world
        .trace
        .events()
        .into_iter()
        .filter_map(|e| {
            e.what
                .strip_prefix("fault: ")
                .map(|f| (e.at, f.to_string()))
        })
        .collect();
    assert_eq!(applied.len(), schedule.faults().len());
    for ((when, text), sf) in applied.iter().zip(schedule.faults()) {
        assert_eq!(*text, sf.fault.to_string());
        assert!(
            *when >= sf.at && *when < sf.at + config.tick,
            "{when:?} vs {:?}",
            sf.at
        );
    }
}
