//! Server selection: which `connect` server of a backend a request goes to
//! (see "Server selection" in the module documentation).

use crate::eval::error::{ErrorCode, ErrorValue};
use crate::lang::program::ServerSelection;

use super::timers::{Link, ReqKey};
use super::{Dialer, LinkState, MAX_QUEUED_PER_SERVER, StreamState, error};

impl Dialer {
    /// How eligible a server is: 1 live, 2 recovering.
    fn tier(&self, slot: usize) -> u8 {
        let Some(s) = self.servers.get(slot) else {
            return 3;
        };
        match &s.state {
            LinkState::Stream(StreamState::Connected(_) | StreamState::Idle) => 1,
            LinkState::Stream(StreamState::Connecting { .. }) if s.backoff.failures() == 0 => 1,
            LinkState::Stream(_) => 2,
            LinkState::Udp(u) if u.down => 2,
            LinkState::Udp(_) => 1,
        }
    }

    fn load(&self, slot: usize) -> usize {
        let Some(s) = self.servers.get(slot) else {
            return usize::MAX;
        };
        let link = match &s.state {
            LinkState::Stream(StreamState::Connected(c)) => Some(Link::Conn(*c)),
            LinkState::Udp(_) => Some(Link::Udp(slot)),
            LinkState::Stream(_) => None,
        };
        let inflight = link
            .and_then(|l| self.peers.get(l))
            .map_or(0, |p| p.in_flight());
        inflight + s.queue.len()
    }

    /// Pick the server for a request (see "Server selection" in the module docs).
    pub(super) fn select(&mut self, key: ReqKey) -> Result<usize, ErrorValue> {
        let Some(r) = self.requests.get(&key) else {
            return Err(error(ErrorCode::BackendError, "request vanished".into()));
        };
        let Some(b) = self.backends.get(&r.backend) else {
            return Err(error(ErrorCode::BackendError, "backend vanished".into()));
        };
        let fallback_error = || {
            r.last_error.clone().unwrap_or_else(|| {
                error(
                    ErrorCode::BackendError,
                    format!("no server of backend '{}' is available", b.name),
                )
            })
        };
        if b.selection == ServerSelection::NoFallback && !r.tried.is_empty() {
            return Err(fallback_error());
        }
        let mut ordered = b.slots.clone();
        if b.selection != ServerSelection::RoundRobin {
            ordered.sort_by_key(|s| {
                (
                    self.servers.get(*s).map_or(u32::MAX, |x| x.cfg.priority),
                    *s,
                )
            });
        }
        let mut saw_full = false;
        for tier in [1u8, 2] {
            let candidates: Vec<usize> = ordered
                .iter()
                .copied()
                .filter(|s| !r.tried.contains(s) && self.tier(*s) == tier)
                .filter(|s| {
                    let full = self
                        .servers
                        .get(*s)
                        .is_none_or(|x| x.queue.len() >= MAX_QUEUED_PER_SERVER);
                    saw_full |= full;
                    !full
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let chosen = match b.selection {
                ServerSelection::Fallback | ServerSelection::NoFallback => candidates[0],
                ServerSelection::RoundRobin => {
                    let i = b.round_robin % candidates.len();
                    candidates[i]
                }
                ServerSelection::LeastConnections => candidates
                    .iter()
                    .copied()
                    .min_by_key(|s| self.load(*s))
                    .unwrap_or(candidates[0]),
            };
            if b.selection == ServerSelection::RoundRobin
                && let Some(b) = self.backends.get_mut(&r.backend)
            {
                b.round_robin = b.round_robin.wrapping_add(1);
            }
            return Ok(chosen);
        }
        if saw_full {
            return Err(error(
                ErrorCode::QueueFull,
                format!(
                    "every server of backend '{}' has {MAX_QUEUED_PER_SERVER} requests queued",
                    b.name
                ),
            ));
        }
        Err(fallback_error())
    }
}
