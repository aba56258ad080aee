//! Deterministic simulation of Boomerang.

#![forbid(unsafe_code)]
