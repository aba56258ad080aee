//! Pipelines and their actions (language.md §1.8, §3.2, §3.3, §3.6 and §6
//! "Pipelines").
//!
//! Supported: `accept`/`reject`/`ignore ["msg"]`, `if … then … else if … else`,
//! `with [directive] { } do { } else { }`, `map <expr> { v => { } any => { } }`,
//! the six directive blocks, `try <action>;`, `try [directive] { } [catch { }]`,
//! `reply`, `stop`, `error "msg"`, `reason <expr>`, `modify` (block and short form),
//! `set`, `append`, `backend` (short and block form, `query`/`request`), `invoke`,
//! `debug "fmt"` / `debug <variable>`, `log "L" { json { … } | format "…" |
//! message … }`, `pap`, `http-basic-auth`, `reject_errors on|off`.
//!
//! Every other action of the language is reported as "not supported" at its
//! keyword; a word that is no action at all is "unknown", with a suggestion.

use std::sync::Arc;

use crate::eval::ir::{
    Action, ActionResult, AssignOp, Assignment, BackendCall, CondMode, DebugTarget, Directive,
    Expr, LogContent, MapPattern, Pipeline, Place,
};
use crate::eval::value::Value;
use crate::lang::compile::names::BackendNameKind;
use crate::lang::diag::suggest;
use crate::lang::span::Span;
use crate::lang::syntax::{self as syn, Block, Body, Clause, Item, Operator, Term};

use super::expr::const_value;
use super::vars::{PlaceUse, Resolved};
use super::{Lowerer, Stage, unknown_message};

/// The directive words usable as blocks and as parameters of `with` and `try`.
pub(crate) fn directive(word: &str) -> Option<Directive> {
    Some(match word {
        "while" => Directive::While,
        "first" => Directive::First,
        "any" => Directive::Any,
        "all" => Directive::All,
        "none" => Directive::None,
        "each" => Directive::Each,
        _ => return None,
    })
}

/// Every action Boomerang supports.
pub const SUPPORTED_ACTIONS: &[&str] = &[
    "accept",
    "reject",
    "ignore",
    "if",
    "with",
    "map",
    "first",
    "any",
    "all",
    "none",
    "each",
    "while",
    "try",
    "reply",
    "stop",
    "error",
    "reason",
    "modify",
    "set",
    "append",
    "backend",
    "invoke",
    "debug",
    "log",
    "pap",
    "http-basic-auth",
    "reject_errors",
];

/// Actions of the language that Boomerang parses but does not support
/// (language.md §3.3, §4.5 and the real configurations in `radconf/`).
pub const UNSUPPORTED_ACTIONS: &[&str] = &[
    "challenge",
    "must",
    "assert",
    "discard",
    "until",
    "copy",
    "filter",
    "count",
    "message",
    "replace",
    "rewrite",
    "chap",
    "mschap",
    "mschapv2",
    "eap",
    "http-management-authentication",
    "hotp",
    "totp",
    "yubikey",
    "chargeable-user-identity",
    "rate_limit",
    "rate_limit_counter",
    "rate_limit_gcra",
    "rate_limit_gcra_rnd",
    "rate-limit",
    "sample",
    "lua",
    "script",
];

/// Keys of the `backend { … }` block form.
const BACKEND_KEYS: [&str; 5] = ["name", "query", "request", "timeout", "range"];

impl Lowerer<'_, '_> {
    /// A block of actions under the default directive.
    pub(crate) fn pipeline(&mut self, items: &[Item]) -> Arc<Pipeline> {
        self.pipeline_with(Directive::While, items)
    }

    /// A block of actions under `directive`.
    fn pipeline_with(&mut self, directive: Directive, items: &[Item]) -> Arc<Pipeline> {
        let actions = items.iter().filter_map(|i| self.action(i)).collect();
        Pipeline::with_directive(directive, actions)
    }

    /// Lower one action; `None` after an error (reported).
    pub(crate) fn action(&mut self, item: &Item) -> Option<Action> {
        let Some(kw) = item.keyword() else {
            return self.not_an_action(item);
        };
        match kw {
            "accept" => self.result_action(item, ActionResult::Accept),
            "reject" => self.result_action(item, ActionResult::Reject),
            "ignore" => self.result_action(item, ActionResult::Ignore),
            "if" => self.if_action(item),
            "with" => self.with_action(item),
            "map" => self.map_action(item),
            "try" => self.try_action(item),
            "reply" => {
                self.statement(item, kw, 0)?;
                match self.stage {
                    Stage::FinalExecute => {
                        self.error(
                            item.keyword_span(),
                            "`reply` cannot be used in `@final-execute`: the reply has already been sent",
                        );
                        None
                    }
                    Stage::Select => {
                        self.error(item.keyword_span(), "`reply` cannot be used in `@select`");
                        None
                    }
                    Stage::Execute | Stage::Named => Some(Action::Reply),
                }
            }
            "stop" => {
                self.statement(item, kw, 0)?;
                Some(Action::Stop)
            }
            "error" => {
                let args = self.statement(item, kw, 1)?;
                let Some(msg) = args.first().and_then(Term::as_expr) else {
                    self.error_help(
                        item.keyword_span(),
                        "`error` needs a message",
                        "e.g. `error \"backend failed\";`",
                    );
                    return None;
                };
                self.text_of(msg).map(Action::Error)
            }
            "reason" => {
                let args = self.statement(item, kw, 1)?;
                let Some(e) = args.first().and_then(Term::as_expr) else {
                    self.error(item.keyword_span(), "`reason` needs a value");
                    return None;
                };
                self.expr(e).map(Action::Reason)
            }
            "modify" => self.modify_action(item),
            "set" => self.set_action(item, AssignOp::Set),
            "append" => self.set_action(item, AssignOp::Append),
            "backend" => self.backend_action(item),
            "invoke" => self.invoke_action(item),
            "debug" => self.debug_action(item),
            "log" => self.log_action(item),
            "pap" => {
                self.statement(item, kw, 0)?;
                Some(Action::Pap)
            }
            "http-basic-auth" => {
                self.statement(item, kw, 0)?;
                Some(Action::HttpBasicAuth)
            }
            "reject_errors" => {
                let args = self.statement(item, kw, 1)?;
                match args.first().and_then(Term::as_word) {
                    Some("on" | "true") => Some(Action::RejectErrors(true)),
                    Some("off" | "false") => Some(Action::RejectErrors(false)),
                    _ => {
                        self.error(
                            args.first().map_or(item.span, Term::span),
                            "`reject_errors` takes `on` or `off`",
                        );
                        None
                    }
                }
            }
            d if directive(d).is_some() => {
                let dir = directive(d).unwrap_or_default();
                let block = self.block_only(item, kw)?;
                Some(Action::Block(self.pipeline_with(dir, &block.items)))
            }
            u if UNSUPPORTED_ACTIONS.contains(&u) => {
                self.error(item.keyword_span(), format!("`{u}` is not supported"));
                None
            }
            other => {
                let candidates = SUPPORTED_ACTIONS.iter().chain(UNSUPPORTED_ACTIONS).copied();
                self.error(
                    item.keyword_span(),
                    unknown_message("action", other, suggest(other, candidates)),
                );
                None
            }
        }
    }

    /// An item whose first term is not a single word.
    fn not_an_action(&mut self, item: &Item) -> Option<Action> {
        match item.terms.first() {
            Some(Term::Expr(syn::Expr::Path(p))) => {
                let assigns = item
                    .terms
                    .iter()
                    .any(|t| t.as_op().is_some_and(Operator::is_assignment));
                if assigns {
                    self.error_help(
                        p.span,
                        format!("unknown action `{p}`"),
                        format!("assignments go inside `modify`: `modify {p} = …;`"),
                    );
                } else {
                    self.error(p.span, format!("unknown action `{p}`"));
                }
            }
            Some(t) => self.error(t.span(), "expected an action"),
            None => self.error(item.span, "expected an action"),
        }
        None
    }

    /// Check a statement form `kw arg…;` with at most `max_args` arguments, no block
    /// and no clauses; its arguments.
    fn statement<'i>(&mut self, item: &'i Item, kw: &str, max_args: usize) -> Option<&'i [Term]> {
        if let Body::Block(b) = &item.body {
            self.error(b.span, format!("`{kw}` does not take a block"));
            return None;
        }
        let args = item.args();
        if let Some(extra) = args.get(max_args) {
            self.error(
                extra.span(),
                format!("unexpected `{}` after `{kw}`", term_text(extra)),
            );
            return None;
        }
        Some(args)
    }

    /// Check `kw { … }` with no arguments and no clauses; its block.
    fn block_only<'i>(&mut self, item: &'i Item, kw: &str) -> Option<&'i Block> {
        if let Some(extra) = item.args().first() {
            self.error(
                extra.span(),
                format!("unexpected `{}` after `{kw}`", term_text(extra)),
            );
            return None;
        }
        self.no_clauses(item, kw);
        match &item.body {
            Body::Block(b) => Some(b),
            Body::Semi => {
                self.error(
                    item.keyword_span(),
                    format!("`{kw}` needs a block: `{kw} {{ … }}`"),
                );
                None
            }
        }
    }

    /// Report every clause of an item that takes none.
    fn no_clauses(&mut self, item: &Item, kw: &str) -> bool {
        for c in &item.clauses {
            self.error(
                c.keyword_span,
                format!("unexpected `{}` after `{kw}`", c.keyword),
            );
        }
        item.clauses.is_empty()
    }

    fn result_action(&mut self, item: &Item, result: ActionResult) -> Option<Action> {
        let args = self.statement(item, result.name(), 1)?;
        let message = match args.first() {
            Some(Term::Expr(e)) => Some(self.text_of(e)?),
            Some(t) => {
                self.error(
                    t.span(),
                    format!("expected a message after `{}`", result.name()),
                );
                return None;
            }
            None => None,
        };
        Some(Action::Result { result, message })
    }

    fn if_action(&mut self, item: &Item) -> Option<Action> {
        let Body::Block(block) = &item.body else {
            self.error_help(
                item.keyword_span(),
                "`if` needs conditions and a `then` block",
                "`if all { test; } then { … } else { … }`",
            );
            return None;
        };
        let mut ok = true;
        let mode = self.mode_terms("if", item.keyword_span(), item.args());
        // The tests are checked even when the mode is wrong, to report everything.
        let group = self.condition_group(mode.unwrap_or(CondMode::All), block);
        let cond = mode.and(group);
        ok &= cond.is_some();
        let mut branches = Vec::new();
        let mut otherwise = None;
        let mut pending = cond;
        let mut expect_then = true;
        let mut then_reported = false;
        let mut clauses = item.clauses.iter().peekable();
        while let Some(c) = clauses.next() {
            match (c.keyword.as_str(), expect_then) {
                ("then", true) => {
                    self.clause_without_terms(c);
                    let body = self.pipeline(&c.block.items);
                    if let Some(cond) = pending.take() {
                        branches.push((cond, body));
                    }
                    expect_then = false;
                }
                ("else", false) if c.terms.is_empty() => {
                    otherwise = Some(self.pipeline(&c.block.items));
                    if let Some(next) = clauses.peek() {
                        self.error(
                            next.keyword_span,
                            format!("unexpected `{}` after the final `else`", next.keyword),
                        );
                        ok = false;
                        for c in clauses.by_ref() {
                            self.pipeline(&c.block.items);
                        }
                    }
                }
                ("else", false) => {
                    let is_if = c.terms.first().and_then(Term::as_word) == Some("if");
                    if !is_if {
                        self.error(
                            c.terms.first().map_or(c.keyword_span, Term::span),
                            "expected `if` or `{` after `else`",
                        );
                        ok = false;
                        continue;
                    }
                    let mode =
                        self.mode_terms("else if", c.keyword_span, c.terms.get(1..).unwrap_or(&[]));
                    let group = self.condition_group(mode.unwrap_or(CondMode::All), &c.block);
                    pending = mode.and(group);
                    ok &= pending.is_some();
                    expect_then = true;
                }
                (kw, true) => {
                    self.error_help(
                        c.keyword_span,
                        format!("expected `then`, found `{kw}`"),
                        "`if all { … } then { … }`",
                    );
                    ok = false;
                    then_reported = true;
                    self.pipeline(&c.block.items);
                }
                (kw, false) => {
                    self.error(c.keyword_span, format!("unexpected `{kw}` in `if`"));
                    ok = false;
                    self.pipeline(&c.block.items);
                }
            }
        }
        if expect_then && !then_reported {
            let at = item.clauses.last().map_or(block.span, |c| c.block.span);
            self.error_help(
                at.end_point(),
                "`if` needs a `then { … }` block",
                "`if all { … } then { … }`",
            );
            ok = false;
        }
        ok.then_some(Action::If {
            branches,
            otherwise,
        })
    }

    fn clause_without_terms(&mut self, c: &Clause) {
        if let Some(t) = c.terms.first() {
            self.error(
                t.span(),
                format!("unexpected `{}` after `{}`", term_text(t), c.keyword),
            );
        }
    }

    /// The directive of `with first`, `try all`: at most one directive word.
    fn directive_param(&mut self, kw: &str, args: &[Term]) -> Option<Directive> {
        match args {
            [] => Some(Directive::While),
            [t] => match t.as_word().and_then(directive) {
                Some(d) => Some(d),
                None => {
                    self.error_help(
                        t.span(),
                        format!(
                            "expected a directive after `{kw}`, found `{}`",
                            term_text(t)
                        ),
                        "directives: while, first, any, all, none, each",
                    );
                    None
                }
            },
            [_, extra, ..] => {
                self.error(
                    extra.span(),
                    format!("unexpected `{}` after `{kw}`", term_text(extra)),
                );
                None
            }
        }
    }

    fn with_action(&mut self, item: &Item) -> Option<Action> {
        let Body::Block(block) = &item.body else {
            self.error_help(
                item.keyword_span(),
                "`with` needs a block",
                "`with first { … } do { … } else { … }`",
            );
            return None;
        };
        let dir = self.directive_param("with", item.args());
        let test = self.pipeline_with(dir.unwrap_or_default(), &block.items);
        let mut ok = dir.is_some();
        let mut then = None;
        let mut otherwise = None;
        for c in &item.clauses {
            self.clause_without_terms(c);
            let body = self.pipeline(&c.block.items);
            match c.keyword.as_str() {
                "do" if then.is_none() && otherwise.is_none() => then = Some(body),
                "else" if otherwise.is_none() => otherwise = Some(body),
                kw => {
                    self.error(c.keyword_span, format!("unexpected `{kw}` in `with`"));
                    ok = false;
                }
            }
        }
        ok.then_some(Action::With {
            test,
            then,
            otherwise,
        })
    }

    fn map_action(&mut self, item: &Item) -> Option<Action> {
        self.no_clauses(item, "map");
        let subject = match item.args() {
            [Term::Expr(e)] => self.expr(e),
            [] => {
                self.error(
                    item.keyword_span(),
                    "`map` needs a value: `map <expr> { … }`",
                );
                None
            }
            [_, extra, ..] | [extra] => {
                self.error(extra.span(), "expected one value after `map`");
                None
            }
        };
        let Body::Block(block) = &item.body else {
            self.error(
                item.keyword_span(),
                "`map` needs a block of arms: `map <expr> { \"v\" => { … } }`",
            );
            return None;
        };
        let mut arms = Vec::with_capacity(block.items.len());
        let mut ok = true;
        for arm in &block.items {
            match self.map_arm(arm) {
                Some(a) => arms.push(a),
                None => ok = false,
            }
        }
        let subject = subject?;
        ok.then_some(Action::Map { subject, arms })
    }

    fn map_arm(&mut self, arm: &Item) -> Option<(MapPattern, Arc<Pipeline>)> {
        let (pattern, Body::Block(block)) = (arm.terms.as_slice(), &arm.body) else {
            self.error_help(
                arm.span,
                "expected a `map` arm",
                "`\"value\" => { … }` or `any => { … }`",
            );
            return None;
        };
        let pat = match pattern {
            [Term::Expr(e), Term::Op(op)] if op.op == Operator::Arrow => {
                if let syn::Expr::Literal(syn::Literal {
                    kind: syn::LitKind::Any,
                    ..
                }) = e
                {
                    Some(MapPattern::Any)
                } else {
                    match self.expr(e) {
                        Some(x) => match const_value(&x) {
                            Some(v) => Some(MapPattern::Value(v)),
                            None => {
                                self.error(e.span(), "a `map` arm must be a constant value");
                                None
                            }
                        },
                        None => None,
                    }
                }
            }
            _ => {
                self.error_help(
                    arm.span,
                    "expected a `map` arm",
                    "`\"value\" => { … }` or `any => { … }`",
                );
                None
            }
        };
        self.no_clauses(arm, "a `map` arm");
        let body = self.pipeline(&block.items);
        Some((pat?, body))
    }

    fn try_action(&mut self, item: &Item) -> Option<Action> {
        let args = item.args();
        let (catches, others): (Vec<&Clause>, Vec<&Clause>) =
            item.clauses.iter().partition(|c| c.keyword == "catch");
        let long_form = match (args, &item.body) {
            ([], Body::Block(_)) => true,
            ([t], Body::Block(_)) => t.as_word().and_then(directive).is_some(),
            _ => false,
        };
        let mut ok = true;
        for extra in catches.iter().skip(1) {
            self.error(extra.keyword_span, "`try` takes at most one `catch`");
            ok = false;
        }
        let catch = catches.first().map(|c| {
            self.clause_without_terms(c);
            self.pipeline(&c.block.items)
        });
        let body = if long_form {
            for c in &others {
                self.error(
                    c.keyword_span,
                    format!("unexpected `{}` after `try`", c.keyword),
                );
                ok = false;
            }
            let dir = self.directive_param("try", args).unwrap_or_default();
            let block = item.block()?;
            self.pipeline_with(dir, &block.items)
        } else {
            let Some(first) = args.first() else {
                self.error_help(
                    item.keyword_span(),
                    "`try` needs an action or a block",
                    "`try backend \"NAME\";` or `try { … } catch { … }`",
                );
                return None;
            };
            let inner = Item {
                terms: args.to_vec(),
                body: item.body.clone(),
                clauses: others.into_iter().cloned().collect(),
                span: first.span().to(item.span),
            };
            let action = self.action(&inner);
            Pipeline::new(vec![action?])
        };
        ok.then_some(Action::Try { body, catch })
    }

    fn modify_action(&mut self, item: &Item) -> Option<Action> {
        self.no_clauses(item, "modify");
        match &item.body {
            Body::Semi => {
                let a = self.assignment(item.args(), item.span, PlaceUse::Modify, "modify")?;
                Some(Action::Modify(vec![a]))
            }
            Body::Block(block) => {
                if let Some(extra) = item.args().first() {
                    self.error(
                        extra.span(),
                        format!("unexpected `{}` after `modify`", term_text(extra)),
                    );
                    return None;
                }
                let mut out = Vec::with_capacity(block.items.len());
                let mut ok = true;
                for line in &block.items {
                    if let Body::Block(b) = &line.body {
                        self.error(b.span, "expected an assignment `place = value;`");
                        ok = false;
                        continue;
                    }
                    match self.assignment(&line.terms, line.span, PlaceUse::Modify, "modify") {
                        Some(a) => out.push(a),
                        None => ok = false,
                    }
                }
                ok.then_some(Action::Modify(out))
            }
        }
    }

    /// `set a v;` / `append a v;`.
    fn set_action(&mut self, item: &Item, op: AssignOp) -> Option<Action> {
        let kw = item.keyword().unwrap_or("set");
        let args = self.statement(item, kw, 2)?;
        let [Term::Expr(syn::Expr::Path(p)), Term::Expr(v)] = args else {
            self.error_help(
                item.span,
                format!("expected `{kw} <variable> <value>;`"),
                format!("e.g. `{kw} vars.x \"value\";`"),
            );
            return None;
        };
        let place = self.resolve_place(p, PlaceUse::Modify);
        let value = self.expr(v);
        let (place, value) = (place?, value?);
        self.check_attr_value(&place, &value, v.span())?;
        Some(Action::Modify(vec![Assignment { place, op, value }]))
    }

    /// `place op value` for `modify`, `mapping` and `bindings`.
    pub(crate) fn assignment(
        &mut self,
        terms: &[Term],
        span: Span,
        usage: PlaceUse,
        what: &str,
    ) -> Option<Assignment> {
        let [Term::Expr(target), Term::Op(op), Term::Expr(v)] = terms else {
            if let [Term::Expr(_), Term::Op(_), Term::Expr(_), extra, ..] = terms {
                self.error(
                    extra.span(),
                    format!("unexpected `{}` after the value", term_text(extra)),
                );
            } else {
                self.error_help(
                    span,
                    format!("expected an assignment `place = value;` in `{what}`"),
                    "operators: `=` (set), `?=` (set if none), `+=` (append)",
                );
            }
            return None;
        };
        let assign_op = match op.op {
            Operator::Assign => AssignOp::Set,
            Operator::AssignDeprecated => {
                self.warning(op.span, "`:=` is deprecated; use `=`");
                AssignOp::Set
            }
            Operator::AssignIfNone => AssignOp::SetIfNone,
            Operator::Append => AssignOp::Append,
            other => {
                self.error_help(
                    op.span,
                    format!("`{}` is not an assignment operator", other.as_str()),
                    "assign with `=`, `?=` or `+=`",
                );
                return None;
            }
        };
        let syn::Expr::Path(p) = target else {
            self.error(
                target.span(),
                format!(
                    "cannot assign to `{}`",
                    crate::lang::print::expr_to_string(target)
                ),
            );
            return None;
        };
        let place = self.resolve_place(p, usage);
        let value = self.expr(v);
        let (place, value) = (place?, value?);
        self.check_attr_value(&place, &value, v.span())?;
        Some(Assignment {
            place,
            op: assign_op,
            value,
        })
    }

    /// A constant text assigned to an attribute with named values must be one of
    /// them (or a number).
    pub(crate) fn check_attr_value(
        &mut self,
        place: &Place,
        value: &Expr,
        span: Span,
    ) -> Option<()> {
        let Place::RadiusAttr { attr, .. } = place else {
            return Some(());
        };
        let Some(Value::String(s)) = const_value(value) else {
            return Some(());
        };
        let dict = self.dictionary();
        let Some(def) = dict.attr_by_id(*attr) else {
            return Some(());
        };
        if !def.accepts_values() || dict.values(def).next().is_none() {
            return Some(());
        }
        if s.trim().parse::<i128>().is_ok() || dict.value_number64(def, &s).is_some() {
            return Some(());
        }
        self.error(
            span,
            unknown_message(
                &format!("value of `{}`", def.name),
                &s,
                dict.suggest_value(def, &s),
            ),
        );
        None
    }

    fn backend_action(&mut self, item: &Item) -> Option<Action> {
        self.no_clauses(item, "backend");
        match &item.body {
            Body::Semi => {
                let args = self.statement(item, "backend", 1)?;
                let Some(t) = args.first() else {
                    self.error_help(
                        item.keyword_span(),
                        "`backend` needs a backend name",
                        "`backend \"NAME\";` or `backend { name \"NAME\"; query \"QUERY\"; }`",
                    );
                    return None;
                };
                let name = self.name_value(t, "backend")?;
                self.backend_call(&name, t.span(), None)
                    .map(Action::Backend)
            }
            Body::Block(block) => {
                if let Some(extra) = item.args().first() {
                    self.error_help(
                        extra.span(),
                        format!("unexpected `{}` after `backend`", term_text(extra)),
                        "name the backend inside the block: `backend { name \"NAME\"; }`",
                    );
                    return None;
                }
                let mut name: Option<(String, Span)> = None;
                let mut query: Option<(String, Span)> = None;
                let mut ok = true;
                for line in &block.items {
                    let Some(key) = line.keyword() else {
                        self.error(line.keyword_span(), "expected `name`, `query` or `timeout`");
                        ok = false;
                        continue;
                    };
                    match key {
                        "name" | "query" | "request" => {
                            let Some(args) = self.statement(line, key, 1) else {
                                ok = false;
                                continue;
                            };
                            let Some(t) = args.first() else {
                                self.error(line.keyword_span(), format!("`{key}` needs a name"));
                                ok = false;
                                continue;
                            };
                            let Some(v) = self.name_value(t, key) else {
                                ok = false;
                                continue;
                            };
                            let slot = if key == "name" { &mut name } else { &mut query };
                            if slot.is_some() {
                                let what = if key == "name" {
                                    "`name`"
                                } else {
                                    "`query`/`request`"
                                };
                                self.error(line.keyword_span(), format!("{what} given twice"));
                                ok = false;
                            } else {
                                *slot = Some((v, t.span()));
                            }
                        }
                        "timeout" => {
                            self.warning(
                                line.keyword_span(),
                                "`timeout` in `backend { … }` is ignored; the backend server's own `timeout` applies",
                            );
                        }
                        "range" => {
                            self.error(line.keyword_span(), "`range` is not supported");
                            ok = false;
                        }
                        other => {
                            self.error(
                                line.keyword_span(),
                                unknown_message(
                                    "key in `backend`",
                                    other,
                                    suggest(other, BACKEND_KEYS),
                                ),
                            );
                            ok = false;
                        }
                    }
                }
                let Some((name, name_span)) = name else {
                    self.error_help(
                        item.keyword_span(),
                        "`backend { … }` needs a `name`",
                        "`backend { name \"NAME\"; query \"QUERY\"; }`",
                    );
                    return None;
                };
                let call = self.backend_call(
                    &name,
                    name_span,
                    query.as_ref().map(|(q, s)| (q.as_str(), *s)),
                );
                if ok { call.map(Action::Backend) } else { None }
            }
        }
    }

    /// A name argument: a plain string or a bare word.
    fn name_value(&mut self, t: &Term, what: &str) -> Option<String> {
        if let Some(s) = t.as_plain_str() {
            return Some(s.to_owned());
        }
        if let Some(w) = t.as_path().and_then(|p| p.as_word()) {
            return Some(w.to_owned());
        }
        self.error(
            t.span(),
            format!("`{what}` expects a name as a plain string, e.g. \"NAME\""),
        );
        None
    }

    /// Resolve a backend and optional query by name.
    fn backend_call(
        &mut self,
        name: &str,
        name_span: Span,
        query: Option<(&str, Span)>,
    ) -> Option<BackendCall> {
        let names = self.names();
        let Some(backend) = names.backends.get(name) else {
            let s = suggest(name, names.backends.keys().map(String::as_str));
            self.error(name_span, unknown_message("backend", name, s));
            return None;
        };
        let query_id = match query {
            Some((q, span)) => match backend.queries.get(q) {
                Some(id) => Some(*id),
                None => {
                    let s = suggest(q, backend.queries.keys().map(String::as_str));
                    let mut msg = match s {
                        Some(s) => {
                            format!("backend `{name}` has no query `{q}`, did you mean `{s}`?")
                        }
                        None => format!("backend `{name}` has no query `{q}`"),
                    };
                    if backend.queries.is_empty() {
                        msg.push_str(" (it defines no queries)");
                    }
                    self.error(span, msg);
                    return None;
                }
            },
            None => {
                if backend.kind == BackendNameKind::Sqlite {
                    self.error_help(
                        name_span,
                        format!("backend `{name}` is an SQL backend and needs a query"),
                        format!("`backend {{ name \"{name}\"; query \"QUERY\"; }}`"),
                    );
                    return None;
                }
                None
            }
        };
        Some(BackendCall {
            backend: backend.id,
            query: query_id,
            backend_name: name.to_owned(),
            query_name: query.map(|(q, _)| q.to_owned()),
        })
    }

    fn invoke_action(&mut self, item: &Item) -> Option<Action> {
        let args = self.statement(item, "invoke", 1)?;
        let Some(t) = args.first() else {
            self.error(
                item.keyword_span(),
                "`invoke` needs a pipeline name: `invoke \"NAME\";`",
            );
            return None;
        };
        let name = self.name_value(t, "invoke")?;
        let pipelines = &self.names().pipelines;
        match pipelines.get(&name) {
            Some(id) => Some(Action::Invoke(*id)),
            None => {
                let s = suggest(&name, pipelines.keys().map(String::as_str));
                self.error(t.span(), unknown_message("pipeline", &name, s));
                None
            }
        }
    }

    fn debug_action(&mut self, item: &Item) -> Option<Action> {
        if let Body::Block(_) = item.body {
            self.error(item.keyword_span(), "`debug { … }` is not supported");
            return None;
        }
        let args = self.statement(item, "debug", 1)?;
        let Some(Term::Expr(e)) = args.first() else {
            self.error_help(
                item.keyword_span(),
                "`debug` needs a string or a variable",
                "`debug \"value: %{vars.x}\";` or `debug vars.x;`",
            );
            return None;
        };
        match e {
            syn::Expr::Str(t) => self
                .template(t)
                .map(|t| Action::Debug(DebugTarget::Template(t))),
            syn::Expr::Path(p) => match self.resolve_path(p)? {
                Resolved::Var(var) => Some(Action::Debug(DebugTarget::Var {
                    path: p.to_string(),
                    var,
                })),
                Resolved::Const(_) => {
                    self.error(
                        p.span,
                        format!("`{p}` is a constant; `debug` logs variables and strings"),
                    );
                    None
                }
            },
            other => {
                let t = self.text_of(other)?;
                Some(Action::Debug(DebugTarget::Template(t)))
            }
        }
    }

    fn log_action(&mut self, item: &Item) -> Option<Action> {
        self.no_clauses(item, "log");
        let logger = match item.args() {
            [t] => self.name_value(t, "log")?,
            [] => {
                self.error(
                    item.keyword_span(),
                    "`log` needs a logger name: `log \"NAME\" { … }`",
                );
                return None;
            }
            [_, extra, ..] => {
                self.error(
                    extra.span(),
                    format!("unexpected `{}` after the logger name", term_text(extra)),
                );
                return None;
            }
        };
        let Body::Block(block) = &item.body else {
            self.error_help(
                item.span,
                "`log` needs a block saying what to log",
                "`log \"NAME\" { json { \"user\" aaa.identity; } }`, `{ format \"…\"; }` or `{ message …; }`",
            );
            return None;
        };
        let mut content: Option<LogContent> = None;
        let mut ok = true;
        for line in &block.items {
            let key = line.keyword().unwrap_or("");
            let lowered = match key {
                "json" => self.log_json(line),
                "format" => {
                    let args = self.statement(line, key, 1);
                    match args.and_then(<[Term]>::first) {
                        Some(Term::Expr(syn::Expr::Str(t))) => {
                            self.template(t).map(LogContent::Format)
                        }
                        _ => {
                            self.error(line.span, "`format` needs a string: `format \"…\";`");
                            None
                        }
                    }
                }
                "message" => {
                    let args = self.statement(line, key, 1);
                    match args.and_then(<[Term]>::first) {
                        Some(Term::Expr(e)) => self.expr(e).map(LogContent::Message),
                        _ => {
                            self.error(line.span, "`message` needs a value");
                            None
                        }
                    }
                }
                "context" => {
                    self.error(line.keyword_span(), "`context` in `log` is not supported");
                    None
                }
                other => {
                    self.error(
                        line.keyword_span(),
                        unknown_message(
                            "key in `log`",
                            other,
                            suggest(other, ["json", "format", "message", "context"]),
                        ),
                    );
                    None
                }
            };
            match lowered {
                Some(c) if content.is_none() => content = Some(c),
                Some(_) => {
                    self.error(
                        line.keyword_span(),
                        "`log` takes one of `json`, `format` or `message`",
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let Some(content) = content else {
            self.error(
                block.span,
                "`log` needs `json { … }`, `format \"…\";` or `message …;`",
            );
            return None;
        };
        Some(Action::Log { logger, content })
    }

    fn log_json(&mut self, line: &Item) -> Option<LogContent> {
        let block = self.block_only(line, "json")?;
        let mut fields = Vec::with_capacity(block.items.len());
        let mut ok = true;
        for f in &block.items {
            let pair = match (f.terms.as_slice(), &f.body) {
                ([k, Term::Expr(v)], Body::Semi) => {
                    let key = self.name_value(k, "a `json` key");
                    let value = self.expr(v);
                    key.zip(value)
                }
                _ => {
                    self.error_help(
                        f.span,
                        "expected `\"key\" value;` in `json`",
                        "e.g. `\"user\" aaa.identity;`",
                    );
                    None
                }
            };
            match pair {
                Some(p) => fields.push(p),
                None => ok = false,
            }
        }
        ok.then_some(LogContent::Json(fields))
    }
}

/// A term as written, for messages.
fn term_text(t: &Term) -> String {
    match t {
        Term::Expr(e) => crate::lang::print::expr_to_string(e),
        Term::Op(o) => o.op.as_str().to_owned(),
    }
}
