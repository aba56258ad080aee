//! Choosing the policy and handler for a request, and turning a pipeline's outcome
//! into a RADIUS reply code or an HTTP answer (language.md §1.7, §6).

use std::sync::Arc;

use crate::eval::context::{Context, EvalEnv, Protocol};
use crate::eval::ir::{Condition, Pipeline};
use crate::eval::json::value_to_json;
use crate::eval::machine::Outcome;
use crate::eval::template::eval_condition;
use crate::eval::text::to_text;
use crate::eval::value::Value;
use crate::radius::id::AttrId;

/// A handler of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    /// Its name (`aaa.handler`).
    pub name: String,
    /// `conditions …`; none means it handles everything.
    pub conditions: Option<Condition>,
    /// `@execute`.
    pub execute: Option<Arc<Pipeline>>,
    /// `@final-execute`: runs after the reply was sent.
    pub final_execute: Option<Arc<Pipeline>>,
}

/// An `aaa { policy "NAME" { … } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Its name (`aaa.policy`).
    pub name: String,
    /// `conditions …`; none means it handles everything.
    pub conditions: Option<Condition>,
    /// Handlers in configuration order.
    pub handlers: Vec<Handler>,
}

/// The policy and handler chosen for a request, as indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandlerChoice {
    /// Index into the policies.
    pub policy: usize,
    /// Index into that policy's handlers.
    pub handler: usize,
}

fn holds(cond: Option<&Condition>, env: &dyn EvalEnv) -> bool {
    cond.is_none_or(|c| eval_condition(c, env))
}

/// The first policy (configuration order) whose conditions hold, then its first
/// handler whose conditions hold. A `pinned` policy (a server's `policy "NAME"`) is
/// used without testing its own conditions. `None` when nothing matches (the engine
/// sends no reply and counts a warning). A policy that matches but has no matching
/// handler does not fall through to later policies.
pub fn choose_handler(
    policies: &[Policy],
    pinned: Option<usize>,
    env: &dyn EvalEnv,
) -> Option<HandlerChoice> {
    let policy = match pinned {
        Some(p) => p,
        None => policies
            .iter()
            .position(|p| holds(p.conditions.as_ref(), env))?,
    };
    let handler = policies
        .get(policy)?
        .handlers
        .iter()
        .position(|h| holds(h.conditions.as_ref(), env))?;
    Some(HandlerChoice { policy, handler })
}

/// Record the choice in `aaa.policy` / `aaa.handler`.
pub fn record_choice(ctx: &mut Context, policies: &[Policy], choice: HandlerChoice) {
    if let Some(p) = policies.get(choice.policy) {
        ctx.aaa.policy = Some(p.name.clone());
        if let Some(h) = p.handlers.get(choice.handler) {
            ctx.aaa.handler = Some(h.name.clone());
        }
    }
}

/// Record a handler's `@execute` outcome in `aaa.result` (read by `@final-execute`).
pub fn record_outcome(ctx: &mut Context, outcome: &Outcome) {
    ctx.aaa.result = Some(outcome.name().to_owned());
}

/// The reply code for a RADIUS request with code `request`, given the outcome.
///
/// accept → Access-Accept (1, and 12 Status-Server), Accounting-Response (4),
/// Disconnect-ACK (40), CoA-ACK (43); reject → Access-Reject, Disconnect-NAK,
/// CoA-NAK, and no reply to Accounting-Request or Status-Server; ignore → no reply;
/// error → no reply, or the reject code under `reject_errors`. A code set
/// explicitly (`radius.reply.code`, e.g. by a proxy mapping) wins over all of these
/// except an error without `reject_errors`.
pub fn radius_reply_code(
    request: u8,
    outcome: &Outcome,
    explicit: Option<u8>,
    reject_errors: bool,
) -> Option<u8> {
    let reject = |req: u8| match req {
        1 => Some(3),
        40 => Some(42),
        43 => Some(45),
        _ => None,
    };
    if let Outcome::Error(_) = outcome {
        if !reject_errors {
            return None;
        }
        return explicit.or_else(|| reject(request));
    }
    if explicit.is_some() {
        return explicit;
    }
    match outcome {
        Outcome::Accept => match request {
            1 | 12 => Some(2),
            4 => Some(5),
            40 => Some(41),
            43 => Some(44),
            _ => None,
        },
        Outcome::Reject => reject(request),
        Outcome::Ignore | Outcome::Error(_) => None,
    }
}

/// The reply to send for a RADIUS request: its code (if any) and attributes. When
/// `aaa.message` is set and the reply is an Access-Accept, Access-Reject or
/// Access-Challenge without a Reply-Message, one is added.
pub fn radius_reply(
    ctx: &Context,
    outcome: &Outcome,
) -> Option<(u8, Vec<crate::eval::value::AttrEntry>)> {
    let request = ctx.request.as_ref()?.code;
    let code = radius_reply_code(request, outcome, ctx.reply.code, ctx.reject_errors)?;
    let mut attrs = ctx.reply.attrs.clone();
    const REPLY_MESSAGE: AttrId = AttrId::Standard(18);
    if matches!(code, 2 | 3 | 11)
        && attrs.count(REPLY_MESSAGE) == 0
        && let Value::String(m) = &ctx.aaa.message
        && !m.is_empty()
    {
        attrs.push(REPLY_MESSAGE, m.clone().into_bytes());
    }
    Some((code, attrs.into_entries()))
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-case), in name order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// The HTTP answer for an outcome. `http.status` and `http.response` set by the
/// pipeline win (`http.response = none` with no status gives 204). Otherwise
/// accept → 200, reject or ignore → 403, error → 500, each with a JSON body
/// (`{"result": …}`, plus `"reason"` on reject and `"error"`/`"message"` on error).
pub fn http_answer(ctx: &Context, outcome: &Outcome) -> HttpAnswer {
    let http = match (&ctx.http, ctx.protocol) {
        (Some(h), Protocol::Http) => Some(h),
        _ => None,
    };
    let mut headers: Vec<(String, String)> = http
        .map(|h| {
            h.response_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let set_status = http.and_then(|h| h.status.as_ref()).and_then(|s| match s {
        Value::Integer(i) => u16::try_from(*i).ok(),
        _ => None,
    });
    let response = http.and_then(|h| h.response.clone());
    let (status, body, json) = match response {
        Some(Value::None) => (set_status.unwrap_or(204), Vec::new(), false),
        Some(Value::String(s)) => (set_status.unwrap_or(200), s.into_bytes(), false),
        Some(v @ (Value::Json(_) | Value::Map(_) | Value::List(_) | Value::Attrs(_))) => (
            set_status.unwrap_or(200),
            value_to_json(&v).to_string().into_bytes(),
            true,
        ),
        Some(other) => (
            set_status.unwrap_or(200),
            to_text(&other).into_bytes(),
            false,
        ),
        None => {
            let mut obj = serde_json::Map::new();
            obj.insert("result".into(), outcome.name().into());
            let default = match outcome {
                Outcome::Accept => 200,
                Outcome::Reject | Outcome::Ignore => {
                    if !matches!(ctx.aaa.reason, Value::None) {
                        obj.insert("reason".into(), value_to_json(&ctx.aaa.reason));
                    }
                    403
                }
                Outcome::Error(e) => {
                    obj.insert("error".into(), e.code.name().into());
                    obj.insert("message".into(), e.message.clone().into());
                    500
                }
            };
            (
                set_status.unwrap_or(default),
                serde_json::Value::Object(obj).to_string().into_bytes(),
                true,
            )
        }
    };
    if !body.is_empty() && !headers.iter().any(|(k, _)| k == "content-type") {
        let ct = if json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        headers.push(("content-type".into(), ct.into()));
        headers.sort();
    }
    HttpAnswer {
        status,
        headers,
        body,
    }
}
