//! The names a configuration defines, collected before pipelines are lowered so that
//! `backend { name "X"; query "Q"; }` and `invoke "P";` resolve to indices whatever
//! the order of definitions in the files.

use std::collections::BTreeMap;

use crate::eval::ir::{BackendId, PipelineId, QueryId};
use crate::lang::span::Span;

/// What kind of backend a name refers to, as far as pipelines care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendNameKind {
    /// `backends { radius "NAME" { … } }`.
    Radius {
        /// At least one of its servers uses `reverse { @select … }`.
        reverse: bool,
        /// At least one of its servers uses `connect { … }`.
        connect: bool,
    },
    /// `backends { sqlite "NAME" { … } }`.
    Sqlite,
}

/// A backend's name entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendName {
    /// Its index in `Program::backends`.
    pub id: BackendId,
    /// RADIUS or SQL.
    pub kind: BackendNameKind,
    /// Its queries by name, with their indices.
    pub queries: BTreeMap<String, QueryId>,
    /// Where it was defined.
    pub span: Span,
}

/// Every name pipelines can refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Backends by name.
    pub backends: BTreeMap<String, BackendName>,
    /// Named pipelines (`aaa { pipeline "NAME" { … } }`) by name.
    pub pipelines: BTreeMap<String, PipelineId>,
}
