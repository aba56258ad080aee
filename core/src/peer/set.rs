//! [`Peers`]: the peer machines of many endpoints, with a deadline index so that
//! finding what is due costs O(log n) in the number of endpoints, never a scan.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::peer::event::Event;
use crate::peer::machine::{Peer, PeerConfig};
use crate::rng::RandomSource;

/// Peer machines by endpoint key `K`; `W` names a waiting request.
#[derive(Debug)]
pub struct Peers<K, W> {
    peers: BTreeMap<K, Peer<W>>,
    /// Each endpoint's earliest deadline.
    index: BTreeSet<(Instant, K)>,
}

impl<K, W> Default for Peers<K, W> {
    fn default() -> Self {
        Peers {
            peers: BTreeMap::new(),
            index: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy, W: Copy + PartialEq> Peers<K, W> {
    /// Start a machine for endpoint `key`; false (nothing changed) if it has one.
    pub fn open(&mut self, key: K, cfg: PeerConfig) -> bool {
        if self.peers.contains_key(&key) {
            return false;
        }
        self.peers.insert(key, Peer::new(cfg));
        true
    }

    /// The endpoint is gone: its pending requests are lost (see [`Peer::close`]).
    pub fn close(&mut self, key: K) -> Vec<Event<W>> {
        let Some(peer) = self.peers.remove(&key) else {
            return Vec::new();
        };
        if let Some(at) = peer.next_deadline() {
            self.index.remove(&(at, key));
        }
        peer.close()
    }

    /// The machine of endpoint `key`.
    pub fn get(&self, key: K) -> Option<&Peer<W>> {
        self.peers.get(&key)
    }

    /// Act on the machine of endpoint `key` (its deadline is re-indexed after).
    pub fn with<R>(&mut self, key: K, f: impl FnOnce(&mut Peer<W>) -> R) -> Option<R> {
        let peer = self.peers.get_mut(&key)?;
        let before = peer.next_deadline();
        let r = f(peer);
        let after = peer.next_deadline();
        if before != after {
            if let Some(at) = before {
                self.index.remove(&(at, key));
            }
            if let Some(at) = after {
                self.index.insert((at, key));
            }
        }
        Some(r)
    }

    /// The earliest deadline of all endpoints.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.index.first().map(|(at, _)| *at)
    }

    /// Carry out the earliest deadline of all, if it is due at `now`.
    pub fn fire_next(
        &mut self,
        now: Instant,
        rng: &mut dyn RandomSource,
    ) -> Option<(K, Vec<Event<W>>)> {
        let &(at, key) = self.index.first()?;
        if at > now {
            return None;
        }
        let events = self.with(key, |p| p.fire_next(now, rng))?;
        Some((key, events))
    }

    /// Every machine, by key.
    pub fn iter(&self) -> impl Iterator<Item = (K, &Peer<W>)> + '_ {
        self.peers.iter().map(|(k, p)| (*k, p))
    }

    /// Check every machine and the index.
    pub fn check(&self) -> Result<(), String> {
        let mut indexed = 0;
        for peer in self.peers.values() {
            peer.check()?;
            indexed += usize::from(peer.next_deadline().is_some());
        }
        if indexed != self.index.len() {
            return Err(format!(
                "{} endpoints have deadlines, {} indexed",
                indexed,
                self.index.len()
            ));
        }
        Ok(())
    }
}
