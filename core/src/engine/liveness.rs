//! Liveness of inbound stream connections: finding a NAS that stopped answering
//! even when the listener has no idle timeout (`timeout 0`, usual for long-lived
//! RadSec connections).
//!
//! A connection is *healthy* until a reverse request on it times out. It is then
//! *in doubt* (`connection.healthy` false): `@select` visits it only after every
//! healthy candidate (see [`crate::eval::select`]), and the engine probes it with a
//! Status-Server (RFC 5997 — a server of dynamic authorization must answer it),
//! signed with the connection's secret, carrying Message-Authenticator, sent by
//! the connection's peer machine ([`crate::peer`]) with an identifier from its own
//! pool (taken ahead of the queue; when none is free the probe goes out as soon as
//! one is). Then:
//!
//! * a verified reply on the connection — to the probe or to any request of ours —
//!   restores health (a probe still out is no longer awaited: its identifier
//!   rests like a timed-out request's);
//! * no answer to the probe within the listener's probe timeout (`liveness {
//!   timeout …; }`, default 10 s) closes the connection
//!   ([`crate::engine::CloseReason::Unresponsive`]); its requests are selected again or fail as
//!   for any close.
//!
//! A dead NAS is thus closed at most the reverse request timeout plus the probe
//! timeout (plus, when all 256 identifiers are busy, the time until one frees)
//! after the first request it did not answer. `liveness { probe false; }` turns
//! this off: connections are then never in doubt.

use crate::contract::{ConnId, ReverseStep, Severity};
use crate::engine::{Engine, Now};
use crate::peer::Request;
use crate::radius::code::Code;
use crate::radius::packet::Packet;

impl Engine {
    /// A reverse request on `conn` timed out: put the connection in doubt and probe
    /// it, unless probing is off or it is in doubt already.
    pub(super) fn doubt(&mut self, now: Now, conn: ConnId) {
        let Some(entry) = self.registry.get(conn) else {
            return;
        };
        let Some(timeout) = entry.state.probe_timeout else {
            return;
        };
        if !entry.info().healthy {
            return;
        }
        let template = Packet::new(Code::StatusServer, 0);
        let probe = Request::reverse((), template, entry.state.secret.clone(), timeout);
        self.registry.set_healthy(conn, false);
        self.log(
            Severity::Info,
            format!("connection {conn}: a request timed out; probing it with Status-Server"),
        );
        let rng = self.rng.as_mut();
        let events = self.peers.with(conn, |p| p.probe(now.mono, probe, rng));
        self.on_peer_events(now, conn, events.unwrap_or_default());
    }

    /// A verified reply arrived on `conn`: it is healthy (again). A probe still
    /// out is no longer awaited (its identifier rests like a timed-out request's).
    pub(super) fn restore_health(&mut self, now: Now, conn: ConnId) {
        if self.registry.set_healthy(conn, true) != Some(false) {
            return;
        }
        self.step(ReverseStep::HealthRestored);
        self.log(
            Severity::Info,
            format!("connection {conn}: answered again; healthy"),
        );
        self.peers.with(conn, |p| p.abandon_probe(now.mono));
    }
}
