//! What the daemon refuses, through the real binary, and that it keeps serving after:
//! a UDP trigger from an unknown source, malformed packets on a RadSec stream, an HTTP
//! client outside the allow-list (closed at accept), and a RadSec client without a
//! certificate.

mod e2e_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use e2e_support::*;

const UDP_EXAMPLE: &str = "config/examples/udp-trigger/boomerang.conf";
const HTTP_EXAMPLE: &str = "config/examples/http-trigger/boomerang.conf";
const USER_NAME: u8 = 1;
const NAS_IDENTIFIER: u8 = 32;

fn disconnect_request(id: u8) -> (Packet, Vec<u8>) {
    let mut p = Packet::new(Code::DisconnectRequest, id);
    p.push(USER_NAME, b"bob".to_vec());
    p.push(NAS_IDENTIFIER, b"nas1".to_vec());
    let wire = sign_request(&mut p, "trigger-secret");
    (p, wire)
}

/// Poll `/metrics` until `name` with `labels` reaches `at_least` (bounded).
fn wait_metric(server: &Server, name: &str, labels: &[&str], at_least: f64) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
        if metric_value(&metrics, name, labels) >= at_least {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} never reached {at_least}:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when the peer closed the stream (EOF or a reset/TLS alert), false when the
/// read merely timed out with the connection still open.
fn closed_by_peer(stream: &mut impl Read) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn udp_trigger_from_an_unknown_source_gets_no_reply_and_is_counted() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(UDP_EXAMPLE, ports), ports);
    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let target = SocketAddr::from(([127, 0, 0, 1], ports.udp));

    // 127.0.0.2 is loopback too, but not in LOCAL_CLIENTS (127.0.0.1, ::1).
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (_, wire) = disconnect_request(1);
    stranger.send_to(&wire, target).unwrap();
    let metrics = wait_metric(
        &server,
        "radius_dropped_total",
        &["server=\"RADIUS_UDP\"", "reason=\"unknown_client\""],
        1.0,
    );
    let mut buf = [0u8; 4096];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "an unknown client got a reply"
    );
    let _ = metrics;

    // A known client still gets the NAS's Disconnect-ACK.
    let friend = UdpSocket::bind("127.0.0.1:0").unwrap();
    friend.set_read_timeout(Some(WAIT)).unwrap();
    let (request, wire) = disconnect_request(2);
    friend.send_to(&wire, target).unwrap();
    let (n, _) = friend.recv_from(&mut buf).unwrap();
    let reply = Packet::decode(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
    assert_eq!((reply.code, reply.identifier), (Code::DisconnectAck, 2));
    assert!(
        boomerang_core::radius::auth::verify_response(
            &reply,
            &request.authenticator,
            b"trigger-secret",
            &Default::default()
        )
        .is_ok()
    );
    // The NAS answers one request and exits: had the stranger's trigger reached it,
    // the known client's would have found no NAS.
    let out = output_bounded(nas, WAIT);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("\"User-Name\":\"bob\"").count(),
        1,
        "{stdout}"
    );
}

#[test]
fn malformed_stream_packets_close_that_connection_only() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(HTTP_EXAMPLE, ports), ports);
    let good = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");

    // Length 10: below the 20-octet header.
    let mut short = Vec::from([4u8, 1, 0, 10]);
    short.extend_from_slice(&[0u8; 16]);
    // An Accounting-Request whose only attribute claims length 1.
    let mut bad_attr = Vec::from([4u8, 2, 0, 23]);
    bad_attr.extend_from_slice(&[0u8; 16]);
    bad_attr.extend_from_slice(&[1u8, 1, b'x']);
    // Attributes that do not fill the packet: the attribute claims 10 octets, 3 remain.
    let mut overrun = Vec::from([4u8, 3, 0, 23]);
    overrun.extend_from_slice(&[0u8; 16]);
    overrun.extend_from_slice(&[1u8, 10, b'x']);

    for (what, wire) in [
        ("length 10", short),
        ("attribute length 1", bad_attr),
        ("attribute overrunning the packet", overrun),
    ] {
        let mut bad = server
            .radsec_connect(Some("radiator-nas-simulator"))
            .unwrap();
        bad.sock
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        bad.write_all(&wire).unwrap();
        bad.flush().unwrap();
        assert!(
            closed_by_peer(&mut bad),
            "{what}: the server kept the connection open"
        );
    }

    // The closed connections leave the list (bounded wait); the good NAS's stays and
    // still works.
    let deadline = Instant::now() + WAIT;
    let list = loop {
        let (_, list) = http(server.management(), "GET", "/api/v1/connections").unwrap();
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        if list.as_array().unwrap().len() == 1 {
            break list;
        }
        assert!(Instant::now() < deadline, "{list}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(list[0]["status"]["nas_identifier"], "nas1", "{list}");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(output_bounded(good, WAIT).status.success());
    wait_metric(
        &server,
        "connections_closed_total",
        &["server=\"RADSEC_SERVER\"", "reason=\"protocol_error\""],
        3.0,
    );
}

/// One HTTP request from the source address `source` (via tokio, which can bind
/// before connecting).
fn http_from(source: &str, addr: SocketAddr, target: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let mut s = tokio::time::timeout(WAIT, socket.connect(addr))
            .await
            .unwrap()
            .unwrap();
        // A connection closed at accept may refuse the write: its answer is then none.
        let _ = s
            .write_all(
                format!(
                    "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut raw))
            .await
            .unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
        (status, body)
    })
}

#[test]
fn http_client_outside_the_allow_list_is_closed_at_accept_and_an_allowed_one_is_served() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(HTTP_EXAMPLE, ports), ports);
    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let target = "/disconnect?nas_identifier=nas1&username=bob";

    // The client list is applied to the bare connection: no answer, only the close.
    let (status, body) = http_from("127.0.0.2", server.http_addr(), target);
    assert_eq!(status, 0, "{body}");
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert_eq!(
        metric_value(
            &metrics,
            "connections_refused_total",
            &["server=\"HTTP_API\"", "reason=\"not_allowed\""]
        ),
        1.0,
        "{metrics}"
    );
    let (status, body) = http_from("127.0.0.1", server.http_addr(), target);
    assert_eq!(status, 200, "{body}");
    // The refused request never reached the NAS: its one answer went to the allowed one.
    let out = output_bounded(nas, WAIT);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("\"User-Name\":\"bob\"").count(),
        1,
        "{stdout}"
    );
}

#[test]
fn radsec_client_without_a_certificate_is_refused() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(HTTP_EXAMPLE, ports), ports);

    // TLS 1.3 finishes the client side of the handshake before the server checks the
    // (missing) certificate, so the refusal may show at connect or at the first read.
    match server.radsec_connect(None) {
        Err(_) => {}
        Ok(mut anon) => {
            let mut status = Packet::new(Code::StatusServer, 1);
            status.push(NAS_IDENTIFIER, b"anonymous".to_vec());
            let _ = anon.write_all(&sign_request(&mut status, "radsec"));
            let _ = anon.flush();
            assert!(
                closed_by_peer(&mut anon),
                "a RadSec client without a certificate was kept"
            );
        }
    }
    assert_eq!(
        http(server.management(), "GET", "/api/v1/connections")
            .unwrap()
            .1
            .trim(),
        "[]"
    );

    // A NAS with a certificate still gets in and is served.
    let good = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(output_bounded(good, WAIT).status.success());
}
