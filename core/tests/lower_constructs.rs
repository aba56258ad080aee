//! Every construct of language.md §6 "Pipelines", "Variables", conditions, expressions
//! and query blocks lowers to the expected IR (compared with hand-built IR).

mod lower_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::eval::ir::{
    AaaField, AaaPlace, Action, ActionResult, AssignOp, Assignment, BackendCall, BackendId, Cond,
    CondMode, Condition, ConnField, DebugTarget, Directive, Expr, FilterCall, HttpField, HttpPlace,
    Index, LogContent, MapPattern, PacketRef, Pipeline, PipelineId, Place, QueryId, Template,
    TemplatePart, UserField, VarRef,
};
use boomerang_core::eval::ops::CompareOp;
use boomerang_core::eval::query::SqlAssign;
use boomerang_core::eval::value::{IpPrefix, Value};
use boomerang_core::lang::compile::lower::Stage;
use boomerang_core::radius::id::AttrId;
use lower_support::*;

const USER_NAME: AttrId = AttrId::Standard(1);
const FILTER_ID: AttrId = AttrId::Standard(11);
const NAS_IDENTIFIER: AttrId = AttrId::Standard(32);
const ACCT_STATUS_TYPE: AttrId = AttrId::Standard(40);
const ACCT_SESSION_ID: AttrId = AttrId::Standard(44);
const SERVICE_TYPE: AttrId = AttrId::Standard(6);

fn s(x: &str) -> Expr {
    Expr::str(x)
}

fn var(v: VarRef) -> Expr {
    Expr::Var(v)
}

fn vars(n: &str) -> Expr {
    var(VarRef::Vars(n.into()))
}

fn text(t: &str) -> TemplatePart {
    TemplatePart::Text(t.into())
}

fn part(e: Expr) -> TemplatePart {
    TemplatePart::Expr(e)
}

fn tpl(parts: Vec<TemplatePart>) -> Template {
    Template { parts }
}

fn actions(p: &Arc<Pipeline>) -> &[Action] {
    &p.actions
}

fn one(stage: Stage, text: &str) -> Action {
    let p = pipeline_ok(stage, text);
    assert_eq!(p.actions.len(), 1, "{:#?}", p.actions);
    p.actions[0].clone()
}

/// The value expression of `modify vars.t = <expr>;` in `stage`.
fn value_in(stage: Stage, expr: &str) -> Expr {
    match one(stage, &format!("modify vars.t = {expr};")) {
        Action::Modify(a) => a[0].value.clone(),
        other => panic!("{other:?}"),
    }
}

fn value(expr: &str) -> Expr {
    value_in(Stage::Execute, expr)
}

fn set(place: Place, op: AssignOp, value: Expr) -> Assignment {
    Assignment { place, op, value }
}

fn call(b: u32, q: Option<u32>, name: &str, query: Option<&str>) -> BackendCall {
    BackendCall {
        backend: BackendId(b),
        query: q.map(QueryId),
        backend_name: name.into(),
        query_name: query.map(str::to_owned),
    }
}

#[test]
fn result_actions_with_and_without_messages() {
    let p = pipeline_ok(
        Stage::Execute,
        r#"accept; reject "no %{vars.x}!"; ignore "skipped"; accept vars.msg;"#,
    );
    assert_eq!(
        actions(&p),
        [
            Action::accept(),
            Action::reject_with(tpl(vec![text("no "), part(vars("x")), text("!")])),
            Action::Result {
                result: ActionResult::Ignore,
                message: Some(Template::text("skipped")),
            },
            Action::Result {
                result: ActionResult::Accept,
                message: Some(tpl(vec![part(vars("msg"))])),
            },
        ]
    );
    assert_eq!(p.directive, Directive::While);
}

#[test]
fn if_else_if_else_chain() {
    let a = one(
        Stage::Execute,
        r#"
if all { radius.request.code == radius.ACCESS_REQUEST; } then { accept; }
else if any { vars.a == 1; vars.b != none; } then { reject; }
else if none { } then { ignore; }
else { reason "other"; reject; }
"#,
    );
    assert_eq!(
        a,
        Action::If {
            branches: vec![
                (
                    Condition::all(vec![Cond::eq(
                        var(VarRef::RadiusCode(PacketRef::Request)),
                        Expr::int(1)
                    )]),
                    Pipeline::new(vec![Action::accept()])
                ),
                (
                    Condition::any(vec![
                        Cond::eq(vars("a"), Expr::int(1)),
                        Cond::ne(vars("b"), Expr::Literal(Value::None)),
                    ]),
                    Pipeline::new(vec![Action::reject()])
                ),
                (
                    Condition::none(vec![]),
                    Pipeline::new(vec![Action::ignore()])
                ),
            ],
            otherwise: Some(Pipeline::new(vec![
                Action::Reason(s("other")),
                Action::reject()
            ])),
        }
    );
    // Without else.
    let a = one(Stage::Execute, "if all { vars.a == 1; } then { accept; }");
    assert_eq!(
        a,
        Action::if_then(
            Condition::all(vec![Cond::eq(vars("a"), Expr::int(1))]),
            vec![Action::accept()],
            None
        )
    );
}

#[test]
fn with_do_else() {
    let a = one(
        Stage::Execute,
        r#"with first { pap; http-basic-auth; } do { accept; } else { reject "bad password"; }"#,
    );
    assert_eq!(
        a,
        Action::With {
            test: Pipeline::with_directive(
                Directive::First,
                vec![Action::Pap, Action::HttpBasicAuth]
            ),
            then: Some(Pipeline::new(vec![Action::accept()])),
            otherwise: Some(Pipeline::new(vec![Action::reject_with(Template::text(
                "bad password"
            ))])),
        }
    );
    let a = one(Stage::Execute, "with { pap; } do { accept; }");
    assert_eq!(
        a,
        Action::With {
            test: Pipeline::new(vec![Action::Pap]),
            then: Some(Pipeline::new(vec![Action::accept()])),
            otherwise: None,
        }
    );
}

#[test]
fn map_arms() {
    let a = one(
        Stage::Execute,
        r#"
map radius.request.attr.Service-Type {
    "Framed-User" => { accept; }
    [1 2] => { ignore; }
    radius.dict.Service-Type.Login-User => { }
    /adm/i => { reject; }
    any => { reject "other"; }
}
"#,
    );
    let Action::Map { subject, arms } = a else {
        panic!()
    };
    assert_eq!(subject, var(VarRef::request_attr(SERVICE_TYPE)));
    assert_eq!(arms.len(), 5);
    assert_eq!(
        arms[0],
        (
            MapPattern::Value(Value::String("Framed-User".into())),
            Pipeline::new(vec![Action::accept()])
        )
    );
    assert_eq!(
        arms[1].0,
        MapPattern::Value(Value::List(vec![Value::Integer(1), Value::Integer(2)]))
    );
    assert_eq!(arms[2].0, MapPattern::Value(Value::Integer(1)));
    assert!(arms[2].1.actions.is_empty());
    match &arms[3].0 {
        MapPattern::Value(Value::Regex(r)) => {
            assert_eq!(r.source, "adm");
            assert!(r.case_insensitive);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(arms[4].0, MapPattern::Any);
}

#[test]
fn directive_blocks() {
    let p = pipeline_ok(
        Stage::Execute,
        "first { pap; } any { accept; } all { accept; } none { reject; } each { reply; } while { stop; }",
    );
    let dirs: Vec<Directive> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::Block(b) => b.directive,
            other => panic!("{other:?}"),
        })
        .collect();
    use Directive::*;
    assert_eq!(dirs, [First, Any, All, None, Each, While]);
    assert_eq!(
        p.actions[4],
        Action::Block(Pipeline::with_directive(Each, vec![Action::Reply]))
    );
}

#[test]
fn try_forms() {
    let p = pipeline_ok(
        Stage::Execute,
        r#"
try backend "UPSTREAM";
try backend { name "REVERSE_DYNAUTH"; request "DISCONNECT_USER"; }
try all { backend "UPSTREAM"; } catch { error "failed"; }
try { backend "UPSTREAM"; }
try backend { name "REVERSE_DYNAUTH"; query "PROXY_QUERY"; } catch { reject; }
first { try backend "UPSTREAM"; error "all failed"; }
"#,
    );
    let up = || Action::Backend(call(2, None, "UPSTREAM", None));
    assert_eq!(p.actions[0], Action::try_short(up()));
    assert_eq!(
        p.actions[1],
        Action::try_short(Action::Backend(call(
            0,
            Some(0),
            "REVERSE_DYNAUTH",
            Some("DISCONNECT_USER")
        )))
    );
    assert_eq!(
        p.actions[2],
        Action::Try {
            body: Pipeline::with_directive(Directive::All, vec![up()]),
            catch: Some(Pipeline::new(vec![Action::Error(Template::text("failed"))])),
        }
    );
    assert_eq!(
        p.actions[3],
        Action::Try {
            body: Pipeline::new(vec![up()]),
            catch: None,
        }
    );
    assert_eq!(
        p.actions[4],
        Action::Try {
            body: Pipeline::new(vec![Action::Backend(call(
                0,
                Some(1),
                "REVERSE_DYNAUTH",
                Some("PROXY_QUERY")
            ))]),
            catch: Some(Pipeline::new(vec![Action::reject()])),
        }
    );
    assert_eq!(
        p.actions[5],
        Action::Block(Pipeline::with_directive(
            Directive::First,
            vec![
                Action::try_short(up()),
                Action::Error(Template::text("all failed"))
            ]
        ))
    );
}

#[test]
fn simple_actions() {
    let p = pipeline_ok(
        Stage::Execute,
        r#"reply; stop; error "boom %{id}"; reason aaa.caught_error; pap; http-basic-auth;
           reject_errors on; reject_errors off; invoke "LOG_ACCOUNTING"; invoke LOG_IT;"#,
    );
    assert_eq!(
        actions(&p),
        [
            Action::Reply,
            Action::Stop,
            Action::Error(tpl(vec![text("boom "), part(var(VarRef::Id))])),
            Action::Reason(var(VarRef::Aaa(AaaField::CaughtError))),
            Action::Pap,
            Action::HttpBasicAuth,
            Action::RejectErrors(true),
            Action::RejectErrors(false),
            Action::Invoke(PipelineId(1)),
            Action::Invoke(PipelineId(0)),
        ]
    );
}

#[test]
fn modify_set_append() {
    let l = pipeline(
        Stage::Execute,
        r#"
modify {
    radius.reply.attr.Filter-Id = "users";
    vars.x ?= 1;
    user.group += "admins";
    radius.reply.attr.Reply-Message := "hi";
    radius.reply.attr.Acct-Status-Type = "Alive";
}
modify vars.y = vars.x;
set aaa.reason "because";
append radius.reply.attr.Class 0xaa00;
modify radius.response.code = radius.ACCESS_REJECT;
modify http.status = 404;
"#,
    );
    assert_eq!(
        l.diags,
        ["6:37: warning: `:=` is deprecated; use `=`"],
        "only the deprecation warning"
    );
    let reply = |a: AttrId| Place::RadiusAttr {
        packet: PacketRef::Reply,
        attr: a,
    };
    assert_eq!(
        actions(&l.value),
        [
            Action::Modify(vec![
                set(reply(FILTER_ID), AssignOp::Set, s("users")),
                set(Place::Vars("x".into()), AssignOp::SetIfNone, Expr::int(1)),
                set(Place::User(UserField::Group), AssignOp::Append, s("admins")),
                set(reply(AttrId::Standard(18)), AssignOp::Set, s("hi")),
                set(reply(ACCT_STATUS_TYPE), AssignOp::Set, s("Alive")),
            ]),
            Action::set(Place::Vars("y".into()), vars("x")),
            Action::set(Place::Aaa(AaaPlace::Reason), s("because")),
            Action::Modify(vec![set(
                reply(AttrId::Standard(25)),
                AssignOp::Append,
                Expr::Literal(Value::Bytes(vec![0xaa, 0].into()))
            )]),
            Action::set(Place::RadiusCode(PacketRef::Reply), Expr::int(3)),
            Action::set(Place::Http(HttpPlace::Status), Expr::int(404)),
        ]
    );
}

#[test]
fn backend_forms() {
    let l = pipeline(
        Stage::Execute,
        r#"
backend "UPSTREAM";
backend UPSTREAM;
backend { name "SQL_BACKEND"; query "FIND_NAS_IDENTIFIER"; }
backend { name "REVERSE_DYNAUTH"; request "PROXY_QUERY"; timeout 15s; }
"#,
    );
    assert_eq!(
        l.diags,
        [
            "5:58: warning: `timeout` in `backend { … }` is ignored; the backend server's own `timeout` applies"
        ]
    );
    assert_eq!(
        actions(&l.value),
        [
            Action::Backend(call(2, None, "UPSTREAM", None)),
            Action::Backend(call(2, None, "UPSTREAM", None)),
            Action::Backend(call(1, Some(0), "SQL_BACKEND", Some("FIND_NAS_IDENTIFIER"))),
            Action::Backend(call(0, Some(1), "REVERSE_DYNAUTH", Some("PROXY_QUERY"))),
        ]
    );
}

#[test]
fn debug_and_log() {
    let p = pipeline_ok(
        Stage::Select,
        r#"
debug "conn %{connection.id} from %{connection.peer_ip}";
debug vars.x;
debug radius.request.attr.User-Name[0];
log "AUTH" { json { "user" aaa.identity; "code" radius.request.code; } }
log "AUTH" { format "%{aaa.identity} done"; }
log ACCT { message vars.x; }
"#,
    );
    assert_eq!(
        actions(&p),
        [
            Action::Debug(DebugTarget::Template(tpl(vec![
                text("conn "),
                part(var(VarRef::Connection(ConnField::Id))),
                text(" from "),
                part(var(VarRef::Connection(ConnField::PeerIp))),
            ]))),
            Action::Debug(DebugTarget::Var {
                path: "vars.x".into(),
                var: VarRef::Vars("x".into()),
            }),
            Action::Debug(DebugTarget::Var {
                path: "radius.request.attr.User-Name[0]".into(),
                var: VarRef::RadiusAttr {
                    packet: PacketRef::Request,
                    attr: USER_NAME,
                    index: Index::First,
                },
            }),
            Action::Log {
                logger: "AUTH".into(),
                content: LogContent::Json(vec![
                    ("user".into(), var(VarRef::Aaa(AaaField::Identity))),
                    ("code".into(), var(VarRef::RadiusCode(PacketRef::Request))),
                ]),
            },
            Action::Log {
                logger: "AUTH".into(),
                content: LogContent::Format(tpl(vec![
                    part(var(VarRef::Aaa(AaaField::Identity))),
                    text(" done"),
                ])),
            },
            Action::Log {
                logger: "ACCT".into(),
                content: LogContent::Message(vars("x")),
            },
        ]
    );
}

#[test]
fn radius_variables() {
    let req = |a, index| {
        var(VarRef::RadiusAttr {
            packet: PacketRef::Request,
            attr: a,
            index,
        })
    };
    assert_eq!(
        value("radius.request.code"),
        var(VarRef::RadiusCode(PacketRef::Request))
    );
    assert_eq!(
        value("radius.reply.code"),
        var(VarRef::RadiusCode(PacketRef::Reply))
    );
    assert_eq!(
        value("radius.response.code"),
        var(VarRef::RadiusCode(PacketRef::Reply))
    );
    assert_eq!(
        value("radius.request.attr.User-Name"),
        req(USER_NAME, Index::Auto)
    );
    // Case-insensitive names.
    assert_eq!(
        value("radius.request.attr.user-name"),
        req(USER_NAME, Index::Auto)
    );
    assert_eq!(
        value("radius.request.attr.User-Name[0]"),
        req(USER_NAME, Index::First)
    );
    assert_eq!(
        value("radius.request.attr.User-Name[2]"),
        req(USER_NAME, Index::Nth(2))
    );
    assert_eq!(
        value("radius.request.attr.User-Name[n]"),
        req(USER_NAME, Index::Last)
    );
    assert_eq!(
        value("radius.request.attr.User-Name[*]"),
        req(USER_NAME, Index::All)
    );
    assert_eq!(
        value("radius.reply.attr.Filter-Id"),
        var(VarRef::reply_attr(FILTER_ID))
    );
    for bulk in ["radius.request.attrs", "radius.request.attr"] {
        assert_eq!(value(bulk), var(VarRef::RadiusAttrs(PacketRef::Request)));
    }
    assert_eq!(
        value("radius.response.attrs"),
        var(VarRef::RadiusAttrs(PacketRef::Reply))
    );
    assert_eq!(value("radius.client"), var(VarRef::RadiusClient));
    assert_eq!(value("radius.client.ip"), var(VarRef::RadiusClientIp));
    assert_eq!(value("radius.server"), var(VarRef::RadiusServer));
    assert_eq!(value("radius.server.tls"), var(VarRef::RadiusServerTls));
    assert_eq!(
        value("radius.connection.id"),
        var(VarRef::CurrentConnection(ConnField::Id))
    );
    assert_eq!(
        value("radius.connection.cert.subject_alt.dns[1]"),
        var(VarRef::CurrentConnection(ConnField::CertSanDns(
            Index::Nth(1)
        )))
    );
    // Constants.
    assert_eq!(value("radius.DISCONNECT_REQUEST"), Expr::int(40));
    assert_eq!(value("radius.COA_NAK"), Expr::int(45));
    assert_eq!(value("radius.dict.Acct-Status-Type.Alive"), Expr::int(3));
    assert_eq!(
        value("radius.dict.acct-status-type.interim-update"),
        Expr::int(3)
    );
    assert_eq!(value("radius.dict.Service-Type.Framed-User"), Expr::int(2));
}

#[test]
fn connection_variables_inside_select() {
    let c = |text: &str| value_in(Stage::Select, text);
    let cf = |f| var(VarRef::Connection(f));
    let table = [
        ("connection.id", ConnField::Id),
        ("connection.client_name", ConnField::ClientName),
        ("connection.peer_addr", ConnField::PeerAddr),
        ("connection.peer_ip", ConnField::PeerIp),
        ("connection.server_name", ConnField::ServerName),
        ("connection.server_addr", ConnField::ServerAddr),
        ("connection.server_ip", ConnField::ServerIp),
        (
            "connection.transport_protocol",
            ConnField::TransportProtocol,
        ),
        ("connection.connected", ConnField::Connected),
        ("connection.disconnected", ConnField::Disconnected),
        ("connection.status.received", ConnField::StatusReceived),
        (
            "connection.status.nas_identifier",
            ConnField::StatusNasIdentifier,
        ),
        ("connection.cert.subject.cn", ConnField::CertSubjectCn),
        ("connection.cert.issuer", ConnField::CertIssuer),
        ("connection.cert.fingerprint", ConnField::CertFingerprint),
        (
            "connection.cert.subject_alt.email",
            ConnField::CertSanEmail(Index::Auto),
        ),
        (
            "connection.cert.subject_alt.email[0]",
            ConnField::CertSanEmail(Index::First),
        ),
        (
            "connection.cert.subject_alt.email[1]",
            ConnField::CertSanEmail(Index::Nth(1)),
        ),
        (
            "connection.cert.subject_alt.dns",
            ConnField::CertSanDns(Index::Auto),
        ),
        (
            "connection.cert.subject_alt.uri[*]",
            ConnField::CertSanUri(Index::All),
        ),
    ];
    for (text, field) in table {
        assert_eq!(c(text), cf(field), "{text}");
    }
}

#[test]
fn other_namespaces() {
    let table: Vec<(&str, Expr)> = vec![
        ("id", var(VarRef::Id)),
        ("datetime.timestamp", var(VarRef::Timestamp)),
        ("env.HOME", var(VarRef::Env("HOME".into()))),
        ("vars.nas_identifier", vars("nas_identifier")),
        ("user.username", var(VarRef::User(UserField::Username))),
        ("user.password", var(VarRef::User(UserField::Password))),
        ("user.group", var(VarRef::User(UserField::Group))),
        ("user.role", var(VarRef::User(UserField::Role))),
        ("user.privilege", var(VarRef::User(UserField::Privilege))),
        ("user.backend", var(VarRef::User(UserField::Backend))),
        ("aaa.identity", var(VarRef::Aaa(AaaField::Identity))),
        (
            "aaa.identity.name",
            var(VarRef::Aaa(AaaField::IdentityName)),
        ),
        (
            "aaa.identity.realm",
            var(VarRef::Aaa(AaaField::IdentityRealm)),
        ),
        ("aaa.policy", var(VarRef::Aaa(AaaField::Policy))),
        ("aaa.handler", var(VarRef::Aaa(AaaField::Handler))),
        ("aaa.result", var(VarRef::Aaa(AaaField::Result))),
        ("aaa.reason", var(VarRef::Aaa(AaaField::Reason))),
        ("aaa.message", var(VarRef::Aaa(AaaField::Message))),
        ("aaa.errors", var(VarRef::Aaa(AaaField::Errors))),
        ("aaa.caught_error", var(VarRef::Aaa(AaaField::CaughtError))),
        (
            "aaa.caught_error.code",
            var(VarRef::Aaa(AaaField::CaughtErrorCode)),
        ),
        (
            "aaa.caught_errors",
            var(VarRef::Aaa(AaaField::CaughtErrors)),
        ),
        ("aaa.method", var(VarRef::Aaa(AaaField::Method))),
        ("aaa.protocol", var(VarRef::Aaa(AaaField::Protocol))),
        ("errors.NO_REVERSE_CONNECTIONS", s("NO_REVERSE_CONNECTIONS")),
        ("errors.REVERSE_TIMEOUT", s("REVERSE_TIMEOUT")),
        ("http.method", var(VarRef::Http(HttpField::Method))),
        ("http.path", var(VarRef::Http(HttpField::Path))),
        ("http.path.1", var(VarRef::Http(HttpField::PathSegment(1)))),
        ("http.query", var(VarRef::Http(HttpField::QueryAll))),
        (
            "http.query.nas_identifier",
            var(VarRef::Http(HttpField::Query("nas_identifier".into()))),
        ),
        (
            "http.header.X-Request-Id",
            var(VarRef::Http(HttpField::Header("x-request-id".into()))),
        ),
        ("http.body", var(VarRef::Http(HttpField::Body))),
        ("http.json", var(VarRef::Http(HttpField::Json))),
        ("http.status", var(VarRef::Http(HttpField::Status))),
        ("http.response", var(VarRef::Http(HttpField::Response))),
        (
            "http.response_header.Content-Type",
            var(VarRef::Http(HttpField::ResponseHeader(
                "content-type".into(),
            ))),
        ),
        (
            "http.authorization.username",
            var(VarRef::Http(HttpField::AuthUsername)),
        ),
        (
            "http.authorization.password",
            var(VarRef::Http(HttpField::AuthPassword)),
        ),
        (
            "http.authorization.bearer",
            var(VarRef::Http(HttpField::AuthBearer)),
        ),
        ("http.client", var(VarRef::Http(HttpField::Client))),
        ("http.client.ip", var(VarRef::Http(HttpField::ClientIp))),
        ("http.server", var(VarRef::Http(HttpField::Server))),
    ];
    for (text, expected) in table {
        assert_eq!(value(text), expected, "{text}");
    }
}

#[test]
fn literals_lists_templates() {
    assert_eq!(value("42"), Expr::int(42));
    assert_eq!(value("-1"), Expr::int(-1));
    assert_eq!(value("1.5"), Expr::Literal(Value::Float(1.5)));
    assert_eq!(
        value("1m30s"),
        Expr::Literal(Value::Duration(Duration::from_secs(90)))
    );
    assert_eq!(
        value("250ms"),
        Expr::Literal(Value::Duration(Duration::from_millis(250)))
    );
    assert_eq!(
        value("10.9.0.1"),
        Expr::Literal(Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1))))
    );
    assert_eq!(
        value("10.0.0.0/8"),
        Expr::Literal(Value::Prefix(
            IpPrefix::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8).unwrap()
        ))
    );
    assert_eq!(
        value("::1"),
        Expr::Literal(Value::Ip("::1".parse().unwrap()))
    );
    assert_eq!(
        value("0xaa00"),
        Expr::Literal(Value::Bytes(vec![0xaa, 0].into()))
    );
    assert_eq!(value("true"), Expr::Literal(Value::Bool(true)));
    assert_eq!(value("none"), Expr::Literal(Value::None));
    assert_eq!(value("any"), Expr::Literal(Value::Any));
    assert_eq!(value(r#""plain""#), s("plain"));
    assert_eq!(value(r#""""#), s(""));
    assert_eq!(
        value(r#"[1 "a" vars.x]"#),
        Expr::List(vec![Expr::int(1), s("a"), vars("x")])
    );
    assert_eq!(
        value(r#""%{http.query.username}""#),
        Expr::Template(tpl(vec![part(var(VarRef::Http(HttpField::Query(
            "username".into()
        ))))]))
    );
    assert_eq!(
        value(r#""a %{ vars.x | lowercase } b""#),
        Expr::Template(tpl(vec![
            text("a "),
            part(Expr::Filtered {
                input: Box::new(vars("x")),
                filters: vec![FilterCall {
                    name: "lowercase".into(),
                    args: vec![]
                }],
            }),
            text(" b"),
        ]))
    );
    match value("/^nas-\\d+$/i") {
        Expr::Literal(Value::Regex(r)) => {
            assert!(r.is_match("NAS-12"));
            assert!(!r.is_match("nas-x"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn filters() {
    let f = |name: &str, args: Vec<Expr>| FilterCall {
        name: name.into(),
        args,
    };
    assert_eq!(
        value("radius.request.attrs | remove(Proxy-State, \"user-name\") | select(NAS-Identifier)"),
        Expr::Filtered {
            input: Box::new(var(VarRef::RadiusAttrs(PacketRef::Request))),
            filters: vec![
                f("remove", vec![s("Proxy-State"), s("User-Name")]),
                f("select", vec![s("NAS-Identifier")]),
            ],
        }
    );
    assert_eq!(
        value(
            r#"vars.x | substring(0, 3) | default(vars.y) | join(";") | split | jsonpath("$.a") | recover("z")"#
        ),
        Expr::Filtered {
            input: Box::new(vars("x")),
            filters: vec![
                f("substring", vec![Expr::int(0), Expr::int(3)]),
                f("default", vec![vars("y")]),
                f("join", vec![s(";")]),
                f("split", vec![]),
                f("jsonpath", vec![s("$.a")]),
                f("recover", vec![s("z")]),
            ],
        }
    );
    for name in [
        "lowercase",
        "uppercase",
        "string",
        "hex",
        "value",
        "printable",
        "normalize_mac",
        "json",
        "type",
        "url_escape",
        "escape_double_quotes",
    ] {
        assert_eq!(
            value(&format!("vars.x | {name}")),
            Expr::Filtered {
                input: Box::new(vars("x")),
                filters: vec![f(name, vec![])],
            }
        );
    }
}

#[test]
fn conditions_all_operators_and_right_sides() {
    let l = conditions(
        r#"
conditions any {
    vars.a == 1; vars.a eq 1; vars.a != 1; vars.a ne 1;
    vars.a > 1; vars.a gt 1; vars.a >= 1; vars.a ge 1;
    vars.a < 1; vars.a lt 1; vars.a <= 1; vars.a le 1;
    vars.a starts "x"; vars.a !starts "x"; vars.a contains "x"; vars.a !contains "x";
    vars.a ends "x"; vars.a !ends "x";
}
"#,
    );
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    let c = l.value.unwrap();
    assert_eq!(c.mode, CondMode::Any);
    let ops: Vec<CompareOp> = c.tests.iter().map(|t| t.op).collect();
    use CompareOp::*;
    assert_eq!(
        ops,
        [
            Eq,
            Eq,
            Ne,
            Ne,
            Gt,
            Gt,
            Ge,
            Ge,
            Lt,
            Lt,
            Le,
            Le,
            Starts,
            NotStarts,
            Contains,
            NotContains,
            Ends,
            NotEnds
        ]
    );
    assert!(c.tests.iter().all(|t| t.left == vars("a")));

    let l = conditions(
        r#"
conditions none {
    radius.request.attr.Acct-Status-Type == radius.dict.Acct-Status-Type.Alive;
    connection_free == none;
}
"#,
    );
    // `connection_free` is no variable.
    assert_eq!(
        l.diags,
        [
            "4:5: error: unknown variable `connection_free` [help: to write text, quote it: \"connection_free\"]"
        ]
    );
    assert_eq!(l.value, None);

    let l = conditions(
        r#"
conditions all {
    aaa.method == any;
    aaa.caught_error != none;
    radius.request.attr.NAS-Identifier == ["a" "b"];
    radius.client.ip == 10.0.0.0/8;
    radius.request.attr.User-Name == /^bob$/i;
    aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS;
    aaa.identity ends "@%{vars.realm}";
}
"#,
    );
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    let c = l.value.unwrap();
    assert_eq!(c.mode, CondMode::All);
    assert_eq!(c.tests[0].right, Expr::Literal(Value::Any));
    assert_eq!(c.tests[1].right, Expr::Literal(Value::None));
    assert_eq!(c.tests[2].right, Expr::List(vec![s("a"), s("b")]));
    assert_eq!(
        c.tests[3].right,
        Expr::Literal(Value::Prefix(
            IpPrefix::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8).unwrap()
        ))
    );
    assert!(matches!(c.tests[4].right, Expr::Literal(Value::Regex(_))));
    assert_eq!(
        c.tests[5],
        Cond::eq(
            var(VarRef::Aaa(AaaField::CaughtErrorCode)),
            s("NO_REVERSE_CONNECTIONS")
        )
    );
    assert_eq!(
        c.tests[6].right,
        Expr::Template(tpl(vec![text("@"), part(vars("realm"))]))
    );
}

#[test]
fn query_bindings_and_mapping() {
    let l = bindings(
        r#"
radius.request.code = radius.DISCONNECT_REQUEST;
radius.request.code = "disconnect-request";
radius.request.code = 43;
radius.request.code = radius.request.code;
radius.request.attr.User-Name = "%{http.query.username}";
radius.request.attr.Acct-Session-Id = radius.request.attr.Acct-Session-Id;
radius.request.attrs = radius.request.attrs | remove(Proxy-State);
radius.request.attr = radius.request.attr;
"#,
    );
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    let code = Place::RadiusCode(PacketRef::Request);
    let bulk = Place::RadiusAttrs(PacketRef::Request);
    let attr = |a| Place::RadiusAttr {
        packet: PacketRef::Request,
        attr: a,
    };
    assert_eq!(
        l.value.assignments,
        [
            set(code.clone(), AssignOp::Set, Expr::int(40)),
            set(code.clone(), AssignOp::Set, s("disconnect-request")),
            set(code.clone(), AssignOp::Set, Expr::int(43)),
            set(
                code,
                AssignOp::Set,
                var(VarRef::RadiusCode(PacketRef::Request))
            ),
            set(
                attr(USER_NAME),
                AssignOp::Set,
                Expr::Template(tpl(vec![part(var(VarRef::Http(HttpField::Query(
                    "username".into()
                ))))]))
            ),
            set(
                attr(ACCT_SESSION_ID),
                AssignOp::Set,
                var(VarRef::request_attr(ACCT_SESSION_ID))
            ),
            set(
                bulk.clone(),
                AssignOp::Set,
                Expr::Filtered {
                    input: Box::new(var(VarRef::RadiusAttrs(PacketRef::Request))),
                    filters: vec![FilterCall {
                        name: "remove".into(),
                        args: vec![s("Proxy-State")]
                    }],
                }
            ),
            set(
                bulk,
                AssignOp::Set,
                var(VarRef::RadiusAttrs(PacketRef::Request))
            ),
        ]
    );

    let l = mapping(
        r#"
radius.reply.code = radius.reply.code;
radius.reply.attrs = radius.reply.attrs;
vars.dm_result = radius.reply.code;
vars.x = "%{radius.reply.attr.Filter-Id}";
vars.sent += radius.request.attr.User-Name;
"#,
    );
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    assert_eq!(
        l.value.assignments,
        [
            set(
                Place::RadiusCode(PacketRef::Reply),
                AssignOp::Set,
                var(VarRef::RadiusCode(PacketRef::Reply))
            ),
            set(
                Place::RadiusAttrs(PacketRef::Reply),
                AssignOp::Set,
                var(VarRef::RadiusAttrs(PacketRef::Reply))
            ),
            set(
                Place::Vars("dm_result".into()),
                AssignOp::Set,
                var(VarRef::RadiusCode(PacketRef::Reply))
            ),
            set(
                Place::Vars("x".into()),
                AssignOp::Set,
                Expr::Template(tpl(vec![part(var(VarRef::reply_attr(FILTER_ID)))]))
            ),
            set(
                Place::Vars("sent".into()),
                AssignOp::Append,
                var(VarRef::request_attr(USER_NAME))
            ),
        ]
    );
}

#[test]
fn sql_params_and_mapping() {
    let l = sql_params(
        "radius.request.attr.Acct-Input-Octets; radius.request.attr.Acct-Output-Octets; aaa.identity;",
    );
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    assert_eq!(
        l.value,
        [
            var(VarRef::request_attr(AttrId::Standard(42))),
            var(VarRef::request_attr(AttrId::Standard(43))),
            var(VarRef::Aaa(AaaField::Identity)),
        ]
    );
    let l = sql_mapping(
        r#"vars.nas_identifier = nas_identifier; user.username = "name"; user.group += grp; vars.q ?= quota;"#,
    );
    assert!(l.diags.is_empty(), "{:?}", l.diags);
    let sa = |place, op, column: &str| SqlAssign {
        place,
        op,
        column: column.into(),
    };
    assert_eq!(
        l.value,
        [
            sa(
                Place::Vars("nas_identifier".into()),
                AssignOp::Set,
                "nas_identifier"
            ),
            sa(Place::User(UserField::Username), AssignOp::Set, "name"),
            sa(Place::User(UserField::Group), AssignOp::Append, "grp"),
            sa(Place::Vars("q".into()), AssignOp::SetIfNone, "quota"),
        ]
    );
}

#[test]
fn select_may_write_its_locals() {
    let p = pipeline_ok(
        Stage::Select,
        r#"modify { vars.seen = connection.id; aaa.reason = "x"; aaa.message = "y"; aaa.caught_error = none; } accept;"#,
    );
    assert_eq!(p.actions.len(), 2);
    let p = pipeline_ok(
        Stage::Select,
        r#"if all { connection.status.nas_identifier == radius.request.attr.NAS-Identifier; } then { accept; } else { reject; }"#,
    );
    assert_eq!(
        p.actions[0],
        Action::if_then(
            Condition::all(vec![Cond::eq(
                var(VarRef::Connection(ConnField::StatusNasIdentifier)),
                var(VarRef::request_attr(NAS_IDENTIFIER))
            )]),
            vec![Action::accept()],
            Some(vec![Action::reject()])
        )
    );
}
