//! Fault schedules: network and host failures at chosen virtual times, drawn from a seed.
//!
//! A schedule is a list of *episodes* — a fault and, for most kinds, the matching heal — that
//! follow one another without overlapping, all inside `[start, heal_by]`. After `heal_by` the
//! world is whole again, which leaves a quiet period in which liveness can be checked (every
//! NAS reconnects, every request succeeds).
//!
//! What turmoil's faults mean for the driver (see `docs/simulation.md`):
//! - TCP has no retransmission in turmoil: a segment dropped by a partition is lost for good
//!   and the stream stalls silently. Partitions exercise application-level timeouts and
//!   watchdogs, which is what a real network's long outage does too.
//! - Random link failure ([`Fault::LinkFailRate`]) breaks TCP streams, so it is drawn only for
//!   links listed as UDP-only in [`FaultSpace::udp_links`].
//! - Only turmoil *hosts* can be crashed or bounced, never clients.
//! - A hung NAS ([`NasHang`]) is not a turmoil fault: turmoil cannot stop a process, so the
//!   NAS host plays it (see `daemon::nas`).

use std::fmt;
use std::time::Duration;

use boomerang_core::rng::SplitMix64;
use turmoil::Sim;

/// A NAS that hangs at virtual time `at`: its software stops reading and answering on
/// its current connection without closing it (a SIGSTOPped process, a wedged box, a NAT
/// that dropped its state without a reset), and the NAS comes back on a new connection
/// while the hung one stays open on the server. The server must notice (liveness probe)
/// and reach the NAS through its new connection within the documented bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NasHang {
    /// The NAS-Identifier of the NAS that hangs.
    pub nas: String,
    /// When (virtual time since the world started).
    pub at: Duration,
}

/// One change to the simulated world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Drop everything between `a` and `b`, both ways (in-flight messages included).
    Partition {
        /// One host.
        a: String,
        /// The other host.
        b: String,
    },
    /// Undo a [`Fault::Partition`].
    Repair {
        /// One host.
        a: String,
        /// The other host.
        b: String,
    },
    /// Drop everything sent from `from` to `to`; the other direction still works.
    PartitionOneway {
        /// The sender whose messages are lost.
        from: String,
        /// The receiver.
        to: String,
    },
    /// Undo a [`Fault::PartitionOneway`].
    RepairOneway {
        /// The sender.
        from: String,
        /// The receiver.
        to: String,
    },
    /// Queue everything between `a` and `b` (delay without loss).
    Hold {
        /// One host.
        a: String,
        /// The other host.
        b: String,
    },
    /// Deliver what a [`Fault::Hold`] queued, and resume normal delivery.
    Release {
        /// One host.
        a: String,
        /// The other host.
        b: String,
    },
    /// Stop a host's software (all its tasks and sockets are dropped).
    Crash {
        /// The host.
        host: String,
    },
    /// Restart a host's software from its factory (after a crash, or right away).
    Bounce {
        /// The host.
        host: String,
    },
    /// Random failure of the link between `a` and `b`: each message breaks the link with
    /// this probability (parts per million) and turmoil repairs it on a later message.
    /// Use on UDP-only links: it breaks TCP streams.
    LinkFailRate {
        /// One host.
        a: String,
        /// The other host.
        b: String,
        /// Probability per message, in parts per million (0 turns loss off).
        ppm: u32,
    },
    /// Fixed latency on the link between `a` and `b` (a latency spike).
    LinkLatency {
        /// One host.
        a: String,
        /// The other host.
        b: String,
        /// The latency every message gets.
        latency: Duration,
    },
    /// Give the link between `a` and `b` the latency range `min..=max` again.
    RestoreLatency {
        /// One host.
        a: String,
        /// The other host.
        b: String,
        /// Smallest latency.
        min: Duration,
        /// Largest latency.
        max: Duration,
    },
}

impl Fault {
    /// Apply the fault to `sim` now. Host names must be registered in `sim` (turmoil panics
    /// on an unknown name), and crashed or bounced hosts must be hosts, not clients.
    pub fn apply(&self, sim: &mut Sim<'_>) {
        match self {
            Fault::Partition { a, b } => sim.partition(a.as_str(), b.as_str()),
            Fault::Repair { a, b } => sim.repair(a.as_str(), b.as_str()),
            Fault::PartitionOneway { from, to } => sim.partition_oneway(from.as_str(), to.as_str()),
            Fault::RepairOneway { from, to } => sim.repair_oneway(from.as_str(), to.as_str()),
            Fault::Hold { a, b } => sim.hold(a.as_str(), b.as_str()),
            Fault::Release { a, b } => sim.release(a.as_str(), b.as_str()),
            Fault::Crash { host } => sim.crash(host.as_str()),
            Fault::Bounce { host } => sim.bounce(host.as_str()),
            Fault::LinkFailRate { a, b, ppm } => {
                sim.set_link_fail_rate(a.as_str(), b.as_str(), f64::from(*ppm) / 1_000_000.0);
            }
            Fault::LinkLatency { a, b, latency } => {
                sim.set_link_latency(a.as_str(), b.as_str(), *latency);
            }
            Fault::RestoreLatency { a, b, min, max } => {
                // `set_link_latency` sets both ends of the range; then widen the top.
                sim.set_link_latency(a.as_str(), b.as_str(), *min);
                sim.set_link_max_message_latency(a.as_str(), b.as_str(), *max);
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { a, b } => write!(f, "partition {a} <-> {b}"),
            Fault::Repair { a, b } => write!(f, "repair {a} <-> {b}"),
            Fault::PartitionOneway { from, to } => write!(f, "partition {from} -> {to}"),
            Fault::RepairOneway { from, to } => write!(f, "repair {from} -> {to}"),
            Fault::Hold { a, b } => write!(f, "hold {a} <-> {b}"),
            Fault::Release { a, b } => write!(f, "release {a} <-> {b}"),
            Fault::Crash { host } => write!(f, "crash {host}"),
            Fault::Bounce { host } => write!(f, "bounce {host}"),
            Fault::LinkFailRate { a, b, ppm } => write!(f, "fail-rate {a} <-> {b} {ppm}ppm"),
            Fault::LinkLatency { a, b, latency } => {
                write!(f, "latency {a} <-> {b} {}ms", latency.as_millis())
            }
            Fault::RestoreLatency { a, b, min, max } => write!(
                f,
                "latency {a} <-> {b} {}..={}ms",
                min.as_millis(),
                max.as_millis()
            ),
        }
    }
}

/// A fault at a virtual time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledFault {
    /// Virtual time since the start of the simulation at which to apply it.
    pub at: Duration,
    /// The fault.
    pub fault: Fault,
}

/// The kinds of episode a schedule may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EpisodeKind {
    /// Partition both ways, then repair.
    Partition,
    /// Partition one way (random direction), then repair that way.
    PartitionOneway,
    /// Hold, then release.
    Hold,
    /// Crash a host, then bounce it (restart).
    CrashRestart,
    /// Bounce a host right away (no outage).
    Bounce,
    /// Random loss on a UDP-only link, then loss off.
    UdpLoss,
    /// A fixed high latency on a link, then the normal range again.
    LatencySpike,
}

impl EpisodeKind {
    /// Every kind.
    pub const ALL: [EpisodeKind; 7] = [
        EpisodeKind::Partition,
        EpisodeKind::PartitionOneway,
        EpisodeKind::Hold,
        EpisodeKind::CrashRestart,
        EpisodeKind::Bounce,
        EpisodeKind::UdpLoss,
        EpisodeKind::LatencySpike,
    ];
}

/// What a schedule may do, and within which bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpace {
    /// Host pairs whose link may be partitioned, held or slowed.
    pub links: Vec<(String, String)>,
    /// Host pairs that carry only UDP, whose link may lose messages at random.
    pub udp_links: Vec<(String, String)>,
    /// Hosts (not clients) that may be crashed and restarted.
    pub crashable: Vec<String>,
    /// Kinds of episode allowed (those whose targets are empty are skipped).
    pub kinds: Vec<EpisodeKind>,
    /// No fault before this virtual time (let the world come up).
    pub start: Duration,
    /// Every episode is over by this virtual time; what follows is the quiet period.
    pub heal_by: Duration,
    /// At most this many episodes.
    pub max_episodes: usize,
    /// Shortest outage of an episode.
    pub min_outage: Duration,
    /// Longest outage of an episode.
    pub max_outage: Duration,
    /// Longest wait between the end of one episode and the start of the next.
    pub max_gap: Duration,
    /// Highest random loss probability, in parts per million.
    pub max_loss_ppm: u32,
    /// Highest latency of a latency spike.
    pub max_spike: Duration,
    /// The normal latency range, restored after a spike.
    pub normal_latency: (Duration, Duration),
}

impl FaultSpace {
    /// A space with every kind allowed and no targets yet: 1 s of start-up, healed by 30 s,
    /// up to 8 episodes of 0.1–5 s with gaps up to 3 s, up to 20 % loss, spikes up to 2 s,
    /// normal latency 0–100 ms (turmoil's default).
    pub fn new() -> Self {
        Self {
            links: Vec::new(),
            udp_links: Vec::new(),
            crashable: Vec::new(),
            kinds: EpisodeKind::ALL.to_vec(),
            start: Duration::from_secs(1),
            heal_by: Duration::from_secs(30),
            max_episodes: 8,
            min_outage: Duration::from_millis(100),
            max_outage: Duration::from_secs(5),
            max_gap: Duration::from_secs(3),
            max_loss_ppm: 200_000,
            max_spike: Duration::from_secs(2),
            normal_latency: (Duration::ZERO, Duration::from_millis(100)),
        }
    }

    /// Whether `kind` is allowed and has something to act on.
    fn usable(&self, kind: EpisodeKind) -> bool {
        self.kinds.contains(&kind)
            && match kind {
                EpisodeKind::Partition
                | EpisodeKind::PartitionOneway
                | EpisodeKind::Hold
                | EpisodeKind::LatencySpike => !self.links.is_empty(),
                EpisodeKind::CrashRestart | EpisodeKind::Bounce => !self.crashable.is_empty(),
                EpisodeKind::UdpLoss => !self.udp_links.is_empty() && self.max_loss_ppm > 0,
            }
    }
}

impl Default for FaultSpace {
    fn default() -> Self {
        Self::new()
    }
}

/// A schedule is outside its space.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A fault is before `start` or after `heal_by`.
    #[error("fault #{index} `{fault}` at {at:?} is outside {start:?}..={heal_by:?}")]
    OutOfWindow {
        /// Its index.
        index: usize,
        /// The fault, as text.
        fault: String,
        /// Its time.
        at: Duration,
        /// The space's start.
        start: Duration,
        /// The space's heal-by time.
        heal_by: Duration,
    },
    /// Faults are not in time order.
    #[error("fault #{index} is scheduled before the one preceding it")]
    OutOfOrder {
        /// Its index.
        index: usize,
    },
    /// A fault targets a host or link the space does not offer, or a loss or latency beyond
    /// its bounds.
    #[error("fault #{index} `{fault}` is not allowed by the fault space")]
    NotAllowed {
        /// Its index.
        index: usize,
        /// The fault, as text.
        fault: String,
    },
    /// Something is still broken at the end of the schedule.
    #[error("the schedule leaves `{0}` in force after its last fault")]
    NotHealed(String),
    /// More episodes than allowed.
    #[error("{count} episodes, more than the {max} allowed")]
    TooManyEpisodes {
        /// How many.
        count: usize,
        /// The bound.
        max: usize,
    },
}

/// A time-ordered list of faults, drawn from a seed or written by hand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultSchedule {
    faults: Vec<ScheduledFault>,
    episodes: usize,
}

impl FaultSchedule {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// A hand-written schedule (sorted by time, stable for equal times). Its episodes are
    /// the faults that break something; repairs, releases, restores, loss set to zero and a
    /// bounce of a crashed host are their heals.
    pub fn from_faults(mut faults: Vec<ScheduledFault>) -> Self {
        faults.sort_by_key(|f| f.at);
        let mut crashed: Vec<&str> = Vec::new();
        let mut episodes = 0;
        for sf in &faults {
            let opens = match &sf.fault {
                Fault::Repair { .. }
                | Fault::RepairOneway { .. }
                | Fault::Release { .. }
                | Fault::RestoreLatency { .. }
                | Fault::LinkFailRate { ppm: 0, .. } => false,
                Fault::Crash { host } => {
                    crashed.push(host);
                    true
                }
                Fault::Bounce { host } => {
                    let was_crashed = crashed.contains(&host.as_str());
                    crashed.retain(|h| *h != host);
                    !was_crashed
                }
                _ => true,
            };
            episodes += usize::from(opens);
        }
        Self { faults, episodes }
    }

    /// Draw a schedule from `seed` within `space`. The same seed and space always give the
    /// same schedule.
    pub fn draw(seed: u64, space: &FaultSpace) -> Self {
        let mut rng = SplitMix64::new(seed);
        let kinds: Vec<EpisodeKind> = space
            .kinds
            .iter()
            .copied()
            .filter(|&k| space.usable(k))
            .collect();
        let mut faults = Vec::new();
        let mut episodes = 0;
        if kinds.is_empty() || space.heal_by <= space.start {
            return Self { faults, episodes };
        }
        let min_outage = space.min_outage.min(space.max_outage);
        let mut t = space.start;
        while episodes < space.max_episodes {
            let begin = t + between(&mut rng, Duration::ZERO, space.max_gap);
            let kind = *pick(&mut rng, &kinds);
            let outage = if kind == EpisodeKind::Bounce {
                Duration::ZERO
            } else {
                between(&mut rng, min_outage, space.max_outage)
            };
            let end = begin + outage;
            if end > space.heal_by {
                break;
            }
            let (first, second) = episode(&mut rng, space, kind);
            faults.push(ScheduledFault {
                at: begin,
                fault: first,
            });
            if let Some(second) = second {
                faults.push(ScheduledFault {
                    at: end,
                    fault: second,
                });
            }
            episodes += 1;
            t = end;
        }
        Self { faults, episodes }
    }

    /// The faults, in time order.
    pub fn faults(&self) -> &[ScheduledFault] {
        &self.faults
    }

    /// How many episodes (fault plus heal) the schedule has.
    pub fn episodes(&self) -> usize {
        self.episodes
    }

    /// Whether there are no faults.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// When the last fault is applied (zero for an empty schedule).
    pub fn last_at(&self) -> Duration {
        self.faults.last().map(|f| f.at).unwrap_or_default()
    }

    /// Check that the schedule keeps to `space`: inside the window, in order, on allowed
    /// targets and within bounds, no more episodes than allowed, and everything healed at
    /// the end.
    pub fn check_within(&self, space: &FaultSpace) -> Result<(), ScheduleError> {
        if self.episodes > space.max_episodes {
            return Err(ScheduleError::TooManyEpisodes {
                count: self.episodes,
                max: space.max_episodes,
            });
        }
        let link_ok = |list: &[(String, String)], a: &str, b: &str| {
            list.iter()
                .any(|(x, y)| (x == a && y == b) || (x == b && y == a))
        };
        // What is in force: (kind, a, b) for links, host names for crashes.
        let mut open: Vec<String> = Vec::new();
        let mut prev = Duration::ZERO;
        for (index, sf) in self.faults.iter().enumerate() {
            if sf.at < space.start || sf.at > space.heal_by {
                return Err(ScheduleError::OutOfWindow {
                    index,
                    fault: sf.fault.to_string(),
                    at: sf.at,
                    start: space.start,
                    heal_by: space.heal_by,
                });
            }
            if sf.at < prev {
                return Err(ScheduleError::OutOfOrder { index });
            }
            prev = sf.at;
            let not_allowed = || ScheduleError::NotAllowed {
                index,
                fault: sf.fault.to_string(),
            };
            let allowed = match &sf.fault {
                Fault::Partition { a, b }
                | Fault::Repair { a, b }
                | Fault::Hold { a, b }
                | Fault::Release { a, b }
                | Fault::RestoreLatency { a, b, .. } => link_ok(&space.links, a, b),
                Fault::PartitionOneway { from, to } | Fault::RepairOneway { from, to } => {
                    link_ok(&space.links, from, to)
                }
                Fault::LinkLatency { a, b, latency } => {
                    link_ok(&space.links, a, b) && *latency <= space.max_spike
                }
                Fault::LinkFailRate { a, b, ppm } => {
                    link_ok(&space.udp_links, a, b) && *ppm <= space.max_loss_ppm
                }
                Fault::Crash { host } | Fault::Bounce { host } => space.crashable.contains(host),
            };
            if !allowed {
                return Err(not_allowed());
            }
            // A link is the same whichever way round it is named; a one-way fault is not.
            let link = |kind: &str, a: &str, b: &str| {
                let (x, y) = if a <= b { (a, b) } else { (b, a) };
                format!("{kind} {x} {y}")
            };
            let directed = |kind: &str, a: &str, b: &str| format!("{kind} {a} {b}");
            match &sf.fault {
                Fault::Partition { a, b } => open.push(link("partition", a, b)),
                Fault::Repair { a, b } => open.retain(|k| *k != link("partition", a, b)),
                Fault::PartitionOneway { from, to } => open.push(directed("oneway", from, to)),
                Fault::RepairOneway { from, to } => {
                    open.retain(|k| *k != directed("oneway", from, to));
                }
                Fault::Hold { a, b } => open.push(link("hold", a, b)),
                Fault::Release { a, b } => open.retain(|k| *k != link("hold", a, b)),
                Fault::Crash { host } => open.push(directed("crash", host, "")),
                Fault::Bounce { host } => open.retain(|k| *k != directed("crash", host, "")),
                Fault::LinkFailRate { a, b, ppm } => {
                    open.retain(|k| *k != link("loss", a, b));
                    if *ppm > 0 {
                        open.push(link("loss", a, b));
                    }
                }
                Fault::LinkLatency { a, b, .. } => open.push(link("spike", a, b)),
                Fault::RestoreLatency { a, b, .. } => open.retain(|k| *k != link("spike", a, b)),
            }
        }
        match open.first() {
            Some(left) => Err(ScheduleError::NotHealed(left.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for FaultSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            return write!(f, "(no faults)");
        }
        for sf in &self.faults {
            writeln!(f, "{:>10.3}s {}", sf.at.as_secs_f64(), sf.fault)?;
        }
        Ok(())
    }
}

/// A uniform duration in `lo..=hi`, at millisecond resolution.
fn between(rng: &mut SplitMix64, lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_millis() as u64;
    lo + Duration::from_millis(rng.next_u64() % (span + 1))
}

/// A uniform element of a non-empty slice.
fn pick<'a, T>(rng: &mut SplitMix64, items: &'a [T]) -> &'a T {
    // Callers only pass non-empty slices; `% len` is then always in bounds.
    let i = (rng.next_u64() % items.len() as u64) as usize;
    &items[i]
}

/// The fault and the heal (if any) of one episode of `kind`.
fn episode(rng: &mut SplitMix64, space: &FaultSpace, kind: EpisodeKind) -> (Fault, Option<Fault>) {
    match kind {
        EpisodeKind::Partition => {
            let (a, b) = pick(rng, &space.links).clone();
            (
                Fault::Partition {
                    a: a.clone(),
                    b: b.clone(),
                },
                Some(Fault::Repair { a, b }),
            )
        }
        EpisodeKind::PartitionOneway => {
            let (mut from, mut to) = pick(rng, &space.links).clone();
            if rng.next_u64() & 1 == 1 {
                std::mem::swap(&mut from, &mut to);
            }
            (
                Fault::PartitionOneway {
                    from: from.clone(),
                    to: to.clone(),
                },
                Some(Fault::RepairOneway { from, to }),
            )
        }
        EpisodeKind::Hold => {
            let (a, b) = pick(rng, &space.links).clone();
            (
                Fault::Hold {
                    a: a.clone(),
                    b: b.clone(),
                },
                Some(Fault::Release { a, b }),
            )
        }
        EpisodeKind::CrashRestart => {
            let host = pick(rng, &space.crashable).clone();
            (
                Fault::Crash { host: host.clone() },
                Some(Fault::Bounce { host }),
            )
        }
        EpisodeKind::Bounce => {
            let host = pick(rng, &space.crashable).clone();
            (Fault::Bounce { host }, None)
        }
        EpisodeKind::UdpLoss => {
            let (a, b) = pick(rng, &space.udp_links).clone();
            let ppm = 1 + (rng.next_u64() % u64::from(space.max_loss_ppm)) as u32;
            (
                Fault::LinkFailRate {
                    a: a.clone(),
                    b: b.clone(),
                    ppm,
                },
                Some(Fault::LinkFailRate { a, b, ppm: 0 }),
            )
        }
        EpisodeKind::LatencySpike => {
            let (a, b) = pick(rng, &space.links).clone();
            let latency = between(
                rng,
                space.normal_latency.1.min(space.max_spike),
                space.max_spike,
            );
            let (min, max) = space.normal_latency;
            (
                Fault::LinkLatency {
                    a: a.clone(),
                    b: b.clone(),
                    latency,
                },
                Some(Fault::RestoreLatency { a, b, min, max }),
            )
        }
    }
}
