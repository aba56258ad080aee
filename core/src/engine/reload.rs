//! Applying a new program to a running engine (SIGHUP) without dropping what it holds.
//!
//! [`Engine::reload`] swaps the program new work runs under and keeps everything
//! else: the registry of NAS connections (with their `connection.*` facts, identifier
//! pools and requests in flight), the duplicate cache, requests being handled, and
//! the outbound side. Requests begun before the swap finish under the program they
//! started with (each task holds its own `Arc<Program>`). Servers are matched by
//! name, since their numbers may shift: a connection whose server is gone, or no
//! longer takes it (another transport, its client removed), is closed; every other
//! one stays, under its server's new number and its client's new secret and rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::contract::{CloseReason, ConnId};
use crate::engine::attrs::DictSchema;
use crate::engine::connect::listened_backends;
use crate::engine::task::Origin;
use crate::engine::timers::TimerKind;
use crate::engine::{Engine, Now};
use crate::eval::ir::BackendId;
use crate::lang::program::{BackendKind, Program, RadiusServerMode, ServerId};
use crate::reverse::index::SelectPlan;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Each server of the previous program that the new one still has (by name):
    /// its previous number → its number now.
    pub servers: BTreeMap<ServerId, ServerId>,
    /// Connections closed because their server was removed or no longer takes them
    /// (each also announced with `Output::StreamClose`).
    pub closed: Vec<ConnId>,
}

/// Why a program cannot be applied to a running engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The `connect` backends (or which of them `listen { backend … }` servers keep
    /// connected) differ: their outbound connections cannot be carried over.
    #[error("the `connect` backends changed; their outbound connections cannot be carried over")]
    OutboundChanged,
}

/// Whether `new` has the same outbound side as `old`: the same `connect` backends
/// at the same numbers with the same servers, the same backends kept connected by
/// `listen { backend … }` servers, and (when a `connect` server uses TLS) the same
/// certificate entries. Only then can a reload keep the outbound connections.
pub fn outbound_unchanged(old: &Program, new: &Program) -> bool {
    fn connect_backends(p: &Program) -> Vec<(usize, &str, &crate::lang::program::RadiusBackend)> {
        p.backends
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match &b.kind {
                BackendKind::Radius(r)
                    if r.servers
                        .iter()
                        .any(|s| matches!(s.mode, RadiusServerMode::Connect(_))) =>
                {
                    Some((i, b.name.as_str(), r))
                }
                _ => None,
            })
            .collect()
    }
    fn same_servers(
        a: &crate::lang::program::RadiusBackend,
        b: &crate::lang::program::RadiusBackend,
    ) -> bool {
        a.server_selection == b.server_selection && a.servers == b.servers
    }
    let (a, b) = (connect_backends(old), connect_backends(new));
    if a.len() != b.len()
        || a.iter()
            .zip(&b)
            .any(|(x, y)| x.0 != y.0 || x.1 != y.1 || !same_servers(x.2, y.2))
    {
        return false;
    }
    if listened_backends(old) != listened_backends(new) {
        return false;
    }
    let certificates = |p: &Program| {
        p.certificates
            .iter()
            .map(|c| (c.name.clone(), c.kind.clone()))
            .collect::<Vec<_>>()
    };
    a.is_empty() || certificates(old) == certificates(new)
}

/// The `@select` index plans of every reverse server of `program`.
pub(super) fn select_plans(program: &Program) -> BTreeMap<(BackendId, usize), SelectPlan> {
    let mut plans = BTreeMap::new();
    for (b, backend) in program.backends.iter().enumerate() {
        let BackendKind::Radius(r) = &backend.kind else {
            continue;
        };
        let Ok(b) = u32::try_from(b) else { continue };
        for (s, server) in r.servers.iter().enumerate() {
            if let RadiusServerMode::Reverse(rev) = &server.mode {
                if let Some(plan) = SelectPlan::analyze(&rev.select) {
                    plans.insert((BackendId(b), s), plan);
                }
            }
        }
    }
    plans
}

impl Engine {
    /// Run new work under `program` from now on, keeping connections, requests in
    /// flight, identifier pools, the duplicate cache and the outbound side (see the
    /// module documentation). Refused, with nothing changed, when the outbound side
    /// differs ([`outbound_unchanged`]).
    pub fn reload(&mut self, now: Now, program: Arc<Program>) -> Result<Reloaded, ReloadError> {
        if self.outbound.is_some() && !outbound_unchanged(&self.program, &program) {
            return Err(ReloadError::OutboundChanged);
        }
        // Timers that are due run under the program they were set under.
        self.handle_timeout(now);
        let old = std::mem::replace(&mut self.program, program.clone());
        let servers: BTreeMap<ServerId, ServerId> = old
            .servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let (new, _) = program.server_by_name(&s.name)?;
                Some((ServerId(u32::try_from(i).ok()?), new))
            })
            .collect();
        self.schema = Arc::new(DictSchema::new(program.dictionary.clone()));
        self.plans = select_plans(&program);
        // Round-robin counters follow their backend by name, while it keeps a
        // reverse server at that position.
        let counters = std::mem::take(&mut self.counters);
        for ((backend, index), count) in counters {
            let moved = old
                .backend(backend)
                .and_then(|b| program.backend_by_name(&b.name))
                .filter(|(_, b)| match &b.kind {
                    BackendKind::Radius(r) => r
                        .servers
                        .get(index)
                        .is_some_and(|s| matches!(s.mode, RadiusServerMode::Reverse(_))),
                    BackendKind::Sqlite(_) => false,
                });
            if let Some((id, _)) = moved {
                self.counters.insert((id, index), count);
            }
        }
        self.dedup.remap_servers(|s| servers.get(&s).copied());
        for task in self.tasks.values_mut() {
            if let Origin::Udp { dup, .. } = &mut task.origin {
                match servers.get(&dup.server) {
                    Some(new) => dup.server = *new,
                    // Its server (and socket) is gone: no answer can go out.
                    None => task.replied = true,
                }
            }
        }
        let mut closed = Vec::new();
        for conn in self.registry.ids() {
            let Some(entry) = self.registry.get(conn) else {
                continue;
            };
            let info = entry.info().clone();
            let terms = match servers.get(&entry.state.server) {
                None => Err(format!("server \"{}\" was removed", info.server_name)),
                Some(new) => self
                    .stream_terms(*new, info.peer_addr, info.transport)
                    .map(|t| (*new, t))
                    .map_err(|(reason, _)| format!("server \"{}\": {reason}", info.server_name)),
            };
            match terms {
                Ok((server, terms)) => {
                    let Some(state) = self.registry.state_mut(conn) else {
                        continue;
                    };
                    state.server = server;
                    state.secret = terms.secret;
                    state.verify = terms.verify;
                    state.idle = terms.idle;
                    state.probe_timeout = terms.probe_timeout;
                    state.binding = terms.binding;
                    // An idle timeout that was off and is now on needs its timer;
                    // one that is now off lets the running timer lapse.
                    if let (Some(idle), None) = (state.idle, state.idle_timer) {
                        let at = state.last_activity.max(now.mono) + idle;
                        state.idle_timer = Some(self.timers.add(at, TimerKind::Idle(conn)));
                    }
                }
                Err(why) => {
                    self.close_stream(now, conn, Some(CloseReason::Reconfigured(why)));
                    closed.push(conn);
                }
            }
        }
        self.drain_outbound(now);
        Ok(Reloaded { servers, closed })
    }

    /// The running program's number for backend `backend` of `program` (the
    /// program a request started under): the same number when that is the running
    /// program, else the number of the backend with the same name (`None` when a
    /// reload removed it).
    pub(super) fn current_backend(
        &self,
        program: &Program,
        backend: BackendId,
    ) -> Option<BackendId> {
        if std::ptr::eq(program, &*self.program) {
            return Some(backend);
        }
        let name = &program.backend(backend)?.name;
        self.program.backend_by_name(name).map(|(id, _)| id)
    }
}
