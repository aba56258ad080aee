//! PLACEHOLDER comparison operators (replaced at merge by the real `ops.rs`).
//!
//! Only `==`/`!=` are implemented, with the documented list / multi-value / regex /
//! boolean-as-integer rules; every other operator compares false.

use crate::eval::text::to_text;
use crate::eval::value::Value;

/// A comparison operator of conditions (language.md §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CompareOp {
    /// `==` / `eq`.
    Eq,
    /// `!=` / `ne`.
    Ne,
    /// `>` / `gt`.
    Gt,
    /// `>=` / `ge`.
    Ge,
    /// `<` / `lt`.
    Lt,
    /// `<=` / `le`.
    Le,
    /// `starts`.
    Starts,
    /// `!starts`.
    NotStarts,
    /// `contains`.
    Contains,
    /// `!contains`.
    NotContains,
    /// `ends`.
    Ends,
    /// `!ends`.
    NotEnds,
}

fn scalar_eq(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Error(_), _) | (_, Value::Error(_)) => false,
        (Value::None, Value::None) => true,
        (l, Value::Any) => !matches!(l, Value::None),
        (l, Value::Regex(r)) => !matches!(l, Value::None) && r.regex.is_match(&to_text(l)),
        (Value::Bool(b), Value::Integer(i)) | (Value::Integer(i), Value::Bool(b)) => {
            i128::from(*b) == *i
        }
        (l, r) => l == r,
    }
}

fn equals(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (_, Value::List(items)) => items.iter().any(|r| equals(left, r)),
        (Value::List(items), r) => items.iter().any(|l| scalar_eq(l, r)),
        (l, r) => scalar_eq(l, r),
    }
}

/// Compare two values; an error value on either side compares false.
pub fn compare(op: CompareOp, left: &Value, right: &Value) -> bool {
    if matches!(left, Value::Error(_)) || matches!(right, Value::Error(_)) {
        return false;
    }
    match op {
        CompareOp::Eq => equals(left, right),
        CompareOp::Ne => !equals(left, right),
        _ => false,
    }
}
