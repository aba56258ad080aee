//! Property test: random interleavings of connects, disconnects, Status-Server,
//! HTTP and UDP triggers (with retransmissions), NAS answers, garbage and time
//! never break the engine's invariants:
//!
//! 1. every HTTP trigger gets exactly one response, every UDP trigger at most one
//!    reply per execution, and nothing stays in flight at the end;
//! 2. a request goes only to an active connection whose NAS-Identifier `@select`
//!    accepted;
//! 3. no identifier is in flight twice on a connection (the fake NAS panics), at
//!    most 256 are in use (checked with `check_invariants` after every step);
//! 4. a retransmitted UDP trigger never yields a second request to a NAS;
//! 5. after all work completes no task, pending request, queue entry or timer is
//!    left;
//! 6. garbage on a stream closes that connection;
//! 7. the only requests besides the triggers' are Status-Server liveness probes
//!    (silent NASes are probed after a timeout and closed).

mod engine_support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use engine_support::*;
use proptest::prelude::*;

use boomerang_core::contract::Transport;
use boomerang_core::engine::{ConnId, HttpRequestId, Output};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::radius::code::Code;

const NAMES: [&str; 3] = ["nas-a", "nas-b", "nas-c"];

#[derive(Debug, Clone)]
enum Op {
    Connect { name: usize, mode: u8 },
    Disconnect(usize),
    Status(usize),
    Http(usize),
    Udp(usize),
    Retransmit(usize),
    Answer { conn: usize, ack: bool },
    Garbage(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3usize, 0..3u8).prop_map(|(name, mode)| Op::Connect { name, mode }),
        1 => (0..8usize).prop_map(Op::Disconnect),
        1 => (0..8usize).prop_map(Op::Status),
        4 => (0..4usize).prop_map(Op::Http),
        3 => (0..4usize).prop_map(Op::Udp),
        2 => (0..16usize).prop_map(Op::Retransmit),
        4 => (0..8usize, any::<bool>()).prop_map(|(conn, ack)| Op::Answer { conn, ack }),
        1 => (0..8usize).prop_map(Op::Garbage),
        2 => (0..7000u64).prop_map(Op::Advance),
    ]
}

type World = ReverseWorld;

/// The shared reverse world (see [`ReverseWorld`]); the HTTP trigger puts the NAS
/// name in User-Name so the check can see whom a request was for.
fn world(mode: SelectMode, retries: u32) -> World {
    ReverseWorld::new(ReverseSpec {
        mode,
        retries,
        user_param: "nas",
        ..ReverseSpec::default()
    })
}

/// A UDP trigger sent: its bytes, when it was first sent, and its marker.
struct UdpTrigger {
    bytes: Bytes,
    first_sent: Duration,
    marker: String,
}

fn run(ops: Vec<Op>, mode: SelectMode, retries: u32) -> Result<(), TestCaseError> {
    let mut w = world(mode, retries);
    let mut conns: Vec<(ConnId, usize)> = Vec::new();
    let mut http_ids: Vec<HttpRequestId> = Vec::new();
    let mut udp: Vec<UdpTrigger> = Vec::new();
    let mut next_ip = 0u32;
    let dac = addr([127, 0, 0, 1], 3799);
    let mut writes_seen = 0usize;
    // The NAS name of every connection ever opened (names never change).
    let mut names: BTreeMap<ConnId, usize> = BTreeMap::new();
    // Connections closed (by the peer or for garbage).
    let mut gone: Vec<ConnId> = Vec::new();
    for op in ops {
        match op {
            Op::Connect { name, mode } => {
                next_ip += 1;
                let ip = [10, 1, (next_ip >> 8) as u8, next_ip as u8];
                let mode = [NasMode::Ack, NasMode::Hold, NasMode::Silent][usize::from(mode)];
                let c = w.h.connect(
                    w.radsec,
                    addr(ip, 1000),
                    Transport::Tls,
                    vec![],
                    "radsec",
                    mode,
                );
                w.h.status(c, Some(NAMES[name]));
                conns.push((c, name));
                names.insert(c, name);
            }
            Op::Disconnect(i) => {
                if !conns.is_empty() {
                    let (c, _) = conns.remove(i % conns.len());
                    w.h.close(c);
                    gone.push(c);
                }
            }
            Op::Status(i) => {
                if let Some((c, name)) = conns.get(i % conns.len().max(1)).copied()
                    && w.h.has_nas(c)
                {
                    w.h.status(c, Some(NAMES[name]));
                }
            }
            Op::Http(n) => {
                let name = if n < 3 { NAMES[n] } else { "nobody" };
                let http = w.http;
                http_ids.push(w.h.http(http, "POST", "/d", &[("nas", name)]));
            }
            Op::Udp(n) => {
                let name = if n < 3 { NAMES[n] } else { "nobody" };
                let marker = format!("udp-{}", udp.len());
                let id = (udp.len() % 256) as u8;
                let req = dac_request(
                    Code::DisconnectRequest,
                    id,
                    &[
                        (NAS_IDENTIFIER, name.as_bytes().to_vec()),
                        (USER_NAME, marker.as_bytes().to_vec()),
                    ],
                    "dac",
                );
                let bytes = encode(&req);
                udp.push(UdpTrigger {
                    bytes: bytes.clone(),
                    first_sent: w.h.elapsed(),
                    marker,
                });
                let server = w.udp;
                w.h.datagram(server, dac, bytes);
            }
            Op::Retransmit(k) => {
                // Retransmissions within the duplicate window (30 s) only.
                if let Some(t) = udp.get(k % udp.len().max(1))
                    && w.h.elapsed() - t.first_sent < Duration::from_secs(25)
                {
                    let (server, bytes) = (w.udp, t.bytes.clone());
                    w.h.datagram(server, dac, bytes);
                }
            }
            Op::Answer { conn, ack } => {
                if let Some((c, _)) = conns.get(conn % conns.len().max(1)).copied() {
                    w.h.answer_held(c, ack);
                }
            }
            Op::Garbage(i) => {
                if !conns.is_empty() {
                    let (c, _) = conns.remove(i % conns.len());
                    gone.push(c);
                    w.h.send_raw(c, Bytes::from_static(&[1, 0, 0, 3]));
                    prop_assert!(w.h.closes().contains(&c), "garbage closes the connection");
                }
            }
            Op::Advance(ms) => w.h.advance(Duration::from_millis(ms)),
        }
        w.h.engine()
            .check_invariants()
            .map_err(TestCaseError::fail)?;
        // Invariant 2: every new request went to an active connection whose
        // NAS-Identifier matched the trigger's target.
        for (c, p) in w.h.writes()[writes_seen..]
            .iter()
            .filter(|(_, p)| p.code.is_request() && p.code != Code::StatusServer)
        {
            let name = names.get(c).map(|n| NAMES[*n]);
            let target = if p.first(NAS_IDENTIFIER).is_some() {
                p.first_value(NAS_IDENTIFIER).cloned()
            } else {
                p.first_value(USER_NAME).cloned()
            };
            prop_assert_eq!(
                target.as_deref(),
                name.map(str::as_bytes),
                "request for another NAS"
            );
            prop_assert!(
                w.h.has_nas(*c) || w.h.closes().contains(c),
                "request to an unknown connection"
            );
        }
        writes_seen = w.h.writes().len();
    }
    // Let everything finish: answer all held requests and run out every timer.
    for (c, _) in conns.clone() {
        while w.h.answer_held(c, true) {}
    }
    w.h.advance(Duration::from_secs(60));
    for (c, _) in conns.clone() {
        while w.h.answer_held(c, true) {}
    }
    w.h.advance(Duration::from_secs(60));
    w.h.assert_quiescent();
    let counts = w.h.engine().counts();
    prop_assert_eq!(counts.timers, 0, "timers left: {:?}", counts);
    prop_assert_eq!(counts.resting_ids, 0);
    // Invariant 1 (HTTP): exactly one response per request.
    let mut answered: BTreeMap<HttpRequestId, usize> = BTreeMap::new();
    for o in &w.h.out() {
        if let Output::HttpResponse { id, .. } = o {
            *answered.entry(*id).or_default() += 1;
        }
    }
    for id in &http_ids {
        prop_assert_eq!(answered.get(id).copied(), Some(1), "HTTP request {:?}", id);
    }
    prop_assert_eq!(answered.len(), http_ids.len());
    // Invariants 1 and 4 (UDP): a retransmission never yields another NAS request;
    // a trigger reaches a NAS again only after the connection it was on is gone (it
    // is then selected again: without spending a retry when the NAS cannot have
    // seen it, else only if retries are configured), never twice on one connection.
    for t in &udp {
        let on: Vec<ConnId> =
            w.h.all_requests()
                .iter()
                .filter(|(_, p)| {
                    p.first_value(USER_NAME).map(|v| v.as_ref()) == Some(t.marker.as_bytes())
                })
                .map(|(c, _)| *c)
                .collect();
        for (i, c) in on.iter().enumerate() {
            prop_assert!(
                !on[..i].contains(c),
                "{} sent twice on connection {:?}",
                t.marker,
                c
            );
            if i + 1 < on.len() {
                prop_assert!(
                    gone.contains(c) || w.h.closes().contains(c),
                    "{} sent again although connection {:?} is still up",
                    t.marker,
                    c
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_keep_the_invariants_first(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, SelectMode::First, 0)?;
    }

    #[test]
    fn random_interleavings_keep_the_invariants_round_robin_with_retries(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, SelectMode::RoundRobin, 2)?;
    }
}
