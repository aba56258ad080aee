//! The NAS side wired into the engine: two engines in memory — a server compiled
//! from the seeds' RadSec server + reverse backend + UDP trigger, and a NAS compiled
//! from the seeds' "NAS Device Simulation" — joined by the shared test network
//! (`boomerang_core::testnet`), which routes the NAS engine's dials to the server
//! engine. Also query mode and proxy mode to a UDP `connect` backend against a
//! simulated upstream, and a connect failure caught by `try`.

mod compile_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use boomerang_core::contract::{DropReason, Event, ReverseStep, ServerId, Transport};
use boomerang_core::engine::dialer::{ServerRef, Target};
use boomerang_core::engine::{
    ConnId, Engine, EngineOptions, Input, Limits, LogLine, Output, Severity,
};
use boomerang_core::lang::program::Program;
use boomerang_core::radius::auth::{VerifyPolicy, verify_request, verify_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::password::reveal_user_password;
use boomerang_core::rng::SplitMix64;
use boomerang_core::testnet::{
    Net, NetError, NodeId, Passed, Upstream, UpstreamMode, seeded_request,
};
use compile_support::{fixtures, program};

const USER_NAME: u8 = 1;
const USER_PASSWORD: u8 = 2;
const REPLY_MESSAGE: u8 = 18;
const NAS_IDENTIFIER: u8 = 32;
const PROXY_STATE: u8 = 33;

fn fixture(name: &str) -> String {
    fixtures("compile/seeds")
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .unwrap()
}

fn server_id(p: &Program, name: &str) -> ServerId {
    let i = p.servers.iter().position(|s| s.name == name).unwrap();
    ServerId(i as u32)
}

fn engine(program: Arc<Program>, seed: u64) -> Engine {
    Engine::new(
        program,
        EngineOptions {
            rng: Box::new(SplitMix64::new(seed)),
            env: BTreeMap::new(),
            limits: Limits::default(),
        },
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Side {
    Nas,
    Server,
}

/// Two engines (or one) in the shared test network: dialed connections of the NAS
/// engine become accepted connections of the server engine.
struct World {
    net: Net,
    nas: NodeId,
    server: Option<(NodeId, ServerId)>,
}

fn ok<T>(r: Result<T, NetError>) -> T {
    r.unwrap_or_else(|e| panic!("test network: {e}"))
}

impl World {
    fn new(nas: Engine, server: Option<(Engine, ServerId)>) -> World {
        Self::with(nas, server, false)
    }

    /// `refuse`: dialed connections refuse to connect (no server listening).
    fn with(nas: Engine, server: Option<(Engine, ServerId)>, refuse: bool) -> World {
        let mut net = Net::new(Instant::now());
        net.record(true);
        net.refuse_connects(refuse);
        let nas = net.add(nas);
        let server = server.map(|(e, listener)| (net.add(e), listener));
        if let Some((s, listener)) = server {
            net.route_connects(nas, s, listener);
        }
        ok(net.start(nas));
        if let Some((s, _)) = server {
            ok(net.start(s));
        }
        World { net, nas, server }
    }

    fn node(&self, side: Side) -> NodeId {
        match side {
            Side::Nas => self.nas,
            Side::Server => self.server.expect("a server engine").0,
        }
    }

    /// How many events `side`'s engine reported that `which` is true of.
    fn count(&self, side: Side, which: impl Fn(&Event) -> bool) -> usize {
        self.net.count_reported(self.node(side), which)
    }

    /// How many requests with `code` `side`'s engine answered.
    fn answered(&self, side: Side, code: Code) -> usize {
        self.count(
            side,
            |e| matches!(e, Event::RequestAnswered { request_code, .. } if *request_code == code),
        )
    }

    fn nas_engine(&self) -> &Engine {
        self.net.engine(self.nas)
    }

    fn server_engine(&self) -> &Engine {
        self.net.engine(self.node(Side::Server))
    }

    fn feed(&mut self, side: Side, input: Input) {
        let node = self.node(side);
        ok(self.net.handle(node, input));
    }

    fn advance(&mut self, d: Duration) {
        ok(self.net.advance(d));
    }

    fn check(&self) {
        self.nas_engine().check_invariants().unwrap();
        if self.server.is_some() {
            self.server_engine().check_invariants().unwrap();
        }
    }

    fn side_of(&self, node: NodeId) -> Side {
        if node == self.nas {
            Side::Nas
        } else {
            Side::Server
        }
    }

    /// Log lines, with the side that wrote them.
    fn logs(&self) -> Vec<(Side, LogLine)> {
        self.net
            .passed()
            .iter()
            .filter_map(|p| match &p.output {
                Output::Log(l) => Some((self.side_of(p.node), l.clone())),
                _ => None,
            })
            .collect()
    }

    /// Where each Connect asked to go.
    fn targets(&self) -> Vec<(ServerRef, Arc<Target>)> {
        self.net
            .passed()
            .iter()
            .filter_map(|p| match &p.output {
                Output::Connect { server, target, .. } => Some((*server, target.clone())),
                _ => None,
            })
            .collect()
    }

    fn connects(&self) -> usize {
        self.targets().len()
    }

    /// Datagrams a side sent from a UDP server's socket: (to, packet).
    fn replies(&self, side: Side) -> Vec<(SocketAddr, Packet)> {
        let node = self.node(side);
        self.net
            .passed()
            .iter()
            .filter(|p| p.node == node)
            .filter_map(|p| match &p.output {
                Output::SendDatagram { peer, data, .. } => {
                    Some((*peer, Packet::decode(data.clone()).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    /// Datagrams the NAS engine sent to UDP backend servers.
    fn take_backend_datagrams(&mut self) -> Vec<(ServerRef, Packet)> {
        self.net
            .take_passed(|p| matches!(p.output, Output::BackendDatagram { .. }))
            .into_iter()
            .filter_map(|p| match p.output {
                Output::BackendDatagram { server, data, .. } => {
                    Some((server, Packet::decode(data).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    /// Everything that passed (for failure messages).
    fn out(&self) -> &[Passed] {
        self.net.passed()
    }
}

/// `reply` answers `request` with `code`: same identifier, and its Response
/// Authenticator (and Message-Authenticator, if any) verify with `secret`.
fn assert_signed_reply(reply: &Packet, code: Code, request: &Packet, secret: &[u8]) {
    assert_eq!(reply.code, code);
    assert_eq!(reply.identifier, request.identifier);
    verify_response(
        reply,
        &request.authenticator,
        secret,
        &VerifyPolicy::default(),
    )
    .unwrap();
}

fn trigger(code: Code, id: u8, attrs: &[(u8, &[u8])], secret: &str) -> (Packet, Bytes) {
    seeded_request(code, id, attrs, secret, u64::from(id) + 1000).unwrap()
}

/// The seeds' UDP trigger: a Disconnect-Request for `mikem` on the NAS
/// `radiator-nas-simulator`, identifier `id`, sent from 127.0.0.1:5555 to the
/// server's `RADIUS_UDP`. The request as sent.
fn send_seed_trigger(w: &mut World, id: u8) -> Packet {
    let udp = server_id(&w.server_engine().program().clone(), "RADIUS_UDP");
    let (req, data) = trigger(
        Code::DisconnectRequest,
        id,
        &[
            (USER_NAME, b"mikem"),
            (NAS_IDENTIFIER, b"radiator-nas-simulator"),
        ],
        "trigger-secret",
    );
    w.feed(
        Side::Server,
        Input::Datagram {
            server: udp,
            peer: addr("127.0.0.1:5555"),
            local: addr("0.0.0.0:1812"),
            data,
        },
    );
    req
}

// ------------------------------------------------------------------- the seeds

fn seeds_world() -> World {
    let server_prog = Arc::new(program(&fixture("udp_trigger.conf")));
    let radsec = server_id(&server_prog, "RADSEC_SERVER");
    let nas_prog = Arc::new(program(&fixture("nas_simulator.conf")));
    World::new(engine(nas_prog, 7), Some((engine(server_prog, 11), radsec)))
}

#[test]
fn nas_connects_and_identifies_itself_with_status_server() {
    let mut w = seeds_world();
    assert_eq!(
        w.connects(),
        1,
        "the listened backend is connected at start"
    );
    let targets = w.targets();
    let (sref, target) = &targets[0];
    assert_eq!(target.protocol, Transport::Tls);
    assert_eq!(target.host.as_deref(), Some("radiator-radsec.example.com"));
    assert_eq!(target.port, 2083);
    let backend = w.nas_engine().program().backend(sref.backend).unwrap();
    assert_eq!(backend.name, "RADSEC_BACKEND");
    let server = w.server_engine();
    let conns = server.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(
        conns[0].info.status_nas_identifier.as_deref(),
        Some("radiator-nas-simulator")
    );
    assert!(conns[0].info.status_received.is_some());
    assert_eq!(w.answered(Side::Server, Code::StatusServer), 1);
    // The watchdog keeps probing, and every probe is answered: no reconnects.
    w.advance(Duration::from_secs(100));
    let server = w.server_engine();
    assert!(w.answered(Side::Server, Code::StatusServer) >= 6);
    assert_eq!(server.connections().len(), 1);
    assert_eq!(w.connects(), 1);
    let o = w.nas_engine().dialer_counts().unwrap();
    assert_eq!(o.connections, 1);
    assert_eq!(o.pending_requests, 0);
    w.check();
}

#[test]
fn udp_disconnect_trigger_reaches_the_nas_and_the_ack_comes_back() {
    let mut w = seeds_world();
    let req = send_seed_trigger(&mut w, 9);
    let client = addr("127.0.0.1:5555");
    // The NAS ran DYNAUTH_POLICY.
    assert!(
        w.logs().iter().any(|(s, l)| *s == Side::Nas
            && l.severity == Severity::Debug
            && l.text
                .contains("Received Disconnect-Request for user mikem")),
        "{:?}",
        w.logs()
    );
    // The ACK went back over the connection and was relayed to the trigger.
    let replies = w.replies(Side::Server);
    assert_eq!(replies.len(), 1, "{:?}", w.out());
    let (to, reply) = &replies[0];
    assert_eq!(*to, client);
    assert_signed_reply(reply, Code::DisconnectAck, &req, b"trigger-secret");
    let server = w.server_engine();
    let steps = |step| w.count(Side::Server, |e| *e == Event::Reverse(step));
    assert_eq!(steps(ReverseStep::Sent), 1);
    assert_eq!(steps(ReverseStep::Replied), 1);
    assert_eq!(server.counts().tasks, 0);
    assert_eq!(w.nas_engine().counts().tasks, 0);
    assert_eq!(w.answered(Side::Nas, Code::DisconnectRequest), 1);
    w.check();
}

#[test]
fn a_status_server_over_the_nas_connection_is_answered_with_the_backend_secret() {
    let mut w = seeds_world();
    let nas = w.nas;
    let conn = w
        .net
        .passed()
        .iter()
        .find_map(|p| match &p.output {
            Output::StreamWrite { conn, .. } if p.node == nas => Some(*conn),
            _ => None,
        })
        .expect("the NAS wrote its own Status-Server");
    let written = |w: &World| -> Vec<Packet> {
        w.net
            .passed()
            .iter()
            .filter_map(|p| match &p.output {
                Output::StreamWrite { conn: c, data } if p.node == nas && *c == conn => {
                    Some(Packet::decode(data.clone()).unwrap())
                }
                _ => None,
            })
            .collect()
    };
    let before = written(&w).len();
    let (status, data) = seeded_request(Code::StatusServer, 200, &[], "radsec", 5).unwrap();
    w.feed(Side::Nas, Input::StreamData { conn, data });
    let after = written(&w);
    assert_eq!(after.len(), before + 1, "{:?}", w.out());
    assert_signed_reply(&after[before], Code::AccessAccept, &status, b"radsec");
    // Signed with another secret, it closes the connection (RFC 6613 §2.6.4).
    let (_, data) = seeded_request(Code::StatusServer, 201, &[], "wrong", 6).unwrap();
    w.feed(Side::Nas, Input::StreamData { conn, data });
    assert_eq!(written(&w).len(), before + 1);
    assert!(
        w.net.passed().iter().any(|p| p.node == nas
            && matches!(p.output, Output::StreamClose { conn: c, .. } if c == conn))
    );
    w.check();
}

#[test]
fn nas_reconnects_after_the_server_closes_and_is_selectable_again() {
    let mut w = seeds_world();
    let conn = w.server_engine().connections()[0].info.id;
    // The server side goes away: the NAS hears the close and reconnects with backoff.
    let server = w.node(Side::Server);
    ok(w.net.cut(server, ConnId(conn)));
    assert!(w.server_engine().connections().is_empty());
    w.advance(Duration::from_secs(60));
    assert_eq!(w.connects(), 2);
    let conns = w.server_engine().connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(
        conns[0].info.status_nas_identifier.as_deref(),
        Some("radiator-nas-simulator")
    );
    w.check();
}

// -------------------------------------------------------- UDP connect backends

const UPSTREAM: &str = r#"
clients {
    radius "LOCAL" {
        client "LOCALHOST" { source { ip 127.0.0.1; } secret "client-secret"; }
    }
}
servers {
    radius "UDP_IN" {
        listen { protocol udp; port 1812; ip 0.0.0.0; }
        clients "LOCAL";
    }
}
backends {
    radius "UPSTREAM" {
        server "U1" {
            secret "upstream-secret";
            timeout 3s;
            connect { protocol udp; ip 192.0.2.10; port 1812; }
        }
        query "AUTH" {
            bindings {
                radius.request.code = radius.ACCESS_REQUEST;
                radius.request.attr.User-Name = "%{radius.request.attr.User-Name}-q";
                radius.request.attr.User-Password = "query-password";
            }
            mapping {
                vars.upstream_says = radius.reply.attr.Reply-Message;
                radius.reply.attr.Reply-Message = "upstream: %{vars.upstream_says}";
            }
        }
    }
}
"#;

fn policy(execute: &str) -> String {
    format!(
        r#"{UPSTREAM}
aaa {{
    policy "P" {{
        handler "H" {{
            @execute {{
                {execute}
            }}
        }}
    }}
}}
"#
    )
}

fn udp_world(execute: &str) -> (World, ServerId) {
    let prog = Arc::new(program(&policy(execute)));
    let udp = server_id(&prog, "UDP_IN");
    let mut w = World::new(engine(prog, 3), None);
    w.net.add_upstream(
        addr("192.0.2.10:1812"),
        Upstream::new("upstream-secret", UpstreamMode::Hold),
    );
    (w, udp)
}

fn client_request(w: &mut World, udp: ServerId, attrs: &[(u8, &[u8])]) -> Packet {
    let (req, data) = trigger(Code::AccessRequest, 42, attrs, "client-secret");
    w.feed(
        Side::Nas,
        Input::Datagram {
            server: udp,
            peer: addr("127.0.0.1:6000"),
            local: addr("0.0.0.0:1812"),
            data,
        },
    );
    req
}

/// The upstream at 192.0.2.10 answers `req` with `code` and `attrs`.
fn upstream_answer(
    w: &mut World,
    server: ServerRef,
    req: &Packet,
    code: Code,
    attrs: &[(u8, &[u8])],
) {
    let up = addr("192.0.2.10:1812");
    let data = w
        .net
        .upstream(up)
        .unwrap()
        .answer(req, code, attrs)
        .unwrap();
    let nas = w.nas;
    ok(w.net.upstream_send(nas, up, server, data));
}

#[test]
fn query_mode_to_a_udp_backend_maps_the_reply() {
    let (mut w, udp) = udp_world(r#"backend { name "UPSTREAM"; query "AUTH"; }"#);
    let req = client_request(&mut w, udp, &[(USER_NAME, b"alice"), (USER_PASSWORD, b"x")]);
    let sent = w.take_backend_datagrams();
    assert_eq!(sent.len(), 1);
    let (server, up) = &sent[0];
    assert_eq!(up.code, Code::AccessRequest);
    verify_request(up, b"upstream-secret", &VerifyPolicy::default()).unwrap();
    assert_eq!(up.first_value(USER_NAME).unwrap().as_ref(), b"alice-q");
    let hidden = up.first_value(USER_PASSWORD).unwrap();
    assert_eq!(
        reveal_user_password(hidden, b"upstream-secret", &up.authenticator).unwrap(),
        b"query-password"
    );
    assert_eq!(w.nas_engine().counts().connect_pending, 1);
    upstream_answer(
        &mut w,
        *server,
        up,
        Code::AccessAccept,
        &[(REPLY_MESSAGE, b"welcome")],
    );
    let replies = w.replies(Side::Nas);
    assert_eq!(replies.len(), 1);
    let reply = &replies[0].1;
    assert_signed_reply(reply, Code::AccessAccept, &req, b"client-secret");
    assert_eq!(
        reply.first_value(REPLY_MESSAGE).unwrap().as_ref(),
        b"upstream: welcome"
    );
    assert_eq!(w.nas_engine().counts().connect_pending, 0);
    assert_eq!(w.nas_engine().counts().tasks, 0);
    w.check();
}

#[test]
fn proxy_mode_forwards_the_request_and_copies_the_reply() {
    let (mut w, udp) = udp_world(r#"backend "UPSTREAM";"#);
    let req = client_request(
        &mut w,
        udp,
        &[
            (USER_NAME, b"bob"),
            (USER_PASSWORD, b"secret-pw"),
            (PROXY_STATE, b"client-state"),
        ],
    );
    let sent = w.take_backend_datagrams();
    assert_eq!(sent.len(), 1);
    let (server, up) = &sent[0];
    assert_eq!(up.code, Code::AccessRequest);
    verify_request(up, b"upstream-secret", &VerifyPolicy::default()).unwrap();
    assert_eq!(up.first_value(USER_NAME).unwrap().as_ref(), b"bob");
    let hidden = up.first_value(USER_PASSWORD).unwrap();
    assert_eq!(
        reveal_user_password(hidden, b"upstream-secret", &up.authenticator).unwrap(),
        b"secret-pw",
        "the password is re-hidden with the upstream's secret"
    );
    assert_eq!(
        up.first_value(PROXY_STATE).unwrap().as_ref(),
        b"client-state",
        "Proxy-State is forwarded unmodified"
    );
    upstream_answer(
        &mut w,
        *server,
        up,
        Code::AccessReject,
        &[(REPLY_MESSAGE, b"denied upstream")],
    );
    let replies = w.replies(Side::Nas);
    assert_eq!(replies.len(), 1);
    let reply = &replies[0].1;
    assert_signed_reply(reply, Code::AccessReject, &req, b"client-secret");
    assert_eq!(
        reply.first_value(REPLY_MESSAGE).unwrap().as_ref(),
        b"denied upstream"
    );
    let states: Vec<_> = reply
        .attributes
        .iter()
        .filter(|a| a.typ == PROXY_STATE)
        .collect();
    assert_eq!(states.len(), 1, "the client's Proxy-State is echoed once");
    w.check();
}

#[test]
fn udp_backend_timeout_is_caught_by_try() {
    let (mut w, udp) = udp_world(
        r#"try {
                backend { name "UPSTREAM"; query "AUTH"; }
            } catch {
                reject "upstream failed: %{aaa.caught_error.code}";
            }"#,
    );
    client_request(&mut w, udp, &[(USER_NAME, b"carol")]);
    assert!(!w.take_backend_datagrams().is_empty());
    w.advance(Duration::from_secs(5));
    let replies = w.replies(Side::Nas);
    assert_eq!(replies.len(), 1);
    let reply = &replies[0].1;
    assert_eq!(reply.code, Code::AccessReject);
    let msg = String::from_utf8_lossy(reply.first_value(REPLY_MESSAGE).unwrap()).into_owned();
    assert!(msg.starts_with("upstream failed: "), "{msg}");
    assert_eq!(w.nas_engine().counts().connect_pending, 0);
    w.check();
}

// ------------------------------------------------------------ connect failure

const TCP_UPSTREAM: &str = r#"
clients {
    radius "LOCAL" {
        client "LOCALHOST" { source { ip 127.0.0.1; } secret "client-secret"; }
    }
}
servers {
    radius "UDP_IN" {
        listen { protocol udp; port 1812; ip 0.0.0.0; }
        clients "LOCAL";
    }
}
backends {
    radius "TCP_UP" {
        server "T1" {
            secret "upstream-secret";
            timeout 2s;
            connect { protocol tcp; ip 192.0.2.20; port 2083; }
        }
    }
}
aaa {
    policy "P" {
        handler "H" {
            @execute {
                try {
                    backend "TCP_UP";
                } catch {
                    reject "no upstream: %{aaa.caught_error.code}";
                }
            }
        }
    }
}
"#;

#[test]
fn connect_failure_is_an_error_caught_by_try() {
    let prog = Arc::new(program(TCP_UPSTREAM));
    let udp = server_id(&prog, "UDP_IN");
    let mut w = World::with(engine(prog, 5), None, true);
    assert_eq!(
        w.connects(),
        0,
        "a backend nobody listens on connects on demand"
    );
    client_request(&mut w, udp, &[(USER_NAME, b"dave")]);
    assert!(w.connects() >= 1, "the request opens a connection");
    w.advance(Duration::from_secs(10));
    let replies = w.replies(Side::Nas);
    assert_eq!(replies.len(), 1, "{:?}", w.out());
    let reply = &replies[0].1;
    assert_eq!(reply.code, Code::AccessReject);
    let msg = String::from_utf8_lossy(reply.first_value(REPLY_MESSAGE).unwrap()).into_owned();
    assert!(msg.starts_with("no upstream: "), "{msg}");
    assert_eq!(w.nas_engine().counts().connect_pending, 0);
    assert_eq!(w.nas_engine().counts().tasks, 0);
    w.check();
}

#[test]
fn a_policy_that_answers_nothing_leaves_nothing_pending_on_the_nas() {
    let server_prog = Arc::new(program(&fixture("udp_trigger.conf")));
    let radsec = server_id(&server_prog, "RADSEC_SERVER");
    let nas_text = fixture("nas_simulator.conf").replace("}\naccept;\n}", "}\nignore;\n}");
    assert!(nas_text.contains("ignore;"));
    let nas_prog = Arc::new(program(&nas_text));
    let mut w = World::new(engine(nas_prog, 7), Some((engine(server_prog, 11), radsec)));
    send_seed_trigger(&mut w, 3);
    assert!(w.logs().iter().any(|(s, l)| {
        *s == Side::Nas
            && l.text
                .contains("Received Disconnect-Request for user mikem")
    }));
    assert_eq!(w.answered(Side::Nas, Code::DisconnectRequest), 0);
    assert_eq!(w.nas_engine().counts().tasks, 0);
    // The server's reverse request times out; the trigger gets no reply (no `try`).
    w.advance(Duration::from_secs(6));
    assert!(w.replies(Side::Server).is_empty());
    let server = w.server_engine();
    assert_eq!(
        w.count(Side::Server, |e| *e
            == Event::Reverse(ReverseStep::TimedOut)),
        1
    );
    assert_eq!(server.counts().tasks, 0);
    w.check();
}

#[test]
fn a_far_end_request_past_max_tasks_is_dropped_as_overloaded_and_not_run() {
    let server_prog = Arc::new(program(&fixture("udp_trigger.conf")));
    let radsec = server_id(&server_prog, "RADSEC_SERVER");
    let nas_prog = Arc::new(program(&fixture("nas_simulator.conf")));
    let nas = Engine::new(
        nas_prog,
        EngineOptions {
            rng: Box::new(SplitMix64::new(7)),
            env: BTreeMap::new(),
            limits: Limits {
                max_tasks: 0,
                ..Limits::default()
            },
        },
    );
    let mut w = World::new(nas, Some((engine(server_prog, 11), radsec)));
    send_seed_trigger(&mut w, 4);
    // The NAS received it over its connection but had no room: reported, no policy ran.
    let overloaded = |e: &Event| {
        matches!(
            e,
            Event::Dropped {
                reason: DropReason::Overloaded,
                ..
            }
        )
    };
    assert_eq!(w.count(Side::Nas, overloaded), 1);
    assert!(
        !w.logs()
            .iter()
            .any(|(s, l)| *s == Side::Nas && l.text.contains("Received Disconnect-Request"))
    );
    assert_eq!(w.answered(Side::Nas, Code::DisconnectRequest), 0);
    assert_eq!(w.nas_engine().counts().tasks, 0);
    w.check();
}

#[test]
fn a_driver_reusing_an_accepted_connection_number_is_refused() {
    let server_prog = Arc::new(program(&fixture("udp_trigger.conf")));
    let nas_text = format!(
        "{}\nservers {{ radius \"LOCAL_TCP\" {{ listen {{ protocol tls; port 1700; ip 0.0.0.0; tls {{ certificate \"CLIENT_CERT\"; certificate_key \"CLIENT_KEY\"; client_ca_certificate \"SERVER_CA\"; }} }} clients \"RADIUS_CLIENTS\"; }} }}\n",
        fixture("nas_simulator.conf")
    );
    let nas_prog = Arc::new(program(&nas_text));
    let local = server_id(&nas_prog, "LOCAL_TCP");
    let radsec = server_id(&server_prog, "RADSEC_SERVER");
    let mut w = World::new(engine(nas_prog, 7), Some((engine(server_prog, 11), radsec)));
    // The NAS engine's dialed connection got number 2 from the harness.
    let (nas_conn, _, _) = w.net.links_of(w.nas)[0];
    w.feed(
        Side::Nas,
        Input::StreamOpened {
            conn: nas_conn,
            server: local,
            peer: addr("10.1.1.1:1234"),
            local: addr("10.0.0.2:1700"),
            transport: Transport::Tcp,
            peer_certificates: Vec::new(),
        },
    );
    assert!(w.logs().iter().any(|(s, l)| *s == Side::Nas
        && l.severity == Severity::Warn
        && l.text.contains("ignored")));
    assert!(
        w.nas_engine().connections().is_empty(),
        "not taken as an accepted connection"
    );
    assert_eq!(w.nas_engine().dialer_counts().unwrap().connections, 1);
    w.check();
}
