//! Bounds on the connections a listener holds: in all, and from one source address.
//!
//! A listener asks its [`ConnLimiter`] for a [`ConnPermit`] as soon as it accepts a
//! connection. Over a limit there is no permit and the connection is closed right
//! away (the accept loop goes on at once: nothing waits, and no other connection is
//! touched); with one, the connection keeps the permit until it is closed. So a
//! client opening thousands of idle sockets holds at most its share of descriptors,
//! and the process keeps descriptors for NAS devices, triggers and probes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::metrics::{Metrics, RefusedReason};

/// Connections a listener holds at once, in all and per source; `0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once on the listener.
    pub connections: usize,
    /// Connections open at once from one source address.
    pub per_source: usize,
}

impl ConnLimits {
    /// These limits with the ones a configuration gave (`limits { … }`) put in place of
    /// the defaults.
    pub fn with(self, configured: boomerang_core::lang::program::ConnectionLimits) -> ConnLimits {
        let take = |c: Option<u32>, d: usize| c.map_or(d, |n| usize::try_from(n).unwrap_or(d));
        ConnLimits {
            connections: take(configured.connections, self.connections),
            per_source: take(configured.per_source, self.per_source),
        }
    }
}

/// Why a connection got no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds its limit of connections.
    Connections(usize),
    /// The source address holds its limit of connections.
    PerSource(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Connections(n) => write!(f, "the listener's limit of {n} connections"),
            Refusal::PerSource(n) => write!(f, "the limit of {n} connections per source address"),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// A listener's connection counts.
#[derive(Debug)]
pub struct ConnLimiter {
    limits: ConnLimits,
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it (when the connection closes) frees its place.
#[derive(Debug)]
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl ConnLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: ConnLimits) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Its limits.
    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A poisoned lock only means a holder panicked between two plain updates.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections held now.
    pub fn held(&self) -> usize {
        self.counts().total
    }

    /// A place for a connection from `ip`, unless a limit is reached.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        let mut counts = self.counts();
        let ConnLimits {
            connections,
            per_source,
        } = self.limits;
        if connections != 0 && counts.total >= connections {
            return Err(Refusal::Connections(connections));
        }
        let from_ip = counts.per_source.get(&ip).copied().unwrap_or(0);
        if per_source != 0 && from_ip >= per_source {
            return Err(Refusal::PerSource(per_source));
        }
        counts.total += 1;
        counts.per_source.insert(ip, from_ip + 1);
        Ok(ConnPermit {
            limiter: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut counts = self.limiter.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_source.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_source.remove(&self.ip);
            }
        }
    }
}

/// Admit a connection from `peer` to `server`, or refuse it: count the refusal in
/// `connections_refused_total` and say so in a rate-limited warning. The caller
/// closes a refused connection (drops it) at once.
pub fn admit(
    limiter: &Arc<ConnLimiter>,
    metrics: &Metrics,
    server: &str,
    peer: SocketAddr,
) -> Option<ConnPermit> {
    match limiter.try_acquire(peer.ip()) {
        Ok(permit) => Some(permit),
        Err(refusal) => {
            let reason = match refusal {
                Refusal::Connections(_) => RefusedReason::Connections,
                Refusal::PerSource(_) => RefusedReason::PerSource,
            };
            metrics.connection_refused(server, reason);
            crate::log_limit::warn(
                &format!("server \"{server}\": connection refused: {reason:?}"),
                format_args!("server \"{server}\": connection from {peer} closed: over {refusal}"),
            );
            None
        }
    }
}

/// Refuse a connection from `peer` whose address is not on `server`'s allow-list:
/// counted and logged (rate-limited) like a connection over a limit.
pub fn refuse_not_allowed(metrics: &Metrics, server: &str, peer: SocketAddr) {
    metrics.connection_refused(server, RefusedReason::NotAllowed);
    crate::log_limit::warn(
        &format!("server \"{server}\": connection refused: not allowed"),
        format_args!("server \"{server}\": connection from {peer} closed: client not allowed"),
    );
}

/// Log an accept error (out of descriptors and the like), rate-limited.
pub fn accept_failed(server: &str, error: &std::io::Error) {
    crate::log_limit::warn(
        &format!("server \"{server}\": accept failed: {:?}", error.kind()),
        format_args!("server \"{server}\": accept failed: {error}"),
    );
}

/// How long an accept loop pauses after an accept error before it tries again: long
/// enough not to spin while the process is out of descriptors, short enough that
/// service resumes as soon as some are free.
pub const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn permits_are_bounded_in_all_and_per_source_and_freed_on_drop() {
        let l = ConnLimiter::new(ConnLimits {
            connections: 3,
            per_source: 2,
        });
        let a1 = l.try_acquire(ip("10.0.0.1")).unwrap();
        let _a2 = l.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            l.try_acquire(ip("10.0.0.1")).unwrap_err(),
            Refusal::PerSource(2)
        );
        let _b1 = l.try_acquire(ip("10.0.0.2")).unwrap();
        assert_eq!(
            l.try_acquire(ip("10.0.0.3")).unwrap_err(),
            Refusal::Connections(3)
        );
        assert_eq!(l.held(), 3);
        drop(a1);
        assert_eq!(l.held(), 2);
        let _a3 = l.try_acquire(ip("10.0.0.1")).unwrap();
    }

    #[test]
    fn zero_means_no_limit_and_configured_values_replace_defaults() {
        let l = ConnLimiter::new(ConnLimits {
            connections: 0,
            per_source: 0,
        });
        let permits: Vec<_> = (0..1000)
            .map(|_| l.try_acquire(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(l.held(), permits.len());
        drop(permits);
        assert_eq!(l.held(), 0);
        assert!(l.counts().per_source.is_empty(), "no entry left behind");

        let d = ConnLimits {
            connections: 10,
            per_source: 5,
        };
        let configured = boomerang_core::lang::program::ConnectionLimits {
            connections: None,
            per_source: Some(0),
        };
        assert_eq!(
            d.with(configured),
            ConnLimits {
                connections: 10,
                per_source: 0
            }
        );
    }
}
