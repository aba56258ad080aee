//! The registry of active inbound stream connections, in establishment order.
//!
//! Connection ids are assigned by the driver in establishment order, so iterating
//! the registry by id is iterating oldest first, which is the order `@select`
//! visits candidates in. The registry also keeps exact-match indexes on the fields
//! the `@select` index can use (NAS-Identifier from Status-Server, certificate CN),
//! updated whenever those fields change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use crate::contract::ConnId;
use crate::eval::context::ConnectionInfo;
use crate::reverse::index::Probe;

/// One registered connection: what `connection.*` reads, and the owner's state.
#[derive(Debug)]
pub struct Entry<C> {
    info: Arc<ConnectionInfo>,
    /// The owner's per-connection state.
    pub state: C,
}

impl<C> Entry<C> {
    /// What `connection.*` reads for it.
    pub fn info(&self) -> &Arc<ConnectionInfo> {
        &self.info
    }
}

/// Active stream connections with their indexes.
#[derive(Debug)]
pub struct Registry<C> {
    conns: BTreeMap<ConnId, Entry<C>>,
    by_nas_identifier: BTreeMap<String, BTreeSet<ConnId>>,
    by_cert_cn: BTreeMap<String, BTreeSet<ConnId>>,
    /// Connections added, changed or removed since [`Registry::take_changes`]
    /// (kept only after [`Registry::track_changes`]: a cluster node publishes
    /// them; `last_heard` alone is not a change).
    changes: Option<BTreeSet<ConnId>>,
}

impl<C> Default for Registry<C> {
    fn default() -> Self {
        Registry {
            conns: BTreeMap::new(),
            by_nas_identifier: BTreeMap::new(),
            by_cert_cn: BTreeMap::new(),
            changes: None,
        }
    }
}

fn index_add(map: &mut BTreeMap<String, BTreeSet<ConnId>>, key: Option<&String>, id: ConnId) {
    if let Some(k) = key {
        map.entry(k.clone()).or_default().insert(id);
    }
}

fn index_remove(map: &mut BTreeMap<String, BTreeSet<ConnId>>, key: Option<&String>, id: ConnId) {
    if let Some(k) = key
        && let Some(set) = map.get_mut(k)
    {
        set.remove(&id);
        if set.is_empty() {
            map.remove(k);
        }
    }
}

impl<C> Registry<C> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep the ids of connections that change from now on.
    pub fn track_changes(&mut self) {
        self.changes.get_or_insert_with(BTreeSet::new);
    }

    /// The connections added, changed or removed since the last call, by id.
    pub fn take_changes(&mut self) -> Vec<ConnId> {
        self.changes
            .as_mut()
            .map(|c| std::mem::take(c).into_iter().collect())
            .unwrap_or_default()
    }

    fn changed(&mut self, id: ConnId) {
        if let Some(c) = &mut self.changes {
            c.insert(id);
        }
    }

    /// Register a connection; its id is `info.id`. Refused (returning the state)
    /// when that id is already registered.
    pub fn insert(&mut self, info: ConnectionInfo, state: C) -> Result<(), C> {
        let id = ConnId(info.id);
        if self.conns.contains_key(&id) {
            return Err(state);
        }
        index_add(
            &mut self.by_nas_identifier,
            info.status_nas_identifier.as_ref(),
            id,
        );
        index_add(
            &mut self.by_cert_cn,
            info.cert.as_ref().and_then(|c| c.subject_cn.as_ref()),
            id,
        );
        self.conns.insert(
            id,
            Entry {
                info: Arc::new(info),
                state,
            },
        );
        self.changed(id);
        Ok(())
    }

    /// Forget a connection, returning it.
    pub fn remove(&mut self, id: ConnId) -> Option<Entry<C>> {
        let entry = self.conns.remove(&id)?;
        index_remove(
            &mut self.by_nas_identifier,
            entry.info.status_nas_identifier.as_ref(),
            id,
        );
        index_remove(
            &mut self.by_cert_cn,
            entry.info.cert.as_ref().and_then(|c| c.subject_cn.as_ref()),
            id,
        );
        self.changed(id);
        Some(entry)
    }

    /// The connection with this id.
    pub fn get(&self, id: ConnId) -> Option<&Entry<C>> {
        self.conns.get(&id)
    }

    /// The owner's state of the connection with this id.
    pub fn state_mut(&mut self, id: ConnId) -> Option<&mut C> {
        self.conns.get_mut(&id).map(|e| &mut e.state)
    }

    /// Whether the connection is registered (active).
    pub fn contains(&self, id: ConnId) -> bool {
        self.conns.contains_key(&id)
    }

    /// Record a Status-Server: when it arrived and, if it carried one, its
    /// NAS-Identifier (a Status-Server without one keeps the previous value).
    pub fn record_status(
        &mut self,
        id: ConnId,
        received: SystemTime,
        nas_identifier: Option<String>,
    ) {
        let Some(entry) = self.conns.get_mut(&id) else {
            return;
        };
        let old = entry.info.status_nas_identifier.clone();
        let info = Arc::make_mut(&mut entry.info);
        info.status_received = Some(received);
        if let Some(n) = nas_identifier {
            info.status_nas_identifier = Some(n);
        }
        if old != info.status_nas_identifier {
            let new = info.status_nas_identifier.clone();
            index_remove(&mut self.by_nas_identifier, old.as_ref(), id);
            index_add(&mut self.by_nas_identifier, new.as_ref(), id);
        }
        self.changed(id);
    }

    /// Record that a whole packet arrived from the peer at `at` (`connection.last_heard`).
    pub fn record_heard(&mut self, id: ConnId, at: SystemTime) {
        if let Some(entry) = self.conns.get_mut(&id)
            && entry.info.last_heard != Some(at)
        {
            Arc::make_mut(&mut entry.info).last_heard = Some(at);
        }
    }

    /// Set whether the connection is healthy (`connection.healthy`; `@select`
    /// visits healthy connections first). Returns the previous value.
    pub fn set_healthy(&mut self, id: ConnId, healthy: bool) -> Option<bool> {
        let entry = self.conns.get_mut(&id)?;
        let was = entry.info.healthy;
        if was != healthy {
            Arc::make_mut(&mut entry.info).healthy = healthy;
            self.changed(id);
        }
        Some(was)
    }

    /// The connections whose recorded NAS-Identifier is `nas_identifier`, oldest
    /// first (one index lookup).
    pub fn nas_identifier_holders(
        &self,
        nas_identifier: &str,
    ) -> impl Iterator<Item = ConnId> + '_ {
        self.by_nas_identifier
            .get(nas_identifier)
            .into_iter()
            .flat_map(|set| set.iter().copied())
    }

    /// Every active connection, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Entry<C>)> + '_ {
        self.conns.iter().map(|(id, e)| (*id, e))
    }

    /// The ids of every active connection, oldest first.
    pub fn ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// How many connections are active.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is active.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Check the registry's own invariants (for tests and simulations): every
    /// connection is filed under its own id, and each index holds exactly the
    /// connections whose field has that value (no stale, missing or empty sets).
    pub fn check(&self) -> Result<(), String> {
        let mut nas: BTreeMap<String, BTreeSet<ConnId>> = BTreeMap::new();
        let mut cn: BTreeMap<String, BTreeSet<ConnId>> = BTreeMap::new();
        for (id, entry) in &self.conns {
            if ConnId(entry.info.id) != *id {
                return Err(format!(
                    "registry: connection {} filed under {id}",
                    entry.info.id
                ));
            }
            index_add(&mut nas, entry.info.status_nas_identifier.as_ref(), *id);
            index_add(
                &mut cn,
                entry.info.cert.as_ref().and_then(|c| c.subject_cn.as_ref()),
                *id,
            );
        }
        if nas != self.by_nas_identifier {
            return Err("registry: the NAS-Identifier index disagrees with the connections".into());
        }
        if cn != self.by_cert_cn {
            return Err("registry: the certificate CN index disagrees with the connections".into());
        }
        Ok(())
    }

    /// The `@select` candidates, oldest first: every active connection, or with a
    /// probe only those whose indexed field equals the probe (the others cannot be
    /// accepted; see [`crate::reverse::index`]). The selection itself puts healthy
    /// ones before doubtful ones ([`crate::eval::select`]).
    pub fn candidates(&self, probe: Option<&Probe>) -> Vec<Arc<ConnectionInfo>> {
        let pick = |ids: Option<&BTreeSet<ConnId>>| -> Vec<Arc<ConnectionInfo>> {
            ids.map(|set| {
                set.iter()
                    .filter_map(|id| self.conns.get(id).map(|e| e.info.clone()))
                    .collect()
            })
            .unwrap_or_default()
        };
        match probe {
            None => self.conns.values().map(|e| e.info.clone()).collect(),
            Some(Probe::Id(id)) => self
                .conns
                .get(&ConnId(*id))
                .map(|e| vec![e.info.clone()])
                .unwrap_or_default(),
            Some(Probe::NasIdentifier(n)) => pick(self.by_nas_identifier.get(n)),
            Some(Probe::CertCn(cn)) => pick(self.by_cert_cn.get(cn)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Transport;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn info(id: u64, nas: Option<&str>) -> ConnectionInfo {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2083);
        ConnectionInfo {
            id,
            client_name: "nas".into(),
            peer_addr: addr,
            server_name: "RADSEC".into(),
            server_addr: addr,
            transport: Transport::Tls,
            connected: std::time::UNIX_EPOCH,
            disconnected: None,
            status_received: None,
            status_nas_identifier: nas.map(str::to_owned),
            last_heard: None,
            healthy: true,
            cert: None,
        }
    }

    #[test]
    fn the_check_follows_inserts_status_updates_and_removals() {
        let mut r: Registry<()> = Registry::new();
        r.insert(info(1, Some("a")), ()).expect("new id");
        r.insert(info(2, None), ()).expect("new id");
        assert_eq!(r.insert(info(2, None), ()), Err(()));
        r.check().expect("consistent after inserts");
        r.record_status(ConnId(2), std::time::UNIX_EPOCH, Some("a".into()));
        r.check().expect("consistent after a status update");
        r.remove(ConnId(1));
        r.check().expect("consistent after a removal");
        assert_eq!(
            r.candidates(Some(&Probe::NasIdentifier("a".into()))).len(),
            1
        );
    }

    #[test]
    fn the_check_finds_a_stale_index_entry() {
        let mut r: Registry<()> = Registry::new();
        r.insert(info(1, Some("a")), ()).expect("new id");
        r.by_nas_identifier
            .entry("b".into())
            .or_default()
            .insert(ConnId(1));
        assert!(r.check().is_err());
    }
}
