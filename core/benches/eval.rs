//! Interpreter benchmarks:
//! (a) a typical `@select` condition — `connection.status.nas_identifier ==
//!     radius.request.attr.NAS-Identifier` — evaluated for one candidate;
//! (b) a 20-action `@execute` mixing modify, if and conditions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use boomerang_core::contract::Transport;
use boomerang_core::eval::context::{
    AttrBag, ConnectionInfo, Context, RadiusRequest, SimpleSchema,
};
use boomerang_core::eval::ir::{
    Action, AssignOp, Assignment, Cond, Condition, ConnField, Expr, Library, PacketRef, Pipeline,
    Place, Template, TemplatePart, VarRef,
};
use boomerang_core::eval::machine::{Machine, Outcome, Step};
use boomerang_core::eval::select::{SelectRun, SelectStep, Verdict};
use boomerang_core::radius::id::{AttrId, DataType};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const USER_NAME: AttrId = AttrId::Standard(1);
const FILTER_ID: AttrId = AttrId::Standard(11);
const NAS_IDENTIFIER: AttrId = AttrId::Standard(32);
const SESSION_TIMEOUT: AttrId = AttrId::Standard(27);

fn context() -> Context {
    let schema = SimpleSchema::new()
        .attr(USER_NAME, "User-Name", DataType::String)
        .attr(FILTER_ID, "Filter-Id", DataType::String)
        .attr(NAS_IDENTIFIER, "NAS-Identifier", DataType::String)
        .attr(SESSION_TIMEOUT, "Session-Timeout", DataType::Integer);
    let mut attrs = AttrBag::new();
    attrs.push(USER_NAME, b"mikem@example.com".to_vec());
    attrs.push(NAS_IDENTIFIER, b"radiator-nas-simulator".to_vec());
    Context::radius(
        Arc::new(schema),
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        RadiusRequest { code: 1, attrs },
    )
}

fn candidate() -> Arc<ConnectionInfo> {
    Arc::new(ConnectionInfo {
        id: 42,
        client_name: "nas".into(),
        peer_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)), 40000),
        server_name: "RADSEC_SERVER".into(),
        server_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2083),
        transport: Transport::Tls,
        connected: UNIX_EPOCH,
        disconnected: None,
        status_received: None,
        status_nas_identifier: Some("radiator-nas-simulator".into()),
        last_heard: None,
        healthy: true,
        cert: None,
    })
}

fn select_pipeline() -> Arc<Pipeline> {
    Pipeline::new(vec![Action::if_then(
        Condition::all(vec![Cond::eq(
            Expr::Var(VarRef::Connection(ConnField::StatusNasIdentifier)),
            Expr::Var(VarRef::request_attr(NAS_IDENTIFIER)),
        )]),
        vec![Action::accept()],
        Some(vec![Action::reject()]),
    )])
}

fn execute_pipeline() -> Arc<Pipeline> {
    let set = |name: &str, v: Expr| Action::set(Place::Vars(name.into()), v);
    let user = || Expr::Var(VarRef::request_attr(USER_NAME));
    let is_user = |s: &str| Condition::all(vec![Cond::eq(user(), Expr::str(s))]);
    let mut actions = Vec::new();
    for i in 0..5 {
        actions.push(set(&format!("v{i}"), Expr::int(i)));
        actions.push(Action::if_then(
            is_user("mikem@example.com"),
            vec![set(&format!("hit{i}"), user())],
            Some(vec![Action::reject()]),
        ));
        actions.push(Action::Modify(vec![Assignment {
            place: Place::RadiusAttr {
                packet: PacketRef::Reply,
                attr: FILTER_ID,
            },
            op: AssignOp::Set,
            value: Expr::Template(Template {
                parts: vec![
                    TemplatePart::Text("group-".into()),
                    TemplatePart::Expr(Expr::Var(VarRef::Vars(format!("v{i}")))),
                ],
            }),
        }]));
        actions.push(Action::if_then(
            Condition::any(vec![
                Cond::eq(
                    Expr::Var(VarRef::RadiusCode(PacketRef::Request)),
                    Expr::int(4),
                ),
                Cond::ne(Expr::Var(VarRef::Vars(format!("v{i}"))), Expr::int(99)),
            ]),
            vec![Action::set(
                Place::RadiusAttr {
                    packet: PacketRef::Reply,
                    attr: SESSION_TIMEOUT,
                },
                Expr::int(3600),
            )],
            None,
        ));
    }
    actions.push(Action::accept());
    assert_eq!(actions.len(), 21);
    Pipeline::new(actions)
}

fn benches(c: &mut Criterion) {
    let ctx = context();
    let conn = candidate();
    let library = Arc::new(Library::default());
    let select = select_pipeline();
    c.bench_function("select_condition_one_candidate", |b| {
        b.iter(|| {
            let mut run = SelectRun::new(select.clone(), library.clone(), conn.clone());
            let step = run.start(&ctx);
            assert_eq!(step, SelectStep::Done(Verdict::Selected));
        })
    });

    let execute = execute_pipeline();
    c.bench_function("execute_20_actions", |b| {
        b.iter_batched_ref(
            context,
            |ctx| {
                let mut m = Machine::new(execute.clone(), library.clone());
                assert_eq!(m.start(ctx), Step::Done(Outcome::Accept));
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(eval, benches);
criterion_main!(eval);
