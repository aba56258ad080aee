//! What the dialer's timers ([`crate::timers::Timers`]) do when they fire, and
//! the keys they name: a request in the pending table, a link.

use crate::contract::ConnId;

/// A request's key in the pending table.
pub(super) type ReqKey = u64;

/// Where a Status-Server probe travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Link {
    /// A stream connection.
    Conn(ConnId),
    /// The socket of the UDP server with this slot.
    Udp(usize),
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The backoff of the server in this slot has elapsed.
    Reconnect(usize),
    /// The connection attempt of the server in this slot took too long.
    ConnectTimeout(usize),
    /// The next Status-Server probe is due.
    StatusDue(Link),
    /// A queued request's deadline (in flight, its peer machine times it).
    Request(ReqKey),
}
