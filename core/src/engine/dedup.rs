//! RFC 5080 duplicate detection for UDP requests.
//!
//! A request is a duplicate of another when it arrives at the same server from the
//! same address and port with the same Identifier and Request Authenticator. A
//! duplicate of a request still being handled *joins* it (no second execution; the
//! one reply goes out when it is ready); a duplicate of an answered request gets
//! the cached reply again (or nothing, when the policy sent none). Answered entries
//! expire after the configured time; the cache is bounded, evicting the oldest
//! answered entry first, and refusing new requests only when every entry is still
//! in flight.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::contract::ServerId;

/// What identifies a UDP request for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DupKey {
    /// The server (socket) it arrived at.
    pub server: ServerId,
    /// The sender's address and port.
    pub peer: SocketAddr,
    /// The Identifier.
    pub identifier: u8,
    /// The Request Authenticator.
    pub authenticator: [u8; 16],
}

/// The state of a request seen before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Still being handled.
    InFlight,
    /// Answered with this datagram (`None`: deliberately not answered).
    Answered(Option<Bytes>),
}

/// What to do with an arriving request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// New: handle it (the entry is now in flight).
    New,
    /// A retransmission of a request in flight: drop it, the reply will come.
    Joined,
    /// A retransmission of an answered request: send this again (or nothing).
    Replay(Option<Bytes>),
    /// The cache is full of requests in flight: drop it.
    Full,
}

/// The duplicate-detection cache.
#[derive(Debug)]
pub struct DupCache {
    entries: BTreeMap<DupKey, Seen>,
    /// Answered entries in the order they were answered, with their expiry.
    expiry: VecDeque<(Instant, DupKey)>,
    in_flight: usize,
    max: usize,
    ttl: Duration,
}

impl DupCache {
    /// An empty cache of at most `max` entries, keeping answers for `ttl`.
    pub fn new(max: usize, ttl: Duration) -> Self {
        DupCache {
            entries: BTreeMap::new(),
            expiry: VecDeque::new(),
            in_flight: 0,
            max: max.max(1),
            ttl,
        }
    }

    /// Forget answered entries whose time is up.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.expiry.front().copied() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            if matches!(self.entries.get(&key), Some(Seen::Answered(_))) {
                self.entries.remove(&key);
            }
        }
    }

    /// Decide what to do with a request with this key; a new one is recorded as in
    /// flight.
    pub fn admit(&mut self, now: Instant, key: DupKey) -> Admission {
        self.expire(now);
        match self.entries.get(&key) {
            Some(Seen::InFlight) => return Admission::Joined,
            Some(Seen::Answered(reply)) => return Admission::Replay(reply.clone()),
            None => {}
        }
        if self.entries.len() >= self.max {
            // Evict the oldest answered entry; refuse if all are in flight.
            let mut evicted = false;
            while let Some((_, old)) = self.expiry.pop_front() {
                if matches!(self.entries.get(&old), Some(Seen::Answered(_))) {
                    self.entries.remove(&old);
                    evicted = true;
                    break;
                }
            }
            if !evicted {
                return Admission::Full;
            }
        }
        self.entries.insert(key, Seen::InFlight);
        self.in_flight += 1;
        Admission::New
    }

    /// The request `key` was answered (or deliberately left unanswered).
    pub fn answered(&mut self, now: Instant, key: &DupKey, reply: Option<Bytes>) {
        if let Some(seen) = self.entries.get_mut(key)
            && matches!(seen, Seen::InFlight)
        {
            self.in_flight = self.in_flight.saturating_sub(1);
            *seen = Seen::Answered(reply);
            self.expiry.push_back((now + self.ttl, *key));
        }
    }

    /// Renumber the servers of every entry after a reload (`map` gives a server's
    /// new number, `None` when it was removed). Entries of removed servers are
    /// forgotten: nothing can arrive at them any more, and their answers have no
    /// socket to go out of.
    pub fn remap_servers(&mut self, map: impl Fn(ServerId) -> Option<ServerId>) {
        let entries = std::mem::take(&mut self.entries);
        for (mut key, seen) in entries {
            let Some(server) = map(key.server) else {
                if matches!(seen, Seen::InFlight) {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
                continue;
            };
            key.server = server;
            self.entries.insert(key, seen);
        }
        self.expiry = std::mem::take(&mut self.expiry)
            .into_iter()
            .filter_map(|(at, mut key)| {
                key.server = map(key.server)?;
                Some((at, key))
            })
            .collect();
    }

    /// Check the cache's own invariants (for tests and simulations): at most `max`
    /// entries; the in-flight count is the number of entries in flight; every
    /// answered entry has exactly one expiry record and every record names an
    /// answered entry; records are in expiry order.
    pub fn check(&self) -> Result<(), String> {
        if self.entries.len() > self.max {
            return Err(format!(
                "duplicate cache: {} entries, at most {}",
                self.entries.len(),
                self.max
            ));
        }
        let in_flight = self
            .entries
            .values()
            .filter(|s| matches!(s, Seen::InFlight))
            .count();
        if in_flight != self.in_flight {
            return Err(format!(
                "duplicate cache: {in_flight} entries in flight, counted {}",
                self.in_flight
            ));
        }
        let mut recorded = std::collections::BTreeSet::new();
        let mut last = None;
        for (at, key) in &self.expiry {
            if last.is_some_and(|l| *at < l) {
                return Err("duplicate cache: expiry records out of order".into());
            }
            last = Some(*at);
            if !matches!(self.entries.get(key), Some(Seen::Answered(_))) {
                return Err(format!(
                    "duplicate cache: an expiry record for {key:?}, which is not answered"
                ));
            }
            if !recorded.insert(*key) {
                return Err(format!("duplicate cache: two expiry records for {key:?}"));
            }
        }
        if recorded.len() != self.entries.len() - self.in_flight {
            return Err("duplicate cache: an answered entry without its expiry record".into());
        }
        Ok(())
    }

    /// When the next answered entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.expiry.front().map(|(at, _)| *at)
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Answered requests kept for retransmissions.
    pub fn answered_len(&self) -> usize {
        self.entries.len() - self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn key(identifier: u8) -> DupKey {
        DupKey {
            server: ServerId(0),
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1812),
            identifier,
            authenticator: [identifier; 16],
        }
    }

    #[test]
    fn the_check_finds_a_miscount_and_a_missing_expiry_record() {
        let mut c = DupCache::new(4, Duration::from_secs(5));
        c.entries.insert(key(1), Seen::InFlight);
        c.in_flight = 1;
        c.check().expect("one in flight, counted");
        c.in_flight = 0;
        assert!(c.check().is_err());
        c.in_flight = 1;
        c.entries.insert(key(2), Seen::Answered(None));
        assert!(c.check().is_err());
    }
}
