//! Conversions between RADIUS wire values and language values, and the parsers
//! for literal text (durations, addresses, prefixes, timestamps, numbers) that the
//! compiler and the conversions share.
//!
//! Decoding ([`decode_attr`]) never fails: a value whose length does not fit its
//! data type becomes an `INVALID_VALUE` error value, which then travels like any
//! other error value (compares false, renders its message). Encoding
//! ([`encode_attr`]) returns `Err` with an `INVALID_VALUE` [`ErrorValue`] naming
//! the data type and the offending value, which the interpreter raises as a
//! pipeline error (language.md §3.1: assigning an error to a reply attribute is an
//! error).
//!
//! Decisions:
//! - `string` attributes decode to [`Value::String`] when the octets are valid
//!   UTF-8 and to [`Value::Bytes`] otherwise (RADIUS does not validate them, and a
//!   lossy conversion would silently change what is proxied).
//! - `ether` decodes to the text `aa:bb:cc:dd:ee:ff` (lower case, colons), the
//!   form FreeRADIUS prints, so that it compares with MAC strings directly.
//! - `ifid` decodes to the text `0011:2233:4455:6677` (RFC 3162 interface-id form).
//! - `date` decodes to a [`Value::Timestamp`].
//! - Container types (`tlv`, `vsa`, `extended`, `long-extended`, `evs`) and
//!   `abinary` are opaque [`Value::Bytes`] here: the codec unpacks containers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::format::days_from_civil;
use crate::eval::text::{literal, to_text, type_name};
use crate::eval::value::{IpPrefix, Value};
use crate::radius::id::DataType;

fn malformed(dt: DataType, len: usize) -> Value {
    Value::invalid(format!(
        "malformed {} attribute value: {len} octets",
        dt.name()
    ))
}

/// Decode the value octets of an attribute of type `dt` (copying them for
/// `octets`-like types; see [`decode_attr_shared`] to share the buffer instead).
pub fn decode_attr(dt: DataType, raw: &[u8]) -> Value {
    match decode_fixed(dt, raw) {
        Some(v) => v,
        None => Value::Bytes(Bytes::copy_from_slice(raw)),
    }
}

/// [`decode_attr`] for octets already held in a [`Bytes`] buffer: `octets`-like
/// values share it instead of copying.
pub fn decode_attr_shared(dt: DataType, raw: &Bytes) -> Value {
    match decode_fixed(dt, raw) {
        Some(v) => v,
        None => Value::Bytes(raw.clone()),
    }
}

/// Every type except the opaque ones; `None` means "opaque bytes".
fn decode_fixed(dt: DataType, raw: &[u8]) -> Option<Value> {
    let v = match dt {
        DataType::String => match std::str::from_utf8(raw) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => return None,
        },
        DataType::Octets
        | DataType::Abinary
        | DataType::Tlv
        | DataType::Vsa
        | DataType::Extended
        | DataType::LongExtended
        | DataType::Evs => return None,
        DataType::Byte => match raw {
            [b] => Value::Integer(i128::from(*b)),
            _ => malformed(dt, raw.len()),
        },
        DataType::Short => match <[u8; 2]>::try_from(raw) {
            Ok(b) => Value::Integer(i128::from(u16::from_be_bytes(b))),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Integer => match <[u8; 4]>::try_from(raw) {
            Ok(b) => Value::Integer(i128::from(u32::from_be_bytes(b))),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Signed => match <[u8; 4]>::try_from(raw) {
            Ok(b) => Value::Integer(i128::from(i32::from_be_bytes(b))),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Integer64 => match <[u8; 8]>::try_from(raw) {
            Ok(b) => Value::Integer(i128::from(u64::from_be_bytes(b))),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Date => match <[u8; 4]>::try_from(raw) {
            Ok(b) => {
                Value::Timestamp(UNIX_EPOCH + Duration::from_secs(u64::from(u32::from_be_bytes(b))))
            }
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Ipv4Addr => match <[u8; 4]>::try_from(raw) {
            Ok(b) => Value::Ip(IpAddr::V4(Ipv4Addr::from(b))),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Ipv6Addr => match <[u8; 16]>::try_from(raw) {
            Ok(b) => Value::Ip(IpAddr::V6(Ipv6Addr::from(b))),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::ComboIp => {
            if let Ok(b) = <[u8; 4]>::try_from(raw) {
                Value::Ip(IpAddr::V4(Ipv4Addr::from(b)))
            } else if let Ok(b) = <[u8; 16]>::try_from(raw) {
                Value::Ip(IpAddr::V6(Ipv6Addr::from(b)))
            } else {
                malformed(dt, raw.len())
            }
        }
        DataType::Ipv4Prefix => match raw {
            // RFC 6572: reserved, prefix length, 4 address octets.
            [_, len, a, b, c, d] if *len <= 32 => Value::Prefix(IpPrefix {
                addr: IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)),
                len: *len,
            }),
            [_, len, ..] if raw.len() == 6 => Value::invalid(format!(
                "malformed ipv4prefix attribute value: prefix length {len} exceeds 32"
            )),
            _ => malformed(dt, raw.len()),
        },
        DataType::Ipv6Prefix => match raw {
            // RFC 3162: reserved, prefix length, 0..=16 prefix octets (zero-padded here).
            [_, len, rest @ ..] if rest.len() <= 16 => {
                if *len > 128 {
                    Value::invalid(format!(
                        "malformed ipv6prefix attribute value: prefix length {len} exceeds 128"
                    ))
                } else if usize::from(*len) > rest.len() * 8 {
                    Value::invalid(format!(
                        "malformed ipv6prefix attribute value: prefix length {len} needs more than {} octets",
                        rest.len()
                    ))
                } else {
                    let mut octets = [0u8; 16];
                    for (dst, src) in octets.iter_mut().zip(rest) {
                        *dst = *src;
                    }
                    Value::Prefix(IpPrefix {
                        addr: IpAddr::V6(Ipv6Addr::from(octets)),
                        len: *len,
                    })
                }
            }
            _ => malformed(dt, raw.len()),
        },
        DataType::Ether => match <[u8; 6]>::try_from(raw) {
            Ok(b) => Value::String(format_mac(&b, ':')),
            Err(_) => malformed(dt, raw.len()),
        },
        DataType::Ifid => match <[u8; 8]>::try_from(raw) {
            Ok(b) => Value::String(format_ifid(&b)),
            Err(_) => malformed(dt, raw.len()),
        },
    };
    Some(v)
}

/// Lower-case MAC text with `sep` between octets (`aa:bb:cc:dd:ee:ff`).
pub fn format_mac(octets: &[u8; 6], sep: char) -> String {
    let mut out = String::with_capacity(17);
    for (n, b) in octets.iter().enumerate() {
        if n > 0 {
            out.push(sep);
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn format_ifid(octets: &[u8; 8]) -> String {
    octets
        .chunks(2)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse a MAC address written in any common form: six hex pairs separated by `:`,
/// `-`, `.` or nothing (`aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabbccddeeff`),
/// or Cisco's three dot-separated groups (`aabb.ccdd.eeff`). Case is ignored.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.'))
        .collect();
    if digits.len() != 12 {
        return None;
    }
    // Separators must be consistent with one of the accepted layouts.
    let seps: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| matches!(b, b':' | b'-' | b'.'))
        .map(|(i, _)| i)
        .collect();
    let layout_ok = match seps.len() {
        0 => true,
        5 => seps.iter().enumerate().all(|(n, &i)| i == 2 + 3 * n),
        2 => seps == [4, 9],
        _ => false,
    };
    if !layout_ok {
        return None;
    }
    let mut out = [0u8; 6];
    for (n, pair) in digits.chunks(2).enumerate() {
        let hi = hex_digit(*pair.first()?)?;
        let lo = hex_digit(*pair.get(1)?)?;
        *out.get_mut(n)? = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parse hex text (an even number of hex digits, either case, no prefix) into bytes.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let raw = text.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    raw.chunks(2)
        .map(|pair| match pair {
            [h, l] => Some((hex_digit(*h)? << 4) | hex_digit(*l)?),
            _ => None,
        })
        .collect()
}

fn cannot(dt: DataType, value: &Value) -> ErrorValue {
    let shown = literal(value);
    ErrorValue::new(
        ErrorCode::InvalidValue,
        format!(
            "cannot convert {} {shown} to {} {} attribute",
            type_name(value),
            article(dt.name()),
            dt.name()
        ),
    )
}

/// "a" or "an" before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// JSON scalars behave like the language scalars they hold.
fn normalize(value: &Value) -> Option<Value> {
    match value {
        Value::Json(j) => Some(json_scalar_to_value(j)?),
        _ => None,
    }
}

/// A JSON scalar as a language value (`null` → `none`, numbers → integer or float,
/// strings and booleans as themselves); `None` for arrays and objects.
pub fn json_scalar_to_value(j: &serde_json::Value) -> Option<Value> {
    match j {
        serde_json::Value::Null => Some(Value::None),
        serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
        serde_json::Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            Value::Integer(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Value::Integer(i128::from(u))
        } else {
            Value::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        serde_json::Value::String(s) => Some(Value::String(s.clone())),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => None,
    }
}

/// A JSON value as a language value: scalars as in [`json_scalar_to_value`], arrays
/// and objects kept as [`Value::Json`].
pub fn json_to_value(j: &serde_json::Value) -> Value {
    json_scalar_to_value(j).unwrap_or_else(|| Value::Json(j.clone()))
}

/// Encode `value` as the octets of an attribute of type `dt`.
///
/// `named` resolves a dictionary value name of this attribute (`"Request-Not-Routable"`
/// for Error-Cause) to its number; pass `&|_| None` for attributes without named
/// values.
///
/// Accepted sources, per type:
/// - integer types (`byte`, `short`, `integer`, `signed`, `integer64`): an integer in
///   the type's range, a boolean (0/1), a float with no fraction, a decimal string,
///   a named value via `named`, a duration (whole seconds: `Session-Timeout = 1h`)
///   or a timestamp (seconds since the epoch);
/// - `date`: a timestamp, an integer (seconds since the epoch) or a string holding
///   either (RFC 3339 / RFC 2822 or decimal);
/// - `ipaddr`/`ipv6addr`/`combo-ip`: an IP of the right family or a string holding one;
/// - `ipv4prefix`/`ipv6prefix`: a prefix, an address (a host prefix), or a string
///   holding either; host bits past the prefix length are cleared on the wire as
///   RFC 6572/3162 require;
/// - `string`: bytes as they are, anything else scalar through its text form;
/// - `octets` (and opaque container types): bytes, or a string's UTF-8 octets;
/// - `ether`: 6 bytes, or a MAC string in any form [`parse_mac`] accepts;
/// - `ifid`: 8 bytes, or `xxxx:xxxx:xxxx:xxxx` / 16 hex digits.
///
/// Failures: an error value is returned as it is (its code kept); `none`, `any`,
/// lists (the interpreter encodes one attribute per element), maps, regexes and
/// everything outside the lists above are `INVALID_VALUE`. Length limits of the
/// wire format (253 octets per attribute) are the codec's business.
pub fn encode_attr(
    dt: DataType,
    value: &Value,
    named: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u8>, ErrorValue> {
    if let Value::Error(e) = value {
        return Err(e.clone());
    }
    if let Some(v) = normalize(value) {
        return encode_attr(dt, &v, named);
    }
    match dt {
        DataType::Byte => encode_int(dt, value, named, 0, i128::from(u8::MAX))
            .map(|i| vec![u8::try_from(i).unwrap_or(0)]),
        DataType::Short => encode_int(dt, value, named, 0, i128::from(u16::MAX))
            .map(|i| u16::try_from(i).unwrap_or(0).to_be_bytes().to_vec()),
        DataType::Integer => encode_int(dt, value, named, 0, i128::from(u32::MAX))
            .map(|i| u32::try_from(i).unwrap_or(0).to_be_bytes().to_vec()),
        DataType::Signed => {
            encode_int(dt, value, named, i128::from(i32::MIN), i128::from(i32::MAX))
                .map(|i| i32::try_from(i).unwrap_or(0).to_be_bytes().to_vec())
        }
        DataType::Integer64 => encode_int(dt, value, named, 0, i128::from(u64::MAX))
            .map(|i| u64::try_from(i).unwrap_or(0).to_be_bytes().to_vec()),
        DataType::Date => {
            let secs = match value {
                Value::Timestamp(t) => epoch_seconds(*t),
                Value::Integer(i) => Some(*i),
                Value::String(s) => {
                    parse_integer(s).or_else(|| parse_timestamp(s).ok().and_then(epoch_seconds))
                }
                _ => None,
            };
            match secs.and_then(|s| u32::try_from(s).ok()) {
                Some(s) => Ok(s.to_be_bytes().to_vec()),
                None => Err(cannot(dt, value)),
            }
        }
        DataType::Ipv4Addr => match ip_of(value) {
            Some(IpAddr::V4(a)) => Ok(a.octets().to_vec()),
            _ => Err(cannot(dt, value)),
        },
        DataType::Ipv6Addr => match ip_of(value) {
            Some(IpAddr::V6(a)) => Ok(a.octets().to_vec()),
            _ => Err(cannot(dt, value)),
        },
        DataType::ComboIp => match ip_of(value) {
            Some(IpAddr::V4(a)) => Ok(a.octets().to_vec()),
            Some(IpAddr::V6(a)) => Ok(a.octets().to_vec()),
            None => Err(cannot(dt, value)),
        },
        DataType::Ipv4Prefix => match prefix_of(value) {
            Some(p) => match p.network() {
                IpAddr::V4(a) => {
                    let mut out = vec![0, p.len];
                    out.extend_from_slice(&a.octets());
                    Ok(out)
                }
                IpAddr::V6(_) => Err(cannot(dt, value)),
            },
            None => Err(cannot(dt, value)),
        },
        DataType::Ipv6Prefix => match prefix_of(value) {
            Some(p) => match p.network() {
                IpAddr::V6(a) => {
                    let n = usize::from(p.len).div_ceil(8);
                    let mut out = vec![0, p.len];
                    out.extend(a.octets().iter().take(n));
                    Ok(out)
                }
                IpAddr::V4(_) => Err(cannot(dt, value)),
            },
            None => Err(cannot(dt, value)),
        },
        DataType::String => match value {
            Value::Bytes(b) => Ok(b.to_vec()),
            Value::None
            | Value::Any
            | Value::List(_)
            | Value::Map(_)
            | Value::Attrs(_)
            | Value::Regex(_)
            | Value::Json(_) => Err(cannot(dt, value)),
            other => Ok(to_text(other).into_bytes()),
        },
        DataType::Octets
        | DataType::Abinary
        | DataType::Tlv
        | DataType::Vsa
        | DataType::Extended
        | DataType::LongExtended
        | DataType::Evs => match value {
            Value::Bytes(b) => Ok(b.to_vec()),
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            _ => Err(cannot(dt, value)),
        },
        DataType::Ether => match value {
            Value::Bytes(b) if b.len() == 6 => Ok(b.to_vec()),
            Value::String(s) => parse_mac(s)
                .map(|m| m.to_vec())
                .ok_or_else(|| cannot(dt, value)),
            _ => Err(cannot(dt, value)),
        },
        DataType::Ifid => match value {
            Value::Bytes(b) if b.len() == 8 => Ok(b.to_vec()),
            Value::String(s) => {
                let digits: String = s.chars().filter(|c| *c != ':').collect();
                let groups_ok = !s.contains(':')
                    || (s.split(':').count() == 4 && s.split(':').all(|g| g.len() == 4));
                match parse_hex(&digits) {
                    Some(b) if b.len() == 8 && groups_ok => Ok(b),
                    _ => Err(cannot(dt, value)),
                }
            }
            _ => Err(cannot(dt, value)),
        },
    }
}

fn encode_int(
    dt: DataType,
    value: &Value,
    named: &dyn Fn(&str) -> Option<u32>,
    min: i128,
    max: i128,
) -> Result<i128, ErrorValue> {
    let n = match value {
        Value::Integer(i) => Some(*i),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 => {
            // Exact: the value is integral and far inside i128.
            Some(*f as i128)
        }
        Value::String(s) => parse_integer(s).or_else(|| named(s).map(i128::from)),
        Value::Duration(d) => Some(i128::from(d.as_secs())),
        Value::Timestamp(t) => epoch_seconds(*t),
        _ => None,
    };
    match n {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        Some(i) => Err(ErrorValue::new(
            ErrorCode::InvalidValue,
            format!(
                "value {i} is out of range for a {} attribute ({min}..={max})",
                dt.name()
            ),
        )),
        None => Err(cannot(dt, value)),
    }
}

fn ip_of(value: &Value) -> Option<IpAddr> {
    match value {
        Value::Ip(ip) => Some(*ip),
        Value::String(s) => parse_ip(s),
        _ => None,
    }
}

fn prefix_of(value: &Value) -> Option<IpPrefix> {
    match value {
        Value::Prefix(p) => Some(*p),
        Value::Ip(ip) => Some(IpPrefix {
            addr: *ip,
            len: IpPrefix::max_len(ip),
        }),
        Value::String(s) => match parse_prefix(s) {
            Ok(p) => Some(p),
            Err(_) => parse_ip(s).map(|ip| IpPrefix {
                addr: ip,
                len: IpPrefix::max_len(&ip),
            }),
        },
        _ => None,
    }
}

/// Seconds since the UNIX epoch (negative before it), ignoring the fraction.
pub fn epoch_seconds(t: SystemTime) -> Option<i128> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Some(i128::from(d.as_secs())),
        Err(e) => {
            let d = e.duration();
            let whole = -i128::from(d.as_secs());
            Some(if d.subsec_nanos() > 0 {
                whole - 1
            } else {
                whole
            })
        }
    }
}

/// A literal that could not be parsed: why, in words for a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// A duration without any digits (`""`, `s`).
    #[error("empty duration")]
    EmptyDuration,
    /// A duration number followed by something that is not a unit.
    #[error("unknown duration unit `{unit}` (expected ms, s, m, h, d, w, M or y)")]
    UnknownDurationUnit {
        /// What followed the number.
        unit: String,
    },
    /// A duration number with no unit after it in a combined duration (`1m30`).
    #[error("missing unit after `{number}` in duration")]
    MissingDurationUnit {
        /// The number lacking a unit.
        number: String,
    },
    /// Units out of order or repeated (`30s1m`, `1s1s`).
    #[error("duration units must appear once each, largest first (`{unit}` is out of place)")]
    DurationUnitOrder {
        /// The unit out of place.
        unit: String,
    },
    /// A duration too long to represent.
    #[error("duration is too long")]
    DurationOverflow,
    /// Not an IPv4 or IPv6 address.
    #[error("`{text}` is not an IP address")]
    BadIp {
        /// The text given.
        text: String,
    },
    /// Not `address/length`.
    #[error("`{text}` is not an IP prefix (expected address/length)")]
    BadPrefix {
        /// The text given.
        text: String,
    },
    /// A prefix length longer than the address family allows.
    #[error("prefix length {len} is longer than {max}")]
    PrefixTooLong {
        /// The length written.
        len: u32,
        /// 32 or 128.
        max: u8,
    },
    /// Not an RFC 3339 or RFC 2822 timestamp.
    #[error("`{text}` is not a timestamp (expected RFC 3339 or RFC 2822)")]
    BadTimestamp {
        /// The text given.
        text: String,
    },
}

/// Parse a duration: a bare integer is milliseconds (older configuration files);
/// otherwise one or more `<digits><unit>` parts with units `ms s m h d w M y`
/// (`M` = 30 days, `y` = 365 days), each unit at most once and largest first:
/// `5s`, `1m30s`, `500ms`, `1d`, `2w`, `1M`, `1y`, `1h0m5s`.
pub fn parse_duration(text: &str) -> Result<Duration, LiteralError> {
    if text.is_empty() {
        return Err(LiteralError::EmptyDuration);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = text.parse().map_err(|_| LiteralError::DurationOverflow)?;
        return Ok(Duration::from_millis(ms));
    }
    // Units by rank (higher rank must come first) and length in milliseconds.
    const UNITS: [(&str, u8, u64); 8] = [
        ("y", 8, 365 * 86_400_000),
        ("M", 7, 30 * 86_400_000),
        ("w", 6, 7 * 86_400_000),
        ("d", 5, 86_400_000),
        ("h", 4, 3_600_000),
        ("m", 3, 60_000),
        ("s", 2, 1_000),
        ("ms", 1, 1),
    ];
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_rank = u8::MAX;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits_end);
        if number.is_empty() {
            return Err(if total == 0 && last_rank == u8::MAX {
                LiteralError::EmptyDuration
            } else {
                LiteralError::UnknownDurationUnit {
                    unit: after.to_owned(),
                }
            });
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(LiteralError::MissingDurationUnit {
                number: number.to_owned(),
            });
        }
        let Some(&(_, rank, ms)) = UNITS.iter().find(|(name, _, _)| *name == unit) else {
            return Err(LiteralError::UnknownDurationUnit {
                unit: unit.to_owned(),
            });
        };
        if rank >= last_rank {
            return Err(LiteralError::DurationUnitOrder {
                unit: unit.to_owned(),
            });
        }
        last_rank = rank;
        let n: u64 = number.parse().map_err(|_| LiteralError::DurationOverflow)?;
        let part = n.checked_mul(ms).ok_or(LiteralError::DurationOverflow)?;
        total = total
            .checked_add(part)
            .ok_or(LiteralError::DurationOverflow)?;
        rest = next;
    }
    Ok(Duration::from_millis(total))
}

/// Parse an IPv4 or IPv6 address in its usual text form.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// Parse an IP prefix `address/length` (`10.0.0.0/8`, `2001:db8::/32`). The address
/// is kept as written (host bits are not cleared).
pub fn parse_prefix(text: &str) -> Result<IpPrefix, LiteralError> {
    let bad = || LiteralError::BadPrefix {
        text: text.to_owned(),
    };
    let (addr, len) = text.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return Err(bad());
    }
    let len: u32 = len.parse().map_err(|_| bad())?;
    let max = IpPrefix::max_len(&addr);
    match u8::try_from(len).ok().and_then(|l| IpPrefix::new(addr, l)) {
        Some(p) => Ok(p),
        None => Err(LiteralError::PrefixTooLong { len, max }),
    }
}

/// Parse a decimal integer with an optional sign (`42`, `-7`, `+3`); nothing else
/// (no spaces, no hex, no fraction).
pub fn parse_integer(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parse a finite decimal number (`1.5`, `-2`, `1e3`); not `inf` or `NaN`.
pub fn parse_float(text: &str) -> Option<f64> {
    let first = text.bytes().next()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Parse a timestamp in RFC 3339 (`2024-05-01T12:00:00Z`, `…+02:00`, fractions, `t`/space
/// separator) or RFC 2822 (`Wed, 01 May 2024 12:00:00 +0000`, weekday optional,
/// `GMT`/`UT`/`Z` and the US zone names accepted).
pub fn parse_timestamp(text: &str) -> Result<SystemTime, LiteralError> {
    parse_rfc3339(text)
        .or_else(|| parse_rfc2822(text))
        .ok_or_else(|| LiteralError::BadTimestamp {
            text: text.to_owned(),
        })
}

/// A wall-clock time as written, with its UTC offset.
struct CivilTime {
    year: i128,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    offset_secs: i128,
}

fn from_parts(t: CivilTime) -> Option<SystemTime> {
    let CivilTime {
        year,
        month,
        day,
        hour,
        min,
        sec,
        nanos,
        offset_secs,
    } = t;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // A leap second (60) is folded into the next second.
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i128::from(hour) * 3600 + i128::from(min) * 60 + i128::from(sec)
        - offset_secs;
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))?
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(u64::try_from(-secs).ok()?))?
    };
    base.checked_add(Duration::from_nanos(u64::from(nanos)))
}

fn days_in_month(year: i128, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            if leap { 29 } else { 28 }
        }
    }
}

fn fixed_digits(s: &str, n: usize) -> Option<u32> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let date = text.get(..10)?;
    let sep = text.get(10..11)?;
    if !matches!(sep, "T" | "t" | " ") {
        return None;
    }
    let rest = text.get(11..)?;
    let mut dparts = date.split('-');
    let year = fixed_digits(dparts.next()?, 4)?;
    let month = fixed_digits(dparts.next()?, 2)?;
    let day = fixed_digits(dparts.next()?, 2)?;
    let time = rest.get(..8)?;
    let mut tparts = time.split(':');
    let hour = fixed_digits(tparts.next()?, 2)?;
    let min = fixed_digits(tparts.next()?, 2)?;
    let sec = fixed_digits(tparts.next()?, 2)?;
    let mut rest = rest.get(8..)?;
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let digits = frac.get(..end)?;
        if digits.is_empty() {
            return None;
        }
        let mut scaled = String::from(digits.get(..digits.len().min(9))?);
        while scaled.len() < 9 {
            scaled.push('0');
        }
        nanos = scaled.parse().ok()?;
        rest = frac.get(end..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let oh = fixed_digits(rest.get(1..3)?, 2)?;
            if rest.get(3..4)? != ":" {
                return None;
            }
            let om = fixed_digits(rest.get(4..)?, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (i128::from(oh) * 3600 + i128::from(om) * 60)
        }
    };
    from_parts(CivilTime {
        year: i128::from(year),
        month,
        day,
        hour,
        min,
        sec,
        nanos,
        offset_secs: offset,
    })
}

fn parse_rfc2822(text: &str) -> Option<SystemTime> {
    let mut s = text.trim();
    if let Some((head, tail)) = s.split_once(',') {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        if !DAYS.iter().any(|d| d.eq_ignore_ascii_case(head.trim())) {
            return None;
        }
        s = tail.trim();
    }
    let mut fields = s.split_ascii_whitespace();
    let day: u32 = {
        let d = fields.next()?;
        if d.is_empty() || d.len() > 2 || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        d.parse().ok()?
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mname = fields.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mname))?;
    let month = u32::try_from(month).ok()? + 1;
    let year = fixed_digits(fields.next()?, 4)?;
    let time = fields.next()?;
    let mut tp = time.split(':');
    let hour = fixed_digits(tp.next()?, 2)?;
    let min = fixed_digits(tp.next()?, 2)?;
    let sec = match tp.next() {
        Some(s) => fixed_digits(s, 2)?,
        None => 0,
    };
    if tp.next().is_some() {
        return None;
    }
    let zone = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    let offset: i128 = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EST" => -5 * 3600,
        "EDT" => -4 * 3600,
        "CST" => -6 * 3600,
        "CDT" => -5 * 3600,
        "MST" => -7 * 3600,
        "MDT" => -6 * 3600,
        "PST" => -8 * 3600,
        "PDT" => -7 * 3600,
        z => {
            let sign = match z.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let hh = fixed_digits(z.get(1..3)?, 2)?;
            let mm = fixed_digits(z.get(3..)?, 2)?;
            if mm > 59 {
                return None;
            }
            sign * (i128::from(hh) * 3600 + i128::from(mm) * 60)
        }
    };
    from_parts(CivilTime {
        year: i128::from(year),
        month,
        day,
        hour,
        min,
        sec,
        nanos: 0,
        offset_secs: offset,
    })
}
