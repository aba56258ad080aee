//! The dialer's timers: an ordered map from (deadline, sequence) to what
//! fires. Every owner keeps the key of its timer and cancels it when the timer is no
//! longer wanted, so no stale timer outlives the work it belonged to.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::contract::ConnId;

/// The identity of one armed timer: its deadline and a sequence number that keeps
/// timers with the same deadline in the order they were armed.
pub(super) type TimerKey = (Instant, u64);

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

/// Armed timers in firing order.
#[derive(Debug, Default)]
pub(super) struct Timers {
    map: BTreeMap<TimerKey, Timer>,
    seq: u64,
}

impl Timers {
    /// Arm a timer.
    pub(super) fn set(&mut self, at: Instant, timer: Timer) -> TimerKey {
        self.seq = self.seq.wrapping_add(1);
        let key = (at, self.seq);
        self.map.insert(key, timer);
        key
    }

    /// Disarm a timer (nothing happens if it already fired).
    pub(super) fn cancel(&mut self, key: Option<TimerKey>) {
        if let Some(key) = key {
            self.map.remove(&key);
        }
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.map.keys().next().map(|(at, _)| *at)
    }

    /// Remove and return the earliest timer due at or before `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(TimerKey, Timer)> {
        let (&key, _) = self.map.iter().next()?;
        if key.0 > now {
            return None;
        }
        let timer = self.map.remove(&key)?;
        Some((key, timer))
    }

    /// How many timers are armed.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// How many armed timers satisfy `pred`.
    pub(super) fn count(&self, pred: impl Fn(&Timer) -> bool) -> usize {
        self.map.values().filter(|t| pred(t)).count()
    }

    /// Whether `key` is armed and is `timer`.
    pub(super) fn is(&self, key: TimerKey, timer: Timer) -> bool {
        self.map.get(&key) == Some(&timer)
    }
}
