//! The management listener: liveness and readiness probes, Prometheus metrics and a
//! read-only view of the inbound RADIUS stream connections.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /live` | `200 ok` while the process serves (also during shutdown) |
//! | `GET /ready` | `200 {"ready":true}` once every listener is bound; `503 {"ready":false,"reason":…}` while starting or shutting down |
//! | `GET /metrics` | Prometheus text exposition ([`Metrics::encode`]) |
//! | `GET /api/v1/connections` | JSON array of [`ConnectionView`] |
//! | anything else | `404` JSON; a known path with another method: `405` JSON |

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use boomerang_core::eval::context::{CertInfo, ConnectionInfo};
use boomerang_core::eval::text::format_timestamp;
use serde::{Serialize, Serializer};
use serde_json::json;
use tokio::net::TcpListener;

use crate::metrics::{self, Metrics, Transport};

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

/// A connections view being taken (see [`ConnectionsSource::snapshot`]).
pub type SnapshotFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<ConnectionView>> + Send + 'a>>;

/// Where `/api/v1/connections` gets its data: the driver's view of the inbound stream
/// connections (the `@select` candidates), taken when the endpoint is called.
pub trait ConnectionsSource: Send + Sync {
    /// Every active connection, in establishment order. The driver's source asks the
    /// engine task, so the view is built when asked and never per event.
    fn snapshot(&self) -> SnapshotFuture<'_>;
}

/// A source with no connections (for a daemon without stream listeners, and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnections;

impl ConnectionsSource for NoConnections {
    fn snapshot(&self) -> SnapshotFuture<'_> {
        Box::pin(std::future::ready(Vec::new()))
    }
}

/// One inbound stream connection as `/api/v1/connections` shows it: every
/// `connection.*` variable a `@select` pipeline can read (dotted names become nested
/// objects: `status.nas_identifier` is `"status": {"nas_identifier": …}`), plus how
/// many requests it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    /// `connection.id`: unique within the process, in establishment order.
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
    /// `connection.status.*`.
    pub status: StatusView,
    /// `connection.cert.*`; `null` unless the peer presented a TLS client certificate.
    pub cert: Option<CertView>,
    /// Requests we sent on this connection that await a reply.
    pub in_flight: usize,
    /// Requests waiting for a free identifier on this connection.
    pub queued: usize,
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
    /// The view of a connection as the core describes it, with its request counts.
    pub fn from_info(info: &ConnectionInfo, in_flight: usize, queued: usize) -> ConnectionView {
        ConnectionView {
            id: info.id,
            client_name: info.client_name.clone(),
            peer_addr: info.peer_addr,
            peer_ip: info.peer_addr.ip(),
            server_name: info.server_name.clone(),
            server_addr: info.server_addr,
            server_ip: info.server_addr.ip(),
            transport_protocol: info.transport.into(),
            connected: info.connected,
            status: StatusView {
                received: info.status_received,
                nas_identifier: info.status_nas_identifier.clone(),
            },
            cert: info.cert.as_ref().map(CertView::from_info),
            in_flight,
            queued,
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
    s.serialize_str(t.as_str())
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
        }
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
/// drive it without a socket).
pub fn router(state: ManagementState) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/connections", get(connections))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
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
    axum::serve(listener, router(state))
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
        Readiness::Ready => (StatusCode::OK, Json(json!({ "ready": true }))).into_response(),
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

async fn connections(State(state): State<ManagementState>) -> Response {
    Json(state.connections.snapshot().await).into_response()
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
