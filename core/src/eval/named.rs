//! Named values in comparisons (language.md §3.7 "enum … written as a name or a
//! number", §5 "a code also accepts its number and its dictionary-style name").
//!
//! A packet code (`radius.request.code`, `radius.reply.code`) and the value of an
//! attribute of integer type (`integer`, `byte`, `short`, `signed`, `integer64`)
//! read as integers: `radius.request.attr.Service-Type` is `2` and renders as `2`.
//! What makes `radius.request.attr.Service-Type == "Framed-User"` and
//! `radius.request.code == "disconnect-request"` hold is this module: when one side
//! of a test (or the subject of a `map`) reads a code or such an attribute, each
//! string on the other side (alone, in a list, or a JSON string) that is one of
//! its names is replaced by the name's number before [`crate::eval::ops::compare`]
//! runs. Names are matched as the assignments match them
//! (`Error-Cause = "Request-Not-Routable"`): a code by its constant name
//! (`DISCONNECT_REQUEST`) or its dictionary-style name in any case; an attribute
//! value by its dictionary `VALUE` name, case-insensitively (FreeRADIUS's
//! practice, and the dictionary's lookup). A string that is no name is left as
//! it is (`"2"` still compares as the number 2; `"bogus"` equals nothing).
//!
//! The string tests (`starts`, `contains`, `ends` and their negations) work on text
//! forms and are left alone.

use std::borrow::Cow;

use crate::eval::context::AttrSchema;
use crate::eval::ir::{Expr, VarRef, radius_code_from_value};
use crate::eval::ops::CompareOp;
use crate::eval::value::Value;
use crate::radius::id::{AttrId, DataType};

/// Which names the values read by an expression have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// A RADIUS packet code: `Access-Request`, `DISCONNECT_REQUEST`, ….
    Code,
    /// The dictionary `VALUE` names of an attribute of integer type.
    Attr(AttrId),
}

/// The names of what `expr` reads, when it reads a packet code or an attribute of
/// integer type directly (a filter or template over one yields other values).
pub fn names_of(expr: &Expr, schema: &dyn AttrSchema) -> Option<Names> {
    match expr {
        Expr::Var(VarRef::RadiusCode(_)) => Some(Names::Code),
        Expr::Var(VarRef::RadiusAttr { attr, .. }) => match schema.data_type(*attr)? {
            DataType::Integer
            | DataType::Integer64
            | DataType::Byte
            | DataType::Short
            | DataType::Signed => Some(Names::Attr(*attr)),
            _ => None,
        },
        _ => None,
    }
}

/// The number a name stands for, if `name` is one of `names`.
fn number_of(names: Names, name: &str, schema: &dyn AttrSchema) -> Option<i128> {
    match names {
        Names::Code => radius_code_from_value(&Value::String(name.to_owned())).map(i128::from),
        Names::Attr(attr) => schema.value_number(attr, name).map(i128::from),
    }
}

/// Whether `value` holds a string anywhere a name could be resolved.
fn has_text(value: &Value) -> bool {
    match value {
        Value::String(_) | Value::Json(serde_json::Value::String(_)) => true,
        Value::List(items) => items.iter().any(has_text),
        _ => false,
    }
}

fn resolve_owned(names: Names, value: &Value, schema: &dyn AttrSchema) -> Value {
    match value {
        Value::String(s) | Value::Json(serde_json::Value::String(s)) => {
            number_of(names, s, schema).map_or_else(|| value.clone(), Value::Integer)
        }
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|v| resolve_owned(names, v, schema))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `value` with every string that is one of `names` replaced by its number (see
/// the module documentation); borrowed when there is nothing to replace.
pub fn resolve<'v>(
    names: Option<Names>,
    value: &'v Value,
    schema: &dyn AttrSchema,
) -> Cow<'v, Value> {
    match names {
        Some(n) if has_text(value) => Cow::Owned(resolve_owned(n, value, schema)),
        _ => Cow::Borrowed(value),
    }
}

/// Both sides of a test `left <op> right`, the names on each side resolved against
/// what the other side reads (nothing changes for the string tests).
pub fn resolve_test<'v>(
    op: CompareOp,
    left_expr: &Expr,
    left: &'v Value,
    right_expr: &Expr,
    right: &'v Value,
    schema: &dyn AttrSchema,
) -> (Cow<'v, Value>, Cow<'v, Value>) {
    let by_value = matches!(
        op,
        CompareOp::Eq
            | CompareOp::Ne
            | CompareOp::Gt
            | CompareOp::Ge
            | CompareOp::Lt
            | CompareOp::Le
    );
    if !by_value {
        return (Cow::Borrowed(left), Cow::Borrowed(right));
    }
    (
        resolve(names_of(right_expr, schema), left, schema),
        resolve(names_of(left_expr, schema), right, schema),
    )
}
