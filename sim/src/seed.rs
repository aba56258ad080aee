//! Seeds: one master seed per world, the sub-seeds derived from it, and which master seeds a
//! test runs (one replayed seed, a fixed count, or as many as fit a wall-clock budget).
//!
//! Environment variables read by [`SeedPlan::from_env`]:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `SIM_SEED=<n>` | replay exactly this master seed (decimal or `0x` hex) |
//! | `SIM_SEEDS=<N>` | run N consecutive seeds starting at the base |
//! | `SIM_BUDGET_SECS=<S>` | run consecutive seeds from the base until S wall-clock seconds are spent |
//! | `SIM_BASE_SEED=<n>` | the base for `SIM_SEEDS` / `SIM_BUDGET_SECS` (default: drawn at random and printed) |
//!
//! With none of them set a test runs its own fixed smoke set, so `cargo nextest run` is
//! reproducible by default.

use std::fmt;
use std::time::Duration;

use boomerang_core::rng::SplitMix64;

use crate::trace::Fnv1a64;

/// The independent random streams of one world, each derived from the master seed.
///
/// Streams are derived by label, not by position, so adding a stream later does not change
/// the existing ones (old failing seeds keep replaying the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    /// The master seed everything is derived from; this is what gets printed and replayed.
    pub master: u64,
    /// turmoil's own RNG: message latencies, random link failures, host order.
    pub turmoil: u64,
    /// The workload: which NAS sends what, when.
    pub workload: u64,
    /// The fault schedule.
    pub faults: u64,
    /// The engine's injected random source (authenticators, identifiers, …).
    pub engine: u64,
}

impl Seeds {
    /// Derive every stream from `master`.
    pub fn derive(master: u64) -> Self {
        Self {
            master,
            turmoil: sub_seed(master, "turmoil"),
            workload: sub_seed(master, "workload"),
            faults: sub_seed(master, "faults"),
            engine: sub_seed(master, "engine"),
        }
    }
}

/// The sub-seed named `label` of `master`: SplitMix64 seeded with the master seed mixed with
/// the label's FNV-1a hash. Stable across processes and builds.
pub fn sub_seed(master: u64, label: &str) -> u64 {
    let mut mix = SplitMix64::new(master ^ Fnv1a64::hash(label.as_bytes()));
    // Two draws so that masters differing in one bit do not give related first outputs of
    // neighbouring labels.
    mix.next_u64();
    mix.next_u64()
}

/// A master seed or count in an environment variable could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedPlanError {
    /// The value is not a number (decimal, or hex with `0x`).
    #[error("{var}={value:?} is not a number (use decimal or 0x-prefixed hex)")]
    NotANumber {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `SIM_SEEDS=0` or `SIM_BUDGET_SECS=0` would run nothing and pass silently.
    #[error("{var}=0 would run no seed")]
    Zero {
        /// The variable.
        var: &'static str,
    },
}

/// Which master seeds a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedPlan {
    /// Exactly one seed (`SIM_SEED`).
    Replay(u64),
    /// `count` consecutive seeds starting at `base`.
    Count {
        /// The first seed.
        base: u64,
        /// How many.
        count: u64,
    },
    /// Consecutive seeds starting at `base` until `budget` of wall-clock time is spent
    /// (always at least one).
    Budget {
        /// The first seed.
        base: u64,
        /// Wall-clock time to spend.
        budget: Duration,
    },
}

/// The base seed of a test's default smoke set when no variable is set.
pub const DEFAULT_BASE_SEED: u64 = 0x5EED_0000;

impl SeedPlan {
    /// The plan from the process environment; `default_count` seeds from
    /// [`DEFAULT_BASE_SEED`] when nothing is set.
    pub fn from_env(default_count: u64) -> Result<Self, SeedPlanError> {
        Self::from_vars(|name| std::env::var(name).ok(), default_count, random_base)
    }

    /// The plan from variables read through `var`, with `random_base` called only when a sweep
    /// has no `SIM_BASE_SEED`. Split out of [`SeedPlan::from_env`] so it can be tested without
    /// touching the process environment.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        default_count: u64,
        random_base: impl FnOnce() -> u64,
    ) -> Result<Self, SeedPlanError> {
        let get = |name: &'static str| -> Result<Option<u64>, SeedPlanError> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => parse_seed(&v).map(Some).ok_or(SeedPlanError::NotANumber {
                    var: name,
                    value: v,
                }),
            }
        };
        if let Some(seed) = get("SIM_SEED")? {
            return Ok(SeedPlan::Replay(seed));
        }
        let budget = get("SIM_BUDGET_SECS")?;
        let count = get("SIM_SEEDS")?;
        if budget.is_none() && count.is_none() {
            return Ok(SeedPlan::Count {
                base: DEFAULT_BASE_SEED,
                count: default_count.max(1),
            });
        }
        let base = match get("SIM_BASE_SEED")? {
            Some(base) => base,
            None => random_base(),
        };
        match (budget, count) {
            (Some(0), _) => Err(SeedPlanError::Zero {
                var: "SIM_BUDGET_SECS",
            }),
            (Some(secs), _) => Ok(SeedPlan::Budget {
                base,
                budget: Duration::from_secs(secs),
            }),
            (None, Some(0)) => Err(SeedPlanError::Zero { var: "SIM_SEEDS" }),
            (None, Some(count)) => Ok(SeedPlan::Count { base, count }),
            (None, None) => Ok(SeedPlan::Count {
                base: DEFAULT_BASE_SEED,
                count: default_count.max(1),
            }),
        }
    }

    /// The first seed.
    pub fn base(&self) -> u64 {
        match *self {
            SeedPlan::Replay(seed) => seed,
            SeedPlan::Count { base, .. } | SeedPlan::Budget { base, .. } => base,
        }
    }

    /// The `index`-th seed of the plan (seeds are consecutive from the base).
    pub fn seed_at(&self, index: u64) -> u64 {
        self.base().wrapping_add(index)
    }
}

impl fmt::Display for SeedPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SeedPlan::Replay(seed) => write!(f, "replaying SIM_SEED={seed}"),
            SeedPlan::Count { base, count } => {
                write!(f, "{count} seed(s) from SIM_BASE_SEED={base}")
            }
            SeedPlan::Budget { base, budget } => write!(
                f,
                "seeds from SIM_BASE_SEED={base} for SIM_BUDGET_SECS={}",
                budget.as_secs()
            ),
        }
    }
}

/// Parse a seed written in decimal or as `0x` hex (underscores allowed).
pub fn parse_seed(text: &str) -> Option<u64> {
    let t: String = text.trim().chars().filter(|&c| c != '_').collect();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// A base for a sweep nobody gave one for. This is the one place the harness reads the real
/// clock: it only picks which seeds to explore, and it is printed so the sweep can be rerun.
fn random_base() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut mix = SplitMix64::new((nanos as u64) ^ u64::from(std::process::id()));
    mix.next_u64()
}

/// The copy-paste line that replays `seed` of test `test` (its function name, which nextest
/// matches as a filter).
pub fn repro_line(seed: u64, test: &str) -> String {
    format!("SIM_SEED={seed} cargo nextest run -p boomerang-sim {test}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_seeds_are_stable_and_distinct() {
        let s = Seeds::derive(42);
        assert_eq!(s, Seeds::derive(42));
        let all = [s.turmoil, s.workload, s.faults, s.engine];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(Seeds::derive(43).turmoil, s.turmoil);
        assert_ne!(sub_seed(0, "turmoil"), sub_seed(0, "workload"));
    }
}
