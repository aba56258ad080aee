//! Requests arriving: UDP datagrams, stream connections (accept, framing, close
//! rules, Status-Server, idle timeout) and HTTP requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::contract::{
    CloseReason, ConnId, DropReason, Event, HttpRequest, Output, ServerId, Severity, Transport,
};
use crate::engine::attrs::{hiding_vector, packet_to_bag};
use crate::engine::cert::cert_info;
use crate::engine::dedup::{Admission, DupKey};
use crate::engine::pipeline::{encode_reply, http_error};
use crate::engine::stream::{FIRST_PACKET_TIMEOUT, StreamState};
use crate::engine::task::Origin;
use crate::engine::{Engine, Now};
use crate::eval::context::{
    ClientInfo, ConnectionInfo, Context, HttpExchange, RadiusRequest, ServerInfo,
};
use crate::lang::program::{
    Client, DEFAULT_IDLE_TIMEOUT, NasIdentifierBinding, RADSEC_DEFAULT_SECRET, RadiusListen,
    RadiusServer, ServerKind,
};
use crate::peer::PeerConfig;
use crate::radius::auth::{VerifyPolicy, verify_request};
use crate::radius::code::Code;
use crate::radius::framing::StreamDecoder;
use crate::radius::packet::Packet;

/// NAS-Identifier (RFC 2865 §5.32).
const NAS_IDENTIFIER: u8 = 32;

/// What a stream connection gets from its server and client (see
/// [`Engine::stream_terms`]).
pub(crate) struct StreamTerms {
    /// The server's name.
    pub server_name: String,
    /// The client's name.
    pub client_name: String,
    /// The client's secret (`radsec` on TLS when it has none).
    pub secret: Arc<[u8]>,
    /// BlastRADIUS checks.
    pub verify: VerifyPolicy,
    /// Idle timeout (`None`: disabled).
    pub idle: Option<Duration>,
    /// The liveness probe's timeout (`None`: probing off).
    pub probe_timeout: Option<Duration>,
    /// What an announced NAS-Identifier must match (the client's setting).
    pub binding: NasIdentifierBinding,
}

/// Which RADIUS server (network mode) `server` is, with its listen transport.
fn radius_server(
    program: &crate::lang::program::Program,
    server: ServerId,
) -> Option<(&str, &RadiusServer, Transport, Option<Duration>)> {
    let s = program.server(server)?;
    let ServerKind::Radius(r) = &s.kind else {
        return None;
    };
    let RadiusListen::Network(n) = &r.listen else {
        return None;
    };
    Some((&s.name, r, n.protocol, n.timeout))
}

fn client_info(client: &Client, peer: SocketAddr) -> ClientInfo {
    ClientInfo {
        name: client.name.clone(),
        ip: peer.ip(),
    }
}

impl Engine {
    /// The client `peer` is, in the RADIUS server's client list.
    pub(super) fn radius_client(&self, r: &RadiusServer, peer: SocketAddr) -> Option<Client> {
        let list = self.program.client_list(r.clients?)?;
        list.lookup(peer.ip()).cloned()
    }

    /// A RADIUS request's context.
    pub(super) fn radius_context(
        &self,
        now: Now,
        request: &Packet,
        secret: &[u8],
        client: ClientInfo,
        server: ServerInfo,
        conn: Option<Arc<ConnectionInfo>>,
    ) -> Context {
        let vector = hiding_vector(request.code, &request.authenticator);
        let attrs = packet_to_bag(&self.schema, request, secret, &vector);
        let mut ctx = Context::radius(
            self.schema.clone(),
            now.wall,
            RadiusRequest {
                code: request.code.as_u8(),
                attrs,
            },
        );
        ctx.env = self.env.clone();
        ctx.client = Some(client);
        ctx.server = Some(server);
        ctx.current_connection = conn;
        ctx
    }

    // ----- UDP ------------------------------------------------------------------

    pub(super) fn on_datagram(
        &mut self,
        now: Now,
        server: ServerId,
        peer: SocketAddr,
        local: SocketAddr,
        data: Bytes,
    ) {
        let program = self.program.clone();
        let Some((name, r, Transport::Udp, _)) = radius_server(&program, server) else {
            self.dropped(server, DropReason::UnknownCode);
            return;
        };
        let packet = match Packet::decode(data) {
            Ok(p) => p,
            Err(e) => {
                self.dropped(server, DropReason::Malformed);
                self.log(
                    Severity::Debug,
                    format!("UDP from {peer}: malformed, dropped: {e}"),
                );
                return;
            }
        };
        if !packet.code.is_request() || packet.code == Code::StatusClient {
            self.dropped(server, DropReason::UnknownCode);
            self.log(
                Severity::Debug,
                format!(
                    "UDP from {peer} to server \"{name}\": packet with code {} is not a request we handle, dropped",
                    packet.code
                ),
            );
            return;
        }
        let Some(client) = self.radius_client(r, peer) else {
            self.dropped(server, DropReason::UnknownClient);
            self.log(
                Severity::Warn,
                format!("UDP from {peer} to server \"{name}\": unknown client, dropped"),
            );
            return;
        };
        let Some(secret) = client.secret.as_deref() else {
            self.dropped(server, DropReason::UnknownClient);
            self.log(
                Severity::Warn,
                format!("UDP client \"{}\" has no secret; dropped", client.name),
            );
            return;
        };
        let secret: Arc<[u8]> = Arc::from(secret.as_bytes());
        let policy = VerifyPolicy {
            require_message_authenticator: client.require_message_authenticator,
            limit_proxy_state: client.limit_proxy_state,
        };
        if let Err(e) = verify_request(&packet, &secret, &policy) {
            self.dropped(server, DropReason::of_auth_error(&e));
            self.log(
                Severity::Warn,
                format!("UDP from {peer} (client \"{}\"): {e}; dropped", client.name),
            );
            return;
        }
        if packet.code != Code::StatusServer && !self.has_room() {
            self.dropped(server, DropReason::Overloaded);
            return;
        }
        let dup = DupKey {
            server,
            peer,
            identifier: packet.identifier,
            authenticator: packet.authenticator,
        };
        let tid = self.next_task_id();
        match self.dedup.admit(now.mono, dup) {
            Admission::New => {}
            Admission::Joined => {
                self.dropped(server, DropReason::Duplicate);
                return;
            }
            Admission::Replay(reply) => {
                self.dropped(server, DropReason::Duplicate);
                if let Some(data) = reply {
                    self.outputs.push_back(Output::SendDatagram {
                        server,
                        local,
                        peer,
                        data,
                    });
                }
                return;
            }
            Admission::Full => {
                self.dropped(server, DropReason::Overloaded);
                return;
            }
        }
        if packet.code == Code::StatusServer {
            let answer = status_answer(Transport::Udp, local.port());
            let reply = self.status_reply(&packet, &secret, answer);
            self.dedup.answered(now.mono, &dup, reply.clone());
            if let Some(data) = reply {
                self.status_answered(server);
                self.outputs.push_back(Output::SendDatagram {
                    server,
                    local,
                    peer,
                    data,
                });
            }
            return;
        }
        let ctx = self.radius_context(
            now,
            &packet,
            &secret,
            client_info(&client, peer),
            ServerInfo {
                name: name.to_owned(),
                tls: false,
            },
            None,
        );
        let origin = Origin::Udp {
            dup,
            local,
            request: packet,
            secret,
        };
        self.start_task(now, tid, ctx, origin, r.policy);
    }

    /// Report a packet `server` received and discarded before any policy ran.
    pub(super) fn dropped(&mut self, server: ServerId, reason: DropReason) {
        self.emit(Event::Dropped { server, reason });
    }

    /// Report a Status-Server `server` received and answered (Access-Accept).
    fn status_answered(&mut self, server: ServerId) {
        self.emit(Event::RequestAnswered {
            server,
            request_code: Code::StatusServer,
            reply_code: Code::AccessAccept,
        });
    }

    /// The reply `answer` (Access-Accept, or Accounting-Response: [`status_answer`])
    /// to a Status-Server, Message-Authenticator first.
    pub(super) fn status_reply(
        &mut self,
        request: &Packet,
        secret: &[u8],
        answer: Code,
    ) -> Option<Bytes> {
        match encode_reply(self, request, answer.as_u8(), &[], secret) {
            Ok(b) => Some(b),
            Err(e) => {
                self.log(
                    Severity::Warn,
                    format!("Status-Server reply not encoded: {e}"),
                );
                None
            }
        }
    }

    // ----- streams ----------------------------------------------------------------

    /// What a stream connection from `peer` over `transport` gets on `server`
    /// under the running program: its client, secret, verification rules and idle
    /// timeout; or why it may not stay (with a line to log). Used when a connection
    /// opens and again for each open connection when a reload changes the program.
    pub(super) fn stream_terms(
        &self,
        server: ServerId,
        peer: SocketAddr,
        transport: Transport,
    ) -> Result<StreamTerms, (CloseReason, Option<String>)> {
        let matches = |t: Transport| transport.is_stream() && t == transport;
        let Some((name, r, _, listen_timeout)) =
            radius_server(&self.program, server).filter(|(_, _, t, _)| matches(*t))
        else {
            return Err((CloseReason::NotAStreamServer, None));
        };
        let Some(client) = self.radius_client(r, peer) else {
            return Err((
                CloseReason::UnknownClient,
                Some(format!("from {peer} to server \"{name}\": unknown client")),
            ));
        };
        let secret = match (&client.secret, transport) {
            (Some(s), _) => s.clone(),
            (None, Transport::Tls) => RADSEC_DEFAULT_SECRET.to_owned(),
            (None, Transport::Tcp | Transport::Udp) => {
                return Err((
                    CloseReason::UnknownClient,
                    Some(format!(
                        ": TCP client \"{}\" has no secret; connection refused",
                        client.name
                    )),
                ));
            }
        };
        let verify = match transport {
            Transport::Tcp | Transport::Udp => VerifyPolicy {
                require_message_authenticator: client.require_message_authenticator,
                limit_proxy_state: client.limit_proxy_state,
            },
            // draft-ietf-radext-deprecating-radius: the flags are ignored on TLS.
            Transport::Tls => VerifyPolicy::default(),
        };
        let idle = client
            .timeout
            .or(listen_timeout)
            .unwrap_or(DEFAULT_IDLE_TIMEOUT);
        let probe_timeout = match self.program.server(server).map(|s| &s.kind) {
            Some(ServerKind::Radius(RadiusServer {
                listen: RadiusListen::Network(n),
                ..
            })) if n.liveness.probe => Some(n.liveness.timeout),
            _ => None,
        };
        Ok(StreamTerms {
            server_name: name.to_owned(),
            client_name: client.name.clone(),
            secret: Arc::from(secret.as_bytes()),
            verify,
            idle: (!idle.is_zero()).then_some(idle),
            probe_timeout,
            binding: client.nas_identifier_binding,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_stream_opened(
        &mut self,
        now: Now,
        conn: ConnId,
        server: ServerId,
        peer: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        certificates: &[Bytes],
    ) {
        let terms = match self.stream_terms(server, peer, transport) {
            Ok(t) => t,
            Err((reason, line)) => {
                if let Some(line) = line {
                    self.log(Severity::Warn, format!("connection {conn} {line}"));
                }
                self.refuse_stream(conn, reason);
                return;
            }
        };
        let StreamTerms {
            server_name,
            client_name,
            secret,
            verify,
            idle,
            probe_timeout,
            binding,
        } = terms;
        let cert = match transport {
            Transport::Tls => certificates.first().and_then(|der| cert_info(der)),
            Transport::Tcp | Transport::Udp => None,
        };
        let info = ConnectionInfo {
            id: conn.0,
            client_name,
            peer_addr: peer,
            server_name,
            server_addr: local,
            transport,
            connected: now.wall,
            disconnected: None,
            status_received: None,
            status_nas_identifier: None,
            last_heard: None,
            healthy: true,
            cert,
        };
        let mut state = StreamState {
            secret,
            verify,
            server,
            decoder: StreamDecoder::new(),
            idle,
            last_activity: now.mono,
            opened: now.mono,
            // The driver passes only a chain its TLS configuration verified.
            proven: transport == Transport::Tls && !certificates.is_empty(),
            idle_timer: None,
            tasks: 0,
            probe_timeout,
            binding,
        };
        state.idle_timer = state.next_check().map(|at| self.idle_timers.set(at, conn));
        match self.registry.insert(info, state) {
            Ok(()) => {
                self.peers.open(
                    conn,
                    PeerConfig {
                        max_queue: self.limits.max_queue_per_connection,
                        reserve_status_id: false,
                    },
                );
            }
            Err(state) => {
                self.idle_timers.cancel(state.idle_timer);
                self.log(
                    Severity::Warn,
                    format!("connection {conn} opened twice; the second open is ignored"),
                );
            }
        }
    }

    fn refuse_stream(&mut self, conn: ConnId, reason: CloseReason) {
        self.outputs.push_back(Output::StreamClose { conn, reason });
    }

    pub(super) fn on_stream_data(&mut self, now: Now, conn: ConnId, data: &[u8]) {
        let Some(state) = self.registry.state_mut(conn) else {
            return;
        };
        state.decoder.push(data);
        // Any bytes, even part of a packet, show that the peer is there and may
        // have seen what was written before them.
        if !data.is_empty() {
            self.peers.with(conn, |p| p.heard());
        }
        loop {
            let Some(state) = self.registry.state_mut(conn) else {
                return;
            };
            let frame = match state.decoder.next_packet() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    self.close_stream(now, conn, Some(CloseReason::Framing(e)));
                    return;
                }
            };
            state.last_activity = now.mono;
            self.registry.record_heard(conn, now.wall);
            let packet = match Packet::decode(frame) {
                Ok(p) => p,
                Err(e) => {
                    self.close_stream(now, conn, Some(CloseReason::Malformed(e)));
                    return;
                }
            };
            if packet.code.is_response() {
                self.on_reverse_reply(now, conn, packet);
            } else if packet.code.is_request() && packet.code != Code::StatusClient {
                self.on_stream_request(now, conn, packet);
            } else {
                if let Some(entry) = self.registry.get(conn) {
                    let server = entry.state.server;
                    self.dropped(server, DropReason::UnknownCode);
                }
                self.log(
                    Severity::Debug,
                    format!(
                        "connection {conn}: packet with code {} discarded",
                        packet.code
                    ),
                );
            }
        }
    }

    fn on_stream_request(&mut self, now: Now, conn: ConnId, packet: Packet) {
        let Some(entry) = self.registry.get(conn) else {
            return;
        };
        let secret = entry.state.secret.clone();
        let verify = entry.state.verify;
        let server = entry.state.server;
        let binding = entry.state.binding;
        let info = entry.info().clone();
        if let Err(e) = verify_request(&packet, &secret, &verify) {
            self.close_stream(now, conn, Some(CloseReason::BadRequest(e)));
            return;
        }
        self.prove(conn);
        if packet.code == Code::StatusServer {
            // A zero-length NAS-Identifier is malformed (RFC 2865 §5.32): not an identity.
            let nas_identifier = packet
                .first_value(NAS_IDENTIFIER)
                .filter(|v| !v.is_empty())
                .map(|v| String::from_utf8_lossy(v).into_owned());
            if let Some(n) = &nas_identifier
                && !self.admit_nas_identifier(conn, binding, n)
            {
                return;
            }
            self.registry.record_status(conn, now.wall, nas_identifier);
            let answer = status_answer(info.transport, info.server_addr.port());
            if let Some(data) = self.status_reply(&packet, &secret, answer) {
                self.status_answered(server);
                self.outputs.push_back(Output::StreamWrite { conn, data });
            }
            return;
        }
        if !self.has_room() {
            self.dropped(server, DropReason::Overloaded);
            return;
        }
        let program = self.program.clone();
        let Some((name, r, _, _)) = radius_server(&program, server) else {
            return;
        };
        let ctx = self.radius_context(
            now,
            &packet,
            &secret,
            ClientInfo {
                name: info.client_name.clone(),
                ip: info.peer_addr.ip(),
            },
            ServerInfo {
                name: name.to_owned(),
                tls: info.transport == Transport::Tls,
            },
            Some(info),
        );
        if let Some(state) = self.registry.state_mut(conn) {
            state.tasks += 1;
        }
        let tid = self.next_task_id();
        let origin = Origin::Stream {
            server,
            conn,
            request: packet,
            secret,
        };
        self.start_task(now, tid, ctx, origin, r.policy);
    }

    /// Forget a stream connection. With a reason the engine closes it (and tells
    /// the driver); without one the peer closed it. Every request of ours on it is
    /// retried elsewhere or fails with `errors.CONNECTION_CLOSED`.
    /// The peer closed `conn` (or it failed), `orderly` as in [`Input::StreamClosed`].
    pub(super) fn on_stream_closed(&mut self, now: Now, conn: ConnId, orderly: bool) {
        if orderly {
            self.peers.with(conn, |p| p.assume_seen());
        }
        self.close_stream(now, conn, None);
    }

    pub(super) fn close_stream(&mut self, now: Now, conn: ConnId, reason: Option<CloseReason>) {
        let Some(entry) = self.registry.remove(conn) else {
            return;
        };
        // A reload closes a live connection: what was written to it may have been
        // read, so it is not sent again elsewhere for free.
        if let Some(CloseReason::Reconfigured(_)) = reason {
            self.peers.with(conn, |p| p.assume_seen());
        }
        if let Some(reason) = reason {
            self.log(
                Severity::Info,
                format!("connection {conn} closed: {reason}"),
            );
            self.outputs.push_back(Output::StreamClose { conn, reason });
        }
        self.idle_timers.cancel(entry.state.idle_timer);
        let lost = self.peers.close(conn);
        self.on_peer_events(now, conn, lost);
    }

    /// The peer of `conn` proved it belongs (a verified packet): its first-packet
    /// deadline no longer applies.
    pub(super) fn prove(&mut self, conn: ConnId) {
        let Some(state) = self.registry.state_mut(conn) else {
            return;
        };
        if state.proven {
            return;
        }
        state.proven = true;
        // The timer may wait for the first-packet deadline: set it again for the
        // idle timeout alone (none without one).
        self.idle_timers.cancel(state.idle_timer.take());
        state.idle_timer = state.next_check().map(|at| self.idle_timers.set(at, conn));
    }

    pub(super) fn on_idle_timer(&mut self, now: Now, conn: ConnId) {
        let Some(state) = self.registry.state_mut(conn) else {
            return;
        };
        state.idle_timer = None;
        if !state.proven && now.mono >= state.opened + FIRST_PACKET_TIMEOUT {
            let reason = CloseReason::Unproven {
                after: FIRST_PACKET_TIMEOUT,
            };
            self.close_stream(now, conn, Some(reason));
            return;
        }
        let busy = state.tasks > 0
            || self
                .peers
                .get(conn)
                .is_some_and(|p| p.in_flight() > 0 || p.queued() > 0);
        let Some(state) = self.registry.state_mut(conn) else {
            return;
        };
        let next = match (state.idle, state.next_check()) {
            // Idle past its timeout: closed, unless busy (then checked again a
            // whole timeout from now).
            (Some(idle), _) if now.mono >= state.last_activity + idle => {
                if !busy {
                    self.close_stream(now, conn, Some(CloseReason::Idle));
                    return;
                }
                let first = (!state.proven).then(|| state.opened + FIRST_PACKET_TIMEOUT);
                Some(first.map_or(now.mono + idle, |f| f.min(now.mono + idle)))
            }
            (_, next) => next,
        };
        if let Some(at) = next {
            state.idle_timer = Some(self.idle_timers.set(at, conn));
        }
    }

    // ----- HTTP -----------------------------------------------------------------

    pub(super) fn on_http(&mut self, now: Now, req: HttpRequest) {
        let program = self.program.clone();
        let refuse = |engine: &mut Engine, status: u16, error: &str| {
            let answer = http_error(req.id, status, "error", error);
            engine.outputs.push_back(answer);
        };
        let Some((name, http)) = program.server(req.server).and_then(|s| match &s.kind {
            ServerKind::Http(h) => Some((&s.name, h)),
            ServerKind::Radius(_) => None,
        }) else {
            refuse(self, 404, "no such HTTP server");
            return;
        };
        let client = match http.clients {
            None => ClientInfo {
                name: String::new(),
                ip: req.peer.ip(),
            },
            Some(list) => match program
                .client_list(list)
                .and_then(|l| l.lookup(req.peer.ip()))
            {
                Some(c) => client_info(c, req.peer),
                None => {
                    self.log(
                        Severity::Warn,
                        format!(
                            "HTTP request from {} to server \"{name}\": client not allowed",
                            req.peer
                        ),
                    );
                    refuse(self, 403, "client not allowed");
                    return;
                }
            },
        };
        if !self.has_room() {
            refuse(self, 503, "too many requests in progress");
            return;
        }
        let exchange = HttpExchange {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            ..HttpExchange::default()
        };
        let mut ctx = Context::http(self.schema.clone(), now.wall, exchange);
        ctx.env = self.env.clone();
        ctx.client = Some(client);
        ctx.server = Some(ServerInfo {
            name: name.clone(),
            tls: http.tls.is_some(),
        });
        let tid = self.next_task_id();
        self.start_task(now, tid, ctx, Origin::Http { id: req.id }, http.policy);
    }
}

/// The accounting ports: RFC 2866's 1813 and the older 1646.
const ACCOUNTING_PORTS: [u16; 2] = [1813, 1646];

/// The answer to a Status-Server that arrived over `transport` at local port `port`
/// (RFC 5997 §3): Accounting-Response at an accounting port over UDP or TCP, so that
/// monitoring that probes accounting ports (`radclient … status`) gets the reply it
/// expects; Access-Accept everywhere else, RadSec included (radiusdtls-bis).
pub(super) fn status_answer(transport: Transport, port: u16) -> Code {
    if transport != Transport::Tls && ACCOUNTING_PORTS.contains(&port) {
        Code::AccountingResponse
    } else {
        Code::AccessAccept
    }
}
