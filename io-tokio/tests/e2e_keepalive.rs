//! TCP keepalive of a RadSec listener (`listen { keepalive { … } }`) through the real
//! binary: the server's end of an accepted NAS connection runs a keepalive timer with
//! the configured idle time, as the kernel reports it (`ss -o`).

mod e2e_support;

use std::process::Command;
use std::time::Instant;

use e2e_support::*;

const EXAMPLE: &str = "config/examples/http-trigger/boomerang.conf";

/// The keepalive timers (seconds left) of the established connections whose local
/// port is `port`, from `ss -tno`; `None` when `ss` is not installed.
fn keepalive_timers(port: u16) -> Option<Vec<u64>> {
    let out = Command::new("ss")
        .args(["-Htno", "state", "established"])
        .arg(format!("( sport = :{port} )"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter_map(|l| {
                let rest = l.split("timer:(keepalive,").nth(1)?;
                let left = rest.split(',').next()?;
                // "41sec", "1min1sec" or "999ms".
                let secs = if let Some((m, s)) = left.split_once("min") {
                    m.parse::<u64>().ok()? * 60 + s.trim_end_matches("sec").parse::<u64>().ok()?
                } else if let Some(ms) = left.strip_suffix("ms") {
                    ms.parse::<u64>().ok()? / 1000
                } else {
                    left.trim_end_matches("sec").parse().ok()?
                };
                Some(secs)
            })
            .collect(),
    )
}

#[test]
fn an_accepted_radsec_connection_has_the_configured_tcp_keepalive() {
    let ports = Ports::pick();
    let config = insert_after(
        &adapt_config(EXAMPLE, ports),
        "            timeout 0;\n",
        "            keepalive { idle 42s; interval 7s; count 3; }\n",
    );
    let server = Server::start(&config, ports);
    let Some(timers) = keepalive_timers(ports.radsec) else {
        eprintln!("SKIPPED: `ss` (iproute2) is not installed");
        return;
    };
    assert!(timers.is_empty(), "no connection yet: {timers:?}");
    let mut nas = server.nas("nas1", &["--exit-after", "30s"]);
    server.wait_for_nas("nas1");
    let deadline = Instant::now() + WAIT;
    let timers = loop {
        let timers = keepalive_timers(ports.radsec).unwrap();
        if !timers.is_empty() || Instant::now() > deadline {
            break timers;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = nas.kill();
    let _ = nas.wait();
    assert_eq!(timers.len(), 1, "one NAS connection with a keepalive timer");
    // The timer counts down from the configured idle time (42 s), far above the
    // system default of 2 hours.
    assert!(timers[0] <= 42 && timers[0] > 20, "{timers:?}");
}
