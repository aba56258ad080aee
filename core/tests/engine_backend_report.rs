//! What the engine reports about the requests it sends to RADIUS backends
//! (`Event::BackendRequestFinished`): one report per backend call with the right
//! backend, outcome and latency on the virtual clock; and the backend gauges
//! (`Engine::backend_gauges`). Reverse backends, and a UDP `connect` backend.

mod compile_support;
mod engine_support;

use std::time::Duration;

use engine_support::*;

use boomerang_core::contract::{ServerId, SqlRows};
use boomerang_core::engine::dialer::ServerRef;
use boomerang_core::engine::{BackendLoad, BackendOutcome, Event, Input, Limits, Output};
use boomerang_core::eval::ir::BackendId;
use boomerang_core::radius::code::Code;

type World = ReverseWorld;

/// The shared reverse world (see [`ReverseWorld`]) with its SQL backend.
fn world(timeout: Duration, retries: u32, limits: Limits) -> World {
    ReverseWorld::new(ReverseSpec {
        timeout,
        retries,
        limits,
        sql: true,
        ..ReverseSpec::default()
    })
}

fn default_world() -> World {
    world(Duration::from_secs(5), 0, Limits::default())
}

type Report = (BackendId, BackendOutcome, Option<Duration>);

/// Every backend report so far, in order.
fn reports(w: &World) -> Vec<Report> {
    w.h.events()
        .iter()
        .filter_map(|o| match o {
            Event::BackendRequestFinished {
                backend,
                outcome,
                latency,
            } => Some((*backend, *outcome, *latency)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_ack_is_reported_once_with_the_time_since_it_was_sent() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    w.trigger("n1");
    assert_eq!(reports(&w), vec![], "nothing before the reply");
    w.h.advance(Duration::from_millis(250));
    assert!(w.h.answer_held(c, true));
    assert_eq!(
        reports(&w),
        vec![(
            w.http_rev,
            BackendOutcome::Ack,
            Some(Duration::from_millis(250))
        )]
    );
    w.h.assert_quiescent();
}

#[test]
fn a_nak_is_reported_as_nak() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    w.trigger("n1");
    w.h.advance(Duration::from_millis(40));
    assert!(w.h.answer_held(c, false));
    assert_eq!(
        reports(&w),
        vec![(
            w.http_rev,
            BackendOutcome::Nak,
            Some(Duration::from_millis(40))
        )]
    );
}

#[test]
fn no_reply_in_time_is_a_timeout_after_the_server_timeout() {
    let mut w = world(Duration::from_secs(3), 0, Limits::default());
    w.nas(1, "n1", NasMode::Silent);
    w.trigger("n1");
    w.h.advance(Duration::from_millis(2999));
    assert_eq!(reports(&w), vec![]);
    w.h.advance(Duration::from_millis(1));
    assert_eq!(
        reports(&w),
        vec![(
            w.http_rev,
            BackendOutcome::Timeout,
            Some(Duration::from_secs(3))
        )]
    );
}

#[test]
fn a_connection_closing_under_the_request_is_connection_closed() {
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    w.trigger("n1");
    w.h.advance(Duration::from_millis(10));
    // The NAS shows life after the request (so it may have seen it), then closes.
    w.h.status(c, Some("n1"));
    w.h.close(c);
    assert_eq!(
        reports(&w),
        vec![(
            w.http_rev,
            BackendOutcome::ConnectionClosed,
            Some(Duration::from_millis(10))
        )]
    );
    w.h.assert_quiescent();
}

#[test]
fn a_silent_connection_closing_under_the_request_is_connection_closed() {
    // Nothing came back after the request: it is selected again, and with no other
    // connection of the NAS the outcome is the close (the request was written), timed
    // from the first send.
    let mut w = default_world();
    let c = w.nas(1, "n1", NasMode::Hold);
    w.trigger("n1");
    w.h.advance(Duration::from_millis(10));
    w.h.close(c);
    assert_eq!(
        reports(&w),
        vec![(
            w.http_rev,
            BackendOutcome::ConnectionClosed,
            Some(Duration::from_millis(10))
        )]
    );
    w.h.assert_quiescent();
}

#[test]
fn a_retried_request_is_reported_once_timed_from_its_first_send() {
    let mut w = world(Duration::from_secs(5), 1, Limits::default());
    let first = w.nas(1, "same", NasMode::Hold);
    let second = w.nas(2, "same", NasMode::Hold);
    w.trigger("same");
    w.h.advance(Duration::from_millis(100));
    w.h.close(first);
    assert_eq!(reports(&w), vec![], "retried, not over");
    w.h.advance(Duration::from_millis(20));
    assert!(w.h.answer_held(second, true));
    assert_eq!(
        reports(&w),
        vec![(
            w.http_rev,
            BackendOutcome::Ack,
            Some(Duration::from_millis(120))
        )]
    );
}

#[test]
fn no_selected_connection_is_no_connection_without_latency() {
    let mut w = default_world();
    w.trigger("nobody");
    assert_eq!(
        reports(&w),
        vec![(w.http_rev, BackendOutcome::NoConnection, None)]
    );
}

#[test]
fn a_full_backlog_is_queue_full_without_latency() {
    let mut w = world(
        Duration::from_secs(60),
        0,
        Limits {
            max_queue_per_connection: 1,
            ..Limits::default()
        },
    );
    let c = w.nas(1, "n", NasMode::Hold);
    for _ in 0..258 {
        w.trigger("n");
    }
    assert_eq!(
        reports(&w),
        vec![(w.http_rev, BackendOutcome::QueueFull, None)]
    );
    while w.h.answer_held(c, true) {}
    let all = reports(&w);
    assert_eq!(all.len(), 258, "one report per call");
    assert_eq!(
        all.iter()
            .filter(|r| r.1 == BackendOutcome::Ack && r.2.is_some())
            .count(),
        257
    );
}

#[test]
fn each_report_names_the_backend_the_policy_called() {
    let mut w = default_world();
    w.nas(1, "n1", NasMode::Ack);
    w.trigger("n1");
    let req = dac_request(
        Code::DisconnectRequest,
        7,
        &[
            (NAS_IDENTIFIER, b"n1".to_vec()),
            (USER_NAME, b"bob".to_vec()),
        ],
        DAC_SECRET,
    );
    let udp = w.udp;
    w.h.datagram(udp, addr([127, 0, 0, 1], 40000), encode(&req));
    assert_eq!(
        reports(&w),
        vec![
            (w.http_rev, BackendOutcome::Ack, Some(Duration::ZERO)),
            (w.udp_rev, BackendOutcome::Ack, Some(Duration::ZERO)),
        ]
    );
}

#[test]
fn sql_backend_calls_are_not_reported() {
    let mut w = default_world();
    w.h.set_sql(Box::new(|_, _| Ok(SqlRows::default())));
    let http = w.http;
    w.h.http(http, "POST", "/sql", &[]);
    assert_eq!(w.h.sql_log().len(), 1, "the SQL backend was called");
    assert_eq!(reports(&w), vec![]);
    assert!(w.sql.is_some());
}

#[test]
fn gauges_count_in_flight_and_queued_per_backend_and_identifiers_per_server() {
    let mut w = world(
        Duration::from_secs(60),
        0,
        Limits {
            max_queue_per_connection: 10,
            ..Limits::default()
        },
    );
    let idle = w.h.engine().backend_gauges();
    assert_eq!(
        idle.backends.keys().copied().collect::<Vec<_>>(),
        vec![w.http_rev, w.udp_rev],
        "every RADIUS backend, SQL ones left out"
    );
    assert!(idle.backends.values().all(|l| *l == BackendLoad::default()));
    assert_eq!(
        idle.identifiers.into_iter().collect::<Vec<_>>(),
        vec![(w.radsec, 0)],
        "every stream server, UDP ones left out"
    );
    assert!(idle.servers_up.is_empty(), "no connect server");

    let c = w.nas(1, "n", NasMode::Hold);
    for _ in 0..260 {
        w.trigger("n");
    }
    let g = w.h.engine().backend_gauges();
    assert_eq!(
        g.backends[&w.http_rev],
        BackendLoad {
            in_flight: 256,
            queued: 4
        }
    );
    assert_eq!(g.backends[&w.udp_rev], BackendLoad::default());
    assert_eq!(g.identifiers[&w.radsec], 256);

    // A timeout frees the request but its identifier rests.
    w.h.close(c);
    // (The NAS holds the request but answers the liveness probe that follows the
    // timeout, whose identifier is free again at once.)
    let c = w.nas(2, "n", NasMode::Hold);
    w.trigger("n");
    w.h.advance(Duration::from_secs(60));
    let g = w.h.engine().backend_gauges();
    assert_eq!(g.backends[&w.http_rev], BackendLoad::default());
    assert_eq!(g.identifiers[&w.radsec], 1, "resting on {c}");
    w.h.advance(Duration::from_secs(60));
    assert_eq!(w.h.engine().backend_gauges().identifiers[&w.radsec], 0);
}

// ------------------------------------------------------- a UDP `connect` backend

const UPSTREAM: &str = r#"
clients {
    radius "LOCAL" {
        client "LOCALHOST" { source { ip 127.0.0.1; } secret "client-secret"; }
    }
}
servers {
    radius "UDP_IN" {
        listen { protocol udp; port 1812; ip 0.0.0.0; }
        clients "LOCAL";
    }
}
backends {
    radius "UPSTREAM" {
        server "U1" {
            secret "upstream-secret";
            timeout 3s;
            retries 0;
            connect { protocol udp; ip 192.0.2.10; port 1812; }
        }
    }
}
aaa {
    policy "P" {
        handler "H" {
            @execute {
                backend "UPSTREAM";
            }
        }
    }
}
"#;

/// A harness proxying UDP Access-Requests to `UPSTREAM`, and that backend's id.
fn upstream_world() -> (Harness, ServerId, BackendId) {
    let program = compile_support::program(UPSTREAM);
    let udp = ServerId(
        program
            .servers
            .iter()
            .position(|s| s.name == "UDP_IN")
            .unwrap() as u32,
    );
    let (backend, _) = program.backend_by_name("UPSTREAM").unwrap();
    (Harness::new(std::sync::Arc::new(program)), udp, backend)
}

/// A client's Access-Request to `UDP_IN`; returns what went to the upstream.
fn proxied(
    h: &mut Harness,
    udp: ServerId,
    id: u8,
) -> (ServerRef, boomerang_core::radius::packet::Packet) {
    let req = dac_request(
        Code::AccessRequest,
        id,
        &[(USER_NAME, b"alice".to_vec())],
        "client-secret",
    );
    h.datagram(udp, addr([127, 0, 0, 1], 6000), encode(&req));
    let sent: Vec<_> = h
        .out()
        .iter()
        .filter_map(|o| match o {
            Output::BackendDatagram { server, data, .. } => Some((
                *server,
                boomerang_core::radius::packet::Packet::decode(data.clone()).unwrap(),
            )),
            _ => None,
        })
        .collect();
    sent.last().cloned().unwrap()
}

fn harness_reports(h: &Harness) -> Vec<Report> {
    h.events()
        .iter()
        .filter_map(|o| match o {
            Event::BackendRequestFinished {
                backend,
                outcome,
                latency,
            } => Some((*backend, *outcome, *latency)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_connect_backend_reply_is_reported_with_its_round_trip() {
    let (mut h, udp, upstream) = upstream_world();
    let (server, up) = proxied(&mut h, udp, 1);
    let g = h.engine().backend_gauges();
    assert_eq!(
        g.backends[&upstream],
        BackendLoad {
            in_flight: 1,
            queued: 0
        }
    );
    assert_eq!(
        g.servers_up.into_iter().collect::<Vec<_>>(),
        vec![(server, true)],
        "a UDP server starts up"
    );
    h.advance(Duration::from_millis(30));
    let mut reply = up.new_reply(Code::AccessReject);
    let data = boomerang_core::radius::auth::sign_response(
        &mut reply,
        &up.authenticator,
        b"upstream-secret",
        &boomerang_core::radius::auth::SignOptions::default(),
    )
    .unwrap();
    h.input(Input::BackendDatagram {
        server,
        from: addr([192, 0, 2, 10], 1812),
        data,
    });
    assert_eq!(
        harness_reports(&h),
        vec![(
            upstream,
            BackendOutcome::Nak,
            Some(Duration::from_millis(30))
        )]
    );
    assert_eq!(
        h.engine().backend_gauges().backends[&upstream],
        BackendLoad::default()
    );
}

#[test]
fn a_silent_connect_backend_is_a_timeout() {
    let (mut h, udp, upstream) = upstream_world();
    proxied(&mut h, udp, 1);
    h.advance(Duration::from_secs(10));
    let all = harness_reports(&h);
    assert_eq!(all.len(), 1, "{all:?}");
    let (backend, outcome, latency) = all[0];
    assert_eq!((backend, outcome), (upstream, BackendOutcome::Timeout));
    assert!(
        latency.is_some_and(|l| l >= Duration::from_secs(3) && l <= Duration::from_secs(10)),
        "{latency:?}"
    );
}
