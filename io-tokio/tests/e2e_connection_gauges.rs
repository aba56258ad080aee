//! `connections_active` must always equal what `/api/v1/connections` lists (once the
//! view, which may be up to a second old, catches up), whatever closed a connection:
//! the peer, the idle timeout, a protocol error, or a peer that stops reading until its
//! write queue fills (that close used to leave the gauge one too high and uncounted in
//! `connections_closed_total`).

mod e2e_support;

use std::io::Write;
use std::time::{Duration, Instant};

use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use e2e_support::*;

const ACCT_STATUS_TYPE: u8 = 40;
const ACCT_SESSION_ID: u8 = 44;

/// Idle timeout of the test's connections: long enough that a connection is seen in a
/// view built after it opened (a view is served again for up to a second).
const IDLE: Duration = Duration::from_secs(3);

/// RadSec with a 3 s idle timeout ([`IDLE`]), answering every Accounting-Request.
fn config(ports: Ports) -> String {
    format!(
        r#"certificates {{
    x509 "SERVER_CERT" {{ filename "certs/server.pem"; }}
    key "SERVER_KEY" {{ filename "certs/server.key"; }}
    x509 "CLIENT_CA" {{ filename "certs/ca.pem"; }}
}}
clients {{
    radius "NAS" {{
        client "ANY" {{ source {{ ip 127.0.0.0/8; }} }}
    }}
}}
servers {{
    radius "RADSEC_SERVER" {{
        clients "NAS";
        listen {{
            protocol tls;
            port {radsec};
            ip 127.0.0.1;
            timeout 3s;
            tls {{
                certificate "SERVER_CERT";
                certificate_key "SERVER_KEY";
                client_ca_certificate "CLIENT_CA";
                require_client_certificate true;
            }}
        }}
    }}
}}
aaa {{
    policy "ACCOUNTING" {{
        conditions all {{ radius.request.code == radius.ACCOUNTING_REQUEST; }}
        handler "ANSWER" {{ @execute {{ accept; }} }}
    }}
}}
management {{
    listen {{ ip 127.0.0.1; port {management}; }}
}}
"#,
        radsec = ports.radsec,
        management = ports.management
    )
}

/// The connection kept throughout (while `stream` is `Some`), kept alive by a
/// Status-Server at each [`settle`] poll.
struct Kept {
    stream: Option<RadsecStream>,
    id: u8,
}

impl Kept {
    /// Send a Status-Server (each with its own identifier: not a retransmission).
    fn ping(&mut self) {
        if let Some(stream) = &mut self.stream {
            let mut status = Packet::new(Code::StatusServer, self.id);
            self.id = self.id.wrapping_add(1);
            let _ = stream.write_all(&sign_request(&mut status, "radsec"));
        }
    }
}

/// Connections listed by the API and the sum of `connections_active`, once the two
/// agree on `want` (bounded); panics with both when they do not. Pings `kept` at each
/// poll, so that it outlives the wait.
fn settle(server: &Server, kept: &mut Kept, want: usize, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        kept.ping();
        let (_, listed) = http(server.management(), "GET", "/api/v1/connections").unwrap();
        let listed = serde_json::from_str::<serde_json::Value>(&listed)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(usize::MAX);
        let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
        let active = metric_value(&metrics, "connections_active", &[]);
        if listed == want && active == want as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {after}: /api/v1/connections lists {listed}, connections_active is {active}, expected {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn closed(server: &Server, reason: &str) -> f64 {
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    metric_value(
        &metrics,
        "connections_closed_total",
        &[&format!("reason=\"{reason}\"")],
    )
}

#[test]
fn the_connection_gauge_matches_the_connections_listed_after_every_kind_of_close() {
    let ports = Ports::pick();
    let server = Server::start(&config(ports), ports);
    // One connection kept throughout, so every check also sees a non-zero gauge.
    let mut kept = Kept {
        stream: Some(server.radsec_connect(Some("nas1")).unwrap()),
        id: 1,
    };
    settle(&server, &mut kept, 1, "the first connection");

    // The peer closes.
    let peer = server.radsec_connect(Some("nas1")).unwrap();
    settle(&server, &mut kept, 2, "a second connection");
    drop(peer);
    settle(&server, &mut kept, 1, "a peer close");
    assert!(closed(&server, "peer_closed") >= 1.0);

    // Idle timeout: a connection that sends nothing for 3 s. The kept one sends a
    // Status-Server every 300 ms meanwhile.
    let _idle = server.radsec_connect(Some("nas1")).unwrap();
    settle(&server, &mut kept, 2, "an idle connection");
    let until = Instant::now() + IDLE + Duration::from_millis(1500);
    while Instant::now() < until {
        kept.ping();
        std::thread::sleep(Duration::from_millis(300));
    }
    settle(&server, &mut kept, 1, "an idle timeout");
    assert!(closed(&server, "idle_timeout") >= 1.0);

    // A protocol error: a packet whose Length is below the RADIUS minimum.
    let mut bad = server.radsec_connect(Some("nas1")).unwrap();
    settle(
        &server,
        &mut kept,
        2,
        "a connection about to break the framing",
    );
    let _ = bad.write_all(&[4, 1, 0, 2]);
    let _ = bad.flush();
    settle(&server, &mut kept, 1, "a protocol error");
    assert!(closed(&server, "protocol_error") >= 1.0);

    // A peer that sends requests but never reads the answers: the server's write
    // queue for it fills and the server closes it.
    let mut deaf = server.radsec_connect(Some("nas1")).unwrap();
    deaf.sock
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    settle(&server, &mut kept, 2, "a connection that will not read");
    let mut sent = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) && sent < 2_000_000 {
        let mut req = Packet::new(Code::AccountingRequest, (sent % 256) as u8);
        req.push(ACCT_STATUS_TYPE, 3u32.to_be_bytes().to_vec());
        req.push(ACCT_SESSION_ID, format!("s{sent}").into_bytes());
        if deaf.write_all(&sign_request(&mut req, "radsec")).is_err() {
            break;
        }
        sent += 1;
        if sent.is_multiple_of(1000) && closed(&server, "write_queue_full") >= 1.0 {
            break;
        }
    }
    assert!(
        closed(&server, "write_queue_full") >= 1.0,
        "the server never gave up on a peer that does not read ({sent} requests sent)"
    );
    settle(&server, &mut kept, 1, "a write queue that filled");
    drop(deaf);
    kept.stream = None;
    settle(&server, &mut kept, 0, "every close");
}
