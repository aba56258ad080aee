//! Requests over dialed TCP/TLS connections: round trips, RFC 6613 close rules,
//! retries on a new connection, identifier exhaustion, and requests from the far end.

mod dialer_support;

use std::time::Duration;

use bytes::Bytes;

use boomerang_core::contract::{Output, Transport};
use boomerang_core::engine::dialer::{
    CloseReason, ConnId, DialerOutput, MAX_QUEUED_PER_SERVER, RequestToken, ServerRef,
    WATCHDOG_FAILURES,
};
use boomerang_core::eval::error::ErrorCode;
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::ServerSelection;
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::password::reveal_user_password;
use dialer_support::*;

const TIMEOUT: Duration = Duration::from_secs(5);

fn tcp(retries: u32, keep: bool) -> Harness {
    let mut s = server("up", Transport::Tcp, 1);
    s.retries = retries;
    s.timeout = TIMEOUT;
    let keep: &[u32] = if keep { &[0] } else { &[] };
    Harness::new(
        vec![backend("UP", ServerSelection::Fallback, vec![s])],
        keep,
        11,
    )
}

fn user_of(p: &Packet) -> String {
    String::from_utf8(p.first_value(1).unwrap().to_vec()).unwrap()
}

#[test]
fn round_trip_on_demand_tcp_with_hidden_password() {
    let mut h = tcp(0, false);
    assert!(
        h.take().is_empty(),
        "no connection before the first request"
    );
    let mut req = access_request("alice");
    req.push(2, Bytes::from_static(b"hunter2"));
    h.send(0, req, 1);
    let (conn, server) = h.accept_connect();
    let mut far = FarEnd::new(SECRET);
    let got = far.receive(&h.writes_to(conn));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].code, Code::AccessRequest);
    assert_eq!(user_of(&got[0]), "alice");
    let clear = reveal_user_password(
        got[0].first_value(2).unwrap(),
        SECRET.as_bytes(),
        &got[0].authenticator,
    )
    .unwrap();
    assert_eq!(clear, b"hunter2");
    h.stream_data(conn, &far.answer(&got[0], Code::AccessAccept));
    let outcomes = h.outcomes();
    match &outcomes[..] {
        [
            DialerOutput::Reply {
                token,
                server: s,
                request_authenticator,
                packet,
            },
        ] => {
            assert_eq!(*token, RequestToken(1));
            assert_eq!(*s, server);
            assert_eq!(*request_authenticator, got[0].authenticator);
            assert_eq!(packet.code, Code::AccessAccept);
            assert_eq!(packet.first_value(18).unwrap().as_ref(), b"ok");
        }
        other => panic!("{other:?}"),
    }
    let c = h.ob.counts();
    assert_eq!(
        (c.pending_requests, c.ids_in_use, c.request_timers),
        (0, 0, 0)
    );
    assert!(h.ob.owns(conn), "the connection stays for later requests");
}

#[test]
fn bad_authenticator_closes_the_connection_and_retries_in_flight_requests() {
    let mut h = tcp(1, true);
    let (conn, _) = h.accept_connect();
    h.send(0, access_request("a"), 1);
    h.send(0, access_request("b"), 2);
    let mut far = FarEnd::new(SECRET);
    let first = far.receive(&h.writes_to(conn));
    assert_eq!(first.len(), 2);
    h.stream_data(conn, &far.forged_answer(&first[0], Code::AccessAccept));
    let out = h.take();
    assert!(
        out.iter().any(|o| matches!(o, DialerOutput::Close { conn: c, reason: CloseReason::BadReply(_) } if *c == conn)),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|o| matches!(o, DialerOutput::Failed { .. })),
        "retried, not failed"
    );
    assert_eq!(h.ob.counts().queued_requests, 2);
    h.advance(Duration::from_secs(1));
    let (conn2, _) = h.accept_connect();
    assert_ne!(conn, conn2);
    let mut far2 = FarEnd::new(SECRET);
    let again = far2.receive(&h.writes_to(conn2));
    assert_eq!(again.len(), 2);
    for (old, new) in first.iter().zip(&again) {
        assert_eq!(user_of(old), user_of(new), "same order");
        assert_ne!(old.identifier, new.identifier, "new identifier");
        assert_ne!(old.authenticator, new.authenticator, "re-signed");
    }
    for p in &again {
        h.stream_data(conn2, &far2.answer(p, Code::AccessAccept));
    }
    let outcomes = h.outcomes();
    let tokens: Vec<u64> = outcomes.iter().map(token_of).collect();
    assert_eq!(tokens, vec![1, 2]);
    assert!(outcomes.iter().all(|o| failed_code(o).is_none()));
}

#[test]
fn server_close_fails_in_flight_with_connection_closed_when_no_retries() {
    let mut h = tcp(0, true);
    let (conn, _) = h.accept_connect();
    h.send(0, access_request("a"), 7);
    assert_eq!(h.writes_to(conn).len(), 1);
    let now = h.now();
    h.ob.handle_stream_closed(now, conn);
    let outcomes = h.outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(failed_code(&outcomes[0]), Some(ErrorCode::ConnectionClosed));
    assert!(
        !h.take()
            .iter()
            .any(|o| matches!(o, DialerOutput::Close { .. })),
        "no Close for a connection the peer closed"
    );
    assert_eq!(h.ob.counts().pending_requests, 0);
}

#[test]
fn server_close_retries_on_the_new_connection_with_a_new_identifier() {
    let mut h = tcp(1, true);
    let (conn, _) = h.accept_connect();
    h.send(0, access_request("a"), 7);
    let mut far = FarEnd::new(SECRET);
    let first = far.receive(&h.writes_to(conn));
    let now = h.now();
    h.ob.handle_stream_closed(now, conn);
    assert!(h.outcomes().is_empty());
    h.advance(Duration::from_secs(1));
    let (conn2, _) = h.accept_connect();
    let mut far2 = FarEnd::new(SECRET);
    let again = far2.receive(&h.writes_to(conn2));
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].identifier, first[0].identifier);
    assert_ne!(again[0].authenticator, first[0].authenticator);
    // A second close exhausts `retries 1`.
    let now = h.now();
    h.ob.handle_stream_closed(now, conn2);
    let outcomes = h.outcomes();
    assert_eq!(failed_code(&outcomes[0]), Some(ErrorCode::ConnectionClosed));
}

#[test]
fn identifier_exhaustion_queues_in_order_and_overflow_is_queue_full() {
    let mut h = tcp(0, true);
    let (conn, _) = h.accept_connect();
    let total = 256 + 3;
    for t in 0..total {
        h.send(0, access_request(&format!("u{t}")), t);
    }
    let mut far = FarEnd::new(SECRET);
    let sent = far.receive(&h.writes_to(conn));
    assert_eq!(
        sent.len(),
        256,
        "all 256 identifiers (no Status-Server reserved)"
    );
    let ids: std::collections::BTreeSet<u8> = sent.iter().map(|p| p.identifier).collect();
    assert_eq!(ids.len(), 256);
    assert_eq!(h.ob.counts().queued_requests, 3);
    // Overflow of the bounded queue.
    for t in 0..(MAX_QUEUED_PER_SERVER as u64 - 3) {
        h.send(0, access_request("filler"), 10_000 + t);
    }
    let now = h.now();
    let err =
        h.ob.send(now, BackendId(0), access_request("x"), RequestToken(99_999))
            .unwrap_err();
    assert_eq!(err.code, ErrorCode::QueueFull);
    // Answer three, out of order: the queue drains first-in first-out.
    for i in [200usize, 5, 77] {
        h.stream_data(conn, &far.answer(&sent[i], Code::AccessAccept));
    }
    let next = far.receive(&h.writes_to(conn));
    let users: Vec<String> = next.iter().map(user_of).collect();
    assert_eq!(users, ["u256", "u257", "u258"]);
    let reused: Vec<u8> = next.iter().map(|p| p.identifier).collect();
    assert_eq!(
        reused,
        [
            sent[200].identifier,
            sent[5].identifier,
            sent[77].identifier
        ]
    );
}

#[test]
fn an_incoming_coa_surfaces_verified_and_a_forged_one_closes_the_connection() {
    let mut s = server("hub", Transport::Tls, 1);
    s.status = true;
    let mut h = Harness::new(
        vec![backend("RADSEC", ServerSelection::Fallback, vec![s])],
        &[0],
        5,
    );
    let (conn, server) = h.accept_connect();
    h.writes_to(conn); // the first probe
    let mut far = FarEnd::new(SECRET);
    // What one input surfaced, and whether the machine wrote anything for it.
    let incoming = |h: &mut Harness| -> (Vec<(ConnId, ServerRef, Packet)>, bool) {
        let out = h.take();
        let wrote = out
            .iter()
            .any(|o| matches!(o, DialerOutput::Driver(Output::StreamWrite { .. })));
        let requests = out
            .into_iter()
            .filter_map(|o| match o {
                DialerOutput::IncomingRequest {
                    conn: c,
                    server: s,
                    packet,
                } => Some((c, s, packet)),
                _ => None,
            })
            .collect();
        (requests, wrote)
    };
    let (coa, bytes) = far.request(Code::CoaRequest, 9, "bob");
    h.stream_data(conn, &bytes);
    // Surfaced, and nothing written for it: the engine answers it (engine_nas.rs).
    assert_eq!(incoming(&mut h), (vec![(conn, server, coa)], false));
    let (disconnect, bytes) = far.request(Code::DisconnectRequest, 10, "carol");
    h.stream_data(conn, &bytes);
    assert_eq!(incoming(&mut h), (vec![(conn, server, disconnect)], false));
    // A forged request closes the connection and does not surface.
    let mut liar = FarEnd::new("wrong");
    let (_, bytes) = liar.request(Code::CoaRequest, 11, "eve");
    h.stream_data(conn, &bytes);
    assert!(incoming(&mut h).0.is_empty());
    assert!(!h.ob.owns(conn));
}

#[test]
fn unmatched_or_miscoded_replies_are_discarded_and_the_connection_stays() {
    let mut h = tcp(0, true);
    let (conn, _) = h.accept_connect();
    h.send(0, access_request("a"), 1);
    let mut far = FarEnd::new(SECRET);
    let sent = far.receive(&h.writes_to(conn));
    // A reply to an identifier not in flight.
    let mut other = sent[0].clone();
    other.identifier = sent[0].identifier.wrapping_add(1);
    h.stream_data(conn, &far.answer(&other, Code::AccessAccept));
    // A reply whose code does not answer the request.
    h.stream_data(conn, &far.answer(&sent[0], Code::CoaAck));
    // An unknown code.
    let mut unknown = vec![99u8, 1, 0, 20];
    unknown.extend([0u8; 16]);
    h.stream_data(conn, &unknown);
    assert!(h.ob.owns(conn));
    assert!(h.outcomes().is_empty());
    h.stream_data(conn, &far.answer(&sent[0], Code::AccessReject));
    let outcomes = h.outcomes();
    assert!(
        matches!(&outcomes[..], [DialerOutput::Reply { packet, .. }] if packet.code == Code::AccessReject)
    );
}

#[test]
fn late_reply_after_a_timeout_is_discarded_not_fatal() {
    let mut h = tcp(0, true);
    let (conn, _) = h.accept_connect();
    h.send(0, access_request("a"), 1);
    let mut far = FarEnd::new(SECRET);
    let sent = far.receive(&h.writes_to(conn));
    h.advance(TIMEOUT);
    let outcomes = h.outcomes();
    assert_eq!(failed_code(&outcomes[0]), Some(ErrorCode::BackendTimeout));
    h.stream_data(conn, &far.answer(&sent[0], Code::AccessAccept));
    assert!(h.ob.owns(conn));
    assert!(h.outcomes().is_empty());
}

#[test]
fn without_status_consecutive_request_timeouts_declare_the_connection_dead() {
    let mut h = tcp(0, true);
    let (conn, _) = h.accept_connect();
    for t in 0..u64::from(WATCHDOG_FAILURES) {
        h.send(0, access_request("a"), t);
        h.advance(TIMEOUT);
    }
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        DialerOutput::Close { conn: c, reason: CloseReason::WatchdogExpired { .. } } if *c == conn
    )));
    assert_eq!(
        out.iter()
            .filter(|o| failed_code(o) == Some(ErrorCode::BackendTimeout))
            .count(),
        usize::try_from(WATCHDOG_FAILURES).unwrap()
    );
}

#[test]
fn framing_and_decoding_errors_close_the_connection() {
    let mut h = tcp(0, true);
    let (conn, _) = h.accept_connect();
    h.stream_data(conn, &[2, 0, 0, 10]);
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        DialerOutput::Close {
            reason: CloseReason::Framing(_),
            ..
        }
    )));
    h.advance(Duration::from_secs(1));
    let (conn, _) = h.accept_connect();
    // Length 22 but an attribute of length 1.
    let mut bad = vec![2u8, 0, 0, 22];
    bad.extend([0u8; 16]);
    bad.extend([18, 1]);
    h.stream_data(conn, &bad);
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        DialerOutput::Close {
            reason: CloseReason::Malformed(_),
            ..
        }
    )));
}

#[test]
fn refused_on_demand_connection_fails_queued_requests() {
    let mut h = tcp(0, false);
    h.send(0, access_request("a"), 1);
    h.refuse_connect();
    let outcomes = h.outcomes();
    assert_eq!(failed_code(&outcomes[0]), Some(ErrorCode::BackendError));
    assert_eq!(h.ob.counts().pending_requests, 0);
}
