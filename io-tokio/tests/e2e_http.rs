//! HTTP triggers, management probes and graceful shutdown through the real binary.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::*;

const EXAMPLE: &str = "config/examples/http-trigger/boomerang.conf";

#[test]
fn http_trigger_answers_200_with_a_nas_and_500_naming_the_error_without() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);

    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("NO_REVERSE_CONNECTIONS"), "{body}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_ok(),
        "{body}"
    );

    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    // Methods are case-sensitive (RFC 9110 §9.1): `post` is not the `POST` the policy
    // asks for, and reaches no NAS (it answers one request, the next one's).
    let (status, body) = http(
        server.http_addr(),
        "post",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob%20smith",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_ok(),
        "{body}"
    );
    let nas = output_bounded(nas, WAIT);
    assert!(nas.status.success());
    let nas_out = String::from_utf8_lossy(&nas.stdout);
    assert!(nas_out.contains("\"User-Name\":\"bob smith\""), "{nas_out}");
}

#[test]
fn live_ready_and_metrics_report_the_traffic() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, _) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200);
    let _ = output_bounded(nas, WAIT);

    assert_eq!(http(server.management(), "GET", "/live").unwrap().0, 200);
    let (status, body) = http(server.management(), "GET", "/ready").unwrap();
    assert_eq!((status, body.trim()), (200, r#"{"ready":true}"#));
    let (status, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    for family in [
        r#"http_requests_total{server="HTTP_API",status="200"} 1"#,
        r#"connections_total{server="RADSEC_SERVER",transport="tls"} 1"#,
        r#"radius_requests_total{server="RADSEC_SERVER",code="Status-Server",result="accept"}"#,
        "build_info{",
        "uptime_seconds",
    ] {
        assert!(metrics.contains(family), "missing {family} in:\n{metrics}");
    }
    // The NAS exited after its answer: the connection is gone.
    let deadline = Instant::now() + WAIT;
    while !http(server.management(), "GET", "/api/v1/connections")
        .unwrap()
        .1
        .starts_with("[]")
    {
        assert!(Instant::now() < deadline, "connection still listed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_and_exits_0() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    // The NAS answers after 1.5 s, so the request is in flight when SIGTERM arrives.
    let nas = server.nas("nas1", &["--count", "1", "--delay", "1500ms"]);
    server.wait_for_nas("nas1");
    let addr = server.http_addr();
    let request = std::thread::spawn(move || {
        http(addr, "POST", "/disconnect?nas_identifier=nas1&username=bob").unwrap()
    });
    let deadline = Instant::now() + WAIT;
    while !http(server.management(), "GET", "/api/v1/connections")
        .unwrap()
        .1
        .contains("\"in_flight\":1")
    {
        assert!(Instant::now() < deadline, "request never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "exit {status}:\n{stderr}");
    let (code, body) = request.join().unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    let nas = output_bounded(nas, WAIT);
    assert!(String::from_utf8_lossy(&nas.stdout).contains("Disconnect-ACK"));
}

#[test]
fn a_listener_that_cannot_bind_stops_start_up_naming_server_and_address() {
    let ports = Ports::pick();
    let taken = std::net::TcpListener::bind(("127.0.0.1", ports.radsec)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    boomerang_io_tokio::pki::DevPki::generate(&dir.path().join("certs"), &[], &[]).unwrap();
    let conf = dir.path().join("boomerang.conf");
    std::fs::write(&conf, adapt_config(EXAMPLE, ports)).unwrap();
    let child = std::process::Command::new(BIN)
        .args(["run", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_bounded(child, WAIT);
    drop(taken);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "server `RADSEC_SERVER`: cannot listen on 127.0.0.1:{}",
        ports.radsec
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn sighup_with_a_broken_configuration_keeps_the_server_running() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    std::fs::write(server.dir.path().join("boomerang.conf"), "servers { broken").unwrap();
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Still serving afterwards (the reload is logged as failed).
    std::thread::sleep(Duration::from_millis(1000));
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=x&username=y",
    )
    .unwrap();
    assert_eq!(status, 500, "{body}");
    assert_eq!(http(server.management(), "GET", "/ready").unwrap().0, 200);
    let (status, stderr) = server.terminate();
    assert!(status.success());
    assert!(
        stderr.contains("SIGHUP: the configuration has errors"),
        "{stderr}"
    );
}

/// The status line of a raw HTTP/1.1 exchange on `addr`.
fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_body_over_the_limit_is_413_and_a_malformed_chunked_body_400() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let big = vec![b'x'; 70 * 1024];
    let mut request = format!(
        "POST /disconnect HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    request.extend_from_slice(&big);
    let status = raw_status(server.http_addr(), &request);
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let chunked = b"POST /disconnect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZZ\r\n";
    let status = raw_status(server.http_addr(), chunked);
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    // A query value whose escapes are not UTF-8 is refused, not sent on with
    // U+FFFD in place of its octets.
    let not_utf8 = b"POST /disconnect?username=%FF&nas_identifier=nas1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let status = raw_status(server.http_addr(), not_utf8);
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    // The server's own refusals are counted like the policy's answers.
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    for family in [
        r#"http_requests_total{server="HTTP_API",status="413"} 1"#,
        r#"http_requests_total{server="HTTP_API",status="400"} 2"#,
    ] {
        assert!(metrics.contains(family), "missing {family} in:\n{metrics}");
    }
}

/// A policy cannot frame the message or the connection: its `content-length`,
/// `transfer-encoding` and `connection` are not sent (the server frames the body it
/// sends), so two pipelined requests on one connection get two whole answers; a header
/// whose value HTTP cannot carry is left out. Each is logged, once per header.
#[test]
fn framing_headers_set_by_a_policy_are_not_sent_and_logged() {
    use std::io::{Read, Write};
    let ports = Ports::pick();
    let config = format!(
        r#"
management {{ listen {{ ip 127.0.0.1; port {mgmt}; }} }}
clients {{ http "HTTP_CLIENTS" {{ client "L" {{ source {{ ip 127.0.0.1; }} }} }} }}
servers {{ http "HTTP_API" {{ listen {{ protocol tcp; ip 127.0.0.1; port {http}; }} clients "HTTP_CLIENTS"; }} }}
aaa {{ policy "T" {{ conditions all {{ http.server == "HTTP_API"; }}
  handler "cl" {{ conditions all {{ http.path == "/cl"; }}
    @execute {{ modify http.response_header.Content-Length = "5"; modify http.response_header.Connection = "close"; modify http.response = "abcdefghij"; }} }}
  handler "te" {{ conditions all {{ http.path == "/te"; }}
    @execute {{ modify http.response_header.Transfer-Encoding = "chunked"; modify http.response = "klmnopqrst"; }} }}
  handler "nl" {{ conditions all {{ http.path == "/nl"; }}
    @execute {{ modify http.response_header.X-Test = "a\nb"; modify http.response_header.X-Kept = "yes"; modify http.response = "nl"; }} }}
  handler "plain" {{ conditions all {{ http.path == "/plain"; }}
    @execute {{ modify http.response = "plain"; }} }}
}} }}
"#,
        mgmt = ports.management,
        http = ports.http,
    );
    let server = Server::start(&config, ports);
    for first in ["/cl", "/te", "/nl"] {
        let mut s =
            std::net::TcpStream::connect_timeout(&server.http_addr(), Duration::from_secs(2))
                .unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(
            format!(
                "GET {first} HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        // Two answers, each framed by the server: the second is /plain's, whole.
        assert_eq!(raw.matches("http/1.1 200").count(), 2, "{first}: {raw}");
        assert!(raw.ends_with("\r\n\r\nplain"), "{first}: {raw}");
        let answer = raw
            .get(..raw.rfind("http/1.1 200").unwrap_or(0))
            .unwrap_or_default();
        assert!(!answer.contains("transfer-encoding"), "{first}: {raw}");
        assert!(!answer.contains("connection"), "{first}: {raw}");
        if first != "/nl" {
            assert!(answer.contains("content-length: 10\r\n"), "{first}: {raw}");
        }
        match first {
            "/cl" => assert!(raw.contains("\r\n\r\nabcdefghijhttp/1.1 200"), "{raw}"),
            "/te" => assert!(raw.contains("\r\n\r\nklmnopqrsthttp/1.1 200"), "{raw}"),
            _ => {
                assert!(raw.contains("x-kept: yes\r\n"), "{raw}");
                assert!(!raw.contains("x-test"), "{raw}");
            }
        }
    }
    // Again: the warnings are rate-limited, not repeated.
    let _ = raw_status(
        server.http_addr(),
        b"GET /cl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (_, log) = server.terminate();
    for header in ["content-length", "connection", "transfer-encoding"] {
        let line = format!("response header \"{header}\" set by the policy not sent");
        assert_eq!(log.matches(&line).count(), 1, "{line} in:\n{log}");
    }
    assert!(
        log.contains("response header \"x-test\" set by the policy not sent: its value"),
        "{log}"
    );
}

/// HTTP clients that close before the NAS answers: what their requests did stands,
/// and it is logged — once, then counted (any client can cause it, as often as it
/// likes), not once per request.
#[test]
fn answers_whose_callers_went_away_are_logged_rate_limited() {
    use std::io::Write;
    const CLIENTS: usize = 10;
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let mut nas = server.nas("nas1", &["--delay", "300ms"]);
    server.wait_for_nas("nas1");
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut s =
            std::net::TcpStream::connect_timeout(&server.http_addr(), Duration::from_secs(2))
                .unwrap();
        s.write_all(
            format!(
                "POST /disconnect?nas_identifier=nas1&username=u{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        clients.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    drop(clients);
    // Shutdown waits for the requests in flight, and reports what was suppressed.
    let (status, log) = server.terminate();
    let _ = nas.kill();
    let _ = nas.wait();
    assert!(status.success(), "{log}");
    let given_up = |l: &&str| l.contains("after its caller had given up");
    let lines: Vec<&str> = log.lines().filter(given_up).collect();
    let written = lines.iter().filter(|l| l.contains("HTTP request ")).count();
    assert_eq!(written, 1, "{log}");
    let rest = format!("(… {} more suppressed", CLIENTS - 1);
    assert!(lines.iter().any(|l| l.contains(&rest)), "{log}");
}
