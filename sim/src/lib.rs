//! Deterministic simulation of Boomerang.

#![forbid(unsafe_code)]

pub mod core_sim;
