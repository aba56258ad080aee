//! What passed through the network: every engine output with its time and
//! engine, for tests that check a sequence of outputs.

use std::time::Duration;

use crate::engine::Output;
use crate::testnet::net::NodeId;

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

/// The outputs that passed, in order.
#[derive(Debug, Default)]
pub struct Record {
    passed: Vec<Passed>,
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

    /// Everything kept, in order.
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
