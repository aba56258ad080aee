//! Worlds running the daemon's real driver (see `boomerang_sim::daemon`): NAS fleets over
//! RadSec and RADIUS/TCP, UDP and HTTP triggers, seeded faults in the network and inside
//! the driver's streams, invariants checked as events happen, liveness after the faults
//! heal, and a quiet server at the end.
//!
//! Each scenario runs a fixed set of seeds in the normal test run; `SIM_SEEDS`,
//! `SIM_BUDGET_SECS` and `SIM_SEED` sweep or replay (see `docs/simulation.md`).

use std::time::Duration;

use boomerang_sim::daemon::config::Selection;
use boomerang_sim::daemon::nas::NasTiming;
use boomerang_sim::daemon::trigger::TriggerTiming;
use boomerang_sim::daemon::world::{Report, Scenario, Setup, run};
use boomerang_sim::fault::{EpisodeKind, Fault, FaultSchedule, NasHang, ScheduledFault};
use boomerang_sim::harness::{WorldError, check_determinism, run_one, sweep};

/// Three NAS hosts (two RadSec, one RADIUS/TCP) of four NAS each, two UDP and one HTTP
/// trigger sender, every kind of network fault, the server among the hosts that crash,
/// short writes and resets inside the server's streams, and a UDP burst larger than the
/// server's receive buffer.
fn small() -> Scenario {
    Scenario {
        tls_hosts: 2,
        tcp_hosts: 1,
        nas_per_host: 4,
        udp_senders: 2,
        http_senders: 1,
        triggers_per_sender: 25,
        burst: 40,
        nak_percent: 10,
        fault_kinds: EpisodeKind::ALL.to_vec(),
        max_episodes: 6,
        heal_by: Duration::from_secs(30),
        selection: Selection::ByNasIdentifier,
        reverse_retries: 0,
        udp_capacity: 32,
        nas_timing: NasTiming::default(),
        trigger_timing: TriggerTiming::default(),
        stream_faults: Some((20, 3_000)),
        schedule: None,
        hangs: Vec::new(),
    }
}

/// 1,000 NAS connections: eight RadSec hosts and two RADIUS/TCP hosts of 100 NAS each,
/// a few faults, and 1,000 calm triggers at the end (one per NAS).
fn large() -> Scenario {
    Scenario {
        tls_hosts: 8,
        tcp_hosts: 2,
        nas_per_host: 100,
        udp_senders: 2,
        http_senders: 2,
        triggers_per_sender: 150,
        burst: 300,
        nak_percent: 10,
        fault_kinds: vec![
            EpisodeKind::Partition,
            EpisodeKind::Hold,
            EpisodeKind::CrashRestart,
            EpisodeKind::UdpLoss,
            EpisodeKind::LatencySpike,
        ],
        max_episodes: 3,
        heal_by: Duration::from_secs(25),
        selection: Selection::ByNasIdentifier,
        reverse_retries: 0,
        udp_capacity: 256,
        nas_timing: NasTiming::default(),
        trigger_timing: TriggerTiming::default(),
        stream_faults: Some((10, 500)),
        schedule: None,
        hangs: Vec::new(),
    }
}

/// Worlds and simulated NAS-hours a test covered, printed at its end for `.ci/run`.
#[derive(Default)]
struct Coverage {
    worlds: u64,
    nas_hours: f64,
    triggers: u64,
    episodes: u64,
}

impl Coverage {
    fn add(&mut self, report: &Report) {
        self.worlds += 1;
        self.nas_hours += report.nas_hours;
        self.triggers += report.totals.triggers;
        self.episodes += report.episodes as u64;
    }
}

fn sweep_scenario(test: &str, default_seeds: u64, scenario: &Scenario) {
    let setup = Setup::new(scenario).unwrap();
    let mut coverage = Coverage::default();
    sweep(test, default_seeds, |seed| {
        let report = run(seed, scenario, &setup)?;
        coverage.add(&report);
        Ok::<_, WorldError>(())
    });
    eprintln!(
        "simulation {test}: covered {} worlds, {:.1} simulated NAS-hours, {} triggers, {} fault episodes",
        coverage.worlds, coverage.nas_hours, coverage.triggers, coverage.episodes
    );
}

#[test]
fn daemon_small_world_with_faults() {
    sweep_scenario("daemon_small_world_with_faults", 20, &small());
}

#[test]
fn daemon_thousand_nas_connections() {
    sweep_scenario("daemon_thousand_nas_connections", 20, &large());
}

#[test]
fn daemon_world_is_deterministic() {
    let test = "daemon_world_is_deterministic";
    let scenario = small();
    let setup = Setup::new(&scenario).unwrap();
    for seed in [3, 0xdead_beef, 1_000_003] {
        check_determinism(test, seed, |seed| {
            run(seed, &scenario, &setup).map(|report| report.trace)
        });
    }
}

/// A deliberately broken server — `@select` accepts any connection, whatever NAS it
/// belongs to — is caught by the selection invariant (so the simulation can find such
/// a bug), and the failure names the seed that replays it.
#[test]
fn daemon_broken_selection_is_caught() {
    let mut scenario = small();
    scenario.selection = Selection::AnyConnection;
    scenario.fault_kinds.clear();
    scenario.stream_faults = None;
    let setup = Setup::new(&scenario).unwrap();
    let err = run(11, &scenario, &setup).expect_err("a misrouting server must fail the world");
    let text = err.to_string();
    assert!(
        text.contains("@select did not accept this connection"),
        "caught by the selection invariant: {text}"
    );
}

/// Regression, found by the simulation (first as seeds 791256507122442716 and
/// 16193376687398323139 of `daemon_small_world_with_faults`): a one-way partition from
/// a NAS host stalls its streams (what it sends is lost, TCP-like, with no retransmission
/// in turmoil, as after a long outage on a real link); the NAS's watchdog gives the
/// connection up and reconnects, but the server still holds the stale connection, which
/// `@select` visits first (establishment order). The next trigger was written to the
/// stale connection, was reset by the NAS host, and failed with CONNECTION_CLOSED
/// (`retries 0`), although the NAS had a working connection. With two stale connections
/// even `retries 1` failed. Fixed in the engine: a request whose connection closes having
/// received nothing after it was written is selected again without spending a retry.
#[test]
fn regression_stale_connections_after_a_nas_reconnects() {
    let test = "regression_stale_connections_after_a_nas_reconnects";
    let mut scenario = small();
    scenario.stream_faults = None;
    let at = Duration::from_millis;
    let oneway = |from: &str| Fault::PartitionOneway {
        from: from.into(),
        to: "server".into(),
    };
    let repair = |from: &str| Fault::RepairOneway {
        from: from.into(),
        to: "server".into(),
    };
    // Two stalls of nas1's streams, each longer than the NAS's probe interval so that
    // every NAS of nas1 loses a probe and its watchdog gives the connection up: after
    // the second, every NAS of nas1 has two stale connections on the server.
    scenario.schedule = Some(FaultSchedule::from_faults(vec![
        ScheduledFault {
            at: at(4_000),
            fault: oneway("nas1"),
        },
        ScheduledFault {
            at: at(15_500),
            fault: repair("nas1"),
        },
        ScheduledFault {
            at: at(18_000),
            fault: oneway("nas1"),
        },
        ScheduledFault {
            at: at(29_500),
            fault: repair("nas1"),
        },
    ]));
    let setup = Setup::new(&scenario).unwrap();
    for seed in [16_193_376_687_398_323_139, 791_256_507_122_442_716] {
        let report = run_one(test, seed, |seed| run(seed, &scenario, &setup));
        assert!(
            report.trace.count("closed (watchdog") >= 8,
            "the stalls made NAS watchdogs give connections up:\n{}",
            report.trace.render()
        );
    }
}

/// A NAS that hangs — stops reading and answering on its connection without closing it
/// (SIGSTOP, a wedged box, a NAT that dropped its state) — and comes back on a new
/// connection while the hung one stays open. The RadSec listener has `timeout 0`, so
/// no idle timeout closes the hung connection. Liveness invariant: within the documented
/// bound (request timeout + probe timeout + the NAS's reconnection), a trigger to that
/// NAS is acknowledged through its new connection; later the calm phase requires every
/// NAS (this one included) to answer exactly. Before the server probed connections
/// whose requests time out, `@select first` kept choosing the hung connection.
#[test]
fn a_hung_nas_is_reachable_again_through_its_new_connection() {
    let test = "a_hung_nas_is_reachable_again_through_its_new_connection";
    let mut scenario = small();
    scenario.fault_kinds.clear();
    scenario.stream_faults = None;
    scenario.triggers_per_sender = 5;
    scenario.burst = 0;
    scenario.hangs = vec![
        NasHang {
            nas: "nas0-1".into(),
            at: Duration::from_secs(6),
        },
        NasHang {
            nas: "nas2-3".into(),
            at: Duration::from_secs(8),
        },
    ];
    let setup = Setup::new(&scenario).unwrap();
    for seed in [1, 2, 0x5eed] {
        let report = run_one(test, seed, |seed| run(seed, &scenario, &setup));
        assert_eq!(
            report.trace.count("reachable again after hanging"),
            2,
            "{}",
            report.trace.render()
        );
    }
}
