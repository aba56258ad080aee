//! Missing values never select, through the real binary: a trigger that names no NAS
//! reaches no NAS — not even one that never announced a NAS-Identifier (`none ==
//! none` used to select it) — and a binding template whose value is missing fails
//! the call instead of sending an empty User-Name.

mod e2e_support;

use std::process::{Child, Command, Stdio};
use std::time::Instant;

use e2e_support::*;

const DEFAULT: &str = "config/default.conf";
const HTTP_EXAMPLE: &str = "config/examples/http-trigger/boomerang.conf";

/// A real `boomerang client --reverse` NAS with the certificate of `cert` that sends
/// Status-Server **without** NAS-Identifier and answers one request.
fn anonymous_nas(server: &Server) -> Child {
    let files = server.pki.client("nas1").unwrap();
    Command::new(BIN)
        .args(["client", "--reverse", "--transport", "tls", "--server"])
        .arg(format!("127.0.0.1:{}", server.ports.radsec))
        .arg("--ca")
        .arg(&server.pki.ca_certificate)
        .arg("--cert")
        .arg(&files.certificate)
        .arg("--key")
        .arg(&files.key)
        .args(["--server-name", "localhost", "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the management API lists a connection whose Status-Server arrived
/// (`"received"` set) without a NAS-Identifier.
fn wait_for_anonymous_nas(server: &Server) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok((200, body)) = http(server.management(), "GET", "/api/v1/connections") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let found = v.as_array().is_some_and(|list| {
                list.iter().any(|c| {
                    c["status"]["received"].is_string() && c["status"]["nas_identifier"].is_null()
                })
            });
            if found {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the anonymous NAS did not connect in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Stop the NAS and return what it printed (it prints every request it answered).
fn stop(mut nas: Child) -> String {
    let _ = nas.kill();
    let out = nas.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn udp_trigger_without_nas_identifier_reaches_no_nas_and_gets_nak_502() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(DEFAULT, ports), ports);
    let nas = anonymous_nas(&server);
    wait_for_anonymous_nas(&server);
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "boomerang-trigger",
        "User-Name = \"bob\"\n",
        5,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Received Disconnect-NAK"), "{stdout}");
    assert!(
        stdout.contains("Request-Not-Routable") || stdout.contains("Error-Cause = 502"),
        "502 (NO_REVERSE_CONNECTIONS): {stdout}"
    );
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert_eq!(
        metric_value(
            &metrics,
            "reverse_requests_total",
            &["backend=\"NAS_BY_REQUEST\"", "outcome=\"no_connection\""]
        ),
        1.0,
        "{metrics}"
    );
    let nas_out = stop(nas);
    assert!(
        !nas_out.contains("Disconnect"),
        "the NAS got a request: {nas_out}"
    );
}

#[test]
fn http_trigger_without_nas_identifier_is_an_error_and_sends_no_disconnect() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(DEFAULT, ports), ports);
    let nas = anonymous_nas(&server);
    wait_for_anonymous_nas(&server);
    let (status, body) = http(server.http_addr(), "POST", "/disconnect?username=bob").unwrap();
    // default.conf answers NO_REVERSE_CONNECTIONS with 404.
    assert_eq!(status, 404, "{body}");
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert_eq!(
        metric_value(
            &metrics,
            "reverse_requests_total",
            &["backend=\"NAS_BY_QUERY\"", "outcome=\"no_connection\""]
        ),
        1.0,
        "{metrics}"
    );
    let nas_out = stop(nas);
    assert!(
        !nas_out.contains("Disconnect"),
        "the NAS got a request: {nas_out}"
    );
}

#[test]
fn http_trigger_without_username_fails_with_missing_value_instead_of_an_empty_user_name() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(HTTP_EXAMPLE, ports), ports);
    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1",
    )
    .unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("MISSING_VALUE"), "{body}");
    // The message names the parameter as the configuration writes it.
    assert!(body.contains("`%{http.query.username}`"), "{body}");
    assert!(!body.contains("Var("), "no Rust debug text: {body}");
    // The NAS answers exactly one request (--count 1): the next, complete trigger's.
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let nas = output_bounded(nas, WAIT);
    assert!(nas.status.success());
    let nas_out = String::from_utf8_lossy(&nas.stdout);
    assert!(nas_out.contains("\"User-Name\":\"bob\""), "{nas_out}");
    assert!(!nas_out.contains("\"User-Name\":\"\""), "{nas_out}");
}
