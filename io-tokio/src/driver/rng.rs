//! Randomness for the engine: the operating system's CSPRNG behind the core's
//! [`RandomSource`] trait. Request Authenticators of the CoA and Disconnect requests we
//! send must be unpredictable (RFC 2865 §3), so no seeded PRNG is used in the daemon.

use boomerang_core::rng::{RandomSource, SplitMix64};
use ring::rand::{SecureRandom, SystemRandom};

/// The OS random source (`getrandom(2)` through ring).
///
/// Should the OS source ever fail (it does not on supported platforms once the
/// kernel pool is initialised), bytes come from a SplitMix64 seeded from the
/// time and process id, and a warning is logged once: the process keeps serving
/// rather than aborting.
#[derive(Debug)]
pub struct OsRandom {
    system: SystemRandom,
    fallback: Option<SplitMix64>,
}

impl OsRandom {
    /// A source reading the operating system's CSPRNG.
    pub fn new() -> OsRandom {
        OsRandom {
            system: SystemRandom::new(),
            fallback: None,
        }
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        if self.fallback.is_none() && self.system.fill(buf).is_ok() {
            return;
        }
        let fallback = self.fallback.get_or_insert_with(|| {
            tracing::warn!("the OS random source failed; using a time-seeded generator");
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            SplitMix64::new(nanos ^ u64::from(std::process::id()).rotate_left(32))
        });
        fallback.fill(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_fills_different_bytes_each_time() {
        let mut rng = OsRandom::new();
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        rng.fill(&mut a);
        rng.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 16]);
    }
}
