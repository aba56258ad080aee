//! The `@select` index: visiting only the connections that can be accepted.
//!
//! `@select` is defined as a run of the pipeline over every active connection in
//! establishment order. With ten thousand connections that is ten thousand runs
//! per reverse request, so for the common shape
//!
//! ```text
//! @select [first|round-robin] {
//!     if all { connection.status.nas_identifier == <expr>; … } then { … } else { reject; }
//! }
//! ```
//!
//! the engine evaluates `<expr>` once against the caller's context and visits only
//! the connections whose field equals it exactly. This gives the same result as the
//! full scan because, for every connection left out, the full scan would have
//! produced a skip with no other observable effect:
//!
//! * the pipeline is exactly one `if` with one branch whose condition is `all {…}`
//!   containing the equality, so a connection whose field differs fails the
//!   condition (conditions never raise, they evaluate to false);
//! * the `else` block is absent (no result: skip) or holds only `reject`/`ignore`
//!   results (skip), so nothing is logged, no backend is called, no error raised;
//! * neither the pipeline nor the `else` block uses the `none` directive (which
//!   would turn a reject into an accept);
//! * `<expr>` does not read `connection.*`, and it is read before anything in the
//!   pipeline could write (the `if` is the first and only action);
//! * the probe is used only when `<expr>` evaluates to a value whose equality with
//!   the field is exact: a string for the NAS-Identifier and certificate CN (strings
//!   compare byte-wise), an integer for `connection.id`. Anything else (a regex, a
//!   list, `none`, an error) falls back to the full scan.
//!
//! The connections visited are still run through the whole pipeline, in order, so
//! `first` and `round-robin` pick exactly what the full scan picks.

use std::collections::BTreeMap;

use crate::eval::context::EvalEnv;
use crate::eval::ir::{
    Action, ActionResult, BackendId, CondMode, ConnField, Directive, Expr, Pipeline, TemplatePart,
    VarRef,
};
use crate::eval::ops::CompareOp;
use crate::eval::template::eval_expr;
use crate::eval::value::Value;
use crate::lang::program::{BackendKind, Program, RadiusServerMode};

/// Which connection field a plan probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexField {
    /// `connection.id`.
    Id,
    /// `connection.status.nas_identifier`.
    NasIdentifier,
    /// `connection.cert.subject.cn`.
    CertCn,
}

/// The value to look up: connections whose field equals it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// `connection.id == n`.
    Id(u64),
    /// `connection.status.nas_identifier == "…"`.
    NasIdentifier(String),
    /// `connection.cert.subject.cn == "…"`.
    CertCn(String),
}

/// A `@select` pipeline found to have the indexable shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectPlan {
    field: IndexField,
    expr: Expr,
}

fn mentions_connection(e: &Expr) -> bool {
    match e {
        Expr::Literal(_) => false,
        Expr::Var(v) => matches!(v, VarRef::Connection(_)),
        Expr::Template(t) => t.parts.iter().any(|p| match p {
            TemplatePart::Text(_) => false,
            TemplatePart::Expr(e) => mentions_connection(e),
        }),
        Expr::Filtered { input, filters } => {
            mentions_connection(input)
                || filters
                    .iter()
                    .any(|f| f.args.iter().any(mentions_connection))
        }
        Expr::List(items) => items.iter().any(mentions_connection),
    }
}

fn field_of(e: &Expr) -> Option<IndexField> {
    match e {
        Expr::Var(VarRef::Connection(ConnField::Id)) => Some(IndexField::Id),
        Expr::Var(VarRef::Connection(ConnField::StatusNasIdentifier)) => {
            Some(IndexField::NasIdentifier)
        }
        Expr::Var(VarRef::Connection(ConnField::CertSubjectCn)) => Some(IndexField::CertCn),
        _ => None,
    }
}

/// Whether a block can only ever produce a skip (reject, ignore or no result) with
/// no side effect.
fn is_pure_skip(block: &Pipeline) -> bool {
    block.directive != Directive::None
        && block.actions.iter().all(|a| {
            matches!(
                a,
                Action::Result {
                    result: ActionResult::Reject | ActionResult::Ignore,
                    ..
                }
            )
        })
}

impl SelectPlan {
    /// The plan for `select`, when its shape allows one (see the module docs).
    pub fn analyze(select: &Pipeline) -> Option<SelectPlan> {
        if select.directive == Directive::None {
            return None;
        }
        let [
            Action::If {
                branches,
                otherwise,
            },
        ] = select.actions.as_slice()
        else {
            return None;
        };
        let [(cond, _then)] = branches.as_slice() else {
            return None;
        };
        if cond.mode != CondMode::All {
            return None;
        }
        if let Some(o) = otherwise
            && !is_pure_skip(o)
        {
            return None;
        }
        cond.tests.iter().find_map(|t| {
            if t.op != CompareOp::Eq {
                return None;
            }
            let (field, expr) = match (field_of(&t.left), field_of(&t.right)) {
                (Some(f), None) => (f, &t.right),
                (None, Some(f)) => (f, &t.left),
                _ => return None,
            };
            (!mentions_connection(expr)).then(|| SelectPlan {
                field,
                expr: expr.clone(),
            })
        })
    }

    /// The field probed.
    pub fn field(&self) -> IndexField {
        self.field
    }

    /// The probe for this request: the expression evaluated against the caller's
    /// context, when its value compares exactly; `None` means scan everything.
    pub fn probe(&self, env: &dyn EvalEnv) -> Option<Probe> {
        match (self.field, eval_expr(&self.expr, env)) {
            (IndexField::Id, Value::Integer(i)) => Some(Probe::Id(u64::try_from(i).ok()?)),
            (IndexField::NasIdentifier, Value::String(s)) => Some(Probe::NasIdentifier(s)),
            (IndexField::CertCn, Value::String(s)) => Some(Probe::CertCn(s)),
            _ => None,
        }
    }
}

/// The `@select` index plans of every reverse server of `program`.
pub fn select_plans(program: &Program) -> BTreeMap<(BackendId, usize), SelectPlan> {
    let mut plans = BTreeMap::new();
    for (b, backend) in program.backends.iter().enumerate() {
        let BackendKind::Radius(r) = &backend.kind else {
            continue;
        };
        let Ok(b) = u32::try_from(b) else { continue };
        for (s, server) in r.servers.iter().enumerate() {
            if let RadiusServerMode::Reverse(rev) = &server.mode
                && let Some(plan) = SelectPlan::analyze(&rev.select)
            {
                plans.insert((BackendId(b), s), plan);
            }
        }
    }
    plans
}
