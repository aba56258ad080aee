//! Liveness of NAS connections through the real binary: with `timeout 0` on the
//! RadSec listener (no idle timeout), a NAS process that hangs (SIGSTOP: its
//! connection stays open, nothing is answered) must not block the NAS's
//! disconnects for ever. After a request times out on the hung connection, the
//! server probes it with Status-Server and prefers the NAS's replacement
//! connection meanwhile; the unanswered probe closes the hung connection.

mod e2e_support;

use std::process::{Child, Command};

use std::time::{Duration, Instant};

use e2e_support::*;

const NAS: &str = "radiator-nas-simulator";

/// A NAS process, killed when dropped whatever happens (continued first, in case
/// it was stopped).
struct Nas(Option<Child>);

impl Nas {
    fn pid(&self) -> String {
        self.0
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }

    fn stop(&self) {
        let status = Command::new("kill")
            .args(["-STOP", &self.pid()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -STOP");
    }

    /// Kill it and take what it printed.
    fn finish(mut self) -> String {
        let Some(mut child) = self.0.take() else {
            return String::new();
        };
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Nas {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How many connections the management API lists for NAS-Identifier `name`.
fn connections_of(server: &Server, name: &str) -> usize {
    let needle = format!("\"nas_identifier\":\"{name}\"");
    http(server.management(), "GET", "/api/v1/connections")
        .map(|(_, body)| body.matches(&needle).count())
        .unwrap_or(0)
}

fn wait_for_connections(server: &Server, name: &str, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if connections_of(server, name) == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_hung_nas_does_not_block_disconnects_through_its_new_connection() {
    let ports = Ports::pick();
    // The shipped HTTP trigger example: `timeout 0` on the RadSec listener,
    // `@select first` by NAS-Identifier, default request timeout (5 s) and
    // liveness probe (10 s).
    let config = adapt_config("config/examples/http-trigger/boomerang.conf", ports);
    assert!(config.contains("timeout 0;"));
    let server = Server::start(&config, ports);
    let hung = Nas(Some(server.nas(NAS, &[])));
    server.wait_for_nas(NAS);
    hung.stop();
    // The NAS comes back on a new connection; the old one stays open.
    let fresh = Nas(Some(server.nas(NAS, &[])));
    assert!(
        wait_for_connections(&server, NAS, 2, WAIT),
        "the replacement did not connect"
    );
    // Triggers until one is acknowledged. The first goes to the hung connection
    // (the oldest) and times out; within the documented bound (the request
    // timeout, 5 s, plus the probe timeout, 10 s) a trigger must reach the
    // replacement. Before liveness, every trigger went to the hung connection.
    let bound = Duration::from_secs(5 + 10);
    let deadline = Instant::now() + bound + WAIT;
    let mut outcomes = Vec::new();
    let acked = loop {
        let (status, body) = http(
            server.http_addr(),
            "POST",
            &format!(
                "/disconnect?nas_identifier={NAS}&username=u{}",
                outcomes.len()
            ),
        )
        .unwrap();
        outcomes.push((status, body));
        if status == 200 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(acked, "no trigger was acknowledged: {outcomes:?}");
    let first = &outcomes[0];
    assert_eq!(first.0, 500, "{outcomes:?}");
    assert!(first.1.contains("REVERSE_TIMEOUT"), "{outcomes:?}");
    // The unanswered probe closes the hung connection.
    assert!(
        wait_for_connections(&server, NAS, 1, bound + WAIT),
        "the hung connection was not closed"
    );
    drop(hung);
    let stdout = fresh.finish();
    let user = format!("\"User-Name\":\"u{}\"", outcomes.len() - 1);
    assert!(
        stdout.contains("Disconnect-Request") && stdout.contains(&user),
        "the replacement NAS answered: {stdout}"
    );
}
