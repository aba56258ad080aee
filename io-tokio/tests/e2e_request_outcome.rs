//! Every request has a visible outcome, through the real binary: a request that ends
//! without a reply, by an uncaught error or by `ignore`, is counted in
//! `radius_requests_total` with `result="error"` or `result="ignored"` and logged
//! with why (info for an error, debug for ignore).

mod e2e_support;

use e2e_support::*;

const EXAMPLE: &str = "config/examples/udp-trigger/boomerang.conf";

/// The udp-trigger example plus a UDP server whose policy ignores everything.
fn config(ports: Ports, ignoring_port: u16) -> String {
    let mut text = adapt_config(EXAMPLE, ports);
    text.push_str(&format!(
        r#"
servers {{
    radius "IGNORING" {{
        listen {{
            protocol udp;
            port {ignoring_port};
            ip 127.0.0.1;
        }}
        clients "LOCAL_CLIENTS";
    }}
}}

aaa {{
    policy "IGNORE_ALL" {{
        conditions all {{
            radius.server == "IGNORING";
        }}
        handler "IGNORE" {{
            @execute {{
                ignore;
            }}
        }}
    }}
}}
"#
    ));
    text
}

#[test]
fn unanswered_requests_are_counted_and_logged_with_their_reason() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let ignoring = free_udp_port();
    let server = Server::start(&config(ports, ignoring), ports);

    // No NAS is connected: the relay fails with NO_REVERSE_CONNECTIONS, uncaught.
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "trigger-secret",
        "User-Name = \"mikem\", NAS-Identifier = \"nobody\"\n",
        1,
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Received"));
    // The policy ignores it.
    let out = radclient_disconnect(
        &radclient,
        ignoring,
        "trigger-secret",
        "User-Name = \"mikem\"\n",
        1,
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Received"));

    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert_eq!(
        metric_value(
            &metrics,
            "radius_requests_total",
            &[
                r#"server="RADIUS_UDP""#,
                r#"code="Disconnect-Request""#,
                r#"result="error""#
            ],
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        metric_value(
            &metrics,
            "radius_requests_total",
            &[
                r#"server="IGNORING""#,
                r#"code="Disconnect-Request""#,
                r#"result="ignored""#
            ],
        ),
        1.0,
        "{metrics}"
    );

    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    let error_line = log
        .lines()
        .find(|l| l.contains("ended without a reply: error NO_REVERSE_CONNECTIONS"))
        .unwrap_or_else(|| panic!("no log line for the error:\n{log}"));
    assert!(error_line.contains("INFO"), "{error_line}");
    assert!(error_line.contains("127.0.0.1"), "{error_line}");
    let ignored_line = log
        .lines()
        .find(|l| l.contains("ended without a reply: ignored"))
        .unwrap_or_else(|| panic!("no log line for the ignored request:\n{log}"));
    assert!(ignored_line.contains("DEBUG"), "{ignored_line}");
}
