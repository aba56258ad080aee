//! Lowering of execution pipelines, conditions and query blocks from the syntax tree
//! to the interpreter's IR, resolving every name and reporting every mistake.

use std::sync::Arc;

use crate::eval::ir::{Condition, Expr, Pipeline};
use crate::eval::query::{Bindings, Mapping, SqlAssign};
use crate::lang::compile::names::Names;
use crate::lang::diag::Diagnostic;
use crate::lang::syntax::{Block, Item};
use crate::radius::dictionary::Dictionary;

/// Which kind of pipeline is being lowered; decides which variables and actions are
/// allowed (e.g. `connection.*` only inside `@select`, no `reply` in `@final-execute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `@execute` (and `@pre-execute`/`@post-execute` if ever supported).
    Execute,
    /// `@final-execute`: runs after the reply was sent.
    FinalExecute,
    /// `reverse { @select { … } }`: `connection.*` is readable.
    Select,
    /// `aaa { pipeline "NAME" { … } }`, run through `invoke`.
    Named,
}

/// What lowering needs from the rest of the compiler.
pub struct LowerCx<'a> {
    /// Attribute names and values.
    pub dictionary: &'a Dictionary,
    /// Backends, queries and named pipelines.
    pub names: &'a Names,
    /// Where every problem found is reported (all of them, not just the first).
    pub diagnostics: &'a mut Vec<Diagnostic>,
}

/// Lower a pipeline body (the block of `@execute { … }`, `@select { … }`, …).
pub fn lower_pipeline(_cx: &mut LowerCx<'_>, _stage: Stage, _block: &Block) -> Arc<Pipeline> {
    Pipeline::new(Vec::new())
}

/// Lower a `conditions all|any|none { … }` item of a policy or handler.
pub fn lower_conditions(_cx: &mut LowerCx<'_>, _item: &Item) -> Option<Condition> {
    None
}

/// Lower the `bindings { … }` block of a RADIUS query.
pub fn lower_bindings(_cx: &mut LowerCx<'_>, _block: &Block) -> Bindings {
    Bindings::default()
}

/// Lower the `mapping { … }` (or `mappings`) block of a RADIUS query.
pub fn lower_mapping(_cx: &mut LowerCx<'_>, _block: &Block) -> Mapping {
    Mapping::default()
}

/// Lower the positional `bindings { … }` of an SQL query: one expression per `?`.
pub fn lower_sql_params(_cx: &mut LowerCx<'_>, _block: &Block) -> Vec<Expr> {
    Vec::new()
}

/// Lower the `mapping { place = column; … }` of an SQL query.
pub fn lower_sql_mapping(_cx: &mut LowerCx<'_>, _block: &Block) -> Vec<SqlAssign> {
    Vec::new()
}
