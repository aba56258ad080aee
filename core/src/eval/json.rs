//! The one JSON rendering of a [`Value`].
//!
//! Every place that turns a value into JSON goes through [`value_to_json`]: the
//! fields of `log "L" { json { … } }`, the `json` filter (and `jsonpath`) on maps and
//! lists, HTTP answer bodies built from `http.response`, the `reason` of the default
//! HTTP answer, and the text form of maps and attribute lists (`%{…}` of a map is
//! this rendering as compact JSON text). So the same value always gives the same
//! JSON, whichever way it is written out.
//!
//! | value | JSON |
//! |---|---|
//! | `none` | `null` |
//! | `any` | `"any"` (a string, so that it is not mistaken for `none`) |
//! | boolean | `true` / `false` |
//! | integer, −(2⁵³−1) ..= 2⁵³−1 | a number (`42`) |
//! | integer outside that range | its decimal digits as a string (`"18446744073709551615"`) |
//! | float, finite | a number (`1.5`) |
//! | float, not finite | its text form as a string (`"NaN"`, `"inf"`, `"-inf"`) |
//! | string | a string |
//! | bytes | `"0x…"`, lower-case hex |
//! | ip, ip-prefix, timestamp, duration, regex | the text form as a string (`"192.0.2.1"`, `"10.0.0.0/8"`, `"2024-05-01T12:00:00Z"`, `"1m30s"`, `"/^a/i"`) |
//! | list | an array of the elements' renderings |
//! | map | an object, keys in key order |
//! | json | the document itself, unchanged |
//! | attrs | an object keyed by attribute (see below) |
//! | error | `{"code": "INVALID_VALUE", "message": "…"}` |
//!
//! Integers: the language's integers are 128-bit, and JSON consumers differ on what
//! a number can hold (JavaScript and many log pipelines read every number as an IEEE
//! double, exact only up to 2⁵³). Following I-JSON (RFC 7493 §2.2), an integer is a
//! JSON number only where every consumer reads it exactly; beyond that it is a
//! string of its decimal digits, so nothing is ever silently rounded.
//!
//! Attribute lists (`radius.request.attrs`, `radius.reply.attrs`): one member per
//! attribute, keyed by its numeric identifier in dictionary "OID" form (`"1"`,
//! `"26.9.1"`, `"241.8"`), with `:tag` appended for an RFC 2868 tagged value
//! (`"64:1"`, as FreeRADIUS writes tags); the value is the wire octets as `"0x…"`
//! (lossless, whatever the data type). An attribute that occurs more than once
//! becomes an array of its values in wire order (as `boomerang client --json`
//! does); members appear in the order their attribute first occurs. The value layer
//! has no dictionary, so keys are numeric and values undecoded: read one attribute
//! as a typed value with `radius.request.NAME`.

use crate::eval::format::{format_duration, format_timestamp, push_hex};
use crate::eval::value::{AttrEntry, Value};

/// The largest integer every JSON consumer reads exactly (2⁵³ − 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`); integers beyond ± this are rendered as strings.
pub const MAX_EXACT_INTEGER: i128 = (1 << 53) - 1;

/// The JSON rendering of `value` (see the module documentation for each kind).
pub fn value_to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::None => J::Null,
        Value::Any => J::String("any".into()),
        Value::Bool(b) => J::Bool(*b),
        Value::Integer(i) => integer_json(*i),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => J::Number(n),
            None => J::String(f.to_string()),
        },
        Value::String(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(hex_string(b)),
        Value::Ip(ip) => J::String(ip.to_string()),
        Value::Prefix(p) => J::String(p.to_string()),
        Value::Timestamp(t) => J::String(format_timestamp(*t)),
        Value::Duration(d) => J::String(format_duration(*d)),
        Value::Regex(r) => J::String(r.to_string()),
        Value::List(items) => J::Array(items.iter().map(value_to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
        Value::Json(j) => j.clone(),
        Value::Attrs(entries) => attrs_json(entries),
        Value::Error(e) => {
            let mut obj = serde_json::Map::new();
            obj.insert("code".into(), J::String(e.code.name().into()));
            obj.insert("message".into(), J::String(e.message.clone()));
            J::Object(obj)
        }
    }
}

fn integer_json(i: i128) -> serde_json::Value {
    if (-MAX_EXACT_INTEGER..=MAX_EXACT_INTEGER).contains(&i) {
        // In range, so it fits an i64.
        if let Ok(n) = i64::try_from(i) {
            return serde_json::Value::from(n);
        }
    }
    serde_json::Value::String(i.to_string())
}

fn hex_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    push_hex(bytes, &mut out);
    out
}

/// The key of an attribute entry: its identifier, then `:tag` when tagged.
fn attr_key(entry: &AttrEntry) -> String {
    match entry.tag {
        Some(tag) => format!("{}:{tag}", entry.id),
        None => entry.id.to_string(),
    }
}

fn attrs_json(entries: &[AttrEntry]) -> serde_json::Value {
    use serde_json::Value as J;
    let mut obj = serde_json::Map::new();
    for entry in entries {
        let key = attr_key(entry);
        let value = J::String(hex_string(&entry.value));
        match obj.get_mut(&key) {
            None => {
                obj.insert(key, value);
            }
            Some(J::Array(values)) => values.push(value),
            Some(slot) => {
                let first = std::mem::take(slot);
                *slot = J::Array(vec![first, value]);
            }
        }
    }
    J::Object(obj)
}
