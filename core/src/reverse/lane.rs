//! One connection's lane of requests *we* originate: the identifier pool, the
//! requests in flight by identifier, identifiers in quarantine, and a bounded FIFO
//! backlog of requests waiting for an identifier.
//!
//! Rules the lane enforces:
//! * an identifier is in at most one of: free, in flight, quarantined;
//! * at most 256 requests are in flight (the pool has 256 identifiers);
//! * the backlog is served first-in first-out: a new request gets an identifier
//!   directly only when nobody is waiting, so requests are sent in the order they
//!   were submitted;
//! * the backlog is bounded; one more is refused.
//!
//! A reply is matched by identifier and by code (the reply must answer the
//! request's code); anything else is a stray the caller discards.
//!
//! The lane also holds at most one liveness probe (a Status-Server of the engine's
//! own, not a waiter's request): its identifier comes from the same pool but ahead
//! of the backlog, since the probe decides whether anything else is sent here.

use std::collections::{BTreeMap, VecDeque};

use crate::peer::ids::IdPool;
use crate::radius::code::Code;

/// A request of ours in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight<W, T> {
    /// Who waits for the reply.
    pub waiter: W,
    /// The request's code.
    pub code: Code,
    /// The Request Authenticator sent (the reply's authenticator is checked
    /// against it).
    pub authenticator: [u8; 16],
    /// The owner's timer for the reply timeout.
    pub timer: T,
}

/// The liveness probe in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeFlight<T> {
    /// Its identifier.
    pub id: u8,
    /// The Request Authenticator sent.
    pub authenticator: [u8; 16],
    /// The owner's timer for the probe's timeout.
    pub timer: T,
}

/// The backlog is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{queued} requests already wait for an identifier on this connection")]
pub struct QueueFull {
    /// How many wait.
    pub queued: usize,
}

/// One connection's lane; `W` identifies a waiting request, `T` a timer.
#[derive(Debug, Clone)]
pub struct Lane<W, T> {
    ids: IdPool,
    in_flight: BTreeMap<u8, InFlight<W, T>>,
    quarantined: BTreeMap<u8, T>,
    queue: VecDeque<W>,
    max_queue: usize,
    probe: Option<ProbeFlight<T>>,
}

/// Everything a lane held when its connection went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained<W, T> {
    /// Requests in flight, by identifier.
    pub in_flight: Vec<(u8, InFlight<W, T>)>,
    /// Quarantine timers to cancel.
    pub quarantine_timers: Vec<T>,
    /// Requests that were waiting, in FIFO order.
    pub queued: Vec<W>,
    /// The probe's timer, if a probe was in flight.
    pub probe_timer: Option<T>,
}

impl<W: PartialEq, T> Lane<W, T> {
    /// An empty lane whose backlog holds at most `max_queue` requests.
    pub fn new(max_queue: usize) -> Self {
        Lane {
            ids: IdPool::new(),
            in_flight: BTreeMap::new(),
            quarantined: BTreeMap::new(),
            queue: VecDeque::new(),
            max_queue,
            probe: None,
        }
    }

    /// An identifier for a liveness probe: any free one, ahead of the backlog.
    /// `None` when every identifier is in use or a probe is already in flight.
    pub fn allocate_probe(&mut self) -> Option<u8> {
        if self.probe.is_some() {
            return None;
        }
        self.ids.allocate()
    }

    /// Record the probe sent with identifier `probe.id` (from
    /// [`Lane::allocate_probe`]).
    pub fn probe_sent(&mut self, probe: ProbeFlight<T>) {
        self.probe = Some(probe);
    }

    /// The probe in flight, if any.
    pub fn probe(&self) -> Option<&ProbeFlight<T>> {
        self.probe.as_ref()
    }

    /// The probe was answered: its identifier is free again.
    pub fn probe_answered(&mut self) -> Option<ProbeFlight<T>> {
        let probe = self.probe.take()?;
        self.ids.release(probe.id);
        Some(probe)
    }

    /// The probe is no longer awaited without an answer: its identifier goes into
    /// quarantine like an abandoned request's (see [`Lane::abandon`]).
    pub fn probe_abandoned(&mut self, quarantine_timer: T) -> Option<ProbeFlight<T>> {
        let probe = self.probe.take()?;
        self.quarantined.insert(probe.id, quarantine_timer);
        Some(probe)
    }

    /// 1 while a probe is in flight, else 0.
    pub fn probe_len(&self) -> usize {
        usize::from(self.probe.is_some())
    }

    /// An identifier for a new request, if one is free and nobody waits before it.
    pub fn allocate(&mut self) -> Option<u8> {
        if self.queue.is_empty() {
            self.ids.allocate()
        } else {
            None
        }
    }

    /// Put a request at the back of the backlog.
    pub fn enqueue(&mut self, waiter: W) -> Result<(), QueueFull> {
        if self.queue.len() >= self.max_queue {
            return Err(QueueFull {
                queued: self.queue.len(),
            });
        }
        self.queue.push_back(waiter);
        Ok(())
    }

    /// The first waiting request with a free identifier for it, if both exist.
    pub fn next_queued(&mut self) -> Option<(W, u8)> {
        if self.queue.is_empty() {
            return None;
        }
        let id = self.ids.allocate()?;
        match self.queue.pop_front() {
            Some(w) => Some((w, id)),
            None => {
                self.ids.release(id);
                None
            }
        }
    }

    /// Remove a waiting request from the backlog (it gave up). Returns whether it
    /// was there.
    pub fn dequeue(&mut self, waiter: &W) -> bool {
        match self.queue.iter().position(|w| w == waiter) {
            Some(i) => self.queue.remove(i).is_some(),
            None => false,
        }
    }

    /// Record a request sent with identifier `id` (allocated from this lane).
    pub fn sent(&mut self, id: u8, entry: InFlight<W, T>) {
        self.in_flight.insert(id, entry);
    }

    /// Give back an identifier that was allocated but not sent.
    pub fn unsent(&mut self, id: u8) {
        let probing = self.probe.as_ref().is_some_and(|p| p.id == id);
        if !self.in_flight.contains_key(&id) && !self.quarantined.contains_key(&id) && !probing {
            self.ids.release(id);
        }
    }

    /// The request in flight with identifier `id`, if `reply` answers its code.
    pub fn matching(&self, id: u8, reply: Code) -> Option<&InFlight<W, T>> {
        self.in_flight.get(&id).filter(|f| reply.answers(f.code))
    }

    /// The request in flight with identifier `id`.
    pub fn in_flight(&self, id: u8) -> Option<&InFlight<W, T>> {
        self.in_flight.get(&id)
    }

    /// The request with identifier `id` is over (answered): its identifier is free.
    pub fn complete(&mut self, id: u8) -> Option<InFlight<W, T>> {
        let entry = self.in_flight.remove(&id)?;
        self.ids.release(id);
        Some(entry)
    }

    /// The request with identifier `id` is over without an answer: its identifier
    /// stays unusable until [`Lane::release_quarantined`] (a late reply must not
    /// be taken for the reply to the next request using it).
    pub fn abandon(&mut self, id: u8, quarantine_timer: T) -> Option<InFlight<W, T>> {
        let entry = self.in_flight.remove(&id)?;
        self.quarantined.insert(id, quarantine_timer);
        Some(entry)
    }

    /// A quarantined identifier may be used again.
    pub fn release_quarantined(&mut self, id: u8) -> bool {
        if self.quarantined.remove(&id).is_some() {
            self.ids.release(id)
        } else {
            false
        }
    }

    /// Every request in flight, by identifier.
    pub fn in_flight_iter(&self) -> impl Iterator<Item = (u8, &InFlight<W, T>)> + '_ {
        self.in_flight.iter().map(|(id, f)| (*id, f))
    }

    /// Every waiting request, first first.
    pub fn queued_iter(&self) -> impl Iterator<Item = &W> + '_ {
        self.queue.iter()
    }

    /// Requests in flight.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Identifiers in quarantine.
    pub fn quarantined_len(&self) -> usize {
        self.quarantined.len()
    }

    /// Requests waiting for an identifier.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Identifiers currently allocated (in flight, quarantined, the probe's, or
    /// allocated and about to be sent).
    pub fn ids_in_use(&self) -> usize {
        self.ids.in_flight()
    }

    /// Take everything out (the connection is gone).
    pub fn drain(&mut self) -> Drained<W, T> {
        let in_flight = std::mem::take(&mut self.in_flight).into_iter().collect();
        let quarantine_timers = std::mem::take(&mut self.quarantined)
            .into_values()
            .collect();
        let queued = std::mem::take(&mut self.queue).into_iter().collect();
        let probe_timer = self.probe.take().map(|p| p.timer);
        self.ids = IdPool::new();
        Drained {
            in_flight,
            quarantine_timers,
            queued,
            probe_timer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(w: u32) -> InFlight<u32, ()> {
        InFlight {
            waiter: w,
            code: Code::CoaRequest,
            authenticator: [0; 16],
            timer: (),
        }
    }

    #[test]
    fn fifo_backlog_gets_identifiers_in_order() {
        let mut lane: Lane<u32, ()> = Lane::new(10);
        for w in 0..256u32 {
            let id = lane.allocate().unwrap();
            lane.sent(id, entry(w));
        }
        assert_eq!(lane.allocate(), None);
        lane.enqueue(1000).unwrap();
        lane.enqueue(1001).unwrap();
        assert!(lane.complete(5).is_some());
        assert_eq!(lane.allocate(), None, "the backlog goes first");
        assert_eq!(lane.next_queued(), Some((1000, 5)));
        assert_eq!(lane.next_queued(), None, "no identifier free");
    }

    #[test]
    fn reply_must_answer_the_request_code() {
        let mut lane: Lane<u32, ()> = Lane::new(1);
        let id = lane.allocate().unwrap();
        lane.sent(id, entry(1));
        assert!(lane.matching(id, Code::CoaAck).is_some());
        assert!(lane.matching(id, Code::CoaNak).is_some());
        assert!(lane.matching(id, Code::DisconnectAck).is_none());
        assert!(lane.matching(id, Code::AccessAccept).is_none());
        assert!(lane.matching(id.wrapping_add(1), Code::CoaAck).is_none());
    }

    #[test]
    fn quarantine_keeps_the_identifier_out_of_use() {
        let mut lane: Lane<u32, ()> = Lane::new(1);
        let id = lane.allocate().unwrap();
        lane.sent(id, entry(1));
        lane.abandon(id, ());
        assert_eq!(lane.ids_in_use(), 1);
        assert!(lane.release_quarantined(id));
        assert!(!lane.release_quarantined(id));
        assert_eq!(lane.ids_in_use(), 0);
    }

    #[test]
    fn the_probe_takes_an_identifier_ahead_of_the_backlog() {
        let mut lane: Lane<u32, ()> = Lane::new(10);
        for w in 0..255u32 {
            let id = lane.allocate().unwrap();
            lane.sent(id, entry(w));
        }
        lane.enqueue(1000).unwrap();
        let probe = lane.allocate_probe().expect("the last identifier");
        assert_eq!(probe, 255);
        lane.probe_sent(ProbeFlight {
            id: probe,
            authenticator: [0; 16],
            timer: (),
        });
        assert_eq!(lane.allocate_probe(), None, "one probe at a time");
        assert_eq!(lane.ids_in_use(), 256);
        assert!(lane.probe_answered().is_some());
        assert_eq!(lane.next_queued(), Some((1000, 255)));
        assert!(lane.complete(0).is_some());
        let again = lane.allocate_probe().unwrap();
        lane.probe_sent(ProbeFlight {
            id: again,
            authenticator: [0; 16],
            timer: (),
        });
        assert!(lane.probe_abandoned(()).is_some());
        assert_eq!(lane.quarantined_len(), 1);
        assert!(lane.release_quarantined(again));
    }

    #[test]
    fn bounded_backlog() {
        let mut lane: Lane<u32, ()> = Lane::new(1);
        for w in 0..256u32 {
            let id = lane.allocate().unwrap();
            lane.sent(id, entry(w));
        }
        lane.enqueue(1).unwrap();
        assert_eq!(lane.enqueue(2), Err(QueueFull { queued: 1 }));
        assert!(lane.dequeue(&1));
        assert_eq!(lane.queued_len(), 0);
    }

    proptest! {
        /// Whatever happens, an identifier is never in flight twice, at most 256
        /// are in use, and every waiter is sent in FIFO order.
        #[test]
        fn identifiers_never_doubly_used(ops in proptest::collection::vec((0u8..4, any::<u8>()), 0..3000)) {
            let mut lane: Lane<u32, ()> = Lane::new(100);
            let mut next = 0u32;
            let mut sent_order = Vec::new();
            for (op, pick) in ops {
                match op {
                    0 => {
                        next += 1;
                        match lane.allocate() {
                            Some(id) => { prop_assert!(lane.in_flight(id).is_none()); lane.sent(id, entry(next)); sent_order.push(next); }
                            None => { let _ = lane.enqueue(next); }
                        }
                    }
                    1 => { lane.complete(pick); }
                    2 => { lane.abandon(pick, ()); }
                    _ => { lane.release_quarantined(pick); }
                }
                while let Some((w, id)) = lane.next_queued() {
                    prop_assert!(lane.in_flight(id).is_none());
                    lane.sent(id, entry(w));
                    sent_order.push(w);
                }
                prop_assert!(lane.in_flight_len() + lane.quarantined_len() <= 256);
                prop_assert_eq!(lane.ids_in_use(), lane.in_flight_len() + lane.quarantined_len());
            }
            let mut sorted = sent_order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, sent_order, "sent in submission order");
        }
    }
}
