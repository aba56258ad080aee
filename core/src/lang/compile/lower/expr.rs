//! Expressions: literals, variables, strings with `%{…}` parts, regexes, lists and
//! filter chains (language.md §1.1, §3.5, §3.7).
//!
//! Literals become [`Value`]s at load time: integers stay integers (a bare integer is
//! never a duration here), `5s`/`1m30s` are durations, regexes are compiled once (a
//! bad pattern is a configuration error). Filters are checked by name, argument
//! count and — for literal arguments — argument values; `remove(…)`/`select(…)` take
//! attribute names, checked against the dictionary and passed on as their canonical
//! spelling.

use std::time::Duration;

use bytes::Bytes;

use crate::eval::filters::{FILTER_NAMES, Filter, FilterEnv, UNSUPPORTED_FILTER_NAMES};
use crate::eval::ir::{Expr, FilterCall, Template, TemplatePart};
use crate::eval::value::{IpPrefix, RegexValue, Value};
use crate::lang::diag::suggest;
use crate::lang::syntax::{self as syn, LitKind, Literal, RegexLit};
use crate::radius::dictionary::Dictionary;
use crate::radius::id::AttrId;

use super::vars::Resolved;
use super::{Lowerer, unknown_message};

/// [`FilterEnv`] over the dictionary, for checking `remove`/`select` names.
struct DictFilterEnv<'a>(&'a Dictionary);

impl FilterEnv for DictFilterEnv<'_> {
    fn attr_id(&self, name: &str) -> Option<AttrId> {
        self.0.attr(name).map(|d| d.id)
    }
}

/// The constant value of a lowered expression, if it has one (a literal, or a list
/// of constants).
pub(crate) fn const_value(e: &Expr) -> Option<Value> {
    match e {
        Expr::Literal(v) => Some(v.clone()),
        Expr::List(items) => items
            .iter()
            .map(const_value)
            .collect::<Option<Vec<_>>>()
            .map(Value::List),
        Expr::Template(t) => match t.parts.as_slice() {
            [] => Some(Value::String(String::new())),
            [TemplatePart::Text(s)] => Some(Value::String(s.clone())),
            _ => None,
        },
        Expr::Var(_) | Expr::Filtered { .. } => None,
    }
}

/// The compact message of a regex compile error (the last line of the crate's
/// multi-line rendering, without its `error: ` prefix).
fn regex_error_message(e: &regex::Error) -> String {
    let full = e.to_string();
    let last = full.lines().last().unwrap_or(&full).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

impl Lowerer<'_, '_> {
    /// Lower an expression in read position. `None` after an error (reported).
    pub(crate) fn expr(&mut self, e: &syn::Expr) -> Option<Expr> {
        match e {
            syn::Expr::Literal(l) => self.literal(l).map(Expr::Literal),
            syn::Expr::Path(p) => match self.resolve_path(p)? {
                Resolved::Var(v) => Some(Expr::Var(v)),
                Resolved::Const(v) => Some(Expr::Literal(v)),
            },
            syn::Expr::Str(t) => match t.as_plain() {
                Some(s) => Some(Expr::Literal(Value::String(s.to_owned()))),
                None => self.template(t).map(Expr::Template),
            },
            syn::Expr::Regex(r) => self.regex(r).map(Expr::Literal),
            syn::Expr::List(list) => {
                let mut ok = true;
                let mut items = Vec::with_capacity(list.items.len());
                for item in &list.items {
                    match self.expr(item) {
                        Some(x) => items.push(x),
                        None => ok = false,
                    }
                }
                ok.then_some(Expr::List(items))
            }
            syn::Expr::Filtered(f) => {
                let input = self.expr(&f.base);
                let mut filters = Vec::with_capacity(f.filters.len());
                let mut ok = true;
                for call in &f.filters {
                    match self.filter_call(call) {
                        Some(c) => filters.push(c),
                        None => ok = false,
                    }
                }
                let input = input?;
                ok.then(|| Expr::Filtered {
                    input: Box::new(input),
                    filters,
                })
            }
        }
    }

    /// The value of a literal.
    pub(crate) fn literal(&mut self, l: &Literal) -> Option<Value> {
        Some(match &l.kind {
            LitKind::Bool(b) => Value::Bool(*b),
            LitKind::None => Value::None,
            LitKind::Any => Value::Any,
            LitKind::Int(i) => Value::Integer(*i),
            LitKind::Float(f) => Value::Float(*f),
            LitKind::Duration(d) => match d.millis() {
                Some(ms) => Value::Duration(Duration::from_millis(ms)),
                None => {
                    self.error(l.span, "duration is too long");
                    return None;
                }
            },
            LitKind::Bytes(b) => Value::Bytes(Bytes::from(b.clone())),
            LitKind::Ip(ip) => Value::Ip(*ip),
            LitKind::Prefix { addr, len } => match IpPrefix::new(*addr, *len) {
                Some(p) => Value::Prefix(p),
                None => {
                    self.error(
                        l.span,
                        format!("prefix length /{len} is too long for {addr}"),
                    );
                    return None;
                }
            },
        })
    }

    /// Compile a regex literal; a bad pattern is reported at the literal.
    pub(crate) fn regex(&mut self, r: &RegexLit) -> Option<Value> {
        match RegexValue::new(&r.pattern, r.case_insensitive) {
            Ok(v) => Some(Value::Regex(v)),
            Err(e) => {
                self.error(
                    r.span,
                    format!("invalid regular expression: {}", regex_error_message(&e)),
                );
                None
            }
        }
    }

    /// Lower a quoted string's parts.
    pub(crate) fn template(&mut self, t: &syn::Template) -> Option<Template> {
        let mut parts = Vec::with_capacity(t.parts.len());
        let mut ok = true;
        for p in &t.parts {
            match p {
                syn::TemplatePart::Text { text, .. } => {
                    parts.push(TemplatePart::Text(text.clone()))
                }
                syn::TemplatePart::Expr { expr, .. } => match self.expr(expr) {
                    Some(e) => parts.push(TemplatePart::Expr(e)),
                    None => ok = false,
                },
            }
        }
        ok.then_some(Template { parts })
    }

    /// An expression used as text (an action's message): a string is its template,
    /// anything else is one `%{expr}` part.
    pub(crate) fn text_of(&mut self, e: &syn::Expr) -> Option<Template> {
        match e {
            syn::Expr::Str(t) => self.template(t),
            other => {
                let e = self.expr(other)?;
                Some(Template {
                    parts: vec![TemplatePart::Expr(e)],
                })
            }
        }
    }

    fn filter_call(&mut self, call: &syn::FilterCall) -> Option<FilterCall> {
        let Some(filter) = Filter::from_name(&call.name) else {
            if UNSUPPORTED_FILTER_NAMES.contains(&call.name.as_str()) {
                self.error(
                    call.name_span,
                    format!("filter `{}` is not supported", call.name),
                );
            } else {
                self.error(
                    call.name_span,
                    unknown_message(
                        "filter",
                        &call.name,
                        suggest(&call.name, FILTER_NAMES.iter().copied()),
                    ),
                );
            }
            return None;
        };
        let arity = filter.arity();
        if !arity.accepts(call.args.len()) {
            let expected = match arity.max {
                Some(m) if m == arity.min => format!("{m}"),
                Some(m) => format!("{} to {m}", arity.min),
                None => format!("at least {}", arity.min),
            };
            self.error(
                call.span,
                format!(
                    "filter `{}` takes {expected} argument(s), {} given",
                    filter.name(),
                    call.args.len()
                ),
            );
            return None;
        }
        let args = if matches!(filter, Filter::Remove | Filter::Select) {
            self.attr_name_args(call)?
        } else {
            let mut ok = true;
            let mut args = Vec::with_capacity(call.args.len());
            for a in &call.args {
                match self.expr(a) {
                    Some(x) => args.push(x),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            args
        };
        let consts: Option<Vec<Value>> = args.iter().map(const_value).collect();
        if let Some(values) = consts
            && let Err(msg) = filter.check_literal_args(&values, &DictFilterEnv(self.dictionary()))
        {
            self.error(call.span, msg);
            return None;
        }
        Some(FilterCall {
            name: filter.name().to_owned(),
            args,
        })
    }

    /// The arguments of `remove(…)`/`select(…)`: attribute names written bare or
    /// quoted, as string literals holding their canonical dictionary spelling.
    fn attr_name_args(&mut self, call: &syn::FilterCall) -> Option<Vec<Expr>> {
        let mut ok = true;
        let mut out = Vec::with_capacity(call.args.len());
        for a in &call.args {
            let name = match a {
                syn::Expr::Path(p) if p.is_plain() => p.names().collect::<Vec<_>>().join("."),
                syn::Expr::Str(t) if t.as_plain().is_some() => {
                    t.as_plain().unwrap_or_default().to_owned()
                }
                other => {
                    self.error(
                        other.span(),
                        format!(
                            "`{}` expects attribute names, e.g. `{}(Proxy-State)`",
                            call.name, call.name
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            match self.dictionary().attr(&name) {
                Some(def) => out.push(Expr::Literal(Value::String(def.name.clone()))),
                None => {
                    let s = self.dictionary().suggest(&name);
                    self.error(a.span(), unknown_message("attribute", &name, s));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}
