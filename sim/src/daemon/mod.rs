//! Worlds that run the daemon itself: the same [`Driver`](boomerang_io_tokio::driver::Driver)
//! `boomerang run` runs, with real TLS, on turmoil's simulated network and clock, facing
//! fleets of simulated NAS devices and trigger senders while a seeded fault schedule plays.
//! See `docs/simulation.md`.

pub mod config;
pub mod ledger;
pub mod nas;
pub mod trigger;
pub mod world;
