//! The Prometheus exposition of [`Metrics`]: exact lines of recorded families; and,
//! through the real binary, that reverse requests reach `/metrics`.

mod e2e_support;

use std::time::{Duration, Instant};

use boomerang_core::contract::{CloseReason, DropReason, ReverseStep, Transport};
use boomerang_core::engine::BackendOutcome;
use boomerang_io_tokio::metrics::{Metrics, RequestResult, SqlResult};

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// `expected` appears in `text` as consecutive lines.
fn assert_block(text: &str, expected: &[&str]) {
    let all = lines(text);
    let found = all.windows(expected.len()).any(|w| w == expected);
    assert!(found, "missing block {expected:#?}\nin:\n{text}");
}

#[test]
fn counters_are_announced_under_their_total_name() {
    let m = Metrics::new("0.1.0");
    m.radius_request(
        "RADSEC_SERVER",
        "Accounting-Request",
        RequestResult::AccountingResponse,
    );
    m.radius_request(
        "RADSEC_SERVER",
        "Accounting-Request",
        RequestResult::AccountingResponse,
    );
    m.radius_request("RADIUS_UDP", "Disconnect-Request", RequestResult::Ack);
    let text = m.encode();
    assert_block(
        &text,
        &[
            "# HELP radius_requests_total RADIUS requests received by a server, by packet code and how they ended.",
            "# TYPE radius_requests_total counter",
        ],
    );
    let all = lines(&text);
    assert!(all.contains(
        &r#"radius_requests_total{server="RADSEC_SERVER",code="Accounting-Request",result="accounting_response"} 2"#
    ));
    assert!(all.contains(
        &r#"radius_requests_total{server="RADIUS_UDP",code="Disconnect-Request",result="ack"} 1"#
    ));
    assert!(
        !text.contains("# EOF"),
        "Prometheus 0.0.4 text has no EOF marker"
    );
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new("0.1.0");
    m.radius_dropped(
        "odd \"name\" \\ with\nnewline",
        DropReason::BadAuthenticator,
    );
    let text = m.encode();
    assert!(
        lines(&text).contains(
            &r#"radius_dropped_total{server="odd \"name\" \\ with\nnewline",reason="bad_authenticator"} 1"#
        ),
        "{text}"
    );
}

#[test]
fn connection_gauge_follows_opens_and_closes() {
    let m = Metrics::new("0.1.0");
    m.connection_opened("RADSEC_SERVER", Transport::Tls);
    m.connection_opened("RADSEC_SERVER", Transport::Tls);
    m.connection_opened("RADSEC_SERVER", Transport::Tcp);
    m.connection_closed("RADSEC_SERVER", Transport::Tls, &CloseReason::Idle);
    let text = m.encode();
    let all = lines(&text);
    for line in [
        r#"connections_active{server="RADSEC_SERVER",transport="tls"} 1"#,
        r#"connections_active{server="RADSEC_SERVER",transport="tcp"} 1"#,
        r#"connections_total{server="RADSEC_SERVER",transport="tls"} 2"#,
        r#"connections_total{server="RADSEC_SERVER",transport="tcp"} 1"#,
        r#"connections_closed_total{server="RADSEC_SERVER",reason="idle_timeout"} 1"#,
        "# TYPE connections_active gauge",
        "# TYPE connections_total counter",
        "# TYPE connections_closed_total counter",
    ] {
        assert!(all.contains(&line), "missing {line}\nin:\n{text}");
    }
}

#[test]
fn reverse_outcomes_and_duration_histogram() {
    let m = Metrics::new("0.1.0");
    m.reverse_request(
        "REVERSE_DYNAUTH",
        BackendOutcome::Ack,
        Some(Duration::from_millis(3)),
    );
    m.reverse_request(
        "REVERSE_DYNAUTH",
        BackendOutcome::Timeout,
        Some(Duration::from_secs(5)),
    );
    m.reverse_request("REVERSE_DYNAUTH", BackendOutcome::NoConnection, None);
    let text = m.encode();
    let all = lines(&text);
    for line in [
        r#"reverse_requests_total{backend="REVERSE_DYNAUTH",outcome="ack"} 1"#,
        r#"reverse_requests_total{backend="REVERSE_DYNAUTH",outcome="timeout"} 1"#,
        r#"reverse_requests_total{backend="REVERSE_DYNAUTH",outcome="no_connection"} 1"#,
        "# TYPE reverse_request_duration_seconds histogram",
        // Requests never sent are not observed: two observations, not three.
        r#"reverse_request_duration_seconds_count{backend="REVERSE_DYNAUTH"} 2"#,
        r#"reverse_request_duration_seconds_sum{backend="REVERSE_DYNAUTH"} 5.003"#,
        r#"reverse_request_duration_seconds_bucket{le="0.001",backend="REVERSE_DYNAUTH"} 0"#,
        r#"reverse_request_duration_seconds_bucket{le="0.005",backend="REVERSE_DYNAUTH"} 1"#,
        r#"reverse_request_duration_seconds_bucket{le="2.5",backend="REVERSE_DYNAUTH"} 1"#,
        r#"reverse_request_duration_seconds_bucket{le="5.0",backend="REVERSE_DYNAUTH"} 2"#,
        r#"reverse_request_duration_seconds_bucket{le="10.0",backend="REVERSE_DYNAUTH"} 2"#,
        r#"reverse_request_duration_seconds_bucket{le="+Inf",backend="REVERSE_DYNAUTH"} 2"#,
    ] {
        assert!(all.contains(&line), "missing {line}\nin:\n{text}");
    }
}

#[test]
fn gauges_are_set_not_added() {
    let m = Metrics::new("0.1.0");
    m.set_identifiers_in_use("RADSEC_SERVER", 200);
    m.set_identifiers_in_use("RADSEC_SERVER", 17);
    m.set_reverse_queue_depth("REVERSE_DYNAUTH", 3);
    m.set_reverse_in_flight("REVERSE_DYNAUTH", 9);
    m.set_reverse_in_flight("REVERSE_DYNAUTH", 0);
    m.set_backend_server_up("NAS_UPLINK", "radsec.example.com", true);
    m.set_backend_server_up("NAS_UPLINK", "backup", true);
    m.set_backend_server_up("NAS_UPLINK", "backup", false);
    let text = m.encode();
    let all = lines(&text);
    for line in [
        r#"identifiers_in_use{server="RADSEC_SERVER"} 17"#,
        r#"reverse_queue_depth{backend="REVERSE_DYNAUTH"} 3"#,
        r#"reverse_in_flight{backend="REVERSE_DYNAUTH"} 0"#,
        r#"backend_server_up{backend="NAS_UPLINK",server="radsec.example.com"} 1"#,
        r#"backend_server_up{backend="NAS_UPLINK",server="backup"} 0"#,
    ] {
        assert!(all.contains(&line), "missing {line}\nin:\n{text}");
    }
}

#[test]
fn sql_http_policy_and_build_info() {
    let m = Metrics::new("1.2.3");
    m.sql_query("SQL", SqlResult::Ok, Duration::from_millis(2));
    m.sql_query("SQL", SqlResult::Busy, Duration::from_millis(500));
    m.http_request("HTTP", 200);
    m.http_request("HTTP", 404);
    m.http_request("HTTP", 404);
    m.policy_no_match("RADIUS_UDP");
    let text = m.encode();
    let all = lines(&text);
    for line in [
        r#"sql_queries_total{backend="SQL",result="ok"} 1"#,
        r#"sql_queries_total{backend="SQL",result="busy"} 1"#,
        r#"sql_query_duration_seconds_count{backend="SQL"} 2"#,
        r#"sql_query_duration_seconds_bucket{le="0.0025",backend="SQL"} 1"#,
        r#"sql_query_duration_seconds_bucket{le="0.5",backend="SQL"} 2"#,
        r#"http_requests_total{server="HTTP",status="200"} 1"#,
        r#"http_requests_total{server="HTTP",status="404"} 2"#,
        r#"policy_no_match_total{server="RADIUS_UDP"} 1"#,
    ] {
        assert!(all.contains(&line), "missing {line}\nin:\n{text}");
    }
    assert_block(
        &text,
        &[
            "# HELP build_info The running version (always 1).",
            "# TYPE build_info gauge",
            r#"build_info{version="1.2.3"} 1"#,
        ],
    );
}

#[test]
fn fresh_metrics_show_only_build_info_uptime_and_engine_time_and_views() {
    let m = Metrics::new("0.1.0");
    let text = m.encode();
    let samples: Vec<&str> = lines(&text)
        .into_iter()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(samples.len(), 4, "{text}");
    assert_eq!(samples[0], r#"build_info{version="0.1.0"} 1"#);
    let uptime = samples[1]
        .strip_prefix("uptime_seconds ")
        .expect("uptime line");
    let value: f64 = uptime.parse().unwrap();
    assert!(value >= 0.0);
    assert_eq!(samples[2], "engine_busy_seconds_total 0.0");
    assert_eq!(samples[3], "engine_view_builds_total 0");
}

#[test]
fn engine_busy_time_adds_up() {
    let m = Metrics::new("0.1.0");
    m.engine_busy(std::time::Duration::from_millis(250));
    m.engine_busy(std::time::Duration::from_millis(500));
    assert!(
        lines(&m.encode()).contains(&"engine_busy_seconds_total 0.75"),
        "{}",
        m.encode()
    );
}

#[test]
fn every_label_value_spelling_is_snake_case() {
    let all = [
        RequestResult::AccountingResponse.as_str(),
        DropReason::BadMessageAuthenticator.label(),
        DropReason::UnknownClient.label(),
        BackendOutcome::ConnectionClosed.as_str(),
        BackendOutcome::QueueFull.as_str(),
        CloseReason::PeerClosed.label(),
        SqlResult::Timeout.as_str(),
        Transport::Tcp.name(),
    ];
    assert_eq!(
        all,
        [
            "accounting_response",
            "bad_message_authenticator",
            "unknown_client",
            "connection_closed",
            "queue_full",
            "peer_closed",
            "timeout",
            "tcp",
        ]
    );
}

/// `/metrics` of `server`, once `ready` holds for it (bounded by [`e2e_support::WAIT`]).
fn metrics_when(server: &e2e_support::Server, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + e2e_support::WAIT;
    loop {
        let (status, text) = e2e_support::http(server.management(), "GET", "/metrics").unwrap();
        assert_eq!(status, 200, "{text}");
        if ready(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never got there:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_http_trigger_answered_by_a_nas_shows_in_the_reverse_metrics() {
    use e2e_support::{Ports, Server, adapt_config, http, metric_value, output_bounded};
    const BACKEND: &str = r#"backend="REVERSE_DYNAUTH_BACKEND""#;
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/http-trigger/boomerang.conf", ports),
        ports,
    );

    // No NAS yet: `no_connection`, counted but not timed (never sent).
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 500, "{body}");
    let text = metrics_when(&server, |t| {
        metric_value(t, "reverse_requests_total", &[BACKEND]) >= 1.0
    });
    assert_eq!(
        metric_value(
            &text,
            "reverse_requests_total",
            &[BACKEND, r#"outcome="no_connection""#]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "reverse_request_duration_seconds_count", &[BACKEND]),
        0.0,
        "{text}"
    );

    // A NAS connects and ACKs: `ack`, one latency sample.
    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let _ = output_bounded(nas, e2e_support::WAIT);
    let text = metrics_when(&server, |t| {
        metric_value(t, "reverse_requests_total", &[BACKEND, r#"outcome="ack""#]) >= 1.0
    });
    assert!(
        text.lines()
            .any(|l| l
                == r#"reverse_requests_total{backend="REVERSE_DYNAUTH_BACKEND",outcome="ack"} 1"#),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "reverse_request_duration_seconds_count", &[BACKEND]),
        1.0,
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with(
            r#"reverse_request_duration_seconds_bucket{le="+Inf",backend="REVERSE_DYNAUTH_BACKEND"} 1"#
        )),
        "{text}"
    );
    // The gauges are refreshed (at most twice a second) and back to zero. A refresh
    // may have caught the request in flight: wait for the one after it.
    let zero = [
        r#"reverse_in_flight{backend="REVERSE_DYNAUTH_BACKEND"} 0"#,
        r#"reverse_queue_depth{backend="REVERSE_DYNAUTH_BACKEND"} 0"#,
    ];
    let text = metrics_when(&server, |t| {
        t.contains(r#"identifiers_in_use{server="RADSEC_SERVER"}"#)
            && zero.iter().all(|line| t.lines().any(|l| l == *line))
    });
    assert!(text.contains(r#"identifiers_in_use{server="RADSEC_SERVER"}"#));
}

#[test]
fn every_backend_outcome_label_is_spelled_as_documented() {
    let spelled: Vec<&str> = BackendOutcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        spelled,
        [
            "ack",
            "nak",
            "timeout",
            "no_connection",
            "connection_closed",
            "queue_full",
            "error",
        ]
    );
}

#[test]
fn every_reverse_step_is_counted_under_its_documented_label() {
    let m = Metrics::new("0.1.0");
    for step in ReverseStep::ALL {
        m.reverse_step(step);
    }
    m.reverse_step(ReverseStep::Sent);
    let text = m.encode();
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/operations.md"
    ))
    .expect("docs/operations.md");
    let row = docs
        .lines()
        .find(|l| l.starts_with("| `reverse_steps_total`"))
        .expect("reverse_steps_total documented");
    for step in ReverseStep::ALL {
        let label = step.label();
        let want = if step == ReverseStep::Sent { 2 } else { 1 };
        assert!(
            text.contains(&format!("reverse_steps_total{{step=\"{label}\"}} {want}")),
            "{label} not counted:\n{text}"
        );
        assert!(
            row.contains(&format!("`{label}`")),
            "{label} not documented"
        );
    }
}
