//! Timers of a machine that owns its own deadlines (the engine's idle timeouts,
//! the dialer's reconnects, watchdogs and queued requests): an ordered map from
//! `(deadline, sequence)` to what happens then. The deadlines of requests to peers
//! are the peer machines' ([`crate::peer`]), not these.
//!
//! Two timers at the same instant fire in the order they were set. Whoever sets a
//! timer keeps its [`TimerKey`] and cancels it when the work it belonged to ends,
//! so no stale timer outlives that work.

use std::collections::BTreeMap;
use std::time::Instant;

/// One set timer: cancel it with [`Timers::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    at: Instant,
    seq: u64,
}

/// Set timers in firing order, each with what it does (`T`).
#[derive(Debug)]
pub struct Timers<T> {
    map: BTreeMap<TimerKey, T>,
    seq: u64,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<T> Timers<T> {
    /// Set a timer that does `what` at `at`.
    pub fn set(&mut self, at: Instant, what: T) -> TimerKey {
        self.seq = self.seq.wrapping_add(1);
        let key = TimerKey { at, seq: self.seq };
        self.map.insert(key, what);
        key
    }

    /// Cancel a timer, if there is one (nothing happens if it already fired).
    pub fn cancel(&mut self, key: impl Into<Option<TimerKey>>) {
        if let Some(key) = key.into() {
            self.map.remove(&key);
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.map.keys().next().map(|k| k.at)
    }

    /// Remove and return the earliest timer due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let entry = self.map.first_entry()?;
        if entry.key().at > now {
            return None;
        }
        Some(entry.remove())
    }

    /// What the timer `key` does, while it is set.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.map.get(&key)
    }

    /// How many timers are set.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no timer is set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many set timers satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&T) -> bool) -> usize {
        self.map.values().filter(|t| pred(t)).count()
    }
}
