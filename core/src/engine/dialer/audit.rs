//! Leak counters and the self-check of the dialer's bookkeeping, for tests and
//! simulators (invariants 3 and 5 of the engine brief).

use std::collections::{BTreeMap, BTreeSet};

use super::timers::{Link, Timer};
use super::{Dialer, DialerCounts, InvariantViolation, LinkState, ReqState, StreamState};
use crate::contract::BackendLoad;
use crate::eval::ir::BackendId;

impl Dialer {
    /// Leak counters (see [`DialerCounts`]).
    pub fn counts(&self) -> DialerCounts {
        let mut counts = DialerCounts {
            pending_requests: self.requests.len(),
            queued_requests: self.servers.iter().map(|s| s.queue.len()).sum(),
            request_timers: self.timers.count(|t| matches!(t, Timer::Request(_))),
            timers: self.timers.len(),
            connections: self.conns.len(),
            connecting: self.attempts.len(),
            ..DialerCounts::default()
        };
        for (_, peer) in self.peers.iter() {
            counts.ids_in_use += peer.ids_in_use();
            counts.probes_in_flight += usize::from(peer.probing());
            // Each request in flight has its deadline in its peer machine.
            counts.request_timers += peer.in_flight();
            counts.timers += peer.deadlines();
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

    /// Check the internal bookkeeping: every peer machine is sound and belongs to
    /// an open connection or a UDP server, every request it carries is in flight
    /// on it, queues hold only queued requests with their deadline, and no request
    /// is in two places or nowhere.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |m: String| Err(InvariantViolation(m));
        self.peers.check().map_err(InvariantViolation)?;
        let mut seen = BTreeSet::new();
        for (link, peer) in self.peers.iter() {
            let owned = match link {
                Link::Conn(c) => self.conns.contains_key(&c),
                Link::Udp(slot) => {
                    matches!(
                        self.servers.get(slot).map(|s| &s.state),
                        Some(LinkState::Udp(_))
                    )
                }
            };
            if !owned || peer.queued() > 0 {
                return fail(format!("{link:?}: stale peer machine or one with a queue"));
            }
            for (id, key) in peer.in_flight_waiters() {
                if !seen.insert(key) {
                    return fail(format!("request {key} is in flight twice"));
                }
                match self.requests.get(&key).map(|r| r.state) {
                    Some(ReqState::InFlight { link: l, .. }) if l == link => {}
                    other => {
                        return fail(format!(
                            "{link:?} id {id} carries request {key} in state {other:?}"
                        ));
                    }
                }
            }
        }
        for (cid, c) in &self.conns {
            match self.servers.get(c.slot).map(|s| &s.state) {
                Some(LinkState::Stream(StreamState::Connected(x))) if x == cid => {}
                other => return fail(format!("connection {cid:?} owner state {other:?}")),
            }
            if self.peers.get(Link::Conn(*cid)).is_none() {
                return fail(format!("connection {cid:?} has no peer machine"));
            }
        }
        for (slot, s) in self.servers.iter().enumerate() {
            if let LinkState::Stream(StreamState::Backoff { timer }) = &s.state
                && self.timers.get(*timer) != Some(&Timer::Reconnect(slot))
            {
                return fail(format!("slot {slot} backs off without a reconnect timer"));
            }
            for key in &s.queue {
                if !seen.insert(*key) {
                    return fail(format!("request {key} queued twice or also in flight"));
                }
                let Some(r) = self.requests.get(key) else {
                    return fail(format!("queued request {key} is gone"));
                };
                if !matches!(r.state, ReqState::Queued { slot: q } if q == slot) {
                    return fail(format!("queued request {key} in state {:?}", r.state));
                }
                if !r
                    .timer
                    .is_some_and(|t| self.timers.get(t) == Some(&Timer::Request(*key)))
                {
                    return fail(format!("queued request {key} has no armed deadline"));
                }
            }
        }
        for (key, r) in &self.requests {
            if !seen.contains(key) {
                return fail(format!("request {key} ({:?}) is nowhere", r.state));
            }
            if matches!(r.state, ReqState::InFlight { .. }) && r.timer.is_some() {
                return fail(format!("request {key} in flight keeps a queue deadline"));
            }
        }
        Ok(())
    }
}
