//! Property: whatever happens (sends, replies good and forged, closes, refused
//! connects, garbage, far-end requests, time passing), every accepted request gets
//! exactly one outcome, no identifier is ever used by two live requests on one
//! connection, and after quiescence nothing is left pending.

mod dialer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use boomerang_core::contract::{Output, Transport};
use boomerang_core::engine::dialer::{ConnId, DialerOutput, RequestToken, ServerRef};
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::ServerSelection;
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use dialer_support::*;

#[derive(Debug, Clone)]
enum Op {
    Send(u32),
    Accept,
    Refuse,
    AnswerStream { pick: usize, forged: bool },
    AnswerUdp { pick: usize, forged: bool },
    Close(usize),
    Garbage(usize),
    FarRequest { pick: usize, id: u8 },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..2).prop_map(Op::Send),
        3 => Just(Op::Accept),
        1 => Just(Op::Refuse),
        4 => (any::<usize>(), prop::bool::weighted(0.1))
            .prop_map(|(pick, forged)| Op::AnswerStream { pick, forged }),
        2 => (any::<usize>(), prop::bool::weighted(0.1))
            .prop_map(|(pick, forged)| Op::AnswerUdp { pick, forged }),
        1 => any::<usize>().prop_map(Op::Close),
        1 => any::<usize>().prop_map(Op::Garbage),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(pick, id)| Op::FarRequest { pick, id }),
        3 => (0u64..8000).prop_map(Op::Advance),
    ]
}

fn programs() -> Vec<boomerang_core::lang::program::Backend> {
    let mut hub = server("hub", Transport::Tls, 1);
    hub.status = true;
    hub.retries = 1;
    hub.timeout = Duration::from_secs(3);
    hub.status_interval = Duration::from_secs(10);
    let mut u = server("udp", Transport::Udp, 2);
    u.priority = 1;
    u.retries = 1;
    u.timeout = Duration::from_secs(2);
    let mut a = server("a", Transport::Tcp, 3);
    a.timeout = Duration::from_secs(2);
    let mut b = server("b", Transport::Tcp, 4);
    b.timeout = Duration::from_secs(2);
    b.retries = 2;
    vec![
        backend("MIX", ServerSelection::Fallback, vec![hub, u]),
        backend("RR", ServerSelection::RoundRobin, vec![a, b]),
    ]
}

struct World {
    h: Harness,
    far: FarEnd,
    /// Requests the far ends saw and have not answered: (conn, packet).
    stream_seen: Vec<(ConnId, Packet)>,
    udp_seen: Vec<(ServerRef, Packet)>,
    /// Per connection (or UDP server), identifier → token of the last request seen with it.
    ids: BTreeMap<(u64, u8), u64>,
    accepted: BTreeSet<u64>,
    outcomes: BTreeMap<u64, usize>,
    open: Vec<ConnId>,
    next_token: u64,
}

fn token_in(p: &Packet) -> Option<u64> {
    let v = p.first_value(1)?;
    std::str::from_utf8(v).ok()?.strip_prefix('t')?.parse().ok()
}

impl World {
    fn absorb(&mut self) -> Result<(), TestCaseError> {
        for out in self.h.take() {
            match out {
                DialerOutput::Driver(Output::StreamWrite { conn, data: bytes }) => {
                    let p = Packet::decode(bytes).unwrap();
                    if p.code.is_request() && p.code != Code::StatusServer {
                        let token = token_in(&p).unwrap();
                        let key = (conn.0, p.identifier);
                        if let Some(previous) = self.ids.insert(key, token) {
                            prop_assert!(
                                previous == token || self.outcomes.contains_key(&previous),
                                "identifier {} on {:?} reused while token {} is live",
                                p.identifier,
                                conn,
                                previous
                            );
                            prop_assert!(previous != token, "retransmitted on the same stream");
                        }
                        self.stream_seen.push((conn, p));
                    } else if p.code == Code::StatusServer {
                        self.stream_seen.push((conn, p));
                    }
                }
                DialerOutput::Driver(Output::BackendDatagram {
                    server,
                    data: bytes,
                    ..
                }) => {
                    let p = self.far.check(bytes);
                    if let Some(token) = token_in(&p) {
                        let key = (1_000_000 + u64::from(server.server), p.identifier);
                        if let Some(previous) = self.ids.insert(key, token) {
                            prop_assert!(
                                previous == token || self.outcomes.contains_key(&previous),
                                "UDP identifier reused while live"
                            );
                        }
                    }
                    self.udp_seen.push((server, p));
                }
                DialerOutput::Reply { token, .. } | DialerOutput::Failed { token, .. } => {
                    prop_assert!(
                        self.accepted.contains(&token.0),
                        "outcome for unknown token"
                    );
                    *self.outcomes.entry(token.0).or_default() += 1;
                    prop_assert_eq!(self.outcomes[&token.0], 1, "two outcomes for one token");
                }
                DialerOutput::Close { conn, .. } => self.open.retain(|c| *c != conn),
                DialerOutput::Driver(Output::Connect { .. }) => {
                    // Put it back for Accept/Refuse.
                    self.h.pending.push((self.h.clock.elapsed(), out));
                }
                DialerOutput::IncomingRequest { .. }
                | DialerOutput::Driver(_)
                | DialerOutput::ServerState { .. } => {}
            }
        }
        Ok(())
    }

    fn has_connect(&self) -> bool {
        self.h
            .pending
            .iter()
            .any(|(_, o)| matches!(o, DialerOutput::Driver(Output::Connect { .. })))
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Send(backend) => {
                let token = self.next_token;
                self.next_token += 1;
                let now = self.h.now();
                let req = access_request(&format!("t{token}"));
                self.accepted.insert(token);
                if self
                    .h
                    .ob
                    .send(now, BackendId(backend), req, RequestToken(token))
                    .is_err()
                {
                    self.accepted.remove(&token);
                }
            }
            Op::Accept => {
                if self.has_connect() {
                    let (conn, _) = self.h.accept_connect();
                    self.open.push(conn);
                }
            }
            Op::Refuse => {
                if self.has_connect() {
                    self.h.refuse_connect();
                }
            }
            Op::AnswerStream { pick, forged } => {
                if !self.stream_seen.is_empty() {
                    let (conn, p) = self.stream_seen.remove(pick % self.stream_seen.len());
                    let bytes = if forged {
                        self.far.forged_answer(&p, Code::AccessAccept)
                    } else {
                        self.far.answer(&p, Code::AccessAccept)
                    };
                    let now = self.h.now();
                    self.h.ob.handle_stream_data(now, conn, &bytes);
                }
            }
            Op::AnswerUdp { pick, forged } => {
                if !self.udp_seen.is_empty() {
                    let (server, p) = self.udp_seen.remove(pick % self.udp_seen.len());
                    let bytes = if forged {
                        self.far.forged_answer(&p, Code::AccessAccept)
                    } else {
                        self.far.answer(&p, Code::AccessAccept)
                    };
                    let now = self.h.now();
                    self.h.ob.handle_datagram(now, server, addr(2), &bytes);
                }
            }
            Op::Close(pick) => {
                if !self.open.is_empty() {
                    let conn = self.open.remove(pick % self.open.len());
                    let now = self.h.now();
                    self.h.ob.handle_stream_closed(now, conn);
                }
            }
            Op::Garbage(pick) => {
                if !self.open.is_empty() {
                    let conn = self.open[pick % self.open.len()];
                    let now = self.h.now();
                    self.h
                        .ob
                        .handle_stream_data(now, conn, &[0x02, 0x07, 0x00, 0x03]);
                }
            }
            Op::FarRequest { pick, id } => {
                if !self.open.is_empty() {
                    let conn = self.open[pick % self.open.len()];
                    let (p, bytes) = self.far.request(Code::CoaRequest, id, "nas");
                    let now = self.h.now();
                    self.h.ob.handle_stream_data(now, conn, &bytes);
                    let surfaced = self.h.take();
                    let mut seen = 0;
                    for o in surfaced {
                        match o {
                            DialerOutput::IncomingRequest {
                                conn: c, packet, ..
                            } => {
                                prop_assert_eq!(c, conn);
                                prop_assert_eq!(&packet, &p);
                                seen += 1;
                            }
                            other => self.h.pending.push((self.h.clock.elapsed(), other)),
                        }
                    }
                    prop_assert_eq!(seen, 1, "a verified far-end request surfaces once");
                }
            }
            Op::Advance(ms) => self.h.advance(Duration::from_millis(ms)),
        }
        self.h.collect();
        self.absorb()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn nothing_leaks_and_identifiers_are_never_shared(ops in prop::collection::vec(op(), 1..80), seed in any::<u64>()) {
        let mut w = World {
            h: Harness::new(programs(), &[0], seed),
            far: FarEnd::new(SECRET),
            stream_seen: Vec::new(),
            udp_seen: Vec::new(),
            ids: BTreeMap::new(),
            accepted: BTreeSet::new(),
            outcomes: BTreeMap::new(),
            open: Vec::new(),
            next_token: 0,
        };
        w.absorb()?;
        for op in ops {
            w.apply(op)?;
        }
        // Quiesce: no more sends or answers; connections are accepted, time passes.
        for _ in 0..240 {
            w.apply(Op::Accept)?;
            w.apply(Op::Advance(500))?;
        }
        let c = w.h.ob.counts();
        prop_assert_eq!(c.pending_requests, 0, "{:?}", c);
        prop_assert_eq!(c.queued_requests, 0);
        prop_assert_eq!(c.ids_in_use, 0);
        prop_assert_eq!(c.request_timers, 0);
        for token in &w.accepted {
            prop_assert_eq!(w.outcomes.get(token).copied(), Some(1), "token {}", token);
        }

        let _ = Bytes::new();
    }
}
