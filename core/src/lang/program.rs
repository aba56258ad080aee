//! The validated program: what the configuration compiler produces and the engine runs.
//!
//! Every name in the configuration (servers, client lists, backends, queries,
//! certificates, policies, pipelines) is resolved to an index here, every default is
//! applied, and every pipeline is lowered to the interpreter's IR. Nothing in a
//! `Program` needs the configuration text again except spans, kept so that run-time
//! messages can point at the configuration line that caused them.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::contract::{ServerId, Transport};
use crate::eval::ir::{BackendId, Library, Pipeline, QueryId};
use crate::eval::policy::Policy;
use crate::eval::query::{RadiusQuery, SqlQuery};
use crate::eval::select::SelectMode;
use crate::eval::value::IpPrefix;
use crate::lang::span::Span;
use crate::radius::dictionary::Dictionary;

/// The shared secret RadSec uses when none is configured (RFC 6614 §2.3).
pub const RADSEC_DEFAULT_SECRET: &str = "radsec";
/// Idle timeout of stream connections when neither the client nor the listener sets
/// one (language.md §1.3).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reverse (or proxied) request waits for its reply by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Status-Server interval of outbound connections with `status true` (draft-ietf-radext-reverse-coa: Tw = 15 s).
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(15);
/// How long a liveness probe (Status-Server sent after a reverse request timed out)
/// waits for its answer before the connection is closed.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The management listener when the configuration has no `management` section.
pub const DEFAULT_MANAGEMENT_PORT: u16 = 8080;

/// The index of a certificate or key in [`Program::certificates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertificateId(pub u32);

/// The index of a client list in [`Program::client_lists`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientListId(pub u32);

/// The index of a policy in [`Program::policies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyId(pub u32);

/// A compiled configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Program {
    /// The built-in dictionary extended with any loaded dictionary files.
    pub dictionary: Arc<Dictionary>,
    /// `certificates { x509 …; key …; }`, in configuration order.
    pub certificates: Vec<Certificate>,
    /// `clients { radius "…" { … } http "…" { … } }`, in configuration order.
    pub client_lists: Vec<ClientList>,
    /// `servers { … }`, in configuration order.
    pub servers: Vec<Server>,
    /// `backends { … }`, in configuration order; [`BackendId`] indexes this.
    pub backends: Vec<Backend>,
    /// `aaa { policy … }`, in configuration order (files in name order, then text order).
    pub policies: Vec<Policy>,
    /// `aaa { pipeline "NAME" { … } }`, the targets of `invoke`.
    pub library: Arc<Library>,
    /// The management listener (health, metrics, API).
    pub management: Management,
    /// Application logging.
    pub logging: Logging,
    /// `cluster { … }`: the cluster this node belongs to, if any.
    pub cluster: Option<Cluster>,
}

impl Program {
    /// The certificate or key with this id.
    pub fn certificate(&self, id: CertificateId) -> Option<&Certificate> {
        self.certificates.get(usize::try_from(id.0).ok()?)
    }

    /// The client list with this id.
    pub fn client_list(&self, id: ClientListId) -> Option<&ClientList> {
        self.client_lists.get(usize::try_from(id.0).ok()?)
    }

    /// The server with this id.
    pub fn server(&self, id: ServerId) -> Option<&Server> {
        self.servers.get(usize::try_from(id.0).ok()?)
    }

    /// The backend with this id.
    pub fn backend(&self, id: BackendId) -> Option<&Backend> {
        self.backends.get(usize::try_from(id.0).ok()?)
    }

    /// The server named `name`, with its id.
    pub fn server_by_name(&self, name: &str) -> Option<(ServerId, &Server)> {
        let index = self.servers.iter().position(|s| s.name == name)?;
        Some((ServerId(u32::try_from(index).ok()?), &self.servers[index]))
    }

    /// The backend named `name`, with its id.
    pub fn backend_by_name(&self, name: &str) -> Option<(BackendId, &Backend)> {
        let index = self.backends.iter().position(|b| b.name == name)?;
        Some((BackendId(u32::try_from(index).ok()?), &self.backends[index]))
    }

    /// A one-line summary for `boomerang check`.
    pub fn summary(&self) -> String {
        fn plural(n: usize, one: &str, many: &str) -> String {
            format!("{n} {}", if n == 1 { one } else { many })
        }
        format!(
            "{}, {}, {}, {}",
            plural(self.servers.len(), "server", "servers"),
            plural(self.backends.len(), "backend", "backends"),
            plural(self.policies.len(), "policy", "policies"),
            plural(self.client_lists.len(), "client list", "client lists"),
        )
    }
}

/// An entry of `certificates { … }`. Paths are resolved relative to the directory of
/// the configuration file that named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Its configuration name.
    pub name: String,
    /// Where it was defined.
    pub span: Span,
    /// What it is.
    pub kind: CertificateKind,
}

/// The kinds of entries in `certificates { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateKind {
    /// `x509 "NAME" { filename "…"; }`: one or more PEM certificates (a chain or a CA bundle).
    X509 {
        /// The PEM file.
        path: String,
    },
    /// `key "NAME" { filename "…"; password "…"; }`: a PEM private key, possibly encrypted.
    Key {
        /// The PEM file.
        path: String,
        /// The password of an encrypted PKCS#8 key.
        password: Option<String>,
    },
}

/// Which protocol a client list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientProtocol {
    /// `clients { radius "…" { … } }`.
    Radius,
    /// `clients { http "…" { … } }`.
    Http,
}

/// A named list of clients (`clients { radius "NAME" { client "…" { … } } }`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientList {
    /// Its configuration name.
    pub name: String,
    /// RADIUS or HTTP.
    pub protocol: ClientProtocol,
    /// The clients, in configuration order.
    pub clients: Vec<Client>,
    /// Where it was defined.
    pub span: Span,
}

impl ClientList {
    /// The client whose source prefixes contain `ip`, the most specific prefix winning
    /// (configuration order breaks ties).
    pub fn lookup(&self, ip: IpAddr) -> Option<&Client> {
        let mut best: Option<(&Client, u8)> = None;
        for client in &self.clients {
            for prefix in &client.sources {
                if prefix.contains(&ip) && best.is_none_or(|(_, len)| prefix.len > len) {
                    best = Some((client, prefix.len));
                }
            }
        }
        best.map(|(client, _)| client)
    }
}

/// One `client "NAME" { source { ip …; } secret "…"; … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// Its configuration name (`radius.client`, `connection.client_name`).
    pub name: String,
    /// Source addresses it may send from (a bare address is a /32 or /128 prefix).
    pub sources: Vec<IpPrefix>,
    /// Its shared secret; `None` means the transport default (`radsec` on TLS; UDP and
    /// TCP clients must have one, which the compiler enforces).
    pub secret: Option<String>,
    /// Idle timeout of its stream connections; `Some(Duration::ZERO)` disables it;
    /// `None` defers to the listener.
    pub timeout: Option<Duration>,
    /// Discard requests that carry no Message-Authenticator (UDP/TCP only; ignored on TLS).
    pub require_message_authenticator: bool,
    /// Discard requests with Proxy-State but no Message-Authenticator (UDP/TCP only).
    pub limit_proxy_state: bool,
    /// What the NAS-Identifier a stream connection of this client announces in
    /// Status-Server must match (`nas_identifier_binding …;`).
    pub nas_identifier_binding: NasIdentifierBinding,
}

/// Ties the NAS-Identifier a NAS announces in its Status-Server to the identity its
/// connection proved (`nas_identifier_binding certificate_cn;` in a RADIUS client).
/// With a binding, a Status-Server whose NAS-Identifier does not match is refused:
/// the identifier is not recorded (so `@select` never picks the connection by it),
/// the Status-Server is not answered, and the refusal is logged and counted. So is a
/// claim of an identifier that a live connection with a different certificate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum NasIdentifierBinding {
    /// No binding (the default): any announced NAS-Identifier is recorded; duplicate
    /// claims are still logged and counted.
    #[default]
    None,
    /// The NAS-Identifier must equal the client certificate's subject CN.
    CertificateCn,
    /// The NAS-Identifier must equal one of the client certificate's DNS
    /// subject-alternative names (compared case-insensitively, as DNS names are).
    CertificateDns,
}

impl NasIdentifierBinding {
    /// Every binding, in documentation order.
    pub const ALL: [NasIdentifierBinding; 3] = [
        NasIdentifierBinding::None,
        NasIdentifierBinding::CertificateCn,
        NasIdentifierBinding::CertificateDns,
    ];

    /// The word written after `nas_identifier_binding`.
    pub fn name(self) -> &'static str {
        match self {
            NasIdentifierBinding::None => "none",
            NasIdentifierBinding::CertificateCn => "certificate_cn",
            NasIdentifierBinding::CertificateDns => "certificate_dns",
        }
    }
}

/// A TLS protocol version bound (`min_protocol_version tlsv12;`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// A `servers { … }` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Its configuration name (`radius.server`, `http.server`, `connection.server_name`).
    pub name: String,
    /// Where it was defined.
    pub span: Span,
    /// RADIUS or HTTP, with its settings.
    pub kind: ServerKind,
}

/// The kinds of servers.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerKind {
    /// `radius "NAME" { … }`.
    Radius(RadiusServer),
    /// `http "NAME" { … }`.
    Http(HttpServer),
}

/// A RADIUS server.
#[derive(Debug, Clone, PartialEq)]
pub struct RadiusServer {
    /// Where requests come from.
    pub listen: RadiusListen,
    /// `clients "LIST";`: who may send (required in network mode).
    pub clients: Option<ClientListId>,
    /// `policy "NAME";`: pins every request to this policy.
    pub policy: Option<PolicyId>,
}

/// The two mutually exclusive modes of a RADIUS server's `listen` block.
#[derive(Debug, Clone, PartialEq)]
pub enum RadiusListen {
    /// `listen { protocol …; port …; ip …; }`: a local socket.
    Network(NetworkListen),
    /// `listen { backend "NAME"; }`: requests arriving over the outbound connections
    /// of that RADIUS backend (the NAS side of reverse CoA).
    Backend(BackendId),
}

/// A network listener.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkListen {
    /// UDP, TCP or TLS.
    pub protocol: Transport,
    /// The port.
    pub port: u16,
    /// Local addresses (at least one).
    pub ips: Vec<IpAddr>,
    /// Idle timeout of stream connections (`timeout 0;` disables); `None` means the
    /// default of 10 s unless the client sets its own.
    pub timeout: Option<Duration>,
    /// TCP keepalive of stream connections.
    pub keepalive: Option<Keepalive>,
    /// Receive buffer of a UDP listener's socket in bytes (`receive_buffer N;`);
    /// `None` means the driver's default, sized for bursts of triggers.
    pub receive_buffer: Option<u32>,
    /// TLS settings (required for `protocol tls`).
    pub tls: Option<ServerTls>,
    /// How stream connections whose NAS stopped answering are found and closed.
    pub liveness: Liveness,
    /// `limits { connections N; per_source N; }`: bounds on accepted connections.
    pub limits: ConnectionLimits,
}

/// `limits { connections N; per_source N; }` of a stream listener (RADIUS TCP/TLS,
/// HTTP, management). A value not given is the driver's default for that kind of
/// listener; `0` means no limit. A connection over a limit is closed as soon as it is
/// accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionLimits {
    /// `connections N;`: connections open at once on one listening socket.
    pub connections: Option<u32>,
    /// `per_source N;`: connections open at once from one source address.
    pub per_source: Option<u32>,
}

/// `liveness { probe …; timeout …; }` of a stream listener: after a reverse request
/// on a connection times out, the connection is in doubt and is probed with
/// Status-Server (RFC 5997); an unanswered probe closes it. This finds a dead NAS
/// even with `timeout 0` (no idle timeout), which long-lived RadSec connections use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// Whether to probe (`probe false;` keeps connections whatever they answer).
    pub probe: bool,
    /// How long the probe waits for its answer.
    pub timeout: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            probe: true,
            timeout: DEFAULT_PROBE_TIMEOUT,
        }
    }
}

/// `keepalive { idle …; interval …; count …; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Option<Duration>,
    /// Time between probes.
    pub interval: Option<Duration>,
    /// Probes before the connection is declared dead.
    pub count: Option<u32>,
}

/// Server-side TLS (`listen { tls { … } }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// `certificate "NAME";` (an x509 entry: the chain).
    pub certificate: CertificateId,
    /// `certificate_key "NAME";` (a key entry).
    pub certificate_key: CertificateId,
    /// `client_ca_certificate "NAME";` (an x509 entry: trusted client CAs).
    pub client_ca_certificate: Option<CertificateId>,
    /// `require_client_certificate` (default true).
    pub require_client_certificate: bool,
    /// `min_protocol_version`.
    pub min_version: Option<TlsVersion>,
    /// `max_protocol_version`.
    pub max_version: Option<TlsVersion>,
}

/// An HTTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpServer {
    /// Local addresses.
    pub ips: Vec<IpAddr>,
    /// The port.
    pub port: u16,
    /// `clients "LIST";`: the allow-list of HTTP clients; `None` allows every client.
    pub clients: Option<ClientListId>,
    /// HTTPS settings.
    pub tls: Option<ServerTls>,
    /// `policy "NAME";`: pins every request to this policy.
    pub policy: Option<PolicyId>,
    /// `listen { limits { … } }`: bounds on accepted connections.
    pub limits: ConnectionLimits,
    /// `header_timeout D;`: how long a client may take to send a request head (from
    /// the accept, or from the first byte of a later request on a kept-alive
    /// connection); `None` is the driver's default.
    pub header_timeout: Option<Duration>,
    /// `idle_timeout D;`: how long a kept-alive connection may wait for its next
    /// request; `None` is the driver's default.
    pub idle_timeout: Option<Duration>,
}

/// A `backends { … }` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    /// Its configuration name.
    pub name: String,
    /// Where it was defined.
    pub span: Span,
    /// What kind of backend.
    pub kind: BackendKind,
}

impl Backend {
    /// The RADIUS query with this id, when this is a RADIUS backend.
    pub fn radius_query(&self, id: QueryId) -> Option<&RadiusQuery> {
        match &self.kind {
            BackendKind::Radius(r) => r.queries.get(usize::try_from(id.0).ok()?),
            BackendKind::Sqlite(_) => None,
        }
    }

    /// The SQL query with this id, when this is an SQL backend.
    pub fn sql_query(&self, id: QueryId) -> Option<&SqlQuery> {
        match &self.kind {
            BackendKind::Sqlite(s) => s.queries.get(usize::try_from(id.0).ok()?),
            BackendKind::Radius(_) => None,
        }
    }
}

/// The kinds of backends.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendKind {
    /// `radius "NAME" { server … query … }`.
    Radius(RadiusBackend),
    /// `sqlite "NAME" { filename …; query … }`.
    Sqlite(SqliteBackend),
}

/// How a RADIUS backend picks among its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ServerSelection {
    /// Lowest priority first; on failure try the next (default).
    #[default]
    Fallback,
    /// Rotate through the servers.
    RoundRobin,
    /// The server with the fewest requests in flight.
    LeastConnections,
    /// The first healthy server only; no retry on another.
    NoFallback,
}

/// A RADIUS backend.
#[derive(Debug, Clone, PartialEq)]
pub struct RadiusBackend {
    /// `server-selection`.
    pub server_selection: ServerSelection,
    /// Its servers, in configuration order.
    pub servers: Vec<RadiusServerDef>,
    /// Its queries; [`QueryId`] indexes this.
    pub queries: Vec<RadiusQuery>,
}

/// A `server "NAME" { … }` of a RADIUS backend.
#[derive(Debug, Clone, PartialEq)]
pub struct RadiusServerDef {
    /// Its configuration name.
    pub name: String,
    /// The shared secret (defaults applied: `radsec` for TLS and reverse servers).
    pub secret: String,
    /// How long a request waits for its reply.
    pub timeout: Duration,
    /// How many more times a request is tried (UDP: retransmissions; streams and
    /// reverse: on another connection after the first one closed).
    pub retries: u32,
    /// `status true`: send Status-Server as a watchdog.
    pub status: bool,
    /// How often Status-Server is sent.
    pub status_interval: Duration,
    /// `nas_identifier "…"`: carried in our Status-Server so the far end can select us.
    pub nas_identifier: Option<String>,
    /// `priority` (lower first under fallback).
    pub priority: u32,
    /// Outbound `connect` or reverse `reverse`.
    pub mode: RadiusServerMode,
}

/// The mutually exclusive ways a backend server reaches its peer.
#[derive(Debug, Clone, PartialEq)]
pub enum RadiusServerMode {
    /// `connect { … }`: an outbound socket.
    Connect(Connect),
    /// `reverse { @select … }`: an inbound stream connection of a local server.
    Reverse(Reverse),
}

/// `connect { protocol …; host|ip …; port …; tls { … } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Connect {
    /// UDP, TCP or TLS.
    pub protocol: Transport,
    /// `host "name";` (also the name checked in the server's certificate).
    pub host: Option<String>,
    /// `ip A;`.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// Client-side TLS (required for `protocol tls`).
    pub tls: Option<ClientTls>,
}

/// Client-side TLS (`connect { tls { … } }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// `certificate "NAME";` for mutual TLS.
    pub certificate: Option<CertificateId>,
    /// `certificate_key "NAME";`.
    pub certificate_key: Option<CertificateId>,
    /// `server_ca_certificate "NAME";`: trusted server CAs.
    pub server_ca_certificate: CertificateId,
    /// `min_protocol_version`.
    pub min_version: Option<TlsVersion>,
    /// `max_protocol_version`.
    pub max_version: Option<TlsVersion>,
}

/// `reverse { @select [first|round-robin] { … } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reverse {
    /// `first` (default) or `round-robin`.
    pub mode: SelectMode,
    /// The `@select` pipeline, run once per candidate connection.
    pub select: Arc<Pipeline>,
}

/// An SQLite backend.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteBackend {
    /// The database file (`filename "…"` or `url "sqlite:…"`), resolved relative to
    /// the configuration file; `:memory:` is an in-memory database.
    pub path: String,
    /// How long a query may wait on a locked database.
    pub busy_timeout: Duration,
    /// Its queries; [`QueryId`] indexes this.
    pub queries: Vec<SqlQuery>,
}

/// The management listener: `/live`, `/ready`, `/metrics`, `/api/v1/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Management {
    /// Local address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// `false` when the configuration turned it off (`management { enabled false; }`).
    pub enabled: bool,
    /// `allow { ip PREFIX; … }`: client addresses that may read `/api/v1/…` and
    /// `/metrics` (`/live` and `/ready` are open to every client). Default: loopback
    /// (`127.0.0.0/8`, `::1`).
    pub allow: Vec<IpPrefix>,
    /// `token "…";`: when set, `/api/v1/…` and `/metrics` also need
    /// `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// `listen { limits { … } }`: bounds on accepted connections.
    pub limits: ConnectionLimits,
}

impl Management {
    /// The default allow-list: the loopback networks.
    pub fn loopback() -> Vec<IpPrefix> {
        let v4 = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        [IpPrefix::new(v4, 8), IpPrefix::new(v6, 128)]
            .into_iter()
            .flatten()
            .collect()
    }
}

impl Default for Management {
    fn default() -> Self {
        Management {
            ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: DEFAULT_MANAGEMENT_PORT,
            enabled: true,
            allow: Management::loopback(),
            token: None,
            limits: ConnectionLimits::default(),
        }
    }
}

/// Application logging settings (`logging { level …; format …; file …; }`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Logging {
    /// `error`, `warn`, `info`, `debug` or `trace`; `None` leaves the command line's choice.
    pub level: Option<String>,
    /// `text` or `json`.
    pub format: Option<String>,
    /// A file to append to instead of standard error.
    pub file: Option<String>,
}

/// The backends named by `listen { backend … }` servers: kept connected.
pub fn listened_backends(program: &Program) -> BTreeSet<BackendId> {
    program
        .servers
        .iter()
        .filter_map(|s| match &s.kind {
            ServerKind::Radius(r) => match r.listen {
                RadiusListen::Backend(b) => Some(b),
                RadiusListen::Network(_) => None,
            },
            _ => None,
        })
        .collect()
}

/// Whether `new` has the same `connect` side as `old` (what the engine's dialer
/// holds): the same `connect` backends at the same numbers with the same servers,
/// the same backends kept connected by `listen { backend … }` servers, and (when a
/// `connect` server uses TLS) the same certificate entries. Only then can a reload
/// keep the outbound connections.
pub fn connect_backends_unchanged(old: &Program, new: &Program) -> bool {
    fn connect_backends(p: &Program) -> Vec<(usize, &str, &RadiusBackend)> {
        p.backends
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match &b.kind {
                BackendKind::Radius(r)
                    if r.servers
                        .iter()
                        .any(|s| matches!(s.mode, RadiusServerMode::Connect(_))) =>
                {
                    Some((i, b.name.as_str(), r))
                }
                _ => None,
            })
            .collect()
    }
    fn same_servers(a: &RadiusBackend, b: &RadiusBackend) -> bool {
        a.server_selection == b.server_selection && a.servers == b.servers
    }
    let (a, b) = (connect_backends(old), connect_backends(new));
    if a.len() != b.len()
        || a.iter()
            .zip(&b)
            .any(|(x, y)| x.0 != y.0 || x.1 != y.1 || !same_servers(x.2, y.2))
    {
        return false;
    }
    if listened_backends(old) != listened_backends(new) {
        return false;
    }
    let certificates = |p: &Program| {
        p.certificates
            .iter()
            .map(|c| (c.name.clone(), c.kind.clone()))
            .collect::<Vec<_>>()
    };
    a.is_empty() || certificates(old) == certificates(new)
}

/// `cluster { … }`: this process is one node of a cluster whose nodes share
/// their connections over NATS (see `docs/cluster.md`). Absent: a single node,
/// no NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `name "…";`: the cluster's name; every NATS subject starts with
    /// `boomerang.NAME.` so clusters can share a NATS server.
    pub name: String,
    /// `node "…";`: this node's name, unique in the cluster.
    pub node: String,
    /// `node_id N;` (1–32767): this node's number, unique in the cluster. The
    /// driver numbers this node's connections from `N << 48` (plus a run drawn at
    /// each start: [`Cluster::run_base`]), so `connection.id` is unique in the
    /// cluster and names its owner ([`Cluster::owner_of`]).
    pub node_id: u16,
    /// `nats { … }`: how to reach the NATS servers.
    pub nats: Nats,
    /// `heartbeat D;` (default 1 s): how often this node announces itself and
    /// the last sequence number of its view.
    pub heartbeat: Duration,
    /// `node_timeout D;` (default 5 s): a node not heard from for this long is
    /// removed from the view, with its connections; its forwarded requests fail.
    pub node_timeout: Duration,
    /// `forward_margin D;` (default 1 s): how much longer than the reverse
    /// server's `timeout` the trigger's node waits for a forwarded request's
    /// answer before it fails with `REVERSE_TIMEOUT`.
    pub forward_margin: Duration,
}

/// How many bits of a [`ConnId`](crate::contract::ConnId) number a node's own
/// connections; the bits above hold the node's `node_id`.
pub const NODE_ID_SHIFT: u32 = 48;

/// Bits of a connection number below a node's run ([`Cluster::run_base`]): 2^36
/// (about 69 billion) connections per start of a node.
pub const RUN_SHIFT: u32 = 36;

/// How many runs a node's numbers are spread over ([`Cluster::run_base`]).
pub const RUNS: u64 = 1 << (NODE_ID_SHIFT - RUN_SHIFT);

/// The largest `node_id` (node numbers are 1–32767).
pub const MAX_NODE_ID: u16 = 32767;

/// `cluster { heartbeat …; }` when not given.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);

/// `cluster { node_timeout …; }` when not given.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// `cluster { forward_margin …; }` when not given.
pub const DEFAULT_FORWARD_MARGIN: Duration = Duration::from_secs(1);

/// `cluster { nats { connect_timeout …; } }` when not given.
pub const DEFAULT_NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Cluster {
    /// The first connection number of the node with this `node_id`.
    pub fn first_conn_number(node_id: u16) -> u64 {
        u64::from(node_id) << NODE_ID_SHIFT
    }

    /// The number before the first connection of a start of node `node_id` that
    /// drew `run`: each start (process start, or restart in place) draws its run at
    /// random among [`RUNS`], so that a restarted node does not number new
    /// connections as it numbered those of its previous start (a `connection.id`
    /// stored before a restart, in a database for example, then names no connection
    /// rather than another NAS's; the same run comes again with probability
    /// 1/[`RUNS`]). A run has 2^[`RUN_SHIFT`] numbers, inside the node's own range.
    pub fn run_base(node_id: u16, run: u64) -> u64 {
        Self::first_conn_number(node_id) + ((run % RUNS) << RUN_SHIFT)
    }

    /// The `node_id` of the node that owns connection number `conn`.
    pub fn owner_of(conn: u64) -> u16 {
        // At most 16 bits remain after the shift.
        u16::try_from(conn >> NODE_ID_SHIFT).unwrap_or(u16::MAX)
    }
}

/// `cluster { nats { … } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nats {
    /// `server "nats://host:port";` (repeatable, at least one): the client
    /// connects to one and fails over to the others.
    pub servers: Vec<String>,
    /// `tls { ca "X509"; certificate "X509"; certificate_key "KEY"; }`.
    pub tls: Option<NatsTls>,
    /// `user "…"; password "…";` or `token "…";`.
    pub auth: NatsAuth,
    /// `connect_timeout D;` (default 2 s).
    pub connect_timeout: Duration,
}

/// `cluster { nats { tls { … } } }`: TLS to the NATS servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsTls {
    /// `ca "X509";`: the CA(s) that sign the NATS servers' certificates.
    pub ca: CertificateId,
    /// `certificate "X509"; certificate_key "KEY";`: this node's client
    /// certificate, when the NATS servers ask for one.
    pub client: Option<(CertificateId, CertificateId)>,
}

/// How a node authenticates to NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// Nothing (or only the TLS client certificate).
    None,
    /// `user "…"; password "…";`.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// `token "…";`.
    Token(String),
}
