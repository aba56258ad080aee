//! The vocabulary the driver and the core share: one type per concept.
//!
//! The driver (`boomerang-io-tokio`, or a simulator) owns every socket, clock and
//! database; the engine owns every decision. They speak only through what this
//! module defines:
//!
//! * [`Input`]: what happened (a datagram arrived, a stream was accepted or dialed,
//!   bytes arrived, a stream closed, an HTTP request arrived, an SQL statement
//!   finished);
//! * [`Output`]: what to do (send, write, close, connect, answer, run a statement,
//!   log): commands, drained with `Engine::poll_output`;
//! * [`Event`]: what the engine observed, for metrics only (a packet dropped and
//!   why, a request answered or not, a backend request finished, a NAS-Identifier
//!   claim refused), drained with `Engine::poll_event`;
//! * the names both sides use for things: [`ConnId`], [`ServerRef`], [`Transport`],
//!   [`CloseReason`], [`SqlRows`], …
//!
//! Nothing here depends on the engine, so the engine's parts and the driver can
//! import it without import cycles.

mod bus;
mod close;
mod event;
mod gauges;
mod ids;
mod input;
mod outcome;
mod output;
mod reload;
mod sql;
mod transport;

pub use bus::BusTarget;
pub use close::CloseReason;
pub use event::{DropReason, Event, ForwardEnd, ForwardSide, NasIdentifierClaim, ReverseStep};
pub use gauges::{BackendGauges, BackendLoad};
pub use ids::{AttemptId, ConnId, EffectId, HttpRequestId, ServerId, ServerRef, Target};
pub use input::{HttpRequest, Input};
pub use outcome::{BackendOutcome, Unanswered};
pub use output::{LogLine, Output, REMOVED_BACKEND, Severity};
pub use reload::{ReloadError, Reloaded};
pub use sql::SqlRows;
pub use transport::{Transport, UnknownTransport};
