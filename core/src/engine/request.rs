//! The RADIUS request a backend call sends and what its verified reply does to
//! the pipeline, shared by both directions: `connect` backends (proxy and query
//! mode, [`crate::engine::dialer`]) and reverse requests over accepted NAS
//! connections (`reverse { … }` backends). It wraps the query's bindings and
//! mapping ([`crate::eval::query`]); transport and matching are elsewhere.

use crate::contract::ServerRef;
use crate::engine::attrs::{DictSchema, packet_to_bag};
use crate::engine::pipeline::internal_error;
use crate::engine::task::{Task, Wait};
use crate::eval::context::Context;
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{ActionResult, BackendCall};
use crate::eval::query::{OutgoingRequest, ReplyView, apply_mapping, eval_bindings};
use crate::lang::program::{BackendKind, Program, RadiusServerDef};
use crate::radius::attr::{ERROR_CAUSE, MESSAGE_AUTHENTICATOR, PROXY_STATE};
use crate::radius::code::Code;
use crate::radius::id::AttrId;
use crate::radius::packet::Packet;

/// Whether a reply code is a positive answer (the backend action accepts).
fn positive(code: Code) -> bool {
    matches!(
        code,
        Code::AccessAccept | Code::AccountingResponse | Code::DisconnectAck | Code::CoaAck
    )
}

/// The request a RADIUS backend call sends: the query's bindings, or without a
/// query the current RADIUS request as it arrived (proxy mode). The code must be
/// a request code.
pub(super) fn outgoing_request(
    program: &Program,
    call: &BackendCall,
    ctx: &Context,
) -> Result<(Code, OutgoingRequest), ErrorValue> {
    let sent = match call.query {
        Some(qid) => match program
            .backend(call.backend)
            .and_then(|b| b.radius_query(qid))
        {
            Some(q) => eval_bindings(&q.bindings, ctx)?,
            None => {
                return Err(ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!("backend \"{}\" has no query #{}", call.backend_name, qid.0),
                ));
            }
        },
        None => match &ctx.request {
            Some(req) => OutgoingRequest {
                code: Some(req.code),
                attrs: req.attrs.clone(),
            },
            None => {
                return Err(ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "backend \"{}\" without a query forwards the RADIUS request, and this request is not RADIUS",
                        call.backend_name
                    ),
                ));
            }
        },
    };
    match sent.code.map(Code::from_u8) {
        Some(c) if c.is_request() => Ok((c, sent)),
        Some(c) => Err(ErrorValue::new(
            ErrorCode::InvalidValue,
            format!(
                "backend \"{}\": {c} is not a request code",
                call.backend_name
            ),
        )),
        None => Err(ErrorValue::new(
            ErrorCode::InvalidValue,
            format!(
                "backend \"{}\": the query's bindings set no radius.request.code",
                call.backend_name
            ),
        )),
    }
}

/// The definition of a RADIUS backend's server.
pub(super) fn server_def(program: &Program, server: ServerRef) -> Option<&RadiusServerDef> {
    match &program.backend(server.backend)?.kind {
        BackendKind::Radius(r) => r.servers.get(usize::try_from(server.server).ok()?),
        BackendKind::Sqlite(_) => None,
    }
}

/// Apply a verified reply from `server` (its peer machine matched and verified
/// it against the Request Authenticator `authenticator`, which hidden reply
/// attributes are keyed with) to the RADIUS backend call `task` waits for, reverse
/// or `connect`: with a query its `mapping` (reading `radius.reply.*` from the
/// reply and `radius.request.*` from what was sent); without one (proxy mode) the
/// reply's code and attributes become the current reply (Proxy-State and
/// Message-Authenticator left out: the engine echoes the request's own and
/// computes its own). Positive codes accept, every other answer rejects.
/// Original-Packet-Code (241.4, RFC 7930 §4).
const ORIGINAL_PACKET_CODE: AttrId = AttrId::Extended { base: 241, ext: 4 };

/// The code a verified reply answers with. A Protocol-Error concerns one hop
/// (RFC 7930; radiusdtls-bis: it is never forwarded): it answers as the request's
/// negative reply (Disconnect-NAK, CoA-NAK, Access-Reject), keeping the peer's
/// attributes and so its Error-Cause; a request without a negative reply
/// (Accounting-Request) fails with `BACKEND_ERROR`.
fn answer_code(packet: &Packet, sent: &OutgoingRequest, server: &str) -> Result<Code, ErrorValue> {
    if packet.code != Code::ProtocolError {
        return Ok(packet.code);
    }
    sent.code
        .map(Code::from_u8)
        .and_then(Code::nak)
        .ok_or_else(|| {
            let cause = packet
                .first_value(ERROR_CAUSE)
                .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
                .map(|v| format!(" (Error-Cause {})", u32::from_be_bytes(v)))
                .unwrap_or_default();
            ErrorValue::new(
                ErrorCode::BackendError,
                format!("server \"{server}\" answered Protocol-Error{cause}"),
            )
        })
}

pub(super) fn apply_radius_reply(
    schema: &DictSchema,
    task: &mut Task,
    server: ServerRef,
    packet: &Packet,
    authenticator: &[u8; 16],
) -> Result<ActionResult, ErrorValue> {
    // The task's own program: its backend and query numbers index it.
    let program = task.program.clone();
    let Task { ctx, wait, .. } = task;
    let (backend, query, sent, trace) = match wait {
        Wait::Reverse(c) => (c.backend, c.query, &c.sent, &mut c.trace),
        Wait::Connect(c) => (c.backend, c.query, &c.sent, &mut c.trace),
        _ => return Err(internal_error("a reply for a task not waiting for one")),
    };
    trace.reply = Some(packet.code);
    let Some(def) = server_def(&program, server) else {
        return Err(internal_error("backend server vanished"));
    };
    let code = answer_code(packet, sent, &def.name)?;
    let mut attrs = packet_to_bag(schema, packet, def.secret.as_bytes(), authenticator);
    // Protocol-Error's own attribute (RFC 7930 §4) means nothing in the NAK.
    attrs.remove(ORIGINAL_PACKET_CODE);
    match query {
        Some(qid) => {
            let Some(q) = program.backend(backend).and_then(|b| b.radius_query(qid)) else {
                return Err(internal_error("RADIUS query vanished"));
            };
            let view = ReplyView {
                sent,
                code: code.as_u8(),
                attrs: &attrs,
            };
            apply_mapping(&q.mapping, &view, ctx)?;
        }
        None => {
            attrs.remove(AttrId::Standard(PROXY_STATE));
            attrs.remove(AttrId::Standard(MESSAGE_AUTHENTICATOR));
            ctx.reply.code = Some(code.as_u8());
            ctx.reply.attrs = attrs;
        }
    }
    Ok(if positive(code) {
        ActionResult::Accept
    } else {
        ActionResult::Reject
    })
}
