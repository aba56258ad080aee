//! The text form of values and the names of their types.
//!
//! The text form is what a `%{…}` template renders, what the string operators
//! (`starts`, `contains`, `ends`) and regex matches test, and what a `string`
//! attribute receives. Every value has exactly one text form:
//!
//! | value | text form |
//! |---|---|
//! | `none`, `any` | empty string, `any` |
//! | boolean | `true` / `false` |
//! | integer | decimal (`-12`) |
//! | float | shortest decimal that reads back the same (`1.5`, `2`, `NaN`, `inf`) |
//! | string | itself |
//! | bytes | `0x` followed by lower-case hex (`0x00ff`) |
//! | ip | canonical form (`192.0.2.1`, `2001:db8::1`) |
//! | ip-prefix | `address/length` as written (`10.0.0.0/8`) |
//! | timestamp | RFC 3339 in UTC (`2024-05-01T12:00:00Z`, fraction only when non-zero) |
//! | duration | language units, largest first (`1d2h`, `1m30s`, `500ms`, `0s`) |
//! | regex | its pattern between slashes (`/^a/i`) |
//! | list | elements' text forms joined by `,` (no spaces) |
//! | map, json array/object, attrs | compact JSON text (see [`crate::eval::json`]) |
//! | json string/number/bool/null | the scalar itself, unquoted (null → empty) |
//! | error | its message |

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

use crate::eval::format::push_hex;
pub use crate::eval::format::{format_duration, format_timestamp, hex_lower};
use crate::eval::json::value_to_json;
use crate::eval::value::Value;

impl Value {
    /// The text form of this value (what `%{…}` renders); see [`crate::eval::text`].
    pub fn to_text(&self) -> String {
        to_text(self)
    }
}

impl fmt::Display for Value {
    /// Writes the text form (see [`crate::eval::text`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text(self))
    }
}

/// The text form of `value`, borrowed when the value already is text.
///
/// Borrowing keeps the string operators allocation-free on the common case of
/// comparing two strings.
pub fn text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Error(e) => Cow::Borrowed(e.message.as_str()),
        Value::None => Cow::Borrowed(""),
        Value::Any => Cow::Borrowed("any"),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::Json(serde_json::Value::String(s)) => Cow::Borrowed(s.as_str()),
        other => {
            let mut out = String::new();
            write_text(other, &mut out);
            Cow::Owned(out)
        }
    }
}

/// The text form of `value` as an owned string.
pub fn to_text(value: &Value) -> String {
    text(value).into_owned()
}

/// Append the text form of `value` to `out` (what template expansion uses to build
/// one string without intermediate allocations).
pub fn write_text(value: &Value, out: &mut String) {
    match value {
        Value::None => {}
        Value::Any => out.push_str("any"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => {
            out.push_str("0x");
            push_hex(b, out);
        }
        Value::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Value::Prefix(p) => {
            let _ = write!(out, "{p}");
        }
        Value::Timestamp(t) => out.push_str(&format_timestamp(*t)),
        Value::Duration(d) => out.push_str(&format_duration(*d)),
        Value::Regex(r) => {
            let _ = write!(out, "{r}");
        }
        Value::List(items) => {
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_text(item, out);
            }
        }
        Value::Map(_) | Value::Attrs(_) => out.push_str(&value_to_json(value).to_string()),
        Value::Json(j) => write_json_text(j, out),
        Value::Error(e) => out.push_str(&e.message),
    }
}

/// The text form of a JSON value: scalars bare (a string without quotes, `null` as
/// the empty string), arrays and objects as compact JSON.
fn write_json_text(j: &serde_json::Value, out: &mut String) {
    match j {
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => out.push_str(s),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The name the `type` filter returns for `value` (see [`Value::type_name`]).
pub fn type_name(value: &Value) -> &'static str {
    value.type_name()
}

/// `value` as the language writes it, for messages: a string as a quoted literal
/// (`"abc"`, with `\"`, `\\`, `\n`, `\t`, `\r` escaped as in configuration strings),
/// `none`, a list as `[a b]` of such literals, a map, attribute list or JSON value as
/// compact JSON, anything else as its text form (`201`, `10.0.0.1`, `0x00ff`).
pub fn literal(value: &Value) -> String {
    let mut out = String::new();
    write_literal(value, &mut out);
    out
}

fn write_literal(value: &Value, out: &mut String) {
    match value {
        Value::None => out.push_str("none"),
        Value::String(s) => write_quoted(s, out),
        Value::List(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                write_literal(item, out);
            }
            out.push(']');
        }
        Value::Json(j) => out.push_str(&j.to_string()),
        other => write_text(other, out),
    }
}

/// `s` as a quoted string literal of the configuration language (see [`literal`]);
/// also how `boomerang client` prints text values, radclient style.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_quoted(s, &mut out);
    out
}

fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}
