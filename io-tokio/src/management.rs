//! The management listener: liveness and readiness probes, Prometheus metrics and a
//! read-only view of the inbound RADIUS stream connections.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /live` | `200 ok` while the process serves (also during shutdown) |
//! | `GET /ready` | `200 {"ready":true}` once every listener is bound; `503 {"ready":false,"reason":…}` while starting or shutting down |
//! | `GET /metrics` | Prometheus text exposition ([`Metrics::encode`]) |
//! | `GET /api/v1/connections` | JSON array of [`ConnectionView`] (`?scope=`, `?limit=N`) |
//! | anything else | `404` JSON; a known path with another method: `405` JSON |
//!
//! `/metrics` and `/api/v1/…` show certificate subjects, NAS-Identifiers and addresses:
//! they answer only clients on the [`Access`] allow-list (loopback by default; others
//! get `403`) that present its bearer token when one is set (`401` otherwise).
//! `/live` and `/ready` answer everyone, so probes need no credentials. Connections
//! are bounded like any listener's ([`ManagementOptions`]).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::IncomingStream;
use boomerang_core::contract::Transport;
use boomerang_core::eval::context::{CertInfo, ConnectionInfo};
use boomerang_core::eval::text::format_timestamp;
use boomerang_core::eval::value::IpPrefix;
use serde::{Serialize, Serializer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::conn_limit::{self, ConnLimiter, ConnLimits};
use crate::http_conn::{Activity, Deadlines, HttpConn};
use crate::metrics::{self, Metrics};

/// Who may read `/metrics` and `/api/v1/…` (`management { allow { … } token "…"; }`).
#[derive(Clone, PartialEq, Eq)]
pub struct Access {
    /// Client addresses allowed; the others get `403`.
    pub allow: Vec<IpPrefix>,
    /// When set, requests need `Authorization: Bearer TOKEN`; without it (or with
    /// another) they get `401`.
    pub token: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("allow", &self.allow)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Default for Access {
    /// Loopback only, no token.
    fn default() -> Self {
        Access {
            allow: boomerang_core::lang::program::Management::loopback(),
            token: None,
        }
    }
}

impl Access {
    fn allows(&self, ip: IpAddr) -> bool {
        // An IPv4 client reaching an IPv6 socket shows as `::ffff:a.b.c.d`.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow.iter().any(|p| p.contains(&ip))
    }

    /// Whether `authorization` (the header's value) carries the token, compared in
    /// constant time.
    fn token_ok(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = authorization.and_then(|a| a.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let want = token.as_bytes();
        given.len() == want.len()
            && given
                .iter()
                .zip(want)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Bounds of the management listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagementOptions {
    /// Connections at once, in all and per source address (default 256 and 64).
    pub limits: ConnLimits,
    /// Header and idle timeouts (default 10 s and 60 s).
    pub deadlines: Deadlines,
}

impl Default for ManagementOptions {
    fn default() -> Self {
        ManagementOptions {
            limits: ConnLimits {
                connections: 256,
                per_source: 64,
            },
            deadlines: Deadlines {
                header: std::time::Duration::from_secs(10),
                idle: std::time::Duration::from_secs(60),
            },
        }
    }
}

/// The management listener: connections over its limits are closed at accept, the
/// others carry their deadlines.
struct ManagementListener {
    listener: TcpListener,
    limiter: Arc<ConnLimiter>,
    deadlines: Deadlines,
    metrics: Arc<Metrics>,
}

/// The server name management refusals are counted and logged under.
const NAME: &str = "management";

impl axum::serve::Listener for ManagementListener {
    type Io = HttpConn<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    // An IPv4 client of a dual-stack listener, as the allow list has it.
                    let peer = crate::net::canonical(peer);
                    if let Some(permit) =
                        conn_limit::admit(&self.limiter, &self.metrics, NAME, peer)
                    {
                        return (HttpConn::new(stream, self.deadlines, Some(permit)), peer);
                    }
                }
                Err(e) => {
                    conn_limit::accept_failed(NAME, &e);
                    tokio::time::sleep(conn_limit::ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// A management client: its address and its connection's activity.
#[derive(Debug, Clone)]
struct Peer(SocketAddr, Arc<Activity>);

impl Connected<IncomingStream<'_, ManagementListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, ManagementListener>) -> Self {
        Peer(*stream.remote_addr(), stream.io().activity())
    }
}

/// The daemon's life cycle as readiness probes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Readiness {
    /// Configuration loaded, listeners not all bound yet.
    Starting = 0,
    /// Every listener is bound and requests are being served.
    Ready = 1,
    /// Shutdown has begun; in-flight work drains, new work should go elsewhere.
    ShuttingDown = 2,
}

impl Readiness {
    fn from_u8(v: u8) -> Readiness {
        match v {
            0 => Readiness::Starting,
            1 => Readiness::Ready,
            _ => Readiness::ShuttingDown,
        }
    }

    /// The `reason` of a not-ready answer: `starting`, `ready` or `shutting_down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Starting => "starting",
            Readiness::Ready => "ready",
            Readiness::ShuttingDown => "shutting_down",
        }
    }
}

/// A connections view being taken (see [`ConnectionsSource::snapshot`]); the view is
/// shared (the driver's source answers many requests with one view).
pub type SnapshotFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Arc<[ConnectionView]>> + Send + 'a>>;

/// The cluster's state being taken (see [`ConnectionsSource::cluster`]).
pub type ClusterFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<ClusterView>> + Send + 'a>>;

/// Which connections `/api/v1/connections` lists (`?scope=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// This node's connections (the default).
    #[default]
    Node,
    /// Every node's connections as this node's cluster view has them (the same as
    /// [`Scope::Node`] without `cluster { … }`).
    Cluster,
}

impl Scope {
    /// The `scope` query parameter's value, if it is one.
    pub fn parse(value: &str) -> Option<Scope> {
        match value {
            "node" | "local" => Some(Scope::Node),
            "cluster" => Some(Scope::Cluster),
            _ => None,
        }
    }
}

/// Where `/api/v1/connections` and `/api/v1/cluster` get their data: the driver's
/// view of the inbound stream connections (the `@select` candidates) and of the
/// cluster, taken when the endpoint is called.
pub trait ConnectionsSource: Send + Sync {
    /// Every active connection of `scope`, in connection-number order. The driver's
    /// source asks the engine task, so the view is built when asked and never per
    /// event, at most once per [`VIEW_MAX_AGE`](crate::driver::VIEW_MAX_AGE) (a view
    /// that young is served again).
    fn snapshot(&self, scope: Scope) -> SnapshotFuture<'_>;

    /// The cluster as this node sees it; `None` without `cluster { … }`.
    fn cluster(&self) -> ClusterFuture<'_> {
        Box::pin(std::future::ready(None))
    }
}

/// A source with no connections (for a daemon without stream listeners, and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnections;

impl ConnectionsSource for NoConnections {
    fn snapshot(&self, _scope: Scope) -> SnapshotFuture<'_> {
        Box::pin(std::future::ready(Arc::from(Vec::new())))
    }
}

/// `/api/v1/cluster`: this node, its bus, and the other nodes as its view has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// The cluster's name.
    pub name: String,
    /// This node's name.
    pub node: String,
    /// This node's `node_id`.
    pub node_id: u16,
    /// Whether this node is connected to the bus (NATS).
    pub bus_up: bool,
    /// This node's connections.
    pub connections: usize,
    /// Requests this node forwarded that wait for the owner's answer.
    pub forwarded_waiting: usize,
    /// Requests other nodes forwarded to this node that are being sent.
    pub incoming_running: usize,
    /// The other nodes in the view, by `node_id`.
    pub nodes: Vec<NodeView>,
}

/// Another node of the cluster in `/api/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// Its `node_id`.
    pub node_id: u16,
    /// Its connections in this node's view.
    pub connections: usize,
    /// Milliseconds since this node last heard from it.
    pub last_heard_ms_ago: u64,
    /// Whether its connections are being repaired (a snapshot is awaited).
    pub repairing: bool,
}

impl ClusterView {
    /// The view of the core's cluster status at `now` (the engine's clock).
    pub fn of(status: &boomerang_core::cluster::ClusterStatus, now: std::time::Instant) -> Self {
        ClusterView {
            name: status.name.clone(),
            node: status.node.clone(),
            node_id: status.node_id,
            bus_up: status.bus_up,
            connections: status.local_connections,
            forwarded_waiting: status.forwarded_waiting,
            incoming_running: status.incoming_running,
            nodes: status
                .nodes
                .iter()
                .map(|n| NodeView {
                    name: n.name.clone(),
                    node_id: n.id,
                    connections: n.connections,
                    last_heard_ms_ago: u64::try_from(
                        now.saturating_duration_since(n.last_heard).as_millis(),
                    )
                    .unwrap_or(u64::MAX),
                    repairing: n.repairing,
                })
                .collect(),
        }
    }
}

/// One inbound stream connection as `/api/v1/connections` shows it: every
/// `connection.*` variable a `@select` pipeline can read (dotted names become nested
/// objects: `status.nas_identifier` is `"status": {"nas_identifier": …}`), plus how
/// many requests it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    /// `connection.id`: unique in the cluster (node N numbers its connections from
    /// N × 2⁴⁸ plus a run drawn at each start; from 1 without a cluster), in
    /// establishment order.
    pub id: u64,
    /// `connection.client_name`: the configured client that connected.
    pub client_name: String,
    /// `connection.peer_addr`: remote `ip:port`.
    pub peer_addr: SocketAddr,
    /// `connection.peer_ip`: remote address.
    pub peer_ip: IpAddr,
    /// `connection.server_name`: the local server it connected to.
    pub server_name: String,
    /// `connection.server_addr`: local `ip:port`.
    pub server_addr: SocketAddr,
    /// `connection.server_ip`: local address.
    pub server_ip: IpAddr,
    /// `connection.transport_protocol`: `tcp` or `tls`.
    #[serde(serialize_with = "transport_name")]
    pub transport_protocol: Transport,
    /// `connection.connected`: when it was established (RFC 3339, UTC).
    #[serde(serialize_with = "rfc3339")]
    pub connected: SystemTime,
    /// `connection.last_heard`: when the last whole packet arrived from the peer
    /// (RFC 3339), `null` before the first.
    #[serde(serialize_with = "rfc3339_opt")]
    pub last_heard: Option<SystemTime>,
    /// `connection.healthy`: false while its liveness is in doubt (a request of ours
    /// on it timed out and no reply has arrived since).
    pub healthy: bool,
    /// `connection.status.*`.
    pub status: StatusView,
    /// `connection.cert.*`; `null` unless the peer presented a TLS client certificate.
    pub cert: Option<CertView>,
    /// The cluster node that holds it (absent without `cluster { … }`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Requests we sent on this connection that await a reply (absent for another
    /// node's connection: that node holds its requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<usize>,
    /// Requests waiting for a free identifier on this connection (absent for
    /// another node's connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<usize>,
}

/// `connection.status.*`: what the NAS's Status-Server messages told us.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StatusView {
    /// `connection.status.received`: when the last Status-Server arrived (RFC 3339),
    /// `null` if none did.
    #[serde(serialize_with = "rfc3339_opt")]
    pub received: Option<SystemTime>,
    /// `connection.status.nas_identifier`: the NAS-Identifier of the last Status-Server
    /// that carried one.
    pub nas_identifier: Option<String>,
}

/// `connection.cert.*`: the TLS client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CertView {
    /// `connection.cert.subject.*`.
    pub subject: CertSubjectView,
    /// `connection.cert.subject_alt.*`.
    pub subject_alt: SubjectAltView,
    /// `connection.cert.issuer`: the issuer's distinguished name.
    pub issuer: Option<String>,
    /// `connection.cert.fingerprint`: SHA-256 of the DER certificate, lower-case hex.
    pub fingerprint: Option<String>,
}

/// `connection.cert.subject.*`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CertSubjectView {
    /// `connection.cert.subject.cn`: the subject Common Name.
    pub cn: Option<String>,
}

/// `connection.cert.subject_alt.*`: Subject Alternative Names, in certificate order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SubjectAltView {
    /// `connection.cert.subject_alt.email`.
    pub email: Vec<String>,
    /// `connection.cert.subject_alt.dns`.
    pub dns: Vec<String>,
    /// `connection.cert.subject_alt.uri`.
    pub uri: Vec<String>,
}

impl ConnectionView {
    /// The view of one of this node's connections as the core describes it, with
    /// its request counts.
    pub fn from_info(info: &ConnectionInfo, in_flight: usize, queued: usize) -> ConnectionView {
        ConnectionView {
            in_flight: Some(in_flight),
            queued: Some(queued),
            ..ConnectionView::facts(info)
        }
    }

    /// The view of another cluster node's connection (its facts, no counts).
    pub fn remote(info: &ConnectionInfo, node: &str) -> ConnectionView {
        ConnectionView {
            node: Some(node.to_owned()),
            ..ConnectionView::facts(info)
        }
    }

    /// What `connection.*` reads, without counts or node.
    fn facts(info: &ConnectionInfo) -> ConnectionView {
        ConnectionView {
            id: info.id,
            client_name: info.client_name.clone(),
            peer_addr: info.peer_addr,
            peer_ip: info.peer_addr.ip(),
            server_name: info.server_name.clone(),
            server_addr: info.server_addr,
            server_ip: info.server_addr.ip(),
            transport_protocol: info.transport,
            connected: info.connected,
            last_heard: info.last_heard,
            healthy: info.healthy,
            status: StatusView {
                received: info.status_received,
                nas_identifier: info.status_nas_identifier.clone(),
            },
            cert: info.cert.as_ref().map(CertView::from_info),
            node: None,
            in_flight: None,
            queued: None,
        }
    }
}

impl CertView {
    /// The view of a certificate as the core describes it.
    pub fn from_info(cert: &CertInfo) -> CertView {
        CertView {
            subject: CertSubjectView {
                cn: cert.subject_cn.clone(),
            },
            subject_alt: SubjectAltView {
                email: cert.san_email.clone(),
                dns: cert.san_dns.clone(),
                uri: cert.san_uri.clone(),
            },
            issuer: cert.issuer.clone(),
            fingerprint: cert.fingerprint.clone(),
        }
    }
}

fn transport_name<S: Serializer>(t: &Transport, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(*t))
}

fn rfc3339_opt<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_timestamp(*t)),
        None => s.serialize_none(),
    }
}

/// What the management listener serves from. Cheap to clone: clones share the same
/// metrics, readiness and connection source.
#[derive(Clone)]
pub struct ManagementState {
    metrics: Arc<Metrics>,
    readiness: Arc<AtomicU8>,
    connections: Arc<dyn ConnectionsSource>,
    /// Replaced as a whole by a reload ([`ManagementState::set_access`]); each
    /// request reads the one in force when it arrives.
    access: Arc<RwLock<Arc<Access>>>,
    bus: Option<crate::driver::bus::BusStatus>,
    /// The last `/api/v1/connections` body, shared by the requests answered with the
    /// same view.
    connections_json: Arc<tokio::sync::Mutex<Option<ConnectionsJson>>>,
}

/// An `/api/v1/connections` body and what it was made of. The source serves one view
/// to every request within [`VIEW_MAX_AGE`](crate::driver::VIEW_MAX_AGE); the requests
/// answered with it share its serialization too (7.6 MB of JSON with 15,000
/// connections, tens of milliseconds of a runtime worker), instead of making one each.
struct ConnectionsJson {
    /// The view serialized (compared by identity: the same shared view).
    view: Arc<[ConnectionView]>,
    /// How many of its connections the body lists.
    listed: usize,
    /// The JSON array.
    body: bytes::Bytes,
}

impl std::fmt::Debug for ManagementState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementState")
            .field("readiness", &self.readiness())
            .finish_non_exhaustive()
    }
}

impl ManagementState {
    /// A state in [`Readiness::Starting`].
    pub fn new(metrics: Arc<Metrics>, connections: Arc<dyn ConnectionsSource>) -> ManagementState {
        ManagementState {
            metrics,
            readiness: Arc::new(AtomicU8::new(Readiness::Starting as u8)),
            connections,
            access: Arc::new(RwLock::new(Arc::new(Access::default()))),
            bus: None,
            connections_json: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// This state with `access` deciding who may read `/metrics` and `/api/v1/…`.
    pub fn with_access(self, access: Access) -> ManagementState {
        self.set_access(access);
        self
    }

    /// From now on, `access` decides (a reload changed `allow` or `token`); every
    /// clone of this state sees it. Requests already let through are not asked again.
    pub fn set_access(&self, access: Access) {
        *self.access.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(access);
    }

    /// Who may read `/metrics` and `/api/v1/…` now.
    pub fn access(&self) -> Arc<Access> {
        self.access
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// This state with `/ready` telling the cluster bus's state (a node of a cluster).
    pub fn with_bus_status(mut self, status: crate::driver::bus::BusStatus) -> ManagementState {
        self.bus = Some(status);
        self
    }

    /// Where the daemon is in its life cycle.
    pub fn readiness(&self) -> Readiness {
        Readiness::from_u8(self.readiness.load(Ordering::Acquire))
    }

    /// Whether `/ready` answers 200: every listener bound and not shutting down.
    pub fn ready(&self) -> bool {
        self.readiness() == Readiness::Ready
    }

    /// Every listener is bound: become ready. Has no effect once shutdown has begun
    /// (returns `false` then).
    pub fn set_ready(&self) -> bool {
        self.readiness
            .compare_exchange(
                Readiness::Starting as u8,
                Readiness::Ready as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
            || self.ready()
    }

    /// Shutdown has begun: `/ready` answers 503 from now on, for good.
    pub fn set_shutting_down(&self) {
        self.readiness
            .store(Readiness::ShuttingDown as u8, Ordering::Release);
    }

    /// The metrics `/metrics` exposes.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// The management routes, ready to be served (exposed so tests and embedders can
/// drive it without a socket). A request that did not come through [`serve`] has no
/// client address: only the token (if any) is checked for it.
pub fn router(state: ManagementState) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/api/v1/connections", get(connections))
        .route("/api/v1/cluster", get(cluster))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ));
    Router::new()
        .route("/live", get(live))
        .route("/ready", get(ready))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(in_progress))
        .with_state(state)
}

/// Hold the connection's deadlines off while a request is handled.
async fn in_progress(req: Request, next: Next) -> Response {
    let busy = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(Peer(_, activity))| activity.begin());
    let response = next.run(req).await;
    drop(busy);
    response
}

/// Let a request to a protected route through only from an allowed address with the
/// token (when one is set).
async fn authorize(State(state): State<ManagementState>, req: Request, next: Next) -> Response {
    let access = state.access();
    let peer = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(Peer(addr, _))| *addr);
    if let Some(peer) = peer
        && !access.allows(peer.ip())
    {
        refused(peer, "client not allowed");
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "forbidden", "reason": "client not allowed" })),
        )
            .into_response();
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !access.token_ok(authorization) {
        if let Some(peer) = peer {
            refused(peer, "missing or wrong bearer token");
        }
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "unauthorized", "reason": "a bearer token is required" })),
        )
            .into_response();
    }
    next.run(req).await
}

fn refused(peer: SocketAddr, reason: &str) {
    crate::log_limit::warn(
        &format!("management: request refused: {reason}"),
        format_args!("management: request from {peer} refused: {reason}"),
    );
}

/// Serve the management routes on `listener` until `shutdown` completes; then stop
/// accepting, let requests in progress finish and return.
///
/// Accept errors (e.g. too many open files) are retried after a pause rather than
/// ending the listener: probes must keep working through a transient failure. The
/// result is therefore always `Ok` once `shutdown` has completed.
pub async fn serve(
    listener: TcpListener,
    state: ManagementState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ManagementOptions::default(), shutdown).await
}

/// [`serve`] with these connection limits and timeouts.
pub async fn serve_with(
    listener: TcpListener,
    state: ManagementState,
    options: ManagementOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = ManagementListener {
        listener,
        limiter: ConnLimiter::new(options.limits),
        deadlines: options.deadlines,
        metrics: state.metrics.clone(),
    };
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn live() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ok\n",
    )
        .into_response()
}

async fn ready(State(state): State<ManagementState>) -> Response {
    match state.readiness() {
        // A node whose cluster bus is down still serves its own connections: ready,
        // and the answer says the bus is down.
        Readiness::Ready => match &state.bus {
            Some(bus) => {
                let (up, detail) = bus.get();
                let body = json!({
                    "ready": true,
                    "cluster_bus": { "up": up, "detail": detail },
                });
                (StatusCode::OK, Json(body)).into_response()
            }
            None => (StatusCode::OK, Json(json!({ "ready": true }))).into_response(),
        },
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reason": other.as_str() })),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<ManagementState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

/// A 400 answer: `error` names what was wrong, `message` says it for people.
fn bad_request(error: &str, message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "message": message })),
    )
        .into_response()
}

/// `GET /api/v1/connections[?scope=node|local|cluster][&limit=N]`: the connections of
/// the scope, the first `N` of them with `limit`; the `x-total-count` header says how
/// many the view has.
async fn connections(State(state): State<ManagementState>, uri: Uri) -> Response {
    let mut scope = Scope::Node;
    let mut limit = None;
    for (key, value) in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
    {
        match key {
            "scope" => match Scope::parse(value) {
                Some(s) => scope = s,
                None => {
                    return bad_request(
                        "invalid_scope",
                        format!("scope \"{value}\" is not one of: node (or local), cluster"),
                    );
                }
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) => limit = Some(n),
                Err(_) => {
                    return bad_request(
                        "invalid_limit",
                        format!("limit \"{value}\" is not a whole number of connections"),
                    );
                }
            },
            _ => {}
        }
    }
    let view = state.connections.snapshot(scope).await;
    let total = view.len();
    let listed = limit.map_or(total, |n| n.min(total));
    let body = {
        // Held while serializing (no await meanwhile, so a client that goes away
        // cannot cut it short): the requests behind it find the body made.
        let mut memo = state.connections_json.lock().await;
        match &*memo {
            Some(m) if Arc::ptr_eq(&m.view, &view) && m.listed == listed => m.body.clone(),
            _ => match serde_json::to_vec(view.get(..listed).unwrap_or(&view[..])) {
                Ok(json) => {
                    let body = bytes::Bytes::from(json);
                    *memo = Some(ConnectionsJson {
                        view: view.clone(),
                        listed,
                        body: body.clone(),
                    });
                    body
                }
                Err(e) => {
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({ "error": "internal", "message": e.to_string() })),
                    )
                        .into_response();
                }
            },
        }
    };
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::HeaderName::from_static("x-total-count"),
                total.to_string(),
            ),
        ],
        body,
    )
        .into_response()
}

async fn cluster(State(state): State<ManagementState>) -> Response {
    match state.connections.cluster().await {
        Some(view) => Json(view).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "no_cluster",
                "message": "this node has no cluster { } section",
            })),
        )
            .into_response(),
    }
}

async fn not_found(uri: Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "path": uri.path() })),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, HEAD")],
        Json(json!({ "error": "method_not_allowed", "allowed": ["GET", "HEAD"] })),
    )
        .into_response()
}
