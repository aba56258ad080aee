//! The event trace of a simulated world and its stable hash.
//!
//! Every host of a world records what it does (sends, receives, handshakes, faults) with the
//! virtual time it happened at. Two runs of the same seed must produce the same trace; the
//! determinism self-check compares the hashes of two runs and, when they differ, the first
//! event where they part. The hash is FNV-1a 64 over a fixed encoding, so it is the same in
//! every process, on every machine and every build (no `RandomState`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// 64-bit FNV-1a: a tiny, keyless, stable hash. Not collision resistant against an adversary,
/// which a determinism check does not need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a64 {
    state: u64,
}

impl Fnv1a64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A hasher in its initial state.
    pub const fn new() -> Self {
        Self {
            state: Self::OFFSET_BASIS,
        }
    }

    /// Feed `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state ^= u64::from(b);
            self.state = self.state.wrapping_mul(Self::PRIME);
        }
    }

    /// The hash of everything fed so far.
    pub const fn finish(&self) -> u64 {
        self.state
    }

    /// The hash of `bytes` alone.
    pub fn hash(bytes: &[u8]) -> u64 {
        let mut h = Self::new();
        h.write(bytes);
        h.finish()
    }
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self::new()
    }
}

/// One recorded event: when (virtual time since the simulation started) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// What happened, as text (include the host name when it matters).
    pub what: String,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>10.3}s {}", self.at.as_secs_f64(), self.what)
    }
}

/// Where two traces first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the first differing event.
    pub index: usize,
    /// The event of the first trace at that index (`None` when it is shorter).
    pub left: Option<TraceEvent>,
    /// The event of the second trace at that index (`None` when it is shorter).
    pub right: Option<TraceEvent>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &Option<TraceEvent>| match e {
            Some(e) => e.to_string(),
            None => "<end of trace>".to_string(),
        };
        write!(
            f,
            "traces differ at event #{}:\n  first run:  {}\n  second run: {}",
            self.index,
            show(&self.left),
            show(&self.right)
        )
    }
}

#[derive(Debug, Default)]
struct Inner {
    events: Vec<TraceEvent>,
    hash: Fnv1a64,
    first_violation: Option<(Duration, String)>,
}

/// A shared, append-only event trace. Clones record into the same trace, so one can be handed
/// to every host of a world. All hosts of a turmoil world run on one thread, so the order of
/// records is the order of execution.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    inner: Arc<Mutex<Inner>>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that
        // matters (the test is failing anyway), so a poisoned lock is simply taken over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `what` at the current virtual time of the calling turmoil host (zero outside a
    /// simulation).
    pub fn record(&self, what: impl Into<String>) {
        let at = turmoil::sim_elapsed().unwrap_or_default();
        self.record_at(at, what);
    }

    /// Record `what` at virtual time `at` (used by the world driver, which runs outside any
    /// host and reads the time from the `Sim`).
    pub fn record_at(&self, at: Duration, what: impl Into<String>) {
        let what = what.into();
        let mut inner = self.lock();
        // Fixed encoding: time in nanoseconds (16 bytes LE), text length (8 bytes LE), text.
        inner.hash.write(&at.as_nanos().to_le_bytes());
        inner.hash.write(&(what.len() as u64).to_le_bytes());
        inner.hash.write(what.as_bytes());
        inner.events.push(TraceEvent { at, what });
    }

    /// Report an invariant violation: it is recorded as an event (`VIOLATION: …`) and the
    /// world driver fails the run after the current step. Use this from spawned tasks, whose
    /// panics turmoil does not see.
    pub fn violation(&self, what: impl Into<String>) {
        let what = what.into();
        let at = turmoil::sim_elapsed().unwrap_or_default();
        self.record_at(at, format!("VIOLATION: {what}"));
        let mut inner = self.lock();
        if inner.first_violation.is_none() {
            inner.first_violation = Some((at, what));
        }
    }

    /// The first violation reported, with its virtual time.
    pub fn first_violation(&self) -> Option<(Duration, String)> {
        self.lock().first_violation.clone()
    }

    /// The stable hash of every event recorded so far, in order.
    pub fn hash(&self) -> u64 {
        self.lock().hash.finish()
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the recorded events.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.lock().events.clone()
    }

    /// Whether some recorded event's text contains `needle` (handy for a driver that waits
    /// for a host to reach a point before injecting a fault).
    pub fn contains(&self, needle: &str) -> bool {
        self.lock().events.iter().any(|e| e.what.contains(needle))
    }

    /// How many recorded events' texts contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lock()
            .events
            .iter()
            .filter(|e| e.what.contains(needle))
            .count()
    }

    /// Where this trace and `other` first differ, or `None` when they are identical.
    pub fn first_divergence(&self, other: &Trace) -> Option<Divergence> {
        let left = self.events();
        let right = other.events();
        let n = left.len().max(right.len());
        (0..n).find_map(|index| {
            let (l, r) = (left.get(index), right.get(index));
            (l != r).then(|| Divergence {
                index,
                left: l.cloned(),
                right: r.cloned(),
            })
        })
    }

    /// The whole trace as text, one event per line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in self.lock().events.iter() {
            out.push_str(&e.to_string());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_published_vectors() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(Fnv1a64::hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a64::hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a64::hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_covers_time_text_and_order() {
        let trace = |events: &[(u64, &str)]| {
            let t = Trace::new();
            for &(ms, what) in events {
                t.record_at(Duration::from_millis(ms), what);
            }
            t
        };
        let base = trace(&[(10, "a"), (20, "b")]);
        assert_eq!(base.hash(), trace(&[(10, "a"), (20, "b")]).hash());
        assert_ne!(base.hash(), trace(&[(10, "a"), (21, "b")]).hash());
        assert_ne!(base.hash(), trace(&[(10, "a"), (20, "c")]).hash());
        assert_ne!(base.hash(), trace(&[(20, "b"), (10, "a")]).hash());
        // Length prefix: moving a boundary between events changes the hash.
        assert_ne!(
            trace(&[(0, "ab"), (0, "c")]).hash(),
            trace(&[(0, "a"), (0, "bc")]).hash()
        );
        assert!(
            base.first_divergence(&trace(&[(10, "a"), (20, "b")]))
                .is_none()
        );
        let d = base.first_divergence(&trace(&[(10, "a")])).unwrap();
        assert_eq!(d.index, 1);
        assert!(d.right.is_none());
        assert!(d.to_string().contains("<end of trace>"));
    }
}
