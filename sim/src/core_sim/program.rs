//! The program the core simulation runs: a RadSec listener for the NAS fleet, an
//! HTTP trigger and a UDP trigger, each calling a reverse backend that selects the
//! connection by NAS-Identifier (the seeds' shape, so the `@select` index applies).
//!
//! Built as IR directly, like the engine tests do, until configuration text can be
//! compiled.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::eval::ir::{
    Action, AssignOp, Assignment, BackendCall, BackendId, Cond, Condition, ConnField, Expr,
    HttpField, Library, PacketRef, Pipeline, Place, QueryId, Template, TemplatePart, VarRef,
    radius_code_constant,
};
use boomerang_core::eval::policy::{Handler, Policy};
use boomerang_core::eval::query::{Bindings, Mapping, RadiusQuery};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::eval::value::IpPrefix;
use boomerang_core::lang::program::{
    Backend, BackendKind, Client, ClientList, ClientListId, ClientProtocol, HttpServer, Logging,
    Management, NetworkListen, Program, RadiusBackend, RadiusListen, RadiusServer, RadiusServerDef,
    RadiusServerMode, Reverse, Server, ServerKind,
};
use boomerang_core::lang::span::Span;
use boomerang_core::radius::dictionary::Dictionary;
use boomerang_core::radius::id::AttrId;

/// The shared secret of the UDP trigger client.
pub const DAC_SECRET: &str = "sim-dac";
/// What a simulated NAS presents as its client certificate: a chain the driver
/// verified (the seeds' RadSec server requires one), which proves the connection at
/// once. Its content is not a certificate: the simulated `@select` reads none.
pub const NAS_CERTIFICATE: &[u8] = b"a verified client certificate chain";
/// The RadSec server (NAS connections).
pub const RADSEC: ServerId = ServerId(0);
/// The HTTP trigger server.
pub const HTTP: ServerId = ServerId(1);
/// The UDP trigger server.
pub const UDP: ServerId = ServerId(2);

fn assign(place: Place, value: Expr) -> Assignment {
    Assignment {
        place,
        op: AssignOp::Set,
        value,
    }
}

fn client(name: &str, ip: IpAddr, len: u8, secret: Option<&str>) -> Client {
    Client {
        name: name.into(),
        sources: IpPrefix::new(ip, len).into_iter().collect(),
        secret: secret.map(str::to_owned),
        timeout: None,
        require_message_authenticator: false,
        limit_proxy_state: false,
        nas_identifier_binding: Default::default(),
    }
}

fn network(protocol: Transport, port: u16, timeout: Option<Duration>) -> RadiusListen {
    RadiusListen::Network(NetworkListen {
        protocol,
        port,
        ips: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
        timeout,
        keepalive: None,
        receive_buffer: None,
        tls: None,
        liveness: Default::default(),
        limits: Default::default(),
    })
}

fn reverse_backend(
    name: &str,
    mode: SelectMode,
    nas: Expr,
    query: RadiusQuery,
    timeout: Duration,
    retries: u32,
) -> Backend {
    let select = Pipeline::new(vec![Action::if_then(
        Condition::all(vec![
            Cond::eq(
                Expr::Var(VarRef::Connection(ConnField::ServerName)),
                Expr::str("RADSEC_SERVER"),
            ),
            Cond::eq(
                Expr::Var(VarRef::Connection(ConnField::StatusNasIdentifier)),
                nas,
            ),
        ]),
        vec![Action::accept()],
        Some(vec![Action::reject()]),
    )]);
    Backend {
        name: name.into(),
        span: Span::DUMMY,
        kind: BackendKind::Radius(RadiusBackend {
            server_selection: Default::default(),
            servers: vec![RadiusServerDef {
                name: "REVERSE".into(),
                secret: "radsec".into(),
                timeout,
                retries,
                status: false,
                status_interval: Duration::from_secs(15),
                nas_identifier: None,
                priority: 0,
                mode: RadiusServerMode::Reverse(Reverse { mode, select }),
            }],
            queries: vec![query],
        }),
    }
}

fn call(backend: u32, name: &str) -> Action {
    Action::Backend(BackendCall {
        backend: BackendId(backend),
        query: Some(QueryId(0)),
        backend_name: name.into(),
        query_name: None,
    })
}

/// The simulation's program: `@select` mode, reverse timeout and retries as given.
pub fn sim_program(mode: SelectMode, timeout: Duration, retries: u32) -> Arc<Program> {
    let http_query = |k: &str| Expr::Var(VarRef::Http(HttpField::Query(k.into())));
    let code = |n: &str| {
        Expr::Literal(radius_code_constant(n).unwrap_or(boomerang_core::eval::value::Value::None))
    };
    let disconnect = RadiusQuery {
        name: "DISCONNECT_USER".into(),
        bindings: Bindings {
            assignments: vec![
                assign(
                    Place::RadiusCode(PacketRef::Request),
                    code("DISCONNECT_REQUEST"),
                ),
                assign(
                    Place::RadiusAttr {
                        packet: PacketRef::Request,
                        attr: AttrId::Standard(1),
                    },
                    Expr::Template(Template {
                        parts: vec![TemplatePart::Expr(http_query("user"))],
                    }),
                ),
                assign(
                    Place::RadiusAttr {
                        packet: PacketRef::Request,
                        attr: AttrId::Standard(32),
                    },
                    http_query("nas"),
                ),
            ],
        },
        mapping: Mapping::default(),
    };
    let proxy = RadiusQuery {
        name: "PROXY_QUERY".into(),
        bindings: Bindings {
            assignments: vec![
                assign(
                    Place::RadiusCode(PacketRef::Request),
                    Expr::Var(VarRef::RadiusCode(PacketRef::Request)),
                ),
                assign(
                    Place::RadiusAttrs(PacketRef::Request),
                    Expr::Var(VarRef::RadiusAttrs(PacketRef::Request)),
                ),
            ],
        },
        mapping: Mapping {
            assignments: vec![
                assign(
                    Place::RadiusCode(PacketRef::Reply),
                    Expr::Var(VarRef::RadiusCode(PacketRef::Reply)),
                ),
                assign(
                    Place::RadiusAttrs(PacketRef::Reply),
                    Expr::Var(VarRef::RadiusAttrs(PacketRef::Reply)),
                ),
            ],
        },
    };
    let request_nas = Expr::Var(VarRef::request_attr(AttrId::Standard(32)));
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let program = Program {
        dictionary: Arc::new(Dictionary::builtin().clone()),
        certificates: Vec::new(),
        client_lists: vec![
            ClientList {
                name: "NAS_FLEET".into(),
                protocol: ClientProtocol::Radius,
                clients: vec![client("fleet", any4, 0, None)],
                span: Span::DUMMY,
            },
            ClientList {
                name: "DAC".into(),
                protocol: ClientProtocol::Radius,
                clients: vec![client(
                    "dac",
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    32,
                    Some(DAC_SECRET),
                )],
                span: Span::DUMMY,
            },
        ],
        servers: vec![
            Server {
                name: "RADSEC_SERVER".into(),
                span: Span::DUMMY,
                kind: ServerKind::Radius(RadiusServer {
                    listen: network(Transport::Tls, 2083, Some(Duration::ZERO)),
                    clients: Some(ClientListId(0)),
                    policy: None,
                }),
            },
            Server {
                name: "HTTP_API".into(),
                span: Span::DUMMY,
                kind: ServerKind::Http(HttpServer {
                    ips: vec![any4],
                    port: 4000,
                    clients: None,
                    tls: None,
                    policy: None,
                    limits: Default::default(),
                    header_timeout: None,
                    idle_timeout: None,
                }),
            },
            Server {
                name: "RADIUS_UDP".into(),
                span: Span::DUMMY,
                kind: ServerKind::Radius(RadiusServer {
                    listen: network(Transport::Udp, 3799, None),
                    clients: Some(ClientListId(1)),
                    policy: None,
                }),
            },
        ],
        backends: vec![
            reverse_backend(
                "HTTP_REVERSE",
                mode,
                http_query("nas"),
                disconnect,
                timeout,
                retries,
            ),
            reverse_backend("UDP_REVERSE", mode, request_nas, proxy, timeout, retries),
        ],
        policies: vec![
            Policy {
                name: "HTTP_POLICY".into(),
                conditions: Some(Condition::all(vec![Cond::eq(
                    Expr::Var(VarRef::Http(HttpField::Server)),
                    Expr::str("HTTP_API"),
                )])),
                handlers: vec![Handler {
                    name: "DISCONNECT".into(),
                    conditions: None,
                    execute: Some(Pipeline::new(vec![call(0, "HTTP_REVERSE")])),
                    final_execute: None,
                }],
            },
            Policy {
                name: "PROXY_POLICY".into(),
                conditions: Some(Condition::all(vec![Cond::eq(
                    Expr::Var(VarRef::RadiusServer),
                    Expr::str("RADIUS_UDP"),
                )])),
                handlers: vec![Handler {
                    name: "PROXY".into(),
                    conditions: None,
                    execute: Some(Pipeline::new(vec![call(1, "UDP_REVERSE")])),
                    final_execute: None,
                }],
            },
        ],
        library: Arc::new(Library::default()),
        management: Management::default(),
        logging: Logging::default(),
        cluster: None,
    };
    Arc::new(program)
}
