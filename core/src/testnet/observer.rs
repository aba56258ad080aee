//! What a test or a simulation sees of the network as it runs, and the little it
//! may do from there: schedule its own wake-ups.
//!
//! The network calls an [`Observer`] for every output of every engine (before
//! carrying it out), for every event it reports, and for what its peers notice (an HTTP response, a UDP reply,
//! a sender giving up). An observer checks invariants there, hashes a trace, or
//! counts outcomes; it acts on the network through [`Ctx::schedule`], whose
//! wake-up comes back from [`crate::testnet::Net::step`] as
//! [`crate::testnet::Step::App`]. It also wraps every engine call, so that a
//! benchmark can time the engine alone.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::{CloseReason, ConnId, Event, HttpRequestId, Output};
use crate::rng::SplitMix64;
use crate::testnet::nas::Nas;
use crate::testnet::node::NodeId;
use crate::testnet::peers::Peers;
use crate::testnet::sched::Sched;
use crate::testnet::trigger::UdpReply;

/// The network as an observer may touch it.
pub struct Ctx<'a> {
    /// Virtual time now.
    pub now: Duration,
    /// The network's random generator (latencies, delays, workload).
    pub rng: &'a mut SplitMix64,
    pub(crate) sched: &'a mut Sched,
    pub(crate) peers: &'a Peers,
}

impl Ctx<'_> {
    /// Wake the test up after `after` with `token` ([`crate::testnet::Step::App`]).
    pub fn schedule(&mut self, after: Duration, token: u64) {
        self.sched.app(self.now + after, token);
    }

    /// The simulated NAS on `conn` of `node`, while it is connected.
    pub fn nas(&self, node: NodeId, conn: ConnId) -> Option<&Nas> {
        self.peers.nas(node, conn)
    }
}

/// Watches the network. Every method has a default that does nothing.
pub trait Observer {
    /// Run one engine call (`handle`, `handle_timeout`, `poll_output`).
    fn engine<R>(&mut self, call: impl FnOnce() -> R) -> R {
        call()
    }

    /// An engine output, before the network carries it out.
    fn output(&mut self, _ctx: &mut Ctx<'_>, _node: NodeId, _out: &Output) -> Result<(), String> {
        Ok(())
    }

    /// An engine event (what it observed, for metrics), as it is drained.
    fn event(&mut self, _ctx: &mut Ctx<'_>, _node: NodeId, _event: &Event) -> Result<(), String> {
        Ok(())
    }

    /// The HTTP client received the response to `id`.
    fn http_response(
        &mut self,
        _ctx: &mut Ctx<'_>,
        _id: HttpRequestId,
        _status: u16,
        _body: &Bytes,
    ) -> Result<(), String> {
        Ok(())
    }

    /// A UDP trigger sender at `peer` received a reply.
    fn udp_reply(
        &mut self,
        _ctx: &mut Ctx<'_>,
        _peer: SocketAddr,
        _data: &Bytes,
        _kind: UdpReply,
    ) -> Result<(), String> {
        Ok(())
    }

    /// A UDP trigger sender gave up waiting for the reply to `identifier`.
    fn udp_gave_up(
        &mut self,
        _ctx: &mut Ctx<'_>,
        _peer: SocketAddr,
        _identifier: u8,
    ) -> Result<(), String> {
        Ok(())
    }

    /// An engine closed one of its stream connections.
    fn engine_closed(
        &mut self,
        _ctx: &mut Ctx<'_>,
        _node: NodeId,
        _conn: ConnId,
        _reason: &CloseReason,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// Observes nothing.
impl Observer for () {}
