//! One test network for the engine: engines and simulated peers on a virtual
//! clock, the test driver every engine test and the core simulation share.
//!
//! The engine is sans-IO; something must play the driver around it in tests. This
//! module is that driver, written once (like quinn-proto's test `Pair`): a
//! [`Net`] holds one or more engines and the peers they talk to — simulated NASes
//! on stream connections ([`Nas`]), UDP trigger senders that retransmit like
//! radclient ([`UdpSenders`]), an HTTP client ([`HttpClient`]), an SQL responder
//! ([`SqlResponder`]), RADIUS servers for `connect` backends ([`Upstream`]) — and
//! steps all of them to the earliest wake-up. Every engine output is carried out
//! in one place (`Net::dispatch`); an [`Observer`] sees each one first, and
//! [`Net::record`] keeps them for tests that check a sequence.
//!
//! It is compiled always (like [`crate::fuzzing`]) so that the tests, the
//! simulator crate and later drivers share it; it reads no clock and no OS
//! randomness (the test hands in the base instant and seeds). Errors are values
//! ([`NetError`]); it panics only on test misuse, with a message that says so.

pub mod bus;
pub mod clock;
pub mod http;
pub mod nas;
pub mod net;
pub mod node;
pub mod observer;
pub mod peers;
pub mod record;
pub mod sched;
pub mod sql;
pub mod trigger;
pub mod upstream;

pub use bus::{Member, SimBus};
pub use clock::Clock;
pub use http::HttpClient;
pub use nas::{Nas, NasMode};
pub use net::{NasSpec, Net, NetError, Step, Timing, target_addr};
pub use node::NodeId;
pub use observer::{Ctx, Observer};
pub use record::{Passed, Record, Reported};
pub use sql::{SqlFn, SqlResponder};
pub use trigger::{Retransmit, UdpReply, UdpSenders, seeded_request, signed_request};
pub use upstream::{Upstream, UpstreamMode};
