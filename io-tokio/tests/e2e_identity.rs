//! Identity binding through the real binary: with `nas_identifier_binding
//! certificate_cn;` a NAS holding another certificate of the same CA cannot claim a
//! NAS's identifier — its Status-Server is refused, logged and counted — and the
//! legitimate NAS receives the disconnects even though the rogue connected first.

mod e2e_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boomerang_io_tokio::pki::ClientSpec;
use e2e_support::*;

const DEFAULT: &str = "config/default.conf";

/// default.conf with its NAS client bound to the certificate CN.
fn bound_config(ports: Ports) -> String {
    let text = adapt_config(DEFAULT, ports);
    let anchor = "        client \"ANY_NAS\" {\n";
    assert!(
        text.contains(anchor),
        "default.conf changed; update this test"
    );
    text.replace(
        anchor,
        &format!("{anchor}            nas_identifier_binding certificate_cn;\n"),
    )
}

/// A real `boomerang client --reverse` presenting the certificate of `cert` and
/// announcing `nas_identifier`.
fn nas_with(server: &Server, cert: &str, nas_identifier: &str, extra: &[&str]) -> Child {
    let files = server.pki.client(cert).unwrap();
    Command::new(BIN)
        .args(["client", "--reverse", "--transport", "tls", "--server"])
        .arg(format!("127.0.0.1:{}", server.ports.radsec))
        .arg("--ca")
        .arg(&server.pki.ca_certificate)
        .arg("--cert")
        .arg(&files.certificate)
        .arg("--key")
        .arg(&files.key)
        .args([
            "--nas-identifier",
            nas_identifier,
            "--server-name",
            "localhost",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until `nas_identifier_claims_total{result=…}` reaches `n`.
fn wait_for_claims(server: &Server, result: &str, n: f64) -> String {
    let label = format!("result=\"{result}\"");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
        if metric_value(&metrics, "nas_identifier_claims_total", &[&label]) >= n {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "no {result} claim counted in time:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rogue_certificate_claiming_a_bound_identifier_is_refused_and_the_owner_gets_the_disconnect() {
    let ports = Ports::pick();
    let server = Server::start_with_clients(
        &bound_config(ports),
        ports,
        &[ClientSpec::new("rogue")],
        |_| {},
    );
    // The rogue (CN=rogue, same CA) connects first and claims nas1.
    let rogue = nas_with(&server, "rogue", "nas1", &["--status-interval", "1s"]);
    wait_for_claims(&server, "mismatch", 1.0);
    let (_, list) = http(server.management(), "GET", "/api/v1/connections").unwrap();
    assert!(
        !list.contains("\"nas_identifier\":\"nas1\""),
        "the refused identifier is recorded: {list}"
    );
    // The owner (CN=nas1) connects second; its claim is accepted.
    let owner = nas_with(&server, "nas1", "nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let owner = output_bounded(owner, WAIT);
    assert!(owner.status.success());
    let owner_out = String::from_utf8_lossy(&owner.stdout);
    assert!(owner_out.contains("\"User-Name\":\"bob\""), "{owner_out}");

    let mut rogue = rogue;
    let _ = rogue.kill();
    let rogue = rogue.wait_with_output().unwrap();
    let rogue_out = String::from_utf8_lossy(&rogue.stdout);
    assert!(
        !rogue_out.contains("Disconnect"),
        "the rogue got a request: {rogue_out}"
    );
    let (_, stderr) = server.terminate();
    assert!(
        stderr.contains("nas_identifier_binding certificate_cn names \"rogue\""),
        "the refusal is logged: {stderr}"
    );
}

#[test]
fn two_live_connections_announcing_one_identifier_are_logged_and_counted() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(DEFAULT, ports), ports);
    let first = nas_with(&server, "nas1", "shared", &[]);
    server.wait_for_nas("shared");
    let second = nas_with(&server, "radiator-nas-simulator", "shared", &[]);
    let metrics = wait_for_claims(&server, "duplicate", 1.0);
    assert!(
        metrics.contains(r#"nas_identifier_claims_total{server="RADSEC",result="duplicate"} 1"#),
        "{metrics}"
    );
    for mut nas in [first, second] {
        let _ = nas.kill();
        let _ = nas.wait();
    }
    let (_, stderr) = server.terminate();
    assert!(
        stderr.contains("announces NAS-Identifier \"shared\", which connection"),
        "the duplicate is logged: {stderr}"
    );
}

/// Duplicate claims of several identifiers within seconds: each identifier's line is
/// written (the rate limit is per identifier), not the first one and an anonymous
/// count of the others.
#[test]
fn duplicate_claims_of_different_identifiers_are_each_logged_by_name() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(DEFAULT, ports), ports);
    let names = ["kiosk-1", "kiosk-2", "kiosk-3"];
    let mut nases = Vec::new();
    for (n, name) in names.iter().enumerate() {
        nases.push(nas_with(&server, "nas1", name, &[]));
        server.wait_for_nas(name);
        nases.push(nas_with(&server, "radiator-nas-simulator", name, &[]));
        wait_for_claims(&server, "duplicate", (n + 1) as f64);
    }
    for mut nas in nases {
        let _ = nas.kill();
        let _ = nas.wait();
    }
    let (_, stderr) = server.terminate();
    for name in names {
        let line = format!("announces NAS-Identifier \"{name}\", which connection");
        assert_eq!(stderr.matches(&line).count(), 1, "{line} in:\n{stderr}");
    }
    assert!(!stderr.contains("more suppressed"), "{stderr}");
}
