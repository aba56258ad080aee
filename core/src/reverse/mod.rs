//! Reverse dynamic authorization: identifier pools, and (in the engine work) the
//! connection registry and `@select` evaluation over it.

pub mod ids;
