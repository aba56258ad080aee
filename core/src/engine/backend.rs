//! Backend calls: SQL statements as effects the driver runs, and reverse requests
//! carried out entirely inside the engine (`@select`, identifier allocation,
//! signing, reply matching and verification, mapping, timeout, retry).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::contract::{
    CloseReason, ConnId, EffectId, Output, REMOVED_BACKEND, ReverseStep, Severity, SqlRows,
};
use crate::engine::pipeline::{Started, internal_error};
use crate::engine::request::{apply_radius_reply, outgoing_request, server_def};
use crate::engine::task::CallTrace;
use crate::engine::task::{Phase, ReverseCall, Task, TaskId, Wait, Waiter};
use crate::engine::{Engine, Now};
use crate::eval::context::EvalEnv;
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{ActionResult, BackendCall, BackendId, QueryId};
use crate::eval::machine::{Effect, EffectResult};
use crate::eval::query::{OutgoingRequest, SqlQuery, apply_sql_mapping, eval_sql_params};
use crate::eval::select::{Selection, SelectionStep};
use crate::eval::value::Value;
use crate::lang::program::{BackendKind, Program, RadiusServerDef, RadiusServerMode, Reverse};
use crate::peer::{Event, Failure, Refused, Request, Submitted};
use crate::radius::attr::{EVENT_TIMESTAMP, MESSAGE_AUTHENTICATOR, PROXY_STATE};
use crate::radius::code::{AuthenticatorKind, Code};
use crate::radius::id::AttrId;
use crate::radius::packet::Packet;

fn err(code: ErrorCode, msg: impl Into<String>) -> Started {
    Started::Done(Err(ErrorValue::new(code, msg)))
}

/// The `reverse { … }` of a server definition, with the backend's name.
fn reverse_def(program: &Program, backend: BackendId, index: usize) -> Option<(&Reverse, &str)> {
    let b = program.backend(backend)?;
    let BackendKind::Radius(r) = &b.kind else {
        return None;
    };
    match &r.servers.get(index)?.mode {
        RadiusServerMode::Reverse(rev) => Some((rev, &b.name)),
        RadiusServerMode::Connect(_) => None,
    }
}

/// What an SQL statement's answer makes of the `backend` action that asked for it:
/// its mapping applied to `target`, then `accept` when rows came back, `ignore`
/// when none did; a database error is `BACKEND_ERROR` naming the backend.
fn sql_answer(
    program: &Program,
    backend: BackendId,
    query: QueryId,
    result: Result<SqlRows, String>,
    target: &mut dyn EvalEnv,
) -> Result<ActionResult, ErrorValue> {
    let Some(be) = program.backend(backend) else {
        return Err(internal_error("SQL backend vanished"));
    };
    let rows = result.map_err(|msg| {
        ErrorValue::new(
            ErrorCode::BackendError,
            format!("backend \"{}\": {msg}", be.name),
        )
    })?;
    let query = be
        .sql_query(query)
        .ok_or_else(|| internal_error("SQL query vanished"))?;
    apply_sql_mapping(&query.mapping, &rows, target)?;
    Ok(if rows.rows.is_empty() {
        ActionResult::Ignore
    } else {
        ActionResult::Accept
    })
}

impl Engine {
    /// Start the backend call a pipeline parked on.
    pub(super) fn start_backend(
        &mut self,
        now: Now,
        tid: TaskId,
        task: &mut Task,
        call: &BackendCall,
    ) -> Started {
        let program = task.program.clone();
        let Some(backend) = program.backend(call.backend) else {
            return err(
                ErrorCode::BackendError,
                format!("no backend \"{}\"", call.backend_name),
            );
        };
        match &backend.kind {
            BackendKind::Sqlite(_) => {
                let Some((qid, q)) = call
                    .query
                    .and_then(|qid| backend.sql_query(qid).map(|q| (qid, q)))
                else {
                    return err(
                        ErrorCode::InvalidValue,
                        format!("SQL backend \"{}\" needs a query", backend.name),
                    );
                };
                match eval_sql_params(&q.params, &task.ctx) {
                    Err(e) => Started::Done(Err(e)),
                    Ok(params) => {
                        let effect = self.emit_sql(tid, &program, call.backend, q, params);
                        task.wait = Wait::Sql {
                            effect,
                            backend: call.backend,
                            query: qid,
                        };
                        Started::Parked
                    }
                }
            }
            BackendKind::Radius(r) => {
                // Servers are tried in priority order; the first one decides.
                let Some((index, server)) =
                    r.servers.iter().enumerate().min_by_key(|(_, s)| s.priority)
                else {
                    return err(
                        ErrorCode::BackendError,
                        format!("RADIUS backend \"{}\" has no server", backend.name),
                    );
                };
                match &server.mode {
                    RadiusServerMode::Connect(_) => self.start_connect_call(now, tid, task, call),
                    RadiusServerMode::Reverse(_) => {
                        self.start_reverse(now, tid, task, call, index, server)
                    }
                }
            }
        }
    }

    /// Ask the driver for an SQL statement. `backend` is a number of `program`, the
    /// task's; the driver knows the running program's backends, so the statement
    /// goes to the backend of the same name there ([`REMOVED_BACKEND`] when a reload
    /// removed it: the driver has no database for it and answers with an error).
    fn emit_sql(
        &mut self,
        tid: TaskId,
        program: &Program,
        backend: BackendId,
        q: &SqlQuery,
        params: Vec<Value>,
    ) -> EffectId {
        let effect = self.runs.wait_sql(tid);
        let backend = self
            .current_backend(program, backend)
            .unwrap_or(REMOVED_BACKEND);
        self.outputs.push_back(Output::Sql {
            effect,
            backend,
            statement: q.statement.clone(),
            params,
        });
        effect
    }

    /// The SQL query a call inside `@select` names.
    fn select_sql(
        program: &Program,
        call: &BackendCall,
    ) -> Result<(BackendId, QueryId, SqlQuery), ErrorValue> {
        let backend = program.backend(call.backend).ok_or_else(|| {
            ErrorValue::new(
                ErrorCode::BackendError,
                format!("no backend \"{}\"", call.backend_name),
            )
        })?;
        if !matches!(backend.kind, BackendKind::Sqlite(_)) {
            return Err(ErrorValue::new(
                ErrorCode::BackendError,
                format!(
                    "backend \"{}\": only SQL backends can be called inside @select",
                    backend.name
                ),
            ));
        }
        call.query
            .and_then(|qid| {
                backend
                    .sql_query(qid)
                    .map(|q| (call.backend, qid, q.clone()))
            })
            .ok_or_else(|| {
                ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!("SQL backend \"{}\" needs a query", backend.name),
                )
            })
    }

    pub(super) fn on_sql_done(
        &mut self,
        now: Now,
        effect: EffectId,
        result: Result<SqlRows, String>,
    ) {
        let Some((tid, mut task)) = self.runs.sql_done(effect) else {
            return;
        };
        let program = task.program.clone();
        let Task { ctx, wait, .. } = &mut task;
        match wait {
            Wait::Sql {
                effect: e,
                backend,
                query,
            } if *e == effect => {
                let answer = sql_answer(&program, *backend, *query, result, ctx);
                self.resume_backend(now, tid, task, answer);
            }
            Wait::Reverse(call) => {
                let Phase::Selecting { selection, sql } = &mut call.phase else {
                    self.runs.park(tid, task);
                    return;
                };
                let Some((e, b, q)) = *sql else {
                    self.runs.park(tid, task);
                    return;
                };
                if e != effect {
                    self.runs.park(tid, task);
                    return;
                }
                *sql = None;
                let answer = match selection.current() {
                    None => Err(internal_error("no @select run parked")),
                    Some(run) => sql_answer(&program, b, q, result, &mut run.env(&*ctx)),
                };
                let step = selection
                    .resume(&*ctx, EffectResult::Backend(answer))
                    .unwrap_or_else(|e| SelectionStep::Done(Err(internal_error(e))));
                match self.selection_step(now, tid, &mut task, step) {
                    Started::Parked => {
                        self.runs.park(tid, task);
                    }
                    Started::Done(r) => self.resume_backend(now, tid, task, r),
                }
            }
            _ => {
                self.runs.park(tid, task);
            }
        }
    }

    // ----- reverse requests -------------------------------------------------------

    fn start_reverse(
        &mut self,
        now: Now,
        tid: TaskId,
        task: &mut Task,
        call: &BackendCall,
        index: usize,
        server: &RadiusServerDef,
    ) -> Started {
        let (code, sent) = match outgoing_request(&task.program, call, &task.ctx) {
            Ok(r) => r,
            Err(e) => return Started::Done(Err(e)),
        };
        let template = match self.reverse_template(now, code, &sent, server.secret.as_bytes()) {
            Ok(t) => t,
            Err(e) => return Started::Done(Err(e)),
        };
        task.wait = Wait::Reverse(Box::new(ReverseCall {
            backend: call.backend,
            server: index,
            query: call.query,
            sent,
            template,
            retries_left: server.retries,
            written: false,
            phase: Phase::Idle,
            trace: CallTrace::default(),
        }));
        self.select(now, tid, task)
    }

    /// The packet to send: the bound attributes (Proxy-State and any copied
    /// Message-Authenticator left out, passwords hidden for the NAS) plus an
    /// Event-Timestamp when the bindings set none.
    fn reverse_template(
        &mut self,
        now: Now,
        code: Code,
        sent: &OutgoingRequest,
        secret: &[u8],
    ) -> Result<Packet, ErrorValue> {
        let mut packet = Packet::new(code, 0);
        if code.authenticator_kind() == Some(AuthenticatorKind::Random)
            && sent.attrs.entries().iter().any(|e| self.schema.hides(e.id))
        {
            return Err(ErrorValue::new(
                ErrorCode::InvalidValue,
                "hidden attributes (User-Password, Tunnel-Password) cannot be sent in a reverse Access-Request",
            ));
        }
        let skip = [
            AttrId::Standard(PROXY_STATE),
            AttrId::Standard(MESSAGE_AUTHENTICATOR),
        ];
        crate::engine::attrs::push_entries(
            &self.schema,
            &mut packet,
            sent.attrs.entries(),
            &skip,
            secret,
            &[0u8; 16],
            self.rng.as_mut(),
        )
        .map_err(|e| ErrorValue::new(ErrorCode::InvalidValue, e.to_string()))?;
        if !packet.contains(EVENT_TIMESTAMP) {
            let secs = now
                .wall
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| u32::try_from(d.as_secs()).ok());
            if let Some(secs) = secs {
                packet.push(EVENT_TIMESTAMP, secs.to_be_bytes().to_vec());
            }
        }
        Ok(packet)
    }

    /// Run `@select` for the task's reverse call.
    fn select(&mut self, now: Now, tid: TaskId, task: &mut Task) -> Started {
        let program = task.program.clone();
        // The index plans and round-robin counters are the running program's: a
        // request begun before a reload scans every connection (the naive
        // definition, always right) and starts its rotation at zero.
        let current = Arc::ptr_eq(&program, &self.program);
        let step = {
            let Task { ctx, wait, .. } = &mut *task;
            let Wait::Reverse(call) = wait else {
                return Started::Done(Err(internal_error("select without a reverse call")));
            };
            let Some((rev, name)) = reverse_def(&program, call.backend, call.server) else {
                return Started::Done(Err(internal_error("reverse server vanished")));
            };
            let key = (call.backend, call.server);
            let probe = if self.limits.select_index && current {
                self.plans.get(&key).and_then(|p| p.probe(&*ctx))
            } else {
                None
            };
            let candidates = self.candidates(probe.as_ref());
            let counter = if current {
                self.counters.get(&key).copied().unwrap_or(0)
            } else {
                0
            };
            let mut selection = Box::new(Selection::new(
                rev.mode,
                rev.select.clone(),
                program.library.clone(),
                candidates,
                counter,
                name,
            ));
            let step = selection.start(&*ctx);
            call.phase = Phase::Selecting {
                selection,
                sql: None,
            };
            step
        };
        self.selection_step(now, tid, task, step)
    }

    /// Carry a selection on from `step` until it parks or ends.
    fn selection_step(
        &mut self,
        now: Now,
        tid: TaskId,
        task: &mut Task,
        mut step: SelectionStep,
    ) -> Started {
        let task_program = task.program.clone();
        loop {
            let Task { ctx, wait, .. } = &mut *task;
            let Wait::Reverse(call) = wait else {
                return Started::Done(Err(internal_error("selection without a reverse call")));
            };
            let Phase::Selecting { selection, sql } = &mut call.phase else {
                return Started::Done(Err(internal_error("selection without a selection")));
            };
            let logs = selection.take_logs();
            self.flush_logs(logs);
            match step {
                SelectionStep::Done(Err(e)) => {
                    call.phase = Phase::Idle;
                    // Sent on a connection that closed, and nowhere to send it
                    // again: the truthful outcome is the close.
                    if call.written && e.code == ErrorCode::NoReverseConnections {
                        return err(
                            ErrorCode::ConnectionClosed,
                            "the connection closed before the reply arrived, and no other connection was selected",
                        );
                    }
                    return Started::Done(Err(e));
                }
                SelectionStep::Done(Ok(selected)) => {
                    if Arc::ptr_eq(&task_program, &self.program) {
                        let counter = self
                            .counters
                            .entry((call.backend, call.server))
                            .or_insert(0);
                        *counter = counter.wrapping_add(1);
                    }
                    call.phase = Phase::Idle;
                    return self.dispatch(now, tid, task, ConnId(selected.chosen.id));
                }
                SelectionStep::Effect(Effect::SendReply { .. }) => {
                    step = selection
                        .resume(&*ctx, EffectResult::ReplySent)
                        .unwrap_or_else(|e| SelectionStep::Done(Err(internal_error(e))));
                }
                SelectionStep::Effect(Effect::Backend(inner)) => {
                    let answer = match Self::select_sql(&task_program, &inner) {
                        Err(e) => Err(e),
                        Ok((backend, qid, q)) => {
                            let params = match selection.current() {
                                Some(run) => {
                                    let env = run.env(&*ctx);
                                    eval_sql_params(&q.params, &env)
                                }
                                None => Err(internal_error("no @select run parked")),
                            };
                            match params {
                                Ok(params) => {
                                    let effect =
                                        self.emit_sql(tid, &task_program, backend, &q, params);
                                    *sql = Some((effect, backend, qid));
                                    return Started::Parked;
                                }
                                Err(e) => Err(e),
                            }
                        }
                    };
                    step = selection
                        .resume(&*ctx, EffectResult::Backend(answer))
                        .unwrap_or_else(|e| SelectionStep::Done(Err(internal_error(e))));
                }
            }
        }
    }

    /// Hand the request to the chosen connection's peer machine: sent now, or at
    /// the back of its queue.
    fn dispatch(&mut self, now: Now, tid: TaskId, task: &mut Task, conn: ConnId) -> Started {
        let program = task.program.clone();
        let Wait::Reverse(call) = &mut task.wait else {
            return Started::Done(Err(internal_error("send without a reverse call")));
        };
        let Some(server) = server_def(&program, call.server_ref()) else {
            return Started::Done(Err(internal_error("reverse server vanished")));
        };
        if !self.registry.contains(conn) {
            // Held by another node of the cluster (or gone meanwhile).
            return self.forward(now, tid, task, conn);
        }
        let secret = Arc::from(server.secret.as_bytes());
        let req = Request::reverse(
            Waiter::Task(tid),
            call.template.clone(),
            secret,
            server.timeout,
        );
        match self.submit_reverse(now, conn, req) {
            None => self.retry_or_closed(now, tid, task, false),
            Some(Ok(Submitted::Sent { id, bytes })) => {
                self.sent_reverse(now, call, conn, id, bytes);
                Started::Parked
            }
            Some(Ok(Submitted::Queued)) => {
                call.phase = Phase::Queued { conn };
                Started::Parked
            }
            Some(Err(e)) => Started::Done(Err(e)),
        }
    }

    /// Hand a reverse request (of a task here or of another node) to the peer
    /// machine of `conn`; `None` when the connection is gone. A refusal is the
    /// error the waiter gets (a full queue is also reported as a step).
    pub(super) fn submit_reverse(
        &mut self,
        now: Now,
        conn: ConnId,
        req: Request<Waiter>,
    ) -> Option<Result<Submitted, ErrorValue>> {
        let rng = self.rng.as_mut();
        let submitted = self.peers.with(conn, |p| p.submit(now.mono, req, rng))?;
        Some(submitted.map_err(|refused| match refused {
            Refused::QueueFull { .. } => {
                self.step(ReverseStep::QueueFull);
                ErrorValue::new(
                    ErrorCode::QueueFull,
                    format!("connection {conn}: {refused}"),
                )
            }
            Refused::Encode(e) => ErrorValue::new(
                ErrorCode::InvalidValue,
                format!("the reverse request could not be encoded: {e}"),
            ),
        }))
    }

    /// The request of `call` went out on `conn` with identifier `id`.
    fn sent_reverse(
        &mut self,
        now: Now,
        call: &mut ReverseCall,
        conn: ConnId,
        id: u8,
        data: Bytes,
    ) {
        call.phase = Phase::InFlight { conn, id };
        call.written = true;
        call.trace.sent(now.mono);
        self.write_reverse(conn, data);
    }

    /// Write a signed reverse request (of a task here or of another node) on `conn`.
    pub(super) fn write_reverse(&mut self, conn: ConnId, data: Bytes) {
        self.step(ReverseStep::Sent);
        self.outputs.push_back(Output::StreamWrite { conn, data });
    }

    /// Send what waits on `conn` while identifiers are free (a waiting liveness
    /// probe first).
    pub(super) fn pump(&mut self, now: Now, conn: ConnId) {
        let rng = self.rng.as_mut();
        let events = self.peers.with(conn, |p| p.pump(now.mono, rng));
        self.on_peer_events(now, conn, events.unwrap_or_default());
    }

    /// Carry out what the peer machine of `conn` reported. What happens to the
    /// connection is the same whoever waits; then the waiter is told: a task of
    /// this node, or another node's forward (answered over the bus).
    pub(super) fn on_peer_events(&mut self, now: Now, conn: ConnId, events: Vec<Event<Waiter>>) {
        for event in events {
            match event {
                Event::Sent { waiter, id, bytes } => match waiter {
                    Waiter::Task(tid) => {
                        let Some(mut task) = self.runs.take(tid) else {
                            continue;
                        };
                        if let Wait::Reverse(call) = &mut task.wait {
                            self.sent_reverse(now, call, conn, id, bytes);
                        }
                        self.runs.park(tid, task);
                    }
                    Waiter::Forwarded(_) => self.write_reverse(conn, bytes),
                },
                Event::ProbeSent { bytes: data } => {
                    self.step(ReverseStep::ProbeSent);
                    self.outputs.push_back(Output::StreamWrite { conn, data });
                }
                Event::Resent { bytes: data } => {
                    self.outputs.push_back(Output::StreamWrite { conn, data });
                }
                Event::Reply {
                    waiter,
                    packet,
                    authenticator,
                } => {
                    self.step(ReverseStep::Replied);
                    self.prove(conn);
                    self.restore_health(now, conn);
                    self.pump(now, conn);
                    match waiter {
                        Waiter::Task(tid) => self.reverse_reply(now, tid, &packet, &authenticator),
                        Waiter::Forwarded(key) => {
                            self.answer_forwarded(now, key, &packet, &authenticator)
                        }
                    }
                }
                Event::Failed { waiter, failure } => {
                    match failure {
                        Failure::Timeout { .. } => {
                            self.step(ReverseStep::TimedOut);
                            self.doubt(now, conn);
                        }
                        // The requests in flight ahead of it time out (and put the
                        // connection in doubt) by themselves.
                        Failure::Queued { .. } => self.step(ReverseStep::QueueTimedOut),
                        Failure::Encode(_) => {}
                    }
                    match waiter {
                        Waiter::Task(tid) => self.reverse_failed(now, tid, conn, failure),
                        Waiter::Forwarded(key) => self.forwarded_failed(now, key, failure),
                    }
                }
                Event::Lost { waiter, seen } => match waiter {
                    Waiter::Task(tid) => self.reverse_connection_lost(now, tid, seen),
                    Waiter::Forwarded(key) => self.forwarded_lost(now, key, seen),
                },
                Event::BadReply { error, .. } => {
                    // RFC 6613 §2.6.4: a bad Response Authenticator or
                    // Message-Authenticator closes the connection.
                    self.step(ReverseStep::BadReply);
                    self.close_stream(now, conn, Some(CloseReason::BadReply(error)));
                }
                Event::Stray { id, code, late } => {
                    let reason = if late {
                        crate::contract::DropReason::LateReply
                    } else {
                        crate::contract::DropReason::UnmatchedReply
                    };
                    if let Some(entry) = self.registry.get(conn) {
                        self.dropped(entry.state.server, reason);
                    }
                    let what = if late {
                        "answers a request of ours that already timed out"
                    } else {
                        "matches no request"
                    };
                    self.log(
                        Severity::Debug,
                        format!("connection {conn}: {code} with identifier {id} {what}; discarded"),
                    );
                    // Verified against what we sent: the NAS is slow, not gone.
                    if late {
                        self.restore_health(now, conn);
                        self.pump(now, conn);
                    }
                }
                Event::ProbeAnswered => {
                    self.prove(conn);
                    self.restore_health(now, conn);
                    self.pump(now, conn);
                }
                Event::ProbeUnanswered => {
                    self.step(ReverseStep::ProbeUnanswered);
                    self.log(
                        Severity::Warn,
                        format!(
                            "connection {conn}: the Status-Server probe was not answered; closing"
                        ),
                    );
                    self.close_stream(now, conn, Some(CloseReason::Unresponsive));
                }
            }
        }
    }

    /// Task `tid`'s request on `conn` failed: `errors.REVERSE_TIMEOUT`, or
    /// `INVALID_VALUE` when it could not be encoded.
    fn reverse_failed(&mut self, now: Now, tid: TaskId, conn: ConnId, failure: Failure) {
        let error = match failure {
            Failure::Timeout { after } => ErrorValue::new(
                ErrorCode::ReverseTimeout,
                format!(
                    "no reply on connection {conn} within {} ms",
                    after.as_millis()
                ),
            ),
            Failure::Encode(e) => ErrorValue::new(
                ErrorCode::InvalidValue,
                format!("the reverse request could not be encoded: {e}"),
            ),
            Failure::Queued { waited } => ErrorValue::new(
                ErrorCode::ReverseTimeout,
                format!(
                    "connection {conn}: no identifier came free within {} ms (all in use by requests the NAS has not answered); not sent",
                    waited.as_millis()
                ),
            ),
        };
        if let Some(task) = self.runs.take(tid) {
            self.resume_backend(now, tid, task, Err(error));
        }
    }

    /// The connection a request was selected for, or was in flight on, is gone:
    /// select again if retries are left, else `errors.CONNECTION_CLOSED`. A request
    /// the peer cannot have seen (`seen` false: still queued, or the connection sent
    /// nothing after it was written — a stale connection whose peer is gone; the
    /// peer machine's [`Event::Lost`] says which) is selected again without
    /// spending a retry: each such re-selection follows the loss of a distinct
    /// connection, so it cannot loop.
    pub(super) fn retry_or_closed(
        &mut self,
        now: Now,
        tid: TaskId,
        task: &mut Task,
        seen: bool,
    ) -> Started {
        let Wait::Reverse(call) = &mut task.wait else {
            return Started::Done(Err(internal_error("retry without a reverse call")));
        };
        if !seen {
            self.step(ReverseStep::Reselected);
            return self.select(now, tid, task);
        }
        if call.retries_left == 0 {
            call.phase = Phase::Idle;
            return err(
                ErrorCode::ConnectionClosed,
                "the connection closed before the reply arrived",
            );
        }
        call.retries_left -= 1;
        self.step(ReverseStep::Retried);
        self.select(now, tid, task)
    }

    /// Request `tid`'s connection is gone; `seen` as for [`Self::retry_or_closed`].
    pub(super) fn reverse_connection_lost(&mut self, now: Now, tid: TaskId, seen: bool) {
        let Some(mut task) = self.runs.take(tid) else {
            return;
        };
        match self.retry_or_closed(now, tid, &mut task, seen) {
            Started::Parked => {
                self.runs.park(tid, task);
            }
            Started::Done(r) => self.resume_backend(now, tid, task, r),
        }
    }

    /// A response arrived on `conn`: its peer machine matches and verifies it.
    pub(super) fn on_reverse_reply(&mut self, now: Now, conn: ConnId, packet: Packet) {
        if let Some(event) = self.peers.with(conn, |p| p.receive(packet)) {
            self.on_peer_events(now, conn, vec![event]);
        }
    }

    /// A verified reply to task `tid`'s reverse request (from a connection of
    /// this node or another's): map it and resume the task.
    pub(super) fn reverse_reply(
        &mut self,
        now: Now,
        tid: TaskId,
        packet: &Packet,
        authenticator: &[u8; 16],
    ) {
        let Some(mut task) = self.runs.take(tid) else {
            return;
        };
        let Wait::Reverse(call) = &task.wait else {
            let error = internal_error("reply without a reverse call");
            return self.resume_backend(now, tid, task, Err(error));
        };
        let server = call.server_ref();
        let result = apply_radius_reply(&self.schema, &mut task, server, packet, authenticator);
        self.resume_backend(now, tid, task, result);
    }
}
