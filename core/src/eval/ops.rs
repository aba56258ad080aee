//! Comparison operators of conditions and `if` (language.md §3.4).
//!
//! [`compare`] is total: it never fails and never panics; it answers `false` where a
//! comparison makes no sense. The rules, in the order they apply:
//!
//! 1. **Errors**: an error value on either side — or as an element of a list on
//!    either side — makes every operator false, `!=` and the `!` string tests
//!    included.
//! 2. **Negations**: `!=`, `!starts`, `!contains`, `!ends` are exactly the negation
//!    of `==`, `starts`, `contains`, `ends` (once rule 1 has not applied). So
//!    `x != [a b]` means "equals none of them", `[a b] != x` means "no element
//!    equals x", and mismatched types are `!=`.
//! 3. **none**: an empty list counts as `none`. `x == none` iff x is none.
//!    Ordering and string tests with `none` on either side are false.
//! 4. **any**: `x == any` iff x is not none (and not an error). Ordering and string
//!    tests with `any` on either side are false.
//! 5. **Lists**: a list on the right is satisfied if *any* element satisfies the
//!    operator (`x == [a b]`, `x > [1 2]`, `x starts ["a" "b"]`); a list on the left
//!    (a multi-valued attribute) likewise if any element satisfies it. With lists on
//!    both sides, any pair suffices.
//! 6. **Regex** on either side of `==`: a search of the other side's text form
//!    (honouring `/…/i`); two regexes are equal when written the same. Regexes are
//!    never ordered and never the operand of a string test.
//! 7. **Scalars**, in the order tried:
//!    - booleans compare with booleans, with integers/floats as 0/1, and with the
//!      strings `true`/`false`/numbers;
//!    - integers and floats compare numerically with each other and with strings
//!      holding a number (`"42"`, `"1.5"`); a string that is not a number does not
//!      compare with a number;
//!    - strings compare byte-wise, case-sensitively;
//!    - bytes compare byte-wise with bytes, and with the UTF-8 octets of a string;
//!    - IPs compare with IPs (and with strings holding one): equality, and ordering
//!      within one family; `ip == prefix` is membership; prefixes compare with
//!      prefixes (and strings holding one) by network: `10.1.0.0/8 == 10.0.0.0/8`;
//!    - timestamps with timestamps, with integers (seconds since the epoch) and with
//!      RFC 3339/2822 strings; durations with durations and duration strings (`90s`);
//!    - maps, attribute lists and JSON arrays/objects are only `==` to a value of the
//!      same kind with the same content; JSON scalars behave like the scalar they hold;
//!    - anything else is a type mismatch: `==` false, `!=` true, ordering false.
//! 8. **String tests** (`starts`, `contains`, `ends`) work on the text form of both
//!    sides (see [`crate::eval::text`]), case-sensitively.
//!
//! The tests of conditions (`conditions`, `if`) add one rule in front of these,
//! [`compare_operands`]: **a missing value never selects**. When a side that reads a
//! variable (an attribute, `http.query.*`, `vars.*`, `connection.*`, …) has no value,
//! the test is false whatever the operator — `==`, `!=`, the ordering operators, the
//! string tests and their negations alike — unless the other side is the literal
//! `none` or `any` (a presence test: `x == none`, `x != none`, `x == any` keep their
//! meaning). So `connection.status.nas_identifier == radius.request.attr.NAS-Identifier`
//! is false for every connection when the trigger carries no NAS-Identifier, and
//! `vars.x != "a"` is false while `vars.x` is unset. [`compare`] itself is the
//! value-level relation (used by `map` arms and by this rule) and keeps
//! `none == none`.
//!
//! Two short strings compare without allocating.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use crate::eval::convert::{
    epoch_seconds, json_scalar_to_value, parse_duration, parse_float, parse_integer, parse_ip,
    parse_prefix, parse_timestamp,
};
use crate::eval::text::text;
use crate::eval::value::{IpPrefix, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `==` / `eq`
    Eq,
    /// `!=` / `ne`
    Ne,
    /// `>` / `gt`
    Gt,
    /// `>=` / `ge`
    Ge,
    /// `<` / `lt`
    Lt,
    /// `<=` / `le`
    Le,
    /// `starts`: the left text form begins with the right one.
    Starts,
    /// `!starts`
    NotStarts,
    /// `contains`: the right text form occurs in the left one.
    Contains,
    /// `!contains`
    NotContains,
    /// `ends`: the left text form ends with the right one.
    Ends,
    /// `!ends`
    NotEnds,
}

impl CompareOp {
    /// Every operator.
    pub const ALL: [CompareOp; 12] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Starts,
        CompareOp::NotStarts,
        CompareOp::Contains,
        CompareOp::NotContains,
        CompareOp::Ends,
        CompareOp::NotEnds,
    ];

    /// The operator written as `token`: a symbol (`==`, `!=`, `>`, `>=`, `<`, `<=`),
    /// its word form (`eq`, `ne`, `gt`, `ge`, `lt`, `le`) or a string test (`starts`,
    /// `!starts`, `contains`, `!contains`, `ends`, `!ends`). Case-sensitive.
    pub fn from_token(token: &str) -> Option<CompareOp> {
        Some(match token {
            "==" | "eq" => CompareOp::Eq,
            "!=" | "ne" => CompareOp::Ne,
            ">" | "gt" => CompareOp::Gt,
            ">=" | "ge" => CompareOp::Ge,
            "<" | "lt" => CompareOp::Lt,
            "<=" | "le" => CompareOp::Le,
            "starts" => CompareOp::Starts,
            "!starts" => CompareOp::NotStarts,
            "contains" => CompareOp::Contains,
            "!contains" => CompareOp::NotContains,
            "ends" => CompareOp::Ends,
            "!ends" => CompareOp::NotEnds,
            _ => return None,
        })
    }

    /// The canonical spelling (symbols for the relational operators).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Starts => "starts",
            CompareOp::NotStarts => "!starts",
            CompareOp::Contains => "contains",
            CompareOp::NotContains => "!contains",
            CompareOp::Ends => "ends",
            CompareOp::NotEnds => "!ends",
        }
    }

    /// Whether this is the negation of another operator (`!=`, `!starts`, …).
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            CompareOp::Ne | CompareOp::NotStarts | CompareOp::NotContains | CompareOp::NotEnds
        )
    }

    /// The positive operator this one negates, or itself if it is not a negation.
    fn positive(self) -> CompareOp {
        match self {
            CompareOp::Ne => CompareOp::Eq,
            CompareOp::NotStarts => CompareOp::Starts,
            CompareOp::NotContains => CompareOp::Contains,
            CompareOp::NotEnds => CompareOp::Ends,
            other => other,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Evaluate `left <op> right` (see the module documentation for the rules).
pub fn compare(op: CompareOp, left: &Value, right: &Value) -> bool {
    if holds_error(left) || holds_error(right) {
        return false;
    }
    let positive = holds(op.positive(), left, right);
    if op.is_negated() { !positive } else { positive }
}

/// Where an operand of a condition test comes from, for the missing-value rule of
/// [`compare_operands`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// Written in the configuration: a literal, a resolved constant
    /// (`errors.*`, `radius.*`), or a list of them.
    Constant,
    /// Reads the context (a variable, or an expression over one): it can be missing.
    Read,
}

/// Evaluate a condition test `left <op> right`, each side with its [`Operand`]
/// origin: false when a side that reads the context has no value
/// ([`Value::is_none`]), whatever the operator, unless the other side is the
/// literal `none` or `any`; otherwise
/// [`compare`]. This is what keeps two missing values from matching each other
/// (`none == none`) and a missing value from satisfying `!=`.
pub fn compare_operands(
    op: CompareOp,
    left: &Value,
    left_origin: Operand,
    right: &Value,
    right_origin: Operand,
) -> bool {
    test_operands(op, left, left_origin, right, right_origin).unwrap_or(false)
}

/// [`compare_operands`] that tells an unknown outcome apart: `None` when a side that
/// reads the context has no value (and the other side is not the literal `none` or
/// `any`), so that a caller combining tests can keep "unknown" from turning into a
/// decision through a negation (`none { … }`, an `else`).
pub fn test_operands(
    op: CompareOp,
    left: &Value,
    left_origin: Operand,
    right: &Value,
    right_origin: Operand,
) -> Option<bool> {
    let presence_test = (left_origin == Operand::Constant && is_presence_literal(left))
        || (right_origin == Operand::Constant && is_presence_literal(right));
    if !presence_test {
        let missing = |v: &Value, origin: Operand| origin == Operand::Read && v.is_none();
        if missing(left, left_origin) || missing(right, right_origin) {
            return None;
        }
    }
    Some(compare(op, left, right))
}

/// The literals `none` and `any` (what a presence test is written with).
fn is_presence_literal(v: &Value) -> bool {
    matches!(v, Value::None | Value::Any)
}

/// An error value, or a list with an error among its elements.
fn holds_error(v: &Value) -> bool {
    match v {
        Value::Error(_) => true,
        Value::List(items) => items.iter().any(holds_error),
        _ => false,
    }
}

/// A positive operator (`==`, ordering, `starts`, `contains`, `ends`).
fn holds(op: CompareOp, left: &Value, right: &Value) -> bool {
    // JSON scalars behave like the scalars they hold.
    if let Value::Json(j) = left
        && let Some(v) = json_scalar_to_value(j)
    {
        return holds(op, &v, right);
    }
    if let Value::Json(j) = right
        && let Some(v) = json_scalar_to_value(j)
    {
        return holds(op, left, &v);
    }
    if op == CompareOp::Eq {
        if right.is_none() {
            return left.is_none();
        }
        if left.is_none() {
            return false;
        }
        if matches!(right, Value::Any) || matches!(left, Value::Any) {
            return true;
        }
    } else if left.is_none()
        || right.is_none()
        || matches!(left, Value::Any)
        || matches!(right, Value::Any)
    {
        return false;
    }
    if let Value::List(items) = right {
        return items.iter().any(|r| holds(op, left, r));
    }
    if let Value::List(items) = left {
        return items.iter().any(|l| holds(op, l, right));
    }
    match op {
        CompareOp::Eq => equal(left, right),
        CompareOp::Gt => order(left, right) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(
            order(left, right),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        CompareOp::Lt => order(left, right) == Some(Ordering::Less),
        CompareOp::Le => matches!(order(left, right), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Starts | CompareOp::Contains | CompareOp::Ends => {
            if matches!(left, Value::Regex(_)) || matches!(right, Value::Regex(_)) {
                return false;
            }
            let l = text(left);
            let r = text(right);
            match op {
                CompareOp::Starts => l.starts_with(r.as_ref()),
                CompareOp::Contains => l.contains(r.as_ref()),
                _ => l.ends_with(r.as_ref()),
            }
        }
        // Negations never reach here (`compare` passes the positive operator).
        CompareOp::Ne | CompareOp::NotStarts | CompareOp::NotContains | CompareOp::NotEnds => false,
    }
}

/// `==` on two values that are neither none, any, lists nor errors.
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Regex(a), Value::Regex(b)) => a == b,
        (Value::Regex(re), other) | (other, Value::Regex(re)) => re.is_match(&text(other)),
        (Value::Ip(ip), Value::Prefix(p)) | (Value::Prefix(p), Value::Ip(ip)) => p.contains(ip),
        (Value::Prefix(a), Value::Prefix(b)) => a.same_network(b),
        (Value::Prefix(p), Value::String(s)) | (Value::String(s), Value::Prefix(p)) => {
            prefix_equals_text(p, s)
        }
        (Value::Map(a), Value::Map(b)) => a == b,
        (Value::Attrs(a), Value::Attrs(b)) => a == b,
        (Value::Json(a), Value::Json(b)) => a == b,
        _ => order(left, right) == Some(Ordering::Equal),
    }
}

/// `p == "text"`: the text is a prefix of the same network, or an address inside it.
fn prefix_equals_text(p: &IpPrefix, s: &str) -> bool {
    if let Ok(other) = parse_prefix(s) {
        return p.same_network(&other);
    }
    parse_ip(s).is_some_and(|ip| p.contains(&ip))
}

/// A number for numeric comparison.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn num_of(v: &Value) -> Option<Num> {
    match v {
        Value::Integer(i) => Some(Num::Int(*i)),
        Value::Float(f) => Some(Num::Float(*f)),
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        _ => None,
    }
}

fn num_of_text(s: &str) -> Option<Num> {
    if let Some(i) = parse_integer(s) {
        return Some(Num::Int(i));
    }
    match s {
        "true" => return Some(Num::Int(1)),
        "false" => return Some(Num::Int(0)),
        _ => {}
    }
    parse_float(s).map(Num::Float)
}

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(i), Num::Float(f)) => cmp_int_float(i, f),
        (Num::Float(f), Num::Int(i)) => cmp_int_float(i, f).map(Ordering::reverse),
    }
}

/// Exact where the float is integral and in range; otherwise through `f64`.
fn cmp_int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 1e30 {
        // Integral and well inside i128: the conversion is exact.
        return Some(i.cmp(&(f as i128)));
    }
    (i as f64).partial_cmp(&f)
}

/// The order of two values that are neither none, any, lists nor errors; `None` when
/// they do not compare.
fn order(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::String(a), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Bytes(a), Value::Bytes(b)) => Some(a.as_ref().cmp(b.as_ref())),
        (Value::Bytes(a), Value::String(b)) => Some(a.as_ref().cmp(b.as_bytes())),
        (Value::String(a), Value::Bytes(b)) => Some(a.as_bytes().cmp(b.as_ref())),
        (Value::Ip(a), Value::Ip(b)) => cmp_ip(a, b),
        (Value::Ip(a), Value::String(s)) => cmp_ip(a, &parse_ip(s)?),
        (Value::String(s), Value::Ip(b)) => cmp_ip(&parse_ip(s)?, b),
        (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
        (Value::Timestamp(a), Value::Integer(b)) => Some(epoch_seconds(*a)?.cmp(b)),
        (Value::Integer(a), Value::Timestamp(b)) => Some(a.cmp(&epoch_seconds(*b)?)),
        (Value::Timestamp(a), Value::String(s)) => Some(a.cmp(&parse_timestamp(s).ok()?)),
        (Value::String(s), Value::Timestamp(b)) => Some(parse_timestamp(s).ok()?.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::String(s)) => Some(a.cmp(&parse_duration(s).ok()?)),
        (Value::String(s), Value::Duration(b)) => Some(parse_duration(s).ok()?.cmp(b)),
        (Value::String(s), other) => cmp_num(num_of_text(s)?, num_of(other)?),
        (other, Value::String(s)) => cmp_num(num_of(other)?, num_of_text(s)?),
        _ => cmp_num(num_of(left)?, num_of(right)?),
    }
}

/// Addresses of one family order by their octets; the families do not compare.
fn cmp_ip(a: &IpAddr, b: &IpAddr) -> Option<Ordering> {
    match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) => Some(x.cmp(y)),
        (IpAddr::V6(x), IpAddr::V6(y)) => Some(x.cmp(y)),
        _ => None,
    }
}
