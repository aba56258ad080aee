//! The engine's side of the dialer ([`crate::engine::dialer`]):
//! backend calls to `connect` backends (query mode and proxy mode), requests the
//! far end sends over our dialed connections (handled by `listen { backend … }`
//! servers exactly like requests arriving on a socket), and the translation of
//! the dialer's commands into engine [`Output`]s.
//!
//! Connection numbers: the driver numbers dialed connections when it reports
//! them established ([`crate::engine::Input::Connected`]), from the same counter as
//! accepted ones, so one [`ConnId`] space covers both. A number is the dialer's
//! as long as [`Dialer::owns`] says so; stream events for it are routed
//! there.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::contract::{ConnId, DropReason, Output, ServerId, Severity, Transport};
use crate::engine::attrs::request_template;
use crate::engine::dialer::{AttemptId, Dialer, DialerOutput, RequestToken, ServerRef};
use crate::engine::pipeline::{Started, internal_error};
use crate::engine::request::{apply_radius_reply, outgoing_request, server_def};
use crate::engine::task::CallTrace;
use crate::engine::task::{ConnectCall, Origin, Task, TaskId, Wait};
use crate::engine::{Engine, Now};
use crate::eval::context::{ClientInfo, ServerInfo};
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{BackendCall, BackendId};
use crate::lang::program::{BackendKind, Program, RadiusListen, RadiusServerMode, ServerKind};
use crate::radius::attr::MESSAGE_AUTHENTICATOR;
use crate::radius::code::Code;
use crate::radius::id::AttrId;
use crate::radius::packet::Packet;
use crate::rng::SplitMix64;

/// A printable name for a backend server.
fn server_label(program: &Program, server: ServerRef) -> String {
    let backend = program
        .backend(server.backend)
        .map_or("?", |b| b.name.as_str());
    let name = server_def(program, server).map_or("?", |s| s.name.as_str());
    format!("server \"{name}\" of backend \"{backend}\"")
}

/// Whether any RADIUS backend has a `connect` server.
fn has_connect_servers(program: &Program) -> bool {
    program.backends.iter().any(|b| match &b.kind {
        BackendKind::Radius(r) => r
            .servers
            .iter()
            .any(|s| matches!(s.mode, RadiusServerMode::Connect(_))),
        BackendKind::Sqlite(_) => false,
    })
}

/// The first `listen { backend … }` server of `backend`.
fn listen_server(program: &Program, backend: BackendId) -> Option<ServerId> {
    program.servers.iter().enumerate().find_map(|(i, s)| {
        let ServerKind::Radius(r) = &s.kind else {
            return None;
        };
        match r.listen {
            RadiusListen::Backend(b) if b == backend => Some(ServerId(u32::try_from(i).ok()?)),
            _ => None,
        }
    })
}

impl Engine {
    /// Start the dialer: connect the servers that are kept connected
    /// (`status true`, or of a backend named by a `listen { backend … }` server) and
    /// send first UDP probes. Idempotent; [`Engine::handle`] and
    /// [`Engine::handle_timeout`] call it too, so a driver that feeds an event first
    /// loses nothing, but calling it right after [`Engine::new`] gets the
    /// connections going before any event arrives.
    pub fn start(&mut self, now: Now) {
        if self.dialer.is_some() {
            return;
        }
        // The dialer's randomness is drawn from the engine's, only when
        // there is a `connect` server to use it (other programs keep their exact
        // random streams, and with them their traces).
        let mut seed = [0u8; 8];
        if has_connect_servers(&self.program) {
            self.rng.fill(&mut seed);
        }
        let rng = SplitMix64::new(u64::from_be_bytes(seed));
        let keep = crate::lang::program::listened_backends(&self.program);
        self.dialer = Some(Dialer::new(
            now,
            &self.program.backends,
            &keep,
            Box::new(rng),
        ));
        self.drain_dialer(now);
    }

    /// The dialer (for tests and the management API); `None` before start.
    pub fn dialer(&self) -> Option<&Dialer> {
        self.dialer.as_ref()
    }

    /// Whether `conn` is one of the dialer's connections.
    pub(super) fn dialer_owns(&self, conn: ConnId) -> bool {
        self.dialer.as_ref().is_some_and(|o| o.owns(conn))
    }

    /// The driver reported an accepted connection with a number a dialed
    /// connection has: it broke the numbering rule; the event is ignored.
    pub(super) fn refuse_clashing_stream(&mut self, conn: ConnId) {
        self.log(
            Severity::Warn,
            format!(
                "accepted connection numbered {conn}, a number an outbound connection has; ignored"
            ),
        );
    }

    pub(super) fn on_connected(
        &mut self,
        now: Now,
        attempt: AttemptId,
        conn: ConnId,
        peer: SocketAddr,
    ) {
        if self.registry.contains(conn) {
            self.log(
                Severity::Warn,
                format!(
                    "outbound connection numbered {conn}, a number an accepted connection has; refused"
                ),
            );
            if let Some(o) = self.dialer.as_mut() {
                o.handle_connect_failed(now, attempt, "connection number already in use");
            }
            return;
        }
        let Some(o) = self.dialer.as_mut() else {
            return;
        };
        o.handle_connected(now, attempt, conn, peer);
    }

    pub(super) fn on_connect_failed(&mut self, now: Now, attempt: AttemptId, reason: &str) {
        if let Some(o) = self.dialer.as_mut() {
            o.handle_connect_failed(now, attempt, reason);
        }
    }

    pub(super) fn on_dialed_stream_data(&mut self, now: Now, conn: ConnId, data: &[u8]) {
        if let Some(o) = self.dialer.as_mut() {
            o.handle_stream_data(now, conn, data);
        }
    }

    pub(super) fn on_dialed_stream_closed(&mut self, now: Now, conn: ConnId) {
        if let Some(o) = self.dialer.as_mut() {
            o.handle_stream_closed(now, conn);
        }
    }

    pub(super) fn on_backend_datagram(
        &mut self,
        now: Now,
        server: ServerRef,
        from: SocketAddr,
        data: &[u8],
    ) {
        if let Some(o) = self.dialer.as_mut() {
            o.handle_datagram(now, server, from, data);
        }
    }

    /// Carry out everything the dialer asked for, until it has nothing more
    /// (resuming a task may send another request).
    pub(super) fn drain_dialer(&mut self, now: Now) {
        while let Some(out) = self.dialer.as_mut().and_then(Dialer::poll_output) {
            match out {
                DialerOutput::Driver(command) => self.outputs.push_back(command),
                DialerOutput::Close { conn, reason } => {
                    self.outputs.push_back(Output::StreamClose { conn, reason });
                }
                DialerOutput::Reply {
                    token,
                    server,
                    request_authenticator,
                    packet,
                } => self.on_connect_reply(now, token, server, &request_authenticator, &packet),
                DialerOutput::Failed { token, error } => {
                    let Some((tid, task)) = self.runs.connect_done(token) else {
                        continue;
                    };
                    self.resume_backend(now, tid, task, Err(error));
                }
                DialerOutput::IncomingRequest {
                    conn,
                    server,
                    packet,
                } => self.on_incoming_request(now, conn, server, packet),
                DialerOutput::ServerState { server, up } => {
                    let label = server_label(&self.program, server);
                    let state = if up { "up" } else { "down" };
                    self.log(Severity::Info, format!("{label} is {state}"));
                }
            }
        }
    }

    /// Start a call to a `connect` backend: build the request and hand it to the
    /// dialer.
    pub(super) fn start_connect_call(
        &mut self,
        now: Now,
        tid: TaskId,
        task: &mut Task,
        call: &BackendCall,
    ) -> Started {
        let program = task.program.clone();
        let (code, sent) = match outgoing_request(&program, call, &task.ctx) {
            Ok(r) => r,
            Err(e) => return Started::Done(Err(e)),
        };
        // Proxy-State is forwarded unmodified (RFC 2865 §5.33); a copied
        // Message-Authenticator is replaced by the dialer's own.
        let skip = [AttrId::Standard(MESSAGE_AUTHENTICATOR)];
        let template = match request_template(&self.schema, code, sent.attrs.entries(), &skip) {
            Ok(p) => p,
            Err(e) => {
                return Started::Done(Err(ErrorValue::new(
                    ErrorCode::InvalidValue,
                    format!("backend \"{}\": {e}", call.backend_name),
                )));
            }
        };
        let token = self.runs.new_token();
        let Some(o) = self.dialer.as_mut() else {
            return Started::Done(Err(internal_error("dialer not started")));
        };
        match o.send(now, call.backend, template, token) {
            Err(e) => Started::Done(Err(e)),
            Ok(()) => {
                self.runs.wait_connect(token, tid);
                let mut trace = CallTrace::default();
                trace.sent(now.mono);
                task.wait = Wait::Connect(Box::new(ConnectCall {
                    token,
                    backend: call.backend,
                    query: call.query,
                    sent,
                    trace,
                }));
                Started::Parked
            }
        }
    }

    fn on_connect_reply(
        &mut self,
        now: Now,
        token: RequestToken,
        server: ServerRef,
        request_authenticator: &[u8; 16],
        packet: &Packet,
    ) {
        let Some((tid, mut task)) = self.runs.connect_done(token) else {
            return;
        };
        let result = apply_radius_reply(
            &self.schema,
            &mut task,
            server,
            packet,
            request_authenticator,
        );
        self.resume_backend(now, tid, task, result);
    }

    /// A request the far end sent over one of our dialed connections: answer
    /// Status-Server at once, else run the policies for it as the backend's
    /// `listen { backend … }` server (`radius.server` is that server's name; there
    /// is no `radius.connection`, which describes accepted connections).
    fn on_incoming_request(&mut self, now: Now, conn: ConnId, server: ServerRef, packet: Packet) {
        let program = self.program.clone();
        let Some(def) = server_def(&program, server) else {
            return;
        };
        let secret: std::sync::Arc<[u8]> = std::sync::Arc::from(def.secret.as_bytes());
        if packet.code == Code::StatusServer {
            if let Some(data) = self.status_reply(&packet, &secret, Code::AccessAccept) {
                self.outputs.push_back(Output::StreamWrite { conn, data });
            }
            return;
        }
        let label = server_label(&program, server);
        let listen = listen_server(&program, server.backend);
        let Some((sid, srv)) = listen.and_then(|sid| {
            let s = program.server(sid)?;
            match &s.kind {
                ServerKind::Radius(r) => Some((sid, (s.name.as_str(), r))),
                _ => None,
            }
        }) else {
            self.log(
                Severity::Warn,
                format!(
                    "{label}: {} on connection {conn}, but no `listen {{ backend … }}` server handles that backend; not answered",
                    packet.code
                ),
            );
            return;
        };
        let (name, r) = srv;
        if !self.has_room() {
            // As on an accepted connection: counted, not answered.
            self.dropped(sid, DropReason::Overloaded);
            return;
        }
        let peer = self.dialer.as_ref().and_then(|o| o.peer_addr(conn));
        let peer_ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
        let client = peer
            .and_then(|p| self.radius_client(r, p))
            .map(|c| c.name)
            .unwrap_or_else(|| def.name.clone());
        let tls = matches!(&def.mode, RadiusServerMode::Connect(c) if c.protocol == Transport::Tls);
        let ctx = self.radius_context(
            now,
            &packet,
            &secret,
            ClientInfo {
                name: client,
                ip: peer_ip,
            },
            ServerInfo {
                name: name.to_owned(),
                tls,
            },
            None,
        );
        let pinned = r.policy;
        let tid = self.next_task_id();
        let origin = Origin::Stream {
            server: sid,
            conn,
            request: packet,
            secret,
        };
        self.start_task(now, tid, ctx, origin, pinned);
    }
}
