//! Shared helpers for the engine tests: `Program`s built by hand (kept in one place
//! so that they can be replaced by compiled configuration text later), a virtual
//! clock, a codec-level fake NAS, a fake UDP DAC, and a harness that plays the
//! driver: it carries stream writes to the fake NASes and their answers back, and
//! answers SQL effects with a test-provided function.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use boomerang_core::contract::ServerId;
use boomerang_core::contract::SqlRows;
use boomerang_core::contract::Transport;
use boomerang_core::engine::{
    ConnId, Engine, EngineOptions, Event, HttpRequest, HttpRequestId, Input, Limits, Now, Output,
};
use boomerang_core::eval::ir::{
    Action, AssignOp, Assignment, BackendCall, BackendId, Cond, Condition, ConnField, Expr,
    HttpField, Library, PacketRef, Pipeline, Place, QueryId, VarRef, radius_code_constant,
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
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::dictionary::Dictionary;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::id::AttrId;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

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
// Time

/// A virtual clock.
pub struct Clock {
    base: Instant,
    wall: SystemTime,
    pub elapsed: Duration,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            base: Instant::now(),
            wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            elapsed: Duration::ZERO,
        }
    }

    pub fn now(&self) -> Now {
        Now {
            mono: self.base + self.elapsed,
            wall: self.wall + self.elapsed,
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.elapsed += d;
    }

    pub fn at(&self, i: Instant) -> Duration {
        i.saturating_duration_since(self.base)
    }
}

// ---------------------------------------------------------------------------
// IR building blocks

pub fn attr(t: u8) -> AttrId {
    AttrId::Standard(t)
}

pub fn code(name: &str) -> Expr {
    Expr::Literal(radius_code_constant(name).unwrap())
}

pub fn var(v: VarRef) -> Expr {
    Expr::Var(v)
}

pub fn cf(f: ConnField) -> Expr {
    Expr::Var(VarRef::Connection(f))
}

pub fn req_attr_var(t: u8) -> Expr {
    var(VarRef::request_attr(attr(t)))
}

pub fn assign(place: Place, value: Expr) -> Assignment {
    Assignment {
        place,
        op: AssignOp::Set,
        value,
    }
}

pub fn req_code() -> Place {
    Place::RadiusCode(PacketRef::Request)
}

pub fn req_attr(t: u8) -> Place {
    Place::RadiusAttr {
        packet: PacketRef::Request,
        attr: attr(t),
    }
}

pub fn reply_attr(t: u8) -> Place {
    Place::RadiusAttr {
        packet: PacketRef::Reply,
        attr: attr(t),
    }
}

/// `if all { conds } then { accept; } else { reject; }`
pub fn accept_if(cond: Condition) -> Arc<Pipeline> {
    Pipeline::new(vec![Action::if_then(
        cond,
        vec![Action::accept()],
        Some(vec![Action::reject()]),
    )])
}

pub fn backend_call(id: BackendId, name: &str, query: Option<u32>) -> BackendCall {
    BackendCall {
        backend: id,
        query: query.map(QueryId),
        backend_name: name.to_owned(),
        query_name: None,
    }
}

/// `query "PROXY_QUERY"`: copy code and attributes out, and the reply back.
pub fn proxy_query() -> RadiusQuery {
    RadiusQuery {
        name: "PROXY_QUERY".into(),
        bindings: Bindings {
            assignments: vec![
                assign(req_code(), var(VarRef::RadiusCode(PacketRef::Request))),
                assign(
                    Place::RadiusAttrs(PacketRef::Request),
                    var(VarRef::RadiusAttrs(PacketRef::Request)),
                ),
            ],
        },
        mapping: Mapping {
            assignments: vec![
                assign(
                    Place::RadiusCode(PacketRef::Reply),
                    var(VarRef::RadiusCode(PacketRef::Reply)),
                ),
                assign(
                    Place::RadiusAttrs(PacketRef::Reply),
                    var(VarRef::RadiusAttrs(PacketRef::Reply)),
                ),
            ],
        },
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
// Fake NAS

/// How a fake NAS answers the requests the server sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NasMode {
    /// ACK at once.
    Ack,
    /// NAK at once (with Error-Cause 503).
    Nak,
    /// Keep them; the test answers with [`FakeNas::answer_held`].
    Hold,
    /// Never answer anything, not even Status-Server (a hung NAS).
    Silent,
}

/// A NAS at the codec level: frames the stream, sends Status-Server and
/// accounting, answers Disconnect/CoA per its mode, verifies every reply.
pub struct FakeNas {
    pub conn: ConnId,
    pub secret: Vec<u8>,
    pub mode: NasMode,
    decoder: StreamDecoder,
    rng: SplitMix64,
    next_id: u8,
    /// Requests received from the server, in order.
    pub received: Vec<Packet>,
    /// Requests held for a later answer.
    pub held: VecDeque<Packet>,
    /// Verified replies to our own requests, in order.
    pub replies: Vec<Packet>,
    /// Replies to requests the test built by hand (not verified here).
    pub unmatched: Vec<Packet>,
    /// Authenticators of our requests awaiting a reply.
    outstanding: BTreeMap<u8, [u8; 16]>,
    /// Identifiers of server requests seen in flight (never twice at once).
    pub in_flight_ids: BTreeMap<u8, ()>,
    pub max_in_flight: usize,
    /// Status-Server probes received from the server.
    pub status_probes: usize,
}

impl FakeNas {
    pub fn new(conn: ConnId, secret: &str, mode: NasMode) -> Self {
        FakeNas {
            conn,
            secret: secret.as_bytes().to_vec(),
            mode,
            decoder: StreamDecoder::new(),
            rng: SplitMix64::new(conn.0 ^ 0x5eed),
            next_id: 0,
            received: Vec::new(),
            held: VecDeque::new(),
            replies: Vec::new(),
            unmatched: Vec::new(),
            outstanding: BTreeMap::new(),
            in_flight_ids: BTreeMap::new(),
            max_in_flight: 0,
            status_probes: 0,
        }
    }

    /// Sign one of our requests.
    pub fn request(&mut self, code: Code, attrs: &[(u8, Vec<u8>)]) -> Bytes {
        let mut p = Packet::new(code, self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        for (t, v) in attrs {
            p.push(*t, v.clone());
        }
        let data =
            sign_request(&mut p, &self.secret, &mut self.rng, &SignOptions::default()).unwrap();
        self.outstanding.insert(p.identifier, p.authenticator);
        data
    }

    pub fn status_server(&mut self, nas_identifier: Option<&str>) -> Bytes {
        let attrs: Vec<(u8, Vec<u8>)> = nas_identifier
            .map(|n| vec![(NAS_IDENTIFIER, n.as_bytes().to_vec())])
            .unwrap_or_default();
        self.request(Code::StatusServer, &attrs)
    }

    /// Answer a request of the server.
    pub fn answer(&mut self, req: &Packet, ack: bool, attrs: &[(u8, Vec<u8>)]) -> Bytes {
        self.in_flight_ids.remove(&req.identifier);
        let code = if ack { req.code.ack() } else { req.code.nak() }.unwrap();
        let mut r = req.new_reply(code);
        for (t, v) in attrs {
            r.push(*t, v.clone());
        }
        sign_response(
            &mut r,
            &req.authenticator,
            &self.secret,
            &SignOptions::default(),
        )
        .unwrap()
    }

    /// Answer the oldest held request.
    pub fn answer_held(&mut self, ack: bool) -> Option<Bytes> {
        let req = self.held.pop_front()?;
        let attrs = if ack {
            vec![]
        } else {
            vec![(ERROR_CAUSE, 503u32.to_be_bytes().to_vec())]
        };
        Some(self.answer(&req, ack, &attrs))
    }

    /// Bytes from the server: returns what the NAS sends back.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.decoder.push(data);
        let mut out = Vec::new();
        while let Some(frame) = self.decoder.next_packet().expect("server framing") {
            let p = Packet::decode(frame).expect("server packet decodes");
            if p.code.is_response() {
                match self.outstanding.remove(&p.identifier) {
                    Some(auth) => {
                        verify_response(&p, &auth, &self.secret, &VerifyPolicy::default())
                            .expect("server reply verifies");
                        self.replies.push(p);
                    }
                    // A reply to bytes the test sent by hand.
                    None => self.unmatched.push(p),
                }
                continue;
            }
            verify_request(&p, &self.secret, &VerifyPolicy::default())
                .expect("server request verifies");
            assert!(
                p.first(MESSAGE_AUTHENTICATOR).is_some(),
                "server requests carry Message-Authenticator"
            );
            assert!(
                self.in_flight_ids.insert(p.identifier, ()).is_none(),
                "identifier {} reused while in flight",
                p.identifier
            );
            self.max_in_flight = self.max_in_flight.max(self.in_flight_ids.len());
            self.received.push(p.clone());
            // A live NAS answers the server's Status-Server (RFC 5997) at once,
            // whatever it does with other requests; a silent (hung) one does not.
            if p.code == Code::StatusServer {
                self.status_probes += 1;
                if self.mode != NasMode::Silent {
                    out.push(self.answer(&p, true, &[]));
                }
                continue;
            }
            match self.mode {
                NasMode::Ack => out.push(self.answer(&p, true, &[])),
                NasMode::Nak => out.push(self.answer(
                    &p,
                    false,
                    &[(ERROR_CAUSE, 503u32.to_be_bytes().to_vec())],
                )),
                NasMode::Hold => self.held.push_back(p),
                NasMode::Silent => {}
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Fake DAC (UDP client)

/// A Disconnect/CoA request from a UDP DAC, signed with `secret`.
pub fn dac_request(code: Code, id: u8, attrs: &[(u8, Vec<u8>)], secret: &str) -> Packet {
    let mut p = Packet::new(code, id);
    for (t, v) in attrs {
        p.push(*t, v.clone());
    }
    let mut rng = SplitMix64::new(u64::from(id));
    sign_request(&mut p, secret.as_bytes(), &mut rng, &SignOptions::default()).unwrap();
    p
}

pub fn encode(p: &Packet) -> Bytes {
    p.encode().unwrap()
}

// ---------------------------------------------------------------------------
// Harness

pub type SqlFn = Box<dyn FnMut(&str, &[Value]) -> Result<SqlRows, String>>;

/// Plays the driver for one engine.
pub struct Harness {
    pub engine: Engine,
    pub clock: Clock,
    pub nas: BTreeMap<ConnId, FakeNas>,
    /// Everything the engine output that is not a stream write to a fake NAS.
    pub out: Vec<Output>,
    /// Every event (observation for metrics), in order.
    pub events: Vec<Event>,
    /// Every stream write, in order: (connection, packet).
    pub writes: Vec<(ConnId, Packet)>,
    pub sql: Option<SqlFn>,
    /// SQL statements run: (statement, params).
    pub sql_log: Vec<(String, Vec<Value>)>,
    next_conn: u64,
    next_http: u64,
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

impl Harness {
    pub fn new(program: Arc<Program>) -> Self {
        Self::with_limits(program, Limits::default())
    }

    pub fn with_limits(program: Arc<Program>, limits: Limits) -> Self {
        Harness {
            engine: engine_with(program, limits),
            clock: Clock::new(),
            nas: BTreeMap::new(),
            out: Vec::new(),
            events: Vec::new(),
            writes: Vec::new(),
            sql: None,
            sql_log: Vec::new(),
            next_conn: 0,
            next_http: 0,
        }
    }

    pub fn now(&self) -> Now {
        self.clock.now()
    }

    /// Feed an input and run the world until nothing moves.
    pub fn input(&mut self, input: Input) {
        let now = self.now();
        self.engine.handle(now, input);
        self.settle();
    }

    /// Carry outputs until quiescent.
    pub fn settle(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::StreamWrite { conn, data } => {
                    let p = Packet::decode(data.clone()).expect("engine writes whole packets");
                    self.writes.push((conn, p));
                    let answers = match self.nas.get_mut(&conn) {
                        Some(n) => n.feed(&data),
                        None => Vec::new(),
                    };
                    for a in answers {
                        let now = self.now();
                        self.engine.handle(now, Input::StreamData { conn, data: a });
                    }
                }
                Output::Sql {
                    effect,
                    statement,
                    params,
                    ..
                } => {
                    self.sql_log.push((statement.clone(), params.clone()));
                    let result = match self.sql.as_mut() {
                        Some(f) => f(&statement, &params),
                        None => Err("no database".into()),
                    };
                    let now = self.now();
                    self.engine.handle(now, Input::SqlDone { effect, result });
                }
                Output::StreamClose { conn, .. } => {
                    self.nas.remove(&conn);
                    self.out.push(o);
                }
                other => self.out.push(other),
            }
        }
        while let Some(e) = self.engine.poll_event() {
            self.events.push(e);
        }
    }

    /// Advance the clock, firing timers on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.clock.elapsed + d;
        loop {
            match self.engine.poll_timeout() {
                Some(at) if self.clock.at(at) <= target => {
                    let step = self.clock.at(at);
                    if step > self.clock.elapsed {
                        self.clock.elapsed = step;
                    }
                    let now = self.now();
                    self.engine.handle_timeout(now);
                    self.settle();
                }
                _ => break,
            }
        }
        self.clock.elapsed = target;
        let now = self.now();
        self.engine.handle_timeout(now);
        self.settle();
    }

    /// Open a stream connection from `peer` (a fake NAS answering in `mode`).
    pub fn connect(
        &mut self,
        server: ServerId,
        peer: SocketAddr,
        transport: Transport,
        certs: Vec<Bytes>,
        secret: &str,
        mode: NasMode,
    ) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.nas.insert(conn, FakeNas::new(conn, secret, mode));
        self.input(Input::StreamOpened {
            conn,
            server,
            peer,
            local: server_addr(),
            transport,
            peer_certificates: certs,
        });
        conn
    }

    /// The NAS on `conn` sends Status-Server.
    pub fn status(&mut self, conn: ConnId, nas_identifier: Option<&str>) {
        let data = self
            .nas
            .get_mut(&conn)
            .unwrap()
            .status_server(nas_identifier);
        self.input(Input::StreamData { conn, data });
    }

    /// The NAS on `conn` sends raw bytes.
    pub fn send_raw(&mut self, conn: ConnId, data: Bytes) {
        self.input(Input::StreamData { conn, data });
    }

    /// The NAS on `conn` answers its oldest held request.
    pub fn answer_held(&mut self, conn: ConnId, ack: bool) -> bool {
        let Some(data) = self.nas.get_mut(&conn).and_then(|n| n.answer_held(ack)) else {
            return false;
        };
        self.input(Input::StreamData { conn, data });
        true
    }

    pub fn close(&mut self, conn: ConnId) {
        self.nas.remove(&conn);
        self.input(Input::StreamClosed { conn });
    }

    pub fn datagram(&mut self, server: ServerId, peer: SocketAddr, data: Bytes) {
        self.input(Input::Datagram {
            server,
            peer,
            local: addr([10, 0, 0, 1], 1812),
            data,
        });
    }

    pub fn http(
        &mut self,
        server: ServerId,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> HttpRequestId {
        self.next_http += 1;
        let id = HttpRequestId(self.next_http);
        self.input(Input::HttpRequest(HttpRequest {
            id,
            server,
            peer: addr([127, 0, 0, 1], 50000),
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            headers: BTreeMap::new(),
            body: Bytes::new(),
        }));
        id
    }

    /// Datagrams sent, in order.
    pub fn datagrams(&self) -> Vec<Bytes> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::SendDatagram { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect()
    }

    /// HTTP responses: (id, status, body as JSON).
    pub fn http_responses(&self) -> Vec<(HttpRequestId, u16, serde_json::Value)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::HttpResponse {
                    id, status, body, ..
                } => Some((
                    *id,
                    *status,
                    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
                )),
                _ => None,
            })
            .collect()
    }

    /// Stream closes the engine asked for.
    pub fn closes(&self) -> Vec<ConnId> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::StreamClose { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    /// Writes of server requests (not replies) to `conn`.
    pub fn requests_to(&self, conn: ConnId) -> Vec<&Packet> {
        self.writes
            .iter()
            .filter(|(c, p)| *c == conn && p.code.is_request())
            .map(|(_, p)| p)
            .collect()
    }

    /// Requests written to any connection.
    pub fn all_requests(&self) -> Vec<(ConnId, &Packet)> {
        self.writes
            .iter()
            .filter(|(_, p)| p.code.is_request())
            .map(|(c, p)| (*c, p))
            .collect()
    }

    /// Panics if the engine's internal cross-references are broken.
    pub fn check(&self) {
        if let Err(e) = self.engine.check_invariants() {
            panic!("engine invariant broken: {e}");
        }
    }

    /// All work done: no task, no pending reverse request, no SQL, no timer but
    /// idle timers of open connections.
    pub fn assert_quiescent(&self) {
        self.check();
        let c = self.engine.counts();
        assert_eq!(c.tasks, 0, "tasks left: {c:?}");
        assert_eq!(c.sql_pending, 0, "{c:?}");
        assert_eq!(c.reverse_in_flight, 0, "{c:?}");
        assert_eq!(c.reverse_queued, 0, "{c:?}");
        assert_eq!(c.duplicate_in_flight, 0, "{c:?}");
    }
}

/// Decode a UDP reply to `request` and verify it with `secret`.
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
