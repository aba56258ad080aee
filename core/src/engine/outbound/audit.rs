//! Leak counters and the self-check of the outbound bookkeeping, for tests and
//! simulators (invariants 3 and 5 of the engine brief).

use std::collections::{BTreeMap, BTreeSet};

use super::timers::{Link, ReqKey, Timer};
use super::{InvariantViolation, LinkState, Outbound, OutboundCounts, ReqState, StreamState};
use crate::contract::BackendLoad;
use crate::eval::ir::BackendId;

impl Outbound {
    /// Leak counters (see [`OutboundCounts`]).
    pub fn counts(&self) -> OutboundCounts {
        let mut counts = OutboundCounts {
            pending_requests: self.requests.len(),
            queued_requests: self.servers.iter().map(|s| s.queue.len()).sum(),
            request_timers: self.timers.count(|t| matches!(t, Timer::Request(_))),
            timers: self.timers.len(),
            connections: self.conns.len(),
            connecting: self.attempts.len(),
            ..OutboundCounts::default()
        };
        for c in self.conns.values() {
            counts.ids_in_use += c.ids.in_flight();
            counts.probes_in_flight += usize::from(c.watchdog.outstanding.is_some());
            counts.incoming_pending += c.incoming.len();
        }
        for s in &self.servers {
            if let LinkState::Udp(u) = &s.state {
                counts.ids_in_use += u.ids.in_flight();
                counts.probes_in_flight += usize::from(u.watchdog.outstanding.is_some());
            }
        }
        counts
    }

    /// Requests pending per backend: in flight (sent, awaiting the reply) and
    /// queued (waiting for a connection or an identifier, or being re-dispatched).
    /// Backends with none pending are left out.
    pub fn backend_load(&self) -> BTreeMap<BackendId, BackendLoad> {
        let mut load: BTreeMap<BackendId, BackendLoad> = BTreeMap::new();
        for r in self.requests.values() {
            let entry = load.entry(r.backend).or_default();
            match r.state {
                ReqState::InFlight { .. } => entry.in_flight += 1,
                ReqState::Queued { .. } | ReqState::Unassigned => entry.queued += 1,
            }
        }
        load
    }

    /// Check the internal bookkeeping: every in-flight identifier maps to exactly one
    /// pending request that points back at it, pools agree with the in-flight tables,
    /// queues hold only queued requests, and no request is in two places.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |m: String| Err(InvariantViolation(m));
        let mut seen = BTreeSet::new();
        let check_entry = |link: Link,
                           id: u8,
                           key: ReqKey,
                           seen: &mut BTreeSet<ReqKey>|
         -> Result<(), InvariantViolation> {
            if !seen.insert(key) {
                return Err(InvariantViolation(format!(
                    "request {key} is in flight twice"
                )));
            }
            match self.requests.get(&key).map(|r| &r.state) {
                Some(ReqState::InFlight { link: l, id: i, .. }) if *l == link && *i == id => Ok(()),
                other => Err(InvariantViolation(format!(
                    "{link:?} id {id} maps to request {key} in state {other:?}"
                ))),
            }
        };
        for (cid, c) in &self.conns {
            if c.ids.in_flight() != c.inflight.len() {
                return fail(format!(
                    "connection {cid:?}: pool has {} in use, table {}",
                    c.ids.in_flight(),
                    c.inflight.len()
                ));
            }
            for (&id, &key) in &c.inflight {
                if !c.ids.is_in_use(id) {
                    return fail(format!("connection {cid:?}: id {id} in flight but free"));
                }
                check_entry(Link::Conn(*cid), id, key, &mut seen)?;
            }
            match self.servers.get(c.slot).map(|s| &s.state) {
                Some(LinkState::Stream(StreamState::Connected(x))) if x == cid => {}
                other => return fail(format!("connection {cid:?} owner state {other:?}")),
            }
        }
        for (slot, s) in self.servers.iter().enumerate() {
            if let LinkState::Stream(StreamState::Backoff { timer }) = &s.state {
                if !self.timers.is(*timer, Timer::Reconnect(slot)) {
                    return fail(format!("slot {slot} backs off without a reconnect timer"));
                }
            }
            if let LinkState::Udp(u) = &s.state {
                if u.ids.in_flight() != u.inflight.len() {
                    return fail(format!("udp slot {slot}: pool and table disagree"));
                }
                for (&id, &key) in &u.inflight {
                    check_entry(Link::Udp(slot), id, key, &mut seen)?;
                }
            }
            for key in &s.queue {
                if !seen.insert(*key) {
                    return fail(format!("request {key} queued twice or also in flight"));
                }
                match self.requests.get(key).map(|r| &r.state) {
                    Some(ReqState::Queued { slot: q }) if *q == slot => {}
                    other => return fail(format!("queued request {key} in state {other:?}")),
                }
            }
        }
        for (key, r) in &self.requests {
            if !seen.contains(key) {
                return fail(format!("request {key} ({:?}) is nowhere", r.state));
            }
            match r.timer {
                Some(t) if self.timers.is(t, Timer::Request(*key)) => {}
                _ => return fail(format!("request {key} has no armed timer")),
            }
        }
        Ok(())
    }
}
