//! Reverse requests: timeouts, connection loss and retries, bad replies, strays,
//! RFC 5080 duplicate UDP triggers, identifier exhaustion with the FIFO backlog,
//! the bounded backlog, and the `@select` index against the plain scan.

mod engine_support;

use std::time::Duration;

use engine_support::*;

use boomerang_core::contract::{Event, Transport};
use boomerang_core::engine::{HttpRequestId, Limits};
use boomerang_core::eval::ir::{Action, Cond, Condition, ConnField, Expr};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::program::ClientProtocol;
use boomerang_core::radius::auth::{SignOptions, sign_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;

type World = ReverseWorld;

/// A TLS server for NASes, an HTTP trigger and a UDP trigger, both calling a
/// reverse backend that selects by NAS-Identifier (see [`ReverseWorld`]).
fn world(timeout: Duration, retries: u32, mode: SelectMode, limits: Limits) -> World {
    ReverseWorld::new(ReverseSpec {
        timeout,
        retries,
        mode,
        limits,
        ..ReverseSpec::default()
    })
}

/// A world whose connections queue up to 10,000 requests each.
fn deep_backlog_world(timeout: Duration) -> World {
    world(
        timeout,
        0,
        SelectMode::First,
        Limits {
            max_queue_per_connection: 10_000,
            ..Limits::default()
        },
    )
}

/// The UDP trigger client's address.
fn dac_addr() -> std::net::SocketAddr {
    addr([127, 0, 0, 1], 3799)
}

/// A Disconnect-Request for NAS `n1` (User-Name `u`, then `extra`) sent by the UDP
/// trigger client with identifier `id`: the request as the client signed it.
fn udp_disconnect(w: &mut World, id: u8, extra: &[(u8, Vec<u8>)]) -> Packet {
    let mut attrs = vec![(NAS_IDENTIFIER, b"n1".to_vec()), (USER_NAME, b"u".to_vec())];
    attrs.extend_from_slice(extra);
    let req = dac_request(Code::DisconnectRequest, id, &attrs, DAC_SECRET);
    let udp = w.udp;
    w.h.datagram(udp, dac_addr(), encode(&req));
    req
}

/// The NAS's answer `code` with `attrs` to `sent`, signed with the RadSec secret.
fn nas_answer(sent: &Packet, code: Code, attrs: &[(u8, Vec<u8>)]) -> bytes::Bytes {
    let mut reply = sent.new_reply(code);
    for (typ, value) in attrs {
        reply.push(*typ, value.clone());
    }
    sign_response(
        &mut reply,
        &sent.authenticator,
        b"radsec",
        &SignOptions::default(),
    )
    .unwrap()
}

fn default_world() -> World {
    world(
        Duration::from_secs(5),
        0,
        SelectMode::First,
        Limits::default(),
    )
}

#[test]
fn no_reply_in_time_is_reverse_timeout_and_the_identifier_rests() {
    let mut w = default_world();
    // Holds the request but answers the liveness probe (Status-Server) that follows
    // the timeout, so the connection stays healthy (see engine_liveness.rs).
    let c = w.nas(1, "n1", NasMode::Hold);
    let id = w.trigger("n1");
    assert_eq!(w.response(id), None);
    w.h.advance(Duration::from_millis(4999));
    assert_eq!(w.response(id), None);
    w.h.advance(Duration::from_millis(1));
    let (status, body) = w.response(id).unwrap();
    assert_eq!(status, 500);
    assert_eq!(body["error"], "REVERSE_TIMEOUT");
    assert_eq!(w.h.steps(ReverseStep::TimedOut), 1);
    // The identifier stays out of use for a while, so a late reply is discarded (counted as late).
    let snap = w.h.engine().connection(c).unwrap();
    assert_eq!((snap.in_flight, snap.ids_in_use), (0, 1));
    let late = w.h.requests_to(c)[0].clone();
    let reply = w.h.nas_mut(c).answer(&late, true).unwrap();
    w.h.send_raw(c, reply);
    assert_eq!(w.h.count(dropped(DropReason::LateReply)), 1);
    assert!(
        w.h.engine().connection(c).is_some(),
        "a stray keeps the connection"
    );
    w.h.advance(Duration::from_secs(5));
    assert_eq!(w.h.engine().connection(c).unwrap().ids_in_use, 0);
    w.h.assert_quiescent();
    assert_eq!(w.h.engine().counts().timers, 0);
}

#[test]
fn connection_closing_after_a_sign_of_life_is_connection_closed_without_retries() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let id = w.trigger("n1");
    // The NAS shows it is alive after the request was written: it may have seen it.
    w.h.status(c, Some("n1"));
    w.h.close(c);
    let (status, body) = w.response(id).unwrap();
    assert_eq!(status, 500);
    assert_eq!(body["error"], "CONNECTION_CLOSED");
    assert_eq!(w.h.steps(ReverseStep::Reselected), 0);
    w.h.assert_quiescent();
    assert_eq!(w.h.engine().counts().timers, 0);
}

#[test]
fn connection_closing_silently_selects_again_without_spending_a_retry() {
    // No retries configured. The NAS sends nothing after the request, then its
    // connection closes (a stale connection of a NAS that reconnected): the request
    // goes to the NAS's other connection.
    let mut w = default_world();
    let stale = w.nas(1, "n1", NasMode::Hold);
    let fresh = w.nas(2, "n1", NasMode::Ack);
    let id = w.trigger("n1");
    assert_eq!(w.h.requests_to(stale).len(), 1, "first connection first");
    w.h.close(stale);
    assert_eq!(w.h.requests_to(fresh).len(), 1, "selected again and sent");
    assert_eq!(w.response(id).unwrap().0, 200);
    assert_eq!(w.h.steps(ReverseStep::Reselected), 1);
    assert_eq!(w.h.steps(ReverseStep::Retried), 0);
    w.h.assert_quiescent();
}

#[test]
fn connection_closed_in_order_or_after_part_of_a_reply_is_not_sent_again_elsewhere() {
    // The NAS read the request, then ended its connection in order (FIN,
    // close_notify) without answering: it may have acted on it, so the request is
    // not sent to its other connection; and the same when only part of a reply
    // came before the connection failed.
    for partial in [false, true] {
        let mut w = default_world();
        let first = w.nas(1, "n1", NasMode::Hold);
        let other = w.nas(2, "n1", NasMode::Ack);
        let id = w.trigger("n1");
        assert_eq!(w.h.requests_to(first).len(), 1, "first connection first");
        if partial {
            w.h.send_raw(first, bytes::Bytes::from_static(&[41, 7, 0, 20, 0, 0]));
            w.h.close(first);
        } else {
            w.h.close_orderly(first);
        }
        let (status, body) = w.response(id).unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("CONNECTION_CLOSED"))
        );
        assert!(
            w.h.requests_to(other).is_empty(),
            "sent twice (partial {partial})"
        );
        assert_eq!(w.h.steps(ReverseStep::Reselected), 0);
        w.h.assert_quiescent();
    }
}

#[test]
fn connection_closing_silently_with_no_other_connection_is_connection_closed() {
    // Selected again for free, nothing to select: the request was written, then
    // its connection closed — that is the outcome, not NO_REVERSE_CONNECTIONS.
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let id = w.trigger("n1");
    w.h.close(c);
    let (status, body) = w.response(id).unwrap();
    assert_eq!(status, 500);
    assert_eq!(body["error"], "CONNECTION_CLOSED");
    w.h.assert_quiescent();
}

#[test]
fn connection_closing_first_is_retried_on_another_selected_connection() {
    let mut w = world(
        Duration::from_secs(5),
        1,
        SelectMode::First,
        Limits::default(),
    );
    let first = w.nas(1, "same", NasMode::Hold);
    let second = w.nas(2, "same", NasMode::Ack);
    let id = w.trigger("same");
    assert_eq!(w.h.requests_to(first).len(), 1);
    w.h.status(first, Some("same"));
    w.h.close(first);
    assert_eq!(w.h.requests_to(second).len(), 1, "re-selected and re-sent");
    assert_eq!(w.response(id).unwrap().0, 200);
    assert_eq!(w.h.steps(ReverseStep::Retried), 1);
    // The retry is a new request: new identifier space, new Message-Authenticator.
    w.h.assert_quiescent();
}

#[test]
fn retry_with_no_connection_left_is_connection_closed() {
    let mut w = world(
        Duration::from_secs(5),
        2,
        SelectMode::First,
        Limits::default(),
    );
    let c = w.nas(1, "n1", NasMode::Hold);
    let id = w.trigger("n1");
    w.h.close(c);
    assert_eq!(w.response(id).unwrap().1["error"], "CONNECTION_CLOSED");
    w.h.assert_quiescent();
}

#[test]
fn reply_failing_verification_closes_the_connection() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let id = w.trigger("n1");
    let req = w.h.requests_to(c)[0].clone();
    let mut bad = req.new_reply(Code::DisconnectAck);
    let data = sign_response(
        &mut bad,
        &req.authenticator,
        b"not-radsec",
        &SignOptions::default(),
    )
    .unwrap();
    w.h.send_raw(c, data);
    assert!(w.h.closes().contains(&c));
    assert_eq!(w.h.steps(ReverseStep::BadReply), 1);
    assert_eq!(w.response(id).unwrap().1["error"], "CONNECTION_CLOSED");
    w.h.assert_quiescent();
}

#[test]
fn reply_with_a_code_that_does_not_answer_is_a_stray() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let id = w.trigger("n1");
    let req: Packet = w.h.requests_to(c)[0].clone();
    w.h.send_raw(c, nas_answer(&req, Code::CoaAck, &[]));
    assert_eq!(w.h.count(dropped(DropReason::UnmatchedReply)), 1);
    assert_eq!(w.response(id), None, "still waiting");
    assert!(w.h.answer_held(c, false));
    let (status, body) = w.response(id).unwrap();
    assert_eq!(
        (status, body["result"].as_str()),
        (403, Some("reject")),
        "a NAK rejects"
    );
    w.h.assert_quiescent();
}

/// A Protocol-Error concerns one hop (RFC 7930; radiusdtls-bis: never forwarded):
/// the trigger gets the request's NAK with the NAS's Error-Cause instead of a code
/// its client does not know, and the connection stays.
#[test]
fn a_protocol_error_from_the_nas_answers_the_trigger_as_a_nak_with_its_error_cause() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let req = udp_disconnect(&mut w, 9, &[]);
    let sent = w.h.requests_to(c)[0].clone();
    let error_cause = (101, 502u32.to_be_bytes().to_vec());
    w.h.send_raw(c, nas_answer(&sent, Code::ProtocolError, &[error_cause]));
    let replies = w.h.datagrams();
    assert_eq!(replies.len(), 1);
    let reply = verified_reply(&replies[0], &req, DAC_SECRET);
    assert_eq!(reply.code, Code::DisconnectNak);
    assert_eq!(
        reply.first_value(101).map(|v| v.to_vec()),
        Some(502u32.to_be_bytes().to_vec()),
        "the NAS's Error-Cause"
    );
    assert!(!w.h.closes().contains(&c), "the connection stays");
    w.h.assert_quiescent();
}

/// A relayed NAK too long to send (the NAS's attributes plus the client's
/// Proxy-States past 4096 octets) becomes a NAK with Error-Cause 601 (Response Too
/// Big, RFC 7930) that still echoes the Proxy-States; a retransmission gets it
/// again from the duplicate cache.
#[test]
fn a_reply_too_long_to_send_becomes_a_nak_with_error_cause_601() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let proxy_states: Vec<_> = (0..3u8).map(|i| (33, vec![b'a' + i; 253])).collect();
    let req = udp_disconnect(&mut w, 11, &proxy_states);
    let sent = w.h.requests_to(c)[0].clone();
    let reply_messages = vec![(18, vec![b'm'; 250]); 15];
    w.h.send_raw(c, nas_answer(&sent, Code::DisconnectNak, &reply_messages));
    let replies = w.h.datagrams();
    assert_eq!(replies.len(), 1, "answered, not left to time out");
    let reply = verified_reply(&replies[0], &req, DAC_SECRET);
    assert_eq!(reply.code, Code::DisconnectNak);
    assert_eq!(
        reply.first_value(101).map(|v| v.to_vec()),
        Some(601u32.to_be_bytes().to_vec())
    );
    let echoed: Vec<_> = reply.all(33).map(|a| a.value.to_vec()).collect();
    assert_eq!(echoed.len(), 3, "the Proxy-States, in order");
    assert_eq!(echoed[0], vec![b'a'; 253]);
    let udp = w.udp;
    w.h.datagram(udp, dac_addr(), encode(&req));
    let replies = w.h.datagrams();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0], replies[1], "the same answer from the cache");
    assert_eq!(w.h.requests_to(c).len(), 1);
    w.h.assert_quiescent();
}

/// A connection that closes with thousands of requests pending makes several
/// events per request in one input, far more than the events the engine keeps
/// between inputs: a dispatcher that drains after every input still gets every one
/// (each request's end is counted in the metrics).
#[test]
fn a_close_with_thousands_pending_reports_every_request_that_ended() {
    let mut w = deep_backlog_world(Duration::from_secs(5));
    let c = w.nas(1, "n1", NasMode::Hold);
    let ids: Vec<HttpRequestId> = (0..5_000).map(|_| w.trigger("n1")).collect();
    w.h.close(c);
    assert_eq!(w.h.http_responses().len(), ids.len());
    let finished =
        w.h.count(|e| matches!(e, Event::BackendRequestFinished { .. }));
    assert_eq!(finished, ids.len(), "one event per request, none dropped");
    w.h.assert_quiescent();
}

/// RFC 5997 §3: a Status-Server sent to an accounting port (1813, or the older
/// 1646) is answered with Accounting-Response, elsewhere with Access-Accept.
#[test]
fn status_server_at_an_accounting_port_is_answered_with_accounting_response() {
    let mut w = default_world();
    let udp = w.udp;
    let cases = [
        (1812, Code::AccessAccept),
        (1813, Code::AccountingResponse),
        (1646, Code::AccountingResponse),
        (3799, Code::AccessAccept),
    ];
    for (i, (port, expected)) in cases.into_iter().enumerate() {
        let id = u8::try_from(i).unwrap();
        let req = dac_request(Code::StatusServer, id, &[], DAC_SECRET);
        let from = addr([127, 0, 0, 1], 5000 + u16::from(id));
        w.h.datagram_to(udp, from, addr([10, 0, 0, 1], port), encode(&req));
        let replies = w.h.datagrams();
        assert_eq!(replies.len(), i + 1, "port {port}: one answer");
        let reply = verified_reply(&replies[i], &req, DAC_SECRET);
        assert_eq!(reply.code, expected, "port {port}");
    }
    w.h.assert_quiescent();
}

#[test]
fn duplicate_udp_trigger_joins_then_gets_the_cached_reply() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    let udp = w.udp;
    let req = udp_disconnect(&mut w, 42, &[]);
    let from = dac_addr();
    w.h.datagram(udp, from, encode(&req));
    assert_eq!(w.h.requests_to(c).len(), 1, "joined, not executed twice");
    assert_eq!(w.h.count(dropped(DropReason::Duplicate)), 1);
    assert!(w.h.answer_held(c, true));
    assert_eq!(w.h.datagrams().len(), 1);
    w.h.datagram(udp, from, encode(&req));
    let replies = w.h.datagrams();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0], replies[1], "the cached reply, byte for byte");
    assert_eq!(
        w.h.requests_to(c).len(),
        1,
        "one trigger, one request to the NAS"
    );
    verified_reply(&replies[1], &req, DAC_SECRET);
    // Another port is another client: executed.
    w.h.datagram(udp, addr([127, 0, 0, 1], 3800), encode(&req));
    assert_eq!(w.h.requests_to(c).len(), 2);
    assert!(w.h.answer_held(c, true));
    // After the cache time the same request is new again.
    w.h.advance(Duration::from_secs(31));
    assert_eq!(w.h.engine().counts().duplicate_answers, 0);
    w.h.datagram(udp, from, encode(&req));
    assert_eq!(w.h.requests_to(c).len(), 3);
    assert!(w.h.answer_held(c, true));
    w.h.assert_quiescent();
}

#[test]
fn ten_thousand_requests_to_one_slow_nas_complete_in_order() {
    let mut w = deep_backlog_world(Duration::from_secs(3600));
    let c = w.nas(1, "slow", NasMode::Hold);
    let ids: Vec<HttpRequestId> = (0..10_000).map(|_| w.trigger("slow")).collect();
    let snap = w.h.engine().connection(c).unwrap();
    assert_eq!((snap.in_flight, snap.queued), (256, 10_000 - 256));
    while w.h.answer_held(c, true) {
        let snap = w.h.engine().connection(c).unwrap();
        assert!(snap.in_flight <= 256 && snap.ids_in_use <= 256);
    }
    let answered: Vec<HttpRequestId> = w.h.http_responses().iter().map(|r| r.0).collect();
    assert_eq!(answered, ids, "completed in submission order");
    assert!(w.h.http_responses().iter().all(|r| r.1 == 200));
    assert_eq!(w.h.nas(c).max_in_flight, 256);
    assert_eq!(w.h.nas(c).received.len(), 10_000);
    w.h.assert_quiescent();
}

#[test]
fn full_backlog_is_queue_full() {
    let mut w = world(
        Duration::from_secs(60),
        0,
        SelectMode::First,
        Limits {
            max_queue_per_connection: 3,
            ..Limits::default()
        },
    );
    let c = w.nas(1, "n", NasMode::Hold);
    let ids: Vec<HttpRequestId> = (0..260).map(|_| w.trigger("n")).collect();
    let refused = w.response(ids[259]).unwrap();
    assert_eq!(refused.1["error"], "QUEUE_FULL");
    assert_eq!(w.h.http_responses().len(), 1);
    assert_eq!(w.h.steps(ReverseStep::QueueFull), 1);
    assert_eq!(w.h.steps(ReverseStep::Sent), 256);
    while w.h.answer_held(c, true) {}
    assert_eq!(w.h.http_responses().len(), 260);
    assert_eq!(w.h.steps(ReverseStep::Sent), 259);
    assert_eq!(w.h.steps(ReverseStep::Replied), 259);
    w.h.assert_quiescent();
}

#[test]
fn the_select_index_gives_the_plain_scan_result() {
    // Same inputs through an engine with the index and one without: same outputs.
    let run = |index: bool| {
        let mut w = world(
            Duration::from_secs(5),
            0,
            SelectMode::RoundRobin,
            Limits {
                select_index: index,
                ..Limits::default()
            },
        );
        let mut conns = Vec::new();
        for i in 0..20u8 {
            conns.push(w.nas(i + 1, &format!("nas-{}", i % 4), NasMode::Ack));
        }
        for i in 0..50 {
            w.trigger(&format!("nas-{}", i % 5));
        }
        w.h.close(conns[5]);
        for i in 0..50 {
            w.trigger(&format!("nas-{}", i % 5));
        }
        w.h.assert_quiescent();
        (
            w.h.all_requests()
                .iter()
                .map(|(c, p)| (c.0, p.identifier))
                .collect::<Vec<_>>(),
            w.h.http_responses()
                .iter()
                .map(|r| (r.0, r.1))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn select_errors_reach_the_caller_unchanged() {
    // @select { error "boom"; }
    let mut b = ProgramBuilder::new();
    let nas_list = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas", "10.0.0.0/8", None)],
    );
    let radsec = b.radius_server("RADSEC", Transport::Tls, nas_list, Some(Duration::ZERO));
    let http = b.http_server("API", None);
    let backend = b.reverse_backend(
        "REV",
        "radsec",
        SelectMode::First,
        boomerang_core::eval::ir::Pipeline::new(vec![Action::Error(
            boomerang_core::eval::ir::Template::text("boom"),
        )]),
        vec![disconnect_query(Expr::str("u"))],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "P",
        None,
        vec![Action::Backend(backend_call(backend, "REV", Some(0)))],
        None,
    );
    let mut h = Harness::new(b.build());
    h.connect(
        radsec,
        addr([10, 0, 0, 1], 1),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    h.http(http, "POST", "/", &[]);
    let r = h.http_responses();
    assert_eq!(r[0].1, 500);
    assert_eq!(r[0].2["error"], "ERROR");
    assert_eq!(r[0].2["message"], "boom");
    h.assert_quiescent();
}

#[test]
fn current_connection_select_uses_the_index_by_id() {
    let plan =
        boomerang_core::reverse::index::SelectPlan::analyze(&accept_if(Condition::all(vec![
            Cond::eq(
                cf(ConnField::Id),
                var(boomerang_core::eval::ir::VarRef::CurrentConnection(
                    ConnField::Id,
                )),
            ),
        ])));
    assert_eq!(
        plan.map(|p| p.field()),
        Some(boomerang_core::reverse::index::IndexField::Id)
    );
    // A pipeline that logs for every candidate must be scanned in full.
    let logging = boomerang_core::eval::ir::Pipeline::new(vec![
        Action::Debug(boomerang_core::eval::ir::DebugTarget::Template(
            boomerang_core::eval::ir::Template::text("x"),
        )),
        Action::if_then(
            Condition::all(vec![Cond::eq(cf(ConnField::Id), Expr::int(1))]),
            vec![Action::accept()],
            Some(vec![Action::reject()]),
        ),
    ]);
    assert!(boomerang_core::reverse::index::SelectPlan::analyze(&logging).is_none());
}
