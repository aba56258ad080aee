//! Every pipeline of the seeds (`reverse-dynamic-authorization.txt`,
//! `reverse-block.txt`), built by hand as IR and driven with scripted effect answers
//! through a scripted engine (`eval_support::Engine`), checking the outcomes the
//! seeds describe. Also: `@select` iteration equals its naive definition.

mod eval_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use boomerang_core::contract::SqlRows;
use boomerang_core::eval::context::{
    AttrBag, CertInfo, ConnectionInfo, Context, RadiusRequest, ServerInfo,
};
use boomerang_core::eval::error::{ErrorCode, ErrorValue};
use boomerang_core::eval::ir::{
    AaaField, Action, AssignOp, Cond, Condition, ConnField, DebugTarget, Expr, HttpField, Index,
    Library, MapPattern, PacketRef, Pipeline, Place, Template, VarRef, error_code_value,
};
use boomerang_core::eval::machine::{EffectResult, Outcome};
use boomerang_core::eval::ops::CompareOp;
use boomerang_core::eval::policy::{
    Handler, HandlerChoice, Policy, choose_handler, http_answer, radius_reply,
};
use boomerang_core::eval::query::{Bindings, Mapping, RadiusQuery, SqlAssign, SqlQuery};
use boomerang_core::eval::select::{SelectMode, Selected, Selection, SelectionStep, select_with};
use boomerang_core::eval::value::{RegexValue, Value};
use eval_support::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// IR building blocks

fn regex(src: &str, ci: bool) -> Expr {
    let pattern = if ci {
        format!("(?i){src}")
    } else {
        src.to_owned()
    };
    Expr::Literal(Value::Regex(RegexValue {
        source: src.to_owned(),
        case_insensitive: ci,
        regex: Arc::new(regex::Regex::new(&pattern).unwrap()),
    }))
}

/// `@select { if all { connection.server_name == "RADSEC_SERVER";
///   connection.status.nas_identifier == radius.request.attr.NAS-Identifier; } then { accept; } else { reject; } }`
fn proxy_select() -> Arc<Pipeline> {
    accept_if(Condition::all(vec![
        Cond::eq(cf(ConnField::ServerName), Expr::str("RADSEC_SERVER")),
        Cond::eq(
            cf(ConnField::StatusNasIdentifier),
            var(VarRef::request_attr(NAS_IDENTIFIER)),
        ),
    ]))
}

/// The same for the HTTP trigger: `… == http.query.nas_identifier`.
fn http_select() -> Arc<Pipeline> {
    accept_if(Condition::all(vec![
        Cond::eq(cf(ConnField::ServerName), Expr::str("RADSEC_SERVER")),
        Cond::eq(
            cf(ConnField::StatusNasIdentifier),
            var(VarRef::Http(HttpField::Query("nas_identifier".into()))),
        ),
    ]))
}

/// `query "DISCONNECT_USER" { bindings { radius.request.code = radius.DISCONNECT_REQUEST;
///   radius.request.attr.User-Name = "%{http.query.username}"; } }`
fn http_disconnect_query() -> RadiusQuery {
    RadiusQuery {
        name: "DISCONNECT_USER".into(),
        bindings: Bindings {
            assignments: vec![
                assign(req_code(), code("DISCONNECT_REQUEST")),
                assign(
                    req_attr(USER_NAME),
                    Expr::Template(tpl(vec![part(var(VarRef::Http(HttpField::Query(
                        "username".into(),
                    ))))])),
                ),
            ],
        },
        mapping: Mapping::default(),
    }
}

/// The basic example's `DISCONNECT_USER`: code + `User-Name = "mikem"`.
fn basic_disconnect_query() -> RadiusQuery {
    RadiusQuery {
        name: "DISCONNECT_USER".into(),
        bindings: Bindings {
            assignments: vec![
                assign(req_code(), code("DISCONNECT_REQUEST")),
                assign(req_attr(USER_NAME), Expr::str("mikem")),
            ],
        },
        mapping: Mapping::default(),
    }
}

/// CURRENT_CONNECTION's `DISCONNECT_USER`: code + `Acct-Session-Id` copied.
fn current_connection_query() -> RadiusQuery {
    RadiusQuery {
        name: "DISCONNECT_USER".into(),
        bindings: Bindings {
            assignments: vec![
                assign(req_code(), code("DISCONNECT_REQUEST")),
                assign(
                    req_attr(ACCT_SESSION_ID),
                    var(VarRef::request_attr(ACCT_SESSION_ID)),
                ),
            ],
        },
        mapping: Mapping::default(),
    }
}

/// A NAS that ACKs Disconnect-Requests carrying `needed` and NAKs the rest (with
/// Error-Cause 503), echoing nothing else.
fn nas_acking(needed: boomerang_core::radius::id::AttrId) -> NasFn {
    Box::new(move |_conn, code, attrs| {
        let mut reply = AttrBag::new();
        if code == 40 && attrs.count(needed) > 0 {
            reply.push(REPLY_MESSAGE, b"done".to_vec());
            (41, reply)
        } else {
            reply.push(ERROR_CAUSE, 503u32.to_be_bytes().to_vec());
            (if code == 43 { 45 } else { 42 }, reply)
        }
    })
}

// Backend indices of the program below.
const B_PROXY: u32 = 0;
const B_HTTP: u32 = 1;
const B_SESSION_DB: u32 = 2;
const B_CURRENT: u32 = 3;
const B_SQL_SELECT: u32 = 4;
const B_BASIC: u32 = 5;
const B_SQL: u32 = 6;

/// `sqlite "SQL_BACKEND" { query "FIND_NAS_IDENTIFIER" { query "SELECT username,
/// nas_identifier FROM users WHERE username = ?"; bindings { radius.request.attr.User-Name; }
/// mapping { vars.nas_identifier = nas_identifier; } } }` plus the session database's
/// `QUOTA_CHECK`.
fn sql_queries() -> Vec<SqlQuery> {
    vec![
        SqlQuery {
            name: "FIND_NAS_IDENTIFIER".into(),
            statement: "SELECT username, nas_identifier FROM users WHERE username = ?".into(),
            params: vec![var(VarRef::request_attr(USER_NAME))],
            mapping: vec![SqlAssign {
                place: Place::Vars("nas_identifier".into()),
                op: AssignOp::Set,
                column: "nas_identifier".into(),
            }],
        },
        SqlQuery {
            name: "QUOTA_CHECK".into(),
            statement: "SELECT (? + ?) > quota AS quota_exceeded FROM users WHERE username = ?"
                .into(),
            params: vec![
                var(VarRef::request_attr(ACCT_INPUT_OCTETS)),
                var(VarRef::request_attr(ACCT_OUTPUT_OCTETS)),
                var(VarRef::request_attr(USER_NAME)),
            ],
            mapping: vec![SqlAssign {
                place: Place::Vars("quota_exceeded".into()),
                op: AssignOp::Set,
                column: "quota_exceeded".into(),
            }],
        },
    ]
}

/// The scripted database: users → NAS, quota 1000 octets.
fn sql_rows() -> SqlFn {
    Box::new(|statement, params| {
        if statement.contains("nas_identifier") {
            let nas = match params.first() {
                Some(Value::String(u)) if u == "mikem" => "nas-b",
                Some(Value::String(u)) if u == "alice" => "nas-a",
                _ => {
                    return Ok(SqlRows {
                        columns: vec!["username".into(), "nas_identifier".into()],
                        rows: vec![],
                    });
                }
            };
            Ok(SqlRows {
                columns: vec!["username".into(), "nas_identifier".into()],
                rows: vec![vec![params[0].clone(), Value::String(nas.into())]],
            })
        } else {
            let n = |v: &Value| match v {
                Value::Integer(i) => *i,
                _ => 0,
            };
            let exceeded = n(&params[0]) + n(&params[1]) > 1000;
            Ok(SqlRows {
                columns: vec!["quota_exceeded".into()],
                rows: vec![vec![Value::Integer(exceeded.into())]],
            })
        }
    })
}

/// `@select { backend { name "SQL_BACKEND"; query "FIND_NAS_IDENTIFIER"; }
///   if all { connection.status.nas_identifier == vars.nas_identifier; } then { accept; } else { reject; } }`
fn sql_select() -> Arc<Pipeline> {
    Pipeline::new(vec![
        Action::Backend(call(B_SQL, Some(0), "SQL_BACKEND")),
        Action::if_then(
            Condition::all(vec![Cond::eq(
                cf(ConnField::StatusNasIdentifier),
                var(VarRef::Vars("nas_identifier".into())),
            )]),
            vec![Action::accept()],
            Some(vec![Action::reject()]),
        ),
    ])
}

fn backends() -> Vec<Backend> {
    vec![
        Backend::Reverse {
            mode: SelectMode::First,
            select: proxy_select(),
            queries: vec![proxy_query()],
            nas: nas_acking(USER_NAME),
        },
        Backend::Reverse {
            mode: SelectMode::First,
            select: http_select(),
            queries: vec![http_disconnect_query()],
            nas: nas_acking(USER_NAME),
        },
        Backend::Sql {
            queries: sql_queries(),
            rows: sql_rows(),
        },
        Backend::Reverse {
            mode: SelectMode::First,
            select: accept_if(Condition::all(vec![Cond::eq(
                cf(ConnField::Id),
                var(VarRef::CurrentConnection(ConnField::Id)),
            )])),
            queries: vec![current_connection_query()],
            nas: nas_acking(ACCT_SESSION_ID),
        },
        Backend::Reverse {
            mode: SelectMode::First,
            select: sql_select(),
            queries: vec![basic_disconnect_query()],
            nas: nas_acking(USER_NAME),
        },
        Backend::Reverse {
            mode: SelectMode::First,
            select: Pipeline::new(vec![Action::accept()]),
            queries: vec![basic_disconnect_query()],
            nas: nas_acking(USER_NAME),
        },
        Backend::Sql {
            queries: sql_queries(),
            rows: sql_rows(),
        },
    ]
}

fn server_is(name: &str) -> Condition {
    Condition::all(vec![Cond::eq(var(VarRef::RadiusServer), Expr::str(name))])
}

fn handler(name: &str, conditions: Option<Condition>, execute: Arc<Pipeline>) -> Handler {
    Handler {
        name: name.into(),
        conditions,
        execute: Some(execute),
        final_execute: None,
    }
}

/// The seeds' `aaa` section.
fn policies() -> Vec<Policy> {
    vec![
        // PROXY_POLICY / PROXY
        Policy {
            name: "PROXY_POLICY".into(),
            conditions: Some(server_is("RADIUS_UDP")),
            handlers: vec![handler(
                "PROXY",
                None,
                Pipeline::new(vec![Action::Backend(call(
                    B_PROXY,
                    Some(0),
                    "REVERSE_DYNAUTH_BACKEND",
                ))]),
            )],
        },
        // HTTP_POLICY / DISCONNECT
        Policy {
            name: "HTTP_POLICY".into(),
            conditions: Some(Condition::all(vec![Cond::eq(
                var(VarRef::Http(HttpField::Server)),
                Expr::str("HTTP_API"),
            )])),
            handlers: vec![handler(
                "DISCONNECT",
                Some(Condition::all(vec![
                    Cond::eq(var(VarRef::Http(HttpField::Method)), Expr::str("POST")),
                    Cond::eq(var(VarRef::Http(HttpField::Path)), Expr::str("/disconnect")),
                ])),
                Pipeline::new(vec![Action::Backend(call(
                    B_HTTP,
                    Some(0),
                    "REVERSE_DYNAUTH_BACKEND",
                ))]),
            )],
        },
        // DYNAUTH_POLICY / HANDLE_DYNAUTH
        Policy {
            name: "DYNAUTH_POLICY".into(),
            conditions: Some(server_is("REVERSE_DYNAUTH_SERVER")),
            handlers: vec![handler(
                "HANDLE_DYNAUTH",
                None,
                Pipeline::new(vec![
                    Action::if_then(
                        Condition::all(vec![Cond::eq(
                            var(VarRef::RadiusCode(PacketRef::Request)),
                            code("DISCONNECT_REQUEST"),
                        )]),
                        vec![Action::Debug(DebugTarget::Template(tpl(vec![
                            text("Received Disconnect-Request for user "),
                            part(var(VarRef::request_attr(USER_NAME))),
                        ])))],
                        None,
                    ),
                    Action::accept(),
                ]),
            )],
        },
        // ACCOUNTING / QUOTA_CHECK
        Policy {
            name: "ACCOUNTING".into(),
            conditions: Some(Condition::all(vec![Cond::eq(
                var(VarRef::RadiusCode(PacketRef::Request)),
                code("ACCOUNTING_REQUEST"),
            )])),
            handlers: vec![handler(
                "QUOTA_CHECK",
                Some(Condition::all(vec![Cond::eq(
                    var(VarRef::request_attr(ACCT_STATUS_TYPE)),
                    // radius.dict.Acct-Status-Type.Alive, resolved at compile time.
                    Expr::int(3),
                )])),
                Pipeline::new(vec![
                    Action::accept(),
                    Action::Reply,
                    Action::Backend(call(B_SESSION_DB, Some(1), "SESSION_DATABASE")),
                    Action::if_then(
                        Condition::all(vec![Cond::eq(
                            var(VarRef::Vars("quota_exceeded".into())),
                            Expr::Literal(Value::Bool(true)),
                        )]),
                        vec![Action::Backend(call(
                            B_CURRENT,
                            Some(0),
                            "CURRENT_CONNECTION",
                        ))],
                        None,
                    ),
                ]),
            )],
        },
    ]
}

/// The engine's handling of one request: choose policy/handler, run `@execute`.
fn handle(engine: &mut Engine, ctx: &mut Context) -> Option<(HandlerChoice, Outcome)> {
    let policies = policies();
    let choice = choose_handler(&policies, None, &*ctx)?;
    let exec = policies[choice.policy].handlers[choice.handler]
        .execute
        .clone()
        .unwrap();
    Some((choice, engine.run(exec, ctx)))
}

fn nas_connections() -> Vec<Arc<ConnectionInfo>> {
    vec![
        conn(1, "RADSEC_SERVER", Some("nas-a"), [10, 9, 0, 1]),
        conn(2, "OTHER_SERVER", Some("nas-b"), [10, 9, 0, 2]),
        conn(3, "RADSEC_SERVER", Some("nas-b"), [10, 9, 0, 3]),
        conn(4, "RADSEC_SERVER", Some("nas-b"), [10, 9, 0, 4]),
    ]
}

fn udp_ctx(
    code: u8,
    attrs: &[(boomerang_core::radius::id::AttrId, &str)],
    server: &str,
) -> Context {
    let mut c = radius_ctx(code, attrs);
    c.server = Some(ServerInfo {
        name: server.into(),
        tls: false,
    });
    c
}

// ---------------------------------------------------------------------------
// Example: UDP RADIUS triggering (PROXY_POLICY + PROXY_QUERY)

#[test]
fn udp_trigger_proxies_to_the_matching_nas_and_relays_its_reply() {
    let mut engine = Engine::new(backends(), nas_connections());
    let mut c = udp_ctx(
        40,
        &[
            (USER_NAME, "mikem"),
            (NAS_IDENTIFIER, "nas-b"),
            (ACCT_SESSION_ID, "s1"),
        ],
        "RADIUS_UDP",
    );
    let (choice, outcome) = handle(&mut engine, &mut c).unwrap();
    assert_eq!(
        choice,
        HandlerChoice {
            policy: 0,
            handler: 0
        }
    );
    assert_eq!(outcome, Outcome::Accept);
    // Connection 2 has the NAS-Identifier but is on another server; 3 is the first match.
    assert_eq!(
        engine.trace,
        ["reverse REVERSE_DYNAUTH_BACKEND -> conn 3 code 40 attrs 3"]
    );
    let (code, attrs) = radius_reply(&c, &outcome).unwrap();
    assert_eq!(code, 41, "the NAS's Disconnect-ACK is relayed");
    assert_eq!(attrs.len(), 1);
    assert_eq!(&attrs[0].value[..], b"done");
}

#[test]
fn udp_trigger_relays_a_nak() {
    let mut engine = Engine::new(backends(), nas_connections());
    // No User-Name: our NAS NAKs with Error-Cause.
    let mut c = udp_ctx(40, &[(NAS_IDENTIFIER, "nas-b")], "RADIUS_UDP");
    let (_, outcome) = handle(&mut engine, &mut c).unwrap();
    assert_eq!(outcome, Outcome::Reject);
    let (code, attrs) = radius_reply(&c, &outcome).unwrap();
    assert_eq!(code, 42);
    assert_eq!(attrs[0].id, ERROR_CAUSE);
}

#[test]
fn udp_trigger_without_a_matching_connection_gets_no_reply() {
    let mut engine = Engine::new(backends(), nas_connections());
    let mut c = udp_ctx(
        40,
        &[(USER_NAME, "mikem"), (NAS_IDENTIFIER, "nas-z")],
        "RADIUS_UDP",
    );
    let (_, outcome) = handle(&mut engine, &mut c).unwrap();
    match &outcome {
        Outcome::Error(e) => assert_eq!(e.code, ErrorCode::NoReverseConnections),
        other => panic!("{other:?}"),
    }
    assert!(engine.trace.is_empty(), "nothing was sent to any NAS");
    assert_eq!(radius_reply(&c, &outcome), None, "the UDP client times out");
}

// ---------------------------------------------------------------------------
// Example: HTTP API triggering

fn http_request(method: &str, query: &[(&str, &str)]) -> Context {
    http_request_with(schema(), method, query)
}

#[test]
fn http_trigger_disconnects_and_answers_200() {
    let mut conns = nas_connections();
    conns.push(conn(
        5,
        "RADSEC_SERVER",
        Some("radiator-nas-simulator"),
        [10, 9, 0, 5],
    ));
    let mut engine = Engine::new(backends(), conns);
    let mut c = http_request(
        "POST",
        &[
            ("nas_identifier", "radiator-nas-simulator"),
            ("username", "mikem"),
        ],
    );
    let (choice, outcome) = handle(&mut engine, &mut c).unwrap();
    assert_eq!(
        choice,
        HandlerChoice {
            policy: 1,
            handler: 0
        }
    );
    assert_eq!(outcome, Outcome::Accept);
    assert_eq!(
        engine.trace,
        ["reverse REVERSE_DYNAUTH_BACKEND -> conn 5 code 40 attrs 1"]
    );
    assert_eq!(http_answer(&c, &outcome).status, 200);
}

#[test]
fn http_trigger_without_connection_answers_500_naming_the_error() {
    let mut engine = Engine::new(backends(), nas_connections());
    let mut c = http_request(
        "POST",
        &[
            ("nas_identifier", "radiator-nas-simulator"),
            ("username", "mikem"),
        ],
    );
    let (_, outcome) = handle(&mut engine, &mut c).unwrap();
    let answer = http_answer(&c, &outcome);
    assert_eq!(answer.status, 500);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["error"], "NO_REVERSE_CONNECTIONS");
    // A GET matches no handler of HTTP_POLICY.
    let c = http_request("GET", &[]);
    assert_eq!(choose_handler(&policies(), None, &c), None);
}

// ---------------------------------------------------------------------------
// Example: NAS device simulation (DYNAUTH_POLICY)

#[test]
fn dynauth_policy_logs_and_acks_disconnects() {
    let mut engine = Engine::new(backends(), vec![]);
    let mut c = udp_ctx(40, &[(USER_NAME, "mikem")], "REVERSE_DYNAUTH_SERVER");
    let (choice, outcome) = handle(&mut engine, &mut c).unwrap();
    assert_eq!(choice.policy, 2);
    assert_eq!(outcome, Outcome::Accept);
    let texts: Vec<_> = engine.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["Received Disconnect-Request for user mikem"]);
    assert_eq!(radius_reply(&c, &outcome).unwrap().0, 41);
    // A CoA-Request is accepted without the debug line.
    let mut engine = Engine::new(backends(), vec![]);
    let mut c = udp_ctx(43, &[(USER_NAME, "mikem")], "REVERSE_DYNAUTH_SERVER");
    let (_, outcome) = handle(&mut engine, &mut c).unwrap();
    assert!(engine.logs.is_empty());
    assert_eq!(radius_reply(&c, &outcome).unwrap().0, 44);
}

// ---------------------------------------------------------------------------
// Connection selection examples

/// Run a selection that parks on no effect.
fn select(
    p: Arc<Pipeline>,
    mode: SelectMode,
    cands: Vec<Arc<ConnectionInfo>>,
    ctx: &Context,
    counter: u64,
) -> Result<Selected, ErrorValue> {
    let mut s = Selection::new(mode, p, Arc::new(Library::default()), cands, counter, "B");
    match s.start(ctx) {
        SelectionStep::Done(r) => r,
        SelectionStep::Effect(e) => panic!("unexpected effect {e:?}"),
    }
}

fn chosen(r: Result<Selected, ErrorValue>) -> u64 {
    r.unwrap().chosen.id
}

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
fn seed_select_on_every_connection_field() {
    // The article's example, every condition at once.
    let all = accept_if(Condition::all(vec![
        Cond::eq(cf(ConnField::ServerName), Expr::str("RADSEC_SERVER")),
        Cond::eq(
            cf(ConnField::StatusNasIdentifier),
            Expr::str("radiator-nas-simulator"),
        ),
        Cond::eq(cf(ConnField::StatusNasIdentifier), regex("simulator", true)),
        Cond::eq(
            cf(ConnField::PeerIp),
            Expr::Literal(Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)))),
        ),
        Cond::eq(cf(ConnField::CertSubjectCn), Expr::str("testUser")),
        Cond::eq(
            cf(ConnField::CertSanEmail(Index::Nth(0))),
            Expr::str("testUser@demo.open.com.au"),
        ),
        Cond::eq(
            cf(ConnField::CertSanEmail(Index::Nth(1))),
            Expr::str("otherUser@demo.open.com.au"),
        ),
        Cond::eq(
            cf(ConnField::CertSanDns(Index::Auto)),
            Expr::str("testUser.demo.open.com.au"),
        ),
        Cond::eq(
            cf(ConnField::CertSanUri(Index::Auto)),
            Expr::str("https://testUser.demo.open.com.au"),
        ),
    ]));
    let good = with_cert(
        &conn(
            9,
            "RADSEC_SERVER",
            Some("radiator-nas-simulator"),
            [10, 9, 0, 1],
        ),
        full_cert(),
    );
    let mut swapped = full_cert();
    swapped.san_email.reverse();
    let mut other_cn = full_cert();
    other_cn.subject_cn = Some("someoneElse".into());
    let decoys = vec![
        conn(
            1,
            "RADSEC_SERVER",
            Some("radiator-nas-simulator"),
            [10, 9, 0, 1],
        ), // no certificate
        with_cert(
            &conn(
                2,
                "RADSEC_SERVER",
                Some("radiator-nas-simulator"),
                [10, 9, 0, 2],
            ),
            full_cert(),
        ), // peer IP
        with_cert(
            &conn(
                3,
                "RADSEC_SERVER",
                Some("radiator-nas-simulator"),
                [10, 9, 0, 1],
            ),
            swapped,
        ), // email order
        with_cert(
            &conn(
                4,
                "RADSEC_SERVER",
                Some("radiator-nas-simulator"),
                [10, 9, 0, 1],
            ),
            other_cn,
        ),
        with_cert(
            &conn(5, "OTHER", Some("radiator-nas-simulator"), [10, 9, 0, 1]),
            full_cert(),
        ),
        with_cert(
            &conn(
                6,
                "RADSEC_SERVER",
                Some("RADIATOR-NAS-SIMULATOR"),
                [10, 9, 0, 1],
            ),
            full_cert(),
        ), // exact == fails
    ];
    let ctx = radius_ctx(40, &[]);
    let mut cands = decoys.clone();
    cands.push(good.clone());
    assert_eq!(
        chosen(select(all.clone(), SelectMode::First, cands, &ctx, 0)),
        9
    );
    let err = select(all, SelectMode::First, decoys, &ctx, 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::NoReverseConnections);

    // Each condition alone.
    let one = |cond: Cond| accept_if(Condition::all(vec![cond]));
    let cands = vec![
        conn(1, "X", Some("Other"), [10, 9, 0, 7]),
        conn(2, "X", Some("My-SIMULATOR-2"), [10, 9, 0, 1]),
    ];
    let regex_sel = one(Cond::eq(
        cf(ConnField::StatusNasIdentifier),
        regex("simulator", true),
    ));
    assert_eq!(
        chosen(select(regex_sel, SelectMode::First, cands.clone(), &ctx, 0)),
        2
    );
    let case_sensitive = one(Cond::eq(
        cf(ConnField::StatusNasIdentifier),
        regex("simulator", false),
    ));
    assert!(select(case_sensitive, SelectMode::First, cands.clone(), &ctx, 0).is_err());
    let ip_sel = one(Cond::eq(
        cf(ConnField::PeerIp),
        Expr::Literal(Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)))),
    ));
    assert_eq!(
        chosen(select(ip_sel, SelectMode::First, cands.clone(), &ctx, 0)),
        2
    );
    let literal = one(Cond::eq(
        cf(ConnField::StatusNasIdentifier),
        Expr::str("NAS123"),
    ));
    assert!(select(literal, SelectMode::First, cands, &ctx, 0).is_err());
}

#[test]
fn seed_select_by_request_nas_identifier_and_server_name() {
    let ctx = udp_ctx(40, &[(NAS_IDENTIFIER, "nas-b")], "RADIUS_UDP");
    assert_eq!(
        chosen(select(
            proxy_select(),
            SelectMode::First,
            nas_connections(),
            &ctx,
            0
        )),
        3
    );
    // A connection without NAS-Identifier (no Status-Server yet) does not match a
    // request that names one, nor one that names none (a missing value never
    // selects — see docs/evaluation.md).
    let cands = vec![conn(1, "RADSEC_SERVER", None, [10, 9, 0, 1])];
    assert!(select(proxy_select(), SelectMode::First, cands.clone(), &ctx, 0).is_err());
    let nameless = udp_ctx(40, &[], "RADIUS_UDP");
    assert!(select(proxy_select(), SelectMode::First, cands, &nameless, 0).is_err());
}

/// A missing value decides nothing in `@select`, not even through a negation: the
/// test `connection.status.nas_identifier != radius.request.attr.NAS-Identifier`
/// is unknown when either side is missing, so neither `if none { … } then accept`
/// nor `if all { … } then reject else accept` selects a connection on it. A
/// condition that its known tests decide still decides.
#[test]
fn a_missing_value_selects_no_connection_through_a_negation() {
    let differs = || {
        Cond::ne(
            cf(ConnField::StatusNasIdentifier),
            req_attr_var(NAS_IDENTIFIER),
        )
    };
    let none_differs = accept_if(Condition::none(vec![differs()]));
    let reject_if_differs = Pipeline::new(vec![Action::if_then(
        Condition::all(vec![differs()]),
        vec![Action::reject()],
        Some(vec![Action::accept()]),
    )]);
    let named = udp_ctx(40, &[(NAS_IDENTIFIER, "nas-b")], "RADIUS_UDP");
    let nameless = udp_ctx(40, &[], "RADIUS_UDP");
    for pipeline in [none_differs, reject_if_differs] {
        // Known values: the inverted test still picks the NAS it names.
        let r = select(
            pipeline.clone(),
            SelectMode::First,
            nas_connections(),
            &named,
            0,
        );
        assert_eq!(chosen(r), 2);
        // The request names no NAS: no connection, whatever the operator.
        let r = select(
            pipeline.clone(),
            SelectMode::First,
            nas_connections(),
            &nameless,
            0,
        );
        assert_eq!(r.unwrap_err().code, ErrorCode::NoReverseConnections);
        // A connection that never said who it is is not "different" from nas-b.
        let anonymous = vec![conn(1, "RADSEC_SERVER", None, [10, 9, 0, 1])];
        let r = select(pipeline.clone(), SelectMode::First, anonymous, &named, 0);
        assert_eq!(r.unwrap_err().code, ErrorCode::NoReverseConnections);
    }
    // A known false test decides `all` whatever the unknown one says, and a known
    // true test decides `any`: the tests are combined in Kleene's three-valued logic.
    let known_false = Pipeline::new(vec![Action::if_then(
        Condition::all(vec![
            differs(),
            Cond::eq(cf(ConnField::ServerName), Expr::str("NO_SUCH_SERVER")),
        ]),
        vec![Action::reject()],
        Some(vec![Action::accept()]),
    )]);
    let r = select(
        known_false,
        SelectMode::First,
        nas_connections(),
        &nameless,
        0,
    );
    assert_eq!(chosen(r), 1);
    let known_true = accept_if(Condition::any(vec![
        Cond::eq(
            cf(ConnField::StatusNasIdentifier),
            req_attr_var(NAS_IDENTIFIER),
        ),
        Cond::eq(cf(ConnField::ServerName), Expr::str("OTHER_SERVER")),
    ]));
    let r = select(
        known_true,
        SelectMode::First,
        nas_connections(),
        &nameless,
        0,
    );
    assert_eq!(chosen(r), 2);
}

/// A template with a hole is missing, not the text around the hole: `starts
/// "%{…}"` over a missing value would otherwise test `starts ""`, which every
/// connection passes, and `== "%{…}-b"` would match a NAS named `-b`.
#[test]
fn a_template_over_a_missing_value_selects_no_connection() {
    let site = || Expr::Template(tpl(vec![part(req_attr_var(NAS_IDENTIFIER))]));
    let starts = accept_if(Condition::all(vec![Cond {
        left: cf(ConnField::StatusNasIdentifier),
        op: CompareOp::Starts,
        right: site(),
    }]));
    let suffixed = accept_if(Condition::all(vec![Cond::eq(
        cf(ConnField::StatusNasIdentifier),
        Expr::Template(tpl(vec![part(req_attr_var(NAS_IDENTIFIER)), text("-b")])),
    )]));
    let nameless = udp_ctx(40, &[], "RADIUS_UDP");
    let mut cands = nas_connections();
    cands.push(conn(5, "RADSEC_SERVER", Some("-b"), [10, 9, 0, 5]));
    for pipeline in [starts.clone(), suffixed] {
        let r = select(pipeline, SelectMode::First, cands.clone(), &nameless, 0);
        assert_eq!(r.unwrap_err().code, ErrorCode::NoReverseConnections);
    }
    // With the value, the template is what it says.
    let named = udp_ctx(40, &[(NAS_IDENTIFIER, "nas-")], "RADIUS_UDP");
    assert_eq!(
        chosen(select(starts, SelectMode::First, cands, &named, 0)),
        1
    );
}

#[test]
fn seed_basic_accept_all_takes_the_oldest_active_connection() {
    let mut cands = nas_connections();
    let mut closed = (*cands[0]).clone();
    closed.disconnected = Some(t0());
    cands[0] = Arc::new(closed);
    let ctx = radius_ctx(40, &[]);
    assert_eq!(
        chosen(select(
            Pipeline::new(vec![Action::accept()]),
            SelectMode::First,
            cands,
            &ctx,
            0
        )),
        2
    );
}

#[test]
fn seed_round_robin_rotates_over_accepting_connections() {
    let sel = accept_if(Condition::all(vec![Cond::eq(
        cf(ConnField::StatusNasIdentifier),
        Expr::str("radiator-nas-simulator"),
    )]));
    let cands = vec![
        conn(1, "S", Some("radiator-nas-simulator"), [10, 0, 0, 1]),
        conn(2, "S", Some("other"), [10, 0, 0, 2]),
        conn(3, "S", Some("radiator-nas-simulator"), [10, 0, 0, 3]),
        conn(4, "S", Some("radiator-nas-simulator"), [10, 0, 0, 4]),
    ];
    let ctx = radius_ctx(40, &[]);
    let picks: Vec<u64> = (0..5)
        .map(|counter| {
            chosen(select(
                sel.clone(),
                SelectMode::RoundRobin,
                cands.clone(),
                &ctx,
                counter,
            ))
        })
        .collect();
    assert_eq!(picks, [1, 3, 4, 1, 3]);
    let r = select(sel.clone(), SelectMode::RoundRobin, cands.clone(), &ctx, 0).unwrap();
    assert_eq!(r.accepted, [1, 3, 4]);
    // `first` on the same candidates always takes the first.
    assert_eq!(chosen(select(sel, SelectMode::First, cands, &ctx, 7)), 1);

    // Through the engine, the per-backend counter advances per request.
    let mut bs = backends();
    bs[B_BASIC as usize] = Backend::Reverse {
        mode: SelectMode::RoundRobin,
        select: accept_if(Condition::all(vec![Cond::eq(
            cf(ConnField::StatusNasIdentifier),
            Expr::str("nas-b"),
        )])),
        queries: vec![basic_disconnect_query()],
        nas: nas_acking(USER_NAME),
    };
    let mut engine = Engine::new(bs, nas_connections());
    let p = Pipeline::new(vec![Action::Backend(call(B_BASIC, Some(0), "RR"))]);
    for _ in 0..4 {
        assert_eq!(
            engine.run(p.clone(), &mut radius_ctx(4, &[])),
            Outcome::Accept
        );
    }
    let conns: Vec<_> = engine
        .trace
        .iter()
        .map(|t| t.split(' ').nth(4).unwrap().to_owned())
        .collect();
    assert_eq!(conns, ["2", "3", "4", "2"]);
}

#[test]
fn seed_select_debug_logs_every_candidate() {
    let cf_part = |f| part(cf(f));
    let debug = Template {
        parts: vec![
            text("\n=== Evaluating connection "),
            cf_part(ConnField::Id),
            text(" ===\nServer name: "),
            cf_part(ConnField::ServerName),
            text("\nNAS-Identifier: "),
            cf_part(ConnField::StatusNasIdentifier),
            text("\nPeer IP: "),
            cf_part(ConnField::PeerIp),
            text("\nCertificate CN: "),
            cf_part(ConnField::CertSubjectCn),
            text("\nCertificate SAN email: "),
            cf_part(ConnField::CertSanEmail(Index::Nth(0))),
            text("\n"),
        ],
    };
    let sel = Pipeline::new(vec![
        Action::Debug(DebugTarget::Template(debug)),
        Action::reject(),
    ]);
    let cands = vec![
        with_cert(
            &conn(1, "RADSEC_SERVER", Some("nas-a"), [10, 9, 0, 1]),
            full_cert(),
        ),
        conn(2, "RADSEC_SERVER", None, [10, 9, 0, 2]),
    ];
    let ctx = radius_ctx(40, &[]);
    let mut s = Selection::new(
        SelectMode::First,
        sel,
        Arc::new(Library::default()),
        cands,
        0,
        "REVERSE_DYNAUTH",
    );
    let SelectionStep::Done(r) = s.start(&ctx) else {
        panic!()
    };
    assert_eq!(r.unwrap_err().code, ErrorCode::NoReverseConnections);
    let logs = s.take_logs();
    assert_eq!(logs.len(), 2);
    assert_eq!(
        logs[0].text,
        "\n=== Evaluating connection 1 ===\nServer name: RADSEC_SERVER\nNAS-Identifier: nas-a\nPeer IP: 10.9.0.1\nCertificate CN: testUser\nCertificate SAN email: testUser@demo.open.com.au\n"
    );
    assert!(logs[1].text.contains("=== Evaluating connection 2 ===\n"));
    assert!(
        logs[1].text.contains("Certificate CN: \n"),
        "missing values render empty"
    );
}

#[test]
fn seed_select_using_a_database() {
    let mut engine = Engine::new(backends(), nas_connections());
    let p = Pipeline::new(vec![Action::Backend(call(
        B_SQL_SELECT,
        Some(0),
        "REVERSE_SQL",
    ))]);
    let mut c = udp_ctx(40, &[(USER_NAME, "mikem")], "RADIUS_UDP");
    assert_eq!(engine.run(p.clone(), &mut c), Outcome::Accept);
    // One SQL lookup per candidate visited (1 rejects, 2 accepts), then the request.
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
        "@select does not write the caller's context"
    );
    // An unknown user maps no NAS: nothing is selected.
    let mut c = udp_ctx(40, &[(USER_NAME, "nobody")], "RADIUS_UDP");
    match engine.run(p, &mut c) {
        Outcome::Error(e) => assert_eq!(e.code, ErrorCode::NoReverseConnections),
        other => panic!("{other:?}"),
    }
}

#[test]
fn select_cannot_write_the_callers_context() {
    let sel = Pipeline::new(vec![
        Action::set(Place::Vars("scratch".into()), Expr::int(1)),
        Action::set(
            Place::RadiusAttr {
                packet: PacketRef::Reply,
                attr: FILTER_ID,
            },
            Expr::str("x"),
        ),
        Action::accept(),
    ]);
    let ctx = radius_ctx(40, &[]);
    let err = select(sel, SelectMode::First, nas_connections(), &ctx, 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
    assert!(ctx.reply.attrs.is_empty());
}

// ---------------------------------------------------------------------------
// Matching the current connection + the ACCOUNTING / QUOTA_CHECK handler

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

#[test]
fn quota_exceeded_acks_then_disconnects_on_the_same_connection() {
    let conns = nas_connections();
    let mut engine = Engine::new(backends(), conns.clone());
    let mut c = accounting_ctx(800, 700, conns[2].clone());
    let (choice, outcome) = handle(&mut engine, &mut c).unwrap();
    assert_eq!(
        choice,
        HandlerChoice {
            policy: 3,
            handler: 0
        }
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
}

#[test]
fn quota_not_exceeded_only_acks() {
    let conns = nas_connections();
    let mut engine = Engine::new(backends(), conns.clone());
    let mut c = accounting_ctx(100, 100, conns[0].clone());
    let (_, outcome) = handle(&mut engine, &mut c).unwrap();
    assert_eq!(outcome, Outcome::Accept);
    assert_eq!(
        engine.trace,
        [
            "reply Some(5)",
            "sql QUOTA_CHECK [Integer(100), Integer(100), String(\"mikem\")]"
        ]
    );
}

#[test]
fn current_connection_gone_is_no_reverse_connections() {
    let conns = nas_connections();
    let mut engine = Engine::new(backends(), conns[..2].to_vec());
    let mut c = accounting_ctx(800, 700, conns[3].clone());
    let (_, outcome) = handle(&mut engine, &mut c).unwrap();
    assert!(matches!(outcome, Outcome::Error(e) if e.code == ErrorCode::NoReverseConnections));
    assert_eq!(
        engine.trace[0], "reply Some(5)",
        "the accounting reply had already gone"
    );
}

#[test]
fn accounting_start_matches_no_handler() {
    let mut c = accounting_ctx(1, 1, nas_connections()[0].clone());
    c.request.as_mut().unwrap().attrs.remove(ACCT_STATUS_TYPE);
    c.request
        .as_mut()
        .unwrap()
        .attrs
        .push(ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec());
    assert_eq!(choose_handler(&policies(), None, &c), None);
}

// ---------------------------------------------------------------------------
// Example: error handling

fn caught_code_is(code: ErrorCode) -> Condition {
    Condition::all(vec![Cond::eq(
        var(VarRef::Aaa(AaaField::CaughtErrorCode)),
        Expr::error_code(code),
    )])
}

/// `try backend { … } if all { aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS; }
///  then { reject "operation failed: no available connections for reverse request"; }
///  else if all { aaa.caught_error != none; } then { reject "operation failed: %{aaa.caught_error}"; }`
fn error_handling(backend: u32) -> Arc<Pipeline> {
    Pipeline::new(vec![
        Action::try_short(Action::Backend(call(backend, Some(0), "REVERSE_DYNAUTH"))),
        Action::If {
            branches: vec![
                (
                    caught_code_is(ErrorCode::NoReverseConnections),
                    Pipeline::new(vec![Action::reject_with(Template::text(
                        "operation failed: no available connections for reverse request",
                    ))]),
                ),
                (
                    Condition::all(vec![Cond::ne(
                        var(VarRef::Aaa(AaaField::CaughtError)),
                        Expr::Literal(Value::None),
                    )]),
                    Pipeline::new(vec![Action::reject_with(tpl(vec![
                        text("operation failed: "),
                        part(var(VarRef::Aaa(AaaField::CaughtError))),
                    ]))]),
                ),
            ],
            otherwise: None,
        },
    ])
}

#[test]
fn seed_error_handling_example() {
    // No connection at all.
    let mut engine = Engine::new(backends(), vec![]);
    let mut c = radius_ctx(40, &[]);
    assert_eq!(engine.run(error_handling(B_BASIC), &mut c), Outcome::Reject);
    assert_eq!(
        c.aaa.reason,
        Value::String("operation failed: no available connections for reverse request".into())
    );
    assert_eq!(
        c.aaa.caught_error_code,
        error_code_value(ErrorCode::NoReverseConnections)
    );

    // Another error (the NAS never answered).
    let mut bs = backends();
    bs[B_BASIC as usize] = Backend::Fixed(Err(ErrorValue::new(
        ErrorCode::ReverseTimeout,
        "no reply from NAS within 5s",
    )));
    let mut engine = Engine::new(bs, nas_connections());
    let mut c = radius_ctx(40, &[]);
    assert_eq!(engine.run(error_handling(B_BASIC), &mut c), Outcome::Reject);
    assert_eq!(
        c.aaa.reason,
        Value::String("operation failed: no reply from NAS within 5s".into())
    );

    // Success: the try's result stands.
    let mut engine = Engine::new(backends(), nas_connections());
    let mut c = radius_ctx(40, &[]);
    assert_eq!(engine.run(error_handling(B_BASIC), &mut c), Outcome::Accept);
    assert_eq!(c.aaa.reason, Value::None);
    assert_eq!(
        engine.trace,
        ["reverse REVERSE_DYNAUTH -> conn 1 code 40 attrs 1"]
    );
}

#[test]
fn language_reference_try_catch_example() {
    // try { backend … } catch { if all { aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS; }
    //   then { reject "NAS not connected"; } else { reject "CoA failed: %{aaa.caught_error}"; } }
    let p = Pipeline::new(vec![Action::Try {
        body: Pipeline::new(vec![Action::Backend(call(B_BASIC, Some(0), "NAS_REVERSE"))]),
        catch: Some(Pipeline::new(vec![Action::if_then(
            caught_code_is(ErrorCode::NoReverseConnections),
            vec![Action::reject_with(Template::text("NAS not connected"))],
            Some(vec![Action::reject_with(tpl(vec![
                text("CoA failed: "),
                part(var(VarRef::Aaa(AaaField::CaughtError))),
            ]))]),
        )])),
    }]);
    let mut engine = Engine::new(backends(), vec![]);
    let mut c = radius_ctx(40, &[]);
    assert_eq!(engine.run(p.clone(), &mut c), Outcome::Reject);
    assert_eq!(c.aaa.reason, Value::String("NAS not connected".into()));
    let mut bs = backends();
    bs[B_BASIC as usize] = Backend::Fixed(Err(ErrorValue::new(
        ErrorCode::ConnectionClosed,
        "connection 3 closed",
    )));
    let mut engine = Engine::new(bs, vec![]);
    let mut c = radius_ctx(40, &[]);
    assert_eq!(engine.run(p, &mut c), Outcome::Reject);
    assert_eq!(
        c.aaa.reason,
        Value::String("CoA failed: connection 3 closed".into())
    );
}

// ---------------------------------------------------------------------------
// Selection ≡ naive definition

#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Accept,
    Reject,
    Ignore,
    Nothing,
    Error,
    /// SQL lookup; accepts iff the connection id is odd.
    Lookup,
}

fn behaviour_name(b: Behaviour) -> &'static str {
    match b {
        Behaviour::Accept => "a",
        Behaviour::Reject => "r",
        Behaviour::Ignore => "i",
        Behaviour::Nothing => "n",
        Behaviour::Error => "e",
        Behaviour::Lookup => "l",
    }
}

/// `@select { map connection.client_name { "a" => { accept; } … } }`.
fn behaviour_select() -> Arc<Pipeline> {
    let arm = |name: &str, actions: Vec<Action>| {
        (
            MapPattern::Value(Value::String(name.into())),
            Pipeline::new(actions),
        )
    };
    Pipeline::new(vec![Action::Map {
        subject: cf(ConnField::ClientName),
        arms: vec![
            arm("a", vec![Action::accept()]),
            arm("r", vec![Action::reject()]),
            arm("i", vec![Action::ignore()]),
            arm("n", vec![]),
            arm(
                "e",
                vec![Action::Error(tpl(vec![
                    text("err "),
                    part(cf(ConnField::Id)),
                ]))],
            ),
            arm(
                "l",
                vec![
                    Action::Backend(call(0, Some(0), "SQL")),
                    Action::if_then(
                        Condition::all(vec![Cond::eq(
                            var(VarRef::Vars("odd".into())),
                            Expr::int(1),
                        )]),
                        vec![Action::accept()],
                        Some(vec![Action::reject()]),
                    ),
                ],
            ),
        ],
    }])
}

/// The `@select` definition written out: the pipeline runs over the connected
/// candidates, healthy ones first then doubtful ones (each in establishment
/// order); an error ends it; `first` takes the first accept; `round-robin` rotates
/// among the accepting healthy candidates, or the accepting doubtful ones when no
/// healthy one accepted.
fn naive(
    mode: SelectMode,
    cands: &[(u64, Behaviour, bool, bool)],
    counter: u64,
) -> Result<u64, ErrorValue> {
    let mut healthy_accepted = Vec::new();
    let mut doubtful_accepted = Vec::new();
    for pass_healthy in [true, false] {
        for &(id, b, disconnected, healthy) in cands {
            if disconnected || healthy != pass_healthy {
                continue;
            }
            let accepts = match b {
                Behaviour::Accept => true,
                Behaviour::Lookup => id % 2 == 1,
                Behaviour::Error => {
                    return Err(ErrorValue::new(ErrorCode::Error, format!("err {id}")));
                }
                _ => false,
            };
            if accepts {
                if mode == SelectMode::First {
                    return Ok(id);
                }
                if healthy {
                    healthy_accepted.push(id);
                } else {
                    doubtful_accepted.push(id);
                }
            }
        }
    }
    let accepted = if healthy_accepted.is_empty() {
        doubtful_accepted
    } else {
        healthy_accepted
    };
    if accepted.is_empty() {
        return Err(ErrorValue::new(ErrorCode::NoReverseConnections, "none"));
    }
    Ok(accepted[(counter % accepted.len() as u64) as usize])
}

fn arb_behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        Just(Behaviour::Accept),
        Just(Behaviour::Reject),
        Just(Behaviour::Ignore),
        Just(Behaviour::Nothing),
        Just(Behaviour::Error),
        Just(Behaviour::Lookup),
    ]
}

proptest! {
    #[test]
    fn selection_equals_naive_definition(
        spec in prop::collection::vec((arb_behaviour(), prop::bool::weighted(0.2), prop::bool::weighted(0.7)), 0..10),
        round_robin in any::<bool>(),
        counter in 0u64..20,
    ) {
        let mode = if round_robin { SelectMode::RoundRobin } else { SelectMode::First };
        let cands: Vec<(u64, Behaviour, bool, bool)> =
            spec.iter().enumerate().map(|(i, (b, d, h))| (i as u64 + 1, *b, *d, *h)).collect();
        let conns: Vec<Arc<ConnectionInfo>> = cands
            .iter()
            .map(|&(id, b, d, h)| {
                let mut c = (*conn(id, "S", None, [10, 0, 0, id as u8])).clone();
                c.client_name = behaviour_name(b).into();
                c.disconnected = d.then(t0);
                c.healthy = h;
                Arc::new(c)
            })
            .collect();
        let ctx = radius_ctx(40, &[]);
        let sql = SqlQuery {
            name: "ODD".into(),
            statement: "SELECT ? % 2 AS odd".into(),
            params: vec![cf(ConnField::Id)],
            mapping: vec![SqlAssign { place: Place::Vars("odd".into()), op: AssignOp::Set, column: "odd".into() }],
        };
        let mut s = Selection::new(mode, behaviour_select(), Arc::new(Library::default()), conns.clone(), counter, "B");
        let mut step = s.start(&ctx);
        let got = loop {
            match step {
                SelectionStep::Done(r) => break r,
                SelectionStep::Effect(_) => {
                    let run = s.current().unwrap();
                    let mut env = run.env(&ctx);
                    let params = boomerang_core::eval::query::eval_sql_params(&sql.params, &env).unwrap();
                    let Value::Integer(id) = params[0] else { panic!() };
                    let rows = SqlRows { columns: vec!["odd".into()], rows: vec![vec![Value::Integer(id % 2)]] };
                    boomerang_core::eval::query::apply_sql_mapping(&sql.mapping, &rows, &mut env).unwrap();
                    step = s.resume(&ctx, EffectResult::Backend(Ok(boomerang_core::eval::ir::ActionResult::Accept))).unwrap();
                }
            }
        };
        let expected = naive(mode, &cands, counter);
        match (&got, &expected) {
            (Ok(g), Ok(e)) => prop_assert_eq!(g.chosen.id, *e),
            (Err(g), Err(e)) => {
                prop_assert_eq!(g.code, e.code);
                if e.code == ErrorCode::Error {
                    prop_assert_eq!(&g.message, &e.message);
                }
            }
            _ => prop_assert!(false, "got {:?}, expected {:?}", got, expected),
        }
        // The pure callback form agrees too (on candidates without effects).
        let by_callback = select_with(mode, &conns, counter, "B", |c| match c.client_name.as_str() {
            "a" => Ok(true),
            "l" => Ok(c.id % 2 == 1),
            "e" => Err(ErrorValue::new(ErrorCode::Error, format!("err {}", c.id))),
            _ => Ok(false),
        });
        prop_assert_eq!(by_callback.map(|s| s.chosen.id).map_err(|e| e.code), expected.map_err(|e| e.code));
    }
}
