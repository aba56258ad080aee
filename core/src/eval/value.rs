//! Runtime values of the policy language (language.md §3.7).
//!
//! The value layer around [`Value`] (each part imports this module, never the
//! other way round):
//! - [`crate::eval::text`]: the text form (`%{…}`, string operators; also
//!   [`Value::to_text`] and `Display`);
//! - [`crate::eval::json`]: the one JSON rendering of a value;
//! - [`crate::eval::convert`]: RADIUS wire octets ⇄ values per data type, and the
//!   literal parsers the compiler uses (durations, IPs, prefixes, timestamps);
//! - [`crate::eval::ops`]: the comparison operators ([`crate::eval::ops::compare`]);
//! - [`crate::eval::filters`]: `expr | filter(args)` ([`crate::eval::filters::Filter`]);
//! - [`crate::eval::jsonpath`]: the JSONPath subset behind the `jsonpath` filter;
//! - [`crate::eval::password`]: PAP password verification against stored hashes.
//!
//! Conventions every part follows: an error travels as [`Value::Error`] and
//! compares false; "no value" is [`Value::is_none`] (none, JSON null, or a list
//! holding no values); nothing here panics on input.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::eval::error::{ErrorCode, ErrorValue};
use crate::radius::id::AttrId;

/// An IP prefix (`10.0.0.0/8`, `2001:db8::/32`). The address is kept as written;
/// membership tests mask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpPrefix {
    /// The network address as written.
    pub addr: IpAddr,
    /// Prefix length in bits (0..=32 for IPv4, 0..=128 for IPv6).
    pub len: u8,
}

/// A compiled regular expression together with how it was written.
#[derive(Debug, Clone)]
pub struct RegexValue {
    /// The pattern between the slashes.
    pub source: String,
    /// Whether it was written with the `i` flag.
    pub case_insensitive: bool,
    /// The compiled matcher.
    pub regex: Arc<regex::Regex>,
}

impl PartialEq for RegexValue {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.case_insensitive == other.case_insensitive
    }
}

/// One attribute of a bulk attribute list (`radius.request.attrs`), in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrEntry {
    /// Which attribute.
    pub id: AttrId,
    /// Its RFC 2868 tag, for tagged attributes that carry one.
    pub tag: Option<u8>,
    /// The value octets as carried on the wire (hidden attributes already revealed).
    pub value: Bytes,
}

/// A value of the policy language.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value: an unset variable or missing attribute.
    None,
    /// The `any` literal: matches every value that is not `none`.
    Any,
    /// `true` / `false`.
    Bool(bool),
    /// Every integer type (byte, short, integer, integer64, signed, enumerated values).
    Integer(i128),
    /// A floating-point number.
    Float(f64),
    /// Text.
    String(String),
    /// Opaque bytes (`0x…` literals, octets attributes).
    Bytes(Bytes),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// An IP prefix (CIDR).
    Prefix(IpPrefix),
    /// A point in time.
    Timestamp(SystemTime),
    /// A length of time.
    Duration(Duration),
    /// A regular expression literal.
    Regex(RegexValue),
    /// A list of values (multi-valued attributes, `[a b c]` literals, `split` results).
    List(Vec<Value>),
    /// A string-keyed map (e.g. `http.query`), iterated in key order.
    Map(BTreeMap<String, Value>),
    /// A parsed JSON document (from the `json` filter or an HTTP body).
    Json(serde_json::Value),
    /// A bulk attribute list, in wire order, duplicates kept.
    Attrs(Vec<AttrEntry>),
    /// An error travelling as a value (compares false under every operator).
    Error(ErrorValue),
}

impl IpPrefix {
    /// The longest prefix length for this address family (32 or 128).
    pub fn max_len(addr: &IpAddr) -> u8 {
        match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    /// A prefix, or `None` when `len` is longer than the address family allows.
    pub fn new(addr: IpAddr, len: u8) -> Option<IpPrefix> {
        (len <= Self::max_len(&addr)).then_some(IpPrefix { addr, len })
    }

    /// The network address: [`IpPrefix::addr`] with every bit past `len` cleared.
    pub fn network(&self) -> IpAddr {
        mask(self.addr, self.len)
    }

    /// Whether `ip` lies inside this prefix. Addresses of the other family are never
    /// members (an IPv4-mapped IPv6 address is not an IPv4 address here).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(*ip, self.len) == self.network()
            }
            _ => false,
        }
    }

    /// Whether two prefixes denote the same network (same length, same masked
    /// address), whatever host bits were written.
    pub fn same_network(&self, other: &IpPrefix) -> bool {
        self.len == other.len && self.network() == other.network()
    }
}

/// `addr` with every bit after the first `len` cleared.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

impl RegexValue {
    /// Compile a regex literal `/source/` (or `/source/i` when `case_insensitive`).
    ///
    /// The compiler calls this once per literal so that a bad pattern is a
    /// configuration error, never a runtime one.
    pub fn new(source: &str, case_insensitive: bool) -> Result<RegexValue, regex::Error> {
        let regex = regex::RegexBuilder::new(source)
            .case_insensitive(case_insensitive)
            .build()?;
        Ok(RegexValue {
            source: source.to_owned(),
            case_insensitive,
            regex: Arc::new(regex),
        })
    }

    /// Whether the pattern matches anywhere in `text` (a search, not an anchored match).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl Value {
    /// Whether this is "no value": [`Value::None`], JSON `null`, or a list holding no
    /// values (empty, or only none values): a multi-valued attribute with no
    /// instances reads the same as a missing one.
    pub fn is_none(&self) -> bool {
        match self {
            Value::None | Value::Json(serde_json::Value::Null) => true,
            Value::List(items) => items.iter().all(Value::is_none),
            _ => false,
        }
    }

    /// Whether this is an error value.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// An error value with the given code and message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Value {
        Value::Error(ErrorValue::new(code, message))
    }

    /// An `INVALID_VALUE` error value: what filters and conversions produce for input of
    /// the wrong type or shape.
    pub fn invalid(message: impl Into<String>) -> Value {
        Value::error(ErrorCode::InvalidValue, message)
    }

    /// The name the `type` filter returns: `none`, `any`, `boolean`, `integer`,
    /// `float`, `string`, `bytes`, `ip`, `ip-prefix`, `timestamp`, `duration`,
    /// `regex`, `list`, `map`, `json`, `attrs` or `error`.
    ///
    /// An empty list is a `list` here (even though it compares equal to `none`), so
    /// that the type of a value is always what it was built as.
    pub fn type_name(&self) -> &'static str {
        match self {
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
}

impl fmt::Display for IpPrefix {
    /// `address/length` as written (`10.0.0.0/8`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for RegexValue {
    /// The pattern between slashes, then `i` when case-insensitive (`/^a/i`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.source)?;
        if self.case_insensitive {
            f.write_str("i")?;
        }
        Ok(())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i128::from(i))
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Integer(i128::from(i))
    }
}

impl From<i128> for Value {
    fn from(i: i128) -> Self {
        Value::Integer(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<IpAddr> for Value {
    fn from(ip: IpAddr) -> Self {
        Value::Ip(ip)
    }
}

impl From<IpPrefix> for Value {
    fn from(p: IpPrefix) -> Self {
        Value::Prefix(p)
    }
}

impl From<Duration> for Value {
    fn from(d: Duration) -> Self {
        Value::Duration(d)
    }
}

impl From<SystemTime> for Value {
    fn from(t: SystemTime) -> Self {
        Value::Timestamp(t)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Bytes(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

impl From<ErrorValue> for Value {
    fn from(e: ErrorValue) -> Self {
        Value::Error(e)
    }
}
