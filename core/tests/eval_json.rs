//! The one JSON rendering of values (`boomerang_core::eval::json`): what each kind of
//! value becomes, and that every way of writing a value as JSON — `log … { json { … } }`,
//! the `json` filter on a list or a map, `jsonpath`, the text form of a map
//! (`%{…}`), an HTTP answer body — gives the same JSON for the same value.

mod eval_support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::eval::context::{Context, HttpExchange};
use boomerang_core::eval::error::{ErrorCode, ErrorValue};
use boomerang_core::eval::ir::{
    Action, Expr, FilterCall, HttpPlace, Library, LogContent, Pipeline, Place, Template,
    TemplatePart,
};
use boomerang_core::eval::json::{MAX_EXACT_INTEGER, value_to_json};
use boomerang_core::eval::machine::{Machine, Outcome, Step};
use boomerang_core::eval::policy::http_answer;
use boomerang_core::eval::value::{AttrEntry, IpPrefix, RegexValue, Value};
use boomerang_core::radius::id::AttrId;
use bytes::Bytes;
use eval_support::*;
use serde_json::{Value as J, json};

fn attr(id: AttrId, tag: Option<u8>, value: &[u8]) -> AttrEntry {
    AttrEntry {
        id,
        tag,
        value: Bytes::copy_from_slice(value),
    }
}

/// One value of every kind (and the edge cases of each), with the JSON it must
/// render as.
fn cases() -> Vec<(&'static str, Value, J)> {
    let big = i128::from(u64::MAX);
    let mut map = BTreeMap::new();
    map.insert("b".to_owned(), Value::Integer(2));
    map.insert("a".to_owned(), Value::String("x".into()));
    map.insert("n".to_owned(), Value::None);
    vec![
        ("none", Value::None, J::Null),
        ("any", Value::Any, json!("any")),
        ("true", Value::Bool(true), json!(true)),
        ("false", Value::Bool(false), json!(false)),
        ("integer", Value::Integer(-12), json!(-12)),
        (
            "largest exact integer",
            Value::Integer(MAX_EXACT_INTEGER),
            json!(9_007_199_254_740_991_i64),
        ),
        (
            "smallest exact integer",
            Value::Integer(-MAX_EXACT_INTEGER),
            json!(-9_007_199_254_740_991_i64),
        ),
        (
            "integer past 2^53",
            Value::Integer(MAX_EXACT_INTEGER + 2),
            json!("9007199254740993"),
        ),
        (
            "integer below -2^53",
            Value::Integer(-MAX_EXACT_INTEGER - 2),
            json!("-9007199254740993"),
        ),
        (
            "u64::MAX",
            Value::Integer(big),
            json!("18446744073709551615"),
        ),
        (
            "i128::MIN",
            Value::Integer(i128::MIN),
            json!(i128::MIN.to_string()),
        ),
        ("float", Value::Float(1.5), json!(1.5)),
        ("NaN", Value::Float(f64::NAN), json!("NaN")),
        ("inf", Value::Float(f64::INFINITY), json!("inf")),
        ("-inf", Value::Float(f64::NEG_INFINITY), json!("-inf")),
        (
            "string",
            Value::String("a \"q\"\n".into()),
            json!("a \"q\"\n"),
        ),
        (
            "bytes",
            Value::Bytes(Bytes::from_static(&[0, 0xff, 0x10])),
            json!("0x00ff10"),
        ),
        (
            "ipv4",
            Value::Ip("192.0.2.1".parse::<IpAddr>().unwrap()),
            json!("192.0.2.1"),
        ),
        (
            "ipv6",
            Value::Ip("2001:db8::1".parse::<IpAddr>().unwrap()),
            json!("2001:db8::1"),
        ),
        (
            "prefix",
            Value::Prefix(IpPrefix::new("10.1.0.0".parse().unwrap(), 8).unwrap()),
            json!("10.1.0.0/8"),
        ),
        (
            "timestamp",
            Value::Timestamp(t0()),
            json!("2023-11-14T22:13:20Z"),
        ),
        (
            "duration",
            Value::Duration(Duration::from_secs(90)),
            json!("1m30s"),
        ),
        (
            "regex",
            Value::Regex(RegexValue::new("^a", true).unwrap()),
            json!("/^a/i"),
        ),
        ("empty list", Value::List(vec![]), json!([])),
        (
            "list",
            Value::List(vec![Value::Integer(1), Value::None, Value::Any]),
            json!([1, null, "any"]),
        ),
        ("map", Value::Map(map), json!({"a": "x", "b": 2, "n": null})),
        (
            "json",
            Value::Json(json!({"z": [1, "2", null], "a": 18446744073709551615_u64})),
            json!({"z": [1, "2", null], "a": 18446744073709551615_u64}),
        ),
        ("empty attrs", Value::Attrs(vec![]), json!({})),
        (
            "attrs",
            Value::Attrs(vec![
                attr(USER_NAME, None, b"bob"),
                attr(PROXY_STATE, None, &[1]),
                attr(AttrId::Vendor { vendor: 9, typ: 1 }, None, b"a=b"),
                attr(PROXY_STATE, None, &[2]),
                attr(AttrId::Standard(64), Some(1), &[0, 0, 13]),
                attr(AttrId::Standard(64), Some(2), &[0, 0, 6]),
                attr(PROXY_STATE, None, &[3]),
                attr(AttrId::Extended { base: 241, ext: 8 }, None, &[]),
            ]),
            json!({
                "1": "0x626f62",
                "33": ["0x01", "0x02", "0x03"],
                "26.9.1": "0x613d62",
                "64:1": "0x00000d",
                "64:2": "0x000006",
                "241.8": "0x",
            }),
        ),
        (
            "error",
            Value::Error(ErrorValue::new(ErrorCode::InvalidValue, "bad \"x\"")),
            json!({"code": "INVALID_VALUE", "message": "bad \"x\""}),
        ),
        (
            "nested",
            Value::List(vec![
                Value::Error(ErrorValue::new(ErrorCode::InvalidValue, "e")),
                Value::Attrs(vec![attr(USER_NAME, None, b"a")]),
                Value::Integer(i128::from(i64::MAX)),
            ]),
            json!([
                {"code": "INVALID_VALUE", "message": "e"},
                {"1": "0x61"},
                "9223372036854775807",
            ]),
        ),
    ]
}

#[test]
fn each_kind_of_value_renders_as_documented() {
    for (name, value, expected) in cases() {
        assert_eq!(value_to_json(&value), expected, "{name}");
    }
}

#[test]
fn attrs_keep_member_order_of_first_occurrence() {
    let v = Value::Attrs(vec![
        attr(PROXY_STATE, None, &[1]),
        attr(USER_NAME, None, b"a"),
        attr(PROXY_STATE, None, &[2]),
    ]);
    assert_eq!(
        value_to_json(&v).to_string(),
        r#"{"33":["0x01","0x02"],"1":"0x61"}"#
    );
}

fn lit(v: Value) -> Expr {
    Expr::Literal(v)
}

fn json_filter(input: Expr) -> Expr {
    Expr::Filtered {
        input: Box::new(input),
        filters: vec![FilterCall {
            name: "json".into(),
            args: vec![],
        }],
    }
}

fn jsonpath_filter(input: Expr, path: &str) -> Expr {
    Expr::Filtered {
        input: Box::new(input),
        filters: vec![FilterCall {
            name: "jsonpath".into(),
            args: vec![Expr::str(path)],
        }],
    }
}

fn log(content: LogContent) -> Action {
    Action::Log {
        logger: "L".into(),
        content,
    }
}

fn one_map(v: &Value) -> Value {
    Value::Map([("v".to_owned(), v.clone())].into_iter().collect())
}

/// Every path that writes `value` as JSON, run through a real pipeline; each gives
/// the JSON text it wrote with the rendering of `value` extracted.
fn every_path(value: &Value) -> Vec<(&'static str, J)> {
    let p = Pipeline::new(vec![
        // 1. `log "L" { json { "v" <value>; } }`
        log(LogContent::Json(vec![("v".into(), lit(value.clone()))])),
        // 2. `log "L" { message [<value>] | json; }`
        log(LogContent::Message(json_filter(lit(Value::List(vec![
            value.clone(),
        ]))))),
        // 3. the `json` filter on a map: `{ "v": <value> } | json`
        log(LogContent::Message(json_filter(lit(one_map(value))))),
        // 4. the text form of a map: `%{ map }`
        log(LogContent::Format(Template {
            parts: vec![TemplatePart::Expr(lit(one_map(value)))],
        })),
    ]);
    let mut c = radius_ctx(1, &[(USER_NAME, "mikem")]);
    let mut m = Machine::new(p, Arc::new(Library::default()));
    assert_eq!(m.start(&mut c), Step::Done(Outcome::Ignore));
    let logs = m.take_logs();
    assert_eq!(logs.len(), 4);
    let parse = |i: usize| -> J {
        serde_json::from_str(&logs[i].text)
            .unwrap_or_else(|e| panic!("log {i} is not JSON ({e}): {}", logs[i].text))
    };
    let mut out = vec![
        ("log json", parse(0)["v"].clone()),
        ("[value] | json", parse(1)[0].clone()),
        ("{map} | json", parse(2)["v"].clone()),
        ("%{map}", parse(3)["v"].clone()),
    ];
    // The HTTP answer body built from `http.response`.
    let mut h = Context::http(
        schema(),
        t0(),
        HttpExchange {
            method: "POST".into(),
            path: "/x".into(),
            ..HttpExchange::default()
        },
    );
    let set = Pipeline::new(vec![Action::set(
        Place::Http(HttpPlace::Response),
        lit(one_map(value)),
    )]);
    let mut m = Machine::new(set, Arc::new(Library::default()));
    assert_eq!(m.start(&mut h), Step::Done(Outcome::Ignore));
    let answer = http_answer(&h, &Outcome::Accept);
    let body: J = serde_json::from_slice(&answer.body).expect("HTTP body is JSON");
    out.push(("http.response body", body["v"].clone()));
    out
}

/// The regression test for the two old `value_to_json` functions: every value kind,
/// written out every way a value becomes JSON, gives the same JSON, and that is the
/// documented rendering.
#[test]
fn log_json_and_the_json_filter_agree_on_every_kind() {
    for (name, value, expected) in cases() {
        for (path, got) in every_path(&value) {
            assert_eq!(got, expected, "{name} via {path}");
        }
    }
}

#[test]
fn jsonpath_reads_the_same_rendering() {
    let v = one_map(&Value::Attrs(vec![
        attr(PROXY_STATE, None, &[1]),
        attr(PROXY_STATE, None, &[2]),
    ]));
    let p = Pipeline::new(vec![log(LogContent::Message(jsonpath_filter(
        lit(v),
        "$.v['33'][1]",
    )))]);
    let mut c = radius_ctx(1, &[]);
    let mut m = Machine::new(p, Arc::new(Library::default()));
    assert_eq!(m.start(&mut c), Step::Done(Outcome::Ignore));
    assert_eq!(m.take_logs()[0].text, "0x02");
}

#[test]
fn attribute_lists_go_through_json_and_jsonpath_directly() {
    let attrs = Value::Attrs(vec![
        attr(USER_NAME, None, b"bob"),
        attr(PROXY_STATE, None, &[1]),
        attr(PROXY_STATE, None, &[2]),
    ]);
    let p = Pipeline::new(vec![
        // `log "L" { message radius.request.attrs | json; }`
        log(LogContent::Message(json_filter(lit(attrs.clone())))),
        // `radius.request.attrs | jsonpath("$['33'][1]")`
        log(LogContent::Message(jsonpath_filter(
            lit(attrs.clone()),
            "$['33'][1]",
        ))),
        log(LogContent::Json(vec![("a".into(), lit(attrs.clone()))])),
    ]);
    let mut c = radius_ctx(1, &[]);
    let mut m = Machine::new(p, Arc::new(Library::default()));
    assert_eq!(m.start(&mut c), Step::Done(Outcome::Ignore));
    let logs = m.take_logs();
    let expected = r#"{"1":"0x626f62","33":["0x01","0x02"]}"#;
    assert_eq!(logs[0].text, expected);
    assert_eq!(logs[1].text, "0x02");
    assert_eq!(logs[2].text, format!(r#"{{"a":{expected}}}"#));
    assert_eq!(attrs.to_text(), expected);
    // `http.response = radius.request.attrs` answers with that JSON.
    let mut h = Context::http(schema(), t0(), HttpExchange::default());
    let set = Pipeline::new(vec![Action::set(
        Place::Http(HttpPlace::Response),
        lit(attrs),
    )]);
    let mut m = Machine::new(set, Arc::new(Library::default()));
    assert_eq!(m.start(&mut h), Step::Done(Outcome::Ignore));
    let answer = http_answer(&h, &Outcome::Accept);
    assert_eq!(String::from_utf8(answer.body).unwrap(), expected);
    assert!(
        answer
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json"),
        "{:?}",
        answer.headers
    );
}
