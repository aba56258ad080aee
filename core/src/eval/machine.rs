//! The resumable pipeline machine.
//!
//! A [`Machine`] runs one pipeline against an [`EvalEnv`] (normally the request's
//! [`Context`](crate::eval::context::Context)). When the pipeline needs something
//! outside the core — a backend call, or sending the reply now — the machine parks
//! and returns [`Step::Effect`]; the engine does the work, updates the context (for a
//! backend: applies the query's mapping) and calls [`Machine::resume`]. Nothing is
//! asynchronous, nothing is recursive (nested blocks live on an explicit frame stack,
//! bounded by [`MAX_FRAMES`]), and the same program, context and effect answers
//! always give the same effects, logs and outcome.
//!
//! Semantics (see `docs/evaluation.md` for the full statement):
//! * Result actions produce accept/reject/ignore; data and logging actions
//!   (`modify`, `reason`, `debug`, `log`, `reply`, `reject_errors`, an `if` or `map`
//!   with no branch taken, a block in which nothing produced a result) are
//!   *transparent*: they produce no result and are invisible to the directive.
//! * A block combines the results of its actions under its [`Directive`], stopping
//!   early as language.md §3.2 says.
//! * An error skips everything up to the nearest enclosing `try`; without one it
//!   ends the run with [`Outcome::Error`] (or [`Outcome::Reject`] under
//!   `reject_errors on`).
//! * `stop` ends the whole run (including invoking pipelines): every open block
//!   ends as if it had reached its end.
//! * Log output (`debug`, `log`) is collected in order and drained with
//!   [`Machine::take_logs`] rather than returned as effects.

use std::sync::Arc;

use crate::eval::context::EvalEnv;
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{
    AaaPlace, Action, ActionResult, AssignOp, BackendCall, DebugTarget, Directive, HttpField,
    HttpPlace, Index, Library, LogContent, MapPattern, PacketRef, Pipeline, Place, UserField,
    VarRef,
};
use crate::eval::json::value_to_json;
use crate::eval::named::{names_of, resolve};
use crate::eval::ops::{CompareOp, compare};
use crate::eval::password::verify_password;
use crate::eval::template::{eval_condition, eval_condition_known, eval_expr, render};
use crate::eval::text::{literal, to_text};
use crate::eval::value::Value;
use crate::radius::id::AttrId;

/// The deepest nesting of blocks (including `invoke`) a run may reach; deeper is an
/// `errors.ERROR` (it can only come from an `invoke` cycle or absurd nesting).
pub const MAX_FRAMES: usize = 10_000;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The pipeline accepted.
    Accept,
    /// The pipeline rejected.
    Reject,
    /// No decision: the last result was ignore, or nothing produced a result.
    Ignore,
    /// An uncaught error.
    Error(ErrorValue),
}

impl Outcome {
    /// `accept`, `reject`, `ignore` or `error` (what `aaa.result` holds).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Accept => "accept",
            Outcome::Reject => "reject",
            Outcome::Ignore => "ignore",
            Outcome::Error(_) => "error",
        }
    }

    fn from_result(r: Option<ActionResult>) -> Outcome {
        match r {
            Some(ActionResult::Accept) => Outcome::Accept,
            Some(ActionResult::Reject) => Outcome::Reject,
            Some(ActionResult::Ignore) | None => Outcome::Ignore,
        }
    }
}

/// Work the engine must do before the run can continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Call a backend (an SQL query, a RADIUS query or proxy, a reverse request).
    /// Resume with [`EffectResult::Backend`] after applying the query's mapping.
    Backend(BackendCall),
    /// `reply;`: send the reply now, with its code derived from `result` (the most
    /// recent result of the run, `None` if none yet) unless `radius.reply.code` was
    /// set. Resume with [`EffectResult::ReplySent`]; the run then carries on.
    SendReply {
        /// The most recent result when `reply;` ran.
        result: Option<ActionResult>,
    },
}

/// The engine's answer to an [`Effect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectResult {
    /// The backend's result (the action's result) or its error.
    Backend(Result<ActionResult, ErrorValue>),
    /// The reply was sent (or deliberately not sent).
    ReplySent,
}

/// What a call to [`Machine::start`] / [`Machine::resume`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The run is over.
    Done(Outcome),
    /// The run is parked on this effect.
    Effect(Effect),
}

/// Severity of a collected log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug …` actions.
    Debug,
    /// `log "LOGGER" …` actions.
    Info,
}

/// One line written by `debug` or `log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The named logger of `log "LOGGER"`, if any.
    pub logger: Option<String>,
    /// The expanded text (JSON text for `log … { json { … } }`).
    pub text: String,
}

/// Misuse of the machine's API by the engine (never caused by configuration or
/// network input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// `resume` was called while the run was not parked on an effect.
    #[error("the pipeline is not waiting for an effect")]
    NotWaiting,
    /// `resume` was given an answer to a different effect.
    #[error("resumed with {got} while waiting for {expected}")]
    WrongAnswer {
        /// The effect the run is parked on.
        expected: &'static str,
        /// The answer given.
        got: &'static str,
    },
}

/// Directive bookkeeping of one open block.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    last: Option<ActionResult>,
    seen: bool,
    done: Option<ActionResult>,
}

impl Acc {
    fn absorb(&mut self, dir: Directive, r: ActionResult) {
        use ActionResult::{Accept, Ignore, Reject};
        self.seen = true;
        self.last = Some(r);
        match dir {
            Directive::While if r == Reject => self.done = Some(Reject),
            Directive::While | Directive::Each => {}
            Directive::First if r != Ignore => self.done = Some(r),
            Directive::First => {}
            Directive::Any if r == Accept => self.done = Some(Accept),
            Directive::Any => {}
            Directive::All if r != Accept => self.done = Some(Reject),
            Directive::All => {}
            Directive::None if r == Accept => self.done = Some(Reject),
            Directive::None => {}
        }
    }

    fn finish(&self, dir: Directive) -> Option<ActionResult> {
        if let Some(d) = self.done {
            return Some(d);
        }
        if !self.seen {
            return None;
        }
        match dir {
            Directive::While | Directive::Each => self.last,
            Directive::First => Some(ActionResult::Ignore),
            Directive::Any => Some(ActionResult::Reject),
            Directive::All | Directive::None => Some(ActionResult::Accept),
        }
    }
}

/// What to do when a block ends.
#[derive(Debug, Clone)]
enum Role {
    /// The pipeline being run.
    Root,
    /// A sub-block, branch or invoked pipeline: its result is the action's result.
    Plain,
    /// The test block of `with`: its result picks `then` or `otherwise`.
    With {
        then: Option<Arc<Pipeline>>,
        otherwise: Option<Arc<Pipeline>>,
    },
    /// A `try` body: catches errors.
    TryBody { catch: Option<Arc<Pipeline>> },
    /// A `catch` block: no result counts as ignore.
    Catch,
}

#[derive(Debug, Clone)]
struct Frame {
    block: Arc<Pipeline>,
    pc: usize,
    acc: Acc,
    role: Role,
}

impl Frame {
    fn new(block: Arc<Pipeline>, role: Role) -> Self {
        Self {
            block,
            pc: 0,
            acc: Acc::default(),
            role,
        }
    }
}

/// What executing one action asks the loop to do.
enum Flow {
    Result(Option<ActionResult>),
    Push(Frame),
    Error(ErrorValue),
    Effect(Effect),
    Stop,
}

/// A run of one pipeline; see the module documentation.
#[derive(Debug, Clone)]
pub struct Machine {
    library: Arc<Library>,
    frames: Vec<Frame>,
    pending: Option<Effect>,
    outcome: Option<Outcome>,
    stopping: bool,
    last_result: Option<ActionResult>,
    logs: Vec<LogRecord>,
    /// An `if` whose condition is unknown (Kleene: it depends on a missing value)
    /// ends the run undecided instead of taking the `else` branch (`@select`).
    strict_missing: bool,
    /// The run ended that way.
    undecided: bool,
}

impl Machine {
    /// A run of `pipeline`, with `library` holding the targets of `invoke`.
    pub fn new(pipeline: Arc<Pipeline>, library: Arc<Library>) -> Self {
        Self {
            library,
            frames: vec![Frame::new(pipeline, Role::Root)],
            pending: None,
            outcome: None,
            stopping: false,
            last_result: None,
            logs: Vec::new(),
            strict_missing: false,
            undecided: false,
        }
    }

    /// The same run, in which a condition that a missing value leaves undecided
    /// ([`eval_condition_known`] is `None`) takes no branch: the run stops there and
    /// [`Machine::undecided`] turns true. `@select` runs this way, so that a missing
    /// value can never select a connection, not even through `none { … }` or an
    /// `else` that accepts.
    pub fn strict_on_missing(mut self) -> Self {
        self.strict_missing = true;
        self
    }

    /// Whether the run stopped at a condition a missing value left undecided (only
    /// with [`Machine::strict_on_missing`]); its outcome then decides nothing.
    pub fn undecided(&self) -> bool {
        self.undecided
    }

    /// Run until the pipeline finishes or parks. Calling it again while parked
    /// returns the same effect; after the end, the same outcome.
    pub fn start(&mut self, env: &mut dyn EvalEnv) -> Step {
        if let Some(o) = &self.outcome {
            return Step::Done(o.clone());
        }
        if let Some(e) = &self.pending {
            return Step::Effect(e.clone());
        }
        self.run(env)
    }

    /// Continue a parked run with the engine's answer.
    pub fn resume(
        &mut self,
        env: &mut dyn EvalEnv,
        answer: EffectResult,
    ) -> Result<Step, MachineError> {
        let pending = self.pending.as_ref().ok_or(MachineError::NotWaiting)?;
        match (pending, answer) {
            (Effect::Backend(_), EffectResult::Backend(Ok(r))) => {
                self.pending = None;
                self.absorb(Some(r));
            }
            (Effect::Backend(_), EffectResult::Backend(Err(e))) => {
                self.pending = None;
                if let Some(step) = self.raise(env, e) {
                    return Ok(step);
                }
            }
            (Effect::SendReply { .. }, EffectResult::ReplySent) => self.pending = None,
            (Effect::Backend(_), EffectResult::ReplySent) => {
                return Err(MachineError::WrongAnswer {
                    expected: "a backend result",
                    got: "ReplySent",
                });
            }
            (Effect::SendReply { .. }, EffectResult::Backend(_)) => {
                return Err(MachineError::WrongAnswer {
                    expected: "ReplySent",
                    got: "a backend result",
                });
            }
        }
        Ok(self.run(env))
    }

    /// The outcome, once the run is over.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The effect the run is parked on, if any.
    pub fn pending(&self) -> Option<&Effect> {
        self.pending.as_ref()
    }

    /// Log lines written so far and not yet taken, in order.
    pub fn logs(&self) -> &[LogRecord] {
        &self.logs
    }

    /// Take the log lines written so far.
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        std::mem::take(&mut self.logs)
    }

    fn finish(&mut self, outcome: Outcome) -> Step {
        self.frames.clear();
        self.outcome = Some(outcome.clone());
        Step::Done(outcome)
    }

    /// Give a completed action's result to the block on top of the stack.
    fn absorb(&mut self, r: Option<ActionResult>) {
        let Some(r) = r else { return };
        self.last_result = Some(r);
        if let Some(top) = self.frames.last_mut() {
            let dir = top.block.directive;
            top.acc.absorb(dir, r);
        }
    }

    fn push(&mut self, env: &mut dyn EvalEnv, frame: Frame) -> Option<Step> {
        if self.frames.len() >= MAX_FRAMES {
            let e = ErrorValue::new(
                ErrorCode::Error,
                format!("pipelines nested deeper than {MAX_FRAMES} blocks (invoke cycle?)"),
            );
            return self.raise(env, e);
        }
        self.frames.push(frame);
        None
    }

    /// Unwind to the nearest `try`; without one, end the run.
    fn raise(&mut self, env: &mut dyn EvalEnv, e: ErrorValue) -> Option<Step> {
        env.note_error(&e);
        while let Some(frame) = self.frames.pop() {
            if let Role::TryBody { catch } = frame.role {
                env.catch_error(&e);
                match catch {
                    Some(c) => self.frames.push(Frame::new(c, Role::Catch)),
                    None => self.absorb(Some(ActionResult::Ignore)),
                }
                return None;
            }
        }
        let outcome = if env.reject_errors() {
            Outcome::Reject
        } else {
            Outcome::Error(e)
        };
        Some(self.finish(outcome))
    }

    /// End the block on top of the stack and hand its result on.
    fn complete_top(&mut self) -> Option<Step> {
        let frame = self.frames.pop()?;
        let result = frame.acc.finish(frame.block.directive);
        match frame.role {
            Role::Root => {
                return Some(self.finish(Outcome::from_result(result)));
            }
            Role::Plain | Role::TryBody { .. } => self.absorb(result),
            Role::Catch => self.absorb(Some(result.unwrap_or(ActionResult::Ignore))),
            Role::With { then, otherwise } => {
                if self.stopping {
                    self.absorb(result);
                } else {
                    let branch = if result == Some(ActionResult::Accept) {
                        then
                    } else {
                        otherwise
                    };
                    match branch {
                        // Cannot exceed MAX_FRAMES: it replaces the frame just popped.
                        Some(b) => self.frames.push(Frame::new(b, Role::Plain)),
                        None => self.absorb(None),
                    }
                }
            }
        }
        None
    }

    fn run(&mut self, env: &mut dyn EvalEnv) -> Step {
        loop {
            let Some(top) = self.frames.last_mut() else {
                return self.finish(Outcome::Ignore);
            };
            let block = top.block.clone();
            let Some(action) = block.actions.get(top.pc) else {
                if let Some(step) = self.complete_top() {
                    return step;
                }
                continue;
            };
            if self.stopping || top.acc.done.is_some() {
                if let Some(step) = self.complete_top() {
                    return step;
                }
                continue;
            }
            top.pc += 1;
            let step = match self.exec(action, env) {
                Flow::Result(r) => {
                    self.absorb(r);
                    None
                }
                Flow::Push(frame) => self.push(env, frame),
                Flow::Error(e) => self.raise(env, e),
                Flow::Effect(effect) => {
                    self.pending = Some(effect.clone());
                    Some(Step::Effect(effect))
                }
                Flow::Stop => {
                    self.stopping = true;
                    None
                }
            };
            if let Some(step) = step {
                return step;
            }
        }
    }

    fn exec(&mut self, action: &Action, env: &mut dyn EvalEnv) -> Flow {
        match action {
            Action::Result { result, message } => {
                if let Some(t) = message {
                    let text = Value::String(render(t, env));
                    if *result == ActionResult::Reject
                        && let Err(e) =
                            env.write(&Place::Aaa(AaaPlace::Reason), AssignOp::Set, text.clone())
                    {
                        return Flow::Error(e);
                    }
                    if let Err(e) = env.write(&Place::Aaa(AaaPlace::Message), AssignOp::Set, text) {
                        return Flow::Error(e);
                    }
                }
                Flow::Result(Some(*result))
            }
            Action::If {
                branches,
                otherwise,
            } => {
                for (cond, block) in branches {
                    let holds = if self.strict_missing {
                        match eval_condition_known(cond, env) {
                            Some(holds) => holds,
                            None => {
                                self.undecided = true;
                                return Flow::Stop;
                            }
                        }
                    } else {
                        eval_condition(cond, env)
                    };
                    if holds {
                        return Flow::Push(Frame::new(block.clone(), Role::Plain));
                    }
                }
                match otherwise {
                    Some(b) => Flow::Push(Frame::new(b.clone(), Role::Plain)),
                    None => Flow::Result(None),
                }
            }
            Action::With {
                test,
                then,
                otherwise,
            } => Flow::Push(Frame::new(
                test.clone(),
                Role::With {
                    then: then.clone(),
                    otherwise: otherwise.clone(),
                },
            )),
            Action::Map { subject, arms } => {
                let value = eval_expr(subject, env);
                let names = names_of(subject, env.schema());
                for (pattern, block) in arms {
                    let hit = match pattern {
                        MapPattern::Any => true,
                        MapPattern::Value(v) => {
                            compare(CompareOp::Eq, &value, &resolve(names, v, env.schema()))
                        }
                    };
                    if hit {
                        return Flow::Push(Frame::new(block.clone(), Role::Plain));
                    }
                }
                Flow::Result(None)
            }
            Action::Block(b) => Flow::Push(Frame::new(b.clone(), Role::Plain)),
            Action::Try { body, catch } => {
                env.begin_try();
                Flow::Push(Frame::new(
                    body.clone(),
                    Role::TryBody {
                        catch: catch.clone(),
                    },
                ))
            }
            Action::Reply => Flow::Effect(Effect::SendReply {
                result: self.last_result,
            }),
            Action::Stop => Flow::Stop,
            Action::Error(t) => Flow::Error(ErrorValue::new(ErrorCode::Error, render(t, env))),
            Action::Reason(e) => {
                let v = eval_expr(e, env);
                match env.write(&Place::Aaa(AaaPlace::Reason), AssignOp::Set, v) {
                    Ok(()) => Flow::Result(None),
                    Err(e) => Flow::Error(e),
                }
            }
            Action::Modify(assignments) => {
                for a in assignments {
                    let v = eval_expr(&a.value, env);
                    if let Err(e) = env.write(&a.place, a.op, v) {
                        return Flow::Error(e);
                    }
                }
                Flow::Result(None)
            }
            Action::Backend(call) => Flow::Effect(Effect::Backend(call.clone())),
            Action::Invoke(id) => match self.library.get(*id) {
                Some(p) => Flow::Push(Frame::new(p.pipeline.clone(), Role::Plain)),
                None => Flow::Error(ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!("invoke: no pipeline #{}", id.0),
                )),
            },
            Action::Debug(target) => {
                let text = match target {
                    DebugTarget::Template(t) => render(t, env),
                    DebugTarget::Var { path, var } => {
                        format!("{path} = {}", debug_text(&env.read(var)))
                    }
                };
                self.logs.push(LogRecord {
                    level: LogLevel::Debug,
                    logger: None,
                    text,
                });
                Flow::Result(None)
            }
            Action::Log { logger, content } => {
                let text = match content {
                    LogContent::Format(t) => render(t, env),
                    LogContent::Message(e) => to_text(&eval_expr(e, env)),
                    LogContent::Json(fields) => {
                        let mut map = serde_json::Map::new();
                        for (k, e) in fields {
                            map.insert(k.clone(), value_to_json(&eval_expr(e, env)));
                        }
                        serde_json::Value::Object(map).to_string()
                    }
                };
                self.logs.push(LogRecord {
                    level: LogLevel::Info,
                    logger: Some(logger.clone()),
                    text,
                });
                Flow::Result(None)
            }
            Action::Pap => pap(env),
            Action::HttpBasicAuth => http_basic_auth(env),
            Action::RejectErrors(on) => {
                env.set_reject_errors(*on);
                Flow::Result(None)
            }
        }
    }
}

fn debug_text(v: &Value) -> String {
    match v {
        Value::None => "none".to_owned(),
        Value::String(_) => literal(v),
        other => to_text(other),
    }
}

fn value_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Bytes(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// `pap;`: no User-Password in the request → ignore (another method may apply); no
/// known password → reject; otherwise accept or reject by comparison. A stored
/// password in an unusable format is an `INVALID_VALUE` error.
fn pap(env: &mut dyn EvalEnv) -> Flow {
    let presented = env.read(&VarRef::RadiusAttr {
        packet: PacketRef::Request,
        attr: AttrId::Standard(2),
        index: Index::First,
    });
    let Some(presented) = value_bytes(&presented) else {
        return Flow::Result(Some(ActionResult::Ignore));
    };
    let stored = match env.read(&VarRef::User(UserField::Password)) {
        Value::String(s) => s,
        _ => return Flow::Result(Some(ActionResult::Reject)),
    };
    match verify_password(&stored, &presented) {
        Ok(true) => Flow::Result(Some(ActionResult::Accept)),
        Ok(false) => Flow::Result(Some(ActionResult::Reject)),
        Err(e) => Flow::Error(ErrorValue::new(
            ErrorCode::InvalidValue,
            format!("pap: {e}"),
        )),
    }
}

/// `http-basic-auth;`: HTTP Basic credentials against `user.password` (and
/// `user.username` when set). Failure answers 401 with a `www-authenticate`
/// challenge and rejects.
fn http_basic_auth(env: &mut dyn EvalEnv) -> Flow {
    let user = env.read(&VarRef::Http(HttpField::AuthUsername));
    let pass = env.read(&VarRef::Http(HttpField::AuthPassword));
    let stored = env.read(&VarRef::User(UserField::Password));
    let known_user = env.read(&VarRef::User(UserField::Username));
    let verdict = match (&user, &pass, &stored) {
        (Value::String(u), Value::String(p), Value::String(s)) => {
            let name_ok = match &known_user {
                Value::String(k) => k == u,
                _ => true,
            };
            if !name_ok {
                Ok(false)
            } else {
                verify_password(s, p.as_bytes())
            }
        }
        _ => Ok(false),
    };
    match verdict {
        Ok(true) => Flow::Result(Some(ActionResult::Accept)),
        Ok(false) => {
            let challenge = [
                (Place::Http(HttpPlace::Status), Value::Integer(401)),
                (
                    Place::Http(HttpPlace::ResponseHeader("www-authenticate".into())),
                    Value::String("Basic realm=\"boomerang\"".into()),
                ),
            ];
            for (place, v) in challenge {
                if let Err(e) = env.write(&place, AssignOp::Set, v) {
                    return Flow::Error(e);
                }
            }
            Flow::Result(Some(ActionResult::Reject))
        }
        Err(e) => Flow::Error(ErrorValue::new(
            ErrorCode::InvalidValue,
            format!("http-basic-auth: {e}"),
        )),
    }
}
