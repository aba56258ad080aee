//! The request and drop metrics come from what the engine observed (its events),
//! through the real binary: Status-Server answers are counted as Status-Server over
//! UDP and over RadSec (never as Access-Request), a retransmission is a duplicate
//! drop and not a second answer, and every kind of datagram the engine discards is
//! counted under its reason.

mod e2e_support;

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use e2e_support::*;

const UDP_EXAMPLE: &str = "config/examples/udp-trigger/boomerang.conf";

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

fn udp_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket
}

/// Receive one RADIUS packet on `socket`.
fn receive(socket: &UdpSocket) -> Packet {
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    Packet::decode(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap()
}

#[test]
fn status_server_over_udp_and_radsec_is_counted_as_status_server() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(UDP_EXAMPLE, ports), ports);
    let udp: SocketAddr = ([127, 0, 0, 1], ports.udp).into();

    // UDP: answered once; the retransmission is answered from the duplicate cache
    // and counted as a duplicate drop, not as a second request.
    let socket = udp_socket();
    let mut status = Packet::new(Code::StatusServer, 7);
    let wire = sign_request(&mut status, "trigger-secret");
    socket.send_to(&wire, udp).unwrap();
    assert_eq!(receive(&socket).code, Code::AccessAccept);
    socket.send_to(&wire, udp).unwrap();
    let metrics = wait_metric(
        &server,
        "radius_dropped_total",
        &[r#"server="RADIUS_UDP""#, r#"reason="duplicate""#],
        1.0,
    );
    assert!(
        metrics.contains(
            r#"radius_requests_total{server="RADIUS_UDP",code="Status-Server",result="accept"} 1"#
        ),
        "{metrics}"
    );

    // RadSec: two Status-Servers on one connection, both answered.
    let mut nas = server.radsec_connect(Some("nas1")).unwrap();
    for id in [1, 2] {
        let mut status = Packet::new(Code::StatusServer, id);
        nas.write_all(&sign_request(&mut status, "radsec")).unwrap();
        assert_eq!(read_radius(&mut nas).unwrap().code, Code::AccessAccept);
    }
    let metrics = wait_metric(
        &server,
        "radius_requests_total",
        &[r#"server="RADSEC_SERVER""#, r#"code="Status-Server""#],
        2.0,
    );
    assert_eq!(
        metric_value(
            &metrics,
            "radius_requests_total",
            &[
                r#"server="RADSEC_SERVER""#,
                r#"code="Status-Server""#,
                r#"result="accept""#
            ],
        ),
        2.0,
        "{metrics}"
    );
    // No Access-Accept was taken for an Access-Request answer.
    assert_eq!(
        metric_value(
            &metrics,
            "radius_requests_total",
            &[r#"code="Access-Request""#]
        ),
        0.0,
        "{metrics}"
    );
}

#[test]
fn discarded_datagrams_are_counted_by_reason() {
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(UDP_EXAMPLE, ports), ports);
    let udp: SocketAddr = ([127, 0, 0, 1], ports.udp).into();
    let socket = udp_socket();

    // Too short to be a RADIUS packet.
    socket.send_to(&[40, 1, 0], udp).unwrap();
    // A reply code sent as if it were a request.
    let mut accept = Packet::new(Code::AccessAccept, 3);
    let wire = sign_response(&mut accept, &[0; 16], "trigger-secret");
    socket.send_to(&wire, udp).unwrap();
    // The wrong secret: a Status-Server's Message-Authenticator does not verify.
    let mut status = Packet::new(Code::StatusServer, 4);
    socket
        .send_to(&sign_request(&mut status, "wrong-secret"), udp)
        .unwrap();
    // The wrong secret: a Disconnect-Request without Message-Authenticator whose
    // Request Authenticator does not verify.
    let mut disconnect = Packet::new(Code::DisconnectRequest, 5);
    disconnect.push(1, b"bob".to_vec());
    let wire = boomerang_core::radius::auth::sign_request(
        &mut disconnect,
        b"wrong-secret",
        &mut boomerang_core::rng::SplitMix64::new(5),
        &boomerang_core::radius::auth::SignOptions {
            add_message_authenticator: false,
            ..boomerang_core::radius::auth::SignOptions::default()
        },
    )
    .unwrap();
    socket.send_to(&wire, udp).unwrap();

    for reason in [
        "malformed",
        "unknown_code",
        "bad_message_authenticator",
        "bad_authenticator",
    ] {
        let label = format!("reason=\"{reason}\"");
        let metrics = wait_metric(
            &server,
            "radius_dropped_total",
            &[r#"server="RADIUS_UDP""#, &label],
            1.0,
        );
        assert_eq!(
            metric_value(
                &metrics,
                "radius_dropped_total",
                &[r#"server="RADIUS_UDP""#, &label]
            ),
            1.0,
            "{reason}: {metrics}"
        );
    }
    // Nothing of it was a request handled.
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert_eq!(
        metric_value(
            &metrics,
            "radius_requests_total",
            &[r#"server="RADIUS_UDP""#]
        ),
        0.0,
        "{metrics}"
    );
}
