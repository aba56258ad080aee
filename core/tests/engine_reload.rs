//! `Engine::reload`: a new program for new work, while connections (with their facts
//! and identifier pools), requests in flight and the duplicate cache are kept; servers
//! are matched by name (their numbers may shift); connections of a removed server close.

mod engine_support;

use std::sync::Arc;
use std::time::Duration;

use engine_support::*;

use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::engine::{CloseReason, ConnId, HttpRequestId, Output, ReloadError};
use boomerang_core::eval::ir::Action;
use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::program::{ClientProtocol, Program, RadiusServerMode};
use boomerang_core::radius::code::Code;

/// What a program of these tests has: `extra` servers first (they shift the numbers
/// of the others), a RadSec server for NAS devices, an HTTP trigger, and a reverse
/// backend whose query sends `code` (a Disconnect- or CoA-Request) for
/// `http.query.user` to the NAS selected by `http.query.nas`.
struct Built {
    program: Arc<Program>,
    radsec: ServerId,
    http: ServerId,
}

fn program(extra: &[&str], code_name: &str, with_radsec: bool) -> Built {
    let mut b = ProgramBuilder::new();
    let nas = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas", "10.0.0.0/8", None)],
    );
    for name in extra {
        b.http_server(name, None);
    }
    let radsec = if with_radsec {
        b.radius_server("RADSEC", Transport::Tls, nas, Some(Duration::ZERO))
    } else {
        ServerId(u32::MAX)
    };
    let http = b.http_server("API", None);
    let mut query = disconnect_query(http_query("user"));
    query.bindings.assignments[0] = assign(req_code(), code(code_name));
    let backend = b.reverse_backend(
        "REV",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC", http_query("nas")),
        vec![query],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "HTTP",
        None,
        vec![Action::Backend(backend_call(backend, "REV", Some(0)))],
        None,
    );
    Built {
        program: b.build(),
        radsec,
        http,
    }
}

fn trigger(h: &mut Harness, http: ServerId) -> HttpRequestId {
    h.http(
        http,
        "POST",
        "/disconnect",
        &[("nas", "nas1"), ("user", "mikem")],
    )
}

fn status_of(h: &Harness, id: HttpRequestId) -> Option<u16> {
    h.http_responses()
        .into_iter()
        .find(|r| r.0 == id)
        .map(|r| r.1)
}

fn connect_nas(h: &mut Harness, radsec: ServerId, mode: NasMode) -> ConnId {
    let c = h.connect(
        radsec,
        addr([10, 0, 0, 7], 40000),
        Transport::Tls,
        vec![],
        "radsec",
        mode,
    );
    h.status(c, Some("nas1"));
    c
}

#[test]
fn a_request_in_flight_finishes_under_its_program_and_new_ones_run_under_the_new_one() {
    let a = program(&[], "DISCONNECT_REQUEST", true);
    let mut h = Harness::new(a.program.clone());
    let conn = connect_nas(&mut h, a.radsec, NasMode::Hold);
    let held = trigger(&mut h, a.http);
    assert_eq!(h.requests_to(conn).len(), 1);
    assert_eq!(h.requests_to(conn)[0].code, Code::DisconnectRequest);
    assert_eq!(status_of(&h, held), None, "the NAS holds its answer");
    let info_before = h.engine().connection(conn).unwrap().info;

    // B: two servers before the others (numbers shift by two), and a CoA-Request.
    let b = program(&["EXTRA1", "EXTRA2"], "COA_REQUEST", true);
    let now = h.now();
    let reloaded = h.engine_mut().reload(now, b.program.clone()).unwrap();
    h.settle();
    assert_eq!(reloaded.servers.get(&a.radsec), Some(&b.radsec));
    assert_eq!(reloaded.servers.get(&a.http), Some(&b.http));
    assert_ne!(a.radsec, b.radsec, "the numbers did shift");
    assert!(reloaded.closed.is_empty());
    assert!(h.closes().is_empty(), "no connection closed");
    // The connection keeps its facts (NAS-Identifier, connected time, id) and its
    // request in flight.
    let after = h.engine().connection(conn).unwrap();
    assert_eq!(after.info, info_before);
    assert_eq!(after.in_flight, 1);
    h.engine().check_invariants().unwrap();

    // The held request finishes under A: its task still holds A, whose backend and
    // query numbers it carries (B's differ in code), and its answer goes out.
    assert!(h.answer_held(conn, true));
    assert_eq!(status_of(&h, held), Some(200));

    // A new trigger arrives at B's number of the HTTP server and runs B's policy,
    // over the same connection (found by the NAS-Identifier it sent before).
    let fresh = trigger(&mut h, b.http);
    let sent = h.requests_to(conn);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].code, Code::CoaRequest);
    assert!(h.answer_held(conn, true));
    assert_eq!(status_of(&h, fresh), Some(200));
    // Status-Server on the kept connection is still handled (its server found under
    // B's number).
    h.status(conn, Some("nas1"));
    assert!(h.engine().connection(conn).is_some());
    h.engine().check_invariants().unwrap();
    assert_eq!(h.engine().counts().tasks, 0);
}

#[test]
fn a_removed_server_closes_its_connections_and_their_requests_end() {
    let a = program(&[], "DISCONNECT_REQUEST", true);
    let mut h = Harness::new(a.program.clone());
    let conn = connect_nas(&mut h, a.radsec, NasMode::Hold);
    let held = trigger(&mut h, a.http);
    assert_eq!(status_of(&h, held), None);

    let b = program(&[], "DISCONNECT_REQUEST", false);
    let now = h.now();
    let reloaded = h.engine_mut().reload(now, b.program.clone()).unwrap();
    h.settle();
    assert_eq!(reloaded.closed, vec![conn]);
    assert_eq!(reloaded.servers.get(&a.radsec), None);
    assert_eq!(h.closes(), vec![conn]);
    assert!(h.out().iter().any(|o| matches!(
        o,
        Output::StreamClose { conn: c, reason: CloseReason::Reconfigured(_) } if *c == conn
    )));
    assert!(h.engine().connections().is_empty());
    // The request in flight on it ends (no retries: CONNECTION_CLOSED → 500).
    assert_eq!(status_of(&h, held), Some(500));
    h.engine().check_invariants().unwrap();
    // New triggers find no NAS.
    let fresh = trigger(&mut h, b.http);
    assert_eq!(status_of(&h, fresh), Some(500));
}

#[test]
fn a_changed_connect_backend_is_refused_with_nothing_changed() {
    let a = program(&[], "DISCONNECT_REQUEST", true);
    let mut h = Harness::new(a.program.clone());
    let now = h.now();
    h.engine_mut().start(now);
    let conn = connect_nas(&mut h, a.radsec, NasMode::Ack);
    let mut changed = (*program(&[], "DISCONNECT_REQUEST", true).program).clone();
    // Turn the reverse server into a `connect` one: the dialer changes.
    let boomerang_core::lang::program::BackendKind::Radius(r) = &mut changed.backends[0].kind
    else {
        panic!("a RADIUS backend");
    };
    r.servers[0].mode = RadiusServerMode::Connect(boomerang_core::lang::program::Connect {
        protocol: Transport::Udp,
        host: None,
        ip: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        port: 1812,
        tls: None,
    });
    let now = h.now();
    assert_eq!(
        h.engine_mut().reload(now, Arc::new(changed)),
        Err(ReloadError::DialerChanged)
    );
    assert!(Arc::ptr_eq(h.engine().program(), &a.program));
    assert!(h.engine().connection(conn).is_some());
}

/// A RadSec server and a UDP trigger server after `extra` HTTP servers; the UDP
/// trigger's requests are proxied to the NAS whose NAS-Identifier they carry.
fn udp_program(extra: &[&str]) -> (Arc<Program>, ServerId, ServerId) {
    let mut b = ProgramBuilder::new();
    let nas = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas", "10.0.0.0/8", None)],
    );
    let dac = b.clients(
        "DAC",
        ClientProtocol::Radius,
        vec![client("dac", "127.0.0.1", Some("dac"))],
    );
    for name in extra {
        b.http_server(name, None);
    }
    let radsec = b.radius_server("RADSEC", Transport::Tls, nas, Some(Duration::ZERO));
    let udp = b.radius_server("UDP", Transport::Udp, dac, None);
    let backend = b.reverse_backend(
        "UDP_REV",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC", req_attr_var(NAS_IDENTIFIER)),
        vec![proxy_query()],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "UDP",
        None,
        vec![Action::Backend(backend_call(backend, "UDP_REV", Some(0)))],
        None,
    );
    (b.build(), radsec, udp)
}

#[test]
fn the_duplicate_cache_survives_a_reload_that_renumbers_the_udp_server() {
    let (a, radsec, udp_a) = udp_program(&[]);
    let mut h = Harness::new(a);
    let conn = connect_nas(&mut h, radsec, NasMode::Hold);
    let req = dac_request(
        Code::DisconnectRequest,
        7,
        &[
            (NAS_IDENTIFIER, b"nas1".to_vec()),
            (USER_NAME, b"u".to_vec()),
        ],
        "dac",
    );
    let from = addr([127, 0, 0, 1], 3799);
    h.datagram(udp_a, from, encode(&req));
    assert_eq!(h.requests_to(conn).len(), 1);

    // B puts a server before the others: the UDP server's number changes while its
    // request is in flight.
    let (b, _, udp_b) = udp_program(&["EXTRA"]);
    assert_ne!(udp_a, udp_b);
    let now = h.now();
    let reloaded = h.engine_mut().reload(now, b).unwrap();
    assert_eq!(reloaded.servers.get(&udp_a), Some(&udp_b));
    // A retransmission (arriving at the new number) joins the request in flight.
    h.datagram(udp_b, from, encode(&req));
    assert_eq!(h.requests_to(conn).len(), 1, "joined, not sent again");
    // The answer goes out under the server's new number.
    assert!(h.answer_held(conn, true));
    let sent: Vec<_> = h
        .out()
        .iter()
        .filter_map(|o| match o {
            Output::SendDatagram { server, .. } => Some(*server),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![udp_b]);
    // A later retransmission gets the cached reply; the NAS sees one request.
    h.datagram(udp_b, from, encode(&req));
    let replies = h.datagrams();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0], replies[1]);
    assert_eq!(h.requests_to(conn).len(), 1);
    h.engine().check_invariants().unwrap();
}
