//! Bounded resources through the real binary: idle sockets by the thousand from one
//! address do not take the descriptors that triggers, probes and NAS devices need;
//! floods of junk write a bounded number of log lines; an HTTP client that sends half
//! a request head, or a head whose body never comes (or comes a byte at a time), is
//! disconnected; the management API answers only allowed clients with the token, and
//! its pollers share the engine's views of the connections.

mod e2e_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use e2e_support::*;
use socket2::{Domain, Socket, Type};

const EXAMPLE: &str = "config/examples/http-trigger/boomerang.conf";
const UDP_EXAMPLE: &str = "config/examples/udp-trigger/boomerang.conf";

/// The daemon's limit of open files in the descriptor test.
const NOFILE: u32 = 512;
/// Idle connections opened to each listener: more than the daemon could hold.
const IDLE_PER_LISTENER: usize = 700;

/// Up to `n` connected TCP sockets from 127.0.0.2 (loopback, but not the address the
/// test's own clients use) to `addr`, held open without sending anything. A connect
/// the kernel does not complete within a second is skipped.
fn idle_sockets(addr: SocketAddr, n: usize) -> Vec<Socket> {
    let from: SocketAddr = "127.0.0.2:0".parse().unwrap();
    (0..n)
        .filter_map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
            s.bind(&from.into()).ok()?;
            s.connect_timeout(&addr.into(), Duration::from_secs(1))
                .ok()?;
            Some(s)
        })
        .collect()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Thousands of idle sockets (more than the daemon's descriptor limit) held to the
/// RadSec, HTTP and management listeners do not stop an HTTP trigger, `/live`, or a
/// new NAS that connects, handshakes, sends Status-Server and gets a Disconnect.
#[test]
fn idle_sockets_beyond_the_descriptor_limit_leave_room_for_triggers_probes_and_nas() {
    let ports = Ports::pick();
    let server = Server::start_with_nofile(&adapt_config(EXAMPLE, ports), ports, NOFILE);
    let mut held = Vec::new();
    for (what, port) in [
        ("RadSec", ports.radsec),
        ("HTTP", ports.http),
        ("management", ports.management),
    ] {
        let sockets = idle_sockets(loopback(port), IDLE_PER_LISTENER);
        assert!(
            sockets.len() > NOFILE as usize,
            "{what}: only {} idle connections were made",
            sockets.len()
        );
        held.extend(sockets);
    }

    let (status, body) = http(server.management(), "GET", "/live").expect("/live answers");
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .expect("the trigger is answered");
    assert_eq!(status, 200, "{body}");
    assert!(output_bounded(nas, WAIT).status.success());

    // The refusals were counted.
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    let refused = |server: &str, reason: &str| {
        metric_value(
            &metrics,
            "connections_refused_total",
            &[
                &format!("server=\"{server}\""),
                &format!("reason=\"{reason}\""),
            ],
        )
    };
    assert!(refused("HTTP_API", "not_allowed") > 0.0, "{metrics}");
    assert!(refused("RADSEC_SERVER", "per_source") > 0.0, "{metrics}");
    assert!(refused("management", "per_source") > 0.0, "{metrics}");
    drop(held);
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// 5,000 junk datagrams from an unknown client write a few warning lines, one of them
/// with the count of those suppressed, instead of one line each.
/// RADIUS/TCP with `timeout 0` (what reverse CoA needs) authenticates nothing
/// before the first packet: silent sockets by the hundred, more than the daemon's
/// descriptors, are refused at the listener's default connection limit, which
/// keeps descriptors free for `/live` and the metrics (the silent ones that got in
/// are closed after a minute: engine_streams).
#[test]
fn silent_sockets_on_a_radius_tcp_listener_without_idle_timeout_leave_descriptors_free() {
    let ports = Ports::pick();
    let config = format!(
        r#"
clients {{ radius "NAS" {{ client "any" {{ source {{ ip 127.0.0.0/8; }} secret "tcp-secret"; }} }} }}
servers {{
    radius "TCP_NAS" {{
        listen {{ protocol tcp; ip 127.0.0.1; port {tcp}; timeout 0; }}
        clients "NAS";
    }}
}}
aaa {{ policy "ACK" {{ handler "H" {{ @execute {{ accept; }} }} }} }}
management {{ listen {{ ip 127.0.0.1; port {management}; }} }}
"#,
        tcp = ports.radsec,
        management = ports.management,
    );
    let server = Server::start_with_nofile(&config, ports, NOFILE);
    let held = idle_sockets(loopback(ports.radsec), IDLE_PER_LISTENER);
    assert!(
        held.len() > NOFILE as usize,
        "only {} idle connections were made",
        held.len()
    );
    let (status, body) = http(server.management(), "GET", "/live").expect("/live answers");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    let refused = metric_value(
        &metrics,
        "connections_refused_total",
        &["server=\"TCP_NAS\"", "reason=\"connections\""],
    );
    assert!(refused > 0.0, "{metrics}");
    drop(held);
}

#[test]
fn a_flood_of_junk_datagrams_writes_a_bounded_number_of_warnings() {
    const JUNK: usize = 5_000;
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(UDP_EXAMPLE, ports), ports);
    let target = loopback(ports.udp);
    // 127.0.0.2 is not in LOCAL_CLIENTS (127.0.0.1, ::1): each datagram is dropped.
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    let mut wire = vec![40u8, 0, 0, 20];
    wire.extend_from_slice(&[0u8; 16]);
    for i in 0..JUNK {
        wire[1] = i as u8;
        stranger.send_to(&wire, target).unwrap();
        if i % 500 == 499 {
            // Let the daemon keep up, so that few are lost in the socket buffer.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Wait until the drops stop being counted.
    let deadline = Instant::now() + WAIT;
    let mut last = -1.0;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
        let dropped = metric_value(
            &metrics,
            "radius_dropped_total",
            &["server=\"RADIUS_UDP\"", "reason=\"unknown_client\""],
        );
        if dropped == last || Instant::now() > deadline {
            assert!(dropped > 1000.0, "only {dropped} drops counted");
            break;
        }
        last = dropped;
    }
    let (status, log) = server.terminate();
    assert!(status.success());
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("unknown client, dropped"))
        .collect();
    assert!(
        !lines.is_empty() && lines.len() <= 5,
        "{} warning lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    let suppressed: u64 = lines
        .iter()
        .filter_map(|l| {
            let (_, tail) = l.split_once("(… ")?;
            tail.split(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    assert!(
        suppressed as f64 + lines.len() as f64 >= last,
        "the suppressed count ({suppressed}) accounts for every drop ({last}):\n{}",
        lines.join("\n")
    );
}

/// Log lines of the server's stderr `log` that contain every one of `needles`, and the
/// failures they account for: one per line written for a failure, plus the counts of
/// the suppressed ones ("(… N more suppressed").
fn rate_limited_lines<'a>(log: &'a str, needles: &[&str]) -> (Vec<&'a str>, u64) {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect();
    let accounted = lines
        .iter()
        .map(|l| {
            let suppressed = l
                .split_once("(… ")
                .and_then(|(_, tail)| tail.split(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0);
            // A report of suppressed lines is not itself a failure.
            let written = u64::from(!l.contains("# stands for what varied"));
            written + suppressed
        })
        .sum();
    (lines, accounted)
}

/// Hundreds of failed TLS handshakes (junk instead of a ClientHello, or no client
/// certificate where one is required) on a RadSec and on an HTTPS listener write a few
/// `info` lines, each kind of failure once per 10 s window with the count of those
/// suppressed, instead of one line each; every failure is still accounted for.
#[test]
fn failed_tls_handshakes_write_a_bounded_number_of_log_lines() {
    const JUNK: usize = 100;
    const NO_CERTIFICATE: usize = 20;
    let ports = Ports::pick();
    let config = insert_after(
        &adapt_config(EXAMPLE, ports),
        "        clients \"HTTP_CLIENTS\";\n",
        "        tls { certificate \"SERVER_CERT\"; certificate_key \"SERVER_KEY\"; }\n",
    );
    let server = Server::start(&config, ports);
    for port in [ports.radsec, ports.http] {
        for _ in 0..JUNK {
            let mut junk = TcpStream::connect(loopback(port)).unwrap();
            junk.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            // The server fails the handshake and closes the connection.
            read_until_closed(&mut junk, "a connection that sent junk");
        }
    }
    for _ in 0..NO_CERTIFICATE {
        // TLS 1.3: our side may finish before the server refuses; either way it fails.
        if let Ok(mut tls) = server.radsec_connect(None) {
            let mut buf = [0u8; 64];
            let _ = tls.read(&mut buf);
        }
    }
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    for (needles, failures) in [
        (["RADSEC_SERVER", "TLS handshake"], JUNK + NO_CERTIFICATE),
        (["HTTP_API", "HTTPS handshake failed"], JUNK),
    ] {
        let needle = needles.join(" … ");
        let (lines, accounted) = rate_limited_lines(&log, &needles);
        assert!(
            !lines.is_empty() && lines.len() <= 10,
            "{needle}: {} lines for {failures} failed handshakes:\n{}",
            lines.len(),
            lines.join("\n")
        );
        assert!(
            lines.iter().all(|l| l.contains(" INFO ")),
            "{needle}: written at info level:\n{}",
            lines.join("\n")
        );
        assert!(
            accounted >= failures as u64,
            "{needle}: {accounted} failures accounted for, {failures} made:\n{}",
            lines.join("\n")
        );
    }
}

/// A client that sends half a request head is disconnected once the header timeout
/// (1 s here) has passed, without an answer; a complete request still is answered.
#[test]
fn an_http_client_that_sends_half_a_request_head_is_disconnected() {
    let ports = Ports::pick();
    let config = adapt_config(EXAMPLE, ports).replace("header_timeout 10s;", "header_timeout 1s;");
    assert!(
        config.contains("header_timeout 1s;"),
        "the example sets header_timeout"
    );
    let server = Server::start(&config, ports);
    let mut slow = TcpStream::connect(server.http_addr()).unwrap();
    slow.set_read_timeout(Some(WAIT)).unwrap();
    slow.write_all(b"POST /disconnect?nas_identifier=x HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let read = slow.read_to_end(&mut rest);
    assert!(
        read.as_ref().map_or_else(
            |e| e.kind() == std::io::ErrorKind::ConnectionReset,
            |_| true
        ),
        "closed by the server, not by our read timeout: {read:?}"
    );
    let text = String::from_utf8_lossy(&rest);
    assert!(!text.contains("HTTP/1.1 200"), "{text}");
    // The server still answers a well-behaved client.
    let (status, _) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=none",
    )
    .unwrap();
    assert_ne!(status, 0);
}

/// Everything the server sends on `stream` until it closes it; panics if the server
/// has not closed it within [`WAIT`] (our read timeout, not the server's close).
fn read_until_closed(stream: &mut TcpStream, what: &str) -> String {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // Our own unread body bytes may turn the close into a reset.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "{what}: not closed by the server ({e}); read so far: {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}

/// A request head announcing a 100-octet body, and then nothing or the body one octet
/// every 200 ms (each octet within the 1 s header timeout of the previous one, the
/// whole body in 20 s): both are answered 408 and closed once the header timeout of
/// the request has passed, so they cannot hold HTTP connections (and lock triggers
/// out). A request whose body comes at once is handled as before.
#[test]
fn an_http_request_whose_body_does_not_arrive_in_time_is_answered_408_and_closed() {
    const HEAD: &[u8] =
        b"POST /disconnect?nas_identifier=x&username=y HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
    let ports = Ports::pick();
    let config = adapt_config(EXAMPLE, ports).replace("header_timeout 10s;", "header_timeout 1s;");
    assert!(config.contains("header_timeout 1s;"));
    let server = Server::start(&config, ports);

    let mut silent = TcpStream::connect(server.http_addr()).unwrap();
    silent.write_all(HEAD).unwrap();
    let reply = read_until_closed(&mut silent, "a body that never comes");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );

    let mut slow = TcpStream::connect(server.http_addr()).unwrap();
    slow.write_all(HEAD).unwrap();
    let mut writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(200));
            // Fails once the server has closed the connection.
            if writer.write_all(b"x").is_err() {
                return;
            }
        }
    });
    let reply = read_until_closed(&mut slow, "a body trickled an octet at a time");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    drop(slow);
    trickle.join().unwrap();

    let mut whole = TcpStream::connect(server.http_addr()).unwrap();
    let mut request = HEAD.to_vec();
    request.extend_from_slice(&[b'x'; 100]);
    whole.write_all(&request).unwrap();
    whole.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = [0u8; 12];
    whole.read_exact(&mut head).unwrap();
    let status = String::from_utf8_lossy(&head).into_owned();
    assert!(status.starts_with("HTTP/1.1 "), "{status}");
    assert!(
        !status.contains("408"),
        "a whole body is not timed out: {status}"
    );
}

/// `engine_view_builds_total` now.
fn view_builds(server: &Server) -> u64 {
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("engine_view_builds_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no engine_view_builds_total in\n{metrics}"))
}

/// The connection ids `/api/v1/connections` lists.
fn listed_ids(server: &Server) -> Vec<u64> {
    let (status, body) = http(server.management(), "GET", "/api/v1/connections").unwrap();
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"))
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

/// 48 clients asking for `/api/v1/connections` at once are all answered with every
/// connection, and the engine task builds the view at most once per second for all of
/// them: builds start at least a second apart, so in the T seconds the requests took
/// there are at most 1 + T of them (the bound holds however slow the machine is; one
/// build per request, as before, would be 48).
#[test]
fn concurrent_connection_views_are_all_answered_from_shared_builds() {
    const CLIENTS: usize = 48;
    const NAS: usize = 4;
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let _nas: Vec<_> = (0..NAS)
        .map(|_| server.radsec_connect(Some("nas1")).unwrap())
        .collect();
    let deadline = Instant::now() + WAIT;
    let mut ids = listed_ids(&server);
    while ids.len() != NAS {
        assert!(
            Instant::now() < deadline,
            "{NAS} connections not listed: {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        ids = listed_ids(&server);
    }

    let before = view_builds(&server);
    let started = Instant::now();
    let go = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let go = go.clone();
            let management = server.management();
            std::thread::spawn(move || {
                go.wait();
                http(management, "GET", "/api/v1/connections")
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (status, body) = client.join().unwrap().unwrap();
        assert_eq!(status, 200, "client {i}: {body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let got: Vec<u64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        assert_eq!(got, ids, "client {i}");
    }
    let took = started.elapsed();
    let builds = view_builds(&server) - before;
    assert!(
        builds <= 1 + took.as_secs(),
        "{builds} views built for {CLIENTS} requests in {took:?}"
    );
}

/// `/metrics` and `/api/v1/connections` answer 403 to an address off the allow-list
/// and 401 without the token; `/live` and `/ready` answer everyone.
#[test]
fn the_management_api_needs_an_allowed_address_and_the_token() {
    let ports = Ports::pick();
    let config = adapt_config(EXAMPLE, ports).replace(
        "\nmanagement {\n",
        "\nmanagement {\n    allow { ip 127.0.0.1; }\n    token \"s3cret\";\n",
    );
    assert!(config.contains("s3cret"));
    let server = Server::start(&config, ports);
    let get = |from: &str, path: &str, token: Option<&str>| -> (u16, String) {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&format!("{from}:0").parse::<SocketAddr>().unwrap().into())
            .unwrap();
        s.connect_timeout(&server.management().into(), WAIT)
            .unwrap();
        let mut s: TcpStream = s.into();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, raw)
    };
    for path in ["/metrics", "/api/v1/connections"] {
        assert_eq!(get("127.0.0.2", path, Some("s3cret")).0, 403, "{path}");
        assert_eq!(get("127.0.0.1", path, None).0, 401, "{path}");
        assert_eq!(get("127.0.0.1", path, Some("wrong")).0, 401, "{path}");
        let (status, raw) = get("127.0.0.1", path, Some("s3cret"));
        assert_eq!(status, 200, "{path}: {raw}");
    }
    for path in ["/live", "/ready"] {
        assert_eq!(get("127.0.0.2", path, None).0, 200, "{path}");
    }
}
