//! Filters: `expr | name(args)` in conditions, assignments and `%{…}` templates
//! (language.md §3.5 and §6).
//!
//! The compiler resolves a filter name once with [`Filter::from_name`] and checks the
//! argument count with [`Filter::arity`] (and literal arguments with
//! [`Filter::check_literal_args`]); the interpreter then calls [`Filter::apply`]. The
//! string-keyed [`apply_filter`] is a convenience over both.
//!
//! Rules shared by every filter:
//! - **Errors travel**: an error input comes out unchanged from every filter except
//!   `recover` (which replaces it) and `type` (which names it: `error`).
//! - **none travels**: a `none` input comes out as `none` from every filter except
//!   `default` (which replaces it), `type` (`none`), `string` (`""`) and `join` (`""`).
//! - **Lists map**: the text filters (`lowercase`, `uppercase`, `hex`, `value`,
//!   `printable`, `normalize_mac`, `substring`, `url_escape`, `escape_double_quotes`)
//!   applied to a list apply to each element and return a list; an error from any
//!   element makes the result that error.
//! - **Wrong types are values**: a filter given a value it cannot work on returns an
//!   `INVALID_VALUE` error value naming the filter and the type — never a panic.
//!   `default`, `type`, `string` and `recover` accept everything.
//! - Text filters work on the text form of scalars (see [`crate::eval::text`]); maps,
//!   JSON arrays/objects, attribute lists and regexes are the wrong type for them.

use std::fmt::Write as _;

use crate::eval::convert::{
    format_mac, json_scalar_to_value, json_to_value, parse_duration, parse_float, parse_integer,
    parse_ip, parse_mac, parse_prefix, parse_timestamp,
};
use crate::eval::format::hex_lower;
use crate::eval::json::value_to_json;
use crate::eval::jsonpath::JsonPath;
use crate::eval::text::{text, to_text, type_name};
use crate::eval::value::Value;
use crate::radius::id::AttrId;

/// What filters need from their surroundings: for now, attribute names for
/// `remove(…)`/`select(…)`.
pub trait FilterEnv {
    /// The attribute a dictionary name denotes (`"User-Name"`), if any.
    fn attr_id(&self, name: &str) -> Option<AttrId>;
}

/// A [`FilterEnv`] that knows no attribute names (for contexts without a dictionary,
/// and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAttrs;

impl FilterEnv for NoAttrs {
    fn attr_id(&self, _name: &str) -> Option<AttrId> {
        None
    }
}

/// How many arguments a filter takes: `min..=max` (`max: None` for "any number").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity {
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments, or `None` for no limit.
    pub max: Option<usize>,
}

impl Arity {
    const fn exactly(n: usize) -> Arity {
        Arity {
            min: n,
            max: Some(n),
        }
    }

    /// Whether `n` arguments are acceptable.
    pub fn accepts(self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

/// A filter Boomerang supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// `lowercase`: text form in lower case.
    Lowercase,
    /// `uppercase`: text form in upper case.
    Uppercase,
    /// `string`: the text form of anything (`none` → `""`).
    String,
    /// `hex`: bytes (or a string's UTF-8 octets, or an IP's octets) as lower-case hex
    /// without `0x`; a non-negative integer as hex digits.
    Hex,
    /// `value`: the typed value a text holds — integer, float, boolean, IP, prefix,
    /// RFC 3339/2822 timestamp or duration with units, tried in that order; text that
    /// is none of those stays a string. JSON scalars become plain values; other
    /// non-text values pass unchanged.
    Value,
    /// `printable`: every non-printable character (Unicode control characters;
    /// for bytes input also invalid UTF-8) replaced by `.`.
    Printable,
    /// `normalize_mac`: a MAC address in any common form (`AA:BB:…`, `aa-bb-…`,
    /// `aabb.ccdd.eeff`, `aabbccddeeff`, 6 raw bytes) as lower-case, colon-separated
    /// `aa:bb:cc:dd:ee:ff` (the form `ether` attributes decode to, so the two compare
    /// equal). Text that is not a MAC is an error value.
    NormalizeMac,
    /// `substring(start[, end])`: characters `start..end` (start inclusive, end
    /// exclusive; negative counts from the end; out-of-range indices are clamped, so
    /// it never fails on the input's length; `end` defaults to the end).
    Substring,
    /// `default(v)`: `v` when the input is none (or an empty list), else the input.
    Default,
    /// `recover(v)`: `v` when the input is an error value, else the input.
    Recover,
    /// `join([sep])`: a list's elements' text forms joined by `sep` (default `,`);
    /// a scalar becomes its text form; none becomes `""`.
    Join,
    /// `split([sep])`: text split at every `sep` (default `,`) into a list of strings;
    /// the empty string gives an empty list; a list input is split element-wise and
    /// flattened.
    Split,
    /// `json`: text (or bytes) parsed as JSON into a `json` value; invalid JSON is an
    /// error value. Maps, lists and attribute lists become JSON by the one rendering
    /// of [`crate::eval::json`]; JSON passes unchanged.
    Json,
    /// `jsonpath(p)`: run a JSONPath query (see [`crate::eval::jsonpath`]) on JSON
    /// (or a map, list or attribute list, rendered as `json` does): no match → none, one → that value, several → a list. Scalars
    /// come out as plain values, arrays/objects as JSON. A string input is an error
    /// value: apply `json` first.
    JsonPath,
    /// `type`: the type's name (see [`crate::eval::text::type_name`]).
    Type,
    /// `url_escape`: percent-encoding of every octet of the UTF-8 text except the
    /// RFC 3986 unreserved characters `A-Z a-z 0-9 - . _ ~`.
    UrlEscape,
    /// `escape_double_quotes`: `"` → `\"` and `\` → `\\` (the backslash too, so
    /// that the result is safe between double quotes).
    EscapeDoubleQuotes,
    /// `remove(Name, …)`: an attribute list without the named attributes.
    Remove,
    /// `select(Name, …)`: an attribute list with only the named attributes, in their
    /// original order.
    Select,
}

/// Every filter name Boomerang supports, as written in configuration.
pub const FILTER_NAMES: &[&str] = &[
    "lowercase",
    "uppercase",
    "string",
    "hex",
    "value",
    "printable",
    "normalize_mac",
    "substring",
    "default",
    "recover",
    "join",
    "split",
    "json",
    "jsonpath",
    "type",
    "url_escape",
    "escape_double_quotes",
    "remove",
    "select",
];

/// Filters of the language Boomerang does not support yet: the compiler reports them
/// as "not supported" rather than "unknown" (language.md §6).
pub const UNSUPPORTED_FILTER_NAMES: &[&str] = &[
    "ldap_dn_escape",
    "ldap_escape",
    "xml_escape",
    "regex",
    "rsplit",
    "yubikey",
];

/// The argument counts of the filter called `name`, or `None` if Boomerang has no
/// such filter.
pub fn filter_arity(name: &str) -> Option<Arity> {
    Filter::from_name(name).map(Filter::arity)
}

impl Filter {
    /// Every filter, in [`FILTER_NAMES`] order.
    pub const ALL: [Filter; 19] = [
        Filter::Lowercase,
        Filter::Uppercase,
        Filter::String,
        Filter::Hex,
        Filter::Value,
        Filter::Printable,
        Filter::NormalizeMac,
        Filter::Substring,
        Filter::Default,
        Filter::Recover,
        Filter::Join,
        Filter::Split,
        Filter::Json,
        Filter::JsonPath,
        Filter::Type,
        Filter::UrlEscape,
        Filter::EscapeDoubleQuotes,
        Filter::Remove,
        Filter::Select,
    ];

    /// The filter called `name` (exact, lower case).
    pub fn from_name(name: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The name as written in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Filter::Lowercase => "lowercase",
            Filter::Uppercase => "uppercase",
            Filter::String => "string",
            Filter::Hex => "hex",
            Filter::Value => "value",
            Filter::Printable => "printable",
            Filter::NormalizeMac => "normalize_mac",
            Filter::Substring => "substring",
            Filter::Default => "default",
            Filter::Recover => "recover",
            Filter::Join => "join",
            Filter::Split => "split",
            Filter::Json => "json",
            Filter::JsonPath => "jsonpath",
            Filter::Type => "type",
            Filter::UrlEscape => "url_escape",
            Filter::EscapeDoubleQuotes => "escape_double_quotes",
            Filter::Remove => "remove",
            Filter::Select => "select",
        }
    }

    /// How many arguments it takes.
    pub fn arity(self) -> Arity {
        match self {
            Filter::Substring => Arity {
                min: 1,
                max: Some(2),
            },
            Filter::Default | Filter::Recover | Filter::JsonPath => Arity::exactly(1),
            Filter::Join | Filter::Split => Arity {
                min: 0,
                max: Some(1),
            },
            Filter::Remove | Filter::Select => Arity { min: 1, max: None },
            _ => Arity::exactly(0),
        }
    }

    /// Check arguments known at compile time (literals): the count, integer indices
    /// for `substring`, a string separator for `join`/`split`, a valid query for
    /// `jsonpath`, and attribute names `env` knows for `remove`/`select`.
    /// Returns a message for a diagnostic.
    pub fn check_literal_args(self, args: &[Value], env: &dyn FilterEnv) -> Result<(), String> {
        let arity = self.arity();
        if !arity.accepts(args.len()) {
            let expected = match arity.max {
                Some(m) if m == arity.min => format!("{m}"),
                Some(m) => format!("{} to {m}", arity.min),
                None => format!("at least {}", arity.min),
            };
            return Err(format!(
                "filter `{}` takes {expected} argument(s), {} given",
                self.name(),
                args.len()
            ));
        }
        match self {
            Filter::Substring => {
                for a in args {
                    if int_arg(a).is_none() {
                        return Err(format!(
                            "substring expects integer indices, not {}",
                            type_name(a)
                        ));
                    }
                }
            }
            Filter::Join | Filter::Split => {
                if let Some(a) = args.first()
                    && !matches!(a, Value::String(_))
                {
                    return Err(format!(
                        "{} expects a string separator, not {}",
                        self.name(),
                        type_name(a)
                    ));
                }
            }
            Filter::JsonPath => match args.first() {
                Some(Value::String(p)) => {
                    JsonPath::parse(p).map_err(|e| e.to_string())?;
                }
                Some(other) => {
                    return Err(format!(
                        "jsonpath expects a string, not {}",
                        type_name(other)
                    ));
                }
                None => {}
            },
            Filter::Remove | Filter::Select => {
                for name in attr_name_args(args) {
                    match name {
                        Ok(n) if env.attr_id(n).is_none() => {
                            return Err(format!("unknown attribute `{n}`"));
                        }
                        Ok(_) => {}
                        Err(t) => {
                            return Err(format!(
                                "{} expects attribute names, not {t}",
                                self.name()
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Apply the filter to `input` with `args` (already evaluated).
    pub fn apply(self, args: &[Value], input: Value, env: &dyn FilterEnv) -> Value {
        if !self.arity().accepts(args.len()) {
            return Value::invalid(format!(
                "filter `{}` given {} argument(s)",
                self.name(),
                args.len()
            ));
        }
        match self {
            Filter::Recover => {
                return match input {
                    Value::Error(_) => args.first().cloned().unwrap_or(Value::None),
                    other => other,
                };
            }
            Filter::Type => return Value::String(type_name(&input).to_owned()),
            _ => {}
        }
        if input.is_error() {
            return input;
        }
        match self {
            Filter::Default => {
                if input.is_none() {
                    args.first().cloned().unwrap_or(Value::None)
                } else {
                    input
                }
            }
            Filter::String => Value::String(to_text(&input)),
            Filter::Join => {
                let sep = match sep_arg(self, args) {
                    Ok(s) => s,
                    Err(e) => return e,
                };
                join(&input, sep)
            }
            _ if matches!(input, Value::None) => Value::None,
            Filter::Split => {
                let sep = match sep_arg(self, args) {
                    Ok(s) => s,
                    Err(e) => return e,
                };
                split(self, &input, sep)
            }
            Filter::Json => to_json(input),
            Filter::JsonPath => jsonpath(args, input),
            Filter::Remove | Filter::Select => attr_filter(self, args, input, env),
            _ => map_elements(self, args, input),
        }
    }
}

/// Apply the filter called `name`; an unknown name gives an `INVALID_VALUE` error
/// value (the compiler rejects unknown names before this can happen).
pub fn apply_filter(name: &str, args: &[Value], input: Value, env: &dyn FilterEnv) -> Value {
    match Filter::from_name(name) {
        Some(f) => f.apply(args, input, env),
        None => Value::invalid(format!("unknown filter `{name}`")),
    }
}

fn wrong_type(filter: Filter, v: &Value) -> Value {
    Value::invalid(format!(
        "filter `{}` cannot be applied to a value of type {}",
        filter.name(),
        type_name(v)
    ))
}

fn sep_arg(filter: Filter, args: &[Value]) -> Result<&str, Value> {
    match args.first() {
        None => Ok(","),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(Value::invalid(format!(
            "{} expects a string separator, not {}",
            filter.name(),
            type_name(other)
        ))),
    }
}

fn int_arg(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::String(s) => parse_integer(s),
        _ => None,
    }
}

/// The text filters: element-wise over lists, on the text form of scalars.
fn map_elements(filter: Filter, args: &[Value], input: Value) -> Value {
    match input {
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let v = map_elements(filter, args, item);
                if v.is_error() {
                    return v;
                }
                out.push(v);
            }
            Value::List(out)
        }
        Value::Error(_) | Value::None => input,
        Value::Map(_) | Value::Attrs(_) | Value::Regex(_) | Value::Any => {
            wrong_type(filter, &input)
        }
        Value::Json(ref j) => match json_scalar_to_value(j) {
            Some(v) => map_elements(filter, args, v),
            None => wrong_type(filter, &input),
        },
        scalar => text_filter(filter, args, scalar),
    }
}

fn text_filter(filter: Filter, args: &[Value], v: Value) -> Value {
    match filter {
        Filter::Lowercase => Value::String(text(&v).to_lowercase()),
        Filter::Uppercase => Value::String(text(&v).to_uppercase()),
        Filter::Hex => match &v {
            Value::Bytes(b) => Value::String(hex_lower(b)),
            Value::String(s) => Value::String(hex_lower(s.as_bytes())),
            Value::Integer(i) if *i >= 0 => Value::String(format!("{i:x}")),
            Value::Ip(std::net::IpAddr::V4(a)) => Value::String(hex_lower(&a.octets())),
            Value::Ip(std::net::IpAddr::V6(a)) => Value::String(hex_lower(&a.octets())),
            _ => wrong_type(filter, &v),
        },
        Filter::Value => match v {
            Value::String(s) => typed_value(s),
            other => other,
        },
        Filter::Printable => {
            let s = match &v {
                Value::Bytes(b) => String::from_utf8_lossy(b).replace('\u{fffd}', "."),
                other => text(other).into_owned(),
            };
            Value::String(
                s.chars()
                    .map(|c| if c.is_control() { '.' } else { c })
                    .collect(),
            )
        }
        Filter::NormalizeMac => {
            let octets = match &v {
                Value::Bytes(b) => <[u8; 6]>::try_from(b.as_ref()).ok(),
                Value::String(s) => parse_mac(s.trim()),
                _ => return wrong_type(filter, &v),
            };
            match octets {
                Some(m) => Value::String(format_mac(&m, ':')),
                None => Value::invalid(format!("`{}` is not a MAC address", text(&v))),
            }
        }
        Filter::Substring => {
            let (Some(start), end) = (args.first().and_then(int_arg), args.get(1)) else {
                return Value::invalid("substring expects integer indices");
            };
            let end = match end {
                None => None,
                Some(e) => match int_arg(e) {
                    Some(e) => Some(e),
                    None => return Value::invalid("substring expects integer indices"),
                },
            };
            Value::String(substring(&text(&v), start, end))
        }
        Filter::UrlEscape => Value::String(url_escape(&text(&v))),
        Filter::EscapeDoubleQuotes => {
            let t = text(&v);
            let mut out = String::with_capacity(t.len() + 2);
            for c in t.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            Value::String(out)
        }
        _ => wrong_type(filter, &v),
    }
}

/// Characters `start..end` of `s`; negative indices count from the end; clamped.
fn substring(s: &str, start: i128, end: Option<i128>) -> String {
    let len = i128::try_from(s.chars().count()).unwrap_or(i128::MAX);
    let norm = |i: i128| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let a = norm(start);
    let b = end.map_or(len, norm);
    if b <= a {
        return String::new();
    }
    let skip = usize::try_from(a).unwrap_or(0);
    let take = usize::try_from(b - a).unwrap_or(0);
    s.chars().skip(skip).take(take).collect()
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `value` filter on text.
fn typed_value(s: String) -> Value {
    if let Some(i) = parse_integer(&s) {
        return Value::Integer(i);
    }
    if let Some(f) = parse_float(&s) {
        return Value::Float(f);
    }
    match s.as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Some(ip) = parse_ip(&s) {
        return Value::Ip(ip);
    }
    if let Ok(p) = parse_prefix(&s) {
        return Value::Prefix(p);
    }
    if let Ok(t) = parse_timestamp(&s) {
        return Value::Timestamp(t);
    }
    // Only durations with a unit: bare digits were integers above.
    if let Ok(d) = parse_duration(&s) {
        return Value::Duration(d);
    }
    Value::String(s)
}

fn join(input: &Value, sep: &str) -> Value {
    match input {
        Value::List(items) => {
            let mut out = String::new();
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(sep);
                }
                out.push_str(&text(item));
            }
            Value::String(out)
        }
        Value::Json(serde_json::Value::Array(items)) => {
            join(&Value::List(items.iter().map(json_to_value).collect()), sep)
        }
        Value::Map(_) | Value::Attrs(_) | Value::Regex(_) | Value::Any => {
            wrong_type(Filter::Join, input)
        }
        other => Value::String(to_text(other)),
    }
}

fn split(filter: Filter, input: &Value, sep: &str) -> Value {
    if sep.is_empty() {
        return Value::invalid("split separator must not be empty");
    }
    match input {
        Value::String(s) => {
            if s.is_empty() {
                Value::List(Vec::new())
            } else {
                Value::List(s.split(sep).map(|p| Value::String(p.to_owned())).collect())
            }
        }
        Value::Json(serde_json::Value::String(s)) => split(filter, &Value::String(s.clone()), sep),
        Value::List(items) => {
            let mut out = Vec::new();
            for item in items {
                match split(filter, item, sep) {
                    Value::List(parts) => out.extend(parts),
                    Value::None => {}
                    other => return other,
                }
            }
            Value::List(out)
        }
        Value::None => Value::None,
        other => wrong_type(filter, other),
    }
}

fn to_json(input: Value) -> Value {
    match input {
        Value::Json(_) => input,
        Value::String(s) => parse_json(s.as_bytes()),
        Value::Bytes(b) => parse_json(&b),
        Value::Map(_) | Value::List(_) | Value::Attrs(_) => Value::Json(value_to_json(&input)),
        other => wrong_type(Filter::Json, &other),
    }
}

fn parse_json(raw: &[u8]) -> Value {
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(j) => Value::Json(j),
        Err(e) => Value::invalid(format!("invalid JSON: {e}")),
    }
}

fn jsonpath(args: &[Value], input: Value) -> Value {
    let path = match args.first() {
        Some(Value::String(p)) => match JsonPath::parse(p) {
            Ok(path) => path,
            Err(e) => return Value::invalid(e.to_string()),
        },
        Some(other) => {
            return Value::invalid(format!(
                "jsonpath expects a string, not {}",
                type_name(other)
            ));
        }
        None => return Value::invalid("jsonpath needs a query"),
    };
    let doc = match input {
        Value::Json(j) => j,
        Value::Map(_) | Value::List(_) | Value::Attrs(_) => value_to_json(&input),
        Value::String(_) => {
            return Value::invalid("jsonpath needs parsed JSON: apply `json` first");
        }
        other => return wrong_type(Filter::JsonPath, &other),
    };
    let found = path.query(&doc);
    match found.as_slice() {
        [] => Value::None,
        [one] => json_to_value(one),
        many => Value::List(many.iter().map(|j| json_to_value(j)).collect()),
    }
}

/// Attribute names from `remove`/`select` arguments: strings, or lists of strings.
fn attr_name_args(args: &[Value]) -> Vec<Result<&str, &'static str>> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::String(s) => out.push(Ok(s.as_str())),
            Value::List(items) => {
                for i in items {
                    match i {
                        Value::String(s) => out.push(Ok(s.as_str())),
                        other => out.push(Err(type_name(other))),
                    }
                }
            }
            other => out.push(Err(type_name(other))),
        }
    }
    out
}

fn attr_filter(filter: Filter, args: &[Value], input: Value, env: &dyn FilterEnv) -> Value {
    let Value::Attrs(entries) = input else {
        return wrong_type(filter, &input);
    };
    let mut ids = Vec::new();
    for name in attr_name_args(args) {
        match name {
            Ok(n) => match env.attr_id(n) {
                Some(id) => ids.push(id),
                None => return Value::invalid(format!("unknown attribute `{n}`")),
            },
            Err(t) => {
                return Value::invalid(format!(
                    "{} expects attribute names, not {t}",
                    filter.name()
                ));
            }
        }
    }
    let keep = filter == Filter::Select;
    Value::Attrs(
        entries
            .into_iter()
            .filter(|e| ids.contains(&e.id) == keep)
            .collect(),
    )
}
