//! Evaluating expressions, templates and conditions of the IR against an
//! [`EvalEnv`].
//!
//! Nothing here raises a pipeline error: failures (a filter that fails, a body that
//! is not JSON) travel as [`Value::Error`] and compare false under every operator,
//! as language.md §3.4–3.5 require. Expressions are shallow (their depth is that of
//! the configuration text), so plain recursion is used here; the action nesting,
//! which can be deep, is handled by the machine's explicit frame stack.

use crate::eval::context::{AttrSchema, EvalEnv};
use crate::eval::filters::{FilterEnv, apply_filter};
use crate::eval::ir::{CondMode, Condition, Expr, Template, TemplatePart};
use crate::eval::named::resolve_test;
use crate::eval::ops::{Operand, test_operands};
use crate::eval::text::to_text;
use crate::eval::value::Value;
use crate::radius::id::AttrId;

struct SchemaFilters<'a>(&'a dyn AttrSchema);

impl FilterEnv for SchemaFilters<'_> {
    fn attr_id(&self, name: &str) -> Option<AttrId> {
        self.0.attr_id(name)
    }
}

/// The value of an expression.
pub fn eval_expr(expr: &Expr, env: &dyn EvalEnv) -> Value {
    match expr {
        Expr::Literal(v) => v.clone(),
        Expr::Var(v) => env.read(v),
        Expr::Template(t) => Value::String(render(t, env)),
        Expr::List(items) => Value::List(items.iter().map(|e| eval_expr(e, env)).collect()),
        Expr::Filtered { input, filters } => {
            let fenv = SchemaFilters(env.schema());
            let mut value = eval_expr(input, env);
            for f in filters {
                let args: Vec<Value> = f.args.iter().map(|a| eval_expr(a, env)).collect();
                value = apply_filter(&f.name, &args, value, &fenv);
            }
            value
        }
    }
}

/// The text a template expands to; each `%{expr}` contributes the text form of its
/// value (an unset variable contributes nothing).
pub fn render(template: &Template, env: &dyn EvalEnv) -> String {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Expr(e) => out.push_str(&to_text(&eval_expr(e, env))),
        }
    }
    out
}

/// The text a template expands to when every `%{…}` has a value; otherwise the
/// first `%{…}` expression that has none (so a caller can name it). Used where a
/// template builds something that must not be silently shortened — the attributes
/// of a backend query's `bindings`.
pub fn render_required<'t>(template: &'t Template, env: &dyn EvalEnv) -> Result<String, &'t Expr> {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Expr(e) => {
                let v = eval_expr(e, env);
                if v.is_none() {
                    return Err(e);
                }
                out.push_str(&to_text(&v));
            }
        }
    }
    Ok(out)
}

/// Whether an expression reads the context (a variable anywhere in it), as opposed
/// to being fixed by the configuration text.
pub fn reads_context(expr: &Expr) -> bool {
    match expr {
        Expr::Literal(_) => false,
        Expr::Var(_) => true,
        Expr::Template(t) => t.parts.iter().any(|p| match p {
            TemplatePart::Text(_) => false,
            TemplatePart::Expr(e) => reads_context(e),
        }),
        Expr::Filtered { input, filters } => {
            reads_context(input) || filters.iter().any(|f| f.args.iter().any(reads_context))
        }
        Expr::List(items) => items.iter().any(reads_context),
    }
}

/// The [`Operand`] origin of a condition side.
pub fn operand_origin(expr: &Expr) -> Operand {
    if reads_context(expr) {
        Operand::Read
    } else {
        Operand::Constant
    }
}

/// Whether a condition group holds. An empty `all`/`none` holds; an empty `any`
/// does not. Each test follows [`compare_operands`](crate::eval::ops::compare_operands):
/// a side that reads the context and has no value makes the test false, except
/// against the literal `none`/`any`.
pub fn eval_condition(cond: &Condition, env: &dyn EvalEnv) -> bool {
    let tests = test_results(cond, env).map(|t| t.unwrap_or(false));
    combine(cond.mode, tests.map(Some)).unwrap_or(false)
}

/// A condition group in three-valued (Kleene) logic, where a test with a missing
/// side is unknown (`None`) rather than false: `all` is false as soon as one test is
/// false, `any` true as soon as one is true, `none` is the negation of `any`; an
/// unknown test decides the group only when the known ones leave it open. `@select`
/// uses this so that a missing value cannot select a connection through a negation
/// (`none { connection.status.nas_identifier != … }`, or an `else` branch that
/// accepts).
pub fn eval_condition_known(cond: &Condition, env: &dyn EvalEnv) -> Option<bool> {
    combine(cond.mode, test_results(cond, env))
}

fn test_results<'a>(
    cond: &'a Condition,
    env: &'a dyn EvalEnv,
) -> impl Iterator<Item = Option<bool>> + 'a {
    cond.tests.iter().map(move |c| {
        let left = eval_operand(&c.left, env);
        let right = eval_operand(&c.right, env);
        let (left, right) = resolve_test(c.op, &c.left, &left, &c.right, &right, env.schema());
        test_operands(
            c.op,
            &left,
            operand_origin(&c.left),
            &right,
            operand_origin(&c.right),
        )
    })
}

/// A side of a test. A template one of whose `%{…}` has no value is itself missing
/// (as in a binding, [`render_required`]): `starts "%{http.query.site}"` must not
/// test against the text around the hole (`""` starts every string).
fn eval_operand(expr: &Expr, env: &dyn EvalEnv) -> Value {
    match expr {
        Expr::Template(t) => render_required(t, env).map_or(Value::None, Value::String),
        other => eval_expr(other, env),
    }
}

/// Kleene's `all`/`any`/`none` over tests evaluated in order, stopping at the first
/// test that decides the group (as the two-valued evaluation always did).
fn combine(mode: CondMode, tests: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for t in tests {
        match (mode, t) {
            (CondMode::All, Some(false)) => return Some(false),
            (CondMode::Any, Some(true)) => return Some(true),
            (CondMode::None, Some(true)) => return Some(false),
            (_, None) => unknown = true,
            _ => {}
        }
    }
    if unknown {
        None
    } else {
        Some(mode != CondMode::Any)
    }
}
