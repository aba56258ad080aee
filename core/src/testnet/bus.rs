//! The simulated cluster bus (NATS's stand-in): carries
//! [`Output::Bus`](crate::contract::Output::Bus) messages between the engines of
//! one cluster after a bus latency (the network's, plus an extra delay on
//! request), losing some on request and all across a partition's cut.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::contract::BusTarget;

/// One engine's place on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `cluster { name … }`.
    pub cluster: String,
    /// `cluster { node … }`.
    pub node: String,
}

/// The bus's faults and counts.
#[derive(Debug, Default)]
pub struct SimBus {
    /// Each engine's membership (by engine index; `None`: no cluster).
    pub(crate) members: Vec<Option<Member>>,
    /// Messages lost, per thousand.
    pub loss_permille: u32,
    /// Extra delay of every message, uniform in this range, on top of the
    /// network's latency (zero by default). A wide range reorders messages.
    pub delay: (Duration, Duration),
    /// Engines cut off the bus: nothing reaches them, nothing leaves them.
    pub cut: BTreeSet<usize>,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages lost (by `loss_permille` or a cut).
    pub lost: u64,
}

impl SimBus {
    /// The engines a message from `from` to `to` reaches (the sender too, for
    /// `All`, as NATS echoes by default), before loss.
    pub(crate) fn receivers(&self, from: usize, to: &BusTarget) -> Vec<usize> {
        let Some(Some(sender)) = self.members.get(from) else {
            return Vec::new();
        };
        self.members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let m = m.as_ref()?;
                if m.cluster != sender.cluster {
                    return None;
                }
                match to {
                    BusTarget::All => Some(i),
                    BusTarget::Node(n) if *n == m.node => Some(i),
                    BusTarget::Node(_) => None,
                }
            })
            .collect()
    }
}
