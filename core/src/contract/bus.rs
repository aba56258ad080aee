//! The cluster bus as the driver sees it: opaque messages between the nodes of a
//! `cluster { … }` (NATS in the daemon, a simulated bus in the simulation). What
//! the messages say is the engine's business (`crate::cluster`); the driver only
//! carries them.

/// Where a cluster message goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BusTarget {
    /// Every node of the cluster (NATS subject `boomerang.CLUSTER.all`). The
    /// sender may receive its own message back; the engine ignores it.
    All,
    /// One node, by name (NATS subject `boomerang.CLUSTER.node.NAME`).
    Node(String),
}

impl BusTarget {
    /// The NATS subject for this target in cluster `cluster`.
    pub fn subject(&self, cluster: &str) -> String {
        match self {
            BusTarget::All => format!("boomerang.{cluster}.all"),
            BusTarget::Node(n) => format!("boomerang.{cluster}.node.{n}"),
        }
    }
}
