//! What the engine tells the driver about the requests it sends to RADIUS backends,
//! for metrics: every finished request once, as [`Event::BackendRequestFinished`]
//! with a [`BackendOutcome`] and its latency on the engine's clock, and gauges
//! computed on demand ([`Engine::backend_gauges`]).
//!
//! A "backend request" is a call to a RADIUS backend: a reverse request (a `reverse`
//! server: CoA/Disconnect sent to a NAS over one of its own connections) or a request
//! to a `connect` server (query or proxy mode) over our dialed connections or UDP.
//! SQL backends are not included; the driver times those itself.

use std::time::Duration;

use crate::contract::{BackendGauges, BackendLoad, BackendOutcome, Event, ServerId, Transport};
use crate::engine::task::{CallTrace, Wait};
use crate::engine::{Engine, Now};
use crate::eval::error::ErrorValue;
use crate::eval::ir::{ActionResult, BackendId};
use crate::lang::program::{BackendKind, Program, RadiusListen, ServerKind};

impl Engine {
    /// A call to `backend` ended with `result`: report it, when `backend` is a
    /// RADIUS backend, as [`Event::BackendRequestFinished`]. `wait` is what the
    /// task was parked on (its [`CallTrace`]); a call that ended before it was
    /// parked (the request could not be built) carries none and is an `error`
    /// without latency.
    pub(super) fn backend_call_over(
        &mut self,
        now: Now,
        program: &Program,
        backend: BackendId,
        wait: &Wait,
        result: &Result<ActionResult, ErrorValue>,
    ) {
        let radius = program
            .backend(backend)
            .is_some_and(|b| matches!(b.kind, BackendKind::Radius(_)));
        if !radius {
            return;
        }
        // Reported under the running program's number for that backend name (a
        // request begun before a reload finishes after it); none if it was removed.
        let Some(backend) = self.current_backend(program, backend) else {
            return;
        };
        let trace = match wait {
            Wait::Reverse(call) => call.trace,
            Wait::Connect(call) => call.trace,
            Wait::Running | Wait::Sql { .. } => CallTrace::default(),
        };
        let outcome = match (trace.reply, result) {
            (Some(code), _) => BackendOutcome::of_reply(code),
            (None, Err(e)) => BackendOutcome::of_error(e.code),
            // A RADIUS backend call only succeeds with a reply; should one not have
            // been noted, the result still tells which way it went.
            (None, Ok(ActionResult::Accept)) => BackendOutcome::Ack,
            (None, Ok(_)) => BackendOutcome::Nak,
        };
        let latency: Option<Duration> = trace
            .sent_at
            .map(|at| now.mono.saturating_duration_since(at));
        self.emit(Event::BackendRequestFinished {
            backend,
            outcome,
            latency,
        });
    }

    /// The backend gauges now (see [`BackendGauges`]). Walks every request the
    /// engine holds for a backend: call it when metrics are refreshed, not per
    /// packet.
    pub fn backend_gauges(&self) -> BackendGauges {
        let mut g = BackendGauges::default();
        for (i, b) in self.program.backends.iter().enumerate() {
            if let (BackendKind::Radius(_), Ok(i)) = (&b.kind, u32::try_from(i)) {
                g.backends.insert(BackendId(i), BackendLoad::default());
            }
        }
        for (i, s) in self.program.servers.iter().enumerate() {
            let ServerKind::Radius(r) = &s.kind else {
                continue;
            };
            let RadiusListen::Network(n) = &r.listen else {
                continue;
            };
            if n.protocol != Transport::Udp
                && let Ok(i) = u32::try_from(i)
            {
                g.identifiers.insert(ServerId(i), 0);
            }
        }
        // A request another node forwarded counts on that node's backend.
        let backend_of = |w: crate::engine::task::Waiter| match w {
            crate::engine::task::Waiter::Task(tid) => match self.runs.get(tid) {
                Some(t) => match &t.wait {
                    Wait::Reverse(call) => self.current_backend(&t.program, call.backend),
                    _ => None,
                },
                None => None,
            },
            crate::engine::task::Waiter::Forwarded(_) => None,
        };
        for (conn, entry) in self.registry.iter() {
            let Some(peer) = self.peers.get(conn) else {
                continue;
            };
            *g.identifiers.entry(entry.state.server).or_insert(0) += peer.ids_in_use();
            for (_, tid) in peer.in_flight_waiters() {
                if let Some(b) = backend_of(tid) {
                    g.backends.entry(b).or_default().in_flight += 1;
                }
            }
            for tid in peer.queued_waiters() {
                if let Some(b) = backend_of(tid) {
                    g.backends.entry(b).or_default().queued += 1;
                }
            }
        }
        if let Some(o) = &self.dialer {
            for (b, load) in o.backend_load() {
                let entry = g.backends.entry(b).or_default();
                entry.in_flight += load.in_flight;
                entry.queued += load.queued;
            }
            for s in o.servers() {
                g.servers_up.insert(s, o.is_up(s));
            }
        }
        g
    }
}
