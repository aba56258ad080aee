//! Unit and property tests of the peer machine and the peer set (`core/src/peer/`),
//! through its public interface.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use boomerang_core::peer::*;
use boomerang_core::radius::auth::{SignOptions, sign_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

const SECRET: &[u8] = b"secret";
const TIMEOUT: Duration = Duration::from_secs(5);

fn cfg(max_queue: usize) -> PeerConfig {
    PeerConfig {
        max_queue,
        reserve_status_id: false,
    }
}

fn req<W>(waiter: W, code: Code) -> Request<W> {
    Request {
        waiter,
        template: Packet::new(code, 0),
        secret: Arc::from(SECRET),
        hide_password: false,
        timeout: TIMEOUT,
        retransmit: None,
        rest: TIMEOUT,
        avoid: None,
    }
}

/// A CoA-Request whose content (and so its authenticator) is its waiter's own.
fn coa(w: u32) -> Request<u32> {
    let mut r = req(w, Code::CoaRequest);
    r.template.push(44, w.to_string());
    r
}

fn probe_req() -> Request<()> {
    req((), Code::StatusServer)
}

/// The peer's answer to the request in `bytes`.
fn answer(bytes: &Bytes, code: Code) -> Packet {
    answer_with(bytes, code, SECRET)
}

fn answer_with(bytes: &Bytes, code: Code, secret: &[u8]) -> Packet {
    let request = Packet::decode(bytes.clone()).unwrap();
    let mut reply = request.new_reply(code);
    let wire = sign_response(
        &mut reply,
        &request.authenticator,
        secret,
        &SignOptions::default(),
    )
    .unwrap();
    Packet::decode(wire).unwrap()
}

fn sent(s: Result<Submitted, Refused>) -> (u8, Bytes) {
    match s {
        Ok(Submitted::Sent { id, bytes }) => (id, bytes),
        other => panic!("not sent: {other:?}"),
    }
}

struct Bench {
    peer: Peer<u32>,
    rng: SplitMix64,
    now: Instant,
}

impl Bench {
    fn new(cfg: PeerConfig) -> Self {
        Bench {
            peer: Peer::new(cfg),
            rng: SplitMix64::new(1),
            now: Instant::now(),
        }
    }
    fn submit(&mut self, r: Request<u32>) -> Result<Submitted, Refused> {
        self.peer.submit(self.now, r, &mut self.rng)
    }
    fn advance(&mut self, d: Duration) -> Vec<Event<u32>> {
        self.now += d;
        let mut out = Vec::new();
        while self.peer.next_deadline().is_some_and(|at| at <= self.now) {
            out.extend(self.peer.fire_next(self.now, &mut self.rng));
        }
        self.peer.check().unwrap();
        out
    }
}

#[test]
fn fifo_queue_gets_identifiers_in_order() {
    let mut b = Bench::new(cfg(10));
    let mut first = Vec::new();
    for w in 0..256u32 {
        first.push(sent(b.submit(coa(w))));
    }
    assert_eq!(first[5].0, 5);
    assert_eq!(b.submit(coa(1000)), Ok(Submitted::Queued));
    assert_eq!(b.submit(coa(1001)), Ok(Submitted::Queued));
    let reply = b.peer.receive(answer(&first[5].1, Code::CoaAck));
    assert!(matches!(reply, Event::Reply { waiter: 5, .. }));
    assert_eq!(
        b.submit(coa(1002)),
        Ok(Submitted::Queued),
        "the queue goes first"
    );
    let events = b.peer.pump(b.now, &mut b.rng);
    assert!(matches!(
        &events[..],
        [Event::Sent {
            waiter: 1000,
            id: 5,
            ..
        }]
    ));
    assert!(
        b.peer.pump(b.now, &mut b.rng).is_empty(),
        "no identifier free"
    );
    assert_eq!((b.peer.in_flight(), b.peer.queued()), (256, 2));
    b.peer.check().unwrap();
}

#[test]
fn bounded_queue() {
    let mut b = Bench::new(cfg(1));
    for w in 0..256u32 {
        sent(b.submit(coa(w)));
    }
    assert_eq!(b.submit(coa(1)), Ok(Submitted::Queued));
    assert_eq!(b.submit(coa(2)), Err(Refused::QueueFull { queued: 1 }));
}

#[test]
fn a_reply_must_answer_the_request_code_and_identifier() {
    let mut b = Bench::new(cfg(1));
    let (id, bytes) = sent(b.submit(coa(1)));
    for code in [Code::DisconnectAck, Code::AccessAccept] {
        assert_eq!(
            b.peer.receive(answer(&bytes, code)),
            Event::Stray {
                id,
                code,
                late: false
            }
        );
    }
    let mut other = answer(&bytes, Code::CoaAck);
    other.identifier = id.wrapping_add(1);
    assert!(matches!(
        b.peer.receive(other),
        Event::Stray { late: false, .. }
    ));
    assert!(matches!(
        b.peer.receive(answer(&bytes, Code::CoaNak)),
        Event::Reply { waiter: 1, .. }
    ));
    assert_eq!((b.peer.in_flight(), b.peer.ids_in_use()), (0, 0));
}

#[test]
fn a_reply_that_does_not_verify_is_bad_and_the_request_stays() {
    let mut b = Bench::new(cfg(1));
    let (_, bytes) = sent(b.submit(coa(1)));
    let forged = answer_with(&bytes, Code::CoaAck, b"wrong");
    assert!(matches!(
        b.peer.receive(forged),
        Event::BadReply {
            code: Code::CoaAck,
            ..
        }
    ));
    assert_eq!(b.peer.in_flight(), 1);
}

#[test]
fn a_late_reply_is_never_taken_for_the_next_request() {
    let mut b = Bench::new(cfg(1));
    let (id, old) = sent(b.submit(coa(1)));
    let events = b.advance(TIMEOUT);
    assert_eq!(
        events,
        vec![Event::Failed {
            waiter: 1,
            failure: Failure::Timeout { after: TIMEOUT }
        }]
    );
    // Resting: in use, and a late reply is a stray.
    assert_eq!((b.peer.ids_in_use(), b.peer.resting()), (1, 1));
    assert_eq!(
        b.peer.receive(answer(&old, Code::CoaAck)),
        Event::Stray {
            id,
            code: Code::CoaAck,
            late: true
        }
    );
    b.advance(TIMEOUT);
    assert_eq!((b.peer.ids_in_use(), b.peer.resting()), (0, 0));
    // Use every identifier until `id` carries a new request.
    let mut new = None;
    for w in 2..=257u32 {
        let (i, bytes) = sent(b.submit(coa(w)));
        if i == id {
            new = Some((w, bytes));
        }
    }
    let (w, bytes) = new.unwrap();
    assert!(matches!(
        b.peer.receive(answer(&old, Code::CoaAck)),
        Event::Stray { late: true, .. }
    ));
    assert!(matches!(
        b.peer.receive(answer(&bytes, Code::CoaAck)),
        Event::Reply { waiter, .. } if waiter == w
    ));
}

#[test]
fn no_rest_means_the_identifier_is_free_at_the_timeout() {
    let mut b = Bench::new(cfg(1));
    let mut r = coa(1);
    r.rest = Duration::ZERO;
    sent(b.submit(r));
    b.advance(TIMEOUT);
    assert_eq!((b.peer.ids_in_use(), b.peer.deadlines()), (0, 0));
}

#[test]
fn no_rest_frees_the_identifier_at_once_and_a_late_reply_is_still_known() {
    let mut b = Bench::new(cfg(1));
    let mut r = coa(1);
    r.rest = Duration::ZERO;
    let (id, first) = sent(b.submit(r));
    let events = b.advance(TIMEOUT);
    assert!(matches!(&events[..], [Event::Failed { waiter: 1, .. }]));
    assert_eq!((b.peer.ids_in_use(), b.peer.deadlines()), (0, 0));
    let (id2, second) = sent(b.submit(coa(2)));
    assert_ne!(id2, id, "the freed identifier went to the back of the list");
    assert!(matches!(
        b.peer.receive(answer(&first, Code::CoaAck)),
        Event::Stray { late: true, .. }
    ));
    assert!(matches!(
        b.peer.receive(answer(&second, Code::CoaAck)),
        Event::Reply { waiter: 2, .. }
    ));
}

#[test]
fn a_request_avoids_its_last_identifier_while_another_is_free() {
    let mut b = Bench::new(cfg(1));
    let mut r = coa(1);
    r.avoid = Some(0);
    assert_eq!(sent(b.submit(r)).0, 1);
    assert_eq!(
        sent(b.submit(coa(2))).0,
        2,
        "the avoided one went to the back"
    );
}

#[test]
fn datagrams_are_resent_unchanged_until_the_timeout() {
    let mut b = Bench::new(cfg(1));
    let mut r = coa(1);
    r.timeout = Duration::from_secs(3);
    r.retransmit = Some(Duration::from_secs(1));
    let (_, bytes) = sent(b.submit(r));
    for _ in 0..2 {
        assert!(b.advance(Duration::from_millis(999)).is_empty());
        assert_eq!(
            b.advance(Duration::from_millis(1)),
            vec![Event::Resent {
                bytes: bytes.clone()
            }]
        );
    }
    let events = b.advance(Duration::from_secs(1));
    assert!(matches!(&events[..], [Event::Failed { waiter: 1, .. }]));
}

#[test]
fn the_probe_goes_ahead_of_the_queue_and_rests_when_abandoned() {
    let mut b = Bench::new(cfg(10));
    for w in 0..255u32 {
        sent(b.submit(coa(w)));
    }
    let events = b.peer.probe(b.now, probe_req(), &mut b.rng);
    let Some(Event::ProbeSent { bytes }) = events.first() else {
        panic!("{events:?}");
    };
    assert!(b.peer.probing());
    assert_eq!((b.peer.ids_in_use(), b.peer.in_flight()), (256, 255));
    assert_eq!(b.submit(coa(1000)), Ok(Submitted::Queued));
    assert_eq!(
        b.peer.receive(answer(bytes, Code::AccessAccept)),
        Event::ProbeAnswered
    );
    let events = b.peer.pump(b.now, &mut b.rng);
    assert!(matches!(
        &events[..],
        [Event::Sent {
            waiter: 1000,
            id: 255,
            ..
        }]
    ));
    // A probe waits for an identifier, ahead of the queue.
    assert_eq!(b.submit(coa(1001)), Ok(Submitted::Queued));
    assert!(b.peer.probe(b.now, probe_req(), &mut b.rng).is_empty());
    assert!(b.peer.probe_waiting());
    let events = b.advance(TIMEOUT);
    assert!(matches!(
        events.first(),
        Some(Event::Failed { waiter: 0, .. })
    ));
    // Every identifier rests, so the queued request waited its whole timeout:
    // it fails unsent, after the requests in flight ahead of it.
    assert!(matches!(
        events.last(),
        Some(Event::Failed {
            waiter: 1001,
            failure: Failure::Queued { .. }
        })
    ));
    assert_eq!(b.peer.queued(), 0);
    let events = b.advance(TIMEOUT);
    assert!(
        matches!(&events[..], [Event::ProbeSent { .. }]),
        "{events:?}"
    );
    b.peer.abandon_probe(b.now);
    assert!(!b.peer.probing());
    assert!(b.peer.resting() > 0);
}

#[test]
fn late_answers_to_earlier_probes_on_the_reserved_identifier_are_known() {
    let mut b = Bench::new(PeerConfig {
        max_queue: 0,
        reserve_status_id: true,
    });
    let mut probes = Vec::new();
    for _ in 0..3 {
        match &b.peer.probe(b.now, probe_req(), &mut b.rng)[..] {
            [Event::ProbeSent { bytes }] => probes.push(bytes.clone()),
            other => panic!("{other:?}"),
        }
        if probes.len() < 3 {
            assert_eq!(b.advance(TIMEOUT), vec![Event::ProbeUnanswered]);
        }
    }
    for late in &probes[..2] {
        assert!(matches!(
            b.peer.receive(answer(late, Code::AccessAccept)),
            Event::Stray { late: true, .. }
        ));
    }
    assert_eq!(
        b.peer.receive(answer(&probes[2], Code::AccessAccept)),
        Event::ProbeAnswered
    );
}

#[test]
fn an_unanswered_probe_is_reported() {
    let mut b = Bench::new(cfg(1));
    b.peer.probe(b.now, probe_req(), &mut b.rng);
    assert_eq!(b.advance(TIMEOUT), vec![Event::ProbeUnanswered]);
    assert!(!b.peer.probing());
}

#[test]
fn the_reserved_identifier_is_the_probes_and_a_replaced_probe_answers_late() {
    let mut b = Bench::new(PeerConfig {
        max_queue: 10,
        reserve_status_id: true,
    });
    for w in 0..255u32 {
        assert_ne!(sent(b.submit(coa(w))).0, STATUS_SERVER_ID);
    }
    assert_eq!(b.submit(coa(999)), Ok(Submitted::Queued));
    let first = match &b.peer.probe(b.now, probe_req(), &mut b.rng)[..] {
        [Event::ProbeSent { bytes }] => bytes.clone(),
        other => panic!("{other:?}"),
    };
    let second = match &b.peer.probe(b.now, probe_req(), &mut b.rng)[..] {
        [Event::ProbeSent { bytes }] => bytes.clone(),
        other => panic!("{other:?}"),
    };
    assert_ne!(first, second);
    assert_eq!(
        b.peer.receive(answer(&first, Code::AccessAccept)),
        Event::Stray {
            id: 0,
            code: Code::AccessAccept,
            late: true
        }
    );
    let forged = answer_with(&second, Code::AccessAccept, b"wrong");
    assert!(matches!(b.peer.receive(forged), Event::BadReply { .. }));
    assert_eq!(
        b.peer.receive(answer(&second, Code::AccessAccept)),
        Event::ProbeAnswered
    );
    b.peer.check().unwrap();
}

#[test]
fn close_loses_everything_seen_or_not() {
    let mut b = Bench::new(cfg(10));
    for w in 0..255u32 {
        sent(b.submit(coa(w)));
    }
    b.peer.heard();
    sent(b.submit(coa(255)));
    b.submit(coa(256)).unwrap();
    b.peer.probe(b.now, probe_req(), &mut b.rng);
    let events = b.peer.close();
    assert_eq!(events.len(), 257);
    for (i, e) in events.iter().enumerate() {
        let w = u32::try_from(i).unwrap();
        assert_eq!(
            *e,
            Event::Lost {
                waiter: w,
                seen: w < 255
            }
        );
    }
}

#[test]
fn peers_fire_in_deadline_order_without_scanning() {
    let mut peers: Peers<u32, u32> = Peers::default();
    let mut rng = SplitMix64::new(3);
    let t0 = Instant::now();
    for k in 0..5u32 {
        assert!(peers.open(k, cfg(1)));
    }
    assert!(!peers.open(0, cfg(1)));
    for k in [3u32, 1, 4] {
        let mut r = coa(k);
        r.timeout = Duration::from_secs(u64::from(k));
        peers
            .with(k, |p| p.submit(t0, r, &mut rng))
            .unwrap()
            .unwrap();
    }
    assert_eq!(peers.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    let late = t0 + Duration::from_secs(10);
    let mut order = Vec::new();
    while let Some((k, events)) = peers.fire_next(late, &mut rng) {
        if let [Event::Failed { waiter, .. }] = &events[..] {
            order.push((k, *waiter));
        }
        peers.check().unwrap();
    }
    assert_eq!(order, vec![(1, 1), (3, 3), (4, 4)]);
    assert_eq!(peers.close(1), Vec::new());
    assert!(peers.get(1).is_none());
    peers.check().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Submit,
    Answer(u8),
    Forge(u8),
    Late(u8),
    Probe,
    Heard,
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Submit),
        4 => any::<u8>().prop_map(Op::Answer),
        1 => any::<u8>().prop_map(Op::Forge),
        2 => any::<u8>().prop_map(Op::Late),
        1 => Just(Op::Probe),
        1 => Just(Op::Heard),
        3 => (0u16..3000).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Whatever happens: an identifier is never in flight twice, at most 256 are
    /// in use, requests are sent in submission order, a late reply is never taken
    /// for another request's, every request ends in exactly one outcome, and close
    /// drains everything.
    #[test]
    fn the_machine_keeps_its_promises(ops in prop::collection::vec(op(), 0..600), seed in any::<u64>()) {
        let mut b = Bench::new(cfg(50));
        b.rng = SplitMix64::new(seed);
        let mut next = 0u32;
        // Model: what is on the wire, by identifier (waiter, bytes).
        let mut wire: BTreeMap<u8, (u32, Bytes)> = BTreeMap::new();
        let mut given_up: Vec<(u8, Bytes)> = Vec::new();
        let mut sent_order = Vec::new();
        let mut outcomes: BTreeMap<u32, u32> = BTreeMap::new();
        let mut accepted = BTreeSet::new();
        let mut probe_bytes: Option<Bytes> = None;
        let mut on_event = |e: &Event<u32>, wire: &mut BTreeMap<u8, (u32, Bytes)>, given_up: &mut Vec<(u8, Bytes)>, sent_order: &mut Vec<u32>, probe_bytes: &mut Option<Bytes>| -> Result<(), TestCaseError> {
            match e {
                Event::Sent { waiter, id, bytes } => {
                    prop_assert!(wire.insert(*id, (*waiter, bytes.clone())).is_none(), "id {} twice", id);
                    sent_order.push(*waiter);
                }
                Event::Reply { waiter, .. } | Event::Failed { waiter, .. } | Event::Lost { waiter, .. } => {
                    *outcomes.entry(*waiter).or_default() += 1;
                    if let Some((&id, _)) = wire.iter().find(|(_, (w, _))| w == waiter)
                        && let Some((_, bytes)) = wire.remove(&id)
                            && matches!(e, Event::Failed { .. }) { given_up.push((id, bytes)); }
                }
                Event::ProbeSent { bytes } => *probe_bytes = Some(bytes.clone()),
                Event::ProbeAnswered | Event::ProbeUnanswered => *probe_bytes = None,
                _ => {}
            }
            Ok(())
        };
        for op in ops {
            let mut events = Vec::new();
            match op {
                Op::Submit => {
                    next += 1;
                    let mut r = coa(next);
                    // Some requests have no rest, some avoid an identifier.
                    if next.is_multiple_of(3) {
                        r.rest = Duration::ZERO;
                    }
                    r.avoid = u8::try_from(next % 7).ok();
                    match b.submit(r) {
                        Ok(Submitted::Sent { id, bytes }) => {
                            accepted.insert(next);
                            events.push(Event::Sent { waiter: next, id, bytes });
                        }
                        Ok(Submitted::Queued) => { accepted.insert(next); }
                        Err(Refused::QueueFull { .. }) => prop_assert_eq!(b.peer.queued(), 50),
                        Err(e) => prop_assert!(false, "{}", e),
                    }
                }
                Op::Answer(pick) | Op::Forge(pick) => {
                    let Some((_, (waiter, bytes))) = wire.iter().nth(usize::from(pick) % wire.len().max(1)).map(|(i, x)| (*i, x.clone())) else { continue };
                    let forged = matches!(op, Op::Forge(_));
                    let reply = if forged { answer_with(&bytes, Code::CoaAck, b"x") } else { answer(&bytes, Code::CoaAck) };
                    let e = b.peer.receive(reply);
                    if forged {
                        prop_assert!(matches!(e, Event::BadReply { .. }), "{:?}", e);
                    } else {
                        prop_assert!(matches!(e, Event::Reply { waiter: w, .. } if w == waiter), "{:?}", e);
                        events.push(e);
                        events.extend(b.peer.pump(b.now, &mut b.rng));
                    }
                }
                Op::Late(pick) => {
                    let Some((id, bytes)) = given_up.get(usize::from(pick) % given_up.len().max(1)).cloned() else { continue };
                    let last = given_up.iter().rev().find(|(i, _)| *i == id).map(|(_, b)| b.clone());
                    let e = b.peer.receive(answer(&bytes, Code::CoaAck));
                    prop_assert!(!matches!(e, Event::Reply { .. }), "late reply taken: {:?}", e);
                    if last.as_ref() == Some(&bytes) {
                        prop_assert!(matches!(e, Event::Stray { late: true, .. }), "{:?}", e);
                    }
                }
                Op::Probe => events.extend(b.peer.probe(b.now, probe_req(), &mut b.rng)),
                Op::Heard => b.peer.heard(),
                Op::Advance(ms) => events.extend(b.advance(Duration::from_millis(u64::from(ms)))),
            }
            for e in &events {
                on_event(e, &mut wire, &mut given_up, &mut sent_order, &mut probe_bytes)?;
            }
            b.peer.check().map_err(TestCaseError::fail)?;
            prop_assert!(b.peer.ids_in_use() <= 256);
            prop_assert_eq!(b.peer.in_flight(), wire.len());
        }
        if let Some(bytes) = probe_bytes.take() {
            prop_assert_eq!(b.peer.receive(answer(&bytes, Code::AccessAccept)), Event::ProbeAnswered);
        }
        let peer = std::mem::replace(&mut b.peer, Peer::new(cfg(0)));
        for e in peer.close() {
            on_event(&e, &mut wire, &mut given_up, &mut sent_order, &mut probe_bytes)?;
        }
        prop_assert!(wire.is_empty());
        let mut sorted = sent_order.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, sent_order, "sent in submission order");
        for w in &accepted {
            prop_assert_eq!(outcomes.get(w).copied(), Some(1), "request {}", w);
        }
        prop_assert_eq!(outcomes.len(), accepted.len());
    }
}

/// A request waits for an identifier at most its own timeout, then fails without
/// ever being sent, in queue order; once identifiers are free a request is sent.
#[test]
fn a_queued_request_waits_at_most_its_timeout_and_fails_unsent() {
    let mut b = Bench::new(cfg(16));
    for w in 0..256u32 {
        sent(b.submit(coa(w)));
    }
    assert_eq!(b.submit(coa(1000)), Ok(Submitted::Queued));
    b.now += TIMEOUT / 2;
    assert_eq!(b.submit(coa(1001)), Ok(Submitted::Queued));
    b.peer.check().unwrap();
    assert_eq!(
        b.peer.queued_waiters().collect::<Vec<_>>(),
        vec![1000, 1001]
    );
    // The flights time out at TIMEOUT (their identifiers rest a whole TIMEOUT), so
    // no identifier comes free in time for either waiting request.
    let events = b.advance(TIMEOUT / 2);
    let failed: Vec<(u32, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { waiter, failure } => {
                Some((*waiter, matches!(failure, Failure::Queued { .. })))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        failed.len(),
        257,
        "256 timeouts and the first queued request"
    );
    assert_eq!(
        failed[256],
        (1000, true),
        "queued, failed unsent after the flights"
    );
    assert!(failed[..256].iter().all(|(_, queued)| !queued));
    assert_eq!(b.peer.queued(), 1, "the second waits on");
    let events = b.advance(TIMEOUT / 2);
    assert!(
        matches!(
            &events[..],
            [Event::Failed {
                waiter: 1001,
                failure: Failure::Queued { .. }
            }]
        ),
        "{events:?}"
    );
    assert_eq!((b.peer.queued(), b.peer.in_flight()), (0, 0));
    assert!(
        !events.iter().any(|e| matches!(e, Event::Sent { .. })),
        "never sent"
    );
    // Once identifiers are free again, a queued request is sent, not failed.
    b.advance(TIMEOUT);
    assert_eq!(b.peer.resting(), 0);
    assert!(matches!(b.submit(coa(2000)), Ok(Submitted::Sent { .. })));
}
