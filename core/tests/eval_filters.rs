//! Filters: happy paths, wrong types (error values, never panics), error
//! propagation, `recover`, none handling, the name/arity table, JSONPath.

use std::collections::BTreeMap;
use std::net::IpAddr;

use boomerang_core::eval::error::ErrorCode;
use boomerang_core::eval::filters::{
    FILTER_NAMES, Filter, FilterEnv, NoAttrs, UNSUPPORTED_FILTER_NAMES, apply_filter, filter_arity,
};
use boomerang_core::eval::jsonpath::JsonPath;
use boomerang_core::eval::value::{AttrEntry, RegexValue, Value};
use boomerang_core::radius::id::AttrId;
use bytes::Bytes;
use serde_json::json;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}
fn i(v: i128) -> Value {
    Value::Integer(v)
}
fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}
fn err() -> Value {
    Value::error(ErrorCode::BackendError, "backend down")
}

struct Dict;
impl FilterEnv for Dict {
    fn attr_id(&self, name: &str) -> Option<AttrId> {
        match name {
            "User-Name" => Some(AttrId::Standard(1)),
            "Class" => Some(AttrId::Standard(25)),
            "Tunnel-Type" => Some(AttrId::Standard(64)),
            "Proxy-State" => Some(AttrId::Standard(33)),
            _ => None,
        }
    }
}

fn f(name: &str, args: &[Value], input: Value) -> Value {
    apply_filter(name, args, input, &Dict)
}

fn is_invalid(v: &Value) -> bool {
    matches!(v, Value::Error(e) if e.code == ErrorCode::InvalidValue)
}

/// (filter, args, input, expected)
fn happy() -> Vec<(&'static str, Vec<Value>, Value, Value)> {
    vec![
        ("lowercase", vec![], s("JoHn"), s("john")),
        ("lowercase", vec![], s("ÄÖ"), s("äö")),
        (
            "lowercase",
            vec![],
            list(vec![s("A"), s("B")]),
            list(vec![s("a"), s("b")]),
        ),
        ("uppercase", vec![], s("john"), s("JOHN")),
        ("uppercase", vec![], i(5), s("5")),
        ("string", vec![], i(42), s("42")),
        ("string", vec![], Value::None, s("")),
        ("string", vec![], Value::Bool(true), s("true")),
        ("string", vec![], list(vec![s("a"), i(1)]), s("a,1")),
        (
            "string",
            vec![],
            Value::Bytes(Bytes::from_static(&[1, 0xff])),
            s("0x01ff"),
        ),
        (
            "hex",
            vec![],
            Value::Bytes(Bytes::from_static(&[0xde, 0xad, 0x01])),
            s("dead01"),
        ),
        ("hex", vec![], s("AB"), s("4142")),
        ("hex", vec![], i(255), s("ff")),
        (
            "hex",
            vec![],
            Value::Ip("10.0.0.1".parse().unwrap()),
            s("0a000001"),
        ),
        ("value", vec![], s("42"), i(42)),
        ("value", vec![], s("-1.5"), Value::Float(-1.5)),
        ("value", vec![], s("true"), Value::Bool(true)),
        (
            "value",
            vec![],
            s("192.0.2.1"),
            Value::Ip("192.0.2.1".parse().unwrap()),
        ),
        (
            "value",
            vec![],
            s("1m30s"),
            Value::Duration(std::time::Duration::from_secs(90)),
        ),
        ("value", vec![], s("hello"), s("hello")),
        ("value", vec![], i(7), i(7)),
        ("value", vec![], Value::Json(json!(3)), i(3)),
        ("printable", vec![], s("a\u{0}b\nc\u{7f}"), s("a.b.c.")),
        (
            "printable",
            vec![],
            Value::Bytes(Bytes::from_static(b"ok\xff\x01")),
            s("ok.."),
        ),
        ("printable", vec![], s("héllo"), s("héllo")),
        (
            "normalize_mac",
            vec![],
            s("AA-BB-CC-DD-EE-FF"),
            s("aa:bb:cc:dd:ee:ff"),
        ),
        (
            "normalize_mac",
            vec![],
            s("aabb.ccdd.eeff"),
            s("aa:bb:cc:dd:ee:ff"),
        ),
        (
            "normalize_mac",
            vec![],
            s("AABBCCDDEEFF"),
            s("aa:bb:cc:dd:ee:ff"),
        ),
        (
            "normalize_mac",
            vec![],
            s("aa:bb:cc:dd:ee:ff"),
            s("aa:bb:cc:dd:ee:ff"),
        ),
        (
            "normalize_mac",
            vec![],
            Value::Bytes(Bytes::from_static(&[0, 1, 2, 3, 4, 5])),
            s("00:01:02:03:04:05"),
        ),
        ("substring", vec![i(0), i(3)], s("abcdef"), s("abc")),
        ("substring", vec![i(2)], s("abcdef"), s("cdef")),
        ("substring", vec![i(-3)], s("abcdef"), s("def")),
        ("substring", vec![i(1), i(-1)], s("abcdef"), s("bcde")),
        ("substring", vec![i(4), i(100)], s("abcdef"), s("ef")),
        ("substring", vec![i(5), i(2)], s("abcdef"), s("")),
        ("substring", vec![i(-100), i(2)], s("abcdef"), s("ab")),
        ("substring", vec![i(1), i(3)], s("äöüß"), s("öü")),
        ("substring", vec![s("1"), s("2")], s("abc"), s("b")),
        ("default", vec![s("x")], Value::None, s("x")),
        ("default", vec![s("x")], list(vec![]), s("x")),
        ("default", vec![s("x")], s(""), s("")),
        ("default", vec![s("x")], s("y"), s("y")),
        ("recover", vec![s("fallback")], err(), s("fallback")),
        ("recover", vec![s("fallback")], s("fine"), s("fine")),
        ("recover", vec![s("fallback")], Value::None, Value::None),
        (
            "join",
            vec![s(";")],
            list(vec![s("a"), i(1), s("c")]),
            s("a;1;c"),
        ),
        ("join", vec![], list(vec![s("a"), s("b")]), s("a,b")),
        ("join", vec![s("-")], s("single"), s("single")),
        ("join", vec![s("-")], Value::None, s("")),
        ("join", vec![s("-")], Value::Json(json!(["x", 2])), s("x-2")),
        (
            "split",
            vec![s(",")],
            s("a,b,,c"),
            list(vec![s("a"), s("b"), s(""), s("c")]),
        ),
        (
            "split",
            vec![s("::")],
            s("a::b"),
            list(vec![s("a"), s("b")]),
        ),
        ("split", vec![], s("a,b"), list(vec![s("a"), s("b")])),
        ("split", vec![s(",")], s(""), list(vec![])),
        (
            "split",
            vec![s(",")],
            list(vec![s("a,b"), s("c")]),
            list(vec![s("a"), s("b"), s("c")]),
        ),
        (
            "json",
            vec![],
            s(r#"{"a":1}"#),
            Value::Json(json!({"a": 1})),
        ),
        ("json", vec![], s("[1,2]"), Value::Json(json!([1, 2]))),
        ("json", vec![], s("\"x\""), Value::Json(json!("x"))),
        (
            "json",
            vec![],
            Value::Bytes(Bytes::from_static(b"true")),
            Value::Json(json!(true)),
        ),
        (
            "json",
            vec![],
            list(vec![s("a")]),
            Value::Json(json!(["a"])),
        ),
        ("type", vec![], Value::None, s("none")),
        ("type", vec![], Value::Any, s("any")),
        ("type", vec![], Value::Bool(true), s("boolean")),
        ("type", vec![], i(1), s("integer")),
        ("type", vec![], Value::Float(1.0), s("float")),
        ("type", vec![], s(""), s("string")),
        ("type", vec![], Value::Bytes(Bytes::new()), s("bytes")),
        ("type", vec![], Value::Ip("::1".parse().unwrap()), s("ip")),
        (
            "type",
            vec![],
            Value::Prefix(boomerang_core::eval::convert::parse_prefix("10.0.0.0/8").unwrap()),
            s("ip-prefix"),
        ),
        (
            "type",
            vec![],
            Value::Timestamp(std::time::UNIX_EPOCH),
            s("timestamp"),
        ),
        (
            "type",
            vec![],
            Value::Duration(std::time::Duration::ZERO),
            s("duration"),
        ),
        (
            "type",
            vec![],
            Value::Regex(RegexValue::new("a", false).unwrap()),
            s("regex"),
        ),
        ("type", vec![], list(vec![]), s("list")),
        ("type", vec![], Value::Map(BTreeMap::new()), s("map")),
        ("type", vec![], Value::Json(json!({})), s("json")),
        ("type", vec![], Value::Attrs(vec![]), s("attrs")),
        ("type", vec![], err(), s("error")),
        (
            "url_escape",
            vec![],
            s("a b&c=d/é~-._"),
            s("a%20b%26c%3Dd%2F%C3%A9~-._"),
        ),
        ("url_escape", vec![], s("plain"), s("plain")),
        (
            "escape_double_quotes",
            vec![],
            s(r#"say "hi" \o/"#),
            s(r#"say \"hi\" \\o/"#),
        ),
        ("escape_double_quotes", vec![], s("none"), s("none")),
    ]
}

#[test]
fn happy_paths() {
    let mut failures = Vec::new();
    for (n, (name, args, input, expected)) in happy().into_iter().enumerate() {
        let got = f(name, &args, input.clone());
        if got != expected {
            failures.push(format!(
                "row {n}: {input:?} | {name}{args:?} = {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn sample_args(name: &str) -> Vec<Value> {
    match name {
        "substring" => vec![i(0), i(1)],
        "default" | "recover" => vec![s("d")],
        "join" | "split" => vec![s(",")],
        "jsonpath" => vec![s("$.a")],
        "remove" | "select" => vec![s("User-Name")],
        _ => vec![],
    }
}

#[test]
fn errors_pass_through_every_filter_but_recover_and_type() {
    for name in FILTER_NAMES {
        let out = f(name, &sample_args(name), err());
        match *name {
            "recover" => assert_eq!(out, s("d")),
            "type" => assert_eq!(out, s("error")),
            _ => assert_eq!(out, err(), "{name}"),
        }
    }
}

#[test]
fn none_passes_through_except_default_type_string_join() {
    for name in FILTER_NAMES {
        let out = f(name, &sample_args(name), Value::None);
        let expected = match *name {
            "default" => s("d"),
            "type" => s("none"),
            "string" | "join" => s(""),
            _ => Value::None,
        };
        assert_eq!(out, expected, "{name}");
    }
}

#[test]
fn wrong_types_are_error_values() {
    let map = Value::Map(BTreeMap::from([("k".to_owned(), s("v"))]));
    let attrs = Value::Attrs(vec![]);
    let regex = Value::Regex(RegexValue::new("a", false).unwrap());
    let rows: Vec<(&str, Vec<Value>, Value)> = vec![
        ("lowercase", vec![], map.clone()),
        ("uppercase", vec![], attrs.clone()),
        ("hex", vec![], Value::Float(1.5)),
        ("hex", vec![], i(-1)),
        ("hex", vec![], map.clone()),
        ("printable", vec![], regex.clone()),
        ("normalize_mac", vec![], s("not a mac")),
        ("normalize_mac", vec![], s("aa:bb:cc:dd:ee")),
        ("normalize_mac", vec![], s("aa:bb:cc:dd:ee:fg")),
        ("normalize_mac", vec![], s("aab:bcc:dde:eff")),
        ("normalize_mac", vec![], i(5)),
        (
            "normalize_mac",
            vec![],
            Value::Bytes(Bytes::from_static(&[1, 2, 3])),
        ),
        ("substring", vec![s("x")], s("abc")),
        ("substring", vec![i(0), Value::Bool(true)], s("abc")),
        ("substring", vec![], s("abc")),
        ("join", vec![i(1)], list(vec![s("a")])),
        ("join", vec![], map.clone()),
        ("split", vec![s("")], s("abc")),
        ("split", vec![], i(5)),
        ("json", vec![], s("{not json")),
        ("json", vec![], i(5)),
        ("jsonpath", vec![s("$.a")], s(r#"{"a":1}"#)),
        ("jsonpath", vec![s("no-dollar")], Value::Json(json!({}))),
        ("jsonpath", vec![s("$[?(@.a)]")], Value::Json(json!({}))),
        ("jsonpath", vec![i(1)], Value::Json(json!({}))),
        ("jsonpath", vec![s("$")], i(5)),
        ("url_escape", vec![], map.clone()),
        ("escape_double_quotes", vec![], attrs.clone()),
        ("remove", vec![s("User-Name")], s("not attrs")),
        ("select", vec![s("No-Such-Attribute")], Value::Attrs(vec![])),
        ("select", vec![i(1)], Value::Attrs(vec![])),
        ("lowercase", vec![s("extra")], s("a")),
        ("default", vec![], Value::None),
        ("no_such_filter", vec![], s("a")),
        ("lowercase", vec![], list(vec![s("ok"), map.clone()])),
    ];
    for (name, args, input) in rows {
        let out = f(name, &args, input.clone());
        assert!(is_invalid(&out), "{input:?} | {name}{args:?} = {out:?}");
    }
}

#[test]
fn accept_anything_filters_never_fail() {
    let inputs = vec![
        Value::Any,
        Value::Map(BTreeMap::new()),
        Value::Attrs(vec![]),
        Value::Regex(RegexValue::new("x", true).unwrap()),
        Value::Json(json!({"a": [1]})),
        Value::Float(f64::NAN),
    ];
    for input in inputs {
        for name in ["default", "type", "string", "recover"] {
            let out = f(name, &sample_args(name), input.clone());
            assert!(!out.is_error(), "{input:?} | {name} = {out:?}");
        }
    }
}

#[test]
fn recover_after_a_failing_filter_in_a_chain() {
    // `"{bad" | json | jsonpath("$.a") | recover("none") | uppercase`
    let mut v = s("{bad");
    v = f("json", &[], v);
    assert!(is_invalid(&v));
    v = f("jsonpath", &[s("$.a")], v);
    assert!(is_invalid(&v), "error travels through jsonpath");
    v = f("recover", &[s("fallback")], v);
    v = f("uppercase", &[], v);
    assert_eq!(v, s("FALLBACK"));
}

#[test]
fn jsonpath_queries() {
    let doc = Value::Json(json!({
        "user": {"name": "alice", "age": 31, "tags": ["a", "b", "c"], "null": null},
        "users": [{"name": "bob"}, {"name": "carol", "extra": {"name": "deep"}}],
        "odd key": 1,
        "n": 1.5
    }));
    let rows: Vec<(&str, Value)> = vec![
        ("$.user.name", s("alice")),
        ("$.user.age", i(31)),
        ("$.n", Value::Float(1.5)),
        ("$['user']['name']", s("alice")),
        ("$[\"user\"].name", s("alice")),
        ("$['odd key']", i(1)),
        ("$.user.tags[0]", s("a")),
        ("$.user.tags[-1]", s("c")),
        ("$.user.tags[5]", Value::None),
        ("$.user.tags[*]", list(vec![s("a"), s("b"), s("c")])),
        ("$.user.tags.*", list(vec![s("a"), s("b"), s("c")])),
        ("$.user.tags[0:2]", list(vec![s("a"), s("b")])),
        ("$.user.tags[::-1]", list(vec![s("c"), s("b"), s("a")])),
        ("$.user.tags[0,2]", list(vec![s("a"), s("c")])),
        ("$.users[*].name", list(vec![s("bob"), s("carol")])),
        (
            "$..name",
            list(vec![s("alice"), s("bob"), s("carol"), s("deep")]),
        ),
        ("$.users..name", list(vec![s("bob"), s("carol"), s("deep")])),
        ("$.missing", Value::None),
        ("$.user.null", Value::None),
        ("$.users[1].extra", Value::Json(json!({"name": "deep"}))),
        ("$.user.tags", Value::Json(json!(["a", "b", "c"]))),
        ("$ .user ['name']", s("alice")),
        (
            "$[ 'user' , 'n' ]",
            list(vec![
                Value::Json(
                    json!({"name": "alice", "age": 31, "tags": ["a", "b", "c"], "null": null}),
                ),
                Value::Float(1.5),
            ]),
        ),
    ];
    for (path, expected) in rows {
        let got = f("jsonpath", &[s(path)], doc.clone());
        assert_eq!(got, expected, "{path}");
    }
    // Maps and lists are queried as JSON too.
    let map = Value::Map(BTreeMap::from([("k".to_owned(), i(9))]));
    assert_eq!(f("jsonpath", &[s("$.k")], map), i(9));
}

#[test]
fn jsonpath_parse_errors_are_clear() {
    for (path, needle) in [
        ("a.b", "starts with `$`"),
        ("$[?(@.a == 1)]", "filter selectors"),
        ("$.", "member name"),
        ("$['unterminated", "unterminated"),
        ("$[1", "`,` or `]`"),
        ("$x", "expected `.`"),
    ] {
        let e = JsonPath::parse(path).unwrap_err();
        assert!(e.to_string().contains(needle), "{path}: {e}");
    }
    assert_eq!(
        JsonPath::parse("$.a[0]..b").unwrap().to_string(),
        "$[\"a\"][0]..[\"b\"]"
    );
}

fn attrs() -> Value {
    let e = |t: u8, v: &'static [u8]| AttrEntry {
        id: AttrId::Standard(t),
        tag: None,
        value: Bytes::from_static(v),
    };
    Value::Attrs(vec![
        e(1, b"bob"),
        e(25, b"c1"),
        e(33, b"ps"),
        e(25, b"c2"),
        e(64, b"\0\0\0\x0d"),
    ])
}

#[test]
fn remove_and_select_attribute_lists() {
    let ids = |v: Value| match v {
        Value::Attrs(entries) => entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        other => panic!("not attrs: {other:?}"),
    };
    use AttrId::Standard as S;
    assert_eq!(
        ids(f("remove", &[s("Class")], attrs())),
        vec![S(1), S(33), S(64)]
    );
    assert_eq!(
        ids(f("remove", &[s("Class"), s("Proxy-State")], attrs())),
        vec![S(1), S(64)]
    );
    assert_eq!(ids(f("select", &[s("Class")], attrs())), vec![S(25), S(25)]);
    assert_eq!(
        ids(f(
            "select",
            &[list(vec![s("Tunnel-Type"), s("User-Name")])],
            attrs()
        )),
        vec![S(1), S(64)],
        "original order kept, list arguments accepted"
    );
    assert_eq!(
        ids(f("remove", &[s("User-Name")], Value::Attrs(vec![]))),
        vec![]
    );
    // Values are kept as they were.
    match f("select", &[s("User-Name")], attrs()) {
        Value::Attrs(entries) => assert_eq!(entries[0].value.as_ref(), b"bob"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn name_and_arity_table() {
    assert_eq!(FILTER_NAMES.len(), Filter::ALL.len());
    for (name, filter) in FILTER_NAMES.iter().zip(Filter::ALL) {
        assert_eq!(filter.name(), *name);
        assert_eq!(Filter::from_name(name), Some(filter));
        assert!(filter_arity(name).is_some());
    }
    for name in UNSUPPORTED_FILTER_NAMES {
        assert_eq!(filter_arity(name), None, "{name}");
    }
    assert_eq!(filter_arity("Lowercase"), None);
    let a = filter_arity("substring").unwrap();
    assert!(!a.accepts(0) && a.accepts(1) && a.accepts(2) && !a.accepts(3));
    let a = filter_arity("remove").unwrap();
    assert!(!a.accepts(0) && a.accepts(1) && a.accepts(50));
    let a = filter_arity("lowercase").unwrap();
    assert!(a.accepts(0) && !a.accepts(1));
    let a = filter_arity("join").unwrap();
    assert!(a.accepts(0) && a.accepts(1) && !a.accepts(2));
}

#[test]
fn literal_argument_checks_for_the_compiler() {
    let ok: Vec<(Filter, Vec<Value>)> = vec![
        (Filter::Substring, vec![i(1), i(-1)]),
        (Filter::JsonPath, vec![s("$.a[*]")]),
        (Filter::Remove, vec![s("User-Name"), s("Class")]),
        (Filter::Join, vec![s(";")]),
        (Filter::Lowercase, vec![]),
    ];
    for (filter, args) in ok {
        assert_eq!(
            filter.check_literal_args(&args, &Dict),
            Ok(()),
            "{filter:?}"
        );
    }
    let bad: Vec<(Filter, Vec<Value>, &str)> = vec![
        (Filter::Substring, vec![s("x")], "integer"),
        (Filter::Substring, vec![], "takes 1 to 2 argument"),
        (Filter::Lowercase, vec![s("x")], "takes 0 argument"),
        (Filter::JsonPath, vec![s("$[?(@.x)]")], "filter selectors"),
        (Filter::Select, vec![s("Nope")], "unknown attribute `Nope`"),
        (Filter::Select, vec![], "at least 1"),
        (Filter::Split, vec![i(1)], "string separator"),
    ];
    for (filter, args, needle) in bad {
        let e = filter.check_literal_args(&args, &Dict).unwrap_err();
        assert!(e.contains(needle), "{filter:?}: {e}");
    }
    assert!(
        Filter::Remove
            .check_literal_args(&[s("User-Name")], &NoAttrs)
            .is_err()
    );
}

#[test]
fn filters_on_ip_text_forms() {
    let v = Value::Ip("2001:DB8::1".parse::<IpAddr>().unwrap());
    assert_eq!(f("uppercase", &[], v.clone()), s("2001:DB8::1"));
    assert_eq!(f("string", &[], v), s("2001:db8::1"));
}
