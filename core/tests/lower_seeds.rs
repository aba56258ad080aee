//! End to end: every pipeline, condition and query block of both seeds, taken from the
//! fragments in `fixtures/lang/seeds/`, parsed, LOWERED by `lang::compile::lower`, and
//! run through the interpreter (`eval::machine`, `eval::select`) with the scripted
//! engine of `eval_support`, checking the outcomes the seeds describe.
//!
//! A miniature section walker below stands in for the section compiler: it finds
//! `backends`, `query`, `@select`, `policy`, `handler`, `conditions`, `@execute` and
//! hands their blocks to the lowering entry points.

#[path = "eval_support/mod.rs"]
mod eval_support;
mod lower_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use boomerang_core::contract::SqlRows;
use boomerang_core::eval::context::{
    AttrBag, AttrSchema, CertInfo, ConnectionInfo, Context, RadiusRequest, ServerInfo,
};
use boomerang_core::eval::error::{ErrorCode, ErrorValue};
use boomerang_core::eval::ir::{BackendId, Library, Pipeline, QueryId, error_code_value};
use boomerang_core::eval::machine::Outcome;
use boomerang_core::eval::policy::{
    Handler, HandlerChoice, Policy, choose_handler, http_answer, radius_reply,
};
use boomerang_core::eval::query::{RadiusQuery, SqlQuery};
use boomerang_core::eval::select::{SelectMode, Selected, Selection, SelectionStep};
use boomerang_core::eval::value::Value;
use boomerang_core::lang::compile::lower::{
    LowerCx, Stage, lower_bindings, lower_conditions, lower_mapping, lower_pipeline,
    lower_sql_mapping, lower_sql_params,
};
use boomerang_core::lang::compile::names::{BackendName, BackendNameKind, Names};
use boomerang_core::lang::{Block, Diagnostic, Item, SourceMap, Span, parse_text, render_all};
use boomerang_core::radius::dictionary::Dictionary;
use boomerang_core::radius::id::{AttrId, DataType};
use eval_support::{Backend, Engine, NasFn, SqlFn, conn, http_request_with, t0, with_cert};

const USER_NAME: AttrId = AttrId::Standard(1);
const REPLY_MESSAGE: AttrId = AttrId::Standard(18);
const NAS_IDENTIFIER: AttrId = AttrId::Standard(32);
const ACCT_STATUS_TYPE: AttrId = AttrId::Standard(40);
const ACCT_INPUT_OCTETS: AttrId = AttrId::Standard(42);
const ACCT_OUTPUT_OCTETS: AttrId = AttrId::Standard(43);
const ACCT_SESSION_ID: AttrId = AttrId::Standard(44);
const ERROR_CAUSE: AttrId = AttrId::Standard(101);

// ---------------------------------------------------------------------------
// Fixtures and the dictionary as the interpreter's schema

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn seed(name: &str) -> String {
    fixture(&format!("lang/seeds/{name}.conf"))
}

/// The built-in dictionary as the interpreter's attribute schema.
struct DictSchema(&'static Dictionary);

impl AttrSchema for DictSchema {
    fn data_type(&self, id: AttrId) -> Option<DataType> {
        self.0.attr_by_id(id).map(|d| d.data_type)
    }

    fn value_number(&self, id: AttrId, name: &str) -> Option<u32> {
        let def = self.0.attr_by_id(id)?;
        self.0.value_number(def, name)
    }

    fn attr_id(&self, name: &str) -> Option<AttrId> {
        self.0.attr(name).map(|d| d.id)
    }
}

fn schema() -> Arc<DictSchema> {
    Arc::new(DictSchema(Dictionary::builtin()))
}

// ---------------------------------------------------------------------------
// A miniature section walker

struct ParsedFile {
    sources: SourceMap,
    items: Vec<Item>,
}

fn parse(name: &str, text: &str) -> ParsedFile {
    let (sources, parsed) = parse_text(name, text);
    assert!(
        !parsed.has_errors(),
        "{}",
        render_all(&parsed.diagnostics, &sources)
    );
    ParsedFile {
        sources,
        items: parsed.file.items,
    }
}

fn children<'a>(item: &'a Item, keyword: &str) -> impl Iterator<Item = &'a Item> {
    let keyword = keyword.to_owned();
    item.children()
        .iter()
        .filter(move |i| i.keyword() == Some(keyword.as_str()))
}

fn child<'a>(item: &'a Item, keyword: &str) -> Option<&'a Item> {
    children(item, keyword).next()
}

/// `@select [first|round-robin] { … }` anywhere below `items`.
fn find_select(items: &[Item]) -> Option<&Item> {
    for i in items {
        if i.keyword() == Some("@select") {
            return Some(i);
        }
        if let Some(s) = find_select(i.children()) {
            return Some(s);
        }
    }
    None
}

fn select_mode(select: &Item) -> SelectMode {
    match select.args().first().and_then(|t| t.as_word()) {
        Some("round-robin") => SelectMode::RoundRobin,
        None | Some("first") => SelectMode::First,
        Some(other) => panic!("mode {other}"),
    }
}

/// A backend found in the files, before lowering.
struct BackendDef<'a> {
    name: String,
    item: &'a Item,
    sqlite: bool,
}

/// Every `backends { radius|sqlite "NAME" { … } }` in file order.
fn backend_defs(files: &[ParsedFile]) -> Vec<(usize, BackendDef<'_>)> {
    let mut out = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for section in f.items.iter().filter(|i| i.keyword() == Some("backends")) {
            for b in section.children() {
                let sqlite = match b.keyword() {
                    Some("radius") => false,
                    Some("sqlite") => true,
                    _ => continue,
                };
                out.push((
                    fi,
                    BackendDef {
                        name: b.name_string().unwrap().to_owned(),
                        item: b,
                        sqlite,
                    },
                ));
            }
        }
    }
    out
}

/// Every `policy` (top level or inside `aaa`) in file order.
fn policy_items(files: &[ParsedFile]) -> Vec<(usize, &Item)> {
    let mut out = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for i in &f.items {
            match i.keyword() {
                Some("policy") => out.push((fi, i)),
                Some("aaa") => out.extend(children(i, "policy").map(|p| (fi, p))),
                _ => {}
            }
        }
    }
    out
}

enum Lowered {
    Reverse {
        mode: SelectMode,
        select: Arc<Pipeline>,
        queries: Vec<RadiusQuery>,
    },
    /// A RADIUS backend with `connect` (proxying is not scripted here).
    Radius,
    Sql {
        queries: Vec<SqlQuery>,
    },
}

/// A configuration lowered by the functions under test.
struct Program {
    files: Vec<ParsedFile>,
    names: Names,
    backends: Vec<(String, Lowered)>,
    policies: Vec<Policy>,
}

impl Program {
    fn cx<'a>(&'a self, diags: &'a mut Vec<Diagnostic>) -> LowerCx<'a> {
        LowerCx {
            dictionary: Dictionary::builtin(),
            names: &self.names,
            diagnostics: diags,
        }
    }

    /// Lower a fragment of bare actions (like `rb05_error_handling.conf`) as `@execute`.
    fn fragment(&self, text: &str) -> Arc<Pipeline> {
        let f = parse("fragment.conf", text);
        let block = Block {
            items: f.items,
            span: Span::DUMMY,
        };
        let mut diags = Vec::new();
        let p = lower_pipeline(&mut self.cx(&mut diags), Stage::Execute, &block);
        assert!(diags.is_empty(), "{}", render_all(&diags, &f.sources));
        p
    }

    fn backend_id(&self, name: &str) -> usize {
        self.names.backends[name].id.0 as usize
    }

    /// The scripted engine's backends: reverse backends answered by `nas`, SQL ones by
    /// `rows`.
    fn engine(&self, connections: Vec<Arc<ConnectionInfo>>) -> Engine {
        let backends = self
            .backends
            .iter()
            .map(|(_, b)| match b {
                Lowered::Reverse {
                    mode,
                    select,
                    queries,
                } => Backend::Reverse {
                    mode: *mode,
                    select: select.clone(),
                    queries: queries.clone(),
                    nas: nas_acking(),
                },
                Lowered::Radius => Backend::Fixed(Err(ErrorValue::new(
                    ErrorCode::BackendError,
                    "outbound RADIUS is not scripted here",
                ))),
                Lowered::Sql { queries } => Backend::Sql {
                    queries: queries.clone(),
                    rows: sql_rows(),
                },
            })
            .collect();
        Engine::new(backends, connections)
    }

    /// Choose the policy and handler and run its `@execute`.
    fn handle(&self, engine: &mut Engine, ctx: &mut Context) -> Option<(HandlerChoice, Outcome)> {
        let choice = choose_handler(&self.policies, None, &*ctx)?;
        let exec = self.policies[choice.policy].handlers[choice.handler]
            .execute
            .clone()
            .expect("@execute");
        Some((choice, engine.run(exec, ctx)))
    }
}

/// Collect names, then lower every backend's `@select` and queries and every policy.
/// Panics (with rendered diagnostics) if lowering reports anything.
fn compile(texts: &[(&str, String)]) -> Program {
    // One source map for all files, so diagnostics render against the right text.
    let mut sources = SourceMap::new();
    let files: Vec<ParsedFile> = texts
        .iter()
        .map(|(n, t)| {
            let id = sources.add(*n, t.as_str());
            let parsed = boomerang_core::lang::parse(id, sources.text(id));
            assert!(
                !parsed.has_errors(),
                "{}",
                render_all(&parsed.diagnostics, &sources)
            );
            ParsedFile {
                sources: SourceMap::new(),
                items: parsed.file.items,
            }
        })
        .collect();
    // Pass 1: names.
    let mut names = Names::default();
    for (i, (_, def)) in backend_defs(&files).iter().enumerate() {
        let servers: Vec<&Item> = children(def.item, "server").collect();
        let kind = if def.sqlite {
            BackendNameKind::Sqlite
        } else {
            BackendNameKind::Radius {
                reverse: servers.iter().any(|s| child(s, "reverse").is_some()),
                connect: servers.iter().any(|s| child(s, "connect").is_some()),
            }
        };
        let queries = children(def.item, "query")
            .enumerate()
            .map(|(qi, q)| (q.name_string().unwrap().to_owned(), QueryId(qi as u32)))
            .collect();
        names.backends.insert(
            def.name.clone(),
            BackendName {
                id: BackendId(i as u32),
                kind,
                queries,
                span: def.item.span,
            },
        );
    }
    // Pass 2: lowering.
    let mut diags = Vec::new();
    let mut backends = Vec::new();
    let mut policies = Vec::new();
    {
        let mut cx = LowerCx {
            dictionary: Dictionary::builtin(),
            names: &names,
            diagnostics: &mut diags,
        };
        for (_, def) in backend_defs(&files) {
            let lowered = if def.sqlite {
                let queries = children(def.item, "query")
                    .map(|q| SqlQuery {
                        name: q.name_string().unwrap().to_owned(),
                        statement: ["query", "statement"]
                            .iter()
                            .find_map(|k| child(q, k))
                            .and_then(Item::name_string)
                            .unwrap()
                            .to_owned(),
                        params: child(q, "bindings")
                            .map(|b| lower_sql_params(&mut cx, b.block().unwrap()))
                            .unwrap_or_default(),
                        mapping: ["mapping", "mappings"]
                            .iter()
                            .find_map(|k| child(q, k))
                            .map(|m| lower_sql_mapping(&mut cx, m.block().unwrap()))
                            .unwrap_or_default(),
                    })
                    .collect();
                Lowered::Sql { queries }
            } else {
                let queries: Vec<RadiusQuery> = children(def.item, "query")
                    .map(|q| RadiusQuery {
                        name: q.name_string().unwrap().to_owned(),
                        bindings: child(q, "bindings")
                            .map(|b| lower_bindings(&mut cx, b.block().unwrap()))
                            .unwrap_or_default(),
                        mapping: ["mapping", "mappings"]
                            .iter()
                            .find_map(|k| child(q, k))
                            .map(|m| lower_mapping(&mut cx, m.block().unwrap()))
                            .unwrap_or_default(),
                    })
                    .collect();
                match find_select(def.item.children()) {
                    Some(sel) => Lowered::Reverse {
                        mode: select_mode(sel),
                        select: lower_pipeline(&mut cx, Stage::Select, sel.block().unwrap()),
                        queries,
                    },
                    None => Lowered::Radius,
                }
            };
            backends.push((def.name.clone(), lowered));
        }
        for (_, p) in policy_items(&files) {
            let handlers = children(p, "handler")
                .map(|h| Handler {
                    name: h.name_string().unwrap().to_owned(),
                    conditions: child(h, "conditions").and_then(|c| lower_conditions(&mut cx, c)),
                    execute: child(h, "@execute")
                        .map(|e| lower_pipeline(&mut cx, Stage::Execute, e.block().unwrap())),
                    final_execute: child(h, "@final-execute")
                        .map(|e| lower_pipeline(&mut cx, Stage::FinalExecute, e.block().unwrap())),
                })
                .collect();
            policies.push(Policy {
                name: p.name_string().unwrap().to_owned(),
                conditions: child(p, "conditions").and_then(|c| lower_conditions(&mut cx, c)),
                handlers,
            });
        }
    }
    if !diags.is_empty() {
        panic!("lowering reported:\n{}", render_all(&diags, &sources));
    }
    Program {
        files,
        names,
        backends,
        policies,
    }
}

fn seeds(names: &[&str]) -> Vec<(&'static str, String)> {
    names.iter().map(|n| ("seed.conf", seed(n))).collect()
}

/// Lower the first `@select` of a fragment on its own (no backends needed).
fn lowered_select(text: &str) -> (SelectMode, Arc<Pipeline>) {
    let f = parse("select.conf", text);
    let sel = find_select(&f.items).expect("@select");
    let names = Names::default();
    let mut diags = Vec::new();
    let p = lower_pipeline(
        &mut LowerCx {
            dictionary: Dictionary::builtin(),
            names: &names,
            diagnostics: &mut diags,
        },
        Stage::Select,
        sel.block().unwrap(),
    );
    assert!(diags.is_empty(), "{}", render_all(&diags, &f.sources));
    (select_mode(sel), p)
}

// ---------------------------------------------------------------------------
// Scripted NAS and database

/// A NAS that ACKs Disconnect-Requests carrying User-Name or Acct-Session-Id (with a
/// Reply-Message) and NAKs the rest with Error-Cause 503.
fn nas_acking() -> NasFn {
    Box::new(|_conn, code, attrs| {
        let mut reply = AttrBag::new();
        if code == 40 && (attrs.count(USER_NAME) > 0 || attrs.count(ACCT_SESSION_ID) > 0) {
            reply.push(REPLY_MESSAGE, b"done".to_vec());
            (41, reply)
        } else {
            reply.push(ERROR_CAUSE, 503u32.to_be_bytes().to_vec());
            (if code == 43 { 45 } else { 42 }, reply)
        }
    })
}

/// users → NAS (mikem → nas-b, alice → nas-a), quota 1000 octets.
fn sql_rows() -> SqlFn {
    Box::new(|statement, params| {
        if statement.contains("nas_identifier") {
            let columns = vec!["username".to_string(), "nas_identifier".to_string()];
            let nas = match params.first() {
                Some(Value::String(u)) if u == "mikem" => "nas-b",
                Some(Value::String(u)) if u == "alice" => "nas-a",
                _ => {
                    return Ok(SqlRows {
                        columns,
                        rows: vec![],
                    });
                }
            };
            Ok(SqlRows {
                columns,
                rows: vec![vec![params[0].clone(), Value::String(nas.into())]],
            })
        } else {
            let n = |v: &Value| match v {
                Value::Integer(i) => *i,
                _ => 0,
            };
            Ok(SqlRows {
                columns: vec!["quota_exceeded".into()],
                rows: vec![vec![Value::Integer(
                    (n(&params[0]) + n(&params[1]) > 1000).into(),
                )]],
            })
        }
    })
}

fn nas_connections() -> Vec<Arc<ConnectionInfo>> {
    vec![
        conn(1, "RADSEC_SERVER", Some("nas-a"), [10, 9, 0, 1]),
        conn(2, "OTHER_SERVER", Some("nas-b"), [10, 9, 0, 2]),
        conn(3, "RADSEC_SERVER", Some("nas-b"), [10, 9, 0, 3]),
        conn(4, "RADSEC_SERVER", Some("nas-b"), [10, 9, 0, 4]),
    ]
}

fn radius_ctx(code: u8, attrs: &[(AttrId, &str)], server: &str) -> Context {
    let mut bag = AttrBag::new();
    for (id, v) in attrs {
        bag.push(*id, v.as_bytes().to_vec());
    }
    let mut c = Context::radius(schema(), t0(), RadiusRequest { code, attrs: bag });
    c.server = Some(ServerInfo {
        name: server.into(),
        tls: false,
    });
    c
}

fn run_select(
    p: &Arc<Pipeline>,
    mode: SelectMode,
    cands: Vec<Arc<ConnectionInfo>>,
    ctx: &Context,
    counter: u64,
) -> (Result<Selected, ErrorValue>, Vec<String>) {
    let mut s = Selection::new(
        mode,
        p.clone(),
        Arc::new(Library::default()),
        cands,
        counter,
        "B",
    );
    match s.start(ctx) {
        SelectionStep::Done(r) => (r, s.take_logs().into_iter().map(|l| l.text).collect()),
        SelectionStep::Effect(e) => panic!("unexpected effect {e:?}"),
    }
}

fn chosen(r: (Result<Selected, ErrorValue>, Vec<String>)) -> u64 {
    r.0.unwrap().chosen.id
}

fn no_connection(r: (Result<Selected, ErrorValue>, Vec<String>)) -> bool {
    matches!(r.0, Err(e) if e.code == ErrorCode::NoReverseConnections)
}

// ---------------------------------------------------------------------------
// UDP RADIUS triggering: REVERSE_DYNAUTH_BACKEND + PROXY_QUERY + PROXY_POLICY

#[test]
fn udp_trigger_is_proxied_to_the_matching_nas_and_its_ack_relayed() {
    let p = compile(&seeds(&[
        "rda02_udp_reverse_backend",
        "rda03_udp_server_policy",
    ]));
    let mut engine = p.engine(nas_connections());
    let mut c = radius_ctx(
        40,
        &[
            (USER_NAME, "mikem"),
            (NAS_IDENTIFIER, "nas-b"),
            (ACCT_SESSION_ID, "s1"),
        ],
        "RADIUS_UDP",
    );
    let (choice, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert_eq!(p.policies[choice.policy].name, "PROXY_POLICY");
    assert_eq!(outcome, Outcome::Accept);
    // Connection 2 has the NAS-Identifier but is on another server; 3 is the first match.
    assert_eq!(
        engine.trace,
        ["reverse REVERSE_DYNAUTH_BACKEND -> conn 3 code 40 attrs 3"]
    );
    let (code, attrs) = radius_reply(&c, &outcome).unwrap();
    assert_eq!(code, 41, "the NAS's Disconnect-ACK is relayed");
    assert_eq!(attrs.len(), 1);
    assert_eq!(attrs[0].id, REPLY_MESSAGE);
    assert_eq!(&attrs[0].value[..], b"done");

    // A NAK is relayed as a NAK with the NAS's Error-Cause.
    let mut engine = p.engine(nas_connections());
    let mut c = radius_ctx(40, &[(NAS_IDENTIFIER, "nas-b")], "RADIUS_UDP");
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    let (code, attrs) = radius_reply(&c, &outcome).unwrap();
    assert_eq!((code, attrs[0].id), (42, ERROR_CAUSE));

    // No matching connection: the error propagates and the UDP client gets no reply.
    let mut engine = p.engine(nas_connections());
    let mut c = radius_ctx(
        40,
        &[(USER_NAME, "mikem"), (NAS_IDENTIFIER, "nas-z")],
        "RADIUS_UDP",
    );
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert!(matches!(&outcome, Outcome::Error(e) if e.code == ErrorCode::NoReverseConnections));
    assert!(engine.trace.is_empty());
    assert_eq!(radius_reply(&c, &outcome), None);

    // A request arriving on the RadSec server matches no policy.
    let c = radius_ctx(40, &[], "RADSEC_SERVER");
    assert_eq!(choose_handler(&p.policies, None, &c), None);
}

// ---------------------------------------------------------------------------
// HTTP API triggering

fn http_request(method: &str, query: &[(&str, &str)]) -> Context {
    http_request_with(schema(), method, query)
}

#[test]
fn http_trigger_disconnects_the_named_user_on_the_named_nas() {
    let p = compile(&seeds(&[
        "rda04_http_reverse_backend",
        "rda05_http_server",
        "rda06_http_policy",
    ]));
    let mut conns = nas_connections();
    conns.push(conn(
        5,
        "RADSEC_SERVER",
        Some("radiator-nas-simulator"),
        [10, 9, 0, 5],
    ));
    let mut engine = p.engine(conns);
    let mut c = http_request(
        "POST",
        &[
            ("nas_identifier", "radiator-nas-simulator"),
            ("username", "mikem"),
        ],
    );
    let (choice, outcome) = p.handle(&mut engine, &mut c).unwrap();
    let policy = &p.policies[choice.policy];
    assert_eq!(
        (
            policy.name.as_str(),
            policy.handlers[choice.handler].name.as_str()
        ),
        ("HTTP_POLICY", "DISCONNECT")
    );
    assert_eq!(outcome, Outcome::Accept);
    // One attribute: User-Name from "%{http.query.username}".
    assert_eq!(
        engine.trace,
        ["reverse REVERSE_DYNAUTH_BACKEND -> conn 5 code 40 attrs 1"]
    );
    assert_eq!(http_answer(&c, &outcome).status, 200);

    // Not connected: HTTP 500 naming the error.
    let mut engine = p.engine(nas_connections());
    let mut c = http_request(
        "POST",
        &[
            ("nas_identifier", "radiator-nas-simulator"),
            ("username", "mikem"),
        ],
    );
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    let answer = http_answer(&c, &outcome);
    assert_eq!(answer.status, 500);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["error"], "NO_REVERSE_CONNECTIONS");

    // A GET matches no handler.
    assert_eq!(
        choose_handler(&p.policies, None, &http_request("GET", &[])),
        None
    );
}

// ---------------------------------------------------------------------------
// NAS device simulation

#[test]
fn nas_simulator_logs_disconnects_and_acks() {
    let p = compile(&seeds(&["rda07_nas_simulation"]));
    assert!(matches!(
        p.names.backends["RADSEC_BACKEND"].kind,
        BackendNameKind::Radius {
            reverse: false,
            connect: true
        }
    ));
    let mut engine = p.engine(vec![]);
    let mut c = radius_ctx(40, &[(USER_NAME, "mikem")], "REVERSE_DYNAUTH_SERVER");
    let (choice, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert_eq!(p.policies[choice.policy].name, "DYNAUTH_POLICY");
    assert_eq!(outcome, Outcome::Accept);
    let logs: Vec<&str> = engine.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(logs, ["Received Disconnect-Request for user mikem"]);
    assert_eq!(radius_reply(&c, &outcome).unwrap().0, 41);

    // A CoA-Request is ACKed without the debug line.
    let mut engine = p.engine(vec![]);
    let mut c = radius_ctx(43, &[(USER_NAME, "mikem")], "REVERSE_DYNAUTH_SERVER");
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert!(engine.logs.is_empty());
    assert_eq!(radius_reply(&c, &outcome).unwrap().0, 44);
}

// ---------------------------------------------------------------------------
// Connection selection examples

fn full_cert() -> CertInfo {
    CertInfo {
        subject_cn: Some("testUser".into()),
        issuer: Some("CN=Demo CA".into()),
        fingerprint: Some("ab".into()),
        san_email: vec![
            "testUser@demo.open.com.au".into(),
            "otherUser@demo.open.com.au".into(),
        ],
        san_dns: vec!["testUser.demo.open.com.au".into()],
        san_uri: vec!["https://testUser.demo.open.com.au".into()],
    }
}

#[test]
fn select_on_every_connection_field_of_the_article() {
    let (mode, sel) = lowered_select(&seed("rda08_select_example"));
    assert_eq!(mode, SelectMode::First);
    let sim = Some("radiator-nas-simulator");
    let good = with_cert(&conn(9, "RADSEC_SERVER", sim, [10, 9, 0, 1]), full_cert());
    let mut swapped = full_cert();
    swapped.san_email.reverse();
    let mut other_cn = full_cert();
    other_cn.subject_cn = Some("someoneElse".into());
    let decoys = vec![
        conn(1, "RADSEC_SERVER", sim, [10, 9, 0, 1]), // no certificate
        with_cert(&conn(2, "RADSEC_SERVER", sim, [10, 9, 0, 2]), full_cert()), // peer IP
        with_cert(&conn(3, "RADSEC_SERVER", sim, [10, 9, 0, 1]), swapped), // email order
        with_cert(&conn(4, "RADSEC_SERVER", sim, [10, 9, 0, 1]), other_cn), // CN
        with_cert(&conn(5, "OTHER", sim, [10, 9, 0, 1]), full_cert()), // server
        with_cert(
            &conn(
                6,
                "RADSEC_SERVER",
                Some("RADIATOR-NAS-SIMULATOR"),
                [10, 9, 0, 1],
            ),
            full_cert(),
        ), // exact == is case-sensitive even though the regex is not
    ];
    let ctx = radius_ctx(40, &[], "RADIUS_UDP");
    let mut cands = decoys.clone();
    cands.push(good);
    assert_eq!(chosen(run_select(&sel, mode, cands, &ctx, 0)), 9);
    assert!(no_connection(run_select(&sel, mode, decoys, &ctx, 0)));
}

#[test]
fn select_by_the_requests_nas_identifier() {
    let (mode, sel) = lowered_select(&seed("rb02_select_nas_identifier"));
    let ctx = radius_ctx(40, &[(NAS_IDENTIFIER, "nas-b")], "RADIUS_UDP");
    // The first connection whose Status-Server NAS-Identifier is nas-b (any server).
    assert_eq!(
        chosen(run_select(&sel, mode, nas_connections(), &ctx, 0)),
        2
    );
    let ctx = radius_ctx(40, &[(NAS_IDENTIFIER, "nas-q")], "RADIUS_UDP");
    assert!(no_connection(run_select(
        &sel,
        mode,
        nas_connections(),
        &ctx,
        0
    )));

    // The syntax example: a literal NAS-Identifier.
    let (mode, sel) = lowered_select(&seed("rb01_reverse_syntax"));
    let mut cands = nas_connections();
    assert!(no_connection(run_select(
        &sel,
        mode,
        cands.clone(),
        &ctx,
        0
    )));
    cands.push(conn(7, "RADSEC_SERVER", Some("NAS123"), [10, 9, 0, 7]));
    assert_eq!(chosen(run_select(&sel, mode, cands, &ctx, 0)), 7);
}

#[test]
fn selection_modes_and_round_robin() {
    // `@select first { }` / `@select round-robin { }` with empty bodies select nothing.
    let f = parse("rb03.conf", &seed("rb03_selection_modes"));
    let modes: Vec<SelectMode> = f
        .items
        .iter()
        .map(|r| select_mode(find_select(std::slice::from_ref(r)).unwrap()))
        .collect();
    assert_eq!(modes, [SelectMode::First, SelectMode::RoundRobin]);
    let ctx = radius_ctx(40, &[], "RADIUS_UDP");
    let (_, empty) = lowered_select(&seed("rb03_selection_modes"));
    assert!(empty.actions.is_empty());
    assert!(no_connection(run_select(
        &empty,
        SelectMode::First,
        nas_connections(),
        &ctx,
        0
    )));

    let (mode, sel) = lowered_select(&seed("rda11_round_robin"));
    assert_eq!(mode, SelectMode::RoundRobin);
    let sim = Some("radiator-nas-simulator");
    let cands = vec![
        conn(1, "S", sim, [10, 0, 0, 1]),
        conn(2, "S", Some("other"), [10, 0, 0, 2]),
        conn(3, "S", sim, [10, 0, 0, 3]),
        conn(4, "S", sim, [10, 0, 0, 4]),
    ];
    let picks: Vec<u64> = (0..5)
        .map(|counter| chosen(run_select(&sel, mode, cands.clone(), &ctx, counter)))
        .collect();
    assert_eq!(picks, [1, 3, 4, 1, 3]);

    // Through the engine: the round-robin @select inside a reverse backend, the
    // per-backend counter advancing per request.
    let backend = format!(
        r#"backends {{ radius "RR" {{ server "REVERSE" {{ secret "radsec"; {} }}
        query "DISCONNECT_USER" {{ bindings {{ radius.request.code = radius.DISCONNECT_REQUEST;
        radius.request.attr.User-Name = "mikem"; }} }} }} }}"#,
        seed("rda11_round_robin")
    );
    let p = compile(&[("rr.conf", backend)]);
    let call = p.fragment(r#"backend { name "RR"; query "DISCONNECT_USER"; }"#);
    let mut engine = p.engine(cands);
    for _ in 0..4 {
        let mut c = radius_ctx(4, &[], "X");
        assert_eq!(engine.run(call.clone(), &mut c), Outcome::Accept);
    }
    let conns: Vec<&str> = engine
        .trace
        .iter()
        .map(|t| t.split(' ').nth(4).unwrap())
        .collect();
    assert_eq!(conns, ["1", "3", "4", "1"]);
}

#[test]
fn select_debug_logs_every_candidate() {
    let (mode, sel) = lowered_select(&seed("rb06_debug_connection"));
    let cands = vec![
        with_cert(
            &conn(1, "RADSEC_SERVER", Some("nas-a"), [10, 9, 0, 1]),
            full_cert(),
        ),
        conn(2, "RADSEC_SERVER", None, [10, 9, 0, 2]),
    ];
    let ctx = radius_ctx(40, &[], "RADIUS_UDP");
    let (result, logs) = run_select(&sel, mode, cands, &ctx, 0);
    assert_eq!(result.unwrap_err().code, ErrorCode::NoReverseConnections);
    assert_eq!(
        logs,
        [
            "=== Evaluating connection 1 ===\nServer name: RADSEC_SERVER\nNAS-Identifier: nas-a\nPeer IP: 10.9.0.1\nCertificate CN: testUser\nCertificate SAN email: testUser@demo.open.com.au",
            "=== Evaluating connection 2 ===\nServer name: RADSEC_SERVER\nNAS-Identifier: \nPeer IP: 10.9.0.2\nCertificate CN: \nCertificate SAN email: ",
        ]
    );
}

#[test]
fn basic_reverse_coa_takes_the_oldest_active_connection() {
    let p = compile(&seeds(&["rb04_basic_reverse_coa"]));
    let Lowered::Reverse { select, mode, .. } = &p.backends[0].1 else {
        panic!()
    };
    let mut cands = nas_connections();
    let mut closed = (*cands[0]).clone();
    closed.disconnected = Some(t0());
    cands[0] = Arc::new(closed);
    let ctx = radius_ctx(40, &[], "X");
    assert_eq!(chosen(run_select(select, *mode, cands, &ctx, 0)), 2);
}

// ---------------------------------------------------------------------------
// Connection selection using a database

#[test]
fn select_using_an_sql_lookup() {
    let backend = format!(
        r#"backends {{ radius "REVERSE_SQL" {{ server "REVERSE" {{ secret "radsec"; reverse {{ {} }} }}
        query "DISCONNECT_USER" {{ bindings {{ radius.request.code = radius.DISCONNECT_REQUEST;
        radius.request.attr.User-Name = radius.request.attr.User-Name; }} }} }} }}"#,
        seed("rda09_select_database")
    );
    let p = compile(&[
        ("sql.conf", seed("rda10_sqlite_backend")),
        ("reverse.conf", backend),
    ]);
    assert_eq!(p.backend_id("SQL_BACKEND"), 0);
    let call = p.fragment(r#"backend { name "REVERSE_SQL"; query "DISCONNECT_USER"; }"#);
    let mut engine = p.engine(nas_connections());
    let mut c = radius_ctx(40, &[(USER_NAME, "mikem")], "RADIUS_UDP");
    assert_eq!(engine.run(call.clone(), &mut c), Outcome::Accept);
    // One lookup per candidate visited (1 rejects, 2 accepts), then the request.
    assert_eq!(
        engine.trace,
        [
            "sql FIND_NAS_IDENTIFIER [String(\"mikem\")]",
            "sql FIND_NAS_IDENTIFIER [String(\"mikem\")]",
            "reverse REVERSE_SQL -> conn 2 code 40 attrs 1",
        ]
    );
    assert!(
        !c.vars.contains_key("nas_identifier"),
        "@select does not write the caller"
    );
    let mut c = radius_ctx(40, &[(USER_NAME, "nobody")], "RADIUS_UDP");
    assert!(
        matches!(engine.run(call, &mut c), Outcome::Error(e) if e.code == ErrorCode::NoReverseConnections)
    );
}

// ---------------------------------------------------------------------------
// Matching the current connection: quota check on Accounting-Request

fn accounting_ctx(input: u32, output: u32, current: Arc<ConnectionInfo>) -> Context {
    let mut bag = AttrBag::new();
    bag.push(USER_NAME, b"mikem".to_vec());
    bag.push(ACCT_STATUS_TYPE, 3u32.to_be_bytes().to_vec());
    bag.push(ACCT_SESSION_ID, b"sess-9".to_vec());
    bag.push(ACCT_INPUT_OCTETS, input.to_be_bytes().to_vec());
    bag.push(ACCT_OUTPUT_OCTETS, output.to_be_bytes().to_vec());
    let mut c = Context::radius(
        schema(),
        t0(),
        RadiusRequest {
            code: 4,
            attrs: bag,
        },
    );
    c.server = Some(ServerInfo {
        name: "RADSEC_SERVER".into(),
        tls: true,
    });
    c.current_connection = Some(current);
    c
}

fn quota_program() -> Program {
    compile(&[
        ("current.conf", seed("rda12_current_connection")),
        ("db.conf", fixture("lower/session_database.conf")),
        ("policy.conf", seed("rda13_accounting_quota")),
    ])
}

#[test]
fn quota_exceeded_acks_then_disconnects_on_the_same_connection() {
    let p = quota_program();
    let conns = nas_connections();
    let mut engine = p.engine(conns.clone());
    let mut c = accounting_ctx(800, 700, conns[2].clone());
    let (choice, outcome) = p.handle(&mut engine, &mut c).unwrap();
    let policy = &p.policies[choice.policy];
    assert_eq!(
        (
            policy.name.as_str(),
            policy.handlers[choice.handler].name.as_str()
        ),
        ("ACCOUNTING", "QUOTA_CHECK")
    );
    assert_eq!(outcome, Outcome::Accept);
    assert_eq!(
        engine.trace,
        [
            "reply Some(5)",
            "sql QUOTA_CHECK [Integer(800), Integer(700), String(\"mikem\")]",
            "reverse CURRENT_CONNECTION -> conn 3 code 40 attrs 1",
        ],
        "Accounting-Response first, then the quota check, then the Disconnect on connection 3"
    );
    assert_eq!(c.vars["quota_exceeded"], Value::Integer(1));

    // Under quota: only the Accounting-Response and the check.
    let mut engine = p.engine(conns.clone());
    let mut c = accounting_ctx(100, 100, conns[0].clone());
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert_eq!(outcome, Outcome::Accept);
    assert_eq!(engine.trace.len(), 2);

    // The current connection is gone: NO_REVERSE_CONNECTIONS after the reply went out.
    let mut engine = p.engine(conns[..2].to_vec());
    let mut c = accounting_ctx(800, 700, conns[3].clone());
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert!(matches!(outcome, Outcome::Error(e) if e.code == ErrorCode::NoReverseConnections));
    assert_eq!(engine.trace[0], "reply Some(5)");

    // Accounting Start matches no handler (the handler's condition is Alive).
    let mut c = accounting_ctx(1, 1, conns[0].clone());
    let req = c.request.as_mut().unwrap();
    req.attrs.remove(ACCT_STATUS_TYPE);
    req.attrs
        .push(ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec());
    assert_eq!(choose_handler(&p.policies, None, &c), None);
}

// ---------------------------------------------------------------------------
// Error handling with try

#[test]
fn error_handling_example_catches_no_reverse_connections() {
    let p = compile(&seeds(&["rb04_basic_reverse_coa"]));
    let handling = p.fragment(&seed("rb05_error_handling"));

    // No connection at all.
    let mut engine = p.engine(vec![]);
    let mut c = radius_ctx(40, &[], "X");
    assert_eq!(engine.run(handling.clone(), &mut c), Outcome::Reject);
    assert_eq!(
        c.aaa.reason,
        Value::String("operation failed: no available connections for reverse request".into())
    );
    assert_eq!(
        c.aaa.caught_error_code,
        error_code_value(ErrorCode::NoReverseConnections)
    );

    // Another error: the second branch names it.
    let mut engine = p.engine(nas_connections());
    engine.backends[0] = Backend::Fixed(Err(ErrorValue::new(
        ErrorCode::ReverseTimeout,
        "no reply from NAS within 5s",
    )));
    let mut c = radius_ctx(40, &[], "X");
    assert_eq!(engine.run(handling.clone(), &mut c), Outcome::Reject);
    assert_eq!(
        c.aaa.reason,
        Value::String("operation failed: no reply from NAS within 5s".into())
    );

    // Success: the NAS ACKs User-Name = "mikem"; no branch runs.
    let mut engine = p.engine(nas_connections());
    let mut c = radius_ctx(40, &[], "X");
    assert_eq!(engine.run(handling, &mut c), Outcome::Accept);
    assert_eq!(c.aaa.reason, Value::None);
    assert_eq!(
        engine.trace,
        ["reverse REVERSE_DYNAUTH -> conn 1 code 40 attrs 1"]
    );
}

#[test]
fn try_catch_policy_of_the_language_reference() {
    let p = compile(&[
        ("rb04.conf", seed("rb04_basic_reverse_coa")),
        ("policy.conf", fixture("lower/try_catch_policy.conf")),
    ]);
    let mut engine = p.engine(vec![]);
    let mut c = radius_ctx(40, &[], "X");
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert_eq!(outcome, Outcome::Reject);
    assert_eq!(c.aaa.reason, Value::String("NAS not connected".into()));
    assert_eq!(radius_reply(&c, &outcome).unwrap().0, 42, "Disconnect-NAK");

    let mut engine = p.engine(vec![]);
    engine.backends[0] = Backend::Fixed(Err(ErrorValue::new(
        ErrorCode::ConnectionClosed,
        "connection 3 closed",
    )));
    let mut c = radius_ctx(40, &[], "X");
    let (_, outcome) = p.handle(&mut engine, &mut c).unwrap();
    assert_eq!(outcome, Outcome::Reject);
    assert_eq!(
        c.aaa.reason,
        Value::String("CoA failed: connection 3 closed".into())
    );
}

#[test]
fn every_seed_fragment_lowers_without_diagnostics() {
    // Whole-file fragments with sections: the UDP, NAS-simulator, database and
    // quota examples together (with the session database the quota example calls)…
    let mut texts = seeds(&[
        "rda01_radsec_server",
        "rda02_udp_reverse_backend",
        "rda03_udp_server_policy",
        "rda07_nas_simulation",
        "rda10_sqlite_backend",
        "rda12_current_connection",
        "rda13_accounting_quota",
        "rb04_basic_reverse_coa",
    ]);
    texts.push(("db.conf", fixture("lower/session_database.conf")));
    let p = compile(&texts);
    assert_eq!(p.policies.len(), 3);
    assert_eq!(p.backends.len(), 6);
    assert_eq!(p.files.len(), 9);
    // …and the HTTP example, which redefines REVERSE_DYNAUTH_BACKEND.
    let p = compile(&seeds(&[
        "rda04_http_reverse_backend",
        "rda05_http_server",
        "rda06_http_policy",
    ]));
    assert_eq!((p.policies.len(), p.backends.len()), (1, 1));
    // Bare `@select` fragments.
    for name in [
        "rb01_reverse_syntax",
        "rb02_select_nas_identifier",
        "rb03_selection_modes",
        "rb06_debug_connection",
        "rda08_select_example",
        "rda09_select_database",
        "rda11_round_robin",
    ] {
        let text = seed(name);
        let f = parse(name, &text);
        let sel = find_select(&f.items).unwrap();
        let names = compile(&seeds(&["rda10_sqlite_backend"])).names;
        let mut diags = Vec::new();
        lower_pipeline(
            &mut LowerCx {
                dictionary: Dictionary::builtin(),
                names: &names,
                diagnostics: &mut diags,
            },
            Stage::Select,
            sel.block().unwrap(),
        );
        assert!(
            diags.is_empty(),
            "{name}: {}",
            render_all(&diags, &f.sources)
        );
    }
    // The peer-IP literal of the article is an IP, not a string.
    let (_, sel) = lowered_select(&seed("rda08_select_example"));
    let text = format!("{sel:?}");
    assert!(text.contains(&format!("{:?}", IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)))));
}
