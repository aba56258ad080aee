//! A pipeline run from start to finish: choosing the handler, driving the
//! pipeline machine through its effects, answering (RADIUS reply or HTTP
//! response), `@final-execute`, and finishing. What runs and what each run waits
//! for is held by [`super::runs::Runs`]; this file moves one run along.

use bytes::Bytes;

use crate::contract::{Event, HttpRequestId, Output, ServerId, Severity, Unanswered};
use crate::engine::attrs::push_entries;
use crate::engine::task::{Origin, Stage, Task, TaskId, Wait};
use crate::engine::{Engine, LogLine, Now};
use crate::eval::context::Context;
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{ActionResult, Pipeline};
use crate::eval::machine::{Effect, EffectResult, LogLevel, LogRecord, Machine, Outcome, Step};
use crate::eval::policy::{
    choose_handler, http_answer, radius_reply, record_choice, record_outcome,
};
use crate::eval::value::AttrEntry;
use crate::lang::program::PolicyId;
use crate::radius::attr::{ERROR_CAUSE, MESSAGE_AUTHENTICATOR, PROXY_STATE};
use crate::radius::auth::{SignOptions, sign_response};
use crate::radius::code::Code;
use crate::radius::error::EncodeError;
use crate::radius::id::AttrId;
use crate::radius::packet::Packet;

/// What starting a backend call gave.
pub(super) enum Started {
    /// The call finished at once with this result.
    Done(Result<ActionResult, ErrorValue>),
    /// The task is parked; it will be resumed later.
    Parked,
}

fn outcome_of(result: Option<ActionResult>) -> Outcome {
    match result {
        Some(ActionResult::Accept) => Outcome::Accept,
        Some(ActionResult::Reject) => Outcome::Reject,
        Some(ActionResult::Ignore) | None => Outcome::Ignore,
    }
}

/// An HTTP answer no policy wrote: `{"result": …, "error": …}` as JSON.
pub(super) fn http_error(id: HttpRequestId, status: u16, result: &str, error: &str) -> Output {
    let body = serde_json::json!({ "result": result, "error": error });
    Output::HttpResponse {
        id,
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body.to_string()),
    }
}

pub(super) fn internal_error(what: impl std::fmt::Display) -> ErrorValue {
    ErrorValue::new(ErrorCode::Error, format!("internal engine error: {what}"))
}

/// Sign and encode a reply to `request` with `code` and `attrs` (Proxy-State of
/// the request echoed; Proxy-State and Message-Authenticator among `attrs` left
/// out, the latter recomputed first in the reply).
/// Why a reply could not be encoded.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReplyError {
    /// An attribute cannot be encoded.
    #[error("{0}")]
    Attribute(String),
    /// The packet cannot be signed and encoded (too long, above all).
    #[error(transparent)]
    Packet(#[from] EncodeError),
}

pub(super) fn encode_reply(
    engine: &mut Engine,
    request: &Packet,
    code: u8,
    attrs: &[AttrEntry],
    secret: &[u8],
) -> Result<Bytes, ReplyError> {
    let mut reply = request.new_reply(Code::from_u8(code));
    let skip = [
        AttrId::Standard(PROXY_STATE),
        AttrId::Standard(MESSAGE_AUTHENTICATOR),
    ];
    push_entries(
        &engine.schema,
        &mut reply,
        attrs,
        &skip,
        secret,
        &request.authenticator,
        engine.rng.as_mut(),
    )
    .map_err(|e| ReplyError::Attribute(e.to_string()))?;
    Ok(sign_response(
        &mut reply,
        &request.authenticator,
        secret,
        &SignOptions::default(),
    )?)
}

/// Error-Cause 601, Response Too Big (RFC 7930 §4).
const RESPONSE_TOO_BIG: u32 = 601;

/// The reply to `request` with `code` and `attrs`, encoded: the code sent and the
/// bytes. A CoA or Disconnect reply too long to send (more than 4096 octets: a NAK
/// full of a NAS's attributes plus the client's Proxy-States) becomes the
/// request's NAK with Error-Cause 601 (Response Too Big), so that the client learns
/// the outcome instead of waiting for a reply that never comes.
fn encode_answer(
    engine: &mut Engine,
    request: &Packet,
    code: u8,
    attrs: &[AttrEntry],
    secret: &[u8],
) -> Result<(u8, Bytes), ReplyError> {
    let error = match encode_reply(engine, request, code, attrs, secret) {
        Ok(data) => return Ok((code, data)),
        Err(e) => e,
    };
    let too_big = matches!(error, ReplyError::Packet(EncodeError::PacketTooLong { .. }));
    let nak = match request.code {
        Code::CoaRequest | Code::DisconnectRequest => request.code.nak(),
        _ => None,
    };
    let (true, Some(nak)) = (too_big, nak) else {
        return Err(error);
    };
    let cause = AttrEntry {
        id: AttrId::Standard(ERROR_CAUSE),
        tag: None,
        value: Bytes::copy_from_slice(&RESPONSE_TOO_BIG.to_be_bytes()),
    };
    let data = encode_reply(engine, request, nak.as_u8(), &[cause], secret)?;
    engine.log(
        Severity::Warn,
        format!(
            "{} {}: {error}; answered {nak} with Error-Cause {RESPONSE_TOO_BIG} (Response Too Big) instead",
            request.code, request.identifier
        ),
    );
    Ok((nak.as_u8(), data))
}

impl Engine {
    pub(super) fn next_task_id(&mut self) -> TaskId {
        self.runs.new_task_id()
    }

    /// Whether another task may start.
    pub(super) fn has_room(&self) -> bool {
        self.runs.len() < self.limits.max_tasks
    }

    /// Choose the handler for a request and run it.
    pub(super) fn start_task(
        &mut self,
        now: Now,
        tid: TaskId,
        mut ctx: Context,
        origin: Origin,
        pinned: Option<PolicyId>,
    ) {
        ctx.id = tid.0;
        let program = self.program.clone();
        let pinned = pinned.and_then(|p| usize::try_from(p.0).ok());
        let Some(choice) = choose_handler(&program.policies, pinned, &ctx) else {
            self.log(
                Severity::Warn,
                format!("request {tid}: no policy handles it; not answered"),
            );
            let mut task = Task {
                program: program.clone(),
                ctx,
                origin,
                machine: Machine::new(Pipeline::new(Vec::new()), program.library.clone()),
                stage: Stage::Final,
                replied: false,
                unanswered: Some((Unanswered::NoPolicy, String::new())),
                wait: Wait::Running,
            };
            if let Origin::Http { .. } = task.origin {
                self.answer_http_no_policy(&mut task);
            }
            self.finish(now, task);
            return;
        };
        record_choice(&mut ctx, &program.policies, choice);
        let pipeline = program
            .policies
            .get(choice.policy)
            .and_then(|p| p.handlers.get(choice.handler))
            .and_then(|h| h.execute.clone())
            .unwrap_or_else(|| Pipeline::new(Vec::new()));
        let mut task = Task {
            program: program.clone(),
            ctx,
            origin,
            machine: Machine::new(pipeline, program.library.clone()),
            stage: Stage::Execute(choice),
            replied: false,
            unanswered: None,
            wait: Wait::Running,
        };
        let step = task.machine.start(&mut task.ctx);
        self.drive(now, tid, task, step);
    }

    /// Continue a parked machine with an answer.
    pub(super) fn resume(&mut self, task: &mut Task, answer: EffectResult) -> Step {
        task.wait = Wait::Running;
        match task.machine.resume(&mut task.ctx, answer) {
            Ok(step) => step,
            Err(e) => Step::Done(Outcome::Error(internal_error(e))),
        }
    }

    /// Resume a task taken out of the table with a backend result and run it on.
    pub(super) fn resume_backend(
        &mut self,
        now: Now,
        tid: TaskId,
        mut task: Task,
        result: Result<ActionResult, ErrorValue>,
    ) {
        let backend = match &task.wait {
            Wait::Reverse(call) => Some(call.backend),
            Wait::Connect(call) => Some(call.backend),
            Wait::Running | Wait::Sql { .. } => None,
        };
        if let Some(backend) = backend {
            self.backend_call_over(now, &task.program, backend, &task.wait, &result);
        }
        let step = self.resume(&mut task, EffectResult::Backend(result));
        self.drive(now, tid, task, step);
    }

    /// Run a task until it parks (it goes back into the table) or ends.
    pub(super) fn drive(&mut self, now: Now, tid: TaskId, mut task: Task, mut step: Step) {
        loop {
            self.flush_logs(task.machine.take_logs());
            match step {
                Step::Effect(Effect::SendReply { result }) => {
                    if matches!(task.stage, Stage::Execute(_)) && !task.replied {
                        self.answer(now, &mut task, &outcome_of(result));
                    }
                    step = self.resume(&mut task, EffectResult::ReplySent);
                }
                Step::Effect(Effect::Backend(call)) => {
                    match self.start_backend(now, tid, &mut task, &call) {
                        Started::Done(result) => {
                            let program = task.program.clone();
                            self.backend_call_over(
                                now,
                                &program,
                                call.backend,
                                &task.wait,
                                &result,
                            );
                            step = self.resume(&mut task, EffectResult::Backend(result));
                        }
                        Started::Parked => {
                            self.runs.park(tid, task);
                            return;
                        }
                    }
                }
                Step::Done(outcome) => match task.stage {
                    Stage::Execute(choice) => {
                        record_outcome(&mut task.ctx, &outcome);
                        if task.unanswered.is_none() {
                            task.unanswered = Some(match &outcome {
                                Outcome::Error(e) => (Unanswered::Error(e.code), e.message.clone()),
                                _ => (Unanswered::Ignored, String::new()),
                            });
                        }
                        if !task.replied {
                            self.answer(now, &mut task, &outcome);
                        }
                        let last = task
                            .program
                            .policies
                            .get(choice.policy)
                            .and_then(|p| p.handlers.get(choice.handler))
                            .and_then(|h| h.final_execute.clone());
                        match last {
                            Some(pipeline) => {
                                task.stage = Stage::Final;
                                task.machine = Machine::new(pipeline, task.program.library.clone());
                                step = task.machine.start(&mut task.ctx);
                            }
                            None => {
                                self.finish(now, task);
                                return;
                            }
                        }
                    }
                    Stage::Final => {
                        self.finish(now, task);
                        return;
                    }
                },
            }
        }
    }

    pub(super) fn flush_logs(&mut self, logs: Vec<LogRecord>) {
        for r in logs {
            self.outputs.push_back(Output::Log(LogLine {
                severity: match r.level {
                    LogLevel::Debug => Severity::Debug,
                    LogLevel::Info => Severity::Info,
                },
                logger: r.logger,
                text: r.text,
            }));
        }
    }

    /// Send the answer the outcome calls for (RADIUS: maybe none).
    fn answer(&mut self, now: Now, task: &mut Task, outcome: &Outcome) {
        match &task.origin {
            Origin::Http { id } => {
                let a = http_answer(&task.ctx, outcome);
                self.outputs.push_back(Output::HttpResponse {
                    id: *id,
                    status: a.status,
                    headers: a.headers,
                    body: Bytes::from(a.body),
                });
                task.replied = true;
            }
            Origin::Udp {
                dup,
                local,
                request,
                secret,
            } => {
                let Some((code, attrs)) = radius_reply(&task.ctx, outcome) else {
                    return;
                };
                let (dup, local, secret) = (*dup, *local, secret.clone());
                match encode_answer(self, request, code, &attrs, &secret) {
                    Ok((code, data)) => {
                        self.answered(dup.server, request.code, code);
                        self.dedup.answered(now.mono, &dup, Some(data.clone()));
                        self.outputs.push_back(Output::SendDatagram {
                            server: dup.server,
                            local,
                            peer: dup.peer,
                            data,
                        });
                        task.replied = true;
                    }
                    Err(e) => self.reply_failed(task, e.to_string()),
                }
            }
            Origin::Stream {
                conn,
                request,
                secret,
                server,
                ..
            } => {
                let Some((code, attrs)) = radius_reply(&task.ctx, outcome) else {
                    return;
                };
                let (conn, secret, server) = (*conn, secret.clone(), *server);
                match encode_answer(self, request, code, &attrs, &secret) {
                    Ok((code, data)) => {
                        task.replied = true;
                        // Accepted, or dialed by a `connect` backend (a request
                        // the far end sent over it).
                        if self.registry.contains(conn) || self.dialer_owns(conn) {
                            self.answered(server, request.code, code);
                            self.outputs.push_back(Output::StreamWrite { conn, data });
                        }
                    }
                    Err(e) => self.reply_failed(task, e.to_string()),
                }
            }
        }
    }

    /// Report a RADIUS request `server` received and answered with `reply` (a
    /// packet code number, as the reply is encoded).
    fn answered(&mut self, server: ServerId, request_code: Code, reply: u8) {
        self.emit(Event::RequestAnswered {
            server,
            request_code,
            reply_code: Code::from(reply),
        });
    }

    fn reply_failed(&mut self, task: &mut Task, e: String) {
        self.log(
            Severity::Warn,
            format!(
                "request {}: the reply could not be encoded, not sent: {e}",
                task.ctx.id
            ),
        );
        task.unanswered = Some((Unanswered::ReplyNotEncoded, e));
    }

    /// Report a RADIUS request that ends without a reply: a log line (info for
    /// a failure, debug for a decision not to answer; none for "no policy", which
    /// was logged as a warning when it happened) and [`Event::RequestUnanswered`].
    fn report_unanswered(&mut self, task: &mut Task) {
        let (server, request) = match &task.origin {
            Origin::Udp { dup, request, .. } => (dup.server, request),
            Origin::Stream {
                server, request, ..
            } => (*server, request),
            Origin::Http { .. } => return,
        };
        let request_code = request.code;
        let (ending, detail) = task
            .unanswered
            .take()
            .unwrap_or((Unanswered::Ignored, String::new()));
        if ending != Unanswered::NoPolicy {
            let from = task
                .ctx
                .client
                .as_ref()
                .map_or_else(String::new, |c| format!(" from {} ({})", c.ip, c.name));
            let at = task
                .ctx
                .server
                .as_ref()
                .map_or_else(String::new, |s| format!(" to server \"{}\"", s.name));
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            };
            let text = format!(
                "request {} ({request_code}{from}{at}) ended without a reply: {}{detail}",
                task.ctx.id,
                ending.describe()
            );
            let severity = if ending.is_error() {
                Severity::Info
            } else {
                Severity::Debug
            };
            self.log(severity, text);
        }
        self.emit(Event::RequestUnanswered {
            server,
            request_code,
            ending,
        });
    }

    fn answer_http_no_policy(&mut self, task: &mut Task) {
        if let Origin::Http { id } = task.origin {
            let answer = http_error(id, 404, "ignore", "no policy handles this request");
            self.outputs.push_back(answer);
            task.replied = true;
        }
    }

    /// The task is over: report a request left without a reply, and settle its
    /// bookkeeping.
    pub(super) fn finish(&mut self, now: Now, mut task: Task) {
        if !task.replied {
            self.report_unanswered(&mut task);
        }
        match task.origin {
            Origin::Udp { dup, .. } => {
                if !task.replied {
                    self.dedup.answered(now.mono, &dup, None);
                }
            }
            Origin::Stream { conn, .. } => {
                if let Some(state) = self.registry.state_mut(conn) {
                    state.tasks = state.tasks.saturating_sub(1);
                }
            }
            Origin::Http { .. } => {}
        }
    }
}
