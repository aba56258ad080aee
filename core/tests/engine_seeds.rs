//! Every scenario of the seeds (`reverse-dynamic-authorization.txt`,
//! `reverse-block.txt`) through the real engine: UDP and HTTP triggers relayed over
//! RadSec to a fake NAS, selection by NAS-Identifier, peer IP, certificate CN and
//! SAN, selection through a database lookup, round-robin, and the quota disconnect
//! on the current connection.

mod engine_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine_support::*;

use boomerang_core::contract::{ServerId, SqlRows, Transport};
use boomerang_core::engine::ConnId;
use boomerang_core::eval::error::ErrorCode;
use boomerang_core::eval::ir::{
    AaaField, Action, Cond, Condition, ConnField, Expr, HttpField, Index, PacketRef, Pipeline,
    Place, VarRef, error_code_value,
};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::eval::value::Value;
use boomerang_core::lang::program::ClientProtocol;
use boomerang_core::radius::code::Code;

const DAC_SECRET: &str = "dac-secret";

struct Seed {
    h: Harness,
    radsec: ServerId,
    udp: ServerId,
    http: ServerId,
}

fn nas_id_bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// The seed configuration: a RadSec server, a UDP trigger server and an HTTP API,
/// a reverse backend with PROXY_QUERY (selected by the request's NAS-Identifier)
/// and DISCONNECT_USER (selected by `http.query.nas_identifier`).
/// `udp_handler` is the UDP policy's `@execute`.
fn seed(udp_handler: impl FnOnce(&mut ProgramBuilder) -> Vec<Action>) -> Seed {
    let mut b = ProgramBuilder::new();
    let nas_clients = b.clients(
        "RADIUS_CLIENTS",
        ClientProtocol::Radius,
        vec![client("nas-net", "10.0.0.0/8", None)],
    );
    let local = b.clients(
        "LOCAL_CLIENTS",
        ClientProtocol::Radius,
        vec![client("dac", "127.0.0.1", Some(DAC_SECRET))],
    );
    let http_clients = b.clients(
        "HTTP_CLIENTS",
        ClientProtocol::Http,
        vec![client("local", "127.0.0.0/8", None)],
    );
    let radsec = b.radius_server(
        "RADSEC_SERVER",
        Transport::Tls,
        nas_clients,
        Some(Duration::ZERO),
    );
    let udp = b.radius_server("RADIUS_UDP", Transport::Udp, local, None);
    let http = b.http_server("HTTP_API", Some(http_clients));
    let proxy = b.reverse_backend(
        "REVERSE_DYNAUTH_BACKEND",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC_SERVER", req_attr_var(NAS_IDENTIFIER)),
        vec![proxy_query()],
        Duration::from_secs(5),
        0,
    );
    let _ = proxy;
    let http_backend = b.reverse_backend(
        "HTTP_REVERSE",
        "radsec",
        SelectMode::First,
        select_nas_identifier("RADSEC_SERVER", http_query("nas_identifier")),
        vec![disconnect_query(Expr::Template(
            boomerang_core::eval::ir::Template {
                parts: vec![boomerang_core::eval::ir::TemplatePart::Expr(http_query(
                    "username",
                ))],
            },
        ))],
        Duration::from_secs(5),
        0,
    );
    let execute = udp_handler(&mut b);
    b.policy(
        "PROXY_POLICY",
        Some(Condition::all(vec![Cond::eq(
            var(VarRef::RadiusServer),
            Expr::str("RADIUS_UDP"),
        )])),
        execute,
        None,
    );
    b.policy(
        "HTTP_POLICY",
        Some(Condition::all(vec![Cond::eq(
            var(VarRef::Http(HttpField::Server)),
            Expr::str("HTTP_API"),
        )])),
        vec![Action::Backend(backend_call(
            http_backend,
            "HTTP_REVERSE",
            Some(0),
        ))],
        None,
    );
    Seed {
        h: Harness::new(b.build()),
        radsec,
        udp,
        http,
    }
}

/// The seed's UDP handler: `backend { name "REVERSE_DYNAUTH_BACKEND"; query "PROXY_QUERY"; }`.
fn plain_proxy(b: &mut ProgramBuilder) -> Vec<Action> {
    let _ = b;
    vec![Action::Backend(backend_call(
        boomerang_core::eval::ir::BackendId(0),
        "REVERSE_DYNAUTH_BACKEND",
        Some(0),
    ))]
}

/// `try backend …; if all { aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS; }
/// then { modify radius.reply.attr.Error-Cause = 502; reject; }`
fn proxy_with_try(_: &mut ProgramBuilder) -> Vec<Action> {
    vec![
        Action::try_short(Action::Backend(backend_call(
            boomerang_core::eval::ir::BackendId(0),
            "REVERSE_DYNAUTH_BACKEND",
            Some(0),
        ))),
        Action::if_then(
            Condition::all(vec![Cond::eq(
                var(VarRef::Aaa(AaaField::CaughtErrorCode)),
                Expr::Literal(error_code_value(ErrorCode::NoReverseConnections)),
            )]),
            vec![
                Action::set(reply_attr(ERROR_CAUSE), Expr::int(502)),
                Action::reject(),
            ],
            None,
        ),
    ]
}

fn connect_nas(s: &mut Seed, ip: [u8; 4], nas_id: Option<&str>, mode: NasMode) -> ConnId {
    let conn = s.h.connect(
        s.radsec,
        addr(ip, 40000),
        Transport::Tls,
        vec![],
        "radsec",
        mode,
    );
    if nas_id.is_some() {
        s.h.status(conn, nas_id);
    }
    conn
}

fn disconnect_from_dac(id: u8, nas_id: &str, user: &str) -> boomerang_core::radius::packet::Packet {
    dac_request(
        Code::DisconnectRequest,
        id,
        &[
            (USER_NAME, user.as_bytes().to_vec()),
            (NAS_IDENTIFIER, nas_id_bytes(nas_id)),
            (PROXY_STATE, b"dac-state".to_vec()),
        ],
        DAC_SECRET,
    )
}

#[test]
fn udp_trigger_relays_the_nas_ack_to_the_dac() {
    let mut s = seed(plain_proxy);
    let other = connect_nas(&mut s, [10, 9, 0, 2], Some("other-nas"), NasMode::Ack);
    let conn = connect_nas(
        &mut s,
        [10, 9, 0, 1],
        Some("radiator-nas-simulator"),
        NasMode::Ack,
    );
    let req = disconnect_from_dac(7, "radiator-nas-simulator", "mikem");
    s.h.datagram(s.udp, addr([127, 0, 0, 1], 3799), encode(&req));

    assert!(s.h.requests_to(other).is_empty());
    let sent = s.h.requests_to(conn);
    assert_eq!(sent.len(), 1);
    let coa = &sent[0];
    assert_eq!(coa.code, Code::DisconnectRequest);
    assert_eq!(coa.first_value(USER_NAME).unwrap().as_ref(), b"mikem");
    assert_eq!(
        coa.first_value(NAS_IDENTIFIER).unwrap().as_ref(),
        b"radiator-nas-simulator"
    );
    assert!(
        coa.first(PROXY_STATE).is_none(),
        "our Proxy-State is not sent over the stream"
    );
    assert_eq!(
        coa.attributes[0].typ, MESSAGE_AUTHENTICATOR,
        "Message-Authenticator first"
    );
    assert_eq!(coa.first_value(EVENT_TIMESTAMP).unwrap().len(), 4);

    let replies = s.h.datagrams();
    assert_eq!(replies.len(), 1);
    let reply = verified_reply(&replies[0], &req, DAC_SECRET);
    assert_eq!(reply.code, Code::DisconnectAck);
    assert_eq!(reply.identifier, 7);
    let states: Vec<_> = reply.all(PROXY_STATE).map(|a| a.value.clone()).collect();
    assert_eq!(
        states,
        vec![Bytes::from_static(b"dac-state")],
        "the DAC's Proxy-State echoed once"
    );
    s.h.assert_quiescent();
}

#[test]
fn udp_trigger_relays_a_nak_with_its_error_cause() {
    let mut s = seed(plain_proxy);
    connect_nas(&mut s, [10, 9, 0, 1], Some("nas-1"), NasMode::Nak);
    let req = disconnect_from_dac(8, "nas-1", "mikem");
    s.h.datagram(s.udp, addr([127, 0, 0, 1], 3799), encode(&req));
    let replies = s.h.datagrams();
    assert_eq!(replies.len(), 1);
    let reply = verified_reply(&replies[0], &req, DAC_SECRET);
    assert_eq!(reply.code, Code::DisconnectNak);
    assert_eq!(
        reply.first_value(ERROR_CAUSE).unwrap().as_ref(),
        &503u32.to_be_bytes()
    );
    s.h.assert_quiescent();
}

#[test]
fn udp_trigger_for_an_unknown_nas_gets_no_reply() {
    let mut s = seed(plain_proxy);
    connect_nas(&mut s, [10, 9, 0, 1], Some("nas-1"), NasMode::Ack);
    let req = disconnect_from_dac(9, "no-such-nas", "mikem");
    s.h.datagram(s.udp, addr([127, 0, 0, 1], 3799), encode(&req));
    assert!(
        s.h.datagrams().is_empty(),
        "an uncaught error sends no reply"
    );
    assert!(s.h.all_requests().is_empty());
    s.h.assert_quiescent();
    // The retransmission is not executed again either.
    s.h.datagram(s.udp, addr([127, 0, 0, 1], 3799), encode(&req));
    assert!(s.h.datagrams().is_empty());
    assert_eq!(s.h.count(dropped(DropReason::Duplicate)), 1);
}

#[test]
fn udp_trigger_with_try_naks_with_error_cause_502() {
    let mut s = seed(proxy_with_try);
    let req = disconnect_from_dac(10, "no-such-nas", "mikem");
    s.h.datagram(s.udp, addr([127, 0, 0, 1], 3799), encode(&req));
    let replies = s.h.datagrams();
    assert_eq!(replies.len(), 1);
    let reply = verified_reply(&replies[0], &req, DAC_SECRET);
    assert_eq!(reply.code, Code::DisconnectNak);
    assert_eq!(
        reply.first_value(ERROR_CAUSE).unwrap().as_ref(),
        &502u32.to_be_bytes()
    );
    assert_eq!(
        reply.first_value(PROXY_STATE).unwrap().as_ref(),
        b"dac-state"
    );
    s.h.assert_quiescent();
}

#[test]
fn http_trigger_answers_200_when_the_nas_acks_and_500_without_connection() {
    let mut s = seed(plain_proxy);
    let conn = connect_nas(
        &mut s,
        [10, 9, 0, 1],
        Some("radiator-nas-simulator"),
        NasMode::Ack,
    );
    let ok = s.h.http(
        s.http,
        "POST",
        "/disconnect",
        &[
            ("nas_identifier", "radiator-nas-simulator"),
            ("username", "mikem"),
        ],
    );
    let missing = s.h.http(
        s.http,
        "POST",
        "/disconnect",
        &[("nas_identifier", "elsewhere"), ("username", "mikem")],
    );
    let sent = s.h.requests_to(conn);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code, Code::DisconnectRequest);
    assert_eq!(sent[0].first_value(USER_NAME).unwrap().as_ref(), b"mikem");
    let responses = s.h.http_responses();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].0, ok);
    assert_eq!(responses[0].1, 200);
    assert_eq!(responses[0].2["result"], "accept");
    assert_eq!(responses[1].0, missing);
    assert_eq!(responses[1].1, 500);
    assert_eq!(responses[1].2["error"], "NO_REVERSE_CONNECTIONS");
    s.h.assert_quiescent();
}

#[test]
fn http_client_not_in_the_allow_list_is_refused() {
    let mut s = seed(plain_proxy);
    s.h.input(boomerang_core::engine::Input::HttpRequest(
        boomerang_core::engine::HttpRequest {
            id: boomerang_core::engine::HttpRequestId(99),
            server: s.http,
            peer: addr([192, 0, 2, 1], 1234),
            method: "POST".into(),
            path: "/disconnect".into(),
            query: Default::default(),
            headers: Default::default(),
            body: Bytes::new(),
        },
    ));
    let r = s.h.http_responses();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1, 403);
    s.h.assert_quiescent();
}

// ---------------------------------------------------------------------------
// Selection by peer IP, certificate CN and SAN

/// One TLS server and an HTTP trigger whose reverse backend uses `select`.
fn selection_world(select: Arc<Pipeline>, mode: SelectMode) -> (Harness, ServerId, ServerId) {
    let mut b = ProgramBuilder::new();
    let nas_clients = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas-net", "10.0.0.0/8", None)],
    );
    let radsec = b.radius_server(
        "RADSEC_SERVER",
        Transport::Tls,
        nas_clients,
        Some(Duration::ZERO),
    );
    let http = b.http_server("HTTP_API", None);
    let backend = b.reverse_backend(
        "REV",
        "radsec",
        mode,
        select,
        vec![disconnect_query(Expr::str("mikem"))],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "HTTP",
        None,
        vec![Action::Backend(backend_call(backend, "REV", Some(0)))],
        None,
    );
    (Harness::new(b.build()), radsec, http)
}

fn fixture(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/fixtures/engine/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(path).unwrap())
}

#[test]
fn selection_by_peer_ip() {
    let select = accept_if(Condition::all(vec![Cond::eq(
        cf(ConnField::PeerIp),
        Expr::Literal(Value::Ip("10.9.0.1".parse().unwrap())),
    )]));
    let (mut h, radsec, http) = selection_world(select, SelectMode::First);
    let a = h.connect(
        radsec,
        addr([10, 9, 0, 2], 1),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    let b = h.connect(
        radsec,
        addr([10, 9, 0, 1], 2),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    h.http(http, "POST", "/d", &[]);
    assert!(h.requests_to(a).is_empty());
    assert_eq!(h.requests_to(b).len(), 1);
    assert_eq!(h.http_responses()[0].1, 200);
    h.assert_quiescent();
}

#[test]
fn selection_by_certificate_cn_and_san() {
    let cn = accept_if(Condition::all(vec![Cond::eq(
        cf(ConnField::CertSubjectCn),
        Expr::str("nas1"),
    )]));
    let (mut h, radsec, http) = selection_world(cn, SelectMode::First);
    let two = h.connect(
        radsec,
        addr([10, 9, 0, 2], 1),
        Transport::Tls,
        vec![fixture("nas2.der")],
        "radsec",
        NasMode::Ack,
    );
    let one = h.connect(
        radsec,
        addr([10, 9, 0, 1], 2),
        Transport::Tls,
        vec![fixture("nas1.der")],
        "radsec",
        NasMode::Ack,
    );
    h.http(http, "POST", "/d", &[]);
    assert!(h.requests_to(two).is_empty());
    assert_eq!(h.requests_to(one).len(), 1);

    let info = h.engine().connection(one).unwrap().info;
    let cert = info.cert.as_ref().unwrap();
    assert_eq!(cert.subject_cn.as_deref(), Some("nas1"));
    assert_eq!(
        cert.san_email,
        vec!["testUser@demo.open.com.au", "otherUser@demo.open.com.au"]
    );
    assert_eq!(cert.san_dns, vec!["testUser.demo.open.com.au"]);
    assert_eq!(cert.san_uri, vec!["https://testUser.demo.open.com.au"]);
    assert_eq!(
        cert.fingerprint.as_deref(),
        Some("4f7dfcf12875d726973584e2a401d2f8294d8b652c214e750f61c4954bb51487")
    );
    assert!(
        cert.issuer
            .as_deref()
            .unwrap()
            .contains("Boomerang Development CA")
    );

    // The seed's SAN conditions: email[1], dns, uri.
    let san = accept_if(Condition::all(vec![
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
    let (mut h, radsec, http) = selection_world(san, SelectMode::First);
    let two = h.connect(
        radsec,
        addr([10, 9, 0, 2], 1),
        Transport::Tls,
        vec![fixture("nas2.der")],
        "radsec",
        NasMode::Ack,
    );
    let one = h.connect(
        radsec,
        addr([10, 9, 0, 1], 2),
        Transport::Tls,
        vec![fixture("nas1.der")],
        "radsec",
        NasMode::Ack,
    );
    h.http(http, "POST", "/d", &[]);
    assert!(h.requests_to(two).is_empty());
    assert_eq!(h.requests_to(one).len(), 1);
    h.assert_quiescent();
}

#[test]
fn selection_through_a_database_lookup() {
    // @select { backend { name "SQL_BACKEND"; query "FIND_NAS_IDENTIFIER"; }
    //   if all { connection.status.nas_identifier == vars.nas_identifier; } then { accept; } else { reject; } }
    let mut b = ProgramBuilder::new();
    let nas_clients = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas-net", "10.0.0.0/8", None)],
    );
    let radsec = b.radius_server(
        "RADSEC_SERVER",
        Transport::Tls,
        nas_clients,
        Some(Duration::ZERO),
    );
    let http = b.http_server("HTTP_API", None);
    let sql = b.sqlite_backend(
        "SQL_BACKEND",
        vec![sql_query(
            "FIND_NAS_IDENTIFIER",
            "SELECT username, nas_identifier FROM users WHERE username = ?",
            vec![http_query("username")],
            vec![(Place::Vars("nas_identifier".into()), "nas_identifier")],
        )],
    );
    let select = Pipeline::new(vec![
        Action::Backend(backend_call(sql, "SQL_BACKEND", Some(0))),
        Action::if_then(
            Condition::all(vec![Cond::eq(
                cf(ConnField::StatusNasIdentifier),
                var(VarRef::Vars("nas_identifier".into())),
            )]),
            vec![Action::accept()],
            Some(vec![Action::reject()]),
        ),
    ]);
    let backend = b.reverse_backend(
        "REV",
        "radsec",
        SelectMode::First,
        select,
        vec![disconnect_query(http_query("username"))],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "HTTP",
        None,
        vec![Action::Backend(backend_call(backend, "REV", Some(0)))],
        None,
    );
    let mut h = Harness::new(b.build());
    h.set_sql(Box::new(|_stmt, params| {
        let user = match params.first() {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let nas = if user == "mikem" { "nas-b" } else { "nas-a" };
        Ok(SqlRows {
            columns: vec!["username".into(), "nas_identifier".into()],
            rows: vec![vec![Value::String(user), Value::String(nas.into())]],
        })
    }));
    let a = h.connect(
        radsec,
        addr([10, 9, 0, 1], 1),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    h.status(a, Some("nas-a"));
    let bconn = h.connect(
        radsec,
        addr([10, 9, 0, 2], 2),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    h.status(bconn, Some("nas-b"));
    h.http(http, "POST", "/d", &[("username", "mikem")]);
    assert!(h.requests_to(a).is_empty());
    assert_eq!(h.requests_to(bconn).len(), 1);
    // `first` runs @select once per candidate until one accepts: two lookups.
    assert_eq!(h.sql_log().len(), 2);
    assert_eq!(h.sql_log()[0].1, vec![Value::String("mikem".into())]);
    assert_eq!(h.http_responses()[0].1, 200);
    h.assert_quiescent();
}

#[test]
fn round_robin_spreads_requests_evenly() {
    let select = accept_if(Condition::all(vec![Cond::eq(
        cf(ConnField::StatusNasIdentifier),
        Expr::str("radiator-nas-simulator"),
    )]));
    let (mut h, radsec, http) = selection_world(select, SelectMode::RoundRobin);
    let mut conns = Vec::new();
    for i in 0..5u8 {
        let c = h.connect(
            radsec,
            addr([10, 9, 0, i + 1], 1),
            Transport::Tls,
            vec![],
            "radsec",
            NasMode::Ack,
        );
        h.status(c, Some("radiator-nas-simulator"));
        conns.push(c);
    }
    let odd = h.connect(
        radsec,
        addr([10, 9, 1, 1], 1),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    h.status(odd, Some("someone-else"));
    for _ in 0..103 {
        h.http(http, "POST", "/d", &[]);
    }
    let counts: Vec<usize> = conns.iter().map(|c| h.requests_to(*c).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 103);
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "uneven spread {counts:?}");
    assert!(h.requests_to(odd).is_empty());
    assert!(h.http_responses().iter().all(|r| r.1 == 200));
    h.assert_quiescent();
}

#[test]
fn quota_disconnect_goes_to_the_same_connection_after_the_accounting_response() {
    let mut b = ProgramBuilder::new();
    let nas_clients = b.clients(
        "NAS",
        ClientProtocol::Radius,
        vec![client("nas-net", "10.0.0.0/8", None)],
    );
    let radsec = b.radius_server(
        "RADSEC_SERVER",
        Transport::Tls,
        nas_clients,
        Some(Duration::ZERO),
    );
    let db = b.sqlite_backend(
        "SESSION_DATABASE",
        vec![sql_query(
            "QUOTA_CHECK",
            "SELECT (? + ?) > quota AS quota_exceeded FROM quotas WHERE session = ?",
            vec![
                req_attr_var(ACCT_INPUT_OCTETS),
                req_attr_var(ACCT_OUTPUT_OCTETS),
                req_attr_var(ACCT_SESSION_ID),
            ],
            vec![(Place::Vars("quota_exceeded".into()), "quota_exceeded")],
        )],
    );
    let current = b.reverse_backend(
        "CURRENT_CONNECTION",
        "radsec",
        SelectMode::First,
        accept_if(Condition::all(vec![Cond::eq(
            cf(ConnField::Id),
            var(VarRef::CurrentConnection(ConnField::Id)),
        )])),
        vec![boomerang_core::eval::query::RadiusQuery {
            name: "DISCONNECT_USER".into(),
            bindings: boomerang_core::eval::query::Bindings {
                assignments: vec![
                    assign(req_code(), code("DISCONNECT_REQUEST")),
                    assign(req_attr(ACCT_SESSION_ID), req_attr_var(ACCT_SESSION_ID)),
                ],
            },
            mapping: Default::default(),
        }],
        Duration::from_secs(5),
        0,
    );
    b.policy(
        "ACCOUNTING",
        Some(Condition::all(vec![Cond::eq(
            var(VarRef::RadiusCode(PacketRef::Request)),
            code("ACCOUNTING_REQUEST"),
        )])),
        vec![
            Action::accept(),
            Action::Reply,
            Action::Backend(backend_call(db, "SESSION_DATABASE", Some(0))),
            Action::if_then(
                Condition::all(vec![Cond::eq(
                    var(VarRef::Vars("quota_exceeded".into())),
                    Expr::Literal(Value::Bool(true)),
                )]),
                vec![Action::Backend(backend_call(
                    current,
                    "CURRENT_CONNECTION",
                    Some(0),
                ))],
                None,
            ),
        ],
        None,
    );
    let mut h = Harness::new(b.build());
    h.set_sql(Box::new(|_, params| {
        let total: i128 = params
            .iter()
            .take(2)
            .map(|v| match v {
                Value::Integer(i) => *i,
                _ => 0,
            })
            .sum();
        Ok(SqlRows {
            columns: vec!["quota_exceeded".into()],
            rows: vec![vec![Value::Integer(i128::from(total > 1000))]],
        })
    }));
    let other = h.connect(
        radsec,
        addr([10, 9, 0, 1], 1),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    let conn = h.connect(
        radsec,
        addr([10, 9, 0, 2], 1),
        Transport::Tls,
        vec![],
        "radsec",
        NasMode::Ack,
    );
    let interim = |input: u32, session: &str| -> Vec<(u8, Vec<u8>)> {
        vec![
            (ACCT_STATUS_TYPE, 3u32.to_be_bytes().to_vec()),
            (ACCT_SESSION_ID, session.as_bytes().to_vec()),
            (ACCT_INPUT_OCTETS, input.to_be_bytes().to_vec()),
            (ACCT_OUTPUT_OCTETS, 100u32.to_be_bytes().to_vec()),
        ]
    };
    // Under quota: acknowledged, nothing else.
    let data = h
        .nas_mut(conn)
        .request(Code::AccountingRequest, &interim(10, "s-1"))
        .unwrap();
    h.send_raw(conn, data);
    assert_eq!(h.nas(conn).replies.len(), 1);
    assert!(h.requests_to(conn).is_empty());
    // Over quota: Accounting-Response first, then the Disconnect-Request, on the same connection.
    let data = h
        .nas_mut(conn)
        .request(Code::AccountingRequest, &interim(5000, "s-2"))
        .unwrap();
    h.send_raw(conn, data);
    let on_conn: Vec<Code> = h
        .writes()
        .iter()
        .filter(|(c, _)| *c == conn)
        .map(|(_, p)| p.code)
        .collect();
    assert_eq!(
        on_conn,
        vec![
            Code::AccountingResponse,
            Code::AccountingResponse,
            Code::DisconnectRequest
        ]
    );
    let dm = h.requests_to(conn)[0].clone();
    assert_eq!(dm.first_value(ACCT_SESSION_ID).unwrap().as_ref(), b"s-2");
    assert!(h.requests_to(other).is_empty());
    assert_eq!(h.nas(conn).replies.len(), 2);
    assert_eq!(h.nas(conn).replies[1].code, Code::AccountingResponse);
    h.assert_quiescent();
}
