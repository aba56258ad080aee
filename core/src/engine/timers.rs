//! The engine's own timers (idle timeouts; the deadlines of requests to peers are
//! the peer machines', [`crate::peer`]): an ordered map from deadline to what
//! happens then.
//!
//! Keys are `(deadline, sequence)`, so two timers at the same instant fire in the
//! order they were set, and a timer is cancelled by removing its key.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::contract::ConnId;

/// A timer's key: cancel it with [`Timers::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    at: Instant,
    seq: u64,
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Check a stream connection's idle timeout (re-armed if it saw traffic).
    Idle(ConnId),
}

/// Pending timers in deadline order.
#[derive(Debug, Default)]
pub struct Timers {
    map: BTreeMap<TimerKey, TimerKind>,
    seq: u64,
}

impl Timers {
    /// Set a timer.
    pub fn add(&mut self, at: Instant, kind: TimerKind) -> TimerKey {
        self.seq += 1;
        let key = TimerKey { at, seq: self.seq };
        self.map.insert(key, kind);
        key
    }

    /// Cancel a timer (no effect if it already fired).
    pub fn cancel(&mut self, key: TimerKey) {
        self.map.remove(&key);
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.map.keys().next().map(|k| k.at)
    }

    /// Remove and return the earliest timer due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerKind> {
        let key = *self.map.keys().next()?;
        if key.at > now {
            return None;
        }
        self.map.remove(&key)
    }

    /// How many timers are set.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no timer is set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
