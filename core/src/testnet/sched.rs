//! The network's queue of things to happen on the virtual clock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::{ConnId, Input};
use crate::radius::packet::Packet;

/// Something scheduled on the virtual clock.
#[derive(Debug)]
pub(crate) enum Event {
    /// Deliver to an engine.
    Input { node: usize, input: Input },
    /// Bytes from an engine reach a NAS.
    ToNas {
        node: usize,
        conn: ConnId,
        data: Bytes,
    },
    /// A NAS answers a request.
    Answer {
        node: usize,
        conn: ConnId,
        request: Box<Packet>,
    },
    /// A NAS sends its periodic Status-Server.
    Status { node: usize, conn: ConnId },
    /// A UDP trigger sender's retransmission timer.
    UdpRetry { peer: SocketAddr, identifier: u8 },
    /// A cluster bus message reaches an engine.
    Bus { node: usize, data: Bytes },
    /// The test's own wake-up.
    App(u64),
}

/// The queue of scheduled events, in time order (ties in scheduling order).
#[derive(Debug, Default)]
pub struct Sched {
    pub(crate) queue: BTreeMap<(Duration, u64), Event>,
    seq: u64,
}

impl Sched {
    pub(crate) fn push(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    pub(crate) fn app(&mut self, at: Duration, token: u64) {
        self.push(at, Event::App(token));
    }

    pub(crate) fn next(&self) -> Option<Duration> {
        self.queue.keys().next().map(|(at, _)| *at)
    }
}
