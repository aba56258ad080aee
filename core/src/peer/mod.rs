//! Peers: one RADIUS request machine per transport endpoint we send requests to —
//! a NAS on an accepted connection (reverse requests), a server on a dialed
//! connection or a UDP socket (`connect` backends) — like quinn's `Connection`.
//!
//! A [`Peer`] allocates identifiers (a bounded FIFO queue when all are in use),
//! signs, times out, protects against late replies, retransmits datagrams, matches
//! and verifies replies, carries the liveness probe, and says what became of each
//! request when its endpoint closes, as typed [`Event`]s. [`Peers`] keeps many of
//! them with a deadline index. Choosing *which* peer a request goes to is the
//! owner's business (`@select`, server selection); nothing here knows the engine.

pub mod event;
pub mod ids;
pub mod machine;
pub mod set;
pub mod sign;

pub use event::{Event, Failure};
pub use machine::{Peer, PeerConfig, Refused, Request, STATUS_SERVER_ID, Submitted};
pub use set::Peers;
