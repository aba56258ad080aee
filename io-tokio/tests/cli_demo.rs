//! `boomerang demo` end to end: the real binary runs the server and three NAS
//! simulators in one process over loopback TLS, sends five triggers and prints a table.
//! The test checks the exit status and every row's outcome (not the latencies).
//! `demo --cluster` needs `nats-server`: without it that test is skipped loudly, except
//! in CI (`CI` set), where a missing server fails it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");
/// Bound on the whole demo run (it normally takes well under a few seconds).
const BOUND: Duration = Duration::from_secs(60);

#[path = "e2e_support/nats.rs"]
mod nats;

/// Run `boomerang demo` (bounded); exit success, stdout, stderr.
fn run_demo() -> (bool, String, String) {
    run_demo_with(&[], None)
}

/// Run `boomerang demo EXTRA…` (bounded), with `PATH` replaced when `path` is given;
/// exit success, stdout, stderr.
fn run_demo_with(extra: &[&str], path: Option<&std::path::Path>) -> (bool, String, String) {
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("demo")
        .arg("--data-dir")
        .arg(data.path())
        .args(extra);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("boomerang demo did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), out, err)
}

/// The table row numbered `n`.
fn row(out: &str, n: usize) -> &str {
    let prefix = format!("{n} ");
    out.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row {n} in:\n{out}"))
}

#[test]
fn demo_runs_the_reverse_coa_flow_and_every_trigger_gets_the_expected_answer() {
    let (success, out, err) = run_demo();
    assert!(success, "demo failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("demo OK: 5/5 as expected"), "{out}");
    assert!(
        out.contains("connected: nas-a on conn #")
            && out.contains("nas-b on conn #")
            && out.contains("nas-c on conn #"),
        "{out}"
    );

    let r1 = row(&out, 1);
    assert!(
        r1.contains("UDP Disconnect-Request bob") && r1.contains("nas-a"),
        "{r1}"
    );
    assert!(
        r1.contains("(nas-a)") && r1.contains("Disconnect-ACK") && r1.ends_with("ok"),
        "{r1}"
    );
    let r2 = row(&out, 2);
    assert!(
        r2.contains("UDP CoA-Request bob") && r2.contains("(nas-b)"),
        "{r2}"
    );
    assert!(r2.contains("CoA-ACK") && r2.ends_with("ok"), "{r2}");
    let r3 = row(&out, 3);
    assert!(
        r3.contains("HTTP POST /disconnect bob") && r3.contains("(nas-c)"),
        "{r3}"
    );
    assert!(r3.contains("HTTP 200") && r3.ends_with("ok"), "{r3}");
    let r4 = row(&out, 4);
    assert!(
        r4.contains("UDP Disconnect-Request locked") && r4.contains("(nas-a)"),
        "{r4}"
    );
    assert!(
        r4.contains("Disconnect-NAK Error-Cause=504") && r4.ends_with("ok"),
        "{r4}"
    );
    let r5 = row(&out, 5);
    assert!(
        r5.contains("nas-x") && r5.contains("- (not connected)"),
        "{r5}"
    );
    assert!(
        r5.contains("Disconnect-NAK Error-Cause=502") && r5.ends_with("ok"),
        "{r5}"
    );
    assert!(!out.contains("UNEXPECTED"), "{out}");
}

/// The connection number after `PREFIX` in `out` (`… conn #N`).
fn connection_after(out: &str, prefix: &str) -> u64 {
    let start = out
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{out}"))
        + prefix.len();
    out[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{prefix}` in:\n{out}"))
}

#[test]
fn demo_cluster_sends_every_trigger_to_node_1_and_reaches_nas_on_the_other_nodes() {
    if nats::nats_server().is_none() {
        return;
    }
    let (success, out, err) = run_demo_with(&["--cluster"], None);
    assert!(success, "demo failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("demo OK: 6/6 as expected"), "{out}");
    assert!(out.contains("every trigger is sent to node-1"), "{out}");
    // Each NAS on its node; connection numbers of node N start at N × 2^48.
    for (nas, node) in [("nas-a", 1u64), ("nas-b", 2), ("nas-c", 3)] {
        let id = connection_after(&out, &format!("{nas} on node-{node} conn #"));
        assert_eq!(id >> 48, node, "{nas}: conn #{id}");
    }

    let r1 = row(&out, 1);
    assert!(
        r1.contains("UDP Disconnect-Request bob") && r1.contains("node-1 → node-2"),
        "{r1}"
    );
    assert!(r1.contains("Disconnect-ACK") && r1.ends_with("ok"), "{r1}");
    let r2 = row(&out, 2);
    assert!(
        r2.contains("UDP CoA-Request bob") && r2.contains("node-1 → node-3"),
        "{r2}"
    );
    assert!(r2.contains("CoA-ACK") && r2.ends_with("ok"), "{r2}");
    let r3 = row(&out, 3);
    assert!(
        r3.contains("HTTP POST /disconnect bob") && r3.contains("node-1 → node-2"),
        "{r3}"
    );
    assert!(r3.contains("HTTP 200") && r3.ends_with("ok"), "{r3}");
    let r4 = row(&out, 4);
    assert!(
        r4.contains("locked") && r4.contains("node-1 → node-3"),
        "{r4}"
    );
    assert!(
        r4.contains("Disconnect-NAK Error-Cause=504") && r4.ends_with("ok"),
        "{r4}"
    );
    let r5 = row(&out, 5);
    assert!(
        r5.contains("nas-a") && r5.contains("node-1 (local)"),
        "{r5}"
    );
    assert!(r5.contains("Disconnect-ACK") && r5.ends_with("ok"), "{r5}");
    let r6 = row(&out, 6);
    assert!(
        r6.contains("nas-x") && r6.contains("- (not connected)"),
        "{r6}"
    );
    assert!(
        r6.contains("Disconnect-NAK Error-Cause=502") && r6.ends_with("ok"),
        "{r6}"
    );
    assert!(!out.contains("UNEXPECTED"), "{out}");
}

#[test]
fn demo_cluster_without_nats_server_says_how_to_get_it() {
    // A PATH with no nats-server on it (the binary itself is named by its full path).
    let empty = tempfile::tempdir().unwrap();
    let (success, out, err) = run_demo_with(&["--cluster"], Some(empty.path()));
    assert!(!success, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("needs nats-server on PATH"), "{err}");
    assert!(err.contains("sudo apt-get install nats-server"), "{err}");
    assert!(err.contains("bash .ci/setup"), "{err}");
    assert!(!out.contains("demo OK"), "{out}");
}
