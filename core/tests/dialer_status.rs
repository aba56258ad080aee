//! The NAS side of reverse CoA: a kept-up dialed connection with a Status-Server
//! watchdog, stall detection and reconnection with backoff.

mod dialer_support;

use std::time::Duration;

use boomerang_core::contract::{Output, Transport};
use boomerang_core::engine::backoff::{DEFAULT_BASE, DEFAULT_CAP};
use boomerang_core::engine::dialer::{CloseReason, DialerOutput, WATCHDOG_FAILURES};
use boomerang_core::lang::program::ServerSelection;
use boomerang_core::radius::code::Code;
use dialer_support::*;

const INTERVAL: Duration = Duration::from_secs(15);
const TIMEOUT: Duration = Duration::from_secs(5);

fn nas_side(seed: u64) -> Harness {
    let mut s = server("hub", Transport::Tls, 1);
    s.status = true;
    s.nas_identifier = Some("nas-7".into());
    s.status_interval = INTERVAL;
    s.timeout = TIMEOUT;
    Harness::new(
        vec![backend("RADSEC", ServerSelection::Fallback, vec![s])],
        &[0],
        seed,
    )
}

#[test]
fn connects_at_start_and_probes_with_nas_identifier_at_the_interval() {
    let mut h = nas_side(1);
    h.collect();
    assert!(
        matches!(&h.pending[..], [(_, DialerOutput::Driver(Output::Connect { target, .. }))] if target.protocol == Transport::Tls && target.port == 1812),
        "{:?}",
        h.pending
    );
    let (conn, server) = h.accept_connect();
    let mut far = FarEnd::new(SECRET);
    let out = h.take();
    assert!(out.contains(&DialerOutput::ServerState { server, up: true }));
    let writes: Vec<_> = out
        .into_iter()
        .filter_map(|o| match o {
            DialerOutput::Driver(Output::StreamWrite { conn: c, data }) if c == conn => Some(data),
            _ => None,
        })
        .collect();
    let probes = far.receive(&writes);
    assert_eq!(probes.len(), 1, "one Status-Server right after connecting");
    let mut previous = probes[0].authenticator;
    assert_eq!(probes[0].code, Code::StatusServer);
    assert_eq!(probes[0].identifier, 0);
    assert_eq!(
        probes[0].first_value(NAS_IDENTIFIER).unwrap().as_ref(),
        b"nas-7"
    );
    h.stream_data(conn, &far.answer(&probes[0], Code::AccessAccept));
    for round in 1..=4u32 {
        h.advance(INTERVAL - Duration::from_millis(1));
        assert!(
            h.writes_to(conn).is_empty(),
            "round {round}: probe too early"
        );
        h.advance(Duration::from_millis(1));
        let probes = far.receive(&h.writes_to(conn));
        assert_eq!(probes.len(), 1, "round {round}");
        assert_eq!(probes[0].code, Code::StatusServer);
        assert_eq!(probes[0].identifier, 0);
        assert!(probes[0].contains(NAS_IDENTIFIER));
        assert_ne!(
            probes[0].authenticator, previous,
            "new authenticator each probe"
        );
        previous = probes[0].authenticator;
        h.stream_data(conn, &far.answer(&probes[0], Code::AccessAccept));
        let rest = h.take();
        assert!(
            !rest.iter().any(|o| matches!(o, DialerOutput::Close { .. })),
            "{rest:?}"
        );
    }
    assert!(h.ob.owns(conn));
    assert_eq!(h.ob.counts().probes_in_flight, 0);
}

#[test]
fn silent_far_end_is_declared_dead_within_the_documented_bound_then_reconnected() {
    let mut h = nas_side(2);
    let (conn, _) = h.accept_connect();
    let mut far = FarEnd::new(SECRET);
    let probes = far.receive(&h.writes_to(conn));
    h.stream_data(conn, &far.answer(&probes[0], Code::AccessAccept));
    h.take();
    // From now on the far end is silent (a stalled stream: no bytes, no FIN).
    let bound = INTERVAL + TIMEOUT * WATCHDOG_FAILURES;
    h.advance(bound - Duration::from_millis(1));
    let before = h.take();
    assert!(
        !before
            .iter()
            .any(|o| matches!(o, DialerOutput::Close { .. })),
        "closed too early: {before:?}"
    );
    let sent: Vec<_> = before
        .iter()
        .filter(|o| matches!(o, DialerOutput::Driver(Output::StreamWrite { .. })))
        .collect();
    assert_eq!(
        sent.len(),
        usize::try_from(WATCHDOG_FAILURES).unwrap(),
        "one probe at the interval, then one per timeout while suspect"
    );
    h.advance(Duration::from_millis(1));
    let at_bound = h.take_timed();
    let close = at_bound
        .iter()
        .find(|(_, o)| matches!(o, DialerOutput::Close { .. }))
        .expect("closed at the bound");
    assert_eq!(close.0, bound);
    assert!(matches!(
        &close.1,
        DialerOutput::Close { conn: c, reason: CloseReason::WatchdogExpired { .. } } if *c == conn
    ));
    assert!(
        at_bound
            .iter()
            .any(|(_, o)| matches!(o, DialerOutput::ServerState { up: false, .. }))
    );
    assert!(!h.ob.owns(conn));
    // Reconnect after a short, jittered delay (the connection had proved healthy).
    h.advance(DEFAULT_BASE);
    let reconnect = h.take_timed();
    let (at, _) = reconnect
        .iter()
        .find(|(_, o)| matches!(o, DialerOutput::Driver(Output::Connect { .. })))
        .expect("reconnects");
    let delay = *at - bound;
    assert!(
        delay >= DEFAULT_BASE / 2 && delay <= DEFAULT_BASE,
        "{delay:?}"
    );
}

/// Advance in small steps until a connection attempt is pending.
fn advance_until_connect(h: &mut Harness) {
    for _ in 0..10_000 {
        if h.pending
            .iter()
            .any(|(_, o)| matches!(o, DialerOutput::Driver(Output::Connect { .. })))
        {
            return;
        }
        h.advance(Duration::from_millis(50));
    }
    panic!("no connection attempt");
}

/// Refuse every connection attempt and return the delays between a refusal and the
/// next attempt.
fn refusal_delays(seed: u64, n: usize) -> Vec<Duration> {
    let mut h = nas_side(seed);
    let mut delays = Vec::new();
    let mut refused_at = Duration::ZERO;
    h.refuse_connect();
    while delays.len() < n {
        h.advance(Duration::from_millis(50));
        let found = h
            .pending
            .iter()
            .find(|(_, o)| matches!(o, DialerOutput::Driver(Output::Connect { .. })))
            .map(|(t, _)| *t);
        if let Some(t) = found {
            delays.push(t - refused_at);
            refused_at = t;
            h.refuse_connect();
        }
    }
    delays
}

#[test]
fn reconnect_delays_grow_within_bounds_until_the_cap_and_follow_the_seed() {
    let delays = refusal_delays(7, 12);
    let mut ceiling = DEFAULT_BASE;
    let step = Duration::from_millis(50); // the test advances in 50 ms steps
    for (n, d) in delays.iter().enumerate() {
        assert!(
            *d >= ceiling / 2 && *d <= ceiling + step,
            "attempt {n}: {d:?} outside [{:?}, {ceiling:?}]",
            ceiling / 2
        );
        if n > 0 && ceiling < DEFAULT_CAP {
            assert!(
                *d + step >= delays[n - 1],
                "attempt {n}: {d:?} shorter than {:?}",
                delays[n - 1]
            );
        }
        ceiling = (ceiling * 2).min(DEFAULT_CAP);
    }
    assert!(
        delays.last().unwrap() >= &(DEFAULT_CAP / 2),
        "reaches the cap"
    );
    assert_eq!(delays, refusal_delays(7, 12), "same seed, same delays");
    assert_ne!(delays, refusal_delays(8, 12), "another seed, other delays");
}

#[test]
fn backoff_resets_after_a_healthy_connection() {
    let mut h = nas_side(3);
    for _ in 0..5 {
        h.refuse_connect();
        advance_until_connect(&mut h);
    }
    let (conn, _) = h.accept_connect();
    let mut far = FarEnd::new(SECRET);
    let probes = far.receive(&h.writes_to(conn));
    h.stream_data(conn, &far.answer(&probes[0], Code::AccessAccept));
    h.take();
    let now = h.now();
    h.ob.handle_stream_closed(now, conn);
    let closed_at = h.clock.elapsed();
    h.advance(DEFAULT_BASE);
    let out = h.take_timed();
    let (at, _) = out
        .iter()
        .find(|(_, o)| matches!(o, DialerOutput::Driver(Output::Connect { .. })))
        .expect("reconnects quickly");
    assert!(*at - closed_at <= DEFAULT_BASE);
}

#[test]
fn late_probe_reply_is_discarded_and_counts_as_life() {
    let mut h = nas_side(4);
    let (conn, _) = h.accept_connect();
    let mut far = FarEnd::new(SECRET);
    let first = far.receive(&h.writes_to(conn));
    // No answer: after the timeout a second probe (same identifier 0) goes out.
    h.advance(TIMEOUT);
    let second = far.receive(&h.writes_to(conn));
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].authenticator, second[0].authenticator);
    // The late answer to the first probe must not close the connection.
    h.stream_data(conn, &far.answer(&first[0], Code::AccessAccept));
    assert!(h.ob.owns(conn));
    // A forged answer to the outstanding probe closes it (RFC 6613).
    h.stream_data(conn, &far.forged_answer(&second[0], Code::AccessAccept));
    assert!(!h.ob.owns(conn));
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        DialerOutput::Close {
            reason: CloseReason::BadReply(_),
            ..
        }
    )));
}

#[test]
fn late_reply_to_a_probe_two_back_is_not_fatal_either() {
    let mut h = nas_side(5);
    let (conn, _) = h.accept_connect();
    let mut far = FarEnd::new(SECRET);
    let first = far.receive(&h.writes_to(conn));
    h.advance(TIMEOUT);
    far.receive(&h.writes_to(conn));
    h.advance(TIMEOUT);
    let third = far.receive(&h.writes_to(conn));
    assert_eq!(third.len(), 1, "a third probe is out");
    // The answer to the first probe arrives while the third is outstanding.
    h.stream_data(conn, &far.answer(&first[0], Code::AccessAccept));
    assert!(h.ob.owns(conn));
    h.stream_data(conn, &far.answer(&third[0], Code::AccessAccept));
    assert!(h.ob.owns(conn));
    assert_eq!(h.ob.counts().probes_in_flight, 0);
}
