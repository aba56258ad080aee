//! PLACEHOLDER filters (replaced at merge by the real `filters.rs`): only `lowercase`.

use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::value::Value;
use crate::radius::id::AttrId;

/// What filters may look up while running (attribute names for `remove()`/`select()`).
pub trait FilterEnv {
    /// The identity of the attribute with this dictionary name.
    fn attr_id(&self, name: &str) -> Option<AttrId>;
}

/// Apply the filter `name` with `args` to `input`; failures travel as error values.
pub fn apply_filter(name: &str, args: &[Value], input: Value, env: &dyn FilterEnv) -> Value {
    let _ = (args, env);
    match (name, input) {
        (_, Value::Error(e)) => Value::Error(e),
        ("lowercase", Value::String(s)) => Value::String(s.to_lowercase()),
        (name, _) => Value::Error(ErrorValue::new(
            ErrorCode::InvalidValue,
            format!("placeholder filter {name} not implemented"),
        )),
    }
}
