//! The quota-disconnect example through the real binary, with the NAS written in the
//! test over its own RadSec connection: an interim Accounting-Request over quota is
//! answered with an Accounting-Response and then, on the same connection, a
//! Disconnect-Request for the session; one under quota only gets the response.

mod e2e_support;

use std::io::Write;

use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use e2e_support::*;

const EXAMPLE: &str = "config/examples/quota-disconnect/boomerang.conf";
const USER_NAME: u8 = 1;
const ACCT_STATUS_TYPE: u8 = 40;
const ACCT_INPUT_OCTETS: u8 = 42;
const ACCT_OUTPUT_OCTETS: u8 = 43;
const ACCT_SESSION_ID: u8 = 44;
const ACCT_INPUT_GIGAWORDS: u8 = 52;
/// Acct-Status-Type Interim-Update ("Alive").
const ALIVE: u32 = 3;

fn interim(id: u8, user: &str, session: &str, input: u32, output: u32) -> Vec<u8> {
    let mut p = Packet::new(Code::AccountingRequest, id);
    p.push(ACCT_STATUS_TYPE, ALIVE.to_be_bytes().to_vec());
    p.push(USER_NAME, user.as_bytes().to_vec());
    p.push(ACCT_SESSION_ID, session.as_bytes().to_vec());
    p.push(ACCT_INPUT_OCTETS, input.to_be_bytes().to_vec());
    p.push(ACCT_OUTPUT_OCTETS, output.to_be_bytes().to_vec());
    sign_request(&mut p, "radsec")
}

fn start() -> Server {
    let ports = Ports::pick();
    start_config(&adapt_config(EXAMPLE, ports), ports)
}

/// `config` (the example, adapted) with the example's database.
fn start_config(config: &str, ports: Ports) -> Server {
    Server::start_with(config, ports, |dir| {
        let db = rusqlite::Connection::open(dir.join("sessions.sqlite")).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let schema =
            std::fs::read_to_string(root.join("config/examples/quota-disconnect/schema.sql"))
                .unwrap();
        db.execute_batch(&schema).unwrap();
    })
}

#[test]
fn over_quota_interim_gets_response_then_disconnect_on_the_same_connection() {
    let server = start();
    let mut nas = server.radsec_connect(Some("nas1")).unwrap();

    // Under quota (600000 + 300000 <= 1000000): only the Accounting-Response.
    nas.write_all(&interim(7, "mikem", "sess-under", 600_000, 300_000))
        .unwrap();
    let reply = read_radius(&mut nas).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, 7)
    );

    // Over quota (800000 + 400000 > 1000000): the response first, then the
    // Disconnect-Request for this session on this connection. Had the first update
    // caused a Disconnect-Request, it would arrive here instead.
    nas.write_all(&interim(8, "mikem", "sess-over", 800_000, 400_000))
        .unwrap();
    let reply = read_radius(&mut nas).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, 8),
        "{reply:?}"
    );
    let request = read_radius(&mut nas).unwrap();
    assert_eq!(request.code, Code::DisconnectRequest, "{request:?}");
    assert_eq!(
        request.first_value(ACCT_SESSION_ID).map(|v| v.to_vec()),
        Some(b"sess-over".to_vec()),
        "{request:?}"
    );
    // The request is signed with the RadSec secret.
    assert!(
        boomerang_core::radius::auth::verify_request(&request, b"radsec", &Default::default())
            .is_ok(),
        "{request:?}"
    );
    let mut ack = request.new_reply(Code::DisconnectAck);
    nas.write_all(&sign_response(&mut ack, &request.authenticator, "radsec"))
        .unwrap();

    // The connection stays up and serves the next accounting request.
    nas.write_all(&interim(9, "mikem", "sess-under-2", 1, 1))
        .unwrap();
    let reply = read_radius(&mut nas).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, 9)
    );
}

/// The octet counters wrap at 4 GiB: a session with few octets but one wrap
/// (Acct-Input-Gigawords 1, RFC 2869 §5.1) is over a quota of 1,000,000 octets.
#[test]
fn gigawords_count_towards_the_quota() {
    let server = start();
    let mut nas = server.radsec_connect(Some("nas1")).unwrap();
    let mut p = Packet::new(Code::AccountingRequest, 3);
    p.push(ACCT_STATUS_TYPE, ALIVE.to_be_bytes().to_vec());
    p.push(USER_NAME, b"mikem".to_vec());
    p.push(ACCT_SESSION_ID, b"sess-wrapped".to_vec());
    p.push(ACCT_INPUT_OCTETS, 10u32.to_be_bytes().to_vec());
    p.push(ACCT_OUTPUT_OCTETS, 10u32.to_be_bytes().to_vec());
    p.push(ACCT_INPUT_GIGAWORDS, 1u32.to_be_bytes().to_vec());
    nas.write_all(&sign_request(&mut p, "radsec")).unwrap();
    let reply = read_radius(&mut nas).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, 3)
    );
    let request = read_radius(&mut nas).unwrap();
    assert_eq!(request.code, Code::DisconnectRequest, "{request:?}");
    assert_eq!(
        request.first_value(ACCT_SESSION_ID).map(|v| v.to_vec()),
        Some(b"sess-wrapped".to_vec()),
        "{request:?}"
    );
}

/// docs/operations.md: `reverse_requests_total{backend,outcome}` counts requests sent
/// through a RADIUS backend by how they ended, and
/// `reverse_request_duration_seconds{backend}` times those that were sent.
#[test]
fn the_quota_disconnect_is_counted_in_reverse_requests_total() {
    let server = start();
    let mut nas = server.radsec_connect(Some("nas1")).unwrap();
    nas.write_all(&interim(1, "mikem", "sess-over", 800_000, 400_000))
        .unwrap();
    let reply = read_radius(&mut nas).unwrap();
    assert_eq!(reply.code, Code::AccountingResponse);
    let request = read_radius(&mut nas).unwrap();
    assert_eq!(request.code, Code::DisconnectRequest);
    let mut ack = request.new_reply(Code::DisconnectAck);
    nas.write_all(&sign_response(&mut ack, &request.authenticator, "radsec"))
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
        if metric_value(
            &metrics,
            "reverse_requests_total",
            &["backend=\"CURRENT_CONNECTION\"", "outcome=\"ack\""],
        ) >= 1.0
        {
            // Sent once, answered: one latency sample, nothing else counted.
            assert_eq!(
                metric_value(
                    &metrics,
                    "reverse_request_duration_seconds_count",
                    &["backend=\"CURRENT_CONNECTION\""],
                ),
                1.0,
                "{metrics}"
            );
            assert_eq!(
                metric_value(&metrics, "reverse_requests_total", &[]),
                1.0,
                "{metrics}"
            );
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An over-quota interim on `nas`: the Accounting-Response, then the
/// Disconnect-Request for `session` on the same connection, acknowledged.
fn over_quota(nas: &mut RadsecStream, id: u8, session: &str) {
    nas.write_all(&interim(id, "mikem", session, 800_000, 400_000))
        .unwrap();
    let reply = read_radius(nas).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, id)
    );
    let request = read_radius(nas).unwrap();
    assert_eq!(request.code, Code::DisconnectRequest, "{request:?}");
    assert_eq!(
        request.first_value(ACCT_SESSION_ID).map(|v| v.to_vec()),
        Some(session.as_bytes().to_vec()),
        "{request:?}"
    );
    let mut ack = request.new_reply(Code::DisconnectAck);
    nas.write_all(&sign_response(&mut ack, &request.authenticator, "radsec"))
        .unwrap();
}

/// Nothing arrives on `nas` within half a second.
fn silent(nas: &mut RadsecStream) {
    nas.sock
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    if let Ok(p) = read_radius(nas) {
        panic!("nothing expected on this connection, got {p:?}");
    }
}

/// The number of connections in node `server`'s view of the cluster.
fn cluster_connections(server: &Server) -> usize {
    match http(
        server.management(),
        "GET",
        "/api/v1/connections?scope=cluster",
    ) {
        Ok((200, body)) => serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0),
        _ => 0,
    }
}

/// The quota example on a cluster of two nodes over a real nats-server: each node's
/// `@select` has the other node's NAS connection among its candidates, and
/// `connection.id == radius.connection.id` still picks the connection the accounting
/// came on (connection numbers are unique in the cluster), never the other node's.
#[test]
fn on_a_cluster_the_quota_disconnect_goes_back_over_the_accounting_connection_only() {
    let Some(nats_bin) = nats::nats_server() else {
        return;
    };
    let nats_port = nats::free_port();
    let _nats = nats::NatsServer::start(&nats_bin, nats_port, &[]);
    let node = |id: u16| {
        let ports = Ports::pick();
        let mut config = adapt_config(EXAMPLE, ports);
        config.push_str(&format!(
            "\ncluster {{\n    name \"quota\";\n    node \"n{id}\";\n    node_id {id};\n    heartbeat 200ms;\n    node_timeout 2s;\n    nats {{\n        server \"nats://127.0.0.1:{nats_port}\";\n        connect_timeout 1s;\n    }}\n}}\n"
        ));
        start_config(&config, ports)
    };
    let a = node(1);
    let b = node(2);
    let mut nas_a = a.radsec_connect(Some("nas1")).unwrap();
    let mut nas_b = b.radsec_connect(Some("nas1")).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while cluster_connections(&a) < 2 || cluster_connections(&b) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the nodes did not learn each other's connection"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    over_quota(&mut nas_a, 1, "sess-a");
    silent(&mut nas_b);
    over_quota(&mut nas_b, 2, "sess-b");
    silent(&mut nas_a);
}

/// An over-quota interim without Acct-Session-Id: the Accounting-Response, and no
/// Disconnect-Request — one naming no session could end every session of the NAS.
/// The example's binding is a template, so the call fails with MISSING_VALUE instead.
#[test]
fn an_interim_without_acct_session_id_sends_nothing_to_the_nas() {
    let server = start();
    let mut nas = server.radsec_connect(Some("nas1")).unwrap();
    let mut p = Packet::new(Code::AccountingRequest, 4);
    p.push(ACCT_STATUS_TYPE, ALIVE.to_be_bytes().to_vec());
    p.push(USER_NAME, b"mikem".to_vec());
    p.push(ACCT_INPUT_OCTETS, 2_000_000u32.to_be_bytes().to_vec());
    p.push(ACCT_OUTPUT_OCTETS, 0u32.to_be_bytes().to_vec());
    nas.write_all(&sign_request(&mut p, "radsec")).unwrap();
    let reply = read_radius(&mut nas).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, 4)
    );
    silent(&mut nas);
    // The same connection still gets the disconnect of a session that is named.
    nas.sock.set_read_timeout(Some(WAIT)).unwrap();
    over_quota(&mut nas, 5, "sess-named");
}
