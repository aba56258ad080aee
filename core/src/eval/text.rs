//! PLACEHOLDER text form of values (replaced at merge by the real `text.rs`).

use crate::eval::value::Value;

/// The text form of a value, as `%{}` renders it.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::None => String::new(),
        Value::Any => "any".into(),
        Value::Bool(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => {
            let mut s = String::from("0x");
            for byte in b.iter() {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
        Value::Ip(ip) => ip.to_string(),
        Value::Prefix(p) => format!("{}/{}", p.addr, p.len),
        Value::Regex(r) => format!("/{}/", r.source),
        Value::List(items) => items.iter().map(to_text).collect::<Vec<_>>().join(","),
        Value::Error(e) => e.message.clone(),
        other => format!("{other:?}"),
    }
}
