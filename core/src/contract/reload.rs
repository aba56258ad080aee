//! What applying a new program to a running engine answers (see
//! [`crate::engine::Engine::reload`]).

use std::collections::BTreeMap;

use crate::contract::ids::{ConnId, ServerId};

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Each server of the previous program that the new one still has (by name):
    /// its previous number → its number now.
    pub servers: BTreeMap<ServerId, ServerId>,
    /// Connections closed because their server was removed or no longer takes them
    /// (each also announced with `Output::StreamClose`).
    pub closed: Vec<ConnId>,
}

/// Why a program cannot be applied to a running engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The `connect` backends (or which of them `listen { backend … }` servers keep
    /// connected) differ: their dialed connections cannot be carried over.
    #[error("the `connect` backends changed; their outbound connections cannot be carried over")]
    DialerChanged,
    /// The `cluster { … }` section differs: this node's identity and its bus
    /// are fixed for the life of the process.
    #[error("the `cluster` section changed; a node's cluster settings need a restart")]
    ClusterChanged,
}
