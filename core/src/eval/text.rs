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
//! | map, json array/object, attrs | compact JSON text (see [`value_to_json`]) |
//! | json string/number/bool/null | the scalar itself, unquoted (null → empty) |
//! | error | its message |

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::eval::value::{AttrEntry, Value};

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
            let _ = write!(out, "{}/{}", p.addr, p.len);
        }
        Value::Timestamp(t) => out.push_str(&format_timestamp(*t)),
        Value::Duration(d) => out.push_str(&format_duration(*d)),
        Value::Regex(r) => {
            out.push('/');
            out.push_str(&r.source);
            out.push('/');
            if r.case_insensitive {
                out.push('i');
            }
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

/// The name the `type` filter returns for `value`:
/// `none`, `any`, `boolean`, `integer`, `float`, `string`, `bytes`, `ip`, `ip-prefix`,
/// `timestamp`, `duration`, `regex`, `list`, `map`, `json`, `attrs` or `error`.
///
/// An empty list is a `list` here (even though it compares equal to `none`), so that
/// the type of a value is always what it was built as.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::None => "none",
        Value::Any => "any",
        Value::Bool(_) => "boolean",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Ip(_) => "ip",
        Value::Prefix(_) => "ip-prefix",
        Value::Timestamp(_) => "timestamp",
        Value::Duration(_) => "duration",
        Value::Regex(_) => "regex",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Json(_) => "json",
        Value::Attrs(_) => "attrs",
        Value::Error(_) => "error",
    }
}

/// Lower-case hex of `bytes`, without a prefix (`00ff`).
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    out
}

fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// A value as JSON, for maps, attribute lists and JSON bodies built from values.
///
/// Integers become JSON numbers when they fit 64 bits (else decimal strings), finite
/// floats numbers (non-finite → `null`), `none`/`any` → `null`; every other scalar
/// becomes its text form as a JSON string; an error becomes
/// `{"code": "INVALID_VALUE", "message": "…"}`; an attribute list becomes an array
/// of `{"attr": "<numeric id>", "tag": n?, "value": "0x…"}` objects in wire order
/// (names need the dictionary, which the interpreter has and this layer has not).
pub fn value_to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::None | Value::Any => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Integer(i) => {
            if let Ok(v) = i64::try_from(*i) {
                J::from(v)
            } else if let Ok(v) = u64::try_from(*i) {
                J::from(v)
            } else {
                J::String(i.to_string())
            }
        }
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(value_to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
        Value::Json(j) => j.clone(),
        Value::Attrs(entries) => J::Array(entries.iter().map(attr_entry_json).collect()),
        Value::Error(e) => {
            let mut obj = serde_json::Map::new();
            obj.insert("code".into(), J::String(e.code.name().into()));
            obj.insert("message".into(), J::String(e.message.clone()));
            J::Object(obj)
        }
        other => J::String(to_text(other)),
    }
}

fn attr_entry_json(entry: &AttrEntry) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("attr".into(), entry.id.to_string().into());
    if let Some(tag) = entry.tag {
        obj.insert("tag".into(), tag.into());
    }
    let mut v = String::from("0x");
    push_hex(&entry.value, &mut v);
    obj.insert("value".into(), v.into());
    serde_json::Value::Object(obj)
}

/// RFC 3339 text of a point in time, in UTC with a `Z` suffix; the fraction of a
/// second is written only when non-zero, with trailing zeros trimmed.
pub fn format_timestamp(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (i128::from(d.as_secs()), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut secs = -i128::from(d.as_secs());
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (secs, nanos)
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The civil (proleptic Gregorian) date of a day number counted from 1970-01-01.
pub(crate) fn civil_from_days(days: i128) -> (i128, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction, so the casts cannot truncate.
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(v: i128) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// The day number (from 1970-01-01) of a civil date; the inverse of
/// [`civil_from_days`]. `month` is 1..=12, `day` 1..=31 (not checked against the
/// month's length here: callers validate).
pub(crate) fn days_from_civil(year: i128, month: u32, day: u32) -> i128 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let m = i128::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i128::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The text of a duration in the language's units, largest first, zero parts
/// omitted: `1d2h`, `1m30s`, `500ms`, `0s`.
///
/// Days are the largest unit written (`w`, `M` and `y` are accepted on input but
/// not produced, so `30d` stays `30d`). Sub-millisecond precision is not
/// representable in the language and is dropped from the text.
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let parts: [(u128, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    let mut rest = total_ms;
    for (unit_ms, name) in parts {
        let n = rest / unit_ms;
        rest %= unit_ms;
        if n > 0 {
            let _ = write!(out, "{n}{name}");
        }
    }
    out
}
