//! Core-level simulation: the engine against a fleet of simulated NASes on an
//! in-memory network with a virtual clock, invariants checked as it runs.
//!
//! The normal test runs a smoke configuration (500 connections, 20,000 requests)
//! and checks that one seed replays to the same trace. The full run — 10,000
//! connections, 1,000,000 reverse requests — is ignored by default; run it in a
//! release build:
//!
//! ```text
//! cargo test -p boomerang-sim --release --test core_sim -- --ignored --nocapture
//! SIM_SEED=7 cargo test -p boomerang-sim --release --test core_sim -- --ignored --nocapture
//! ```

use boomerang_sim::core_sim::{Config, Report, engine_memory_per_connection, run};

fn seed() -> u64 {
    std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn print(name: &str, r: &Report) {
    println!(
        "{name}: {} triggers ({} UDP), {} NAS requests, {} connections opened, {} events, \
         virtual {:.1} s, wall {:.2} s, engine {:.2} s = {:.0} reverse requests/s (engine alone), \
         max in flight per connection {}, RSS growth per connection (engine + sim NAS) {}, trace {:016x}",
        r.triggers,
        r.udp_triggers,
        r.nas_requests,
        r.connections_opened,
        r.events,
        r.virtual_time.as_secs_f64(),
        r.wall_time.as_secs_f64(),
        r.engine_time.as_secs_f64(),
        r.engine_requests_per_sec(),
        r.max_in_flight_per_connection,
        r.rss_bytes_per_connection
            .map_or_else(|| "n/a".to_owned(), |b| format!("{b:.0} bytes")),
        r.trace_hash,
    );
    println!("{name}: outcomes {:?}", r.outcomes);
}

fn check_outcomes(r: &Report, config: &Config) {
    let total: u64 = r
        .outcomes
        .iter()
        .filter(|(k, _)| k.as_str() != "udp late reply")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, config.requests, "one outcome per trigger");
    assert!(r.outcomes.get("http 200").copied().unwrap_or(0) > config.requests / 2);
    assert!(r.outcomes.contains_key("http 500 NO_REVERSE_CONNECTIONS"));
    assert!(r.outcomes.contains_key("udp reply"));
    assert!(r.max_in_flight_per_connection <= 256);
}

#[test]
fn core_sim_smoke_keeps_every_invariant() {
    let config = Config::smoke(seed());
    let report = run(&config).unwrap_or_else(|e| panic!("{e}"));
    print("smoke", &report);
    check_outcomes(&report, &config);
}

#[test]
fn core_sim_same_seed_same_trace() {
    let config = Config {
        connections: 100,
        requests: 3_000,
        concurrency: 100,
        ..Config::smoke(seed())
    };
    let a = run(&config).unwrap_or_else(|e| panic!("{e}"));
    let b = run(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        a.trace_hash, b.trace_hash,
        "replay SIM_SEED={}",
        config.seed
    );
    let c = run(&Config {
        seed: config.seed + 1,
        ..config.clone()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.trace_hash, c.trace_hash, "the seed drives the run");
}

#[test]
#[ignore = "10,000 connections and 1,000,000 requests: run in release with --ignored"]
fn core_sim_full_ten_thousand_connections_one_million_requests() {
    let config = Config::full(seed());
    let report = run(&config).unwrap_or_else(|e| panic!("{e}"));
    print("full", &report);
    check_outcomes(&report, &config);
    match engine_memory_per_connection(10_000) {
        Some(b) => println!(
            "full: engine resident memory per connection (10,000 connections): {b:.0} bytes"
        ),
        None => println!("full: engine resident memory per connection: n/a"),
    }
}
