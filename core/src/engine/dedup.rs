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
        if let Some(seen) = self.entries.get_mut(key) {
            if matches!(seen, Seen::InFlight) {
                self.in_flight = self.in_flight.saturating_sub(1);
                *seen = Seen::Answered(reply);
                self.expiry.push_back((now + self.ttl, *key));
            }
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
