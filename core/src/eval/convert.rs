//! PLACEHOLDER wire-value conversion (replaced at merge by the real `convert.rs`).

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;

use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::value::Value;
use crate::radius::id::DataType;

/// Decode an attribute's wire octets into a typed value.
pub fn decode_attr(dt: DataType, raw: &[u8]) -> Value {
    match dt {
        DataType::String => Value::String(String::from_utf8_lossy(raw).into_owned()),
        DataType::Integer | DataType::Date if raw.len() == 4 => {
            Value::Integer(i128::from(u32::from_be_bytes([
                raw[0], raw[1], raw[2], raw[3],
            ])))
        }
        DataType::Ipv4Addr if raw.len() == 4 => {
            Value::Ip(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])))
        }
        _ => Value::Bytes(Bytes::copy_from_slice(raw)),
    }
}

/// Encode a value into an attribute's wire octets.
pub fn encode_attr(
    dt: DataType,
    v: &Value,
    named: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u8>, ErrorValue> {
    let bad = || {
        ErrorValue::new(
            ErrorCode::InvalidValue,
            format!("cannot encode {v:?} as {dt:?}"),
        )
    };
    match (dt, v) {
        (DataType::String | DataType::Octets, Value::String(s)) => Ok(s.as_bytes().to_vec()),
        (DataType::Octets | DataType::String, Value::Bytes(b)) => Ok(b.to_vec()),
        (DataType::Integer | DataType::Date, Value::Integer(i)) => u32::try_from(*i)
            .map(|n| n.to_be_bytes().to_vec())
            .map_err(|_| bad()),
        (DataType::Integer, Value::String(s)) => {
            named(s).map(|n| n.to_be_bytes().to_vec()).ok_or_else(bad)
        }
        (DataType::Ipv4Addr, Value::Ip(IpAddr::V4(a))) => Ok(a.octets().to_vec()),
        _ => Err(bad()),
    }
}
