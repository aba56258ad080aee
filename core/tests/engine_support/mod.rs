//! Shared helpers for the engine tests: `Program`s built by hand (kept in one place
//! so that they can be replaced by compiled configuration text later), signed DAC
//! requests, and a [`Harness`]: one engine in the shared test network
//! (`boomerang_core::testnet`), which plays the driver — simulated NASes, the UDP
//! and HTTP clients, the SQL responder — and records every output.
#![allow(dead_code)]

#[path = "../ir_support/mod.rs"]
mod ir_support;
#[allow(unused_imports)] // not every test uses the IR builders
pub use ir_support::*;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use boomerang_core::contract::{DropReason, Event, NasIdentifierClaim, ReverseStep};
use boomerang_core::contract::{ServerId, Transport};
use boomerang_core::engine::{
    ConnId, Engine, EngineOptions, HttpRequestId, Input, Limits, Now, Output,
};
use boomerang_core::eval::ir::{
    Action, AssignOp, BackendCall, BackendId, Cond, Condition, ConnField, Expr, HttpField, Library,
    Pipeline, Place, QueryId, VarRef,
};
use boomerang_core::eval::policy::{Handler, Policy};
use boomerang_core::eval::query::{Bindings, Mapping, RadiusQuery, SqlAssign, SqlQuery};
use boomerang_core::eval::select::SelectMode;
use boomerang_core::eval::value::{IpPrefix, Value};
use boomerang_core::lang::program::{
    Backend, BackendKind, Client, ClientList, ClientListId, ClientProtocol, HttpServer, Logging,
    Management, NetworkListen, Program, RadiusBackend, RadiusListen, RadiusServer, RadiusServerDef,
    RadiusServerMode, Reverse, Server, ServerKind, SqliteBackend,
};
use boomerang_core::lang::span::Span;
use boomerang_core::radius::auth::{VerifyPolicy, verify_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::dictionary::Dictionary;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;
pub use boomerang_core::testnet::{
    Clock, Ctx, Nas, NasMode, NasSpec, Net, NetError, NodeId, Observer, SqlFn, seeded_request,
};

pub const USER_NAME: u8 = 1;
pub const NAS_IDENTIFIER: u8 = 32;
pub const PROXY_STATE: u8 = 33;
pub const ACCT_STATUS_TYPE: u8 = 40;
pub const ACCT_INPUT_OCTETS: u8 = 42;
pub const ACCT_OUTPUT_OCTETS: u8 = 43;
pub const ACCT_SESSION_ID: u8 = 44;
pub const EVENT_TIMESTAMP: u8 = 55;
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
pub const ERROR_CAUSE: u8 = 101;

// ---------------------------------------------------------------------------
// IR building blocks (the common ones: `ir_support`)

pub fn backend_call(id: BackendId, name: &str, query: Option<u32>) -> BackendCall {
    BackendCall {
        backend: id,
        query: query.map(QueryId),
        backend_name: name.to_owned(),
        query_name: None,
    }
}

/// `query "DISCONNECT_USER"` with `User-Name = <expr>`.
pub fn disconnect_query(user: Expr) -> RadiusQuery {
    RadiusQuery {
        name: "DISCONNECT_USER".into(),
        bindings: Bindings {
            assignments: vec![
                assign(req_code(), code("DISCONNECT_REQUEST")),
                assign(req_attr(USER_NAME), user),
            ],
        },
        mapping: Mapping::default(),
    }
}

/// `@select { if all { connection.server_name == SERVER;
///   connection.status.nas_identifier == <expr>; } then { accept; } else { reject; } }`
pub fn select_nas_identifier(server: &str, nas: Expr) -> Arc<Pipeline> {
    accept_if(Condition::all(vec![
        Cond::eq(cf(ConnField::ServerName), Expr::str(server)),
        Cond::eq(cf(ConnField::StatusNasIdentifier), nas),
    ]))
}

pub fn http_query(name: &str) -> Expr {
    var(VarRef::Http(HttpField::Query(name.into())))
}

// ---------------------------------------------------------------------------
// Programs

pub fn prefix(s: &str) -> IpPrefix {
    let (ip, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = ip.parse().unwrap();
    let len = if len.is_empty() {
        IpPrefix::max_len(&ip)
    } else {
        len.parse().unwrap()
    };
    IpPrefix::new(ip, len).unwrap()
}

pub fn client(name: &str, source: &str, secret: Option<&str>) -> Client {
    Client {
        name: name.into(),
        sources: vec![prefix(source)],
        secret: secret.map(str::to_owned),
        timeout: None,
        require_message_authenticator: false,
        limit_proxy_state: false,
        nas_identifier_binding: Default::default(),
    }
}

/// Builds `Program`s field by field.
pub struct ProgramBuilder {
    pub program: Program,
}

impl ProgramBuilder {
    pub fn new() -> Self {
        ProgramBuilder {
            program: Program {
                dictionary: Arc::new(Dictionary::builtin().clone()),
                certificates: Vec::new(),
                client_lists: Vec::new(),
                servers: Vec::new(),
                backends: Vec::new(),
                policies: Vec::new(),
                library: Arc::new(Library::default()),
                management: Management::default(),
                logging: Logging::default(),
                cluster: None,
            },
        }
    }

    pub fn clients(
        &mut self,
        name: &str,
        protocol: ClientProtocol,
        clients: Vec<Client>,
    ) -> ClientListId {
        self.program.client_lists.push(ClientList {
            name: name.into(),
            protocol,
            clients,
            span: Span::DUMMY,
        });
        ClientListId(self.program.client_lists.len() as u32 - 1)
    }

    pub fn radius_server(
        &mut self,
        name: &str,
        protocol: Transport,
        clients: ClientListId,
        timeout: Option<Duration>,
    ) -> ServerId {
        self.program.servers.push(Server {
            name: name.into(),
            span: Span::DUMMY,
            kind: ServerKind::Radius(RadiusServer {
                listen: RadiusListen::Network(NetworkListen {
                    protocol,
                    port: 2083,
                    ips: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
                    timeout,
                    keepalive: None,
                    receive_buffer: None,
                    tls: None,
                    liveness: Default::default(),
                    limits: Default::default(),
                }),
                clients: Some(clients),
                policy: None,
            }),
        });
        ServerId(self.program.servers.len() as u32 - 1)
    }

    pub fn http_server(&mut self, name: &str, clients: Option<ClientListId>) -> ServerId {
        self.program.servers.push(Server {
            name: name.into(),
            span: Span::DUMMY,
            kind: ServerKind::Http(HttpServer {
                ips: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
                port: 4000,
                clients,
                tls: None,
                policy: None,
                limits: Default::default(),
                header_timeout: None,
                idle_timeout: None,
            }),
        });
        ServerId(self.program.servers.len() as u32 - 1)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn reverse_backend(
        &mut self,
        name: &str,
        secret: &str,
        mode: SelectMode,
        select: Arc<Pipeline>,
        queries: Vec<RadiusQuery>,
        timeout: Duration,
        retries: u32,
    ) -> BackendId {
        self.program.backends.push(Backend {
            name: name.into(),
            span: Span::DUMMY,
            kind: BackendKind::Radius(RadiusBackend {
                server_selection: Default::default(),
                servers: vec![RadiusServerDef {
                    name: "REVERSE".into(),
                    secret: secret.into(),
                    timeout,
                    retries,
                    status: false,
                    status_interval: Duration::from_secs(15),
                    nas_identifier: None,
                    priority: 0,
                    mode: RadiusServerMode::Reverse(Reverse { mode, select }),
                }],
                queries,
            }),
        });
        BackendId(self.program.backends.len() as u32 - 1)
    }

    pub fn sqlite_backend(&mut self, name: &str, queries: Vec<SqlQuery>) -> BackendId {
        self.program.backends.push(Backend {
            name: name.into(),
            span: Span::DUMMY,
            kind: BackendKind::Sqlite(SqliteBackend {
                path: ":memory:".into(),
                busy_timeout: Duration::from_secs(1),
                queries,
            }),
        });
        BackendId(self.program.backends.len() as u32 - 1)
    }

    /// A policy with one handler running `execute` (and optional final).
    pub fn policy(
        &mut self,
        name: &str,
        conditions: Option<Condition>,
        execute: Vec<Action>,
        final_execute: Option<Vec<Action>>,
    ) {
        self.program.policies.push(Policy {
            name: name.into(),
            conditions,
            handlers: vec![Handler {
                name: format!("{name}_HANDLER"),
                conditions: None,
                execute: Some(Pipeline::new(execute)),
                final_execute: final_execute.map(Pipeline::new),
            }],
        });
    }

    pub fn build(self) -> Arc<Program> {
        Arc::new(self.program)
    }
}

pub fn sql_query(
    name: &str,
    statement: &str,
    params: Vec<Expr>,
    mapping: Vec<(Place, &str)>,
) -> SqlQuery {
    SqlQuery {
        name: name.into(),
        statement: statement.into(),
        params,
        mapping: mapping
            .into_iter()
            .map(|(place, column)| SqlAssign {
                place,
                op: AssignOp::Set,
                column: column.into(),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Addresses

pub fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
}

pub fn server_addr() -> SocketAddr {
    addr([10, 0, 0, 1], 2083)
}

// ---------------------------------------------------------------------------
// Triggers

/// A Disconnect/CoA request from a UDP DAC, signed with `secret`.
pub fn dac_request(code: Code, id: u8, attrs: &[(u8, Vec<u8>)], secret: &str) -> Packet {
    let attrs: Vec<(u8, &[u8])> = attrs.iter().map(|(t, v)| (*t, v.as_slice())).collect();
    seeded_request(code, id, &attrs, secret, u64::from(id))
        .expect("the DAC request signs")
        .0
}

pub fn encode(p: &Packet) -> Bytes {
    p.encode().unwrap()
}

// ---------------------------------------------------------------------------
// Harness

/// Checks that every stream write of the engine is one whole packet.
#[derive(Default)]
pub struct WholePackets;

impl Observer for WholePackets {
    fn output(&mut self, _: &mut Ctx<'_>, _: NodeId, out: &Output) -> Result<(), String> {
        if let Output::StreamWrite { data, .. } = out {
            Packet::decode(data.clone())
                .map_err(|e| format!("the engine wrote a partial or bad packet: {e}"))?;
        }
        Ok(())
    }
}

pub fn engine_with(program: Arc<Program>, limits: Limits) -> Engine {
    Engine::new(
        program,
        EngineOptions {
            rng: Box::new(SplitMix64::new(42)),
            env: BTreeMap::new(),
            limits,
        },
    )
}

/// One engine in the shared test network ([`Net`]), every output recorded, and
/// the calls the engine tests make (each runs the network until nothing moves;
/// a broken expectation of a peer panics with its message).
pub struct Harness {
    pub net: Net<WholePackets>,
    pub node: NodeId,
}

fn ok<T>(r: Result<T, NetError>) -> T {
    r.unwrap_or_else(|e| panic!("test network: {e}"))
}

impl Harness {
    pub fn new(program: Arc<Program>) -> Self {
        Self::with_limits(program, Limits::default())
    }

    pub fn with_limits(program: Arc<Program>, limits: Limits) -> Self {
        let mut net = Net::with_observer(Clock::new(Instant::now()), WholePackets);
        net.record(true);
        let node = net.add(engine_with(program, limits));
        Harness { net, node }
    }

    pub fn engine(&self) -> &Engine {
        self.net.engine(self.node)
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        self.net.engine_mut(self.node)
    }

    pub fn now(&self) -> Now {
        self.net.now()
    }

    pub fn elapsed(&self) -> Duration {
        self.net.elapsed()
    }

    /// Feed an input and run the world until nothing moves.
    pub fn input(&mut self, input: Input) {
        let node = self.node;
        ok(self.net.handle(node, input));
    }

    /// Carry outputs until quiescent.
    pub fn settle(&mut self) {
        ok(self.net.settle());
    }

    /// Advance the clock, firing timers on the way.
    pub fn advance(&mut self, d: Duration) {
        ok(self.net.advance(d));
    }

    /// Answer SQL with `f`.
    pub fn set_sql(&mut self, f: SqlFn) {
        self.net.set_sql(Some(f));
    }

    /// SQL statements run: (statement, params).
    pub fn sql_log(&mut self) -> &[(String, Vec<Value>)] {
        &self.net.sql().log
    }

    /// The NAS on `conn`; panics if it is gone.
    pub fn nas(&self, conn: ConnId) -> &Nas {
        self.net
            .nas(self.node, conn)
            .unwrap_or_else(|| panic!("no NAS on {conn}"))
    }

    pub fn nas_mut(&mut self, conn: ConnId) -> &mut Nas {
        let node = self.node;
        self.net
            .nas_mut(node, conn)
            .unwrap_or_else(|| panic!("no NAS on {conn}"))
    }

    pub fn has_nas(&self, conn: ConnId) -> bool {
        self.net.nas(self.node, conn).is_some()
    }

    /// Open a stream connection from `peer` (a NAS answering in `mode`).
    pub fn connect(
        &mut self,
        server: ServerId,
        peer: SocketAddr,
        transport: Transport,
        certs: Vec<Bytes>,
        secret: &str,
        mode: NasMode,
    ) -> ConnId {
        let node = self.node;
        let spec = NasSpec {
            transport,
            certificates: certs,
            seed: 0x5eed,
            ..NasSpec::new(server, peer, secret, mode)
        };
        ok(self.net.connect_nas(node, spec))
    }

    /// A NAS at 10.0.0.`last`:2000 on the TLS server `server` (secret "radsec"),
    /// answering in `mode`, that names itself `name` with a Status-Server.
    pub fn nas_named(&mut self, server: ServerId, last: u8, name: &str, mode: NasMode) -> ConnId {
        let c = self.connect(
            server,
            addr([10, 0, 0, last], 2000),
            Transport::Tls,
            vec![],
            "radsec",
            mode,
        );
        self.status(c, Some(name));
        c
    }

    /// The HTTP trigger `POST /disconnect?nas=NAME&user=mikem` on `server`.
    pub fn disconnect(&mut self, server: ServerId, name: &str) -> HttpRequestId {
        self.http(
            server,
            "POST",
            "/disconnect",
            &[("nas", name), ("user", "mikem")],
        )
    }

    /// The NAS on `conn` sends Status-Server.
    pub fn status(&mut self, conn: ConnId, nas_identifier: Option<&str>) {
        let node = self.node;
        ok(self.net.nas_status(node, conn, nas_identifier));
    }

    /// The NAS on `conn` sends raw bytes.
    pub fn send_raw(&mut self, conn: ConnId, data: Bytes) {
        self.input(Input::StreamData { conn, data });
    }

    /// The NAS on `conn` answers its oldest held request.
    pub fn answer_held(&mut self, conn: ConnId, ack: bool) -> bool {
        let node = self.node;
        if self.net.nas(node, conn).is_none() {
            return false;
        }
        ok(self.net.nas_answer_held(node, conn, ack))
    }

    /// The NAS's connection fails (a reset, a stale connection timing out).
    pub fn close(&mut self, conn: ConnId) {
        let node = self.node;
        ok(self.net.nas_close(node, conn));
    }

    /// The NAS closes its connection in order (FIN, close_notify).
    pub fn close_orderly(&mut self, conn: ConnId) {
        let node = self.node;
        ok(self.net.nas_close_orderly(node, conn));
    }

    pub fn datagram(&mut self, server: ServerId, peer: SocketAddr, data: Bytes) {
        self.datagram_to(server, peer, addr([10, 0, 0, 1], 1812), data);
    }

    /// A datagram to UDP server `server` arriving at its local address `local`.
    pub fn datagram_to(
        &mut self,
        server: ServerId,
        peer: SocketAddr,
        local: SocketAddr,
        data: Bytes,
    ) {
        let node = self.node;
        ok(self.net.datagram(node, server, peer, local, data));
    }

    pub fn http(
        &mut self,
        server: ServerId,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> HttpRequestId {
        let node = self.node;
        ok(self.net.http(
            node,
            server,
            addr([127, 0, 0, 1], 50000),
            method,
            path,
            query,
        ))
    }

    /// Everything the engine output but stream writes, in order.
    pub fn out(&self) -> Vec<Output> {
        self.net
            .passed()
            .iter()
            .filter(|p| !matches!(p.output, Output::StreamWrite { .. }))
            .map(|p| p.output.clone())
            .collect()
    }

    /// How many times the engine reported `step` of the reverse path.
    pub fn steps(&self, step: ReverseStep) -> usize {
        self.count(|e| *e == Event::Reverse(step))
    }

    /// How many events the engine reported that `which` is true of.
    pub fn count(&self, which: impl Fn(&Event) -> bool) -> usize {
        self.net.count_reported(self.node, which)
    }

    /// Every event the engine reported (its observations for metrics), in order.
    pub fn events(&self) -> Vec<Event> {
        self.net
            .reported()
            .iter()
            .map(|r| r.event.clone())
            .collect()
    }

    /// Every stream write, in order: (connection, packet).
    pub fn writes(&self) -> Vec<(ConnId, Packet)> {
        self.net
            .passed()
            .iter()
            .filter_map(|p| match &p.output {
                Output::StreamWrite { conn, data } => Some((
                    *conn,
                    Packet::decode(data.clone()).expect("engine writes whole packets"),
                )),
                _ => None,
            })
            .collect()
    }

    /// Datagrams sent, in order.
    pub fn datagrams(&self) -> Vec<Bytes> {
        self.out()
            .into_iter()
            .filter_map(|o| match o {
                Output::SendDatagram { data, .. } => Some(data),
                _ => None,
            })
            .collect()
    }

    /// HTTP responses: (id, status, body as JSON).
    pub fn http_responses(&self) -> Vec<(HttpRequestId, u16, serde_json::Value)> {
        self.out()
            .into_iter()
            .filter_map(|o| match o {
                Output::HttpResponse {
                    id, status, body, ..
                } => Some((
                    id,
                    status,
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                )),
                _ => None,
            })
            .collect()
    }

    /// Stream closes the engine asked for.
    pub fn closes(&self) -> Vec<ConnId> {
        self.out()
            .into_iter()
            .filter_map(|o| match o {
                Output::StreamClose { conn, .. } => Some(conn),
                _ => None,
            })
            .collect()
    }

    /// Writes of server requests (not replies) to `conn`.
    pub fn requests_to(&self, conn: ConnId) -> Vec<Packet> {
        self.writes()
            .into_iter()
            .filter(|(c, p)| *c == conn && p.code.is_request())
            .map(|(_, p)| p)
            .collect()
    }

    /// Requests written to any connection.
    pub fn all_requests(&self) -> Vec<(ConnId, Packet)> {
        self.writes()
            .into_iter()
            .filter(|(_, p)| p.code.is_request())
            .collect()
    }

    /// Panics if the engine's internal cross-references are broken.
    pub fn check(&self) {
        if let Err(e) = self.engine().check_invariants() {
            panic!("engine invariant broken: {e}");
        }
    }

    /// All work done: no task, no pending reverse request, no SQL, no timer but
    /// idle timers of open connections.
    pub fn assert_quiescent(&self) {
        self.check();
        let c = self.engine().counts();
        assert_eq!(c.tasks, 0, "tasks left: {c:?}");
        assert_eq!(c.sql_pending, 0, "{c:?}");
        assert_eq!(c.reverse_in_flight, 0, "{c:?}");
        assert_eq!(c.reverse_queued, 0, "{c:?}");
        assert_eq!(c.duplicate_in_flight, 0, "{c:?}");
    }
}

pub fn verified_reply(data: &Bytes, request: &Packet, secret: &str) -> Packet {
    let p = Packet::decode(data.clone()).unwrap();
    verify_response(
        &p,
        &request.authenticator,
        secret.as_bytes(),
        &VerifyPolicy::default(),
    )
    .expect("reply verifies with the client's secret");
    p
}

/// The secret of the UDP trigger client (`dac` at 127.0.0.1) in [`ReverseWorld`].
pub const DAC_SECRET: &str = "dac";

/// How to build a [`ReverseWorld`].
#[derive(Debug, Clone)]
pub struct ReverseSpec {
    /// The reverse servers' request timeout.
    pub timeout: Duration,
    /// The reverse servers' `retries`.
    pub retries: u32,
    /// `@select first` or `round-robin`.
    pub mode: SelectMode,
    /// The engine's limits.
    pub limits: Limits,
    /// The RadSec server's liveness settings.
    pub liveness: boomerang_core::lang::program::Liveness,
    /// Also an SQL backend (`SELECT 1`), called by HTTP triggers on `/sql`.
    pub sql: bool,
    /// The HTTP trigger's query parameter that becomes the Disconnect-Request's
    /// User-Name (`user`, or `nas` so that a check can see whom it was for).
    pub user_param: &'static str,
}

impl Default for ReverseSpec {
    fn default() -> Self {
        ReverseSpec {
            timeout: Duration::from_secs(5),
            retries: 0,
            mode: SelectMode::First,
            limits: Limits::default(),
            liveness: boomerang_core::lang::program::Liveness::default(),
            sql: false,
            user_param: "user",
        }
    }
}

/// The reverse test world the engine tests share: a RadSec server for NAS
/// (clients in 10.0.0.0/8, no idle timeout), an HTTP trigger and a UDP trigger
/// (client `dac` at 127.0.0.1), each calling its own reverse backend that selects
/// by NAS-Identifier (`http.query.nas`; the UDP request's NAS-Identifier): HTTP
/// sends a Disconnect-Request built by a query, UDP forwards the request as it is.
pub struct ReverseWorld {
    pub h: Harness,
    pub radsec: ServerId,
    pub http: ServerId,
    pub udp: ServerId,
    /// Called by HTTP triggers.
    pub http_rev: BackendId,
    /// Called by UDP triggers.
    pub udp_rev: BackendId,
    /// With [`ReverseSpec::sql`]: called by HTTP triggers on `/sql`.
    pub sql: Option<BackendId>,
}

/// The program of a [`ReverseWorld`], with its parts' numbers.
pub struct ReverseProgram {
    pub program: Arc<Program>,
    pub radsec: ServerId,
    pub http: ServerId,
    pub udp: ServerId,
    pub http_rev: BackendId,
    pub udp_rev: BackendId,
    pub sql: Option<BackendId>,
}

impl ReverseWorld {
    /// The world of `spec`.
    pub fn new(spec: ReverseSpec) -> Self {
        let limits = spec.limits.clone();
        let p = Self::program(spec);
        ReverseWorld {
            h: Harness::with_limits(p.program, limits),
            radsec: p.radsec,
            http: p.http,
            udp: p.udp,
            http_rev: p.http_rev,
            udp_rev: p.udp_rev,
            sql: p.sql,
        }
    }

    /// The program of the world of `spec`.
    pub fn program(spec: ReverseSpec) -> ReverseProgram {
        let mut b = ProgramBuilder::new();
        let nas = b.clients(
            "NAS",
            ClientProtocol::Radius,
            vec![client("nas", "10.0.0.0/8", None)],
        );
        let dac = b.clients(
            "DAC",
            ClientProtocol::Radius,
            vec![client("dac", "127.0.0.1", Some(DAC_SECRET))],
        );
        let radsec = b.radius_server("RADSEC", Transport::Tls, nas, Some(Duration::ZERO));
        if let ServerKind::Radius(r) = &mut b.program.servers[radsec.0 as usize].kind
            && let RadiusListen::Network(n) = &mut r.listen
        {
            n.liveness = spec.liveness;
        }
        let http = b.http_server("API", None);
        let udp = b.radius_server("UDP", Transport::Udp, dac, None);
        let http_rev = b.reverse_backend(
            "HTTP_REV",
            "radsec",
            spec.mode,
            select_nas_identifier("RADSEC", http_query("nas")),
            vec![disconnect_query(http_query(spec.user_param))],
            spec.timeout,
            spec.retries,
        );
        let udp_rev = b.reverse_backend(
            "UDP_REV",
            "radsec",
            spec.mode,
            select_nas_identifier("RADSEC", req_attr_var(NAS_IDENTIFIER)),
            vec![proxy_query()],
            spec.timeout,
            spec.retries,
        );
        let sql = spec
            .sql
            .then(|| b.sqlite_backend("SQL", vec![sql_query("q", "SELECT 1", vec![], vec![])]));
        b.policy(
            "UDP",
            Some(Condition::all(vec![Cond::eq(
                var(VarRef::RadiusServer),
                Expr::str("UDP"),
            )])),
            vec![Action::Backend(backend_call(udp_rev, "UDP_REV", Some(0)))],
            None,
        );
        if let Some(sql) = sql {
            b.policy(
                "SQL",
                Some(Condition::all(vec![Cond::eq(
                    var(VarRef::Http(HttpField::Path)),
                    Expr::str("/sql"),
                )])),
                vec![Action::Backend(backend_call(sql, "SQL", Some(0)))],
                None,
            );
        }
        b.policy(
            "HTTP",
            None,
            vec![Action::Backend(backend_call(http_rev, "HTTP_REV", Some(0)))],
            None,
        );
        ReverseProgram {
            program: b.build(),
            radsec,
            http,
            udp,
            http_rev,
            udp_rev,
            sql,
        }
    }

    /// A NAS at 10.0.0.`last` on the RadSec server, announcing `name` in its
    /// Status-Server, answering in `mode`.
    pub fn nas(&mut self, last: u8, name: &str, mode: NasMode) -> ConnId {
        let radsec = self.radsec;
        self.h.nas_named(radsec, last, name, mode)
    }

    /// An HTTP disconnect trigger for the NAS named `name`.
    pub fn trigger(&mut self, name: &str) -> HttpRequestId {
        let http = self.http;
        self.h.disconnect(http, name)
    }

    /// The HTTP response to `id`, if it came: status and JSON body.
    pub fn response(&self, id: HttpRequestId) -> Option<(u16, serde_json::Value)> {
        self.h
            .http_responses()
            .into_iter()
            .find(|r| r.0 == id)
            .map(|r| (r.1, r.2))
    }
}

// ---------------------------------------------------------------------------
// Cluster

/// The `cluster { … }` of node `n` (1-based) of a test cluster named "t":
/// heartbeat 1 s, node timeout 3 s, forward margin 1 s (the NATS settings are
/// not used by the engine).
pub fn cluster_config(n: u16) -> boomerang_core::lang::program::Cluster {
    use boomerang_core::lang::program::{Cluster, Nats, NatsAuth};
    Cluster {
        name: "t".into(),
        node: format!("n{n}"),
        node_id: n,
        nats: Nats {
            servers: vec!["nats://127.0.0.1:4222".into()],
            tls: None,
            auth: NatsAuth::None,
            connect_timeout: Duration::from_secs(2),
        },
        heartbeat: Duration::from_secs(1),
        node_timeout: Duration::from_secs(3),
        forward_margin: Duration::from_secs(1),
    }
}

/// The reverse test world ([`ReverseWorld`]'s program) on `nodes` engines of one
/// cluster, on one test network with its simulated bus. Node `i` (0-based) has
/// `node_id` i + 1 and the name `n{i+1}`.
pub struct ClusterWorld {
    pub net: Net<WholePackets>,
    pub nodes: Vec<NodeId>,
    pub p: ReverseProgram,
}

impl ClusterWorld {
    pub fn new(spec: ReverseSpec, nodes: u16) -> Self {
        let limits = spec.limits.clone();
        let p = ReverseWorld::program(spec);
        let mut net = Net::with_observer(Clock::new(Instant::now()), WholePackets);
        net.record(true);
        let mut ids = Vec::new();
        for n in 1..=nodes {
            let node = net.add(Self::engine(&p.program, n, limits.clone(), u64::from(n)));
            ok(net.start(node));
            ids.push(node);
        }
        let mut w = ClusterWorld { net, nodes: ids, p };
        for i in 0..w.nodes.len() {
            w.bus_up(i);
        }
        // Let every node hear every other.
        w.advance(Duration::from_secs(2));
        w
    }

    /// Engine `n` of the cluster running `program`, its randomness seeded with `seed`.
    pub fn engine(program: &Arc<Program>, n: u16, limits: Limits, seed: u64) -> Engine {
        let mut program = (**program).clone();
        program.cluster = Some(cluster_config(n));
        Engine::new(
            Arc::new(program),
            EngineOptions {
                rng: Box::new(SplitMix64::new(seed)),
                env: BTreeMap::new(),
                limits,
            },
        )
    }

    /// The driver says node `i`'s bus is up.
    pub fn bus_up(&mut self, i: usize) {
        let node = self.nodes[i];
        ok(self.net.handle(
            node,
            Input::BusState {
                up: true,
                detail: "simulated".into(),
            },
        ));
    }

    pub fn advance(&mut self, d: Duration) {
        ok(self.net.advance(d));
    }

    /// A NAS at 10.0.0.`last` on node `i`'s RadSec server, announcing `name`.
    pub fn nas(&mut self, i: usize, last: u8, name: &str, mode: NasMode) -> ConnId {
        let node = self.nodes[i];
        let spec = NasSpec {
            transport: Transport::Tls,
            seed: 0x5eed,
            ..NasSpec::new(self.p.radsec, addr([10, 0, 0, last], 2000), "radsec", mode)
        };
        let conn = ok(self.net.connect_nas(node, spec));
        ok(self.net.nas_status(node, conn, Some(name)));
        conn
    }

    /// The HTTP trigger `POST /disconnect?nas=NAME&user=mikem` sent to node `i`.
    pub fn trigger(&mut self, i: usize, name: &str) -> HttpRequestId {
        let node = self.nodes[i];
        ok(self.net.http(
            node,
            self.p.http,
            addr([127, 0, 0, 1], 50000),
            "POST",
            "/disconnect",
            &[("nas", name), ("user", "mikem")],
        ))
    }

    /// The HTTP response of node `i` to `id`: status and JSON body.
    pub fn response(&self, i: usize, id: HttpRequestId) -> Option<(u16, serde_json::Value)> {
        let node = self.nodes[i];
        self.net.passed().iter().find_map(|p| match &p.output {
            Output::HttpResponse {
                id: rid,
                status,
                body,
                ..
            } if p.node == node && *rid == id => Some((
                *status,
                serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
            )),
            _ => None,
        })
    }

    /// Requests (not replies, not Status-Server probes) node `i` wrote to its
    /// connection `conn`.
    pub fn requests_to(&self, i: usize, conn: ConnId) -> Vec<Packet> {
        let node = self.nodes[i];
        self.net
            .passed()
            .iter()
            .filter_map(|p| match &p.output {
                Output::StreamWrite { conn: c, data } if p.node == node && *c == conn => {
                    Packet::decode(data.clone()).ok()
                }
                _ => None,
            })
            .filter(|p| p.code.is_request() && p.code != Code::StatusServer)
            .collect()
    }

    /// The connection ids node `i` sees in the whole cluster.
    pub fn view(&self, i: usize) -> Vec<u64> {
        self.net
            .engine(self.nodes[i])
            .cluster_connections()
            .iter()
            .map(|c| c.info.id)
            .collect()
    }

    /// Every node's invariants hold.
    pub fn check(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            if let Err(e) = self.net.engine(*node).check_invariants() {
                panic!("node {i}: engine invariant broken: {e}");
            }
        }
    }
}

/// Whether an event reports a packet dropped for `reason`.
pub fn dropped(reason: DropReason) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Dropped { reason: r, .. } if *r == reason)
}

/// Whether an event reports a request with `code` answered.
pub fn answered(code: Code) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::RequestAnswered { request_code, .. } if *request_code == code)
}

/// Whether an event reports a NAS-Identifier claim with this outcome.
pub fn claimed(claim: NasIdentifierClaim) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::NasIdentifierClaim { claim: c, .. } if *c == claim)
}
