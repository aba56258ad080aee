//! Deterministic simulation of Boomerang.
//!
//! Two tiers: `core_sim` drives the sans-IO engine and thousands of simulated NAS on an
//! in-memory network with a virtual clock (see `docs/architecture.md`); the turmoil half
//! (this crate's `net`, `seed`, `trace`, `fault`, `harness` and `pki`
//! modules) runs the real driver — sockets, TLS, timers — on turmoil's simulated network and
//! virtual clock, with one master seed driving everything, so that any failing run can be
//! replayed with `SIM_SEED=<n>`. See `docs/simulation.md`.

#![forbid(unsafe_code)]

pub mod core_sim;
pub mod daemon;
pub mod fault;
pub mod harness;
pub mod net;
pub mod pki;
pub mod seed;
pub mod trace;
