//! Shared helpers for the interpreter tests: a small dictionary, context builders,
//! and a scripted "engine" that answers the machine's effects the way the real engine
//! will (bindings → @select → NAS reply → mapping; SQL params → rows → mapping).
#![allow(dead_code)]

#[path = "../ir_support/mod.rs"]
mod ir_support;
#[allow(unused_imports)] // not every test uses the IR builders
pub use ir_support::*;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boomerang_core::contract::{SqlRows, Transport};
use boomerang_core::eval::context::{
    AttrBag, CertInfo, ConnectionInfo, Context, EvalEnv, RadiusRequest, SimpleSchema,
};
use boomerang_core::eval::error::{ErrorCode, ErrorValue};
use boomerang_core::eval::ir::{
    ActionResult, BackendCall, BackendId, Expr, Library, Pipeline, QueryId, Template, TemplatePart,
};
use boomerang_core::eval::machine::{Effect, EffectResult, LogRecord, Machine, Outcome, Step};
use boomerang_core::eval::query::{
    RadiusQuery, ReplyView, SqlQuery, apply_mapping, apply_sql_mapping, eval_bindings,
    eval_sql_params,
};
use boomerang_core::eval::select::{SelectMode, Selection, SelectionStep};
use boomerang_core::eval::value::Value;
use boomerang_core::radius::id::{AttrId, DataType};

pub const USER_NAME: AttrId = AttrId::Standard(1);
pub const USER_PASSWORD: AttrId = AttrId::Standard(2);
pub const FILTER_ID: AttrId = AttrId::Standard(11);
pub const REPLY_MESSAGE: AttrId = AttrId::Standard(18);
pub const NAS_IDENTIFIER: AttrId = AttrId::Standard(32);
pub const PROXY_STATE: AttrId = AttrId::Standard(33);
pub const ACCT_STATUS_TYPE: AttrId = AttrId::Standard(40);
pub const ACCT_INPUT_OCTETS: AttrId = AttrId::Standard(42);
pub const ACCT_OUTPUT_OCTETS: AttrId = AttrId::Standard(43);
pub const ACCT_SESSION_ID: AttrId = AttrId::Standard(44);
pub const ERROR_CAUSE: AttrId = AttrId::Standard(101);

pub fn schema() -> Arc<SimpleSchema> {
    Arc::new(
        SimpleSchema::new()
            .attr(USER_NAME, "User-Name", DataType::String)
            .attr(USER_PASSWORD, "User-Password", DataType::String)
            .attr(FILTER_ID, "Filter-Id", DataType::String)
            .attr(REPLY_MESSAGE, "Reply-Message", DataType::String)
            .attr(NAS_IDENTIFIER, "NAS-Identifier", DataType::String)
            .attr(PROXY_STATE, "Proxy-State", DataType::Octets)
            .attr(ACCT_STATUS_TYPE, "Acct-Status-Type", DataType::Integer)
            .value(ACCT_STATUS_TYPE, "Start", 1)
            .value(ACCT_STATUS_TYPE, "Stop", 2)
            .value(ACCT_STATUS_TYPE, "Alive", 3)
            .attr(ACCT_INPUT_OCTETS, "Acct-Input-Octets", DataType::Integer)
            .attr(ACCT_OUTPUT_OCTETS, "Acct-Output-Octets", DataType::Integer)
            .attr(ACCT_SESSION_ID, "Acct-Session-Id", DataType::String)
            .attr(ERROR_CAUSE, "Error-Cause", DataType::Integer)
            .value(ERROR_CAUSE, "Request-Not-Routable", 502),
    )
}

pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A RADIUS context for a request with string-valued attributes.
pub fn radius_ctx(code: u8, attrs: &[(AttrId, &str)]) -> Context {
    let mut bag = AttrBag::new();
    for (id, v) in attrs {
        bag.push(*id, v.as_bytes().to_vec());
    }
    Context::radius(schema(), t0(), RadiusRequest { code, attrs: bag })
}

/// `"text %{expr} text"` from parts.
pub fn tpl(parts: Vec<TemplatePart>) -> Template {
    Template { parts }
}

pub fn text(s: &str) -> TemplatePart {
    TemplatePart::Text(s.to_owned())
}

pub fn part(e: Expr) -> TemplatePart {
    TemplatePart::Expr(e)
}

/// A stream connection as the engine would describe it.
pub fn conn(id: u64, server: &str, nas_id: Option<&str>, peer: [u8; 4]) -> Arc<ConnectionInfo> {
    Arc::new(ConnectionInfo {
        id,
        client_name: format!("client{id}"),
        peer_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(peer)), 40000 + id as u16),
        server_name: server.to_owned(),
        server_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2083),
        transport: Transport::Tls,
        connected: t0() + Duration::from_secs(id),
        disconnected: None,
        status_received: Some(t0() + Duration::from_secs(100 + id)),
        status_nas_identifier: nas_id.map(str::to_owned),
        last_heard: None,
        healthy: true,
        cert: None,
    })
}

pub fn with_cert(c: &Arc<ConnectionInfo>, cert: CertInfo) -> Arc<ConnectionInfo> {
    let mut c = (**c).clone();
    c.cert = Some(cert);
    Arc::new(c)
}

pub fn call(backend: u32, query: Option<u32>, name: &str) -> BackendCall {
    BackendCall {
        backend: BackendId(backend),
        query: query.map(QueryId),
        backend_name: name.to_owned(),
        query_name: None,
    }
}

/// How the NAS answers a reverse request: (reply code, reply attributes).
pub type NasFn = Box<dyn Fn(&ConnectionInfo, u8, &AttrBag) -> (u8, AttrBag)>;
/// Rows an SQL query returns for its parameters.
pub type SqlFn = Box<dyn Fn(&str, &[Value]) -> Result<SqlRows, ErrorValue>>;

pub enum Backend {
    Reverse {
        mode: SelectMode,
        select: Arc<Pipeline>,
        queries: Vec<RadiusQuery>,
        nas: NasFn,
    },
    Sql {
        queries: Vec<SqlQuery>,
        rows: SqlFn,
    },
    /// Answers every call with this result.
    Fixed(Result<ActionResult, ErrorValue>),
}

/// A scripted engine: backends by index, the active connections, round-robin
/// counters, and a trace of everything it did, in order.
pub struct Engine {
    pub backends: Vec<Backend>,
    pub library: Arc<Library>,
    pub connections: Vec<Arc<ConnectionInfo>>,
    pub counters: BTreeMap<u32, u64>,
    pub trace: Vec<String>,
    pub logs: Vec<LogRecord>,
}

impl Engine {
    pub fn new(backends: Vec<Backend>, connections: Vec<Arc<ConnectionInfo>>) -> Self {
        Self {
            backends,
            library: Arc::new(Library::default()),
            connections,
            counters: BTreeMap::new(),
            trace: Vec::new(),
            logs: Vec::new(),
        }
    }

    fn sql(
        &mut self,
        b: usize,
        call: &BackendCall,
        env: &mut dyn EvalEnv,
    ) -> Result<ActionResult, ErrorValue> {
        let Some(Backend::Sql { queries, rows }) = self.backends.get(b) else {
            return Err(ErrorValue::new(ErrorCode::BackendError, "not sql"));
        };
        let q = &queries[call.query.map_or(0, |q| q.0 as usize)];
        let params = eval_sql_params(&q.params, env)?;
        self.trace.push(format!("sql {} {:?}", q.name, params));
        let result = rows(&q.statement, &params)?;
        apply_sql_mapping(&q.mapping, &result, env)?;
        Ok(if result.rows.is_empty() {
            ActionResult::Ignore
        } else {
            ActionResult::Accept
        })
    }

    /// Answer one backend effect of a run over `ctx`.
    pub fn backend(
        &mut self,
        call: &BackendCall,
        ctx: &mut Context,
    ) -> Result<ActionResult, ErrorValue> {
        let b = call.backend.0 as usize;
        match self.backends.get(b) {
            Some(Backend::Fixed(r)) => {
                self.trace.push(format!("fixed {}", call.backend_name));
                r.clone()
            }
            Some(Backend::Sql { .. }) => self.sql(b, call, ctx),
            Some(Backend::Reverse {
                mode,
                select,
                queries,
                ..
            }) => {
                let (mode, select) = (*mode, select.clone());
                let q = queries[call.query.map_or(0, |q| q.0 as usize)].clone();
                let mapping = q.mapping.clone();
                let out = eval_bindings(&q.bindings, &*ctx)?;
                let counter = self.counters.get(&call.backend.0).copied().unwrap_or(0);
                let mut selection = Selection::new(
                    mode,
                    select,
                    self.library.clone(),
                    self.connections.clone(),
                    counter,
                    &call.backend_name,
                );
                let mut step = selection.start(&*ctx);
                let chosen = loop {
                    match step {
                        SelectionStep::Done(r) => break r,
                        SelectionStep::Effect(Effect::Backend(inner)) => {
                            let run = selection.current().expect("parked run");
                            let answer = {
                                let mut env = run.env(&*ctx);
                                self.sql(inner.backend.0 as usize, &inner, &mut env)
                            };
                            step = selection
                                .resume(&*ctx, EffectResult::Backend(answer))
                                .unwrap();
                        }
                        SelectionStep::Effect(other) => panic!("unexpected {other:?}"),
                    }
                };
                self.logs.extend(selection.take_logs());
                let chosen = chosen?;
                *self.counters.entry(call.backend.0).or_insert(0) += 1;
                let Some(Backend::Reverse { nas, .. }) = self.backends.get(b) else {
                    unreachable!()
                };
                let code = out.code.unwrap_or(0);
                self.trace.push(format!(
                    "reverse {} -> conn {} code {} attrs {}",
                    call.backend_name,
                    chosen.chosen.id,
                    code,
                    out.attrs.len()
                ));
                let (reply_code, reply_attrs) = nas(&chosen.chosen, code, &out.attrs);
                let view = ReplyView {
                    sent: &out,
                    code: reply_code,
                    attrs: &reply_attrs,
                };
                apply_mapping(&mapping, &view, ctx)?;
                Ok(if matches!(reply_code, 2 | 5 | 41 | 44) {
                    ActionResult::Accept
                } else {
                    ActionResult::Reject
                })
            }
            None => Err(ErrorValue::new(ErrorCode::BackendError, "no such backend")),
        }
    }

    /// Run `pipeline` to the end, answering effects; `reply;` is traced with the
    /// code the engine would send.
    pub fn run(&mut self, pipeline: Arc<Pipeline>, ctx: &mut Context) -> Outcome {
        let mut m = Machine::new(pipeline, self.library.clone());
        let mut step = m.start(ctx);
        loop {
            match step {
                Step::Done(o) => {
                    self.logs.extend(m.take_logs());
                    return o;
                }
                Step::Effect(Effect::SendReply { result }) => {
                    let request = ctx.request.as_ref().map_or(0, |r| r.code);
                    let outcome = match result {
                        Some(ActionResult::Accept) => Outcome::Accept,
                        Some(ActionResult::Reject) => Outcome::Reject,
                        _ => Outcome::Ignore,
                    };
                    let code = boomerang_core::eval::policy::radius_reply_code(
                        request,
                        &outcome,
                        ctx.reply.code,
                        ctx.reject_errors,
                    );
                    self.trace.push(format!("reply {code:?}"));
                    step = m.resume(ctx, EffectResult::ReplySent).unwrap();
                }
                Step::Effect(Effect::Backend(call)) => {
                    let r = self.backend(&call, ctx);
                    step = m.resume(ctx, EffectResult::Backend(r)).unwrap();
                }
            }
        }
    }
}

/// The context of an HTTP request to `/disconnect` of server `HTTP_API` with this
/// method and query, reading attributes through `schema`.
pub fn http_request_with(
    schema: Arc<dyn boomerang_core::eval::context::AttrSchema>,
    method: &str,
    query: &[(&str, &str)],
) -> Context {
    let mut c = Context::http(
        schema,
        t0(),
        boomerang_core::eval::context::HttpExchange {
            method: method.into(),
            path: "/disconnect".into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
    );
    c.server = Some(boomerang_core::eval::context::ServerInfo {
        name: "HTTP_API".into(),
        tls: false,
    });
    c
}
