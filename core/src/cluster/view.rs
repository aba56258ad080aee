//! The connections of the other nodes, as this node knows them.
//!
//! Each node publishes its connections as numbered updates; a receiver applies
//! update `n + 1` after `n`. A gap (an update lost on the bus, or a heartbeat
//! naming a later update than the last applied), a node not seen before, or a
//! node with a new epoch (restarted) starts a *repair*: the node is asked for a
//! snapshot, updates arriving meanwhile are kept, and once every part of the
//! snapshot is in, the node's connections are replaced by it and the kept updates
//! after it are applied. A node not heard from within `node_timeout` is removed
//! with its connections. Nothing stale is kept silently: a node under repair is
//! reported as such ([`NodeStatus::repairing`]).
//!
//! Every remote connection is in one [`Registry`], with the same exact-match
//! indexes as local ones, so the `@select` index covers them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use crate::cluster::wire::{ConnFacts, NodeRef};
use crate::contract::ConnId;
use crate::eval::context::ConnectionInfo;
use crate::lang::program::Cluster as ClusterConfig;
use crate::reverse::index::Probe;
use crate::reverse::registry::Registry;

/// Updates kept per node while its snapshot is awaited; beyond it they are
/// dropped and the snapshot asked for again.
pub const MAX_BUFFERED_UPDATES: usize = 1024;

/// What the view holds for a remote connection besides its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The owner's `node_id`.
    pub node: u16,
    /// Its NAS-Identifier binding, as the owner enforces it.
    pub binding: String,
}

/// An update kept while a snapshot is awaited.
#[derive(Debug)]
struct Buffered {
    seq: u64,
    upsert: Vec<ConnFacts>,
    remove: Vec<u64>,
}

/// A snapshot being assembled.
#[derive(Debug)]
struct Assembly {
    seq: u64,
    parts: u32,
    got: BTreeMap<u32, Vec<ConnFacts>>,
}

/// A repair in progress.
#[derive(Debug)]
struct Repair {
    /// When the snapshot was (last) asked for.
    asked: Instant,
    assembly: Option<Assembly>,
    buffered: Vec<Buffered>,
}

/// One remote node.
#[derive(Debug)]
struct NodeState {
    name: String,
    epoch: u64,
    /// Its [`NodeRef::wake`], the highest heard.
    wake: u64,
    /// The last update applied (`None` before the first snapshot).
    seq: Option<u64>,
    last_heard: Instant,
    conns: BTreeSet<ConnId>,
    repair: Option<Repair>,
}

/// A remote node, for the management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its name.
    pub name: String,
    /// Its `node_id`.
    pub id: u16,
    /// Its connections in this node's view.
    pub connections: usize,
    /// When it was last heard from.
    pub last_heard: Instant,
    /// Whether its connections are being repaired (a snapshot is awaited).
    pub repairing: bool,
}

/// What a message about a node asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Ok,
    /// Ask the node for a snapshot now.
    AskSnapshot,
}

/// The view of the other nodes' connections.
#[derive(Debug)]
pub struct View {
    me: u16,
    nodes: BTreeMap<u16, NodeState>,
    conns: Registry<Remote>,
}

impl View {
    /// An empty view for node `me`.
    pub fn new(me: u16) -> View {
        View {
            me,
            nodes: BTreeMap::new(),
            conns: Registry::new(),
        }
    }

    /// A message from `from` arrived at `now`: note it, and start over with a
    /// node that restarted. `None` when `from` is not a node this view can hold
    /// (this node's own id).
    pub fn heard(&mut self, from: &NodeRef, now: Instant) -> Option<Verdict> {
        if from.id == self.me || from.id == 0 {
            return None;
        }
        let restarted = match self.nodes.get(&from.id) {
            Some(n) => n.epoch != from.epoch || n.name != from.name,
            None => true,
        };
        if restarted {
            self.forget(from.id);
            self.nodes.insert(
                from.id,
                NodeState {
                    name: from.name.clone(),
                    epoch: from.epoch,
                    wake: from.wake,
                    seq: None,
                    last_heard: now,
                    conns: BTreeSet::new(),
                    repair: Some(Repair {
                        asked: now,
                        assembly: None,
                        buffered: Vec::new(),
                    }),
                },
            );
            return Some(Verdict::AskSnapshot);
        }
        if let Some(n) = self.nodes.get_mut(&from.id) {
            n.last_heard = now;
            n.wake = n.wake.max(from.wake);
        }
        Some(Verdict::Ok)
    }

    /// The [`NodeRef::wake`] last heard from node `node`.
    pub fn wake_of(&self, node: u16) -> Option<u64> {
        self.nodes.get(&node).map(|n| n.wake)
    }

    /// A heartbeat naming update `seq` as the node's last.
    pub fn heartbeat(&mut self, node: u16, seq: u64, now: Instant) -> Verdict {
        let Some(n) = self.nodes.get_mut(&node) else {
            return Verdict::Ok;
        };
        match (&n.repair, n.seq) {
            (None, Some(s)) if seq > s => {
                n.repair = Some(Repair {
                    asked: now,
                    assembly: None,
                    buffered: Vec::new(),
                });
                Verdict::AskSnapshot
            }
            _ => Verdict::Ok,
        }
    }

    /// Update `seq` of `node`.
    pub fn update(
        &mut self,
        node: u16,
        seq: u64,
        upsert: Vec<ConnFacts>,
        remove: Vec<u64>,
        now: Instant,
    ) -> Verdict {
        let Some(n) = self.nodes.get_mut(&node) else {
            return Verdict::Ok;
        };
        if let Some(repair) = &mut n.repair {
            if repair.buffered.len() >= MAX_BUFFERED_UPDATES {
                repair.buffered.clear();
                repair.assembly = None;
                repair.asked = now;
                return Verdict::AskSnapshot;
            }
            repair.buffered.push(Buffered {
                seq,
                upsert,
                remove,
            });
            return Verdict::Ok;
        }
        match n.seq {
            Some(s) if seq <= s => Verdict::Ok,
            Some(s) if seq == s + 1 => {
                n.seq = Some(seq);
                self.apply(node, upsert, &remove);
                Verdict::Ok
            }
            _ => {
                n.repair = Some(Repair {
                    asked: now,
                    assembly: None,
                    buffered: vec![Buffered {
                        seq,
                        upsert,
                        remove,
                    }],
                });
                Verdict::AskSnapshot
            }
        }
    }

    /// Part `part` of `parts` of `node`'s snapshot as of update `seq`.
    pub fn snapshot(
        &mut self,
        node: u16,
        seq: u64,
        part: u32,
        parts: u32,
        conns: Vec<ConnFacts>,
        now: Instant,
    ) -> Verdict {
        let Some(n) = self.nodes.get_mut(&node) else {
            return Verdict::Ok;
        };
        let Some(repair) = &mut n.repair else {
            // Not asked for (or already repaired): an answer to another node's
            // request, or a duplicate.
            return Verdict::Ok;
        };
        if parts == 0 || part >= parts {
            return Verdict::Ok;
        }
        let fresh = match &repair.assembly {
            Some(a) => seq > a.seq || (seq == a.seq && parts != a.parts),
            None => true,
        };
        if fresh {
            repair.assembly = Some(Assembly {
                seq,
                parts,
                got: BTreeMap::new(),
            });
        }
        let Some(assembly) = &mut repair.assembly else {
            return Verdict::Ok;
        };
        if seq != assembly.seq {
            return Verdict::Ok;
        }
        assembly.got.insert(part, conns);
        if assembly.got.len() < usize::try_from(assembly.parts).unwrap_or(usize::MAX) {
            return Verdict::Ok;
        }
        // Complete: replace the node's connections, then apply what came after.
        let Some(mut repair) = n.repair.take() else {
            return Verdict::Ok;
        };
        let Some(assembly) = repair.assembly.take() else {
            return Verdict::Ok;
        };
        let old: Vec<ConnId> = n.conns.iter().copied().collect();
        n.seq = Some(assembly.seq);
        let mut seq = assembly.seq;
        for id in old {
            self.conns.remove(id);
        }
        if let Some(n) = self.nodes.get_mut(&node) {
            n.conns.clear();
        }
        let all: Vec<ConnFacts> = assembly.got.into_values().flatten().collect();
        self.apply(node, all, &[]);
        repair.buffered.sort_by_key(|b| b.seq);
        let mut rest = Vec::new();
        for b in repair.buffered {
            if b.seq <= seq {
                continue;
            }
            if b.seq == seq + 1 && rest.is_empty() {
                seq = b.seq;
                self.apply(node, b.upsert, &b.remove);
            } else {
                rest.push(b);
            }
        }
        let Some(n) = self.nodes.get_mut(&node) else {
            return Verdict::Ok;
        };
        n.seq = Some(seq);
        if rest.is_empty() {
            Verdict::Ok
        } else {
            n.repair = Some(Repair {
                asked: now,
                assembly: None,
                buffered: rest,
            });
            Verdict::AskSnapshot
        }
    }

    /// Apply facts of `node`'s connections: add or replace `upsert`, drop
    /// `remove`. Facts of connections another node owns are ignored.
    fn apply(&mut self, node: u16, upsert: Vec<ConnFacts>, remove: &[u64]) {
        for id in remove {
            let id = ConnId(*id);
            if ClusterConfig::owner_of(id.0) == node {
                self.conns.remove(id);
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.conns.remove(&id);
                }
            }
        }
        for facts in upsert {
            if ClusterConfig::owner_of(facts.id) != node {
                continue;
            }
            let Ok(info) = facts.info() else {
                continue;
            };
            let id = ConnId(facts.id);
            self.conns.remove(id);
            let remote = Remote {
                node,
                binding: facts.binding,
            };
            if self.conns.insert(info, remote).is_ok()
                && let Some(n) = self.nodes.get_mut(&node)
            {
                n.conns.insert(id);
            }
        }
    }

    /// Remove a node and its connections.
    pub fn forget(&mut self, node: u16) -> bool {
        let Some(n) = self.nodes.remove(&node) else {
            return false;
        };
        for id in n.conns {
            self.conns.remove(id);
        }
        true
    }

    /// Nodes not heard from since `before`: removed, returned.
    pub fn expire(&mut self, before: Instant) -> Vec<(u16, String)> {
        let gone: Vec<(u16, String)> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.last_heard < before)
            .map(|(id, n)| (*id, n.name.clone()))
            .collect();
        for (id, _) in &gone {
            self.forget(*id);
        }
        gone
    }

    /// Nodes whose snapshot was asked for before `before` and has not come:
    /// asked again now (their names returned).
    pub fn overdue_repairs(&mut self, before: Instant, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for n in self.nodes.values_mut() {
            if let Some(r) = &mut n.repair
                && r.asked < before
            {
                r.asked = now;
                out.push(n.name.clone());
            }
        }
        out
    }

    /// The name of the node with this id.
    pub fn node_name(&self, node: u16) -> Option<&str> {
        self.nodes.get(&node).map(|n| n.name.as_str())
    }

    /// The owner of a remote connection in the view.
    pub fn owner(&self, conn: ConnId) -> Option<u16> {
        self.conns.get(conn).map(|e| e.state.node)
    }

    /// A remote connection.
    pub fn get(&self, conn: ConnId) -> Option<(&Arc<ConnectionInfo>, &Remote)> {
        self.conns.get(conn).map(|e| (e.info(), &e.state))
    }

    /// Every remote connection, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<ConnectionInfo>, &Remote)> + '_ {
        self.conns.iter().map(|(_, e)| (e.info(), &e.state))
    }

    /// The `@select` candidates among remote connections, by id (see
    /// [`Registry::candidates`]).
    pub fn candidates(&self, probe: Option<&Probe>) -> Vec<Arc<ConnectionInfo>> {
        self.conns.candidates(probe)
    }

    /// How many remote connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// How many remote nodes are in the view.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The remote nodes.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .map(|(id, n)| NodeStatus {
                name: n.name.clone(),
                id: *id,
                connections: n.conns.len(),
                last_heard: n.last_heard,
                repairing: n.repair.is_some(),
            })
            .collect()
    }

    /// The view's own invariants: the registry's, every connection filed under
    /// the node that owns it by number, and the nodes' sets match the registry.
    pub fn check(&self) -> Result<(), String> {
        self.conns.check()?;
        let mut total = 0;
        for (id, n) in &self.nodes {
            for c in &n.conns {
                match self.conns.get(*c) {
                    Some(e) if e.state.node == *id && ClusterConfig::owner_of(c.0) == *id => {}
                    _ => return Err(format!("view: node {id} lists connection {c} wrongly")),
                }
            }
            total += n.conns.len();
        }
        if total != self.conns.len() {
            return Err(format!(
                "view: {} connections, the nodes list {total}",
                self.conns.len()
            ));
        }
        Ok(())
    }
}
