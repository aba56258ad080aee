//! Liveness of inbound stream connections: finding a NAS that stopped answering
//! even when the listener has no idle timeout (`timeout 0`, usual for long-lived
//! RadSec connections).
//!
//! A connection is *healthy* until a reverse request on it times out. It is then
//! *in doubt* (`connection.healthy` false): `@select` visits it only after every
//! healthy candidate (see [`crate::eval::select`]), and the engine probes it with a
//! Status-Server (RFC 5997 — a server of dynamic authorization must answer it),
//! signed with the connection's secret, carrying Message-Authenticator, with an
//! identifier from the connection's own pool (taken ahead of the backlog; when none
//! is free the probe goes out as soon as one is). Then:
//!
//! * a verified reply on the connection — to the probe or to any request of ours —
//!   restores health (a probe still out is no longer awaited: its identifier goes
//!   into quarantine like a timed-out request's);
//! * no answer to the probe within the listener's probe timeout (`liveness {
//!   timeout …; }`, default 10 s) closes the connection
//!   ([`CloseReason::Unresponsive`]); its requests are selected again or fail as
//!   for any close.
//!
//! A dead NAS is thus closed at most the reverse request timeout plus the probe
//! timeout (plus, when all 256 identifiers are busy, the time until one frees)
//! after the first request it did not answer. `liveness { probe false; }` turns
//! this off: connections are then never in doubt.

use crate::contract::{CloseReason, ConnId, Output, Severity};
use crate::engine::timers::TimerKind;
use crate::engine::{Engine, Now};
use crate::radius::auth::{SignOptions, VerifyPolicy, sign_request, verify_response};
use crate::radius::code::Code;
use crate::radius::packet::Packet;
use crate::reverse::lane::ProbeFlight;

impl Engine {
    /// A reverse request on `conn` timed out: put the connection in doubt and probe
    /// it, unless probing is off or it is in doubt already.
    pub(super) fn doubt(&mut self, now: Now, conn: ConnId) {
        let Some(entry) = self.registry.get(conn) else {
            return;
        };
        if entry.state.probe_timeout.is_none() || !entry.info().healthy {
            return;
        }
        self.registry.set_healthy(conn, false);
        self.log(
            Severity::Info,
            format!("connection {conn}: a request timed out; probing it with Status-Server"),
        );
        self.send_probe(now, conn);
    }

    /// Send the probe of a connection in doubt, or leave it pending when no
    /// identifier is free ([`Engine::pump`] sends it once one is).
    pub(super) fn send_probe(&mut self, now: Now, conn: ConnId) {
        let Some(state) = self.registry.state_mut(conn) else {
            return;
        };
        let Some(timeout) = state.probe_timeout else {
            return;
        };
        let Some(id) = state.lane.allocate_probe() else {
            state.probe_pending = true;
            return;
        };
        state.probe_pending = false;
        let secret = state.secret.clone();
        let mut packet = Packet::new(Code::StatusServer, id);
        let data = match sign_request(
            &mut packet,
            &secret,
            self.rng.as_mut(),
            &SignOptions::default(),
        ) {
            Ok(d) => d,
            Err(e) => {
                if let Some(state) = self.registry.state_mut(conn) {
                    state.lane.unsent(id);
                }
                self.log(
                    Severity::Warn,
                    format!("connection {conn}: the Status-Server probe could not be encoded: {e}"),
                );
                self.stats.liveness_closed += 1;
                self.close_stream(now, conn, Some(CloseReason::Unresponsive));
                return;
            }
        };
        let timer = self
            .timers
            .add(now.mono + timeout, TimerKind::Probe { conn, id });
        if let Some(state) = self.registry.state_mut(conn) {
            state.lane.probe_sent(ProbeFlight {
                id,
                authenticator: packet.authenticator,
                timer,
            });
        }
        self.stats.liveness_probes += 1;
        self.outputs.push_back(Output::StreamWrite { conn, data });
    }

    /// Whether `packet` answers the probe in flight on `conn`; if so it is handled
    /// (verified: health restored; not verified: the connection closes).
    pub(super) fn on_probe_reply(&mut self, now: Now, conn: ConnId, packet: &Packet) -> bool {
        let Some(entry) = self.registry.get(conn) else {
            return false;
        };
        let Some(probe) = entry.state.lane.probe() else {
            return false;
        };
        if probe.id != packet.identifier || !packet.code.answers(Code::StatusServer) {
            return false;
        }
        let authenticator = probe.authenticator;
        let secret = entry.state.secret.clone();
        if let Err(e) = verify_response(packet, &authenticator, &secret, &VerifyPolicy::default()) {
            // RFC 6613 §2.6.4, as for any reply of ours.
            self.stats.reverse_bad_replies += 1;
            self.close_stream(now, conn, Some(CloseReason::BadReply(e)));
            return true;
        }
        if let Some(state) = self.registry.state_mut(conn) {
            if let Some(done) = state.lane.probe_answered() {
                self.timers.cancel(done.timer);
            }
        }
        self.restore_health(now, conn);
        self.pump(now, conn);
        true
    }

    /// A verified reply arrived on `conn`: it is healthy (again). A probe still
    /// out is no longer awaited.
    pub(super) fn restore_health(&mut self, now: Now, conn: ConnId) {
        if self.registry.set_healthy(conn, true) != Some(false) {
            return;
        }
        self.stats.liveness_restored += 1;
        self.log(
            Severity::Info,
            format!("connection {conn}: answered again; healthy"),
        );
        let Some(state) = self.registry.state_mut(conn) else {
            return;
        };
        state.probe_pending = false;
        let (Some(probe), Some(timeout)) = (state.lane.probe(), state.probe_timeout) else {
            return;
        };
        let (id, timer) = (probe.id, probe.timer);
        self.timers.cancel(timer);
        let quarantine = self
            .timers
            .add(now.mono + timeout, TimerKind::Quarantine { conn, id });
        if let Some(state) = self.registry.state_mut(conn) {
            state.lane.probe_abandoned(quarantine);
        }
    }

    /// The probe with identifier `id` on `conn` had no answer in time: close.
    pub(super) fn on_probe_timeout(&mut self, now: Now, conn: ConnId, id: u8) {
        let current = self
            .registry
            .get(conn)
            .and_then(|e| e.state.lane.probe())
            .map(|p| p.id);
        if current != Some(id) {
            return;
        }
        self.stats.liveness_closed += 1;
        self.log(
            Severity::Warn,
            format!("connection {conn}: the Status-Server probe was not answered; closing"),
        );
        self.close_stream(now, conn, Some(CloseReason::Unresponsive));
    }
}
