//! Values: wire conversions per data type (round trips, malformed lengths, named
//! values, accepted sources), text forms, durations, timestamps, literal parsers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boomerang_core::eval::convert::{
    LiteralError, decode_attr, decode_attr_shared, encode_attr, parse_duration, parse_integer,
    parse_mac, parse_prefix, parse_timestamp,
};
use boomerang_core::eval::error::{ErrorCode, ErrorValue};
use boomerang_core::eval::text::{format_duration, format_timestamp, text, to_text, type_name};
use boomerang_core::eval::value::{AttrEntry, IpPrefix, RegexValue, Value};
use boomerang_core::radius::id::{AttrId, DataType};
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::json;

fn no_names(_: &str) -> Option<u32> {
    None
}

fn error_cause_names(name: &str) -> Option<u32> {
    match name {
        "Request-Not-Routable" => Some(502),
        "Session-Context-Not-Found" => Some(503),
        _ => None,
    }
}

fn enc(dt: DataType, v: &Value) -> Result<Vec<u8>, ErrorValue> {
    encode_attr(dt, v, &no_names)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn ts(secs: u64) -> Value {
    Value::Timestamp(UNIX_EPOCH + Duration::from_secs(secs))
}

fn is_invalid(v: &Value) -> bool {
    matches!(v, Value::Error(e) if e.code == ErrorCode::InvalidValue)
}

// ---------------------------------------------------------------------------
// Decoding

#[test]
fn decode_each_type() {
    let lo = Ipv6Addr::LOCALHOST.octets();
    let rows: Vec<(DataType, &[u8], Value)> = vec![
        (DataType::Byte, &[7], Value::Integer(7)),
        (DataType::Short, &[1, 2], Value::Integer(0x0102)),
        (DataType::Integer, &[0, 0, 1, 0xf6], Value::Integer(502)),
        (
            DataType::Integer,
            &[0xff, 0xff, 0xff, 0xff],
            Value::Integer(4_294_967_295),
        ),
        (
            DataType::Signed,
            &[0xff, 0xff, 0xff, 0xfe],
            Value::Integer(-2),
        ),
        (
            DataType::Integer64,
            &[0, 0, 0, 1, 0, 0, 0, 0],
            Value::Integer(1 << 32),
        ),
        (DataType::Date, &[0, 0, 0, 60], ts(60)),
        (
            DataType::Ipv4Addr,
            &[192, 0, 2, 1],
            Value::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        ),
        (
            DataType::ComboIp,
            &[10, 0, 0, 1],
            Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        ),
        (
            DataType::Ipv6Addr,
            &lo,
            Value::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ),
        (
            DataType::ComboIp,
            &lo,
            Value::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ),
        (
            DataType::Ipv4Prefix,
            &[0, 8, 10, 0, 0, 0],
            Value::Prefix(parse_prefix("10.0.0.0/8").unwrap()),
        ),
        (
            DataType::Ipv6Prefix,
            &[0, 32, 0x20, 0x01, 0x0d, 0xb8],
            Value::Prefix(parse_prefix("2001:db8::/32").unwrap()),
        ),
        (
            DataType::Ipv6Prefix,
            &[0, 0],
            Value::Prefix(parse_prefix("::/0").unwrap()),
        ),
        (DataType::String, b"alice", s("alice")),
        (DataType::String, "é".as_bytes(), s("é")),
        (DataType::String, b"", s("")),
        (
            DataType::String,
            &[0xff, 0xfe],
            Value::Bytes(Bytes::from_static(&[0xff, 0xfe])),
        ),
        (
            DataType::Octets,
            b"\x00\x01",
            Value::Bytes(Bytes::from_static(b"\x00\x01")),
        ),
        (
            DataType::Abinary,
            b"\x01",
            Value::Bytes(Bytes::from_static(b"\x01")),
        ),
        (
            DataType::Tlv,
            b"\x01\x03x",
            Value::Bytes(Bytes::from_static(b"\x01\x03x")),
        ),
        (
            DataType::Ether,
            &[0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc],
            s("00:1b:21:aa:bb:cc"),
        ),
        (
            DataType::Ifid,
            &[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77],
            s("0011:2233:4455:6677"),
        ),
    ];
    for (dt, raw, expected) in rows {
        assert_eq!(decode_attr(dt, raw), expected, "{dt:?} {raw:?}");
        assert_eq!(
            decode_attr_shared(dt, &Bytes::copy_from_slice(raw)),
            expected,
            "{dt:?}"
        );
    }
}

#[test]
fn malformed_lengths_decode_to_invalid_value() {
    let rows: Vec<(DataType, &[u8])> = vec![
        (DataType::Byte, &[]),
        (DataType::Byte, &[1, 2]),
        (DataType::Short, &[1]),
        (DataType::Integer, &[0, 0, 1]),
        (DataType::Integer, &[0, 0, 0, 0, 1]),
        (DataType::Signed, &[]),
        (DataType::Integer64, &[0; 4]),
        (DataType::Date, &[0; 8]),
        (DataType::Ipv4Addr, &[10, 0, 0]),
        (DataType::Ipv6Addr, &[0; 15]),
        (DataType::ComboIp, &[0; 5]),
        (DataType::Ipv4Prefix, &[0, 8, 10, 0, 0]),
        (DataType::Ipv4Prefix, &[0, 33, 10, 0, 0, 0]),
        (DataType::Ipv6Prefix, &[0]),
        (DataType::Ipv6Prefix, &[0, 129, 0]),
        (DataType::Ipv6Prefix, &[0, 64, 0x20, 0x01]),
        (DataType::Ipv6Prefix, &[0; 19]),
        (DataType::Ether, &[0; 5]),
        (DataType::Ifid, &[0; 7]),
    ];
    for (dt, raw) in rows {
        let v = decode_attr(dt, raw);
        assert!(is_invalid(&v), "{dt:?} {raw:?} -> {v:?}");
    }
    // The message names the type and the length.
    match decode_attr(DataType::Integer, &[1, 2, 3]) {
        Value::Error(e) => assert_eq!(e.message, "malformed integer attribute value: 3 octets"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Encoding

#[test]
fn encode_accepts_reasonable_sources() {
    let rows: Vec<(DataType, Value, Vec<u8>)> = vec![
        (DataType::Integer, Value::Integer(502), vec![0, 0, 1, 0xf6]),
        (DataType::Integer, s("502"), vec![0, 0, 1, 0xf6]),
        (DataType::Integer, Value::Bool(true), vec![0, 0, 0, 1]),
        (DataType::Integer, Value::Float(3.0), vec![0, 0, 0, 3]),
        (
            DataType::Integer,
            Value::Duration(Duration::from_secs(3600)),
            vec![0, 0, 0x0e, 0x10],
        ),
        (DataType::Integer, Value::Json(json!(7)), vec![0, 0, 0, 7]),
        (DataType::Byte, Value::Integer(255), vec![255]),
        (DataType::Short, Value::Integer(258), vec![1, 2]),
        (DataType::Signed, Value::Integer(-1), vec![0xff; 4]),
        (
            DataType::Integer64,
            s("4294967296"),
            vec![0, 0, 0, 1, 0, 0, 0, 0],
        ),
        (DataType::Date, ts(60), vec![0, 0, 0, 60]),
        (DataType::Date, Value::Integer(60), vec![0, 0, 0, 60]),
        (DataType::Date, s("1970-01-01T00:01:00Z"), vec![0, 0, 0, 60]),
        (DataType::Ipv4Addr, s("192.0.2.1"), vec![192, 0, 2, 1]),
        (
            DataType::Ipv4Addr,
            Value::Ip("192.0.2.1".parse().unwrap()),
            vec![192, 0, 2, 1],
        ),
        (
            DataType::ComboIp,
            s("::1"),
            Ipv6Addr::LOCALHOST.octets().to_vec(),
        ),
        (
            DataType::Ipv6Addr,
            s("::1"),
            Ipv6Addr::LOCALHOST.octets().to_vec(),
        ),
        (
            DataType::Ipv4Prefix,
            s("10.1.2.3/8"),
            vec![0, 8, 10, 0, 0, 0],
        ),
        (
            DataType::Ipv4Prefix,
            Value::Ip("10.1.2.3".parse().unwrap()),
            vec![0, 32, 10, 1, 2, 3],
        ),
        (
            DataType::Ipv6Prefix,
            s("2001:db8::/32"),
            vec![0, 32, 0x20, 0x01, 0x0d, 0xb8],
        ),
        (
            DataType::Ipv6Prefix,
            s("2001:db8::/33"),
            vec![0, 33, 0x20, 0x01, 0x0d, 0xb8, 0],
        ),
        (DataType::Ipv6Prefix, s("::/0"), vec![0, 0]),
        (DataType::String, s("alice"), b"alice".to_vec()),
        (DataType::String, Value::Integer(42), b"42".to_vec()),
        (
            DataType::String,
            Value::Ip("10.0.0.1".parse().unwrap()),
            b"10.0.0.1".to_vec(),
        ),
        (
            DataType::String,
            Value::Bytes(Bytes::from_static(&[0xff])),
            vec![0xff],
        ),
        (DataType::String, Value::Json(json!("j")), b"j".to_vec()),
        (
            DataType::Octets,
            Value::Bytes(Bytes::from_static(&[1, 2])),
            vec![1, 2],
        ),
        (DataType::Octets, s("ab"), b"ab".to_vec()),
        (
            DataType::Ether,
            s("00-1B-21-AA-BB-CC"),
            vec![0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc],
        ),
        (
            DataType::Ether,
            s("001b.21aa.bbcc"),
            vec![0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc],
        ),
        (
            DataType::Ether,
            Value::Bytes(Bytes::from_static(&[1, 2, 3, 4, 5, 6])),
            vec![1, 2, 3, 4, 5, 6],
        ),
        (
            DataType::Ifid,
            s("0011:2233:4455:6677"),
            vec![0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77],
        ),
        (
            DataType::Ifid,
            s("0011223344556677"),
            vec![0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77],
        ),
    ];
    for (dt, v, expected) in rows {
        assert_eq!(enc(dt, &v), Ok(expected), "{dt:?} {v:?}");
    }
}

#[test]
fn encode_rejects_with_invalid_value_naming_type_and_value() {
    let rows: Vec<(DataType, Value)> = vec![
        (DataType::Integer, s("abc")),
        (DataType::Integer, Value::Integer(-1)),
        (DataType::Integer, Value::Integer(1 << 32)),
        (DataType::Byte, Value::Integer(256)),
        (DataType::Short, Value::Integer(65_536)),
        (DataType::Signed, Value::Integer(1 << 31)),
        (DataType::Integer64, Value::Integer(-5)),
        (DataType::Integer, Value::Float(1.5)),
        (DataType::Integer, Value::Ip("10.0.0.1".parse().unwrap())),
        (DataType::Date, s("yesterday")),
        (DataType::Date, Value::Integer(-1)),
        (DataType::Ipv4Addr, s("::1")),
        (DataType::Ipv4Addr, s("10.0.0")),
        (DataType::Ipv6Addr, s("10.0.0.1")),
        (DataType::Ipv4Addr, Value::Integer(1)),
        (DataType::Ipv4Prefix, s("2001:db8::/32")),
        (DataType::Ipv4Prefix, s("10.0.0.0/33")),
        (DataType::Ipv6Prefix, s("10.0.0.0/8")),
        (DataType::String, Value::None),
        (DataType::String, Value::Any),
        (DataType::String, Value::List(vec![s("a")])),
        (DataType::String, Value::Json(json!({"a": 1}))),
        (DataType::Octets, Value::Integer(1)),
        (DataType::Ether, s("00:1b:21")),
        (
            DataType::Ether,
            Value::Bytes(Bytes::from_static(&[1, 2, 3])),
        ),
        (DataType::Ifid, s("0011:2233:4455")),
        (DataType::Ifid, s("0011:2233:4455:667z")),
    ];
    for (dt, v) in rows {
        let e = enc(dt, &v).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue, "{dt:?} {v:?}");
    }
    let e = enc(DataType::Integer, &s("abc")).unwrap_err();
    assert_eq!(
        e.message,
        "cannot convert string \"abc\" to an integer attribute"
    );
    let e = enc(DataType::Byte, &Value::Integer(300)).unwrap_err();
    assert!(
        e.message.contains("300") && e.message.contains("byte"),
        "{}",
        e.message
    );
}

#[test]
fn encode_passes_error_values_through() {
    let err = ErrorValue::new(ErrorCode::BackendTimeout, "sql timed out");
    assert_eq!(enc(DataType::String, &Value::Error(err.clone())), Err(err));
}

#[test]
fn named_integer_values_resolve_through_the_closure() {
    let named = &error_cause_names;
    assert_eq!(
        encode_attr(DataType::Integer, &s("Request-Not-Routable"), named),
        Ok(vec![0, 0, 1, 0xf6])
    );
    assert_eq!(
        encode_attr(DataType::Integer, &s("503"), named),
        Ok(vec![0, 0, 1, 0xf7])
    );
    assert_eq!(
        encode_attr(DataType::Integer, &Value::Integer(502), named),
        Ok(vec![0, 0, 1, 0xf6])
    );
    let e = encode_attr(DataType::Integer, &s("No-Such-Cause"), named).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidValue);
    assert!(e.message.contains("No-Such-Cause"));
    // Without names, a name is just a bad integer.
    assert!(enc(DataType::Integer, &s("Request-Not-Routable")).is_err());
}

fn arb_for(dt: DataType) -> BoxedStrategy<Value> {
    match dt {
        DataType::Byte => any::<u8>().prop_map(|n| Value::Integer(n.into())).boxed(),
        DataType::Short => any::<u16>().prop_map(|n| Value::Integer(n.into())).boxed(),
        DataType::Integer => any::<u32>().prop_map(|n| Value::Integer(n.into())).boxed(),
        DataType::Signed => any::<i32>().prop_map(|n| Value::Integer(n.into())).boxed(),
        DataType::Integer64 => any::<u64>().prop_map(|n| Value::Integer(n.into())).boxed(),
        DataType::Date => any::<u32>().prop_map(|n| ts(n.into())).boxed(),
        DataType::Ipv4Addr => any::<[u8; 4]>()
            .prop_map(|o| Value::Ip(IpAddr::from(o)))
            .boxed(),
        DataType::Ipv6Addr => any::<[u8; 16]>()
            .prop_map(|o| Value::Ip(IpAddr::from(o)))
            .boxed(),
        DataType::ComboIp => prop_oneof![
            any::<[u8; 4]>().prop_map(|o| Value::Ip(IpAddr::from(o))),
            any::<[u8; 16]>().prop_map(|o| Value::Ip(IpAddr::from(o))),
        ]
        .boxed(),
        DataType::Ipv4Prefix => (any::<[u8; 4]>(), 0u8..=32)
            .prop_map(|(o, len)| {
                let p = IpPrefix {
                    addr: IpAddr::from(o),
                    len,
                };
                Value::Prefix(IpPrefix {
                    addr: p.network(),
                    len,
                })
            })
            .boxed(),
        DataType::Ipv6Prefix => (any::<[u8; 16]>(), 0u8..=128)
            .prop_map(|(o, len)| {
                let p = IpPrefix {
                    addr: IpAddr::from(o),
                    len,
                };
                Value::Prefix(IpPrefix {
                    addr: p.network(),
                    len,
                })
            })
            .boxed(),
        DataType::String => "\\PC{0,40}".prop_map(Value::String).boxed(),
        DataType::Ether => any::<[u8; 6]>()
            .prop_map(|o| {
                Value::String(
                    o.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                )
            })
            .boxed(),
        DataType::Ifid => any::<[u8; 8]>()
            .prop_map(|o| {
                let hex: Vec<String> = o
                    .chunks(2)
                    .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
                    .collect();
                Value::String(hex.join(":"))
            })
            .boxed(),
        _ => proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| Value::Bytes(Bytes::from(b)))
            .boxed(),
    }
}

fn arb_typed() -> impl Strategy<Value = (DataType, Value)> {
    let types = [
        DataType::String,
        DataType::Octets,
        DataType::Ipv4Addr,
        DataType::Ipv4Prefix,
        DataType::Integer,
        DataType::Integer64,
        DataType::Date,
        DataType::Ipv6Addr,
        DataType::Ipv6Prefix,
        DataType::Ifid,
        DataType::Ether,
        DataType::Byte,
        DataType::Short,
        DataType::Signed,
        DataType::Tlv,
        DataType::Vsa,
        DataType::Extended,
        DataType::LongExtended,
        DataType::Evs,
        DataType::ComboIp,
        DataType::Abinary,
    ];
    proptest::sample::select(types.to_vec())
        .prop_flat_map(|dt| arb_for(dt).prop_map(move |v| (dt, v)))
}

proptest! {
    /// Encoding a value and decoding the octets gives the value back, for every type.
    #[test]
    fn encode_then_decode_round_trips((dt, v) in arb_typed()) {
        let raw = encode_attr(dt, &v, &no_names).unwrap();
        prop_assert_eq!(decode_attr(dt, &raw), v);
    }

    /// Decoding arbitrary octets never panics, whatever decodes to a non-error value
    /// encodes again, and the re-encoded wire form is stable (a second decode/encode
    /// gives the same octets; prefixes lose host bits on the first pass).
    #[test]
    fn decode_arbitrary_bytes((dt, _) in arb_typed(), raw in proptest::collection::vec(any::<u8>(), 0..24)) {
        let v = decode_attr(dt, &raw);
        if !v.is_error() {
            let wire = encode_attr(dt, &v, &no_names).unwrap();
            let again = encode_attr(dt, &decode_attr(dt, &wire), &no_names).unwrap();
            prop_assert_eq!(wire, again);
        }
    }

    /// Prefix octets of any shape decode without panicking.
    #[test]
    fn prefix_wire_shapes(len in 0u8..=255, body in proptest::collection::vec(any::<u8>(), 0..18)) {
        let mut raw = vec![0, len];
        raw.extend(body);
        let _ = decode_attr(DataType::Ipv4Prefix, &raw);
        let _ = decode_attr(DataType::Ipv6Prefix, &raw);
    }

    /// Timestamps survive their RFC 3339 text form.
    #[test]
    fn timestamp_text_round_trips(secs in -62_135_596_800i64..253_402_300_799i64, nanos in 0u32..1_000_000_000) {
        let t = if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs as u64, nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
        };
        let text = format_timestamp(t);
        prop_assert_eq!(parse_timestamp(&text), Ok(t), "{}", text);
    }

    /// Durations survive their text form (at millisecond precision).
    #[test]
    fn duration_text_round_trips(ms in 0u64..10_000_000_000_000) {
        let d = Duration::from_millis(ms);
        let text = format_duration(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }
}

// ---------------------------------------------------------------------------
// Text forms

#[test]
fn text_forms() {
    let mut map = std::collections::BTreeMap::new();
    map.insert("b".to_owned(), Value::Integer(2));
    map.insert("a".to_owned(), s("x"));
    let rows: Vec<(Value, &str)> = vec![
        (Value::None, ""),
        (Value::Any, "any"),
        (Value::Bool(true), "true"),
        (Value::Bool(false), "false"),
        (Value::Integer(-42), "-42"),
        (Value::Integer(i128::from(u64::MAX)), "18446744073709551615"),
        (Value::Float(1.5), "1.5"),
        (Value::Float(2.0), "2"),
        (s("as is"), "as is"),
        (
            Value::Bytes(Bytes::from_static(&[0, 0xab, 0xff])),
            "0x00abff",
        ),
        (Value::Bytes(Bytes::new()), "0x"),
        (Value::Ip("192.0.2.1".parse().unwrap()), "192.0.2.1"),
        (
            Value::Ip("2001:0DB8:0:0::1".parse().unwrap()),
            "2001:db8::1",
        ),
        (
            Value::Prefix(parse_prefix("10.0.0.0/8").unwrap()),
            "10.0.0.0/8",
        ),
        (
            Value::Prefix(parse_prefix("2001:db8::/32").unwrap()),
            "2001:db8::/32",
        ),
        (ts(0), "1970-01-01T00:00:00Z"),
        (ts(1_714_564_800), "2024-05-01T12:00:00Z"),
        (ts(951_782_400), "2000-02-29T00:00:00Z"),
        (
            Value::Timestamp(UNIX_EPOCH + Duration::from_millis(1500)),
            "1970-01-01T00:00:01.5Z",
        ),
        (
            Value::Timestamp(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z",
        ),
        (Value::Duration(Duration::from_secs(90)), "1m30s"),
        (Value::Duration(Duration::from_millis(500)), "500ms"),
        (Value::Duration(Duration::ZERO), "0s"),
        (Value::Duration(Duration::from_secs(86_400 + 7_200)), "1d2h"),
        (Value::Duration(Duration::from_secs(30 * 86_400)), "30d"),
        (
            Value::Regex(RegexValue::new("^a.b$", true).unwrap()),
            "/^a.b$/i",
        ),
        (
            Value::List(vec![s("a"), Value::Integer(1), Value::None, s("b")]),
            "a,1,,b",
        ),
        (Value::List(vec![]), ""),
        (Value::Map(map), r#"{"a":"x","b":2}"#),
        (Value::Json(json!({"k": [1, "two"]})), r#"{"k":[1,"two"]}"#),
        (Value::Json(json!("bare")), "bare"),
        (Value::Json(json!(12)), "12"),
        (Value::Json(json!(null)), ""),
        (
            Value::Attrs(vec![AttrEntry {
                id: AttrId::Vendor { vendor: 9, typ: 1 },
                tag: Some(2),
                value: Bytes::from_static(b"a"),
            }]),
            r#"{"26.9.1:2":"0x61"}"#,
        ),
        (
            Value::Attrs(vec![
                AttrEntry {
                    id: AttrId::Standard(33),
                    tag: None,
                    value: Bytes::from_static(b"a"),
                },
                AttrEntry {
                    id: AttrId::Standard(33),
                    tag: None,
                    value: Bytes::from_static(b"b"),
                },
            ]),
            r#"{"33":["0x61","0x62"]}"#,
        ),
        (
            Value::error(
                ErrorCode::NoReverseConnections,
                "no reverse connection accepted",
            ),
            "no reverse connection accepted",
        ),
    ];
    for (v, expected) in rows {
        assert_eq!(to_text(&v), expected, "{v:?}");
        assert_eq!(v.to_string(), expected, "Display of {v:?}");
    }
    // Strings are borrowed, not copied.
    let v = s("borrowed");
    assert!(matches!(text(&v), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn type_names() {
    assert_eq!(
        type_name(&Value::Prefix(parse_prefix("::/0").unwrap())),
        "ip-prefix"
    );
    assert_eq!(type_name(&Value::Bool(false)), "boolean");
    assert_eq!(Value::Attrs(vec![]).type_name(), "attrs");
}

// ---------------------------------------------------------------------------
// Literal parsers

#[test]
fn durations() {
    let ok: Vec<(&str, u64)> = vec![
        ("5s", 5_000),
        ("1m30s", 90_000),
        ("500ms", 500),
        ("1d", 86_400_000),
        ("2w", 14 * 86_400_000),
        ("1M", 30 * 86_400_000),
        ("1y", 365 * 86_400_000),
        ("1h0m5s", 3_605_000),
        ("1s500ms", 1_500),
        (
            "1y1M1w1d1h1m1s1ms",
            (365 + 30 + 7 + 1) * 86_400_000 + 3_600_000 + 60_000 + 1_000 + 1,
        ),
        ("0s", 0),
        ("7000", 7_000),
        ("0", 0),
    ];
    for (t, ms) in ok {
        assert_eq!(parse_duration(t), Ok(Duration::from_millis(ms)), "{t}");
    }
    let bad: Vec<(&str, LiteralError)> = vec![
        ("", LiteralError::EmptyDuration),
        ("s", LiteralError::EmptyDuration),
        ("5x", LiteralError::UnknownDurationUnit { unit: "x".into() }),
        (
            "5 s",
            LiteralError::UnknownDurationUnit { unit: " s".into() },
        ),
        (
            "1m30",
            LiteralError::MissingDurationUnit {
                number: "30".into(),
            },
        ),
        (
            "30s1m",
            LiteralError::DurationUnitOrder { unit: "m".into() },
        ),
        ("1s1s", LiteralError::DurationUnitOrder { unit: "s".into() }),
        ("5S", LiteralError::UnknownDurationUnit { unit: "S".into() }),
        ("-5s", LiteralError::EmptyDuration),
        ("99999999999999999999y", LiteralError::DurationOverflow),
        ("999999999999y", LiteralError::DurationOverflow),
    ];
    for (t, e) in bad {
        assert_eq!(parse_duration(t), Err(e), "{t}");
    }
}

#[test]
fn prefix_host_bits_are_cleared_on_the_wire() {
    let v = decode_attr(DataType::Ipv4Prefix, &[0, 8, 10, 1, 2, 3]);
    assert_eq!(
        v,
        Value::Prefix(IpPrefix {
            addr: "10.1.2.3".parse().unwrap(),
            len: 8
        })
    );
    assert_eq!(enc(DataType::Ipv4Prefix, &v), Ok(vec![0, 8, 10, 0, 0, 0]));
    let v = decode_attr(DataType::Ipv6Prefix, &[0, 16, 0x20, 0x01, 0xff]);
    assert_eq!(enc(DataType::Ipv6Prefix, &v), Ok(vec![0, 16, 0x20, 0x01]));
}

#[test]
fn prefixes_and_ips() {
    assert_eq!(
        parse_prefix("10.1.2.3/8"),
        Ok(IpPrefix {
            addr: "10.1.2.3".parse().unwrap(),
            len: 8
        }),
        "address kept as written"
    );
    assert_eq!(
        parse_prefix("10.0.0.0/33"),
        Err(LiteralError::PrefixTooLong { len: 33, max: 32 })
    );
    assert_eq!(
        parse_prefix("::/129"),
        Err(LiteralError::PrefixTooLong { len: 129, max: 128 })
    );
    for bad in [
        "10.0.0.0",
        "10.0.0.0/",
        "10.0.0/8",
        "10.0.0.0/-1",
        "10.0.0.0/8/8",
        "x/8",
        "10.0.0.0/0008",
    ] {
        assert!(
            matches!(parse_prefix(bad), Err(LiteralError::BadPrefix { .. })),
            "{bad}"
        );
    }
    let p = parse_prefix("10.0.0.0/8").unwrap();
    assert!(p.contains(&"10.200.0.1".parse().unwrap()));
    assert!(!p.contains(&"11.0.0.1".parse().unwrap()));
    assert!(
        parse_prefix("0.0.0.0/0")
            .unwrap()
            .contains(&"255.255.255.255".parse().unwrap())
    );
    assert!(
        !parse_prefix("::/0")
            .unwrap()
            .contains(&"1.2.3.4".parse().unwrap())
    );
    assert_eq!(IpPrefix::new("10.0.0.0".parse().unwrap(), 33), None);
}

#[test]
fn timestamps() {
    let ok: Vec<(&str, i64)> = vec![
        ("1970-01-01T00:00:00Z", 0),
        ("2024-05-01T12:00:00Z", 1_714_564_800),
        ("2024-05-01t12:00:00z", 1_714_564_800),
        ("2024-05-01 12:00:00Z", 1_714_564_800),
        ("2024-05-01T14:00:00+02:00", 1_714_564_800),
        ("2024-05-01T07:30:00-04:30", 1_714_564_800),
        ("Wed, 01 May 2024 12:00:00 +0000", 1_714_564_800),
        ("1 May 2024 12:00:00 GMT", 1_714_564_800),
        ("Wed, 01 May 2024 08:00:00 EDT", 1_714_564_800),
        ("Wed, 01 May 2024 14:00 +0200", 1_714_564_800),
        ("1969-12-31T23:59:59Z", -1),
    ];
    for (t, secs) in ok {
        let expected = if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        };
        assert_eq!(parse_timestamp(t), Ok(expected), "{t}");
    }
    assert_eq!(
        parse_timestamp("2024-05-01T12:00:00.25Z"),
        Ok(UNIX_EPOCH + Duration::from_millis(1_714_564_800_250))
    );
    for bad in [
        "",
        "2024-05-01",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00+0200",
        "Xyz, 01 May 2024 12:00:00 +0000",
        "01 Foo 2024 12:00:00 +0000",
        "now",
    ] {
        assert!(
            matches!(parse_timestamp(bad), Err(LiteralError::BadTimestamp { .. })),
            "{bad}"
        );
    }
    // Leap day accepted in a leap year.
    assert!(parse_timestamp("2024-02-29T00:00:00Z").is_ok());
    let _: SystemTime = parse_timestamp("2000-02-29T00:00:00Z").unwrap();
}

#[test]
fn integers_and_macs() {
    assert_eq!(parse_integer("42"), Some(42));
    assert_eq!(parse_integer("-7"), Some(-7));
    assert_eq!(parse_integer("+3"), Some(3));
    for bad in ["", "-", "1.0", " 1", "0x10", "1e3"] {
        assert_eq!(parse_integer(bad), None, "{bad}");
    }
    let mac = Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    for t in [
        "aa:bb:cc:dd:ee:ff",
        "AA-BB-CC-DD-EE-FF",
        "aabb.ccdd.eeff",
        "AABBCCDDEEFF",
    ] {
        assert_eq!(parse_mac(t), mac, "{t}");
    }
    for bad in [
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:ff:00",
        "aabbcc:ddeeff",
        "aa:bb:cc:dd:ee:gg",
        "a:abb:cc:dd:ee:ff",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
}
