//! Per-connection RADIUS identifier pools.
//!
//! A stream connection carries at most 256 requests of ours in flight, one per
//! Identifier value (RFC 6613 §2.5: extending the space MUST NOT be done). Requests
//! the peer originates use their own identifiers; the code separates the directions.
//! The pool hands out the least recently released identifier first, so that a late
//! reply to a request that already timed out is unlikely to match the request that
//! reuses its identifier.

use std::collections::VecDeque;

/// The identifiers of one connection, each free or in use.
#[derive(Debug, Clone)]
pub struct IdPool {
    /// Free identifiers, least recently released first.
    free: VecDeque<u8>,
    /// `in_use[id]` is true while `id` is allocated or reserved.
    in_use: [bool; 256],
    /// `reserved[id]` is true for identifiers that are never handed out.
    reserved: [bool; 256],
}

impl Default for IdPool {
    fn default() -> Self {
        Self::new()
    }
}

impl IdPool {
    /// A pool with all 256 identifiers free, handed out from 0 upwards.
    pub fn new() -> Self {
        Self::with_reserved(&[])
    }

    /// A pool in which `reserved` identifiers are never handed out (e.g. 0, kept for
    /// Status-Server on connections that send it, as radiusdtls-bis recommends).
    pub fn with_reserved(reserved: &[u8]) -> Self {
        let mut flags = [false; 256];
        for &id in reserved {
            flags[usize::from(id)] = true;
        }
        let free = (0..=255u8).filter(|id| !flags[usize::from(*id)]).collect();
        Self {
            free,
            in_use: flags,
            reserved: flags,
        }
    }

    /// Take a free identifier, or `None` when every identifier is in use.
    pub fn allocate(&mut self) -> Option<u8> {
        let id = self.free.pop_front()?;
        self.in_use[usize::from(id)] = true;
        Some(id)
    }

    /// Take a free identifier other than `avoid` when another is free (a request
    /// sent again gets a new identifier even on a fresh connection), else any; the
    /// avoided one, if taken and given back, goes to the back of the free list.
    pub fn allocate_avoiding(&mut self, avoid: Option<u8>) -> Option<u8> {
        let id = self.allocate()?;
        if Some(id) != avoid {
            return Some(id);
        }
        match self.allocate() {
            Some(other) => {
                self.release(id);
                Some(other)
            }
            None => Some(id),
        }
    }

    /// Return `id` to the pool. Releasing an identifier that is not in use (or a
    /// reserved one) does nothing and returns false, so a duplicate release can never
    /// let one identifier be handed out twice.
    pub fn release(&mut self, id: u8) -> bool {
        let index = usize::from(id);
        if !self.in_use[index] || self.reserved[index] {
            return false;
        }
        self.in_use[index] = false;
        self.free.push_back(id);
        true
    }

    /// Whether `id` is currently allocated (or reserved).
    pub fn is_in_use(&self, id: u8) -> bool {
        self.in_use[usize::from(id)]
    }

    /// How many identifiers can still be allocated.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// How many identifiers are allocated (reserved ones excluded).
    pub fn in_flight(&self) -> usize {
        let reserved = self.reserved.iter().filter(|r| **r).count();
        256 - reserved - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_256_then_exhausted_then_reuse_oldest_released() {
        let mut pool = IdPool::new();
        let ids: Vec<u8> = (0..256).map(|_| pool.allocate().unwrap()).collect();
        assert_eq!(ids, (0..=255u8).collect::<Vec<_>>());
        assert_eq!(pool.allocate(), None);
        assert!(pool.release(7));
        assert!(pool.release(3));
        assert_eq!(pool.allocate(), Some(7));
        assert_eq!(pool.allocate(), Some(3));
        assert_eq!(pool.allocate(), None);
    }

    #[test]
    fn avoiding_takes_another_identifier_while_one_is_free() {
        let mut pool = IdPool::new();
        assert_eq!(pool.allocate_avoiding(Some(0)), Some(1));
        assert_eq!(pool.allocate_avoiding(None), Some(2));
        while pool.available() > 1 {
            pool.allocate();
        }
        assert_eq!(
            pool.allocate_avoiding(Some(0)),
            Some(0),
            "the only one left"
        );
    }

    #[test]
    fn double_release_and_reserved_are_refused() {
        let mut pool = IdPool::with_reserved(&[0]);
        assert_eq!(pool.available(), 255);
        assert_eq!(pool.allocate(), Some(1));
        assert!(!pool.release(0), "reserved id");
        assert!(pool.release(1));
        assert!(!pool.release(1), "second release");
        assert!(!pool.release(200), "never allocated");
        assert_eq!(pool.available(), 255);
        assert_eq!(pool.in_flight(), 0);
    }

    proptest! {
        /// Whatever the sequence of allocations and releases, an identifier is never
        /// handed out while it is in use, and the count of free ones stays exact.
        #[test]
        fn never_hands_out_an_identifier_in_use(ops in proptest::collection::vec((any::<bool>(), any::<u8>()), 0..2000)) {
            let mut pool = IdPool::new();
            let mut held = std::collections::BTreeSet::new();
            for (alloc, pick) in ops {
                if alloc {
                    match pool.allocate() {
                        Some(id) => prop_assert!(held.insert(id), "id {} handed out twice", id),
                        None => prop_assert_eq!(held.len(), 256),
                    }
                } else {
                    let released = pool.release(pick);
                    prop_assert_eq!(released, held.remove(&pick));
                }
                prop_assert_eq!(pool.available(), 256 - held.len());
            }
        }
    }
}
