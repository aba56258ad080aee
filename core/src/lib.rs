//! Boomerang's sans-IO core.
//!
//! Everything here is deterministic: no sockets, no clock, no OS randomness, no files.
//! Time and randomness are passed in by the driver (`boomerang-io-tokio`) or by the
//! simulator (`boomerang-sim`), which is what makes every run replayable.

#![forbid(unsafe_code)]

pub mod cluster;
pub mod contract;
pub mod engine;
pub mod eval;
pub mod fuzzing;
pub mod lang;
pub mod peer;
pub mod radius;
pub mod reverse;
pub mod rng;
pub mod testnet;
pub mod timers;
