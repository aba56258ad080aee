//! Backend `query` blocks: building the outgoing request from `bindings` and copying
//! the answer back with `mapping` (language.md §1.6).
//!
//! RADIUS queries: `bindings { <new-request place> = <current expr>; }` is evaluated
//! against the current context and builds a fresh [`OutgoingRequest`];
//! `mapping { <current place> = <reply expr>; }` is evaluated with `radius.reply.*`
//! reading the backend's reply and `radius.request.*` reading what was sent (every
//! other namespace reads the current context), and writes into the current context.
//!
//! SQL queries: positional `bindings` are a list of expressions giving the statement's
//! parameters; `mapping { place = column; }` copies columns of the result rows: `=`
//! and `?=` take the first row (`none` if there is none), `+=` gathers every row.
//!
//! The engine does the backend work; these functions are the pure parts it calls.

use crate::contract::SqlRows;
use crate::eval::context::{
    AttrBag, AttrSchema, EvalEnv, attr_label, place_text, read_attr, write_attr, write_attrs,
};
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{
    AssignOp, Assignment, Expr, HttpField, PacketRef, Place, VarRef, radius_code_from_value,
};
use crate::eval::template::{eval_expr, render_required};
use crate::eval::text::literal;
use crate::eval::value::Value;

/// A RADIUS query's `bindings` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bindings {
    /// Assignments whose places are `radius.request.code`, `radius.request.attr.X`
    /// or `radius.request.attrs` of the request being built.
    pub assignments: Vec<Assignment>,
}

/// A RADIUS query's `mapping` (or `mappings`) block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapping {
    /// Assignments into the current context.
    pub assignments: Vec<Assignment>,
}

/// A `query "NAME" { bindings { … } mapping { … } }` of a RADIUS backend.
#[derive(Debug, Clone, PartialEq)]
pub struct RadiusQuery {
    /// The query's name.
    pub name: String,
    /// How the request is built.
    pub bindings: Bindings,
    /// How the reply is copied back.
    pub mapping: Mapping,
}

/// The request a RADIUS query's bindings built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingRequest {
    /// The code, if the bindings set one.
    pub code: Option<u8>,
    /// The attributes, in the order they were bound. The engine adds
    /// Message-Authenticator (and strips any copied one) when it signs.
    pub attrs: AttrBag,
}

/// The backend's answer as a mapping sees it.
#[derive(Debug, Clone, Copy)]
pub struct ReplyView<'a> {
    /// What was sent (`radius.request.*` inside the mapping).
    pub sent: &'a OutgoingRequest,
    /// The reply's code (`radius.reply.code`).
    pub code: u8,
    /// The reply's attributes (`radius.reply.attr.*`, `radius.reply.attrs`).
    pub attrs: &'a AttrBag,
}

fn invalid(msg: String) -> ErrorValue {
    ErrorValue::new(ErrorCode::InvalidValue, msg)
}

/// The value of a binding's right side. A template is *required*: when one of its
/// `%{…}` has no value the binding fails with `MISSING_VALUE` instead of sending
/// the text around the gap (`"%{http.query.username}"` without the parameter would
/// otherwise become an empty User-Name). A plain expression that has no value is
/// `none`, which leaves the attribute out.
fn binding_value(a: &Assignment, env: &dyn EvalEnv) -> Result<Value, ErrorValue> {
    match &a.value {
        Expr::Template(t) => render_required(t, env)
            .map(Value::String)
            .map_err(|missing| {
                ErrorValue::new(
                    ErrorCode::MissingValue,
                    format!(
                        "bindings: {} needs a value for {}, which has none",
                        place_name(&a.place, env.schema()),
                        gap_name(missing, env.schema())
                    ),
                )
            }),
        other => Ok(eval_expr(other, env)),
    }
}

/// How a template's `%{…}` that has no value is named in an error: as written in
/// the configuration for the variables a request brings (or not), else generically.
fn gap_name(expr: &Expr, schema: &dyn AttrSchema) -> String {
    let packet = |p: &PacketRef| match p {
        PacketRef::Request => "request",
        PacketRef::Reply => "reply",
    };
    let var = match expr {
        Expr::Var(v) => v,
        Expr::Filtered { input, .. } => return gap_name(input, schema),
        _ => return "a `%{…}` expression".to_owned(),
    };
    let name = match var {
        VarRef::Vars(n) => format!("vars.{n}"),
        VarRef::Env(n) => format!("env.{n}"),
        VarRef::Http(HttpField::Query(k)) => format!("http.query.{k}"),
        VarRef::Http(HttpField::Header(k)) => format!("http.header.{k}"),
        VarRef::Http(HttpField::PathSegment(n)) => format!("http.path.{n}"),
        VarRef::Http(HttpField::Body) => "http.body".to_owned(),
        VarRef::RadiusAttr {
            packet: p, attr, ..
        } => match schema.attr_name(*attr) {
            Some(n) => format!("radius.{}.attr.{n}", packet(p)),
            None => {
                return format!("`%{{radius.{}.attr…}}` (attribute {attr})", packet(p));
            }
        },
        _ => return "a `%{…}` variable".to_owned(),
    };
    format!("`%{{{name}}}`")
}

/// A short name of a bindings place, for error messages.
fn place_name(place: &Place, schema: &dyn AttrSchema) -> String {
    match place {
        Place::RadiusAttr { attr, .. } => attr_label(schema, *attr),
        Place::RadiusCode(_) => "the request code".to_owned(),
        other => place_text(other, schema),
    }
}

/// Build the outgoing request of a RADIUS query from the current context. An error
/// value on a right side, a template with a missing `%{…}` (`MISSING_VALUE`), or a
/// place other than the new request, is an error.
pub fn eval_bindings(
    bindings: &Bindings,
    env: &dyn EvalEnv,
) -> Result<OutgoingRequest, ErrorValue> {
    let mut out = OutgoingRequest::default();
    for a in &bindings.assignments {
        let value = binding_value(a, env)?;
        if let Value::Error(e) = value {
            return Err(e);
        }
        match &a.place {
            Place::RadiusCode(PacketRef::Request) => {
                if a.op == AssignOp::SetIfNone && out.code.is_some() {
                    continue;
                }
                out.code = match &value {
                    Value::None => None,
                    v => Some(radius_code_from_value(v).ok_or_else(|| {
                        invalid(format!(
                            "bindings: {} is not a RADIUS packet code",
                            literal(v)
                        ))
                    })?),
                };
            }
            Place::RadiusAttr {
                packet: PacketRef::Request,
                attr,
            } => {
                write_attr(&mut out.attrs, env.schema(), *attr, a.op, value)?;
            }
            Place::RadiusAttrs(PacketRef::Request) => write_attrs(&mut out.attrs, a.op, value)?,
            other => {
                return Err(invalid(format!(
                    "bindings can only set radius.request.code/attr/attrs, not {}",
                    place_text(other, env.schema())
                )));
            }
        }
    }
    // The encoder refuses these too; saying it here names the attribute as written.
    let schema = env.schema();
    for e in out.attrs.entries() {
        if let Some(dt) = schema.data_type(e.id).filter(|t| t.forbids_empty())
            && e.value.is_empty()
        {
            return Err(invalid(format!(
                "bindings: {} ({}) cannot be empty: a value needs at least one octet (RFC 2865 §5)",
                attr_label(schema, e.id),
                dt.name()
            )));
        }
    }
    Ok(out)
}

/// A read-only view for mapping right sides: `radius.request/reply.*` from the
/// backend exchange, everything else from the current context.
struct MappingEnv<'a> {
    reply: &'a ReplyView<'a>,
    base: &'a dyn EvalEnv,
}

impl EvalEnv for MappingEnv<'_> {
    fn schema(&self) -> &dyn AttrSchema {
        self.base.schema()
    }

    fn read(&self, var: &VarRef) -> Value {
        let schema = self.base.schema();
        match var {
            VarRef::RadiusCode(PacketRef::Request) => self
                .reply
                .sent
                .code
                .map_or(Value::None, |c| Value::Integer(i128::from(c))),
            VarRef::RadiusCode(PacketRef::Reply) => Value::Integer(i128::from(self.reply.code)),
            VarRef::RadiusAttr {
                packet: PacketRef::Request,
                attr,
                index,
            } => read_attr(&self.reply.sent.attrs, schema, *attr, *index),
            VarRef::RadiusAttr {
                packet: PacketRef::Reply,
                attr,
                index,
            } => read_attr(self.reply.attrs, schema, *attr, *index),
            VarRef::RadiusAttrs(PacketRef::Request) => {
                Value::Attrs(self.reply.sent.attrs.entries().to_vec())
            }
            VarRef::RadiusAttrs(PacketRef::Reply) => {
                Value::Attrs(self.reply.attrs.entries().to_vec())
            }
            other => self.base.read(other),
        }
    }

    fn write(&mut self, _: &Place, _: AssignOp, _: Value) -> Result<(), ErrorValue> {
        Err(invalid("mapping right sides cannot write".into()))
    }

    fn note_error(&mut self, _: &ErrorValue) {}

    fn begin_try(&mut self) {}

    fn catch_error(&mut self, _: &ErrorValue) {}

    fn reject_errors(&self) -> bool {
        self.base.reject_errors()
    }

    fn set_reject_errors(&mut self, _: bool) {}
}

/// Copy a RADIUS backend's reply into the current context per `mapping`. Each right
/// side is evaluated before its assignment, so later ones see earlier writes.
pub fn apply_mapping(
    mapping: &Mapping,
    reply: &ReplyView<'_>,
    target: &mut dyn EvalEnv,
) -> Result<(), ErrorValue> {
    for a in &mapping.assignments {
        let value = {
            let view = MappingEnv {
                reply,
                base: &*target,
            };
            eval_expr(&a.value, &view)
        };
        target.write(&a.place, a.op, value)?;
    }
    Ok(())
}

/// A query of an SQL backend.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlQuery {
    /// The query's name.
    pub name: String,
    /// The statement, with `?` placeholders.
    pub statement: String,
    /// Positional parameters, one expression per `?`.
    pub params: Vec<Expr>,
    /// Column copies.
    pub mapping: Vec<SqlAssign>,
}

/// `place = column;` / `place += column;` of an SQL mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlAssign {
    /// Where the value goes.
    pub place: Place,
    /// `=`/`?=` take the first row, `+=` every row.
    pub op: AssignOp,
    /// The result column's name (compared case-insensitively).
    pub column: String,
}

/// The statement parameters, evaluated against the current context. Error values
/// are errors (they cannot be bound).
pub fn eval_sql_params(params: &[Expr], env: &dyn EvalEnv) -> Result<Vec<Value>, ErrorValue> {
    params
        .iter()
        .map(|p| match eval_expr(p, env) {
            Value::Error(e) => Err(e),
            v => Ok(v),
        })
        .collect()
}

/// Copy SQL result columns into the context. A column missing from the result is an
/// `INVALID_VALUE` error.
pub fn apply_sql_mapping(
    mapping: &[SqlAssign],
    rows: &SqlRows,
    target: &mut dyn EvalEnv,
) -> Result<(), ErrorValue> {
    for m in mapping {
        let col = rows
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&m.column))
            .ok_or_else(|| {
                invalid(format!(
                    "mapping: the result has no column {}",
                    literal(&Value::String(m.column.clone()))
                ))
            })?;
        let cell = |row: &Vec<Value>| row.get(col).cloned().unwrap_or(Value::None);
        match m.op {
            AssignOp::Append => {
                for row in &rows.rows {
                    target.write(&m.place, AssignOp::Append, cell(row))?;
                }
            }
            op => {
                let value = rows.rows.first().map_or(Value::None, cell);
                target.write(&m.place, op, value)?;
            }
        }
    }
    Ok(())
}
