//! Condition groups: `conditions all|any|none { left op right; … }` on policies and
//! handlers, and the heads of `if` / `else if` (language.md §1.7, §1.8, §3.4).
//!
//! Each line is one test `left op right;` with any comparison operator (symbol or
//! word form, and the string tests `starts`/`contains`/`ends` and their `!` forms).
//! The right side may be a literal, a variable, a string or template, a regex (only
//! with `==`/`!=`), a list, `none` or `any`. A line without an operator is an error
//! (see the module decisions in [`super`]); so is a nested group.

use crate::eval::ir::{Cond, CondMode, Condition, Expr};
use crate::eval::ops::CompareOp;
use crate::eval::value::Value;
use crate::lang::span::Span;
use crate::lang::syntax::{Block, Body, Item, Operator, Term};

use super::Lowerer;

/// The comparison operator of a syntax operator, `None` for assignments and `=>`.
pub(crate) fn compare_op(op: Operator) -> Option<CompareOp> {
    Some(match op {
        Operator::Eq => CompareOp::Eq,
        Operator::Ne => CompareOp::Ne,
        Operator::Gt => CompareOp::Gt,
        Operator::Ge => CompareOp::Ge,
        Operator::Lt => CompareOp::Lt,
        Operator::Le => CompareOp::Le,
        Operator::Starts => CompareOp::Starts,
        Operator::NotStarts => CompareOp::NotStarts,
        Operator::Contains => CompareOp::Contains,
        Operator::NotContains => CompareOp::NotContains,
        Operator::Ends => CompareOp::Ends,
        Operator::NotEnds => CompareOp::NotEnds,
        Operator::Assign
        | Operator::AssignIfNone
        | Operator::Append
        | Operator::AssignDeprecated
        | Operator::Arrow => return None,
    })
}

/// The group mode a word names.
pub(crate) fn cond_mode(word: &str) -> Option<CondMode> {
    match word {
        "all" => Some(CondMode::All),
        "any" => Some(CondMode::Any),
        "none" => Some(CondMode::None),
        _ => None,
    }
}

impl Lowerer<'_, '_> {
    /// `conditions all|any|none { … }`.
    pub(crate) fn conditions_item(&mut self, item: &Item) -> Option<Condition> {
        let keyword = item.keyword().unwrap_or("conditions");
        let Body::Block(block) = &item.body else {
            self.error(
                item.span,
                format!("`{keyword}` needs a block: `{keyword} all {{ … }}`"),
            );
            return None;
        };
        if let Some(c) = item.clauses.first() {
            self.error(
                c.keyword_span,
                format!("unexpected `{}` after `{keyword}`", c.keyword),
            );
        }
        let mode = self.mode_terms(keyword, item.keyword_span(), item.args());
        // The tests are checked even when the mode is wrong, to report everything.
        let group = self.condition_group(mode.unwrap_or(CondMode::All), block);
        mode.and(group)
    }

    /// The mode of `if all`, `else if any`, `conditions none`: exactly one word.
    pub(crate) fn mode_terms(
        &mut self,
        keyword: &str,
        keyword_span: Span,
        terms: &[Term],
    ) -> Option<CondMode> {
        match terms {
            [] => {
                self.error_help(
                    keyword_span,
                    format!("expected `all`, `any` or `none` after `{keyword}`"),
                    format!("e.g. `{keyword} all {{ … }}`"),
                );
                None
            }
            [t] => match t.as_word().and_then(cond_mode) {
                Some(m) => Some(m),
                None => {
                    let shown = t
                        .as_word()
                        .map_or_else(|| "this".to_owned(), |w| format!("`{w}`"));
                    self.error(
                        t.span(),
                        format!("`{keyword}` takes `all`, `any` or `none`, not {shown}"),
                    );
                    None
                }
            },
            [_, extra, ..] => {
                self.error(
                    extra.span(),
                    format!("unexpected term after `{keyword}` mode"),
                );
                None
            }
        }
    }

    /// The tests of a condition block under `mode`. `None` if any test had an error.
    pub(crate) fn condition_group(&mut self, mode: CondMode, block: &Block) -> Option<Condition> {
        let mut tests = Vec::with_capacity(block.items.len());
        let mut ok = true;
        for item in &block.items {
            match self.cond_line(item) {
                Some(t) => tests.push(t),
                None => ok = false,
            }
        }
        ok.then_some(Condition { mode, tests })
    }

    fn cond_line(&mut self, item: &Item) -> Option<Cond> {
        if let Body::Block(_) = item.body {
            if item.keyword().and_then(cond_mode).is_some() {
                self.error(
                    item.keyword_span(),
                    "nested condition groups are not supported",
                );
            } else {
                self.error_help(
                    item.keyword_span(),
                    "expected a test `left op right;`",
                    "a condition block holds only tests such as `radius.request.code == radius.ACCESS_REQUEST;`",
                );
            }
            return None;
        }
        match item.terms.as_slice() {
            [Term::Expr(left), Term::Op(op), Term::Expr(right)] => {
                let Some(cmp) = compare_op(op.op) else {
                    let help = if op.op == Operator::Assign {
                        "compare with `==`"
                    } else {
                        "conditions use comparison operators: == != > >= < <= starts contains ends (and !starts !contains !ends)"
                    };
                    self.error_help(
                        op.span,
                        format!("`{}` is not a comparison operator", op.op.as_str()),
                        help,
                    );
                    return None;
                };
                let l = self.expr(left);
                let r = self.expr(right);
                let (left_e, right_e) = (l?, r?);
                let regex_side = [(&left_e, left.span()), (&right_e, right.span())]
                    .into_iter()
                    .find(|(e, _)| matches!(e, Expr::Literal(Value::Regex(_))));
                if let Some((_, span)) = regex_side
                    && !matches!(cmp, CompareOp::Eq | CompareOp::Ne)
                {
                    self.error(
                        span,
                        format!(
                            "a regex can only be compared with `==` or `!=`, not `{}`",
                            op.op.as_str()
                        ),
                    );
                    return None;
                }
                Some(Cond {
                    left: left_e,
                    op: cmp,
                    right: right_e,
                })
            }
            [Term::Expr(_)] => {
                self.error_help(
                    item.span,
                    "a condition needs an operator: `left op right;`",
                    "e.g. `vars.flag == true;` or `vars.x != none;`",
                );
                None
            }
            [] => {
                self.error(item.span, "empty condition");
                None
            }
            _ => {
                self.error_help(
                    item.span,
                    "expected a test `left op right;`",
                    "one comparison per line, e.g. `radius.server == \"RADIUS_UDP\";`",
                );
                None
            }
        }
    }
}
