//! Lowering of execution pipelines, conditions and query blocks from the syntax tree
//! to the interpreter's IR, resolving every name and reporting every mistake.
//!
//! The parser's tree is uniform (items of terms, blocks and clauses); this module gives
//! it meaning: which word is which action, which dotted path is which variable, which
//! attribute a name denotes, which backend and query a `backend { … }` calls. Every
//! problem is reported as a [`Diagnostic`] at the text it is about, and lowering
//! carries on with the rest, so one run reports all of them. A construct with an error
//! is left out of the IR; callers must not run a program whose diagnostics contain
//! errors.
//!
//! Submodules: [`vars`] (variables and assignable places), [`expr`] (values,
//! templates, filters), [`cond`] (condition groups), [`actions`] (pipelines) and
//! [`query`] (backend query blocks).
//!
//! # Decisions
//!
//! * **Bare words in value position** (`modify vars.x = hello;`) are an error
//!   ("unknown variable `hello`", with a hint to quote it). A single word is only a
//!   variable when it names one (`id`); text must be quoted. This keeps a misspelt
//!   variable from silently becoming a string.
//! * **A condition line without an operator** (`vars.flag;`) is an error: every test
//!   is `left op right;`. Write `vars.flag == true;` or `vars.x != none;`.
//! * **`[0]`** is [`Index::First`](crate::eval::ir::Index::First), `[N]` is `Nth(N)`,
//!   `[n]` is `Last`, `[*]` is `All`; only attributes, `connection.cert.subject_alt.*`
//!   and the same under `radius.connection` take an index.
//! * **`timeout` inside `backend { … }`** is accepted with a warning that it is
//!   ignored (the server's own `timeout` applies); `range` is not supported.
//! * **`:=`** is accepted as `=` with a deprecation warning.
//! * **Stage rules** (checked here, so a configuration mistake is reported at load
//!   time rather than failing at run time): `connection.*` only inside `@select`;
//!   `reply` not in `@select` or `@final-execute`; inside `@select` only `vars.*`,
//!   `aaa.reason`, `aaa.message` and `aaa.caught_error` can be written; in
//!   `@final-execute` the reply (`radius.reply.*`, `http.status`, `http.response`,
//!   `http.response_header.*`) cannot be changed.
//! * Constant values written for attributes with named values
//!   (`radius.request.attr.Acct-Status-Type = "Alive"`) and packet codes written in
//!   `bindings` are checked against the dictionary.

use std::sync::Arc;

use crate::eval::ir::{Condition, Expr, Pipeline};
use crate::eval::query::{Bindings, Mapping, SqlAssign};
use crate::lang::compile::names::Names;
use crate::lang::diag::Diagnostic;
use crate::lang::span::Span;
use crate::lang::syntax::{Block, Item};
use crate::radius::dictionary::Dictionary;

pub mod actions;
pub mod cond;
pub mod expr;
pub mod query;
pub mod vars;

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

impl Stage {
    /// How the stage is written in configuration, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Execute => "@execute",
            Stage::FinalExecute => "@final-execute",
            Stage::Select => "@select",
            Stage::Named => "a named pipeline",
        }
    }
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
///
/// Actions with errors are reported and left out; the returned pipeline holds the
/// rest under the default directive (`while`).
pub fn lower_pipeline(cx: &mut LowerCx<'_>, stage: Stage, block: &Block) -> Arc<Pipeline> {
    let mut l = Lowerer::new(cx, stage);
    l.pipeline(&block.items)
}

/// Lower a `conditions all|any|none { … }` item of a policy or handler.
///
/// `None` (with a diagnostic) when the item is not a well-formed condition group.
/// Conditions are evaluated in the request's context, so the rules of `@execute`
/// apply (no `connection.*`).
pub fn lower_conditions(cx: &mut LowerCx<'_>, item: &Item) -> Option<Condition> {
    let mut l = Lowerer::new(cx, Stage::Execute);
    l.conditions_item(item)
}

/// Lower the `bindings { … }` block of a RADIUS query.
pub fn lower_bindings(cx: &mut LowerCx<'_>, block: &Block) -> Bindings {
    let mut l = Lowerer::new(cx, Stage::Execute);
    l.bindings(block)
}

/// Lower the `mapping { … }` (or `mappings`) block of a RADIUS query.
pub fn lower_mapping(cx: &mut LowerCx<'_>, block: &Block) -> Mapping {
    let mut l = Lowerer::new(cx, Stage::Execute);
    l.mapping(block)
}

/// Lower the positional `bindings { … }` of an SQL query: one expression per `?`.
pub fn lower_sql_params(cx: &mut LowerCx<'_>, block: &Block) -> Vec<Expr> {
    let mut l = Lowerer::new(cx, Stage::Execute);
    l.sql_params(block)
}

/// Lower the `mapping { place = column; … }` of an SQL query.
pub fn lower_sql_mapping(cx: &mut LowerCx<'_>, block: &Block) -> Vec<SqlAssign> {
    let mut l = Lowerer::new(cx, Stage::Execute);
    l.sql_mapping(block)
}

/// Lower a string written outside execution pipelines (a `secret`, a `filename`, a
/// statement), where `%{…}` may only read `env.*` (language.md §1.1). `None` (with a
/// diagnostic) if it reads anything else.
pub fn lower_static_template(
    cx: &mut LowerCx<'_>,
    template: &crate::lang::syntax::Template,
) -> Option<crate::eval::ir::Template> {
    let mut l = Lowerer::new(cx, Stage::Execute);
    l.env_only = true;
    l.template(template)
}

/// The state of one lowering call: the compiler's context and the stage whose rules
/// apply. The `impl` blocks live in the submodules, one per kind of construct.
pub(crate) struct Lowerer<'c, 'a> {
    cx: &'c mut LowerCx<'a>,
    stage: Stage,
    /// Outside pipelines: only `env.*` can be read.
    env_only: bool,
}

impl<'c, 'a> Lowerer<'c, 'a> {
    fn new(cx: &'c mut LowerCx<'a>, stage: Stage) -> Self {
        Lowerer {
            cx,
            stage,
            env_only: false,
        }
    }

    /// Report an error at `span`.
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.cx.diagnostics.push(Diagnostic::error(span, message));
    }

    /// Report an error at `span` with a `help:` line.
    fn error_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.cx
            .diagnostics
            .push(Diagnostic::error(span, message).with_help(help));
    }

    /// Report a warning at `span`.
    fn warning(&mut self, span: Span, message: impl Into<String>) {
        self.cx.diagnostics.push(Diagnostic::warning(span, message));
    }

    /// Report any diagnostic.
    fn push(&mut self, diagnostic: Diagnostic) {
        self.cx.diagnostics.push(diagnostic);
    }

    fn dictionary(&self) -> &'a Dictionary {
        self.cx.dictionary
    }

    fn names(&self) -> &'a Names {
        self.cx.names
    }
}

/// `"unknown <what> `<word>`"`, with `, did you mean `<x>`?` when a candidate is
/// close enough.
pub(crate) fn unknown_message(what: &str, word: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("unknown {what} `{word}`, did you mean `{s}`?"),
        None => format!("unknown {what} `{word}`"),
    }
}
