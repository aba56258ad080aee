//! What passed through the network: every engine output and event with its time
//! and engine, for tests that check a sequence of outputs or events.

use std::time::Duration;

use crate::engine::{Event, Output};
use crate::testnet::node::NodeId;

/// One output that passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Passed {
    /// Virtual time it was carried out.
    pub at: Duration,
    /// The engine that emitted it.
    pub node: NodeId,
    /// The output.
    pub output: Output,
}

/// One event an engine reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    /// Virtual time it was drained.
    pub at: Duration,
    /// The engine that reported it.
    pub node: NodeId,
    /// The event.
    pub event: Event,
}

/// The outputs that passed and the events reported, each in order.
#[derive(Debug, Default)]
pub struct Record {
    passed: Vec<Passed>,
    reported: Vec<Reported>,
}

impl Record {
    /// Keep a copy of `output`.
    pub fn push(&mut self, at: Duration, node: NodeId, output: &Output) {
        self.passed.push(Passed {
            at,
            node,
            output: output.clone(),
        });
    }

    /// Keep a copy of `event`.
    pub fn report(&mut self, at: Duration, node: NodeId, event: &Event) {
        self.reported.push(Reported {
            at,
            node,
            event: event.clone(),
        });
    }

    /// Every event kept, in order.
    pub fn reported(&self) -> &[Reported] {
        &self.reported
    }

    /// Every output kept, in order.
    pub fn passed(&self) -> &[Passed] {
        &self.passed
    }

    /// Remove and return the entries for which `take` is true, in order.
    pub fn take(&mut self, mut take: impl FnMut(&Passed) -> bool) -> Vec<Passed> {
        let mut taken = Vec::new();
        let mut kept = Vec::with_capacity(self.passed.len());
        for p in self.passed.drain(..) {
            if take(&p) {
                taken.push(p);
            } else {
                kept.push(p);
            }
        }
        self.passed = kept;
        taken
    }
}
