//! A latency histogram in the style of HDR histograms: log-linear buckets with 32
//! sub-buckets per power of two (every recorded value is kept within about 3 %), fixed
//! size, no allocation per record. Values are microseconds.

use std::time::Duration;

/// Sub-buckets per power of two, as a shift: 2^5 = 32.
const SUB_BITS: u32 = 5;
/// Values below this are their own bucket.
const LINEAR: u64 = 1 << SUB_BITS;
/// Buckets for every u64 value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) << SUB_BITS;

/// Counts of values by bucket, plus the exact maximum and sum.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket a value falls into.
fn index(value: u64) -> usize {
    if value < LINEAR {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let sub = (value >> (exponent - SUB_BITS)) & (LINEAR - 1);
    (((exponent - SUB_BITS + 1) as usize) << SUB_BITS) + sub as usize
}

/// The highest value a bucket holds (what percentiles report: never optimistic).
fn upper_bound(index: usize) -> u64 {
    let linear = LINEAR as usize;
    if index < linear {
        return index as u64;
    }
    let exponent = (index >> SUB_BITS) as u32 + SUB_BITS - 1;
    let sub = (index & (linear - 1)) as u64;
    let low = (LINEAR + sub) << (exponent - SUB_BITS);
    let width = 1u64 << (exponent - SUB_BITS);
    low.saturating_add(width - 1)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
            sum: 0,
        }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.record_micros(micros);
    }

    /// Records one value in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        if let Some(slot) = self.counts.get_mut(index(micros)) {
            *slot += 1;
        }
        self.total += 1;
        self.max = self.max.max(micros);
        self.sum += u128::from(micros);
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (exact), 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0..=1): the upper bound of the bucket holding it, capped
    /// by the exact maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_bound(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_three_percent() {
        for v in [
            0u64,
            1,
            31,
            32,
            33,
            63,
            64,
            100,
            1000,
            12_345,
            1 << 40,
            u64::MAX,
        ] {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            let hi = upper_bound(i);
            assert!(hi >= v, "{v} -> {hi}");
            assert!((hi - v) as f64 <= v as f64 * 0.035 + 1.0, "{v} -> {hi}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record_micros(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1000);
        let p50 = h.quantile(0.5);
        assert!((490..=520).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((985..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1000);
        let mut other = Histogram::new();
        other.record_micros(5000);
        h.merge(&other);
        assert_eq!(h.max(), 5000);
        assert_eq!(h.count(), 1001);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        assert_eq!(h.mean(), 0.0);
    }
}
