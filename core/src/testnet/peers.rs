//! The simulated parties around the engines: NAS, trigger senders, the HTTP
//! client, the SQL responder, upstream servers, and the links between them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::contract::ServerId;
use crate::engine::ConnId;
use crate::testnet::http::HttpClient;
use crate::testnet::nas::Nas;
use crate::testnet::node::NodeId;
use crate::testnet::record::Record;
use crate::testnet::sql::SqlResponder;
use crate::testnet::trigger::UdpSenders;
use crate::testnet::upstream::Upstream;

pub(crate) struct NasEntry {
    pub(crate) nas: Nas,
    pub(crate) status: Option<(String, (Duration, Duration))>,
}

/// The simulated parties around the engines.
#[derive(Default)]
pub struct Peers {
    pub(crate) nases: BTreeMap<(usize, ConnId), NasEntry>,
    pub(crate) udp: UdpSenders,
    pub(crate) http: HttpClient,
    pub(crate) sql: SqlResponder,
    pub(crate) upstreams: BTreeMap<SocketAddr, Upstream>,
    /// Stream connections an engine dialed to an upstream server.
    pub(crate) upstream_conns: BTreeMap<(usize, ConnId), SocketAddr>,
    /// Stream connections between two engines, both ways.
    pub(crate) links: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    /// Where an engine's `connect` dials land: another engine's stream server.
    pub(crate) routes: BTreeMap<usize, (usize, ServerId)>,
    pub(crate) refuse: bool,
    pub(crate) record: Option<Record>,
}

impl Peers {
    pub(crate) fn nas(&self, node: NodeId, conn: ConnId) -> Option<&Nas> {
        self.nases.get(&(node.0, conn)).map(|e| &e.nas)
    }
}
