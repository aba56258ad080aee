//! Gauges of the backend side the driver publishes as metrics (see
//! [`crate::engine::Engine::backend_gauges`]).

use std::collections::BTreeMap;

use crate::contract::ids::{ServerId, ServerRef};
use crate::eval::ir::BackendId;

/// Requests of one RADIUS backend the engine holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendLoad {
    /// Sent and awaiting their reply (each holds one RADIUS identifier).
    pub in_flight: usize,
    /// Waiting for an identifier (reverse: in a connection's backlog) or, for a
    /// `connect` backend, for a connection or an identifier.
    pub queued: usize,
}

/// Gauges of the backend side, computed by [`Engine::backend_gauges`](crate::engine::Engine::backend_gauges). Every map
/// has an entry for everything configured that it covers, zero included, so that a
/// caller setting gauges from it resets the ones that went back to zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendGauges {
    /// Every RADIUS backend (reverse or `connect`): its requests in flight and queued.
    pub backends: BTreeMap<BackendId, BackendLoad>,
    /// Every RADIUS server listening on TCP or TLS: identifiers allocated over its
    /// accepted connections (requests in flight plus identifiers resting after
    /// a timeout; at most 256 per connection).
    pub identifiers: BTreeMap<ServerId, usize>,
    /// Every `connect` server of a RADIUS backend: whether it is up. A stream server
    /// is up while a connection to it is established (its watchdog closes one that
    /// stops answering); a UDP server starts up and is down while it does not answer.
    /// Reverse servers have no entry: whether a NAS connection will be selected is
    /// only known when a request runs `@select`.
    pub servers_up: BTreeMap<ServerRef, bool>,
}
