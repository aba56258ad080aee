//! The daemon's Prometheus metrics: one [`Metrics`] owns the registry and every metric
//! family; the driver calls its recording methods as things happen, and the management
//! listener serves [`Metrics::encode`] at `/metrics`.
//!
//! Label values that come from a closed set (results, reasons, transports) are enums
//! here, so a typo cannot create a new time series; names of servers and backends are
//! the configuration's own names.

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use boomerang_core::contract::{
    CloseReason, DropReason, NasIdentifierClaim, ReverseStep, Transport,
};
use boomerang_core::radius::code::Code;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Histogram bucket bounds (seconds) for reverse requests and SQL queries: 1 ms to 10 s.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Declares a closed set of label values with their exposition spelling.
macro_rules! label_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The label value as it appears in the exposition.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    };
}

label_enum! {
    /// How a RADIUS request received by a server ended (`result` of
    /// `radius_requests_total`).
    RequestResult {
        /// Answered with Access-Accept.
        Accept => "accept",
        /// Answered with Access-Reject.
        Reject => "reject",
        /// Answered with Access-Challenge.
        Challenge => "challenge",
        /// Answered with Accounting-Response.
        AccountingResponse => "accounting_response",
        /// Answered with CoA-ACK or Disconnect-ACK.
        Ack => "ack",
        /// Answered with CoA-NAK or Disconnect-NAK.
        Nak => "nak",
        /// The policy decided not to answer.
        Ignored => "ignored",
        /// Processing failed and no answer could be produced.
        Error => "error",
    }
}

impl RequestResult {
    /// How a request answered with a reply of code `reply` ended: `None` for a code
    /// that answers none of the requests counted here.
    pub fn of_reply(reply: Code) -> Option<RequestResult> {
        Some(match reply {
            Code::AccessAccept => RequestResult::Accept,
            Code::AccessReject => RequestResult::Reject,
            Code::AccessChallenge => RequestResult::Challenge,
            Code::AccountingResponse => RequestResult::AccountingResponse,
            Code::DisconnectAck | Code::CoaAck => RequestResult::Ack,
            Code::DisconnectNak | Code::CoaNak => RequestResult::Nak,
            _ => return None,
        })
    }
}

label_enum! {
    /// Why a connection was closed as soon as it was accepted (`reason` of
    /// `connections_refused_total`).
    RefusedReason {
        /// The listener held its limit of connections (`limits { connections N; }`).
        Connections => "connections",
        /// The source address held its limit (`limits { per_source N; }`).
        PerSource => "per_source",
        /// The address is not on the HTTP server's client list.
        NotAllowed => "not_allowed",
    }
}

label_enum! {
    /// How an SQL query ended (`result` of `sql_queries_total`).
    SqlResult {
        /// Rows (possibly none) came back.
        Ok => "ok",
        /// The database stayed locked past the busy timeout.
        Busy => "busy",
        /// The deadline passed.
        Timeout => "timeout",
        /// Any other failure.
        Error => "error",
    }
}

label_enum! {
    /// Which way a cluster bus message went (`direction` of
    /// `cluster_bus_messages_total`).
    BusDirection {
        /// Published by this node.
        Sent => "sent",
        /// Received from the bus (the node's own `all` messages included).
        Received => "received",
    }
}

/// Labels `{cluster}` of `cluster_bus_up` and `cluster_bus_dropped_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClusterLabels {
    /// The cluster's name (`cluster { name "…"; }`).
    pub cluster: String,
}

/// Labels `{cluster, direction}` of `cluster_bus_messages_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BusLabels {
    /// The cluster's name.
    pub cluster: String,
    /// Sent or received.
    pub direction: BusDirection,
}

/// Labels `{cluster, direction, outcome}` of `cluster_forwarded_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ForwardLabels {
    /// The cluster's name.
    pub cluster: String,
    /// `out`: this node forwarded it; `in`: this node sent it on its connection
    /// ([`ForwardSide::label`](boomerang_core::contract::ForwardSide::label)).
    pub direction: &'static str,
    /// How it ended ([`ForwardEnd::label`](boomerang_core::contract::ForwardEnd::label)).
    pub outcome: &'static str,
}

/// Labels `{server, result}` of `nas_identifier_claims_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClaimLabels {
    /// The server's configuration name.
    pub server: String,
    /// What happened to the claim ([`NasIdentifierClaim::label`]).
    pub result: &'static str,
}

/// Labels `{step}` of `reverse_steps_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StepLabels {
    /// Which step ([`ReverseStep::label`]).
    pub step: &'static str,
}

/// Labels `{server}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ServerLabels {
    /// The server's configuration name.
    pub server: String,
}

/// Labels `{backend}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BackendLabels {
    /// The backend's configuration name.
    pub backend: String,
}

/// Labels of `radius_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The server's configuration name.
    pub server: String,
    /// The request's packet code name (`Access-Request`, …, or the number when unnamed).
    pub code: String,
    /// How it ended.
    pub result: RequestResult,
}

/// Labels of `radius_dropped_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DropLabels {
    /// The server's configuration name.
    pub server: String,
    /// Why ([`DropReason::label`]).
    pub reason: &'static str,
}

/// Labels of `reverse_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The backend's configuration name.
    pub backend: String,
    /// How it ended: [`BackendOutcome::as_str`](boomerang_core::engine::BackendOutcome::as_str).
    pub outcome: &'static str,
}

/// Labels of `connections_active` and `connections_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// The server's configuration name.
    pub server: String,
    /// `tcp` or `tls` ([`Transport::name`]).
    pub transport: &'static str,
}

/// Labels of `connections_closed_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CloseLabels {
    /// The server's configuration name.
    pub server: String,
    /// Why it closed ([`CloseReason::label`]).
    pub reason: &'static str,
}

/// Labels of `backend_server_up`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BackendServerLabels {
    /// The backend's configuration name.
    pub backend: String,
    /// The server's name inside the backend (`server "NAME"`).
    pub server: String,
}

/// Labels of `sql_queries_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SqlLabels {
    /// The backend's configuration name.
    pub backend: String,
    /// How it ended.
    pub result: SqlResult,
}

/// Labels of `http_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HttpLabels {
    /// The HTTP server's configuration name.
    pub server: String,
    /// The response status code.
    pub status: u16,
}

/// Labels of `connections_refused_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RefusedLabels {
    /// The server's configuration name (`management` for the management listener).
    pub server: String,
    /// Why.
    pub reason: RefusedReason,
}

/// Labels of `build_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BuildLabels {
    /// The daemon's version.
    pub version: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// A histogram family whose series all use [`DURATION_BUCKETS`].
type DurationFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the daemon, and the registry that exposes them.
///
/// Shared by the driver's tasks behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    started: Instant,
    radius_requests: Family<RequestLabels, Counter>,
    radius_dropped: Family<DropLabels, Counter>,
    reverse_requests: Family<OutcomeLabels, Counter>,
    reverse_duration: DurationFamily<BackendLabels>,
    connections_active: Family<ConnectionLabels, Gauge>,
    connections_total: Family<ConnectionLabels, Counter>,
    connections_closed: Family<CloseLabels, Counter>,
    identifiers_in_use: Family<ServerLabels, Gauge>,
    reverse_in_flight: Family<BackendLabels, Gauge>,
    reverse_queue_depth: Family<BackendLabels, Gauge>,
    backend_server_up: Family<BackendServerLabels, Gauge>,
    sql_queries: Family<SqlLabels, Counter>,
    sql_duration: DurationFamily<BackendLabels>,
    http_requests: Family<HttpLabels, Counter>,
    policy_no_match: Family<ServerLabels, Counter>,
    connections_refused: Family<RefusedLabels, Counter>,
    nas_identifier_claims: Family<ClaimLabels, Counter>,
    reverse_steps: Family<StepLabels, Counter>,
    uptime: Gauge<f64, AtomicU64>,
    engine_busy: Counter<f64, AtomicU64>,
    engine_view_builds: Counter,
    cluster_bus_up: Family<ClusterLabels, Gauge>,
    cluster_bus_messages: Family<BusLabels, Counter>,
    cluster_bus_dropped: Family<ClusterLabels, Counter>,
    cluster_forwarded: Family<ForwardLabels, Counter>,
    cluster_forward_duration: DurationFamily<ClusterLabels>,
    cluster_nodes: Family<ClusterLabels, Gauge>,
    cluster_view_connections: Family<ClusterLabels, Gauge>,
    cluster_forwarded_waiting: Family<ClusterLabels, Gauge>,
}

impl Metrics {
    /// Every family registered, `build_info{version}` set to 1, uptime counted from now.
    pub fn new(version: &str) -> Metrics {
        Metrics::started_at(version, Instant::now())
    }

    /// Like [`Metrics::new`], with uptime counted from `started` (the process start).
    pub fn started_at(version: &str, started: Instant) -> Metrics {
        let mut registry = Registry::default();
        let radius_requests = Family::default();
        registry.register(
            "radius_requests",
            "RADIUS requests received by a server, by packet code and how they ended",
            Family::clone(&radius_requests),
        );
        let radius_dropped = Family::default();
        registry.register(
            "radius_dropped",
            "Packets discarded before any policy ran, by reason",
            Family::clone(&radius_dropped),
        );
        let reverse_requests = Family::default();
        registry.register(
            "reverse_requests",
            "Requests sent to a RADIUS backend (reverse or proxied), by outcome",
            Family::clone(&reverse_requests),
        );
        let reverse_duration: DurationFamily<BackendLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "reverse_request_duration_seconds",
            "Time from sending a backend request to its reply or failure",
            reverse_duration.clone(),
        );
        let connections_active = Family::default();
        registry.register(
            "connections_active",
            "Stream connections currently open on a server",
            Family::clone(&connections_active),
        );
        let connections_total = Family::default();
        registry.register(
            "connections",
            "Stream connections accepted by a server",
            Family::clone(&connections_total),
        );
        let connections_closed = Family::default();
        registry.register(
            "connections_closed",
            "Stream connections closed, by reason",
            Family::clone(&connections_closed),
        );
        let identifiers_in_use = Family::default();
        registry.register(
            "identifiers_in_use",
            "RADIUS identifiers allocated (in flight or resting after a timeout) on a server's accepted connections",
            Family::clone(&identifiers_in_use),
        );
        let reverse_in_flight = Family::default();
        registry.register(
            "reverse_in_flight",
            "Requests sent to a RADIUS backend and awaiting their reply",
            Family::clone(&reverse_in_flight),
        );
        let reverse_queue_depth = Family::default();
        registry.register(
            "reverse_queue_depth",
            "Requests to a RADIUS backend waiting for a free identifier or a connection",
            Family::clone(&reverse_queue_depth),
        );
        let backend_server_up = Family::default();
        registry.register(
            "backend_server_up",
            "Whether a connect server of a RADIUS backend is up (1) or not (0)",
            Family::clone(&backend_server_up),
        );
        let sql_queries = Family::default();
        registry.register(
            "sql_queries",
            "SQL queries run by a backend, by result",
            Family::clone(&sql_queries),
        );
        let sql_duration: DurationFamily<BackendLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "sql_query_duration_seconds",
            "Time an SQL query took, queueing included",
            sql_duration.clone(),
        );
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered by an HTTP server, by status",
            Family::clone(&http_requests),
        );
        let policy_no_match = Family::default();
        registry.register(
            "policy_no_match",
            "Requests no policy (or no handler of the matching policy) accepted",
            Family::clone(&policy_no_match),
        );
        let connections_refused = Family::default();
        registry.register(
            "connections_refused",
            "Connections closed as soon as they were accepted: over a limit or not allowed",
            Family::clone(&connections_refused),
        );
        let nas_identifier_claims = Family::default();
        registry.register(
            "nas_identifier_claims",
            "NAS-Identifiers announced in Status-Server that duplicate a live connection's or that identity binding refused",
            Family::clone(&nas_identifier_claims),
        );
        let reverse_steps = Family::default();
        registry.register(
            "reverse_steps",
            "Steps of the reverse path on this node's connections: requests sent, replied, timed out, retried, reselected, refused, forwarded; liveness probes and their ends",
            Family::clone(&reverse_steps),
        );
        let build_info: Family<BuildLabels, Gauge> = Family::default();
        build_info
            .get_or_create(&BuildLabels {
                version: version.to_owned(),
            })
            .set(1);
        registry.register("build_info", "The running version (always 1)", build_info);
        let uptime = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "uptime_seconds",
            "Seconds since the daemon started",
            uptime.clone(),
        );
        let engine_busy = Counter::<f64, AtomicU64>::default();
        registry.register(
            "engine_busy_seconds",
            "Time the engine task spent handling events, carrying out their commands and \
             building views of its state (its rate is the engine's load: 1.0 = one core, \
             the most it can take)",
            engine_busy.clone(),
        );
        let engine_view_builds = Counter::default();
        registry.register(
            "engine_view_builds",
            "Views of the engine's state (connections, counts) the engine task built for \
             /api/v1/connections, /api/v1/cluster and in-process callers; a view is built \
             at most once per second and kind, the requests in between share it",
            engine_view_builds.clone(),
        );
        // The cluster bus families have series only on a node of a cluster.
        let cluster_bus_up = Family::default();
        registry.register(
            "cluster_bus_up",
            "Whether this node is connected to the cluster bus (NATS) (1) or not (0)",
            Family::clone(&cluster_bus_up),
        );
        let cluster_bus_messages = Family::default();
        registry.register(
            "cluster_bus_messages",
            "Cluster bus messages published and received, by direction",
            Family::clone(&cluster_bus_messages),
        );
        let cluster_bus_dropped = Family::default();
        registry.register(
            "cluster_bus_dropped",
            "Cluster bus messages not published: the publish queue was full or the bus was down",
            Family::clone(&cluster_bus_dropped),
        );
        let cluster_forwarded = Family::default();
        registry.register(
            "cluster_forwarded",
            "Reverse requests forwarded between cluster nodes, by direction (out: this node \
             holds the trigger; in: this node holds the connection) and outcome",
            Family::clone(&cluster_forwarded),
        );
        let cluster_forward_duration: DurationFamily<ClusterLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "cluster_forward_duration_seconds",
            "Time from forwarding a reverse request to the owner's answer (trigger side)",
            cluster_forward_duration.clone(),
        );
        let cluster_nodes = Family::default();
        registry.register(
            "cluster_nodes",
            "Other nodes of the cluster in this node's view",
            Family::clone(&cluster_nodes),
        );
        let cluster_view_connections = Family::default();
        registry.register(
            "cluster_view_connections",
            "Connections of the other nodes in this node's view (@select candidates)",
            Family::clone(&cluster_view_connections),
        );
        let cluster_forwarded_waiting = Family::default();
        registry.register(
            "cluster_forwarded_waiting",
            "Requests this node forwarded that wait for the owner's answer",
            Family::clone(&cluster_forwarded_waiting),
        );
        Metrics {
            registry,
            started,
            radius_requests,
            radius_dropped,
            reverse_requests,
            reverse_duration,
            connections_active,
            connections_total,
            connections_closed,
            identifiers_in_use,
            reverse_in_flight,
            reverse_queue_depth,
            backend_server_up,
            sql_queries,
            sql_duration,
            http_requests,
            policy_no_match,
            connections_refused,
            nas_identifier_claims,
            reverse_steps,
            uptime,
            engine_busy,
            engine_view_builds,
            cluster_bus_up,
            cluster_bus_messages,
            cluster_bus_dropped,
            cluster_forwarded,
            cluster_forward_duration,
            cluster_nodes,
            cluster_view_connections,
            cluster_forwarded_waiting,
        }
    }

    /// A forwarded reverse request ended at this node's end; `latency` (trigger
    /// side, when answered) is observed in `cluster_forward_duration_seconds`.
    pub fn cluster_forward(
        &self,
        cluster: &str,
        side: boomerang_core::contract::ForwardSide,
        end: boomerang_core::contract::ForwardEnd,
        latency: Option<Duration>,
    ) {
        self.cluster_forwarded
            .get_or_create(&ForwardLabels {
                cluster: cluster.to_owned(),
                direction: side.label(),
                outcome: end.label(),
            })
            .inc();
        if let Some(latency) = latency {
            self.cluster_forward_duration
                .get_or_create(&ClusterLabels {
                    cluster: cluster.to_owned(),
                })
                .observe(latency.as_secs_f64());
        }
    }

    /// The cluster's sizes as this node sees them.
    pub fn set_cluster_sizes(&self, cluster: &str, sizes: boomerang_core::cluster::ClusterSizes) {
        let labels = ClusterLabels {
            cluster: cluster.to_owned(),
        };
        let set = |family: &Family<ClusterLabels, Gauge>, n: usize| {
            family
                .get_or_create(&labels)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        set(&self.cluster_nodes, sizes.nodes);
        set(&self.cluster_view_connections, sizes.view_connections);
        set(&self.cluster_forwarded_waiting, sizes.forwarded_waiting);
    }

    /// Whether this node is connected to cluster `cluster`'s bus now.
    pub fn set_cluster_bus_up(&self, cluster: &str, up: bool) {
        self.cluster_bus_up
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .set(i64::from(up));
    }

    /// A cluster bus message was published or received.
    pub fn cluster_bus_message(&self, cluster: &str, direction: BusDirection) {
        self.cluster_bus_messages
            .get_or_create(&BusLabels {
                cluster: cluster.to_owned(),
                direction,
            })
            .inc();
    }

    /// A cluster bus message was dropped instead of published.
    pub fn cluster_bus_dropped(&self, cluster: &str) {
        self.cluster_bus_dropped
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .inc();
    }

    /// The engine task was busy for `busy` (handling events or timers and carrying
    /// out the commands they produced, or building a view of its state).
    pub fn engine_busy(&self, busy: Duration) {
        self.engine_busy.inc_by(busy.as_secs_f64());
    }

    /// The engine task built a view of its state (see
    /// [`VIEW_MAX_AGE`](crate::driver::VIEW_MAX_AGE)).
    pub fn engine_view_built(&self) {
        self.engine_view_builds.inc();
    }

    /// A RADIUS request received by `server` with packet `code` (its name, e.g.
    /// `Accounting-Request`) ended with `result`.
    pub fn radius_request(&self, server: &str, code: &str, result: RequestResult) {
        self.radius_requests
            .get_or_create(&RequestLabels {
                server: server.to_owned(),
                code: code.to_owned(),
                result,
            })
            .inc();
    }

    /// A packet arriving at `server` was discarded.
    pub fn radius_dropped(&self, server: &str, reason: DropReason) {
        self.radius_dropped_many(server, reason, 1);
    }

    /// `count` packets of `server` were discarded for `reason`.
    pub fn radius_dropped_many(&self, server: &str, reason: DropReason, count: u64) {
        self.radius_dropped
            .get_or_create(&DropLabels {
                server: server.to_owned(),
                reason: reason.label(),
            })
            .inc_by(count);
    }

    /// A request to `backend` ended. `elapsed` is the time from first sending it to
    /// its end, `None` when it was never sent (no connection, queue full); only sent
    /// requests are observed in `reverse_request_duration_seconds`.
    pub fn reverse_request(
        &self,
        backend: &str,
        outcome: boomerang_core::engine::BackendOutcome,
        elapsed: Option<Duration>,
    ) {
        self.reverse_requests
            .get_or_create(&OutcomeLabels {
                backend: backend.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
        if let Some(elapsed) = elapsed {
            self.reverse_duration
                .get_or_create(&BackendLabels {
                    backend: backend.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    /// A stream connection to `server` was accepted (or, for a NAS-side backend,
    /// established).
    pub fn connection_opened(&self, server: &str, transport: Transport) {
        let labels = ConnectionLabels {
            server: server.to_owned(),
            transport: transport.name(),
        };
        self.connections_active.get_or_create(&labels).inc();
        self.connections_total.get_or_create(&labels).inc();
    }

    /// A stream connection of `server` reported by [`Metrics::connection_opened`]
    /// closed.
    pub fn connection_closed(&self, server: &str, transport: Transport, reason: &CloseReason) {
        self.connections_active
            .get_or_create(&ConnectionLabels {
                server: server.to_owned(),
                transport: transport.name(),
            })
            .dec();
        self.connections_closed
            .get_or_create(&CloseLabels {
                server: server.to_owned(),
                reason: reason.label(),
            })
            .inc();
    }

    /// How many identifiers are allocated (in flight or resting after a timeout) across
    /// `server`'s accepted connections now.
    pub fn set_identifiers_in_use(&self, server: &str, count: usize) {
        self.identifiers_in_use
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .set(saturating_i64(count));
    }

    /// How many requests to `backend` are sent and await their reply now.
    pub fn set_reverse_in_flight(&self, backend: &str, count: usize) {
        self.reverse_in_flight
            .get_or_create(&BackendLabels {
                backend: backend.to_owned(),
            })
            .set(saturating_i64(count));
    }

    /// How many requests to `backend` wait for an identifier (or, for a `connect`
    /// backend, a connection) now.
    pub fn set_reverse_queue_depth(&self, backend: &str, depth: usize) {
        self.reverse_queue_depth
            .get_or_create(&BackendLabels {
                backend: backend.to_owned(),
            })
            .set(saturating_i64(depth));
    }

    /// Whether `connect` server `server` of `backend` is up now.
    pub fn set_backend_server_up(&self, backend: &str, server: &str, up: bool) {
        self.backend_server_up
            .get_or_create(&BackendServerLabels {
                backend: backend.to_owned(),
                server: server.to_owned(),
            })
            .set(i64::from(up));
    }

    /// An SQL query of `backend` ended with `result` after `elapsed`.
    pub fn sql_query(&self, backend: &str, result: SqlResult, elapsed: Duration) {
        self.sql_queries
            .get_or_create(&SqlLabels {
                backend: backend.to_owned(),
                result,
            })
            .inc();
        self.sql_duration
            .get_or_create(&BackendLabels {
                backend: backend.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The HTTP server `server` answered a request with `status`.
    pub fn http_request(&self, server: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                server: server.to_owned(),
                status,
            })
            .inc();
    }

    /// A connection to `server` was closed as soon as it was accepted.
    pub fn connection_refused(&self, server: &str, reason: RefusedReason) {
        self.connections_refused
            .get_or_create(&RefusedLabels {
                server: server.to_owned(),
                reason,
            })
            .inc();
    }

    /// A request to `server` matched no policy.
    pub fn policy_no_match(&self, server: &str) {
        self.policy_no_match
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .inc();
    }

    /// A Status-Server on a connection of `server` announced a NAS-Identifier with
    /// this `result`.
    pub fn nas_identifier_claim(&self, server: &str, result: NasIdentifierClaim) {
        self.nas_identifier_claims
            .get_or_create(&ClaimLabels {
                server: server.to_owned(),
                result: result.label(),
            })
            .inc();
    }

    /// A step of the reverse path happened on one of this node's connections.
    pub fn reverse_step(&self, step: ReverseStep) {
        self.reverse_steps
            .get_or_create(&StepLabels { step: step.label() })
            .inc();
    }

    /// Every metric in the Prometheus text exposition format 0.0.4 ([`CONTENT_TYPE`]),
    /// with `uptime_seconds` computed now. Families with no series yet are left out.
    pub fn encode(&self) -> String {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let mut open_metrics = String::new();
        // Writing into a String cannot fail; should the encoder fail anyway, the partial
        // exposition is still better than none.
        let _ =
            prometheus_client::encoding::text::encode_registry(&mut open_metrics, &self.registry);
        to_prometheus_text(&open_metrics)
    }
}

/// `n` as a gauge value (gauges are `i64`; counts never come near the limit).
fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Rewrite the OpenMetrics text the registry writes into the Prometheus 0.0.4 text
/// format: a counter family is announced under its sample name (`…_total`) rather
/// than its OpenMetrics family name, so Prometheus keeps its type. Other lines are
/// the same in both formats (no `# EOF` is written, and no family has a unit).
fn to_prometheus_text(open_metrics: &str) -> String {
    let lines: Vec<&str> = open_metrics.lines().collect();
    let mut out = String::with_capacity(open_metrics.len() + 64);
    for (n, line) in lines.iter().enumerate() {
        if let Some(name) = counter_family(line) {
            let _ = writeln!(out, "# TYPE {name}_total counter");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let counter = lines.get(n + 1).and_then(|next| counter_family(next));
            let help = counter.and_then(|name| Some((name, rest.strip_prefix(name)?)));
            if let Some((name, help)) = help.filter(|(_, help)| help.starts_with(' ')) {
                let _ = writeln!(out, "# HELP {name}_total{help}");
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The family name of a `# TYPE NAME counter` line whose name lacks `_total`.
fn counter_family(line: &str) -> Option<&str> {
    let name = line.strip_prefix("# TYPE ")?.strip_suffix(" counter")?;
    (!name.ends_with("_total")).then_some(name)
}
