//! The cluster part: this node's place in a `cluster { … }` (see
//! `docs/cluster.md`).
//!
//! It holds the view of the other nodes' connections ([`View`]), announces this
//! node (heartbeats, updates, snapshots), and keeps the two ends of forwarded
//! reverse requests: the requests this node forwarded to a connection's owner and
//! waits for (*outgoing*), and the requests other nodes forwarded to this node's
//! connections (*incoming*, remembered by sender and number so that a duplicate is
//! never sent to a NAS twice, and answered again from memory once answered).
//!
//! It is sans-IO like the rest of the engine: messages to send pile up in an
//! outbox the engine turns into [`Output::Bus`](crate::contract::Output::Bus);
//! what the engine must act on comes back as [`Happened`].

pub mod view;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::contract::{BusTarget, ConnId};
use crate::eval::context::ConnectionInfo;
use crate::lang::program::Cluster as ClusterConfig;

pub use view::{NodeStatus, Remote, Verdict, View};
pub use wire::{ConnFacts, ForwardResult, Message, NodeRef, WireError};

/// Forwarded requests from other nodes being sent at once; beyond it a new one
/// is refused with `QUEUE_FULL`.
pub const MAX_INCOMING: usize = 65_536;
/// Answered forwarded requests remembered (to answer a duplicate again); beyond
/// it the oldest is forgotten early. A forgotten one is still never sent twice:
/// each sender's highest forgotten request number is kept ([`ClusterPart`]).
pub const MAX_ANSWERED: usize = 65_536;
/// Refused messages are reported (logged) at most once per this interval; the
/// next report says how many were not.
pub const REFUSED_REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// Epochs (restarts) of one node whose highest forgotten request number is kept.
const EPOCHS_KEPT: usize = 4;
/// At most this many connections in one snapshot part or update.
pub const SNAPSHOT_PART: usize = 1000;

/// At most this many bytes of connection facts in one message (an update or a
/// snapshot part): NATS refuses payloads above its `max_payload` (1 MiB by default),
/// and connections with long certificate names would otherwise reach it.
pub const MESSAGE_BYTES: usize = 256 * 1024;

/// At most this many removed connection numbers in one update.
pub const UPDATE_REMOVES: usize = 8192;

/// `conns` in runs of at most [`SNAPSHOT_PART`] connections and about
/// [`MESSAGE_BYTES`] of JSON each (a single connection larger than that still goes
/// alone); nothing when `conns` is empty.
fn parts(conns: Vec<ConnFacts>) -> Vec<Vec<ConnFacts>> {
    // The usual update, one connection changed by one input: it goes alone anyway,
    // so it is not measured (no second serialization per event).
    if conns.len() <= 1 {
        return if conns.is_empty() {
            Vec::new()
        } else {
            vec![conns]
        };
    }
    let mut out = Vec::new();
    let mut part = Vec::new();
    let mut bytes = 0;
    for facts in conns {
        let size = serde_json::to_vec(&facts).map_or(MESSAGE_BYTES, |v| v.len() + 1);
        if !part.is_empty() && (part.len() >= SNAPSHOT_PART || bytes + size > MESSAGE_BYTES) {
            out.push(std::mem::take(&mut part));
            bytes = 0;
        }
        bytes += size;
        part.push(facts);
    }
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// The cluster as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// This node's name.
    pub node: String,
    /// This node's `node_id`.
    pub node_id: u16,
    /// Whether the bus is up.
    pub bus_up: bool,
    /// This node's connections.
    pub local_connections: usize,
    /// The other nodes.
    pub nodes: Vec<NodeStatus>,
    /// Requests this node forwarded, waiting for their answer.
    pub forwarded_waiting: usize,
    /// Requests forwarded to this node, being sent.
    pub incoming_running: usize,
}

/// The cluster's sizes, for gauges: read in constant time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterSizes {
    /// Other nodes in the view.
    pub nodes: usize,
    /// Their connections in the view.
    pub view_connections: usize,
    /// Requests this node forwarded, waiting for their answer.
    pub forwarded_waiting: usize,
}

/// One connection of the cluster, for `/api/v1/connections?scope=cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConnection {
    /// What `connection.*` reads.
    pub info: Arc<ConnectionInfo>,
    /// The node that holds it.
    pub node: String,
}

/// A forwarded request as its owner knows it: the sender and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncomingKey {
    /// The trigger node's `node_id`.
    pub node: u16,
    /// Its epoch.
    pub epoch: u64,
    /// Its number for the request.
    pub fid: u64,
}

/// Where an incoming forwarded request is.
#[derive(Debug)]
enum IncomingState {
    /// Handed to the connection's peer machine.
    Running,
    /// Answered; a duplicate gets this answer again.
    Answered(ForwardResult),
}

#[derive(Debug)]
struct Incoming {
    /// The trigger node's name (where answers go).
    reply_to: String,
    state: IncomingState,
    forget_at: Instant,
}

#[derive(Debug)]
struct Outgoing<W> {
    waiter: W,
    node: u16,
    deadline: Instant,
    sent: Instant,
}

/// What the engine must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened<W> {
    /// The owner answered a request this node forwarded.
    Answered {
        /// Who waits for it.
        waiter: W,
        /// The answer.
        result: ForwardResult,
        /// How long it took.
        latency: Duration,
    },
    /// No answer in time: `REVERSE_TIMEOUT`.
    TimedOut {
        /// Who waits for it.
        waiter: W,
    },
    /// The owner left the view with the request unanswered: the NAS may or may
    /// not have seen it.
    OwnerLost {
        /// Who waits for it.
        waiter: W,
    },
    /// Another node forwarded a request for one of this node's connections: send
    /// it, then [`ClusterPart::answer`] it.
    Forwarded {
        /// The request's key.
        key: IncomingKey,
        /// The connection.
        conn: ConnId,
        /// The reverse backend's name.
        backend: String,
        /// The reverse server's name.
        server: String,
        /// The request template.
        packet: Vec<u8>,
        /// The reverse server's timeout.
        timeout: Duration,
    },
    /// A node wants every connection of this one: call
    /// [`ClusterPart::send_snapshot`].
    SnapshotWanted {
        /// The node's name.
        node: String,
    },
    /// A node joined the view or left it (for logs).
    Membership {
        /// Its name.
        node: String,
        /// Joined (`true`) or left.
        joined: bool,
    },
    /// A forwarded request turned away at once with `QUEUE_FULL` (this node holds
    /// as many as it may); its sender has been answered. For the metrics: the
    /// request never reached the engine.
    TurnedAway,
    /// A message that could not be used (for logs and metrics).
    Refused {
        /// Why.
        reason: String,
    },
}

/// The cluster part; `W` is whatever the engine uses to name a waiting request.
#[derive(Debug)]
pub struct ClusterPart<W> {
    config: ClusterConfig,
    me: NodeRef,
    /// The last update sent.
    seq: u64,
    bus_up: bool,
    view: View,
    next_heartbeat: Option<Instant>,
    next_fid: u64,
    outgoing: BTreeMap<u64, Outgoing<W>>,
    deadlines: BTreeSet<(Instant, u64)>,
    incoming: BTreeMap<IncomingKey, Incoming>,
    forget: BTreeSet<(Instant, IncomingKey)>,
    /// How many of `incoming` are being sent.
    running: usize,
    /// Answered incoming requests in the order they were answered (which is their
    /// forget order), for forgetting the oldest early; entries already forgotten
    /// are skipped.
    answered: VecDeque<(Instant, IncomingKey)>,
    /// The highest request number forgotten from each sender: per node id, its
    /// last [`EPOCHS_KEPT`] epochs, newest last. A number at or below it that is not
    /// remembered is dropped, never sent: either a duplicate of a request sent and
    /// forgotten, or a request the bus held back past a later one's whole life
    /// (its sender has given up on it long since, unless the later one was
    /// forgotten early under [`MAX_ANSWERED`]). Numbers *seen* are not the mark: the
    /// bus may reorder, and a request overtaken by a later one is still new.
    forgotten: BTreeMap<u16, Vec<(u64, u64)>>,
    outbox: VecDeque<(BusTarget, Bytes)>,
    /// When a refused message was last reported, and how many were not since.
    refused_reported: Option<Instant>,
    refused_unreported: u64,
    /// The latest time this part was run. It runs at least once a heartbeat; a gap
    /// longer than `node_timeout` means this node stalled (stopped, starved), and
    /// the others have given it up meanwhile, failing what they forwarded to it:
    /// it then counts a wake-up (`me.wake`), see [`NodeRef::wake`].
    last_run: Option<Instant>,
}

impl<W: Copy + Ord + std::fmt::Debug> ClusterPart<W> {
    /// This node's part of `config`'s cluster; `epoch` is drawn at start.
    pub fn new(config: ClusterConfig, epoch: u64) -> ClusterPart<W> {
        let me = NodeRef {
            name: config.node.clone(),
            id: config.node_id,
            epoch,
            wake: 0,
        };
        ClusterPart {
            view: View::new(config.node_id),
            config,
            me,
            seq: 0,
            bus_up: false,
            next_heartbeat: None,
            next_fid: 0,
            outgoing: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            incoming: BTreeMap::new(),
            forget: BTreeSet::new(),
            running: 0,
            answered: VecDeque::new(),
            forgotten: BTreeMap::new(),
            outbox: VecDeque::new(),
            refused_reported: None,
            refused_unreported: 0,
            last_run: None,
        }
    }

    /// Note that the part runs at `now`: after a gap longer than `node_timeout`
    /// (a stall), count a wake-up. Requests forwarded to this node before the
    /// others heard of it carry the previous count and are refused, never sent:
    /// their senders have given them up (and may have retried them elsewhere), so
    /// sending them now would act after the trigger was answered.
    fn ran(&mut self, now: Instant) {
        if let Some(last) = self.last_run {
            if now.saturating_duration_since(last) > self.config.node_timeout {
                self.me.wake += 1;
            }
            self.last_run = Some(last.max(now));
        } else {
            self.last_run = Some(now);
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// This node.
    pub fn me(&self) -> &NodeRef {
        &self.me
    }

    /// The view of the other nodes.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// Whether the bus is up, as the driver last said.
    pub fn bus_up(&self) -> bool {
        self.bus_up
    }

    /// Requests forwarded by this node and not answered yet.
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Requests forwarded to this node and being sent.
    pub fn incoming_running(&self) -> usize {
        self.running
    }

    /// Whether `key` is being sent (for the engine's invariant check).
    pub fn is_running(&self, key: &IncomingKey) -> bool {
        matches!(
            self.incoming.get(key).map(|i| &i.state),
            Some(IncomingState::Running)
        )
    }

    /// The waiter of outgoing request `fid` and the node it went to.
    pub fn outgoing(&self, fid: u64) -> Option<(W, u16)> {
        self.outgoing.get(&fid).map(|o| (o.waiter, o.node))
    }

    /// Every outgoing request: number, waiter.
    pub fn outgoing_waiters(&self) -> impl Iterator<Item = (u64, W)> + '_ {
        self.outgoing.iter().map(|(fid, o)| (*fid, o.waiter))
    }

    /// The next message for the bus.
    pub fn poll_send(&mut self) -> Option<(BusTarget, Bytes)> {
        self.outbox.pop_front()
    }

    fn send(&mut self, to: BusTarget, msg: &Message) {
        self.outbox.push_back((to, Bytes::from(msg.encode())));
    }

    /// The driver's bus came up or went down. Coming up, this node announces
    /// itself at once (the others notice any update they missed and ask for a
    /// snapshot).
    pub fn bus_state(&mut self, now: Instant, up: bool, local_conns: usize) {
        self.ran(now);
        let was = self.bus_up;
        self.bus_up = up;
        if up && !was {
            self.heartbeat(now, local_conns);
        }
    }

    fn heartbeat(&mut self, now: Instant, local_conns: usize) {
        let msg = Message::Heartbeat {
            from: self.me.clone(),
            seq: self.seq,
            conns: u64::try_from(local_conns).unwrap_or(u64::MAX),
        };
        self.send(BusTarget::All, &msg);
        self.next_heartbeat = Some(now + self.config.heartbeat);
    }

    /// Publish changes to this node's connections (one update; nothing when
    /// there is no change).
    /// A large change goes as several numbered updates (each within
    /// [`MESSAGE_BYTES`]): first the connections that appeared or changed, then those
    /// that closed, as one update would apply them.
    pub fn publish(&mut self, upsert: Vec<ConnFacts>, remove: Vec<u64>) {
        let upserts = parts(upsert);
        let removes: Vec<Vec<u64>> = remove.chunks(UPDATE_REMOVES).map(<[u64]>::to_vec).collect();
        let updates: Vec<(Vec<ConnFacts>, Vec<u64>)> = if upserts.len() <= 1 && removes.len() <= 1 {
            // The usual case: one update with both.
            let u = upserts.into_iter().next().unwrap_or_default();
            let r = removes.into_iter().next().unwrap_or_default();
            if u.is_empty() && r.is_empty() {
                return;
            }
            vec![(u, r)]
        } else {
            upserts
                .into_iter()
                .map(|u| (u, Vec::new()))
                .chain(removes.into_iter().map(|r| (Vec::new(), r)))
                .collect()
        };
        for (upsert, remove) in updates {
            self.seq += 1;
            let msg = Message::Update {
                from: self.me.clone(),
                seq: self.seq,
                upsert,
                remove,
            };
            self.send(BusTarget::All, &msg);
        }
    }

    /// Send every connection of this node to `node`, in parts, as of the last
    /// update.
    pub fn send_snapshot(&mut self, node: &str, conns: Vec<ConnFacts>) {
        let mut chunks = parts(conns);
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        let parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        for (i, conns) in chunks.into_iter().enumerate() {
            let msg = Message::Snapshot {
                from: self.me.clone(),
                seq: self.seq,
                part: u32::try_from(i).unwrap_or(u32::MAX),
                parts,
                conns,
            };
            self.send(BusTarget::Node(node.to_owned()), &msg);
        }
    }

    /// When [`ClusterPart::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.next_heartbeat,
            self.deadlines.first().map(|(at, _)| *at),
            self.forget.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run what is due at `now`: the heartbeat (and with it the removal of nodes
    /// not heard from and the repairs overdue), forwarded requests past their
    /// deadline, incoming ones to forget.
    pub fn handle_timeout(&mut self, now: Instant, local_conns: usize) -> Vec<Happened<W>> {
        self.ran(now);
        let mut out = Vec::new();
        match self.next_heartbeat {
            None => self.heartbeat(now, local_conns),
            Some(at) if at <= now => {
                self.heartbeat(now, local_conns);
                if let Some(before) = now.checked_sub(self.config.node_timeout) {
                    for (id, name) in self.view.expire(before) {
                        out.extend(self.owner_lost(id));
                        out.push(Happened::Membership {
                            node: name,
                            joined: false,
                        });
                    }
                }
                let overdue = now
                    .checked_sub(self.config.heartbeat * 2)
                    .map(|before| self.view.overdue_repairs(before, now))
                    .unwrap_or_default();
                for name in overdue {
                    self.ask_snapshot(&name);
                }
            }
            Some(_) => {}
        }
        while let Some(&(at, fid)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(o) = self.outgoing.remove(&fid) {
                out.push(Happened::TimedOut { waiter: o.waiter });
            }
        }
        while let Some(&(at, key)) = self.forget.first() {
            if at > now {
                break;
            }
            self.forget.pop_first();
            match self.incoming.get_mut(&key) {
                // A request still being sent is kept until its answer.
                Some(inc) if matches!(inc.state, IncomingState::Running) => {
                    let at = now + self.config.forward_margin.max(Duration::from_secs(1));
                    inc.forget_at = at;
                    self.forget.insert((at, key));
                }
                Some(_) => {
                    self.forget_incoming(key);
                    self.skip_forgotten();
                }
                None => {}
            }
        }
        out
    }

    fn owner_lost(&mut self, node: u16) -> Vec<Happened<W>> {
        let fids: Vec<u64> = self
            .outgoing
            .iter()
            .filter(|(_, o)| o.node == node)
            .map(|(fid, _)| *fid)
            .collect();
        let mut out = Vec::new();
        for fid in fids {
            if let Some(o) = self.outgoing.remove(&fid) {
                self.deadlines.remove(&(o.deadline, fid));
                out.push(Happened::OwnerLost { waiter: o.waiter });
            }
        }
        out
    }

    fn ask_snapshot(&mut self, node: &str) {
        let msg = Message::SnapshotRequest {
            from: self.me.clone(),
        };
        self.send(BusTarget::Node(node.to_owned()), &msg);
    }

    /// Forward a reverse request to the owner of `conn`. `None` when the
    /// connection is not in the view (it closed meanwhile).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &mut self,
        now: Instant,
        waiter: W,
        conn: ConnId,
        backend: &str,
        server: &str,
        packet: &[u8],
        timeout: Duration,
    ) -> Option<u64> {
        self.ran(now);
        let node = self.view.owner(conn)?;
        let name = self.view.node_name(node)?.to_owned();
        self.next_fid += 1;
        let fid = self.next_fid;
        let deadline = now + timeout + self.config.forward_margin;
        self.outgoing.insert(
            fid,
            Outgoing {
                waiter,
                node,
                deadline,
                sent: now,
            },
        );
        self.deadlines.insert((deadline, fid));
        let msg = Message::Forward {
            from: self.me.clone(),
            fid,
            conn: conn.0,
            backend: backend.to_owned(),
            server: server.to_owned(),
            packet: wire::hex(packet),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            to_wake: self.view.wake_of(node),
        };
        self.send(BusTarget::Node(name), &msg);
        Some(fid)
    }

    /// Give up waiting for outgoing request `fid` (its task ended otherwise).
    pub fn abandon(&mut self, fid: u64) {
        if let Some(o) = self.outgoing.remove(&fid) {
            self.deadlines.remove(&(o.deadline, fid));
        }
    }

    /// Answer an incoming forwarded request (once; later calls are ignored).
    pub fn answer(&mut self, now: Instant, key: IncomingKey, result: ForwardResult) {
        self.ran(now);
        let Some(inc) = self.incoming.get_mut(&key) else {
            return;
        };
        if !matches!(inc.state, IncomingState::Running) {
            return;
        }
        inc.state = IncomingState::Answered(result.clone());
        self.running -= 1;
        let to = inc.reply_to.clone();
        // Kept a little longer, for a duplicate of the request.
        let at = now + self.config.forward_margin + self.config.node_timeout;
        self.forget.remove(&(inc.forget_at, key));
        inc.forget_at = at;
        self.forget.insert((at, key));
        self.answered.push_back((at, key));
        while self.incoming.len() - self.running > MAX_ANSWERED {
            let Some((at, old)) = self.answered.pop_front() else {
                break;
            };
            if self.incoming.get(&old).is_some_and(|i| i.forget_at == at) {
                self.forget_incoming(old);
                self.forget.remove(&(at, old));
            }
        }
        let msg = Message::Answer {
            from: self.me.clone(),
            fid: key.fid,
            result,
        };
        self.send(BusTarget::Node(to), &msg);
    }

    /// The highest request number forgotten from node `id` in `epoch`.
    fn forgotten_of(&self, id: u16, epoch: u64) -> Option<u64> {
        self.forgotten
            .get(&id)?
            .iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, h)| *h)
    }

    /// Forget the incoming request `key`, raising its sender's mark.
    fn forget_incoming(&mut self, key: IncomingKey) {
        if self.incoming.remove(&key).is_none() {
            return;
        }
        let epochs = self.forgotten.entry(key.node).or_default();
        match epochs.iter_mut().find(|(e, _)| *e == key.epoch) {
            Some((_, mark)) => *mark = (*mark).max(key.fid),
            None => {
                epochs.push((key.epoch, key.fid));
                if epochs.len() > EPOCHS_KEPT {
                    epochs.remove(0);
                }
            }
        }
    }

    /// Drop the front of `answered` while it names requests already forgotten.
    fn skip_forgotten(&mut self) {
        while let Some(&(at, key)) = self.answered.front() {
            if self.incoming.get(&key).is_some_and(|i| i.forget_at == at) {
                break;
            }
            self.answered.pop_front();
        }
    }

    /// A message from the bus. Refusals are reported at most once per
    /// [`REFUSED_REPORT_INTERVAL`]: a misbehaving node cannot flood the log.
    pub fn receive(&mut self, now: Instant, data: &[u8], local_conns: usize) -> Vec<Happened<W>> {
        self.ran(now);
        let mut out = self.receive_message(now, data, local_conns);
        out.retain_mut(|h| match h {
            Happened::Refused { reason } => self.report_refused(now, reason),
            _ => true,
        });
        out
    }

    /// Whether to report this refusal now (with the count of those not reported
    /// since the last report appended to `reason`).
    fn report_refused(&mut self, now: Instant, reason: &mut String) -> bool {
        if self
            .refused_reported
            .is_some_and(|at| now < at + REFUSED_REPORT_INTERVAL)
        {
            self.refused_unreported += 1;
            return false;
        }
        if self.refused_unreported > 0 {
            use std::fmt::Write as _;
            let _ = write!(
                reason,
                " ({} more refused since the last report)",
                self.refused_unreported
            );
        }
        self.refused_reported = Some(now);
        self.refused_unreported = 0;
        true
    }

    fn receive_message(
        &mut self,
        now: Instant,
        data: &[u8],
        local_conns: usize,
    ) -> Vec<Happened<W>> {
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                return vec![Happened::Refused {
                    reason: e.to_string(),
                }];
            }
        };
        let from = msg.from().clone();
        if from.id == self.me.id {
            if from.name != self.me.name || from.epoch != self.me.epoch {
                return vec![Happened::Refused {
                    reason: format!(
                        "node \"{}\" uses node_id {}, which is this node's",
                        from.name, from.id
                    ),
                }];
            }
            // Our own message back from the bus.
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(name) = self.view.node_name(from.id)
            && name != from.name
        {
            // Two nodes with one node_id: the view flips between them.
            out.push(Happened::Refused {
                reason: format!(
                    "node_id {} was node \"{name}\" and is now \"{}\": if both run, each needs its own node_id (the view flips between them)",
                    from.id, from.name
                ),
            });
        }
        let known = self.view.node_name(from.id).is_some();
        match self.view.heard(&from, now) {
            None => {
                return vec![Happened::Refused {
                    reason: format!("node \"{}\" has node_id {}", from.name, from.id),
                }];
            }
            Some(Verdict::AskSnapshot) => {
                if known {
                    // It restarted: what it was sending is gone with it.
                    out.extend(self.owner_lost(from.id));
                }
                out.push(Happened::Membership {
                    node: from.name.clone(),
                    joined: true,
                });
                self.ask_snapshot(&from.name);
                // A newcomer learns about us at once.
                self.heartbeat(now, local_conns);
            }
            Some(Verdict::Ok) => {}
        }
        let verdict = match msg {
            Message::Heartbeat { seq, .. } => self.view.heartbeat(from.id, seq, now),
            Message::Update {
                seq,
                upsert,
                remove,
                ..
            } => self.view.update(from.id, seq, upsert, remove, now),
            Message::Snapshot {
                seq,
                part,
                parts,
                conns,
                ..
            } => self.view.snapshot(from.id, seq, part, parts, conns, now),
            Message::SnapshotRequest { .. } => {
                out.push(Happened::SnapshotWanted {
                    node: from.name.clone(),
                });
                Verdict::Ok
            }
            Message::Forward {
                fid,
                conn,
                backend,
                server,
                packet,
                timeout_ms,
                to_wake,
                ..
            } => {
                out.extend(self.incoming_forward(
                    now, &from, fid, conn, backend, server, &packet, timeout_ms, to_wake,
                ));
                Verdict::Ok
            }
            Message::Answer { fid, result, .. } => {
                match self.outgoing.get(&fid) {
                    Some(o) if o.node == from.id => {
                        if let Some(o) = self.outgoing.remove(&fid) {
                            self.deadlines.remove(&(o.deadline, fid));
                            out.push(Happened::Answered {
                                waiter: o.waiter,
                                result,
                                latency: now.saturating_duration_since(o.sent),
                            });
                        }
                    }
                    // Late (after the deadline), or not ours.
                    _ => {}
                }
                Verdict::Ok
            }
        };
        if verdict == Verdict::AskSnapshot {
            self.ask_snapshot(&from.name);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn incoming_forward(
        &mut self,
        now: Instant,
        from: &NodeRef,
        fid: u64,
        conn: u64,
        backend: String,
        server: String,
        packet: &str,
        timeout_ms: u64,
        to_wake: Option<u64>,
    ) -> Option<Happened<W>> {
        let key = IncomingKey {
            node: from.id,
            epoch: from.epoch,
            fid,
        };
        if let Some(inc) = self.incoming.get(&key) {
            // A duplicate: never sent twice; answered again once answered.
            if let IncomingState::Answered(result) = &inc.state {
                let msg = Message::Answer {
                    from: self.me.clone(),
                    fid,
                    result: result.clone(),
                };
                let to = inc.reply_to.clone();
                self.send(BusTarget::Node(to), &msg);
            }
            return None;
        }
        if self
            .forgotten_of(from.id, from.epoch)
            .is_some_and(|h| fid <= h)
        {
            // At or below a forgotten one: never sent (a duplicate of a request
            // already sent, or one overtaken by a later request's whole life).
            return Some(Happened::Refused {
                reason: format!(
                    "forwarded request {fid} from node \"{}\" is at or below one already forgotten: dropped",
                    from.name
                ),
            });
        }
        let timeout = Duration::from_millis(timeout_ms);
        let forget_at = now + timeout + self.config.forward_margin + self.config.node_timeout;
        let refuse = |code: &str, message: String| ForwardResult::Error {
            code: code.to_owned(),
            message,
        };
        if self.running >= MAX_INCOMING {
            // Not remembered (that is the bound): a duplicate is refused alike.
            let result = refuse(
                "QUEUE_FULL",
                format!(
                    "node \"{}\" holds {MAX_INCOMING} forwarded requests",
                    self.me.name
                ),
            );
            let msg = Message::Answer {
                from: self.me.clone(),
                fid,
                result,
            };
            self.send(BusTarget::Node(from.name.clone()), &msg);
            return Some(Happened::TurnedAway);
        }
        let packet = wire::unhex(packet);
        let stale = to_wake.is_some_and(|w| w < self.me.wake);
        let refusal = match &packet {
            _ if ClusterConfig::owner_of(conn) != self.me.id => {
                Some(ForwardResult::Lost { seen: false })
            }
            _ if stale => Some(refuse(
                "BACKEND_ERROR",
                format!(
                    "node \"{}\" was unresponsive for longer than node_timeout; a request forwarded to it before it was heard from again is not sent",
                    self.me.name
                ),
            )),
            Err(e) => Some(refuse("INVALID_VALUE", e.to_string())),
            Ok(_) => None,
        };
        self.incoming.insert(
            key,
            Incoming {
                reply_to: from.name.clone(),
                state: IncomingState::Running,
                forget_at,
            },
        );
        self.running += 1;
        self.forget.insert((forget_at, key));
        let (None, Ok(packet)) = (refusal.clone(), packet) else {
            if let Some(result) = refusal {
                self.answer(now, key, result);
            }
            return stale.then(|| Happened::Refused {
                reason: format!(
                    "forwarded request {fid} from node \"{}\" was sent before this node woke from a stall longer than node_timeout: not sent",
                    from.name
                ),
            });
        };
        Some(Happened::Forwarded {
            key,
            conn: ConnId(conn),
            backend,
            server,
            packet,
            timeout,
        })
    }

    /// The part's own invariants: the view's, every outgoing request has its
    /// deadline and back, every incoming one its forget time.
    pub fn check(&self) -> Result<(), String> {
        self.view.check()?;
        if self.deadlines.len() != self.outgoing.len() {
            return Err(format!(
                "cluster: {} deadlines for {} forwarded requests",
                self.deadlines.len(),
                self.outgoing.len()
            ));
        }
        for (at, fid) in &self.deadlines {
            if self.outgoing.get(fid).map(|o| o.deadline) != Some(*at) {
                return Err(format!("cluster: deadline of forward {fid} is stale"));
            }
        }
        for (key, inc) in &self.incoming {
            if !self.forget.contains(&(inc.forget_at, *key)) {
                return Err(format!("cluster: incoming {key:?} has no forget time"));
            }
        }
        if self.forget.len() != self.incoming.len() {
            return Err("cluster: a forget time without its request".into());
        }
        let running = self
            .incoming
            .values()
            .filter(|i| matches!(i.state, IncomingState::Running))
            .count();
        if running != self.running {
            return Err(format!(
                "cluster: {running} incoming requests running, {} counted",
                self.running
            ));
        }
        if running > MAX_INCOMING || self.incoming.len() - running > MAX_ANSWERED {
            return Err("cluster: more incoming requests held than the bounds allow".into());
        }
        for (node, epochs) in &self.forgotten {
            let distinct: BTreeSet<u64> = epochs.iter().map(|(e, _)| *e).collect();
            if epochs.len() > EPOCHS_KEPT || distinct.len() != epochs.len() {
                return Err(format!(
                    "cluster: node {node}'s forgotten marks {epochs:?} exceed {EPOCHS_KEPT} distinct epochs"
                ));
            }
        }
        Ok(())
    }
}
