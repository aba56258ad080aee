//! UDP servers (retransmission, matching, verification) and server selection
//! (fallback, round-robin, least-connections, no-fallback).

mod dialer_support;

use std::time::Duration;

use boomerang_core::contract::Transport;
use boomerang_core::engine::dialer::{DialerOutput, RequestToken, ServerRef};
use boomerang_core::eval::error::ErrorCode;
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::{RadiusServerDef, ServerSelection};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use dialer_support::*;

fn udp(name: &str, n: u8, priority: u32, timeout: Duration, retries: u32) -> RadiusServerDef {
    let mut s = server(name, Transport::Udp, n);
    s.priority = priority;
    s.timeout = timeout;
    s.retries = retries;
    s
}

fn one_udp(timeout: Duration, retries: u32) -> Harness {
    Harness::new(
        vec![backend(
            "UDP",
            ServerSelection::Fallback,
            vec![udp("u", 1, 0, timeout, retries)],
        )],
        &[],
        21,
    )
}

#[test]
fn retransmits_identically_on_schedule_then_times_out() {
    // timeout 3 s, retries 2: sent at 0, 1 s and 2 s; BACKEND_TIMEOUT at 3 s.
    let mut h = one_udp(Duration::from_secs(3), 2);
    h.send(0, access_request("a"), 1);
    let mut sends = vec![h.datagrams_to(ser(0))];
    for _ in 0..2 {
        h.advance(Duration::from_millis(999));
        assert!(h.datagrams_to(ser(0)).is_empty(), "too early");
        h.advance(Duration::from_millis(1));
        sends.push(h.datagrams_to(ser(0)));
    }
    assert!(sends.iter().all(|s| s.len() == 1));
    assert_eq!(
        sends[0], sends[1],
        "same identifier and authenticator (RFC 5080)"
    );
    assert_eq!(sends[1], sends[2]);
    h.advance(Duration::from_millis(999));
    assert!(h.outcomes().is_empty());
    h.advance(Duration::from_millis(1));
    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(failed_code(&outcomes[0]), Some(ErrorCode::BackendTimeout));
    assert!(h.datagrams_to(ser(0)).is_empty());
    let c = h.ob.counts();
    assert_eq!((c.pending_requests, c.ids_in_use, c.timers), (0, 0, 0));
}

#[test]
fn replies_are_matched_verified_and_mismatches_discarded() {
    let mut h = one_udp(Duration::from_secs(5), 1);
    h.send(0, access_request("a"), 1);
    let far = FarEnd::new(SECRET);
    let sent = h.datagrams_to(ser(0));
    let req = far.check(sent[0].clone());
    // Wrong secret, wrong source address, wrong identifier, wrong code: all dropped.
    h.datagram(
        ser(0),
        addr(1),
        &far.forged_answer(&req, Code::AccessAccept),
    );
    h.datagram(ser(0), addr(9), &far.answer(&req, Code::AccessAccept));
    let mut other = req.clone();
    other.identifier = req.identifier.wrapping_add(1);
    h.datagram(ser(0), addr(1), &far.answer(&other, Code::AccessAccept));
    h.datagram(ser(0), addr(1), &far.answer(&req, Code::AccountingResponse));
    h.datagram(ser(0), addr(1), &[1, 2, 3]);
    assert!(h.outcomes().is_empty());
    h.datagram(ser(0), addr(1), &far.answer(&req, Code::AccessAccept));
    let outcomes = h.outcomes();
    assert!(
        matches!(&outcomes[..], [DialerOutput::Reply { token: RequestToken(1), packet, .. }] if packet.code == Code::AccessAccept)
    );
    // A duplicate reply after completion is ignored.
    h.datagram(ser(0), addr(1), &far.answer(&req, Code::AccessAccept));
    assert!(h.outcomes().is_empty());
    assert_eq!(h.ob.counts().pending_requests, 0);
}

#[test]
fn fallback_tries_the_next_server_when_the_first_times_out() {
    let t = Duration::from_secs(2);
    let mut h = Harness::new(
        vec![backend(
            "UDP",
            ServerSelection::Fallback,
            // Configuration order differs from priority order.
            vec![udp("b", 2, 5, t, 0), udp("a", 1, 1, t, 0)],
        )],
        &[],
        22,
    );
    h.send(0, access_request("x"), 1);
    assert_eq!(h.datagrams_to(ser(1)).len(), 1, "lowest priority first");
    assert!(h.datagrams_to(ser(0)).is_empty());
    h.advance(t);
    let far = FarEnd::new(SECRET);
    let sent = h.datagrams_to(ser(0));
    assert_eq!(sent.len(), 1, "then the next one");
    assert!(h.outcomes().is_empty());
    let req = far.check(sent[0].clone());
    h.datagram(ser(0), addr(2), &far.answer(&req, Code::AccessAccept));
    let outcomes = h.outcomes();
    assert!(matches!(&outcomes[..], [DialerOutput::Reply { server, .. }] if *server == ser(0)));
}

#[test]
fn a_server_that_is_down_is_skipped_for_new_requests() {
    let t = Duration::from_secs(1);
    let mut h = Harness::new(
        vec![backend(
            "UDP",
            ServerSelection::Fallback,
            vec![udp("a", 1, 0, t, 0), udp("b", 2, 1, t, 0)],
        )],
        &[],
        23,
    );
    // Three requests time out on "a" together: it is down, and they move to "b".
    for tok in 0..3 {
        h.send(0, access_request("x"), tok);
    }
    assert_eq!(h.datagrams_to(ser(0)).len(), 3);
    h.advance(t);
    assert_eq!(
        h.datagrams_to(ser(1)).len(),
        3,
        "each request falls back to b"
    );
    let out = h.take();
    assert!(out.contains(&DialerOutput::ServerState {
        server: ser(0),
        up: false
    }));
    // Now "a" is down: a new request goes straight to "b".
    h.send(0, access_request("y"), 10);
    assert!(h.datagrams_to(ser(0)).is_empty());
    assert_eq!(h.datagrams_to(ser(1)).len(), 1);
}

#[test]
fn fallback_to_the_second_stream_server_when_the_first_cannot_connect() {
    let mut a = server("a", Transport::Tcp, 1);
    a.priority = 0;
    let mut b = server("b", Transport::Tcp, 2);
    b.priority = 1;
    let mut h = Harness::new(
        vec![backend("TCP", ServerSelection::Fallback, vec![a, b])],
        &[],
        24,
    );
    h.send(0, access_request("x"), 1);
    h.refuse_connect(); // "a"
    let (conn, server) = h.accept_connect();
    assert_eq!(server, ser(1));
    let mut far = FarEnd::new(SECRET);
    let sent = far.receive(&h.writes_to(conn));
    h.stream_data(conn, &far.answer(&sent[0], Code::AccessAccept));
    assert!(matches!(&h.outcomes()[..], [DialerOutput::Reply { .. }]));
    // While "a" backs off, new requests go to "b" at once.
    h.send(0, access_request("y"), 2);
    assert_eq!(h.writes_to(conn).len(), 1);
}

fn three(selection: ServerSelection) -> Harness {
    let t = Duration::from_secs(5);
    Harness::new(
        vec![backend(
            "UDP",
            selection,
            vec![
                udp("a", 1, 0, t, 0),
                udp("b", 2, 0, t, 0),
                udp("c", 3, 0, t, 0),
            ],
        )],
        &[],
        25,
    )
}

/// Which server each of `n` sends went to.
fn spread(h: &mut Harness, n: u64) -> Vec<u32> {
    let mut order = Vec::new();
    for tok in 0..n {
        h.send(0, access_request("x"), tok);
        for s in 0..3 {
            if !h.datagrams_to(ser(s)).is_empty() {
                order.push(s);
            }
        }
    }
    order
}

#[test]
fn round_robin_rotates_over_the_servers() {
    let mut h = three(ServerSelection::RoundRobin);
    assert_eq!(spread(&mut h, 7), [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn least_connections_takes_the_least_loaded() {
    let mut h = three(ServerSelection::LeastConnections);
    assert_eq!(spread(&mut h, 6), [0, 1, 2, 0, 1, 2]);
    // Once "b" has answered, it is the least loaded.
    let mut h = three(ServerSelection::LeastConnections);
    h.send(0, access_request("x"), 1);
    h.send(0, access_request("x"), 2);
    let on_b = h.datagrams_to(ser(1));
    let req: Packet = FarEnd::new(SECRET).check(on_b[0].clone());
    h.datagrams_to(ser(0));
    h.datagram(
        ser(1),
        addr(2),
        &FarEnd::new(SECRET).answer(&req, Code::AccessAccept),
    );
    h.outcomes();
    h.send(0, access_request("x"), 3);
    assert_eq!(
        h.datagrams_to(ser(1)).len(),
        1,
        "b has nothing in flight now"
    );
}

#[test]
fn fallback_always_prefers_the_first_live_server() {
    let mut h = three(ServerSelection::Fallback);
    assert_eq!(spread(&mut h, 4), [0, 0, 0, 0]);
}

#[test]
fn no_fallback_does_not_try_another_server() {
    let t = Duration::from_secs(1);
    let mut h = Harness::new(
        vec![backend(
            "UDP",
            ServerSelection::NoFallback,
            vec![udp("a", 1, 0, t, 0), udp("b", 2, 1, t, 0)],
        )],
        &[],
        26,
    );
    h.send(0, access_request("x"), 1);
    h.advance(t);
    let outcomes = h.outcomes();
    assert_eq!(failed_code(&outcomes[0]), Some(ErrorCode::BackendTimeout));
    assert!(h.datagrams_to(ser(1)).is_empty());
}

#[test]
fn refusals_are_immediate_errors() {
    let mut h = one_udp(Duration::from_secs(1), 0);
    let now = h.now();
    let err =
        h.ob.send(now, BackendId(7), access_request("x"), RequestToken(1))
            .unwrap_err();
    assert_eq!(err.code, ErrorCode::BackendError);
    let err =
        h.ob.send(
            now,
            BackendId(0),
            Packet::new(Code::AccessAccept, 0),
            RequestToken(2),
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
    let mut huge = access_request("x");
    for _ in 0..20 {
        huge.push(18, vec![b'x'; 250]);
    }
    let err =
        h.ob.send(now, BackendId(0), huge, RequestToken(3))
            .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
    assert!(h.take().is_empty());
}

#[test]
fn udp_status_probes_bring_a_down_server_back() {
    let mut s = udp("a", 1, 0, Duration::from_secs(1), 0);
    s.status = true;
    s.status_interval = Duration::from_secs(10);
    let mut h = Harness::new(
        vec![backend("UDP", ServerSelection::Fallback, vec![s])],
        &[],
        27,
    );
    let far = FarEnd::new(SECRET);
    let first = h.datagrams_to(ser(0));
    assert_eq!(far.check(first[0].clone()).code, Code::StatusServer);
    // Unanswered probes at 0, 1 and 2 s: down at 3 s.
    h.advance(Duration::from_secs(3));
    assert!(!h.ob.is_up(ser(0)));
    h.datagrams_to(ser(0));
    h.advance(Duration::from_secs(10));
    let probes = h.datagrams_to(ser(0));
    let probe = far.check(probes.last().unwrap().clone());
    assert_eq!(probe.code, Code::StatusServer);
    assert_eq!(probe.identifier, 0);
    h.datagram(
        ServerRef {
            backend: BackendId(0),
            server: 0,
        },
        addr(1),
        &far.answer(&probe, Code::AccessAccept),
    );
    assert!(h.ob.is_up(ser(0)));
    assert!(h.take().contains(&DialerOutput::ServerState {
        server: ser(0),
        up: true
    }));
}
