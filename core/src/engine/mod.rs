//! The server state machine (scaffold: replaced by the engine's own module file at merge).

pub mod backoff;
pub mod outbound;
pub mod time;
