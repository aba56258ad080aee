//! Applying a new program to a running engine (SIGHUP) without dropping what it holds.
//!
//! [`Engine::reload`] swaps the program new work runs under and keeps everything
//! else: the registry of NAS connections (with their `connection.*` facts, identifier
//! pools and requests in flight), the duplicate cache, requests being handled, and
//! the dialer. Requests begun before the swap finish under the program they
//! started with (each task holds its own `Arc<Program>`). Servers are matched by
//! name, since their numbers may shift: a connection whose server is gone, or no
//! longer takes it (another transport, its client removed), is closed; every other
//! one stays, under its server's new number and its client's new secret and rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::contract::{CloseReason, ReloadError, Reloaded, ServerId};
use crate::engine::attrs::DictSchema;
use crate::engine::stream::FIRST_PACKET_TIMEOUT;
use crate::engine::task::Origin;
use crate::engine::{Engine, Now};
use crate::eval::ir::BackendId;
use crate::lang::program::{BackendKind, Program, RadiusServerMode, connect_backends_unchanged};
use crate::reverse::index::select_plans;

impl Engine {
    /// Run new work under `program` from now on, keeping connections, requests in
    /// flight, identifier pools, the duplicate cache and the dialer (see the
    /// module documentation). Refused, with nothing changed, when the dialer
    /// differs ([`connect_backends_unchanged`]).
    pub fn reload(&mut self, now: Now, program: Arc<Program>) -> Result<Reloaded, ReloadError> {
        if self.dialer.is_some() && !connect_backends_unchanged(&self.program, &program) {
            return Err(ReloadError::DialerChanged);
        }
        if self.program.cluster != program.cluster {
            return Err(ReloadError::ClusterChanged);
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
        for task in self.runs.tasks_mut() {
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
                    // The timer again for the new idle timeout, counted from now at
                    // the earliest (and the first-packet deadline of an unproven
                    // connection); without either, none.
                    let idle_at = state
                        .idle
                        .map(|idle| state.last_activity.max(now.mono) + idle);
                    let first_at = (!state.proven).then(|| state.opened + FIRST_PACKET_TIMEOUT);
                    let at = match (idle_at, first_at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    self.idle_timers.cancel(state.idle_timer.take());
                    state.idle_timer = at.map(|at| self.idle_timers.set(at, conn));
                }
                Err(why) => {
                    self.close_stream(now, conn, Some(CloseReason::Reconfigured(why)));
                    closed.push(conn);
                }
            }
        }
        self.drain_dialer(now);
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
