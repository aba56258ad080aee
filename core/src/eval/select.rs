//! Running a reverse backend's `@select` pipeline (seed `reverse-block.txt`).
//!
//! [`SelectRun`] evaluates the pipeline for ONE candidate connection: `connection.*`
//! reads the candidate and every other namespace reads the caller's context, which
//! stays untouched. Writes to `vars.*` and to `aaa.reason`/`message`/`caught_error`
//! go to a scratch layer private to this candidate's run (the seeds' SQL-backed
//! `@select` maps a column into `vars.nas_identifier`); any other write is an
//! `INVALID_VALUE` error. The run may park on backend effects like any pipeline;
//! `reply;` has no meaning here and is skipped.
//!
//! [`Selection`] visits the active candidates healthy ones first, then those whose
//! liveness is in doubt (`connection.healthy` false: a request timed out on it and
//! no reply came since), each group in the order given (establishment order,
//! oldest first): `first` takes the first that accepts; `round-robin` evaluates
//! all, collects the accepting ones and picks `accepted[counter % n]` with the
//! backend's counter among the accepting healthy ones — or among the accepting
//! doubtful ones when no healthy one accepted. So a doubtful connection is chosen
//! only when no healthy candidate accepts. None accepting is
//! `errors.NO_REVERSE_CONNECTIONS`; any error raised by the pipeline ends the
//! selection with that error.
//! [`select_with`] is the same definition as a pure function over a verdict callback.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::eval::context::{
    AttrSchema, ConnectionInfo, EvalEnv, assign_value, place_text, read_conn_field,
};
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{
    AaaField, AaaPlace, AssignOp, Library, Pipeline, Place, VarRef, error_code_value,
};
use crate::eval::machine::{Effect, EffectResult, LogRecord, Machine, MachineError, Outcome, Step};
use crate::eval::value::Value;

/// The private layer of one candidate's `@select` run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectLocals {
    /// `vars.*` written during the run (a `none` entry hides the caller's value).
    pub vars: BTreeMap<String, Value>,
    /// `aaa.reason` written during the run.
    pub reason: Option<Value>,
    /// `aaa.message` written during the run.
    pub message: Option<Value>,
    /// `aaa.caught_error` / `.code` as set by a `try` in the run.
    pub caught: Option<(Value, Value)>,
    /// Errors caught during the run.
    pub caught_errors: Vec<ErrorValue>,
    /// Errors raised during the run.
    pub errors: Vec<ErrorValue>,
    /// `reject_errors` as set in the run (off by default: `@select` errors reach the
    /// caller).
    pub reject_errors: bool,
}

/// The caller's context seen from inside `@select`, with one candidate bound.
pub struct SelectEnv<'a> {
    base: &'a dyn EvalEnv,
    conn: &'a ConnectionInfo,
    locals: &'a mut SelectLocals,
}

impl<'a> SelectEnv<'a> {
    /// Bind `conn` over `base` with the scratch layer `locals`.
    pub fn new(
        base: &'a dyn EvalEnv,
        conn: &'a ConnectionInfo,
        locals: &'a mut SelectLocals,
    ) -> Self {
        Self { base, conn, locals }
    }
}

fn messages(base: Value, local: &[ErrorValue]) -> Value {
    let mut items = match base {
        Value::List(items) => items,
        _ => Vec::new(),
    };
    items.extend(local.iter().map(|e| Value::String(e.message.clone())));
    Value::List(items)
}

impl EvalEnv for SelectEnv<'_> {
    fn schema(&self) -> &dyn AttrSchema {
        self.base.schema()
    }

    fn read(&self, var: &VarRef) -> Value {
        match var {
            VarRef::Connection(f) => read_conn_field(self.conn, *f),
            VarRef::Vars(n) => match self.locals.vars.get(n) {
                Some(v) => v.clone(),
                None => self.base.read(var),
            },
            VarRef::Aaa(AaaField::Reason) if self.locals.reason.is_some() => {
                self.locals.reason.clone().unwrap_or(Value::None)
            }
            VarRef::Aaa(AaaField::Message) if self.locals.message.is_some() => {
                self.locals.message.clone().unwrap_or(Value::None)
            }
            VarRef::Aaa(AaaField::CaughtError) if self.locals.caught.is_some() => self
                .locals
                .caught
                .as_ref()
                .map_or(Value::None, |c| c.0.clone()),
            VarRef::Aaa(AaaField::CaughtErrorCode) if self.locals.caught.is_some() => self
                .locals
                .caught
                .as_ref()
                .map_or(Value::None, |c| c.1.clone()),
            VarRef::Aaa(AaaField::CaughtErrors) => {
                messages(self.base.read(var), &self.locals.caught_errors)
            }
            VarRef::Aaa(AaaField::Errors) => messages(self.base.read(var), &self.locals.errors),
            other => self.base.read(other),
        }
    }

    fn write(&mut self, place: &Place, op: AssignOp, value: Value) -> Result<(), ErrorValue> {
        let slot = match place {
            Place::Vars(n) => {
                let current = self.read(&VarRef::Vars(n.clone()));
                self.locals.vars.entry(n.clone()).or_insert(current)
            }
            Place::Aaa(AaaPlace::Reason) => {
                let current = self.read(&VarRef::Aaa(AaaField::Reason));
                self.locals.reason.get_or_insert(current)
            }
            Place::Aaa(AaaPlace::Message) => {
                let current = self.read(&VarRef::Aaa(AaaField::Message));
                self.locals.message.get_or_insert(current)
            }
            Place::Aaa(AaaPlace::CaughtError) => {
                let code = self.read(&VarRef::Aaa(AaaField::CaughtErrorCode));
                let current = self.read(&VarRef::Aaa(AaaField::CaughtError));
                &mut self.locals.caught.get_or_insert((current, code)).0
            }
            other => {
                return Err(ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "@select cannot write {}: the caller's context is read-only there",
                        place_text(other, self.schema())
                    ),
                ));
            }
        };
        assign_value(slot, op, value)
    }

    fn note_error(&mut self, err: &ErrorValue) {
        self.locals.errors.push(err.clone());
    }

    fn begin_try(&mut self) {
        self.locals.caught = Some((Value::None, Value::None));
    }

    fn catch_error(&mut self, err: &ErrorValue) {
        self.locals.caught = Some((
            Value::String(err.message.clone()),
            error_code_value(err.code),
        ));
        self.locals.caught_errors.push(err.clone());
    }

    fn reject_errors(&self) -> bool {
        self.locals.reject_errors
    }

    fn set_reject_errors(&mut self, on: bool) {
        self.locals.reject_errors = on;
    }
}

/// What `@select` said about one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`: this connection may take the request.
    Selected,
    /// `reject`, `ignore` or no result: skip it.
    Skipped,
    /// An error: the whole selection fails with it.
    Failed(ErrorValue),
}

/// A step of a [`SelectRun`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectStep {
    /// The verdict for the candidate.
    Done(Verdict),
    /// Parked on a backend effect (resume with [`SelectRun::resume`]).
    Effect(Effect),
}

/// `@select` evaluated for one candidate connection.
#[derive(Debug, Clone)]
pub struct SelectRun {
    machine: Machine,
    locals: SelectLocals,
    conn: Arc<ConnectionInfo>,
}

impl SelectRun {
    /// A run of `select` for `conn`.
    pub fn new(select: Arc<Pipeline>, library: Arc<Library>, conn: Arc<ConnectionInfo>) -> Self {
        Self {
            machine: Machine::new(select, library).strict_on_missing(),
            locals: SelectLocals::default(),
            conn,
        }
    }

    /// The candidate.
    pub fn connection(&self) -> &Arc<ConnectionInfo> {
        &self.conn
    }

    /// The scratch layer (e.g. to apply a backend mapping before resuming, via
    /// [`SelectRun::env`]).
    pub fn locals(&self) -> &SelectLocals {
        &self.locals
    }

    /// The environment the pipeline sees, for applying a backend's mapping before
    /// [`SelectRun::resume`].
    pub fn env<'a>(&'a mut self, base: &'a dyn EvalEnv) -> SelectEnv<'a> {
        SelectEnv::new(base, &self.conn, &mut self.locals)
    }

    /// Log lines written so far and not yet taken.
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        self.machine.take_logs()
    }

    fn settle(&mut self, base: &dyn EvalEnv, mut step: Step) -> Result<SelectStep, MachineError> {
        loop {
            match step {
                // A condition left undecided by a missing value stopped the run:
                // whatever it had gathered, the candidate is not selected.
                Step::Done(Outcome::Accept) if self.machine.undecided() => {
                    return Ok(SelectStep::Done(Verdict::Skipped));
                }
                Step::Done(o) => {
                    return Ok(SelectStep::Done(match o {
                        Outcome::Accept => Verdict::Selected,
                        Outcome::Reject | Outcome::Ignore => Verdict::Skipped,
                        Outcome::Error(e) => Verdict::Failed(e),
                    }));
                }
                Step::Effect(Effect::SendReply { .. }) => {
                    let mut env = SelectEnv::new(base, &self.conn, &mut self.locals);
                    step = self.machine.resume(&mut env, EffectResult::ReplySent)?;
                }
                Step::Effect(e) => return Ok(SelectStep::Effect(e)),
            }
        }
    }

    /// Run until a verdict or an effect.
    pub fn start(&mut self, base: &dyn EvalEnv) -> SelectStep {
        let step = {
            let mut env = SelectEnv::new(base, &self.conn, &mut self.locals);
            self.machine.start(&mut env)
        };
        // `settle` only resumes SendReply effects the machine itself produced.
        self.settle(base, step).unwrap_or_else(|e| {
            SelectStep::Done(Verdict::Failed(ErrorValue::new(
                ErrorCode::Error,
                e.to_string(),
            )))
        })
    }

    /// Continue after a backend effect.
    pub fn resume(
        &mut self,
        base: &dyn EvalEnv,
        answer: EffectResult,
    ) -> Result<SelectStep, MachineError> {
        let step = {
            let mut env = SelectEnv::new(base, &self.conn, &mut self.locals);
            self.machine.resume(&mut env, answer)?
        };
        self.settle(base, step)
    }
}

/// How `@select` picks among accepting connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SelectMode {
    /// The first accepting connection (default).
    #[default]
    First,
    /// Every accepting connection, rotated by a per-backend counter.
    RoundRobin,
}

/// The connection a selection chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The chosen connection.
    pub chosen: Arc<ConnectionInfo>,
    /// Ids of the accepting connections the pick was made among, in visiting order
    /// (the healthy ones when any healthy one accepted; for `first`, just the
    /// chosen one).
    pub accepted: Vec<u64>,
}

fn no_connections(backend: &str) -> ErrorValue {
    ErrorValue::new(
        ErrorCode::NoReverseConnections,
        format!("no matching connection for reverse backend \"{backend}\""),
    )
}

/// The active candidates in visiting order: healthy ones first, then doubtful
/// ones, each group keeping the given order.
fn visiting_order(candidates: &[Arc<ConnectionInfo>]) -> Vec<Arc<ConnectionInfo>> {
    let active = || candidates.iter().filter(|c| c.disconnected.is_none());
    active()
        .filter(|c| c.healthy)
        .chain(active().filter(|c| !c.healthy))
        .cloned()
        .collect()
}

fn pick(
    mode: SelectMode,
    mut accepted: Vec<Arc<ConnectionInfo>>,
    counter: u64,
    backend: &str,
) -> Result<Selected, ErrorValue> {
    if accepted.iter().any(|c| c.healthy) {
        accepted.retain(|c| c.healthy);
    }
    let n = u64::try_from(accepted.len()).unwrap_or(u64::MAX);
    if n == 0 {
        return Err(no_connections(backend));
    }
    let index = match mode {
        SelectMode::First => 0,
        SelectMode::RoundRobin => usize::try_from(counter % n).unwrap_or(0),
    };
    let ids = accepted.iter().map(|c| c.id).collect();
    let chosen = accepted
        .get(index)
        .cloned()
        .ok_or_else(|| no_connections(backend))?;
    Ok(Selected {
        chosen,
        accepted: ids,
    })
}

/// The selection rule as a pure function: visit the active candidates in order
/// (healthy ones first, see the module docs), ask `verdict` about each (`Ok(true)`
/// = accept), stop at the first error, and for `first` at the first accept.
pub fn select_with(
    mode: SelectMode,
    candidates: &[Arc<ConnectionInfo>],
    counter: u64,
    backend: &str,
    mut verdict: impl FnMut(&ConnectionInfo) -> Result<bool, ErrorValue>,
) -> Result<Selected, ErrorValue> {
    let mut accepted = Vec::new();
    for c in &visiting_order(candidates) {
        if verdict(c)? {
            accepted.push(c.clone());
            if mode == SelectMode::First {
                break;
            }
        }
    }
    pick(mode, accepted, counter, backend)
}

/// A step of a [`Selection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionStep {
    /// The selection is over.
    Done(Result<Selected, ErrorValue>),
    /// The current candidate's run is parked on this effect.
    Effect(Effect),
}

/// The selection rule as a state machine that can park on the effects of the
/// candidates' `@select` runs.
#[derive(Debug, Clone)]
pub struct Selection {
    mode: SelectMode,
    select: Arc<Pipeline>,
    library: Arc<Library>,
    candidates: Vec<Arc<ConnectionInfo>>,
    next: usize,
    current: Option<SelectRun>,
    accepted: Vec<Arc<ConnectionInfo>>,
    counter: u64,
    backend: String,
    logs: Vec<LogRecord>,
    result: Option<Result<Selected, ErrorValue>>,
}

impl Selection {
    /// A selection among `candidates` (establishment order; disconnected ones are
    /// skipped, healthy ones visited first) for the reverse backend named `backend`, whose round-robin counter
    /// is `counter` (the engine advances it after a successful pick).
    pub fn new(
        mode: SelectMode,
        select: Arc<Pipeline>,
        library: Arc<Library>,
        candidates: Vec<Arc<ConnectionInfo>>,
        counter: u64,
        backend: &str,
    ) -> Self {
        let candidates = visiting_order(&candidates);
        Self {
            mode,
            select,
            library,
            candidates,
            next: 0,
            current: None,
            accepted: Vec::new(),
            counter,
            backend: backend.to_owned(),
            logs: Vec::new(),
            result: None,
        }
    }

    /// The candidate run currently parked (to apply a backend mapping to its
    /// environment before resuming).
    pub fn current(&mut self) -> Option<&mut SelectRun> {
        self.current.as_mut()
    }

    /// Log lines of all candidate runs so far, in order.
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        if let Some(run) = self.current.as_mut() {
            self.logs.extend(run.take_logs());
        }
        std::mem::take(&mut self.logs)
    }

    fn end(&mut self, r: Result<Selected, ErrorValue>) -> SelectionStep {
        if let Some(mut run) = self.current.take() {
            self.logs.extend(run.take_logs());
        }
        self.result = Some(r.clone());
        SelectionStep::Done(r)
    }

    fn on_step(&mut self, base: &dyn EvalEnv, mut step: SelectStep) -> SelectionStep {
        loop {
            match step {
                SelectStep::Effect(e) => return SelectionStep::Effect(e),
                SelectStep::Done(verdict) => {
                    let run = self.current.take();
                    if let Some(mut run) = run {
                        self.logs.extend(run.take_logs());
                        match verdict {
                            Verdict::Failed(e) => return self.end(Err(e)),
                            Verdict::Selected => {
                                self.accepted.push(run.conn.clone());
                                if self.mode == SelectMode::First {
                                    let accepted = std::mem::take(&mut self.accepted);
                                    let r = pick(self.mode, accepted, self.counter, &self.backend);
                                    return self.end(r);
                                }
                            }
                            Verdict::Skipped => {}
                        }
                    }
                    let Some(conn) = self.candidates.get(self.next).cloned() else {
                        let accepted = std::mem::take(&mut self.accepted);
                        let r = pick(self.mode, accepted, self.counter, &self.backend);
                        return self.end(r);
                    };
                    self.next += 1;
                    let mut run = SelectRun::new(self.select.clone(), self.library.clone(), conn);
                    step = run.start(base);
                    self.current = Some(run);
                }
            }
        }
    }

    /// Run until the selection ends or a candidate's run parks. Calling it again
    /// while parked returns the same effect; after the end, the same result.
    pub fn start(&mut self, base: &dyn EvalEnv) -> SelectionStep {
        if let Some(r) = &self.result {
            return SelectionStep::Done(r.clone());
        }
        if let Some(effect) = self.current.as_ref().and_then(|r| r.machine.pending()) {
            return SelectionStep::Effect(effect.clone());
        }
        self.on_step(base, SelectStep::Done(Verdict::Skipped))
    }

    /// Continue the parked candidate run with the engine's answer.
    pub fn resume(
        &mut self,
        base: &dyn EvalEnv,
        answer: EffectResult,
    ) -> Result<SelectionStep, MachineError> {
        let run = self.current.as_mut().ok_or(MachineError::NotWaiting)?;
        let step = run.resume(base, answer)?;
        Ok(self.on_step(base, step))
    }
}
