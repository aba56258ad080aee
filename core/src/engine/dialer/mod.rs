//! The dialer of the engine: RADIUS backends whose servers are reached
//! with `connect { protocol udp|tcp|tls; host|ip; port; }`.
//!
//! One [`Dialer`] holds every `connect` server of every RADIUS backend of a
//! program. It serves two purposes with one mechanism:
//!
//! * **Proxying and query mode**: [`Dialer::send`] takes a request for a backend,
//!   picks a server by the backend's `server-selection`, signs the request for that
//!   server and identifier, and eventually yields exactly one
//!   [`DialerOutput::Reply`] (verified) or [`DialerOutput::Failed`].
//! * **The NAS side of reverse CoA**: stream servers with `status true`, or of a
//!   backend named by a `listen { backend … }` server ("keep connected"), are
//!   connected at start and kept connected, reconnecting with jittered exponential
//!   backoff ([`crate::engine::backoff`]). Requests the far end sends over them
//!   (CoA, Disconnect, …) are verified and come out as
//!   [`DialerOutput::IncomingRequest`]; the engine runs them like requests on an
//!   accepted connection and writes its reply itself.
//!
//! Identifiers, signing, timeouts, UDP retransmission, late-reply protection,
//! reply matching and verification, the Status-Server probe's identifier and
//! timeout, and what becomes of requests in flight when a connection closes are the
//! peer machine's ([`crate::peer`]): one [`Peer`](crate::peer::Peer) per link (a
//! dialed connection, or the socket of a UDP server), without a queue of its own
//! and without a rest for identifiers. What is left here is specific to dialed
//! servers: selection, connecting and backoff, the per-server queue while there is
//! no connection or no free identifier, the watchdog policy, and far-end requests.
//!
//! It is sans-IO: the driver opens connections and sockets when told to
//! ([`Output::Connect`], [`Output::BackendDatagram`] in
//! [`DialerOutput::Driver`]), feeds back what
//! happens (`handle_*`), drains [`Dialer::poll_output`] after every call, and calls
//! [`Dialer::handle_timeout`] at [`Dialer::poll_timeout`].
//!
//! # Protocol rules followed
//!
//! * Streams (RFC 6613/6614): a request is never retransmitted on the same
//!   connection. Identifiers come from the connection's own pool; identifier 0 is
//!   reserved for Status-Server on connections that send it (radiusdtls-bis). When
//!   the pool is exhausted requests wait in a bounded per-server FIFO
//!   ([`MAX_QUEUED_PER_SERVER`]); beyond it `send` fails with `QUEUE_FULL`. When a
//!   connection closes before a reply, the request is sent again — with a new
//!   identifier, a new Request Authenticator and a new Message-Authenticator — on
//!   whichever server selection picks (the same server once it has reconnected, or
//!   another), up to the server's `retries` times; then it fails with
//!   `CONNECTION_CLOSED`.
//! * Replies are matched by identifier and code (2/3/11 answer 1, 5 answers 4,
//!   41/42 answer 40, 44/45 answer 43, 2 or 5 answer 12, 52 answers anything) and
//!   verified with the server's secret. A reply that matches nothing is discarded;
//!   one that matches but fails authentication closes the connection (RFC 6613
//!   §2.6.4) — unless it verifies against the previous request that used the same
//!   identifier and timed out, in which case it is a late reply and is discarded.
//!   Requests from the far end are verified too; failure closes the connection.
//! * Watchdog (RFC 3539 style, RFC 5997 Status-Server): with `status true`, a
//!   probe (identifier 0, Message-Authenticator, NAS-Identifier when configured) is
//!   sent on connect and then every `status_interval`. A probe unanswered within
//!   the server's `timeout` is followed at once by another; after
//!   [`WATCHDOG_FAILURES`] consecutive unanswered probes the connection is declared
//!   dead, closed and reconnected. A silently stalled stream is therefore detected
//!   within `status_interval + WATCHDOG_FAILURES × timeout`. Without `status`,
//!   [`WATCHDOG_FAILURES`] consecutive request timeouts with nothing received in
//!   between do the same.
//! * UDP (RFC 5080): a request is retransmitted with the same identifier and
//!   authenticator every `timeout / (retries + 1)`; `timeout` after it was handed to
//!   the server without a verified reply it fails over (see below) or fails with
//!   `BACKEND_TIMEOUT`. Replies are matched by (server, identifier), verified against
//!   the request's authenticator, and discarded otherwise. After
//!   [`WATCHDOG_FAILURES`] consecutive timeouts (requests or probes) a UDP server is
//!   considered down for a backoff delay; a verified reply brings it up again.
//!
//! # Server selection
//!
//! A server is *live* when it is connected, connecting for the first time, idle
//! (a stream server connected on demand), or a UDP server not considered down; it
//! is *recovering* while it waits to reconnect after a failure. Selection picks
//! among live servers the request has not yet failed on, and only when there is
//! none among recovering ones (the request then waits for the reconnection, within
//! its `timeout`). `fallback` and `no-fallback` take the lowest `priority` (then
//! configuration order); `round-robin` rotates a per-backend counter over the
//! candidates in configuration order; `least-connections` takes the fewest requests
//! in flight or queued. A request that times out or cannot be connected is tried on
//! the next server (each server at most once per request), except under
//! `no-fallback`.
//!
//! # Requests
//!
//! A request is a [`Packet`] template: its code and attributes, with a
//! User-Password in clear text (it is hidden anew for each transmission with that
//! server's secret and authenticator). The identifier and authenticator are
//! ignored; any Message-Authenticator is replaced by a fresh one.

pub mod types;

mod audit;
mod select;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::contract::{Output, Transport};
use crate::engine::backoff::Backoff;
use crate::engine::time::Now;
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::BackendId;
use crate::lang::program::{Backend, BackendKind, RadiusServerMode, ServerSelection};
use crate::peer::sign::{check, status_server};
use crate::peer::{Event, Failure, PeerConfig, Peers, Refused, Submitted};
use crate::radius::auth::{VerifyPolicy, verify_request};
use crate::radius::code::AuthenticatorKind;
use crate::radius::framing::StreamDecoder;
use crate::radius::packet::Packet;
use crate::rng::RandomSource;

pub use crate::contract::{AttemptId, CloseReason, ConnId, ServerRef, Target};
pub use crate::peer::STATUS_SERVER_ID;
use crate::timers::{TimerKey, Timers};
use timers::{Link, ReqKey, Timer};
pub use types::{DialerCounts, DialerOutput, InvariantViolation, RequestToken};

/// Consecutive unanswered probes (or, without `status`, requests) after which a
/// connection is declared dead or a UDP server down (RFC 3539 uses 3 as well).
pub const WATCHDOG_FAILURES: u32 = 3;
/// Requests that may wait for a connection or an identifier on one server.
pub const MAX_QUEUED_PER_SERVER: usize = 1024;
/// Requests that may be pending in one [`Dialer`] at once.
pub const MAX_PENDING_REQUESTS: usize = 65_536;
/// A connection that stayed up this long (or got any verified answer) resets its
/// server's backoff when it closes.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);
/// The shortest time a connection attempt is given (the server `timeout` if longer).
pub const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// No timer is armed closer than this (a zero `timeout` must not spin).
const MIN_TIMER: Duration = Duration::from_millis(1);

/// A server's settings, copied out of the program.
#[derive(Debug)]
struct ServerCfg {
    sref: ServerRef,
    name: String,
    backend_name: String,
    secret: Arc<[u8]>,
    timeout: Duration,
    retries: u32,
    status: bool,
    status_interval: Duration,
    nas_identifier: Option<String>,
    priority: u32,
    target: Arc<Target>,
    /// Keep a stream connection up at all times.
    keep: bool,
}

impl ServerCfg {
    fn is_stream(&self) -> bool {
        self.target.protocol != Transport::Udp
    }

    /// The UDP retransmission interval.
    fn udp_interval(&self) -> Duration {
        let tries = self.retries.saturating_add(1);
        (self.timeout / tries).max(MIN_TIMER)
    }

    /// The peer machine of one of its links: the dialer keeps the queue, and
    /// identifier 0 is the probe's when it sends Status-Server.
    fn peer_config(&self) -> PeerConfig {
        PeerConfig {
            max_queue: 0,
            reserve_status_id: self.status,
        }
    }

    fn label(&self) -> String {
        format!("server '{}' of backend '{}'", self.name, self.backend_name)
    }
}

/// The watchdog policy of one connection or UDP server (the probe itself is the
/// peer machine's).
#[derive(Debug, Default)]
struct Watchdog {
    /// Consecutive failures (unanswered probes, or requests where they count).
    failures: u32,
    /// When the next probe is due.
    due: Option<TimerKey>,
}

/// The state of a stream server's connection.
#[derive(Debug)]
enum StreamState {
    /// Not connected and not wanted (connected on demand).
    Idle,
    /// An attempt is in progress.
    Connecting { attempt: AttemptId, timer: TimerKey },
    /// Connected.
    Connected(ConnId),
    /// Waiting out a backoff delay before the next attempt.
    Backoff { timer: TimerKey },
}

/// The state of a UDP server (its socket is the driver's, its peer machine is
/// `Link::Udp(slot)`).
#[derive(Debug, Default)]
struct UdpState {
    watchdog: Watchdog,
    /// Considered down: skipped by selection while another server is live.
    down: bool,
    /// The hold-down timer while down.
    holddown: Option<TimerKey>,
}

#[derive(Debug)]
enum LinkState {
    Stream(StreamState),
    Udp(UdpState),
}

#[derive(Debug)]
struct Server {
    cfg: ServerCfg,
    state: LinkState,
    backoff: Backoff,
    queue: VecDeque<ReqKey>,
    /// The last state reported with [`DialerOutput::ServerState`].
    up: bool,
}

/// One open dialed stream connection (its peer machine is `Link::Conn(id)`).
#[derive(Debug)]
struct Conn {
    slot: usize,
    decoder: StreamDecoder,
    watchdog: Watchdog,
    connected_at: Instant,
    /// The address it is connected to.
    peer: SocketAddr,
    /// Something verified arrived on it.
    proven: bool,
}

#[derive(Debug, Clone, Copy)]
enum ReqState {
    /// Being (re)dispatched.
    Unassigned,
    /// Waiting on a server for a connection or an identifier.
    Queued { slot: usize },
    /// Handed to the peer machine of `link`, awaiting its outcome.
    InFlight { slot: usize, link: Link },
}

#[derive(Debug)]
struct Request {
    token: RequestToken,
    backend: BackendId,
    template: Packet,
    /// Servers this request failed on (timeout, connect failure).
    tried: Vec<usize>,
    /// Connections that closed under it.
    closes: u32,
    /// The identifier it was last sent with, which a resend avoids.
    last_id: Option<u8>,
    last_error: Option<ErrorValue>,
    state: ReqState,
    /// Its deadline while queued (in flight, the peer machine keeps it).
    timer: Option<TimerKey>,
    deadline: Instant,
}

#[derive(Debug)]
struct BackendState {
    name: String,
    selection: ServerSelection,
    /// Slots of its `connect` servers, in configuration order.
    slots: Vec<usize>,
    round_robin: usize,
}

/// The dialer; see the module documentation.
pub struct Dialer {
    servers: Vec<Server>,
    backends: BTreeMap<BackendId, BackendState>,
    by_ref: BTreeMap<ServerRef, usize>,
    conns: BTreeMap<ConnId, Conn>,
    attempts: BTreeMap<AttemptId, usize>,
    next_attempt: u64,
    requests: BTreeMap<ReqKey, Request>,
    next_request: ReqKey,
    timers: Timers<Timer>,
    /// The peer machine of every link, with their deadline index.
    peers: Peers<Link, ReqKey>,
    out: VecDeque<DialerOutput>,
    rng: Box<dyn RandomSource + Send>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("servers", &self.servers.len())
            .field("connections", &self.conns.len())
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

fn error(code: ErrorCode, message: String) -> ErrorValue {
    ErrorValue::new(code, message)
}

fn humanize(d: Duration) -> String {
    format!("{:?}", d)
}

impl Dialer {
    /// Take every `connect` server of every RADIUS backend in `backends` (the
    /// program's backends; [`BackendId`] indexes them) and start: stream servers with
    /// `status true` or belonging to a backend in `keep_connected` (those named by a
    /// `listen { backend … }` server) are connected now; UDP servers with `status
    /// true` get their first probe. `rng` supplies Request Authenticators and
    /// backoff jitter.
    pub fn new(
        now: Now,
        backends: &[Backend],
        keep_connected: &BTreeSet<BackendId>,
        rng: Box<dyn RandomSource + Send>,
    ) -> Self {
        let mut this = Dialer {
            servers: Vec::new(),
            backends: BTreeMap::new(),
            by_ref: BTreeMap::new(),
            conns: BTreeMap::new(),
            attempts: BTreeMap::new(),
            next_attempt: 0,
            requests: BTreeMap::new(),
            next_request: 0,
            timers: Timers::default(),
            peers: Peers::default(),
            out: VecDeque::new(),
            rng,
        };
        for (index, backend) in backends.iter().enumerate() {
            let BackendKind::Radius(radius) = &backend.kind else {
                continue;
            };
            let Ok(bid) = u32::try_from(index).map(BackendId) else {
                continue;
            };
            let mut slots = Vec::new();
            for (si, def) in radius.servers.iter().enumerate() {
                let RadiusServerMode::Connect(connect) = &def.mode else {
                    continue;
                };
                let Ok(server) = u32::try_from(si) else {
                    continue;
                };
                let sref = ServerRef {
                    backend: bid,
                    server,
                };
                let cfg = ServerCfg {
                    sref,
                    name: def.name.clone(),
                    backend_name: backend.name.clone(),
                    secret: Arc::from(def.secret.as_bytes()),
                    timeout: def.timeout.max(MIN_TIMER),
                    retries: def.retries,
                    status: def.status,
                    status_interval: def.status_interval.max(MIN_TIMER),
                    nas_identifier: def.nas_identifier.clone(),
                    priority: def.priority,
                    target: Arc::new(Target {
                        protocol: connect.protocol,
                        host: connect.host.clone(),
                        ip: connect.ip,
                        port: connect.port,
                    }),
                    keep: def.status || keep_connected.contains(&bid),
                };
                let slot = this.servers.len();
                let state = if cfg.is_stream() {
                    LinkState::Stream(StreamState::Idle)
                } else {
                    this.peers.open(Link::Udp(slot), cfg.peer_config());
                    LinkState::Udp(UdpState::default())
                };
                // UDP servers start up (nothing is known against them); stream
                // servers are up once connected.
                let up = !cfg.is_stream();
                this.servers.push(Server {
                    cfg,
                    state,
                    backoff: Backoff::default(),
                    queue: VecDeque::new(),
                    up,
                });
                this.by_ref.insert(sref, slot);
                slots.push(slot);
            }
            if !slots.is_empty() {
                this.backends.insert(
                    bid,
                    BackendState {
                        name: backend.name.clone(),
                        selection: radius.server_selection,
                        slots,
                        round_robin: 0,
                    },
                );
            }
        }
        for slot in 0..this.servers.len() {
            let cfg = &this.servers[slot].cfg;
            if cfg.is_stream() {
                if cfg.keep {
                    this.start_connect(now.mono, slot);
                }
            } else if cfg.status {
                this.send_probe(now.mono, Link::Udp(slot));
            }
        }
        this
    }

    // ----------------------------------------------------------------- outputs

    /// The next command for the driver, in order. Drain after every call.
    pub fn poll_output(&mut self) -> Option<DialerOutput> {
        self.out.pop_front()
    }

    /// When [`Dialer::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next(), self.peers.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fire every timer due at `now`, ours and the peer machines', earliest first
    /// (the peers' first on a tie).
    pub fn handle_timeout(&mut self, now: Now) {
        let now = now.mono;
        loop {
            let ours = self.timers.next().filter(|at| *at <= now);
            let peers = self.peers.poll_timeout().filter(|at| *at <= now);
            match (ours, peers) {
                (None, None) => return,
                (Some(a), Some(b)) if a < b => self.fire_ours(now),
                (Some(_), None) => self.fire_ours(now),
                (_, Some(_)) => {
                    if let Some((link, events)) = self.peers.fire_next(now, self.rng.as_mut()) {
                        self.on_peer_events(now, link, events);
                    }
                }
            }
        }
    }

    fn fire_ours(&mut self, now: Instant) {
        if let Some(timer) = self.timers.pop_due(now) {
            self.fire(now, timer);
        }
    }

    // ------------------------------------------------------------------ queries

    /// Where a server is reached (for a driver that keeps one UDP socket per server).
    pub fn target(&self, server: ServerRef) -> Option<Arc<Target>> {
        let slot = *self.by_ref.get(&server)?;
        self.servers.get(slot).map(|s| s.cfg.target.clone())
    }

    /// Whether this connection is one of ours (the engine routes stream events by it).
    pub fn owns(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// The address an open dialed connection is connected to.
    pub fn peer_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.conns.get(&conn).map(|c| c.peer)
    }

    /// The server an open dialed connection belongs to.
    pub fn conn_server(&self, conn: ConnId) -> Option<ServerRef> {
        let c = self.conns.get(&conn)?;
        self.servers.get(c.slot).map(|s| s.cfg.sref)
    }

    /// Whether a server is currently reported up.
    pub fn is_up(&self, server: ServerRef) -> bool {
        self.by_ref
            .get(&server)
            .and_then(|slot| self.servers.get(*slot))
            .is_some_and(|s| s.up)
    }

    /// Every `connect` server this machine manages, in backend then configuration order.
    pub fn servers(&self) -> impl Iterator<Item = ServerRef> + '_ {
        self.servers.iter().map(|s| s.cfg.sref)
    }

    /// Whether `backend` has at least one `connect` server here.
    pub fn handles(&self, backend: BackendId) -> bool {
        self.backends.contains_key(&backend)
    }

    // ----------------------------------------------------------------- requests

    /// Send a request to `backend` (see the module documentation for what
    /// `request` holds). `Ok` means exactly one [`DialerOutput::Reply`] or
    /// [`DialerOutput::Failed`] carrying `token` will follow. `Err` means the
    /// request was refused at once and `token` will never appear: the backend has
    /// no `connect` server here or none is available (`BACKEND_ERROR`), the packet
    /// is not a request or cannot be encoded (`INVALID_VALUE`), or queues are full
    /// (`QUEUE_FULL`).
    pub fn send(
        &mut self,
        now: Now,
        backend: BackendId,
        request: Packet,
        token: RequestToken,
    ) -> Result<(), ErrorValue> {
        let Some(b) = self.backends.get(&backend) else {
            return Err(error(
                ErrorCode::BackendError,
                format!("backend #{} has no `connect` server", backend.0),
            ));
        };
        if !request.code.is_request() {
            return Err(error(
                ErrorCode::InvalidValue,
                format!(
                    "backend '{}': {} is not a request code",
                    b.name, request.code
                ),
            ));
        }
        if let Err(e) = validate(&request) {
            return Err(error(
                ErrorCode::InvalidValue,
                format!("backend '{}': request cannot be encoded: {e}", b.name),
            ));
        }
        if self.requests.len() >= MAX_PENDING_REQUESTS {
            return Err(error(
                ErrorCode::QueueFull,
                format!("{MAX_PENDING_REQUESTS} outbound requests are already pending"),
            ));
        }
        let key = self.next_request;
        self.next_request += 1;
        self.requests.insert(
            key,
            Request {
                token,
                backend,
                template: request,
                tried: Vec::new(),
                closes: 0,
                last_id: None,
                last_error: None,
                state: ReqState::Unassigned,
                timer: None,
                deadline: now.mono,
            },
        );
        match self.select(key) {
            Ok(slot) => {
                self.assign(now.mono, key, slot);
                Ok(())
            }
            Err(e) => {
                self.requests.remove(&key);
                Err(e)
            }
        }
    }

    // ------------------------------------------------------------ driver events

    /// A connection attempt succeeded; the engine numbered the connection `conn`,
    /// connected to `peer`.
    pub fn handle_connected(
        &mut self,
        now: Now,
        attempt: AttemptId,
        conn: ConnId,
        peer: SocketAddr,
    ) {
        let Some(slot) = self.attempts.remove(&attempt) else {
            self.out.push_back(DialerOutput::Close {
                conn,
                reason: CloseReason::Abandoned,
            });
            return;
        };
        if self.conns.contains_key(&conn) {
            // The engine reused a live connection number: refuse the new one.
            self.out.push_back(DialerOutput::Close {
                conn,
                reason: CloseReason::Abandoned,
            });
            self.connect_failed(now.mono, slot, "connection number already in use");
            return;
        }
        let Some(server) = self.servers.get_mut(slot) else {
            return;
        };
        if let LinkState::Stream(StreamState::Connecting { timer, .. }) = &server.state {
            self.timers.cancel(*timer);
        }
        server.state = LinkState::Stream(StreamState::Connected(conn));
        let status = server.cfg.status;
        self.peers.open(Link::Conn(conn), server.cfg.peer_config());
        self.conns.insert(
            conn,
            Conn {
                slot,
                decoder: StreamDecoder::new(),
                watchdog: Watchdog::default(),
                connected_at: now.mono,
                peer,
                proven: false,
            },
        );
        self.set_up(slot, true);
        if status {
            self.send_probe(now.mono, Link::Conn(conn));
        }
        self.drain(now.mono, slot);
    }

    /// A connection attempt failed (refused, unreachable, TLS handshake failed…).
    pub fn handle_connect_failed(&mut self, now: Now, attempt: AttemptId, reason: &str) {
        let Some(slot) = self.attempts.remove(&attempt) else {
            return;
        };
        self.connect_failed(now.mono, slot, reason);
    }

    /// Bytes arrived on a dialed connection.
    pub fn handle_stream_data(&mut self, now: Now, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.decoder.push(data);
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.decoder.next_packet() {
                Err(e) => {
                    self.lose_conn(now.mono, conn, Some(CloseReason::Framing(e)));
                    return;
                }
                Ok(None) => return,
                Ok(Some(bytes)) => match Packet::decode(bytes) {
                    Err(e) => {
                        self.lose_conn(now.mono, conn, Some(CloseReason::Malformed(e)));
                        return;
                    }
                    Ok(packet) => self.on_stream_packet(now.mono, conn, packet),
                },
            }
        }
    }

    /// A dialed connection closed (by the peer, or after an error).
    pub fn handle_stream_closed(&mut self, now: Now, conn: ConnId) {
        self.lose_conn(now.mono, conn, None);
    }

    /// A datagram arrived on the socket of UDP server `server` from `from`.
    /// Datagrams from an address other than a configured `ip` and port are dropped,
    /// as are malformed or unmatched ones (UDP never closes anything).
    pub fn handle_datagram(&mut self, now: Now, server: ServerRef, from: SocketAddr, data: &[u8]) {
        let Some(&slot) = self.by_ref.get(&server) else {
            return;
        };
        let Some(s) = self.servers.get(slot) else {
            return;
        };
        if let Some(ip) = s.cfg.target.ip
            && (from.ip() != ip || from.port() != s.cfg.target.port)
        {
            return;
        }
        if !matches!(s.state, LinkState::Udp(_)) {
            return;
        }
        let Ok(packet) = Packet::decode(Bytes::copy_from_slice(data)) else {
            return;
        };
        if !packet.code.is_response() {
            return;
        }
        self.on_udp_response(now.mono, slot, packet);
    }

    // ---------------------------------------------------------------- internals

    fn set_up(&mut self, slot: usize, up: bool) {
        if let Some(s) = self.servers.get_mut(slot)
            && s.up != up
        {
            s.up = up;
            self.out.push_back(DialerOutput::ServerState {
                server: s.cfg.sref,
                up,
            });
        }
    }

    fn start_connect(&mut self, now: Instant, slot: usize) {
        let Some(s) = self.servers.get_mut(slot) else {
            return;
        };
        let attempt = AttemptId(self.next_attempt);
        self.next_attempt += 1;
        let timer = self.timers.set(
            now + s.cfg.timeout.max(MIN_CONNECT_TIMEOUT),
            Timer::ConnectTimeout(slot),
        );
        s.state = LinkState::Stream(StreamState::Connecting { attempt, timer });
        self.attempts.insert(attempt, slot);
        self.out.push_back(DialerOutput::Driver(Output::Connect {
            attempt,
            server: s.cfg.sref,
            target: s.cfg.target.clone(),
        }));
    }

    /// An attempt for `slot` failed: back off, and move its queued requests on.
    fn connect_failed(&mut self, now: Instant, slot: usize, reason: &str) {
        let Some(s) = self.servers.get_mut(slot) else {
            return;
        };
        if let LinkState::Stream(StreamState::Connecting { timer, .. }) = &s.state {
            self.timers.cancel(*timer);
        }
        let delay = s.backoff.next_delay(self.rng.as_mut());
        let timer = self.timers.set(now + delay, Timer::Reconnect(slot));
        s.state = LinkState::Stream(StreamState::Backoff { timer });
        let err = error(
            ErrorCode::BackendError,
            format!("cannot connect to {}: {reason}", s.cfg.label()),
        );
        let queued: Vec<ReqKey> = s.queue.drain(..).collect();
        self.set_up(slot, false);
        for key in queued {
            self.fail_on_server(now, key, slot, err.clone());
        }
    }

    /// Forget a connection; `reason` set means we close it (and say so).
    fn lose_conn(&mut self, now: Instant, conn: ConnId, reason: Option<CloseReason>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(reason) = reason {
            self.out.push_back(DialerOutput::Close { conn, reason });
        }
        self.timers.cancel(c.watchdog.due);
        let lost = self.peers.close(Link::Conn(conn));
        let slot = c.slot;
        let Some(s) = self.servers.get_mut(slot) else {
            return;
        };
        let stable = c.proven || now.saturating_duration_since(c.connected_at) >= STABLE_AFTER;
        if stable {
            s.backoff.reset();
        }
        if s.cfg.keep || !stable {
            let delay = s.backoff.next_delay(self.rng.as_mut());
            let timer = self.timers.set(now + delay, Timer::Reconnect(slot));
            s.state = LinkState::Stream(StreamState::Backoff { timer });
        } else {
            s.state = LinkState::Stream(StreamState::Idle);
        }
        let retries = s.cfg.retries;
        let label = s.cfg.label();
        self.set_up(slot, false);
        for event in lost {
            let Event::Lost { waiter: key, .. } = event else {
                continue;
            };
            let Some(r) = self.requests.get_mut(&key) else {
                continue;
            };
            r.closes += 1;
            if r.closes <= retries {
                r.state = ReqState::Unassigned;
                self.dispatch(now, key);
            } else {
                self.finish_failed(
                    key,
                    error(
                        ErrorCode::ConnectionClosed,
                        format!("connection to {label} closed before the reply"),
                    ),
                );
            }
        }
        // On-demand servers reconnect at once when requests wait for them.
        let idle_with_work = self.servers.get(slot).is_some_and(|s| {
            matches!(s.state, LinkState::Stream(StreamState::Idle)) && !s.queue.is_empty()
        });
        if idle_with_work {
            self.start_connect(now, slot);
        }
    }

    /// Select a server for a request, or fail it.
    fn dispatch(&mut self, now: Instant, key: ReqKey) {
        match self.select(key) {
            Ok(slot) => self.assign(now, key, slot),
            Err(e) => self.finish_failed(key, e),
        }
    }

    /// Queue a request on a server, with its deadline, and get it moving.
    fn assign(&mut self, now: Instant, key: ReqKey, slot: usize) {
        let Some(s) = self.servers.get_mut(slot) else {
            return;
        };
        let Some(r) = self.requests.get_mut(&key) else {
            return;
        };
        self.timers.cancel(r.timer.take());
        r.deadline = now + s.cfg.timeout;
        r.timer = Some(self.timers.set(r.deadline, Timer::Request(key)));
        r.state = ReqState::Queued { slot };
        s.queue.push_back(key);
        match &s.state {
            LinkState::Stream(StreamState::Idle) => self.start_connect(now, slot),
            LinkState::Stream(StreamState::Connected(_)) | LinkState::Udp(_) => {
                self.drain(now, slot)
            }
            LinkState::Stream(_) => {}
        }
    }

    /// Hand queued requests of a server to its link's peer machine while it has
    /// identifiers free.
    fn drain(&mut self, now: Instant, slot: usize) {
        loop {
            let Some(s) = self.servers.get(slot) else {
                return;
            };
            let Some(&key) = s.queue.front() else {
                return;
            };
            let link = match &s.state {
                LinkState::Stream(StreamState::Connected(c)) => Link::Conn(*c),
                LinkState::Udp(_) => Link::Udp(slot),
                LinkState::Stream(_) => return,
            };
            let Some(r) = self.requests.get(&key) else {
                return;
            };
            let req = crate::peer::Request {
                waiter: key,
                template: r.template.clone(),
                secret: s.cfg.secret.clone(),
                hide_password: true,
                timeout: r.deadline.saturating_duration_since(now),
                retransmit: (!s.cfg.is_stream()).then(|| s.cfg.udp_interval()),
                rest: Duration::ZERO,
                avoid: r.last_id,
            };
            let rng = self.rng.as_mut();
            match self.peers.with(link, |p| p.submit(now, req, rng)) {
                Some(Ok(Submitted::Sent { id, bytes })) => {
                    self.pop_queued(slot);
                    self.sent(slot, link, key, id, bytes);
                }
                Some(Err(Refused::Encode(e))) => {
                    self.pop_queued(slot);
                    self.encode_failed(slot, key, &e);
                }
                // No identifier free (the peer keeps no queue of its own).
                Some(Ok(Submitted::Queued) | Err(Refused::QueueFull { .. })) | None => return,
            }
        }
    }

    fn pop_queued(&mut self, slot: usize) {
        if let Some(s) = self.servers.get_mut(slot) {
            s.queue.pop_front();
        }
    }

    /// A request went out on `link` with identifier `id`: write it.
    fn sent(&mut self, slot: usize, link: Link, key: ReqKey, id: u8, bytes: Bytes) {
        if let Some(r) = self.requests.get_mut(&key) {
            self.timers.cancel(r.timer.take());
            r.last_id = Some(id);
            r.state = ReqState::InFlight { slot, link };
        }
        self.write(link, bytes);
    }

    fn encode_failed(&mut self, slot: usize, key: ReqKey, e: &str) {
        let label = self
            .servers
            .get(slot)
            .map(|s| s.cfg.label())
            .unwrap_or_default();
        let err = error(
            ErrorCode::InvalidValue,
            format!("request for {label} cannot be encoded: {e}"),
        );
        self.finish_failed(key, err);
    }

    /// Write bytes on a link: to the connection, or to the UDP server.
    fn write(&mut self, link: Link, bytes: Bytes) {
        self.out.push_back(DialerOutput::Driver(match link {
            Link::Conn(conn) => Output::StreamWrite { conn, data: bytes },
            Link::Udp(slot) => {
                let Some(s) = self.servers.get(slot) else {
                    return;
                };
                Output::BackendDatagram {
                    server: s.cfg.sref,
                    to: s.cfg.target.clone(),
                    data: bytes,
                }
            }
        }));
    }

    /// Act on what the peer machine of `link` reported.
    fn on_peer_events(&mut self, now: Instant, link: Link, events: Vec<Event<ReqKey>>) {
        for event in events {
            match event {
                Event::Sent { waiter, id, bytes } => {
                    if let Some(ReqState::InFlight { slot, .. } | ReqState::Queued { slot }) =
                        self.requests.get(&waiter).map(|r| r.state)
                    {
                        self.sent(slot, link, waiter, id, bytes);
                    }
                }
                Event::Resent { bytes } | Event::ProbeSent { bytes } => self.write(link, bytes),
                Event::Reply {
                    waiter,
                    packet,
                    authenticator,
                } => self.complete(now, waiter, packet, authenticator),
                // The dialer queues requests itself (its peer machines keep no
                // queue), so none fails waiting there.
                Event::Failed {
                    waiter,
                    failure: Failure::Timeout { .. } | Failure::Queued { .. },
                } => self.on_request_timeout(now, waiter),
                Event::Failed {
                    waiter,
                    failure: Failure::Encode(e),
                } => {
                    if let Some(ReqState::InFlight { slot, .. }) =
                        self.requests.get(&waiter).map(|r| r.state)
                    {
                        self.encode_failed(slot, waiter, &e);
                    }
                }
                // Only closing a peer machine loses requests: `lose_conn` retries them.
                Event::Lost { .. } => {}
                Event::BadReply { code, error } => {
                    // UDP discards it; a stream closes (RFC 6613 §2.6.4).
                    if let Link::Conn(conn) = link {
                        self.lose_conn(now, conn, Some(CloseReason::bad_packet(code, error)));
                    }
                }
                Event::Stray { id, late, .. } => {
                    let status = self
                        .slot_of(link)
                        .and_then(|slot| self.servers.get(slot))
                        .is_some_and(|s| s.cfg.status);
                    if late && status && id == STATUS_SERVER_ID {
                        // The late answer to an earlier probe: a sign of life.
                        self.mark_alive(link);
                    }
                }
                Event::ProbeAnswered => self.mark_alive(link),
                Event::ProbeUnanswered => self.on_probe_timeout(now, link),
            }
        }
    }

    /// The request failed on this server (timeout, connect failure): try another.
    fn fail_on_server(&mut self, now: Instant, key: ReqKey, slot: usize, err: ErrorValue) {
        let Some(r) = self.requests.get_mut(&key) else {
            return;
        };
        self.timers.cancel(r.timer.take());
        if !r.tried.contains(&slot) {
            r.tried.push(slot);
        }
        r.last_error = Some(err);
        r.state = ReqState::Unassigned;
        self.dispatch(now, key);
    }

    fn finish_failed(&mut self, key: ReqKey, err: ErrorValue) {
        if let Some(r) = self.requests.remove(&key) {
            self.timers.cancel(r.timer);
            self.out.push_back(DialerOutput::Failed {
                token: r.token,
                error: err,
            });
        }
    }

    fn complete(&mut self, now: Instant, key: ReqKey, packet: Packet, authenticator: [u8; 16]) {
        let Some(r) = self.requests.remove(&key) else {
            return;
        };
        self.timers.cancel(r.timer);
        let ReqState::InFlight { slot, link } = r.state else {
            return;
        };
        self.mark_alive(link);
        let Some(server) = self.servers.get(slot).map(|s| s.cfg.sref) else {
            return;
        };
        self.out.push_back(DialerOutput::Reply {
            token: r.token,
            server,
            request_authenticator: authenticator,
            packet,
        });
        self.drain(now, slot);
    }

    /// Something verified arrived on `link`: the peer is alive.
    fn mark_alive(&mut self, link: Link) {
        match link {
            Link::Conn(c) => {
                if let Some(c) = self.conns.get_mut(&c) {
                    c.proven = true;
                    c.watchdog.failures = 0;
                }
            }
            Link::Udp(slot) => {
                let mut revived = false;
                if let Some(s) = self.servers.get_mut(slot) {
                    if let LinkState::Udp(u) = &mut s.state {
                        u.watchdog.failures = 0;
                        if u.down {
                            u.down = false;
                            self.timers.cancel(u.holddown.take());
                        }
                        revived = true;
                    }
                    s.backoff.reset();
                }
                if revived {
                    self.set_up(slot, true);
                }
            }
        }
    }

    fn watchdog_mut(&mut self, link: Link) -> Option<&mut Watchdog> {
        match link {
            Link::Conn(c) => self.conns.get_mut(&c).map(|c| &mut c.watchdog),
            Link::Udp(slot) => match self.servers.get_mut(slot).map(|s| &mut s.state) {
                Some(LinkState::Udp(u)) => Some(&mut u.watchdog),
                _ => None,
            },
        }
    }

    fn slot_of(&self, link: Link) -> Option<usize> {
        match link {
            Link::Conn(c) => self.conns.get(&c).map(|c| c.slot),
            Link::Udp(slot) => Some(slot),
        }
    }

    /// Send a Status-Server probe on `link` (a probe still out is given up) and
    /// schedule the next one.
    fn send_probe(&mut self, now: Instant, link: Link) {
        let Some(slot) = self.slot_of(link) else {
            return;
        };
        let Some(s) = self.servers.get(slot) else {
            return;
        };
        let probe = crate::peer::Request {
            waiter: (),
            template: status_server(s.cfg.nas_identifier.as_deref()),
            secret: s.cfg.secret.clone(),
            hide_password: false,
            timeout: s.cfg.timeout,
            retransmit: None,
            rest: Duration::ZERO,
            avoid: None,
        };
        let due_key = self
            .timers
            .set(now + s.cfg.status_interval, Timer::StatusDue(link));
        let Some(w) = self.watchdog_mut(link) else {
            self.timers.cancel(due_key);
            return;
        };
        let old_due = w.due.replace(due_key);
        self.timers.cancel(old_due);
        let rng = self.rng.as_mut();
        let events = self.peers.with(link, |p| p.probe(now, probe, rng));
        self.on_peer_events(now, link, events.unwrap_or_default());
    }

    fn mark_udp_down(&mut self, now: Instant, slot: usize) {
        let Some(s) = self.servers.get_mut(slot) else {
            return;
        };
        let LinkState::Udp(u) = &mut s.state else {
            return;
        };
        if u.down {
            return;
        }
        u.down = true;
        let delay = s.backoff.next_delay(self.rng.as_mut());
        u.holddown = Some(self.timers.set(now + delay, Timer::Reconnect(slot)));
        self.set_up(slot, false);
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Reconnect(slot) => self.on_reconnect_timer(now, slot),
            Timer::ConnectTimeout(slot) => {
                let Some(s) = self.servers.get(slot) else {
                    return;
                };
                if let LinkState::Stream(StreamState::Connecting { attempt, .. }) = s.state {
                    self.attempts.remove(&attempt);
                    self.out
                        .push_back(DialerOutput::Driver(Output::AbortConnect { attempt }));
                    self.connect_failed(now, slot, "connection attempt timed out");
                }
            }
            Timer::StatusDue(link) => {
                let Some(w) = self.watchdog_mut(link) else {
                    return;
                };
                w.due = None;
                if !self.peers.get(link).is_some_and(|p| p.probing()) {
                    self.send_probe(now, link);
                }
                // Otherwise the probe's timeout sends the next probe.
            }
            Timer::Request(key) => self.on_queued_timeout(now, key),
        }
    }

    fn on_reconnect_timer(&mut self, now: Instant, slot: usize) {
        let Some(s) = self.servers.get_mut(slot) else {
            return;
        };
        match &mut s.state {
            LinkState::Stream(StreamState::Backoff { .. }) => {
                if s.cfg.keep || !s.queue.is_empty() {
                    self.start_connect(now, slot);
                } else {
                    s.state = LinkState::Stream(StreamState::Idle);
                }
            }
            LinkState::Udp(u) => {
                // Hold-down over: eligible again, on probation (one more failure
                // and it is down again, with a longer hold-down).
                u.holddown = None;
                u.down = false;
                u.watchdog.failures = WATCHDOG_FAILURES.saturating_sub(1);
            }
            LinkState::Stream(_) => {}
        }
    }

    fn on_probe_timeout(&mut self, now: Instant, link: Link) {
        if self.watchdog_failed(now, link) {
            // Suspect: probe again at once rather than at the next interval.
            self.send_probe(now, link);
        }
    }

    /// One more consecutive failure on `link`: at [`WATCHDOG_FAILURES`] the
    /// connection is declared dead (closed) or the UDP server down. Returns
    /// whether the link is still trusted.
    fn watchdog_failed(&mut self, now: Instant, link: Link) -> bool {
        let Some(w) = self.watchdog_mut(link) else {
            return false;
        };
        w.failures = w.failures.saturating_add(1);
        let failures = w.failures;
        if failures < WATCHDOG_FAILURES {
            return true;
        }
        match link {
            Link::Conn(conn) => {
                self.lose_conn(now, conn, Some(CloseReason::WatchdogExpired { failures }));
            }
            Link::Udp(slot) => self.mark_udp_down(now, slot),
        }
        false
    }

    /// A request waited on a server (for a connection or an identifier) until
    /// its deadline: try another server.
    fn on_queued_timeout(&mut self, now: Instant, key: ReqKey) {
        let Some(r) = self.requests.get_mut(&key) else {
            return;
        };
        r.timer = None;
        let ReqState::Queued { slot } = r.state else {
            return;
        };
        if let Some(s) = self.servers.get_mut(slot) {
            s.queue.retain(|k| *k != key);
        }
        let err = self.timeout_error(slot);
        self.fail_on_server(now, key, slot, err);
    }

    /// A request in flight got no reply in time (its identifier is free already):
    /// try another server, feed the watchdog, and send what waits.
    fn on_request_timeout(&mut self, now: Instant, key: ReqKey) {
        let Some(ReqState::InFlight { slot, link }) = self.requests.get(&key).map(|r| r.state)
        else {
            return;
        };
        let err = self.timeout_error(slot);
        self.fail_on_server(now, key, slot, err);
        // Request timeouts feed the watchdog, except on connections it probes.
        let probed = self.servers.get(slot).is_some_and(|s| s.cfg.status);
        if !(probed && matches!(link, Link::Conn(_))) {
            self.watchdog_failed(now, link);
        }
        self.drain(now, slot);
    }

    fn timeout_error(&self, slot: usize) -> ErrorValue {
        match self.servers.get(slot) {
            Some(s) => error(
                ErrorCode::BackendTimeout,
                format!(
                    "{} did not answer within {}",
                    s.cfg.label(),
                    humanize(s.cfg.timeout)
                ),
            ),
            None => error(ErrorCode::BackendTimeout, "no answer".into()),
        }
    }

    fn on_stream_packet(&mut self, now: Instant, conn: ConnId, packet: Packet) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let slot = c.slot;
        let Some(s) = self.servers.get(slot) else {
            return;
        };
        match packet.code.authenticator_kind() {
            None => {} // Unknown code: discard, the connection stays (RFC 6613 §2.6.4).
            Some(AuthenticatorKind::Response) => {
                let link = Link::Conn(conn);
                let event = self.peers.with(link, |p| p.receive(packet));
                self.on_peer_events(now, link, event.into_iter().collect());
            }
            Some(_) => {
                if let Err(e) = verify_request(&packet, &s.cfg.secret, &VerifyPolicy::default()) {
                    let code = packet.code;
                    self.lose_conn(now, conn, Some(CloseReason::bad_packet(code, e)));
                    return;
                }
                let sref = s.cfg.sref;
                self.mark_alive(Link::Conn(conn));
                self.out.push_back(DialerOutput::IncomingRequest {
                    conn,
                    server: sref,
                    packet,
                });
            }
        }
    }

    fn on_udp_response(&mut self, now: Instant, slot: usize, packet: Packet) {
        let link = Link::Udp(slot);
        let event = self.peers.with(link, |p| p.receive(packet));
        self.on_peer_events(now, link, event.into_iter().collect());
    }
}

/// Check that a request template can be signed at all (attribute and packet
/// lengths, User-Password length), so that `send` can refuse it at once
/// ([`crate::peer::sign::check`]: signing's checks without its digests).
fn validate(template: &Packet) -> Result<(), String> {
    check(template, true).map_err(|e| e.to_string())
}
