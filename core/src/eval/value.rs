//! Runtime values of the policy language (language.md §3.7).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::eval::error::ErrorValue;
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
