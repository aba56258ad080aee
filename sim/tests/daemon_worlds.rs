//! Worlds running the daemon's real driver (see `boomerang_sim::daemon`): NAS fleets over
//! RadSec and RADIUS/TCP, UDP and HTTP triggers, seeded faults, invariants checked as events
//! happen, liveness after the faults heal, and a quiet server at the end.

use std::time::Duration;

use boomerang_sim::daemon::config::Selection;
use boomerang_sim::daemon::nas::NasTiming;
use boomerang_sim::daemon::trigger::TriggerTiming;
use boomerang_sim::daemon::world::{Report, Scenario, Setup, run};
use boomerang_sim::fault::EpisodeKind;
use boomerang_sim::harness::{WorldError, check_determinism, sweep};

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
    }
}

fn summarize(test: &str, report: &Report) {
    eprintln!(
        "{test}: {:?} virtual, {:.2} NAS-hours, {} episodes, {:?}",
        report.virtual_time, report.nas_hours, report.episodes, report.totals
    );
}

#[test]
fn daemon_small_world_with_faults() {
    let test = "daemon_small_world_with_faults";
    let scenario = small();
    let setup = Setup::new(&scenario).unwrap();
    sweep(test, 20, |seed| {
        let report = run(seed, &scenario, &setup)?;
        summarize(test, &report);
        Ok::<_, WorldError>(())
    });
}
