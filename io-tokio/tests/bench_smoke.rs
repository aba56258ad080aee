//! Smoke tests of `boomerang bench`: each scenario runs briefly through the real binary
//! against a real `boomerang run` daemon (or its own echo server) with `--json`, and the
//! report must be complete and consistent: nothing lost, duplicated, misdirected or
//! failed, and the trigger side's answers matching what the NAS side sent. Never how
//! fast.

mod e2e_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use e2e_support::{BIN, Ports, Server, WAIT, adapt_config, output_bounded};
use serde_json::Value as Json;

/// Runs `boomerang bench ARGS…`; returns the exit success, the parsed JSON (if any) and
/// stderr.
fn bench(args: &[String]) -> (bool, Option<Json>, String) {
    let child = Command::new(BIN)
        .arg("bench")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_bounded(child, WAIT * 3);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(stdout.trim()).ok();
    (out.status.success(), json, format!("{stderr}\n{stdout}"))
}

/// Runs a scenario that must succeed and print JSON.
fn bench_ok(args: &[String]) -> Json {
    let (ok, json, text) = bench(args);
    assert!(ok, "bench failed: {text}");
    json.unwrap_or_else(|| panic!("no JSON report: {text}"))
}

fn s(text: &str) -> String {
    text.to_string()
}

fn certs(server: &Server) -> PathBuf {
    server.dir.path().join("certs")
}

/// The NAS-side options every reverse scenario shares.
fn nas_args(server: &Server, nas: usize) -> Vec<String> {
    vec![
        s("--pki"),
        certs(server).display().to_string(),
        s("--server"),
        format!("127.0.0.1:{}", server.ports.radsec),
        s("--nas"),
        nas.to_string(),
        s("--json"),
        s("--server-pid"),
        server.child.id().to_string(),
    ]
}

fn n(v: &Json, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("{path:?} missing in {v}"))
}

/// Every trigger answered positively, and each answer is one the NAS side sent.
fn assert_all_acked(r: &Json, expected: Option<u64>) {
    let sent = n(r, &["counts", "sent"]);
    if let Some(e) = expected {
        assert_eq!(sent, e, "{r}");
    }
    assert!(sent > 0, "{r}");
    assert_eq!(n(r, &["counts", "ack"]), sent, "{r}");
    for k in ["nak", "timeout", "error", "stray"] {
        assert_eq!(n(r, &["counts", k]), 0, "{k}: {r}");
    }
    assert_eq!(n(r, &["latency", "count"]), sent, "{r}");
}

#[test]
fn reverse_over_udp_triggers_every_trigger_reaches_its_nas_and_is_acked() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    let mut args = vec![s("reverse")];
    args.extend(nas_args(&server, 3));
    args.extend([
        s("--per-nas-in-flight"),
        s("2"),
        s("--trigger"),
        format!("udp:127.0.0.1:{}", ports.udp),
        s("--count"),
        s("200"),
    ]);
    let r = bench_ok(&args);
    assert_eq!(r["scenario"], "reverse");
    assert_eq!(n(&r, &["shape", "in_flight_total"]), 6, "{r}");
    assert_eq!(n(&r, &["shape", "in_flight_per_nas"]), 2, "{r}");
    assert_all_acked(&r, Some(200));
    assert_eq!(n(&r, &["nas", "identified"]), 3);
    assert_eq!(n(&r, &["nas", "acked"]), 200, "{r}");
    assert_eq!(n(&r, &["nas", "misdirected"]), 0, "{r}");
    assert!(r["server"]["threads"].is_object(), "{r}");
    assert!(n(&r, &["server", "rss_kib_after"]) > 0, "{r}");
}

#[test]
fn reverse_over_http_triggers_acks_and_naks_as_the_nas_answers() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/http-trigger/boomerang.conf", ports),
        ports,
    );
    let base = |answer: &str| {
        let mut args = vec![s("reverse")];
        args.extend(nas_args(&server, 3));
        args.extend([
            s("--in-flight"),
            s("4"),
            s("--target"),
            s("random"),
            s("--trigger"),
            format!("http://127.0.0.1:{}", ports.http),
            s("--count"),
            s("100"),
            s("--nas-answer"),
            s(answer),
        ]);
        args
    };
    let r = bench_ok(&base("ack"));
    assert_all_acked(&r, Some(100));
    assert_eq!(n(&r, &["nas", "acked"]), 100, "{r}");
    assert_eq!(r["shape"]["trigger"], "http");

    let r = bench_ok(&base("nak"));
    assert_eq!(n(&r, &["nas", "naked"]), 100, "{r}");
    assert_eq!(n(&r, &["nas", "acked"]), 0, "{r}");
    assert_eq!(n(&r, &["counts", "sent"]), 100, "{r}");
    assert_eq!(n(&r, &["counts", "timeout"]), 0, "{r}");
}

#[test]
fn mass_disconnect_loses_duplicates_and_misdirects_nothing() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    let mut args = vec![s("mass-disconnect")];
    args.extend(nas_args(&server, 4));
    args.extend([
        s("--trigger"),
        format!("udp:127.0.0.1:{}", ports.udp),
        s("--disconnects"),
        s("300"),
        s("--in-flight"),
        s("40"),
    ]);
    let r = bench_ok(&args);
    assert_all_acked(&r, Some(300));
    for k in ["lost", "never_reached_nas", "duplicated", "misdirected"] {
        assert_eq!(n(&r, &["integrity", k]), 0, "{k}: {r}");
    }
    assert_eq!(n(&r, &["nas", "received"]), 300, "{r}");
}

#[test]
fn connections_and_storm_identify_every_nas_and_report_server_memory() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    for scenario in ["connections", "storm"] {
        let mut args = vec![s(scenario)];
        args.extend(nas_args(&server, 6));
        args.extend([s("--hold"), s("200ms")]);
        let r = bench_ok(&args);
        assert_eq!(r["scenario"], scenario);
        assert_eq!(n(&r, &["nas", "identified"]), 6, "{r}");
        assert_eq!(n(&r, &["nas", "dropped"]), 0, "{r}");
        assert_eq!(n(&r, &["identify_latency", "count"]), 6, "{r}");
        assert!(r["server"]["rss_bytes_per_connection"].is_number(), "{r}");
        assert!(r["handshakes_per_second"].as_f64().unwrap() > 0.0, "{r}");
    }
}

#[test]
fn ceiling_echoes_every_exchange_through_its_own_echo_process() {
    let ports = Ports::pick();
    // Only for the certificates: the ceiling talks to its own echo server.
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    let r = bench_ok(&[
        s("ceiling"),
        s("--pki"),
        certs(&server).display().to_string(),
        s("--nas"),
        s("3"),
        s("--per-nas-in-flight"),
        s("2"),
        s("--count"),
        s("300"),
        s("--json"),
    ]);
    assert_all_acked(&r, Some(300));
    assert_eq!(n(&r, &["shape", "connections"]), 3, "{r}");
    assert_eq!(n(&r, &["shape", "in_flight_total"]), 6, "{r}");
    // The echo server is a separate process, and its cost is reported.
    assert_ne!(n(&r, &["server", "pid"]), u64::from(std::process::id()));
}

#[test]
fn forward_accounting_gets_an_accounting_response_for_every_request() {
    let ports = Ports::pick();
    let config = adapt_config("config/bench/accounting.conf", ports)
        .replace("port 1813;", &format!("port {};", ports.udp));
    let server = Server::start(&config, ports);
    let r = bench_ok(&[
        s("forward"),
        s("--accounting"),
        s("--server"),
        format!("127.0.0.1:{}", ports.udp),
        s("--secret"),
        s("testing123"),
        s("--in-flight"),
        s("8"),
        s("--count"),
        s("300"),
        s("--json"),
        s("--server-pid"),
        server.child.id().to_string(),
    ]);
    assert_all_acked(&r, Some(300));
    assert_eq!(r["shape"]["request"], "Accounting-Request");
}

#[test]
fn bad_arguments_and_unreachable_servers_are_clear_errors() {
    let (ok, _, text) = bench(&[
        s("reverse"),
        s("--in-flight"),
        s("2"),
        s("--per-nas-in-flight"),
        s("3"),
    ]);
    assert!(!ok);
    assert!(text.contains("cannot be used with"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let (ok, _, text) = bench(&[
        s("reverse"),
        s("--pki"),
        dir.path().display().to_string(),
        s("--count"),
        s("1"),
    ]);
    assert!(!ok);
    assert!(text.contains("ca.pem does not exist"), "{text}");

    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    let (ok, _, text) = bench(&[
        s("connections"),
        s("--pki"),
        certs(&server).display().to_string(),
        s("--server"),
        // Nothing listens on the UDP port's number over TCP.
        format!("127.0.0.1:{}", e2e_support::free_tcp_port()),
        s("--nas"),
        s("2"),
        s("--timeout"),
        s("2s"),
    ]);
    assert!(!ok);
    assert!(text.contains("only 0 of 2 NAS were identified"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

/// `cluster` over one node (both trigger addresses name it): the scenario's two
/// paths and rounds run and report. The real two-node run is `.ci/bench-daemon`.
#[test]
fn cluster_runs_both_paths_in_alternating_rounds_and_reports_each() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    let udp = format!("udp:127.0.0.1:{}", ports.udp);
    let mut args = vec![s("cluster")];
    args.extend(nas_args(&server, 2));
    args.extend([
        s("--local-trigger"),
        udp.clone(),
        s("--remote-trigger"),
        udp,
        s("--rounds"),
        s("2"),
        s("--count"),
        s("50"),
    ]);
    let r = bench_ok(&args);
    assert_eq!(r["scenario"], "cluster");
    assert_eq!(n(&r, &["shape", "rounds"]), 2, "{r}");
    for path in ["local", "remote"] {
        // Two rounds of 50 each.
        assert_all_acked(&r[path], Some(100));
    }
    assert_eq!(n(&r, &["nas", "acked"]), 200, "{r}");
    assert!(
        r["cross_node"]["throughput_ratio"].as_f64().unwrap_or(0.0) > 0.0,
        "{r}"
    );

    let (ok, _, text) = bench(&[
        s("cluster"),
        s("--local-trigger"),
        format!("udp:127.0.0.1:{}", ports.udp),
        s("--remote-trigger"),
        s("http://127.0.0.1:1"),
    ]);
    assert!(!ok);
    assert!(text.contains("compare like with like"), "{text}");
}
