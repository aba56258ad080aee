//! Backend query blocks (language.md §1.6):
//!
//! * RADIUS `bindings { <new-request place> = <current expr>; }`: the targets are
//!   `radius.request.code`, `radius.request.attr.<Name>` and `radius.request.attrs`
//!   (or `radius.request.attr`) of the request being built; a constant code must be
//!   a request code (`radius.DISCONNECT_REQUEST`, `40`, `"disconnect-request"`): a
//!   reply code such as `radius.ACCESS_ACCEPT` could never be sent.
//! * RADIUS `mapping { <current place> = <reply expr>; }`: any writable place of the
//!   caller's context; on the right, `radius.reply.*` is the backend's reply and
//!   `radius.request.*` what was sent (the interpreter's mapping view decides that;
//!   the IR is the same).
//! * SQL positional `bindings { expr; … }`, one expression per `?`.
//! * SQL `mapping { place = column; place += column; }`, the column a bare word or a
//!   plain string.

use crate::eval::ir::{AssignOp, Expr, PacketRef, Place, radius_code_from_value};
use crate::eval::query::{Bindings, Mapping, SqlAssign};
use crate::eval::value::Value;
use crate::lang::diag::suggest;
use crate::lang::syntax::{self as syn, Block, Body, Operator, Term};
use crate::radius::code::Code;

use super::Lowerer;
use super::expr::const_value;
use super::vars::{PlaceUse, code_names};

impl Lowerer<'_, '_> {
    pub(crate) fn bindings(&mut self, block: &Block) -> Bindings {
        let mut assignments = Vec::with_capacity(block.items.len());
        for line in &block.items {
            if let Body::Block(b) = &line.body {
                self.error(b.span, "expected an assignment `radius.request.… = value;`");
                continue;
            }
            let Some(a) = self.assignment(&line.terms, line.span, PlaceUse::Bindings, "bindings")
            else {
                continue;
            };
            if a.place == Place::RadiusCode(PacketRef::Request)
                && let Some(v) = const_value(&a.value)
                && let Some(code) = radius_code_from_value(&v).map(Code::from_u8)
                && !code.is_request()
            {
                // A constant code the dialer would refuse on every call: a reply
                // (`radius.ACCESS_ACCEPT`) or a number that is no request.
                let span = line.terms.last().map_or(line.span, Term::span);
                let what = match (code.name(), code.is_response()) {
                    (Some(name), true) => {
                        format!(
                            "{name} ({}) is a reply code, not a request code",
                            code.as_u8()
                        )
                    }
                    (Some(name), false) => {
                        format!("{name} ({}) is not a request code", code.as_u8())
                    }
                    (None, _) => format!("{} is not a request code", code.as_u8()),
                };
                self.error_help(
                    span,
                    format!("{what}: a query with it could never be sent"),
                    "set `radius.request.code` to a request code such as `radius.DISCONNECT_REQUEST`, `radius.COA_REQUEST` or `radius.ACCESS_REQUEST`, or copy the incoming one with `radius.request.code = radius.request.code;`",
                );
                continue;
            }
            if a.place == Place::RadiusCode(PacketRef::Request)
                && let Some(v) = const_value(&a.value)
                && !v.is_none()
                && radius_code_from_value(&v).is_none()
            {
                let span = line.terms.last().map_or(line.span, Term::span);
                let shown = match &v {
                    Value::String(s) => s.clone(),
                    Value::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                let s = match &v {
                    Value::String(s) => suggest(s, code_names()),
                    _ => None,
                };
                let msg = match s {
                    Some(s) => {
                        format!("`{shown}` is not a RADIUS packet code, did you mean `{s}`?")
                    }
                    None => format!("`{shown}` is not a RADIUS packet code"),
                };
                self.error_help(
                            span,
                            msg,
                            "write a constant such as `radius.DISCONNECT_REQUEST`, a number, or a name such as \"CoA-Request\"",
                        );
                continue;
            }
            assignments.push(a);
        }
        Bindings { assignments }
    }

    pub(crate) fn mapping(&mut self, block: &Block) -> Mapping {
        let mut assignments = Vec::with_capacity(block.items.len());
        for line in &block.items {
            if let Body::Block(b) = &line.body {
                self.error(b.span, "expected an assignment `place = value;`");
                continue;
            }
            if let Some(a) = self.assignment(&line.terms, line.span, PlaceUse::Mapping, "mapping") {
                assignments.push(a);
            }
        }
        Mapping { assignments }
    }

    pub(crate) fn sql_params(&mut self, block: &Block) -> Vec<Expr> {
        let mut params = Vec::with_capacity(block.items.len());
        for line in &block.items {
            match (line.terms.as_slice(), &line.body) {
                ([Term::Expr(e)], Body::Semi) => {
                    if let Some(x) = self.expr(e) {
                        params.push(x);
                    }
                }
                _ => {
                    self.error_help(
                        line.span,
                        "expected one value per line in SQL `bindings`",
                        "each line binds the next `?` of the statement, e.g. `radius.request.attr.User-Name;`",
                    );
                }
            }
        }
        params
    }

    pub(crate) fn sql_mapping(&mut self, block: &Block) -> Vec<SqlAssign> {
        let mut out = Vec::with_capacity(block.items.len());
        for line in &block.items {
            let (terms, Body::Semi) = (line.terms.as_slice(), &line.body) else {
                self.error(line.span, "expected `place = column;`");
                continue;
            };
            let [
                Term::Expr(syn::Expr::Path(p)),
                Term::Op(op),
                Term::Expr(col),
            ] = terms
            else {
                self.error_help(
                    line.span,
                    "expected `place = column;`",
                    "e.g. `vars.nas_identifier = nas_identifier;` or `user.group += group;`",
                );
                continue;
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
                        "`=` and `?=` take the first row, `+=` gathers every row",
                    );
                    continue;
                }
            };
            let place = self.resolve_place(p, PlaceUse::Mapping);
            let column = match col {
                syn::Expr::Path(c) if c.as_word().is_some() => c.as_word().map(str::to_owned),
                syn::Expr::Str(t) if t.as_plain().is_some() => t.as_plain().map(str::to_owned),
                other => {
                    self.error(
                        other.span(),
                        "expected a column name (a bare word or a plain string)",
                    );
                    None
                }
            };
            if let (Some(place), Some(column)) = (place, column) {
                out.push(SqlAssign {
                    place,
                    op: assign_op,
                    column,
                });
            }
        }
        out
    }
}
