//! Comparison operators: every operator against every pair of types that matters,
//! none/any, lists on both sides, regexes, CIDR membership, booleans vs integers,
//! and the rule that an error value never compares true.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use boomerang_core::eval::convert::parse_prefix;
use boomerang_core::eval::error::ErrorCode;
use boomerang_core::eval::ops::{CompareOp, Operand, compare, compare_operands};
use boomerang_core::eval::value::{RegexValue, Value};
use bytes::Bytes;
use proptest::prelude::*;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}
fn i(v: i128) -> Value {
    Value::Integer(v)
}
fn ip(v: &str) -> Value {
    Value::Ip(v.parse::<IpAddr>().unwrap())
}
fn pfx(v: &str) -> Value {
    Value::Prefix(parse_prefix(v).unwrap())
}
fn re(p: &str, ci: bool) -> Value {
    Value::Regex(RegexValue::new(p, ci).unwrap())
}
fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}
fn err() -> Value {
    Value::error(ErrorCode::BackendError, "boom")
}
fn ts(secs: u64) -> Value {
    Value::Timestamp(UNIX_EPOCH + Duration::from_secs(secs))
}
fn dur(secs: u64) -> Value {
    Value::Duration(Duration::from_secs(secs))
}
fn bytes(b: &[u8]) -> Value {
    Value::Bytes(Bytes::copy_from_slice(b))
}
fn op(t: &str) -> CompareOp {
    CompareOp::from_token(t).unwrap_or_else(|| panic!("operator {t}"))
}

/// (left, operator, right, expected)
fn table() -> Vec<(Value, &'static str, Value, bool)> {
    vec![
        // Strings: byte-wise, case-sensitive.
        (s("abc"), "==", s("abc"), true),
        (s("abc"), "==", s("ABC"), false),
        (s("abc"), "!=", s("ABC"), true),
        (s("abc"), "!=", s("abc"), false),
        (s("abc"), "<", s("abd"), true),
        (s("abc"), ">", s("abd"), false),
        (s("B"), "<", s("a"), true),
        (s("abc"), ">=", s("abc"), true),
        (s("abc"), "le", s("abc"), true),
        (s("abc"), "eq", s("abc"), true),
        (s("abc"), "ne", s("abc"), false),
        // String tests, on the text form, case-sensitive.
        (s("user@example.com"), "starts", s("user"), true),
        (s("user@example.com"), "starts", s("User"), false),
        (s("user@example.com"), "!starts", s("user"), false),
        (s("user@example.com"), "!starts", s("admin"), true),
        (s("user@example.com"), "contains", s("@"), true),
        (s("user@example.com"), "!contains", s("@"), false),
        (s("user@example.com"), "contains", s("#"), false),
        (s("user@example.com"), "!contains", s("#"), true),
        (s("user@example.com"), "ends", s(".com"), true),
        (s("user@example.com"), "ends", s(".COM"), false),
        (s("user@example.com"), "!ends", s(".org"), true),
        (i(12345), "starts", s("123"), true),
        (i(12345), "ends", i(45), true),
        (ip("192.0.2.10"), "starts", s("192.0.2."), true),
        (bytes(&[0xab, 0xcd]), "starts", s("0xab"), true),
        (Value::Bool(true), "contains", s("ru"), true),
        // Integers, floats and numeric strings.
        (i(5), "==", i(5), true),
        (i(5), "!=", i(6), true),
        (i(5), "<", i(6), true),
        (i(-5), "<", i(3), true),
        (i(7), ">=", i(7), true),
        (i(7), "gt", i(7), false),
        (i(5), "==", s("5"), true),
        (s("5"), "==", i(5), true),
        (i(10), ">", s("9"), true),
        (s("10"), ">", i(9), true),
        (i(5), "==", s("five"), false),
        (i(5), "!=", s("five"), true),
        (i(5), ">", s("five"), false),
        (i(5), "<", s("five"), false),
        (i(2), "==", Value::Float(2.0), true),
        (i(2), "<", Value::Float(2.5), true),
        (Value::Float(2.5), ">", i(2), true),
        (Value::Float(1.5), "==", s("1.5"), true),
        (i(1), "==", s("1.0"), true),
        (Value::Float(f64::NAN), "==", Value::Float(f64::NAN), false),
        (Value::Float(f64::NAN), "!=", Value::Float(f64::NAN), true),
        // Booleans compare as 0/1 with numbers.
        (Value::Bool(true), "==", i(1), true),
        (i(1), "==", Value::Bool(true), true),
        (i(0), "==", Value::Bool(false), true),
        (i(0), "==", Value::Bool(true), false),
        (i(2), "==", Value::Bool(true), false),
        (Value::Bool(true), "!=", i(0), true),
        (Value::Bool(true), ">", Value::Bool(false), true),
        (Value::Bool(true), "==", s("true"), true),
        (Value::Bool(true), "==", s("1"), true),
        (Value::Bool(false), "==", s("yes"), false),
        (Value::Bool(true), "==", Value::Bool(true), true),
        // IPs.
        (ip("192.0.2.1"), "==", ip("192.0.2.1"), true),
        (ip("192.0.2.1"), "==", s("192.0.2.1"), true),
        (s("192.0.2.1"), "==", ip("192.0.2.1"), true),
        (ip("2001:db8::1"), "==", s("2001:DB8:0::1"), true),
        (ip("192.0.2.1"), "==", s("not-an-ip"), false),
        (ip("192.0.2.1"), "<", ip("192.0.2.2"), true),
        (ip("192.0.2.1"), "<", ip("::1"), false),
        (ip("192.0.2.1"), "!=", ip("::1"), true),
        // CIDR membership, v4 and v6.
        (ip("10.1.2.3"), "==", pfx("10.0.0.0/8"), true),
        (ip("11.1.2.3"), "==", pfx("10.0.0.0/8"), false),
        (ip("11.1.2.3"), "!=", pfx("10.0.0.0/8"), true),
        (pfx("10.0.0.0/8"), "==", ip("10.255.255.255"), true),
        (ip("0.0.0.0"), "==", pfx("0.0.0.0/0"), true),
        (ip("192.0.2.7"), "==", pfx("192.0.2.7/32"), true),
        (ip("192.0.2.8"), "==", pfx("192.0.2.7/32"), false),
        (ip("2001:db8:1::5"), "==", pfx("2001:db8::/32"), true),
        (ip("2001:db9::5"), "==", pfx("2001:db8::/32"), false),
        (ip("::ffff:10.0.0.1"), "==", pfx("10.0.0.0/8"), false),
        (ip("10.0.0.1"), "==", pfx("::/0"), false),
        (s("10.9.9.9"), "==", pfx("10.0.0.0/8"), true),
        (pfx("10.0.0.0/8"), "==", pfx("10.0.0.0/8"), true),
        (pfx("10.1.0.0/8"), "==", pfx("10.0.0.0/8"), true),
        (pfx("10.0.0.0/8"), "==", pfx("10.0.0.0/16"), false),
        (pfx("10.0.0.0/8"), "==", s("10.0.0.0/8"), true),
        (pfx("10.0.0.0/8"), "<", pfx("11.0.0.0/8"), false),
        (ip("10.0.0.1"), "<", pfx("10.0.0.0/8"), false),
        // Regex on the right: a search of the text form, `i` honoured.
        (s("John.Smith"), "==", re("^john", false), false),
        (s("John.Smith"), "==", re("^john", true), true),
        (s("John.Smith"), "!=", re("^john", true), false),
        (s("John.Smith"), "!=", re("^john", false), true),
        (s("xx-abc-yy"), "==", re("abc", false), true),
        (i(4096), "==", re(r"^\d+$", false), true),
        (ip("10.0.0.1"), "==", re(r"^10\.", false), true),
        (re("abc", false), "==", s("zabcz"), true),
        (re("abc", false), "==", re("abc", false), true),
        (re("abc", false), "==", re("abc", true), false),
        (s("abc"), "<", re("abc", false), false),
        (s("abc"), "starts", re("a", false), false),
        // Timestamps and durations.
        (ts(100), "<", ts(200), true),
        (ts(200), "==", ts(200), true),
        (ts(200), "==", i(200), true),
        (ts(200), ">", i(100), true),
        (ts(0), "==", s("1970-01-01T00:00:00Z"), true),
        (ts(86_400), ">", s("1970-01-01T12:00:00Z"), true),
        (dur(90), "==", s("1m30s"), true),
        (dur(90), ">", dur(60), true),
        (dur(90), "<", s("2m"), true),
        (dur(90), "==", i(90), false),
        // Bytes.
        (bytes(b"abc"), "==", bytes(b"abc"), true),
        (bytes(b"abc"), "==", s("abc"), true),
        (s("abc"), "==", bytes(b"abc"), true),
        (bytes(b"abc"), "<", bytes(b"abd"), true),
        (bytes(&[0xff]), "==", s("0xff"), false),
        // Mismatched types that do not coerce.
        (ip("10.0.0.1"), "==", i(1), false),
        (ip("10.0.0.1"), "!=", i(1), true),
        (ip("10.0.0.1"), ">", i(1), false),
        (ts(5), "==", dur(5), false),
        (ts(5), "!=", dur(5), true),
        (Value::Map(BTreeMap::new()), "==", s(""), false),
        // none.
        (Value::None, "==", Value::None, true),
        (Value::None, "!=", Value::None, false),
        (s(""), "==", Value::None, false),
        (s("x"), "==", Value::None, false),
        (s("x"), "!=", Value::None, true),
        (Value::None, "!=", s("x"), true),
        (Value::None, "==", s("x"), false),
        (list(vec![]), "==", Value::None, true),
        (list(vec![]), "!=", Value::None, false),
        (Value::None, "==", list(vec![]), true),
        (i(0), "==", Value::None, false),
        (Value::None, "<", i(1), false),
        (Value::None, ">", i(1), false),
        (Value::None, "starts", s(""), false),
        (Value::None, "!starts", s("a"), true),
        (s("abc"), "contains", Value::None, false),
        // any.
        (s("x"), "==", Value::Any, true),
        (s(""), "==", Value::Any, true),
        (i(0), "==", Value::Any, true),
        (Value::None, "==", Value::Any, false),
        (list(vec![]), "==", Value::Any, false),
        (Value::None, "!=", Value::Any, true),
        (s("x"), "!=", Value::Any, false),
        (s("x"), ">", Value::Any, false),
        (s("x"), "starts", Value::Any, false),
        // Lists on the right: any element.
        (s("b"), "==", list(vec![s("a"), s("b")]), true),
        (s("c"), "==", list(vec![s("a"), s("b")]), false),
        (s("c"), "!=", list(vec![s("a"), s("b")]), true),
        (s("b"), "!=", list(vec![s("a"), s("b")]), false),
        (i(5), "==", list(vec![i(1), s("5")]), true),
        (i(5), ">", list(vec![i(10), i(4)]), true),
        (i(5), ">", list(vec![i(10), i(6)]), false),
        (
            s("user@x"),
            "starts",
            list(vec![s("admin"), s("user")]),
            true,
        ),
        (
            ip("10.0.0.1"),
            "==",
            list(vec![pfx("192.168.0.0/16"), pfx("10.0.0.0/8")]),
            true,
        ),
        (
            s("Bob"),
            "==",
            list(vec![re("^a", false), re("^b", true)]),
            true,
        ),
        // Lists on the left (multi-valued attributes): any element.
        (list(vec![s("staff"), s("admin")]), "==", s("admin"), true),
        (list(vec![s("staff"), s("admin")]), "==", s("guest"), false),
        (list(vec![s("staff"), s("admin")]), "!=", s("admin"), false),
        (list(vec![s("staff"), s("admin")]), "!=", s("guest"), true),
        (list(vec![i(1), i(9)]), ">", i(5), true),
        (list(vec![i(1), i(2)]), ">", i(5), false),
        (list(vec![s("abc"), s("xyz")]), "starts", s("xy"), true),
        (list(vec![s("abc"), s("xyz")]), "!starts", s("xy"), false),
        // Lists on both sides: any pair.
        (
            list(vec![s("a"), s("b")]),
            "==",
            list(vec![s("c"), s("b")]),
            true,
        ),
        (
            list(vec![s("a"), s("b")]),
            "==",
            list(vec![s("c"), s("d")]),
            false,
        ),
        (
            list(vec![s("a"), s("b")]),
            "!=",
            list(vec![s("c"), s("d")]),
            true,
        ),
        // JSON scalars act as the scalar.
        (Value::Json(serde_json::json!("abc")), "==", s("abc"), true),
        (Value::Json(serde_json::json!(42)), "==", i(42), true),
        (Value::Json(serde_json::json!(42)), ">", i(41), true),
        (
            Value::Json(serde_json::json!(null)),
            "==",
            Value::None,
            true,
        ),
        (
            Value::Json(serde_json::json!({"a": 1})),
            "==",
            Value::Json(serde_json::json!({"a": 1})),
            true,
        ),
        (Value::Json(serde_json::json!([1])), "==", i(1), false),
        // Errors: false under every operator, on either side, inside lists.
        (err(), "==", err(), false),
        (err(), "!=", s("x"), false),
        (s("x"), "!=", err(), false),
        (err(), "==", Value::None, false),
        (err(), "!=", Value::None, false),
        (err(), "==", Value::Any, false),
        (err(), "!=", Value::Any, false),
        (list(vec![s("a"), err()]), "!=", s("b"), false),
        (s("a"), "!=", list(vec![s("b"), err()]), false),
        (err(), "!contains", s("zzz"), false),
    ]
}

#[test]
fn operator_table() {
    let mut failures = Vec::new();
    for (n, (left, o, right, expected)) in table().into_iter().enumerate() {
        let got = compare(op(o), &left, &right);
        if got != expected {
            failures.push(format!(
                "row {n}: {left:?} {o} {right:?} = {got}, expected {expected}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn negations_are_complements_except_for_errors() {
    let pairs = [
        (CompareOp::Eq, CompareOp::Ne),
        (CompareOp::Starts, CompareOp::NotStarts),
        (CompareOp::Contains, CompareOp::NotContains),
        (CompareOp::Ends, CompareOp::NotEnds),
    ];
    for (left, _, right, _) in table() {
        let has_error = |v: &Value| match v {
            Value::Error(_) => true,
            Value::List(items) => items.iter().any(Value::is_error),
            _ => false,
        };
        if has_error(&left) || has_error(&right) {
            continue;
        }
        for (pos, neg) in pairs {
            assert_ne!(
                compare(pos, &left, &right),
                compare(neg, &left, &right),
                "{left:?} {pos} / {neg} {right:?}"
            );
        }
    }
}

#[test]
fn tokens_symbol_and_word_forms() {
    let rows = [
        ("==", CompareOp::Eq),
        ("eq", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("ne", CompareOp::Ne),
        (">", CompareOp::Gt),
        ("gt", CompareOp::Gt),
        (">=", CompareOp::Ge),
        ("ge", CompareOp::Ge),
        ("<", CompareOp::Lt),
        ("lt", CompareOp::Lt),
        ("<=", CompareOp::Le),
        ("le", CompareOp::Le),
        ("starts", CompareOp::Starts),
        ("!starts", CompareOp::NotStarts),
        ("contains", CompareOp::Contains),
        ("!contains", CompareOp::NotContains),
        ("ends", CompareOp::Ends),
        ("!ends", CompareOp::NotEnds),
    ];
    for (tok, expected) in rows {
        assert_eq!(CompareOp::from_token(tok), Some(expected), "{tok}");
    }
    for bad in ["=", "EQ", "=~", "!==", "start", "", "not starts"] {
        assert_eq!(CompareOp::from_token(bad), None, "{bad}");
    }
    for o in CompareOp::ALL {
        assert_eq!(CompareOp::from_token(o.as_str()), Some(o));
        assert_eq!(o.to_string(), o.as_str());
    }
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::None),
        Just(Value::Any),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Integer(i128::from(n))),
        any::<f64>().prop_map(Value::Float),
        "[a-z0-9.:/]{0,12}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::Bytes(Bytes::from(b))),
        any::<[u8; 4]>().prop_map(|o| Value::Ip(IpAddr::from(o))),
        any::<[u8; 16]>().prop_map(|o| Value::Ip(IpAddr::from(o))),
        (any::<[u8; 4]>(), 0u8..=32).prop_map(|(o, l)| Value::Prefix(
            boomerang_core::eval::value::IpPrefix {
                addr: IpAddr::from(o),
                len: l
            }
        )),
        any::<u32>().prop_map(|s| ts(u64::from(s))),
        any::<u32>().prop_map(|s| dur(u64::from(s))),
        Just(re("a", true)),
        Just(Value::Json(serde_json::json!({"k": [1, 2]}))),
        Just(Value::Map(BTreeMap::new())),
        Just(Value::Attrs(Vec::new())),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(2, 8, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Value::List)
    })
}

// ---------------------------------------------------------------------------
// Missing values never select (condition tests: `compare_operands`)

use Operand::{Constant, Read};

#[test]
fn two_missing_variables_never_match_under_any_operator() {
    for o in CompareOp::ALL {
        assert!(
            !compare_operands(o, &Value::None, Read, &Value::None, Read),
            "missing {o} missing"
        );
        // A multi-valued attribute with no instances reads as missing too.
        assert!(!compare_operands(
            o,
            &list(vec![]),
            Read,
            &Value::None,
            Read
        ));
    }
    // The value-level relation still says none == none (map arms use it).
    assert!(compare(op("=="), &Value::None, &Value::None));
}

#[test]
fn a_missing_variable_against_a_value_is_false_for_negations_too() {
    let cases = [
        s("a"),
        i(3),
        ip("10.0.0.1"),
        re("a", false),
        list(vec![s("a"), s("b")]),
    ];
    for v in cases {
        for o in CompareOp::ALL {
            if matches!(v, Value::Regex(_)) && !matches!(o, CompareOp::Eq | CompareOp::Ne) {
                continue;
            }
            assert!(
                !compare_operands(o, &Value::None, Read, &v, Constant),
                "none {o} {v:?}"
            );
            assert!(
                !compare_operands(o, &v, Constant, &Value::None, Read),
                "{v:?} {o} none"
            );
            assert!(
                !compare_operands(o, &Value::None, Read, &v, Read),
                "none {o} var {v:?}"
            );
        }
    }
    // What used to hold: `x != "a"` with x unset.
    assert!(compare(op("!="), &Value::None, &s("a")));
    assert!(!compare_operands(
        op("!="),
        &Value::None,
        Read,
        &s("a"),
        Constant
    ));
    assert!(!compare_operands(
        op("!contains"),
        &Value::None,
        Read,
        &s("a"),
        Constant
    ));
}

#[test]
fn presence_tests_against_the_literals_none_and_any_keep_their_meaning() {
    // `aaa.caught_error != none`, `x == none`, `x == any`.
    assert!(compare_operands(
        op("=="),
        &Value::None,
        Read,
        &Value::None,
        Constant
    ));
    assert!(!compare_operands(
        op("!="),
        &Value::None,
        Read,
        &Value::None,
        Constant
    ));
    assert!(compare_operands(
        op("!="),
        &s("boom"),
        Read,
        &Value::None,
        Constant
    ));
    assert!(!compare_operands(
        op("=="),
        &s("boom"),
        Read,
        &Value::None,
        Constant
    ));
    assert!(compare_operands(
        op("=="),
        &s("x"),
        Read,
        &Value::Any,
        Constant
    ));
    assert!(!compare_operands(
        op("=="),
        &Value::None,
        Read,
        &Value::Any,
        Constant
    ));
    assert!(compare_operands(
        op("!="),
        &Value::None,
        Read,
        &Value::Any,
        Constant
    ));
    // Written on the left, too.
    assert!(compare_operands(
        op("=="),
        &Value::None,
        Constant,
        &Value::None,
        Read
    ));
}

#[test]
fn present_values_compare_as_before() {
    for (l, o, r, want) in table() {
        if l.is_none() || r.is_none() {
            continue;
        }
        let o = op(o);
        assert_eq!(
            compare_operands(o, &l, Read, &r, Read),
            want,
            "{l:?} {o} {r:?}"
        );
        assert_eq!(compare_operands(o, &l, Read, &r, Constant), want);
    }
}

proptest! {
    /// With a missing variable side and no `none`/`any` literal, no operator
    /// holds, whatever the other side is.
    #[test]
    fn missing_never_selects(other in arb_value(), left in any::<bool>()) {
        prop_assume!(!matches!(other, Value::None | Value::Any));
        for o in CompareOp::ALL {
            for origin in [Read, Constant] {
                let held = if left {
                    compare_operands(o, &Value::None, Read, &other, origin)
                } else {
                    compare_operands(o, &other, origin, &Value::None, Read)
                };
                prop_assert!(!held, "{} with {:?}", o, other);
            }
        }
    }
}

proptest! {
    /// An error value never compares true, under any operator, against any value,
    /// on either side, alone or inside a list.
    #[test]
    fn error_never_compares_true(other in arb_value(), msg in "[a-z ]{0,10}", pos in 0usize..3) {
        let e = Value::error(ErrorCode::InvalidValue, msg);
        let in_list = |v: Value| {
            let mut items = vec![Value::from("x"), Value::from(1i64)];
            items.insert(pos.min(items.len()), v);
            Value::List(items)
        };
        for o in CompareOp::ALL {
            prop_assert!(!compare(o, &e, &other), "err {} {:?}", o, other);
            prop_assert!(!compare(o, &other, &e), "{:?} {} err", other, o);
            prop_assert!(!compare(o, &in_list(e.clone()), &other));
            prop_assert!(!compare(o, &other, &in_list(e.clone())));
        }
    }

    /// `==` is symmetric and `compare` never panics on arbitrary values.
    #[test]
    fn equality_is_symmetric(a in arb_value(), b in arb_value()) {
        for o in CompareOp::ALL {
            let _ = compare(o, &a, &b);
        }
        prop_assert_eq!(compare(CompareOp::Eq, &a, &b), compare(CompareOp::Eq, &b, &a));
    }

    /// Every non-error, non-NaN value equals itself (regex and none included).
    #[test]
    fn equality_is_reflexive(a in arb_value()) {
        fn has_nan(v: &Value) -> bool {
            match v {
                Value::Float(f) => f.is_nan(),
                Value::List(items) => items.iter().any(has_nan),
                _ => false,
            }
        }
        prop_assume!(!has_nan(&a));
        prop_assert!(compare(CompareOp::Eq, &a, &a), "{:?}", a);
    }
}
