//! The execution context: everything a pipeline can read and write while one request
//! is handled, and the read/write rules of each namespace.
//!
//! The engine fills a [`Context`] from the decoded request (or HTTP request), the
//! client/server/connection it arrived on, the environment map and the current time;
//! pipelines read it through [`VarRef`]s and write it through [`Place`]s. The
//! interpreter only sees the context through the [`EvalEnv`] trait, so that
//! `@select` can run over a read-only view of the caller's context with the candidate
//! connection bound (see `select.rs`) and a query `mapping` can read a backend's
//! reply (see `query.rs`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::contract::Transport;
use crate::eval::convert::{decode_attr, encode_attr, json_scalar_to_value};
use crate::eval::error::{ErrorCode, ErrorValue};
use crate::eval::ir::{
    AaaField, AaaPlace, AssignOp, ConnField, HttpField, HttpPlace, Index, PacketRef, Place,
    UserField, VarRef, error_code_value, radius_code_from_value,
};
use crate::eval::text::literal;
use crate::eval::value::{AttrEntry, Value};
use crate::radius::id::{AttrId, DataType};

/// User-Name (RFC 2865 §5.1): what `aaa.identity` of a RADIUS request starts as.
const USER_NAME: AttrId = AttrId::Standard(1);

/// What the interpreter needs to know about attributes: their types (to decode and
/// encode values), their named values (`Error-Cause = "Request-Not-Routable"`) and
/// their names (for the `remove()`/`select()` filters). The dictionary implements it;
/// tests use [`SimpleSchema`].
pub trait AttrSchema: Send + Sync {
    /// The data type of the attribute, if the dictionary knows it.
    fn data_type(&self, id: AttrId) -> Option<DataType>;
    /// The number of the named value `name` of the attribute.
    fn value_number(&self, id: AttrId, name: &str) -> Option<u32>;
    /// The attribute with this name (case-insensitive).
    fn attr_id(&self, name: &str) -> Option<AttrId>;
    /// The dictionary name of the attribute (for messages); `None` when unknown.
    fn attr_name(&self, id: AttrId) -> Option<String> {
        let _ = id;
        None
    }
}

/// How messages name an attribute: its dictionary name (`User-Name`), or
/// `attribute 26.9.1` when the dictionary has none.
pub fn attr_label(schema: &dyn AttrSchema, id: AttrId) -> String {
    schema
        .attr_name(id)
        .unwrap_or_else(|| format!("attribute {id}"))
}

/// A small in-memory [`AttrSchema`] for tests and for engines started before a
/// dictionary is loaded.
#[derive(Debug, Clone, Default)]
pub struct SimpleSchema {
    by_id: BTreeMap<AttrId, (DataType, BTreeMap<String, u32>)>,
    names: BTreeMap<AttrId, String>,
    by_name: BTreeMap<String, AttrId>,
}

impl SimpleSchema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare an attribute.
    pub fn attr(mut self, id: AttrId, name: &str, dt: DataType) -> Self {
        self.by_id.insert(id, (dt, BTreeMap::new()));
        self.names.insert(id, name.to_owned());
        self.by_name.insert(name.to_ascii_lowercase(), id);
        self
    }

    /// Declare a named value of an attribute declared before. Names are looked up
    /// case-insensitively, as in the dictionary.
    pub fn value(mut self, id: AttrId, name: &str, number: u32) -> Self {
        if let Some((_, values)) = self.by_id.get_mut(&id) {
            values.insert(name.to_ascii_lowercase(), number);
        }
        self
    }
}

impl AttrSchema for SimpleSchema {
    fn data_type(&self, id: AttrId) -> Option<DataType> {
        self.by_id.get(&id).map(|(dt, _)| *dt)
    }

    fn value_number(&self, id: AttrId, name: &str) -> Option<u32> {
        self.by_id
            .get(&id)
            .and_then(|(_, values)| values.get(&name.to_ascii_lowercase()).copied())
    }

    fn attr_id(&self, name: &str) -> Option<AttrId> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    fn attr_name(&self, id: AttrId) -> Option<String> {
        self.names.get(&id).cloned()
    }
}

/// The attributes of one packet, in wire order, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttrBag {
    entries: Vec<AttrEntry>,
}

impl AttrBag {
    /// An empty bag.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bag holding these entries in this order.
    pub fn from_entries(entries: Vec<AttrEntry>) -> Self {
        Self { entries }
    }

    /// Every entry, in order.
    pub fn entries(&self) -> &[AttrEntry] {
        &self.entries
    }

    /// Take the entries out.
    pub fn into_entries(self) -> Vec<AttrEntry> {
        self.entries
    }

    /// Append one untagged attribute.
    pub fn push(&mut self, id: AttrId, value: impl Into<Bytes>) {
        self.entries.push(AttrEntry {
            id,
            tag: None,
            value: value.into(),
        });
    }

    /// Append one entry.
    pub fn push_entry(&mut self, entry: AttrEntry) {
        self.entries.push(entry);
    }

    /// Every instance of `id`, in order.
    pub fn get_all(&self, id: AttrId) -> impl Iterator<Item = &AttrEntry> {
        self.entries.iter().filter(move |e| e.id == id)
    }

    /// The first instance of `id`.
    pub fn first(&self, id: AttrId) -> Option<&AttrEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// How many instances of `id` there are.
    pub fn count(&self, id: AttrId) -> usize {
        self.get_all(id).count()
    }

    /// Remove every instance of `id`.
    pub fn remove(&mut self, id: AttrId) {
        self.entries.retain(|e| e.id != id);
    }

    /// Replace every entry.
    pub fn replace_all(&mut self, entries: Vec<AttrEntry>) {
        self.entries = entries;
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The RADIUS request being handled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RadiusRequest {
    /// Its packet code.
    pub code: u8,
    /// Its attributes (hidden ones already revealed).
    pub attrs: AttrBag,
}

/// The RADIUS reply being built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RadiusReply {
    /// The code set explicitly (`radius.reply.code = …`), which wins over the code
    /// derived from the pipeline result; `None` while unset.
    pub code: Option<u8>,
    /// The reply attributes.
    pub attrs: AttrBag,
}

/// What the peer's TLS client certificate says (`connection.cert.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertInfo {
    /// Subject Common Name.
    pub subject_cn: Option<String>,
    /// Issuer, as a distinguished-name string.
    pub issuer: Option<String>,
    /// SHA-256 fingerprint of the DER certificate, lower-case hex.
    pub fingerprint: Option<String>,
    /// Subject Alternative Name e-mail addresses, in certificate order.
    pub san_email: Vec<String>,
    /// Subject Alternative Name DNS names, in certificate order.
    pub san_dns: Vec<String>,
    /// Subject Alternative Name URIs, in certificate order.
    pub san_uri: Vec<String>,
}

/// An inbound stream connection, as `connection.*` (the `@select` candidate) and
/// `radius.connection.*` (the connection the request arrived on) expose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Unique within the process; establishment order.
    pub id: u64,
    /// Name of the configured client that connected.
    pub client_name: String,
    /// Remote address.
    pub peer_addr: SocketAddr,
    /// Name of the local server the client connected to.
    pub server_name: String,
    /// Local address.
    pub server_addr: SocketAddr,
    /// TCP or TLS.
    pub transport: Transport,
    /// When it was established.
    pub connected: SystemTime,
    /// When it closed (`None` while connected).
    pub disconnected: Option<SystemTime>,
    /// When the last Status-Server arrived.
    pub status_received: Option<SystemTime>,
    /// The NAS-Identifier of the last Status-Server that carried one.
    pub status_nas_identifier: Option<String>,
    /// When the last whole packet arrived from the peer (`None` before the first).
    pub last_heard: Option<SystemTime>,
    /// False while the connection's liveness is in doubt: a request of ours on it
    /// timed out and no reply has arrived since (a Status-Server probe is out).
    /// `@select` visits healthy connections first (see [`crate::eval::select`]).
    pub healthy: bool,
    /// The client certificate, on TLS connections that presented one.
    pub cert: Option<CertInfo>,
}

/// The RADIUS or HTTP client a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The configured client name.
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
}

/// The local server a request arrived at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The configured server name.
    pub name: String,
    /// Whether the request arrived over TLS.
    pub tls: bool,
}

/// Which protocol the request came in with; decides whether `radius.server` or
/// `http.server` names the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Protocol {
    /// A RADIUS request (UDP, TCP or TLS, including reverse-listen).
    #[default]
    Radius,
    /// An HTTP request.
    Http,
}

/// The `aaa.*` namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct AaaState {
    /// `aaa.identity`: the User-Name of a RADIUS request (set by
    /// [`Context::radius`]), none for HTTP; writable. `aaa.identity.name` and
    /// `.realm` are its parts around the last `@`.
    pub identity: Option<String>,
    /// `aaa.policy`.
    pub policy: Option<String>,
    /// `aaa.handler`.
    pub handler: Option<String>,
    /// `aaa.result` (`accept`/`reject`/`ignore`/`error`), set by the engine after
    /// `@execute`.
    pub result: Option<String>,
    /// `aaa.reason`.
    pub reason: Value,
    /// `aaa.message`.
    pub message: Value,
    /// Every error raised during the request, caught or not.
    pub errors: Vec<ErrorValue>,
    /// `aaa.caught_error` (the message), cleared when a `try` starts.
    pub caught_error: Value,
    /// `aaa.caught_error.code`, cleared when a `try` starts.
    pub caught_error_code: Value,
    /// Every caught error.
    pub caught_errors: Vec<ErrorValue>,
    /// `aaa.method`.
    pub method: Option<String>,
}

/// The `user.*` namespace: filled by user lookups (backend mappings).
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// `user.username`.
    pub username: Value,
    /// `user.password`.
    pub password: Value,
    /// `user.group`.
    pub group: Value,
    /// `user.role`.
    pub role: Value,
    /// `user.privilege`.
    pub privilege: Value,
    /// `user.backend`.
    pub backend: Value,
}

impl Default for AaaState {
    fn default() -> Self {
        Self {
            identity: None,
            policy: None,
            handler: None,
            result: None,
            reason: Value::None,
            message: Value::None,
            errors: Vec::new(),
            caught_error: Value::None,
            caught_error_code: Value::None,
            caught_errors: Vec::new(),
            method: None,
        }
    }
}

impl Default for UserInfo {
    fn default() -> Self {
        Self {
            username: Value::None,
            password: Value::None,
            group: Value::None,
            role: Value::None,
            privilege: Value::None,
            backend: Value::None,
        }
    }
}

impl UserInfo {
    fn slot(&self, f: UserField) -> &Value {
        match f {
            UserField::Username => &self.username,
            UserField::Password => &self.password,
            UserField::Group => &self.group,
            UserField::Role => &self.role,
            UserField::Privilege => &self.privilege,
            UserField::Backend => &self.backend,
        }
    }

    fn slot_mut(&mut self, f: UserField) -> &mut Value {
        match f {
            UserField::Username => &mut self.username,
            UserField::Password => &mut self.password,
            UserField::Group => &mut self.group,
            UserField::Role => &mut self.role,
            UserField::Privilege => &mut self.privilege,
            UserField::Backend => &mut self.backend,
        }
    }
}

/// An HTTP request and the response being built (`http.*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpExchange {
    /// `http.method` (upper case as received).
    pub method: String,
    /// `http.path` (without the query string).
    pub path: String,
    /// `http.query.*`, decoded; the first value of a repeated key.
    pub query: BTreeMap<String, String>,
    /// Request headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The request body.
    pub body: Bytes,
    /// `http.status` as set by the pipeline.
    pub status: Option<Value>,
    /// `http.response` as set by the pipeline (`Some(Value::None)` = explicitly none).
    pub response: Option<Value>,
    /// `http.response_header.*`, names lower-case.
    pub response_headers: BTreeMap<String, String>,
}

impl HttpExchange {
    /// HTTP Basic credentials from the `authorization` header, if well formed.
    pub fn basic_credentials(&self) -> Option<(String, String)> {
        let header = self.headers.get("authorization")?;
        let (scheme, rest) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64_decode(rest.trim())?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, pass) = text.split_once(':')?;
        Some((user.to_owned(), pass.to_owned()))
    }

    fn bearer(&self) -> Option<String> {
        let header = self.headers.get("authorization")?;
        let (scheme, rest) = header.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_owned())
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }
    let trimmed = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in trimmed {
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Everything a pipeline run can see about one request.
#[derive(Clone)]
pub struct Context {
    /// Attribute types and names.
    pub schema: Arc<dyn AttrSchema>,
    /// The time the engine handed in (`datetime.timestamp`).
    pub now: SystemTime,
    /// `id`: the request id.
    pub id: u64,
    /// `env.*`: the environment map handed in (the core never reads the process
    /// environment).
    pub env: Arc<BTreeMap<String, String>>,
    /// RADIUS or HTTP.
    pub protocol: Protocol,
    /// The RADIUS request, if this is one.
    pub request: Option<RadiusRequest>,
    /// The RADIUS reply being built.
    pub reply: RadiusReply,
    /// `vars.*`.
    pub vars: BTreeMap<String, Value>,
    /// `aaa.*`.
    pub aaa: AaaState,
    /// `user.*`.
    pub user: UserInfo,
    /// `http.*`, for HTTP requests.
    pub http: Option<HttpExchange>,
    /// The client the request came from.
    pub client: Option<ClientInfo>,
    /// The server it arrived at.
    pub server: Option<ServerInfo>,
    /// `radius.connection.*`: the stream connection it arrived on.
    pub current_connection: Option<Arc<ConnectionInfo>>,
    /// `connection.*`: the `@select` candidate (normally bound by `select.rs` rather
    /// than here).
    pub connection: Option<Arc<ConnectionInfo>>,
    /// `reject_errors on|off`: a final error becomes a reject.
    pub reject_errors: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("request", &self.request)
            .field("reply", &self.reply)
            .field("vars", &self.vars)
            .field("aaa", &self.aaa)
            .field("user", &self.user)
            .field("http", &self.http)
            .field("client", &self.client)
            .field("server", &self.server)
            .field("current_connection", &self.current_connection)
            .field("connection", &self.connection)
            .field("reject_errors", &self.reject_errors)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// An empty context of the given protocol at time `now`.
    pub fn new(schema: Arc<dyn AttrSchema>, protocol: Protocol, now: SystemTime) -> Self {
        Self {
            schema,
            now,
            id: 0,
            env: Arc::new(BTreeMap::new()),
            protocol,
            request: None,
            reply: RadiusReply::default(),
            vars: BTreeMap::new(),
            aaa: AaaState::default(),
            user: UserInfo::default(),
            http: None,
            client: None,
            server: None,
            current_connection: None,
            connection: None,
            reject_errors: false,
        }
    }

    /// A context for a RADIUS request. `aaa.identity` starts as the request's
    /// (first) User-Name, as text; a request without one, or with an empty one, has
    /// no identity.
    pub fn radius(schema: Arc<dyn AttrSchema>, now: SystemTime, request: RadiusRequest) -> Self {
        let mut ctx = Self::new(schema, Protocol::Radius, now);
        ctx.aaa.identity = request
            .attrs
            .first(USER_NAME)
            .filter(|e| !e.value.is_empty())
            .map(|e| String::from_utf8_lossy(&e.value).into_owned());
        ctx.request = Some(request);
        ctx
    }

    /// A context for an HTTP request.
    pub fn http(schema: Arc<dyn AttrSchema>, now: SystemTime, http: HttpExchange) -> Self {
        let mut ctx = Self::new(schema, Protocol::Http, now);
        ctx.http = Some(http);
        ctx
    }
}

/// How the interpreter sees a context: reads by [`VarRef`], writes by [`Place`], and
/// the bookkeeping of errors. Implemented by [`Context`] and by the views of
/// `@select` and of query mappings.
pub trait EvalEnv {
    /// Attribute types and names.
    fn schema(&self) -> &dyn AttrSchema;
    /// The value of a variable (`none` when unset).
    fn read(&self, var: &VarRef) -> Value;
    /// Assign to a place; a read-only place or an unconvertible value is an
    /// `INVALID_VALUE` error.
    fn write(&mut self, place: &Place, op: AssignOp, value: Value) -> Result<(), ErrorValue>;
    /// An error was raised (recorded in `aaa.errors`).
    fn note_error(&mut self, err: &ErrorValue);
    /// A `try` starts: `aaa.caught_error` and `.code` become `none`.
    fn begin_try(&mut self);
    /// A `try` caught `err`: sets `aaa.caught_error`, `.code`, appends to
    /// `aaa.caught_errors`.
    fn catch_error(&mut self, err: &ErrorValue);
    /// Whether `reject_errors on` is in force.
    fn reject_errors(&self) -> bool;
    /// `reject_errors on|off`.
    fn set_reject_errors(&mut self, on: bool);
}

fn opt_string(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::None, |s| Value::String(s.clone()))
}

/// Pick instances of a multi-valued item per `index`.
pub fn pick_index(mut values: Vec<Value>, index: Index) -> Value {
    match index {
        Index::Auto => match values.len() {
            0 => Value::None,
            1 => values.pop().unwrap_or(Value::None),
            _ => Value::List(values),
        },
        Index::First => values.into_iter().next().unwrap_or(Value::None),
        Index::Last => values.pop().unwrap_or(Value::None),
        Index::Nth(n) => values.into_iter().nth(n).unwrap_or(Value::None),
        Index::All => Value::List(values),
    }
}

fn pick_strings(values: &[String], index: Index) -> Value {
    match index {
        Index::First | Index::Nth(0) => values
            .first()
            .map_or(Value::None, |s| Value::String(s.clone())),
        Index::Last => values
            .last()
            .map_or(Value::None, |s| Value::String(s.clone())),
        Index::Nth(n) => values
            .get(n)
            .map_or(Value::None, |s| Value::String(s.clone())),
        Index::Auto | Index::All => pick_index(
            values.iter().map(|s| Value::String(s.clone())).collect(),
            index,
        ),
    }
}

/// Decode one attribute entry into a typed value (unknown attributes read as bytes).
pub fn decode_entry(schema: &dyn AttrSchema, entry: &AttrEntry) -> Value {
    match schema.data_type(entry.id) {
        Some(dt) => decode_attr(dt, &entry.value),
        None => Value::Bytes(entry.value.clone()),
    }
}

/// Read `attr[index]` from a bag, typed.
pub fn read_attr(bag: &AttrBag, schema: &dyn AttrSchema, attr: AttrId, index: Index) -> Value {
    match index {
        Index::First | Index::Nth(0) => bag
            .first(attr)
            .map_or(Value::None, |e| decode_entry(schema, e)),
        Index::Nth(n) => bag
            .get_all(attr)
            .nth(n)
            .map_or(Value::None, |e| decode_entry(schema, e)),
        Index::Last => bag
            .get_all(attr)
            .last()
            .map_or(Value::None, |e| decode_entry(schema, e)),
        Index::Auto | Index::All => pick_index(
            bag.get_all(attr).map(|e| decode_entry(schema, e)).collect(),
            index,
        ),
    }
}

/// Read a field of a connection.
pub fn read_conn_field(conn: &ConnectionInfo, field: ConnField) -> Value {
    let cert = conn.cert.as_ref();
    match field {
        ConnField::Id => Value::Integer(i128::from(conn.id)),
        ConnField::ClientName => Value::String(conn.client_name.clone()),
        ConnField::PeerAddr => Value::String(conn.peer_addr.to_string()),
        ConnField::PeerIp => Value::Ip(conn.peer_addr.ip()),
        ConnField::ServerName => Value::String(conn.server_name.clone()),
        ConnField::ServerAddr => Value::String(conn.server_addr.to_string()),
        ConnField::ServerIp => Value::Ip(conn.server_addr.ip()),
        ConnField::TransportProtocol => Value::String(conn.transport.name().to_owned()),
        ConnField::Connected => Value::Timestamp(conn.connected),
        ConnField::Disconnected => conn.disconnected.map_or(Value::None, Value::Timestamp),
        ConnField::StatusReceived => conn.status_received.map_or(Value::None, Value::Timestamp),
        ConnField::StatusNasIdentifier => opt_string(&conn.status_nas_identifier),
        ConnField::LastHeard => conn.last_heard.map_or(Value::None, Value::Timestamp),
        ConnField::Healthy => Value::Bool(conn.healthy),
        ConnField::CertSubjectCn => cert.map_or(Value::None, |c| opt_string(&c.subject_cn)),
        ConnField::CertIssuer => cert.map_or(Value::None, |c| opt_string(&c.issuer)),
        ConnField::CertFingerprint => cert.map_or(Value::None, |c| opt_string(&c.fingerprint)),
        ConnField::CertSanEmail(i) => cert.map_or(Value::None, |c| pick_strings(&c.san_email, i)),
        ConnField::CertSanDns(i) => cert.map_or(Value::None, |c| pick_strings(&c.san_dns, i)),
        ConnField::CertSanUri(i) => cert.map_or(Value::None, |c| pick_strings(&c.san_uri, i)),
    }
}

fn error_list(errors: &[ErrorValue]) -> Value {
    Value::List(
        errors
            .iter()
            .map(|e| Value::String(e.message.clone()))
            .collect(),
    )
}

fn split_identity(identity: &str) -> (&str, Option<&str>) {
    match identity.rsplit_once('@') {
        Some((name, realm)) => (name, Some(realm)),
        None => (identity, None),
    }
}

fn read_aaa(aaa: &AaaState, field: AaaField, protocol: Protocol) -> Value {
    match field {
        AaaField::Identity => opt_string(&aaa.identity),
        AaaField::IdentityName => aaa.identity.as_deref().map_or(Value::None, |i| {
            Value::String(split_identity(i).0.to_owned())
        }),
        AaaField::IdentityRealm => aaa
            .identity
            .as_deref()
            .and_then(|i| split_identity(i).1)
            .map_or(Value::None, |r| Value::String(r.to_owned())),
        AaaField::Policy => opt_string(&aaa.policy),
        AaaField::Handler => opt_string(&aaa.handler),
        AaaField::Result => opt_string(&aaa.result),
        AaaField::Reason => aaa.reason.clone(),
        AaaField::Message => aaa.message.clone(),
        AaaField::Errors => error_list(&aaa.errors),
        AaaField::CaughtError => aaa.caught_error.clone(),
        AaaField::CaughtErrorCode => aaa.caught_error_code.clone(),
        AaaField::CaughtErrors => error_list(&aaa.caught_errors),
        AaaField::Method => opt_string(&aaa.method),
        AaaField::Protocol => Value::String(
            match protocol {
                Protocol::Radius => "radius",
                Protocol::Http => "http",
            }
            .to_owned(),
        ),
    }
}

fn read_http(ctx: &Context, http: &HttpExchange, field: &HttpField) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    match field {
        HttpField::Method => s(&http.method),
        HttpField::Path => s(&http.path),
        HttpField::PathSegment(n) => http
            .path
            .split('/')
            .filter(|p| !p.is_empty())
            .nth(*n)
            .map_or(Value::None, s),
        HttpField::QueryAll => Value::Map(
            http.query
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
        HttpField::Query(k) => http.query.get(k).map_or(Value::None, |v| s(v)),
        HttpField::Header(k) => http.headers.get(k).map_or(Value::None, |v| s(v)),
        HttpField::Body => Value::String(String::from_utf8_lossy(&http.body).into_owned()),
        HttpField::Json => match serde_json::from_slice::<serde_json::Value>(&http.body) {
            Ok(j) => Value::Json(j),
            Err(e) => Value::Error(ErrorValue::new(
                ErrorCode::InvalidValue,
                format!("request body is not JSON: {e}"),
            )),
        },
        HttpField::Status => http.status.clone().unwrap_or(Value::None),
        HttpField::Response => http.response.clone().unwrap_or(Value::None),
        HttpField::ResponseHeader(k) => http.response_headers.get(k).map_or(Value::None, |v| s(v)),
        HttpField::AuthUsername => http.basic_credentials().map_or(Value::None, |(u, _)| s(&u)),
        HttpField::AuthPassword => http.basic_credentials().map_or(Value::None, |(_, p)| s(&p)),
        HttpField::AuthBearer => http.bearer().map_or(Value::None, |b| s(&b)),
        HttpField::Client => ctx.client.as_ref().map_or(Value::None, |c| s(&c.name)),
        HttpField::ClientIp => ctx.client.as_ref().map_or(Value::None, |c| Value::Ip(c.ip)),
        HttpField::Server => ctx.server.as_ref().map_or(Value::None, |c| s(&c.name)),
    }
}

impl Context {
    /// The value of a variable (`none` when unset or not applicable).
    pub fn read_var(&self, var: &VarRef) -> Value {
        let schema = self.schema.as_ref();
        let radius = self.protocol == Protocol::Radius;
        match var {
            VarRef::Id => Value::Integer(i128::from(self.id)),
            VarRef::Timestamp => Value::Timestamp(self.now),
            VarRef::Env(n) => self
                .env
                .get(n)
                .map_or(Value::None, |v| Value::String(v.clone())),
            VarRef::Vars(n) => self.vars.get(n).cloned().unwrap_or(Value::None),
            VarRef::RadiusCode(PacketRef::Request) => self
                .request
                .as_ref()
                .map_or(Value::None, |r| Value::Integer(i128::from(r.code))),
            VarRef::RadiusCode(PacketRef::Reply) => self
                .reply
                .code
                .map_or(Value::None, |c| Value::Integer(i128::from(c))),
            VarRef::RadiusAttr {
                packet: PacketRef::Request,
                attr,
                index,
            } => self
                .request
                .as_ref()
                .map_or(Value::None, |r| read_attr(&r.attrs, schema, *attr, *index)),
            VarRef::RadiusAttr {
                packet: PacketRef::Reply,
                attr,
                index,
            } => read_attr(&self.reply.attrs, schema, *attr, *index),
            VarRef::RadiusAttrs(PacketRef::Request) => Value::Attrs(
                self.request
                    .as_ref()
                    .map_or_else(Vec::new, |r| r.attrs.entries().to_vec()),
            ),
            VarRef::RadiusAttrs(PacketRef::Reply) => {
                Value::Attrs(self.reply.attrs.entries().to_vec())
            }
            VarRef::RadiusClient if radius => self
                .client
                .as_ref()
                .map_or(Value::None, |c| Value::String(c.name.clone())),
            VarRef::RadiusClientIp if radius => self
                .client
                .as_ref()
                .map_or(Value::None, |c| Value::Ip(c.ip)),
            VarRef::RadiusServer if radius => self
                .server
                .as_ref()
                .map_or(Value::None, |s| Value::String(s.name.clone())),
            VarRef::RadiusServerTls if radius => self
                .server
                .as_ref()
                .map_or(Value::None, |s| Value::Bool(s.tls)),
            VarRef::RadiusClient
            | VarRef::RadiusClientIp
            | VarRef::RadiusServer
            | VarRef::RadiusServerTls => Value::None,
            VarRef::CurrentConnection(f) => self
                .current_connection
                .as_deref()
                .map_or(Value::None, |c| read_conn_field(c, *f)),
            VarRef::Connection(f) => self
                .connection
                .as_deref()
                .map_or(Value::None, |c| read_conn_field(c, *f)),
            VarRef::Aaa(f) => read_aaa(&self.aaa, *f, self.protocol),
            VarRef::User(f) => self.user.slot(*f).clone(),
            VarRef::Http(f) => match (&self.http, self.protocol) {
                (Some(h), Protocol::Http) => read_http(self, h, f),
                _ => Value::None,
            },
        }
    }

    /// Assign to a place of the current context (the run-time read/write rules:
    /// `radius.request.code` is read-only here; `http.*` needs an HTTP request).
    pub fn write_place(
        &mut self,
        place: &Place,
        op: AssignOp,
        value: Value,
    ) -> Result<(), ErrorValue> {
        match place {
            Place::Vars(n) => {
                let slot = self.vars.entry(n.clone()).or_insert(Value::None);
                assign_value(slot, op, value)?;
                if matches!(slot, Value::None) {
                    self.vars.remove(n);
                }
                Ok(())
            }
            Place::RadiusCode(PacketRef::Reply) => {
                assign_code(&mut self.reply.code, op, &value, "radius.reply.code")
            }
            Place::RadiusCode(PacketRef::Request) => Err(read_only("radius.request.code")),
            Place::RadiusAttr { packet, attr } => {
                let schema = self.schema.clone();
                let bag = match packet {
                    PacketRef::Request => match self.request.as_mut() {
                        Some(r) => &mut r.attrs,
                        None => return Err(read_only("radius.request (no RADIUS request)")),
                    },
                    PacketRef::Reply => &mut self.reply.attrs,
                };
                write_attr(bag, schema.as_ref(), *attr, op, value)
            }
            Place::RadiusAttrs(packet) => {
                let bag = match packet {
                    PacketRef::Request => match self.request.as_mut() {
                        Some(r) => &mut r.attrs,
                        None => return Err(read_only("radius.request (no RADIUS request)")),
                    },
                    PacketRef::Reply => &mut self.reply.attrs,
                };
                write_attrs(bag, op, value)
            }
            Place::Aaa(AaaPlace::Reason) => assign_value(&mut self.aaa.reason, op, value),
            Place::Aaa(AaaPlace::Message) => assign_value(&mut self.aaa.message, op, value),
            Place::Aaa(AaaPlace::CaughtError) => {
                assign_value(&mut self.aaa.caught_error, op, value)
            }
            Place::Aaa(
                p @ (AaaPlace::Identity | AaaPlace::IdentityName | AaaPlace::IdentityRealm),
            ) => write_identity(&mut self.aaa, *p, op, value),
            Place::User(f) => assign_value(self.user.slot_mut(*f), op, value),
            Place::Http(p) => {
                let http = match (&mut self.http, self.protocol) {
                    (Some(h), Protocol::Http) => h,
                    _ => return Err(read_only("http.* (not an HTTP request)")),
                };
                write_http(http, p, op, value)
            }
        }
    }
}

/// A place as the language writes it (`radius.reply.attr.Filter-Id`, `vars.x`,
/// `http.status`), for messages.
pub fn place_text(place: &Place, schema: &dyn AttrSchema) -> String {
    let packet = |p: &PacketRef| match p {
        PacketRef::Request => "request",
        PacketRef::Reply => "reply",
    };
    match place {
        Place::Vars(n) => format!("vars.{n}"),
        Place::RadiusCode(p) => format!("radius.{}.code", packet(p)),
        Place::RadiusAttr { packet: p, attr } => match schema.attr_name(*attr) {
            Some(name) => format!("radius.{}.attr.{name}", packet(p)),
            None => format!("radius.{}.attr (attribute {attr})", packet(p)),
        },
        Place::RadiusAttrs(p) => format!("radius.{}.attrs", packet(p)),
        Place::Aaa(a) => match a {
            AaaPlace::Identity => "aaa.identity",
            AaaPlace::IdentityName => "aaa.identity.name",
            AaaPlace::IdentityRealm => "aaa.identity.realm",
            AaaPlace::Message => "aaa.message",
            AaaPlace::Reason => "aaa.reason",
            AaaPlace::CaughtError => "aaa.caught_error",
        }
        .to_owned(),
        Place::User(f) => match f {
            UserField::Username => "user.username",
            UserField::Password => "user.password",
            UserField::Group => "user.group",
            UserField::Role => "user.role",
            UserField::Privilege => "user.privilege",
            UserField::Backend => "user.backend",
        }
        .to_owned(),
        Place::Http(HttpPlace::Status) => "http.status".to_owned(),
        Place::Http(HttpPlace::Response) => "http.response".to_owned(),
        Place::Http(HttpPlace::ResponseHeader(k)) => format!("http.response_header.{k}"),
    }
}

fn read_only(what: &str) -> ErrorValue {
    ErrorValue::new(ErrorCode::InvalidValue, format!("{what} is read-only here"))
}

fn invalid(msg: String) -> ErrorValue {
    ErrorValue::new(ErrorCode::InvalidValue, msg)
}

/// `=`, `?=`, `+=` on a plain value slot. `+=` always yields a list (`none += x` is
/// `[x]`, a list on the right is spliced in). Assigning an error value stores it
/// (errors travel as values); attribute writes refuse them instead.
pub fn assign_value(slot: &mut Value, op: AssignOp, value: Value) -> Result<(), ErrorValue> {
    match op {
        AssignOp::Set => *slot = value,
        AssignOp::SetIfNone => {
            if matches!(slot, Value::None) {
                *slot = value;
            }
        }
        AssignOp::Append => {
            let mut items = match std::mem::replace(slot, Value::None) {
                Value::None => Vec::new(),
                Value::List(items) => items,
                other => vec![other],
            };
            match value {
                Value::List(more) => items.extend(more),
                Value::None => {}
                other => items.push(other),
            }
            *slot = Value::List(items);
        }
    }
    Ok(())
}

fn assign_code(
    slot: &mut Option<u8>,
    op: AssignOp,
    value: &Value,
    what: &str,
) -> Result<(), ErrorValue> {
    if op == AssignOp::SetIfNone && slot.is_some() {
        return Ok(());
    }
    if op == AssignOp::Append {
        return Err(invalid(format!("cannot append to {what}")));
    }
    match value {
        Value::None => {
            *slot = None;
            Ok(())
        }
        Value::Error(e) => Err(e.clone()),
        v => match radius_code_from_value(v) {
            Some(code) => {
                *slot = Some(code);
                Ok(())
            }
            None => Err(invalid(format!(
                "{} is not a RADIUS packet code ({what})",
                literal(v)
            ))),
        },
    }
}

fn write_identity(
    aaa: &mut AaaState,
    place: AaaPlace,
    op: AssignOp,
    value: Value,
) -> Result<(), ErrorValue> {
    let current = read_aaa(
        aaa,
        match place {
            AaaPlace::IdentityName => AaaField::IdentityName,
            AaaPlace::IdentityRealm => AaaField::IdentityRealm,
            _ => AaaField::Identity,
        },
        Protocol::Radius,
    );
    let mut slot = current;
    assign_value(&mut slot, op, value)?;
    let text = match slot {
        Value::None => None,
        Value::String(s) => Some(s),
        Value::Error(e) => return Err(e),
        other => Some(crate::eval::text::to_text(&other)),
    };
    let (name, realm) = match aaa.identity.as_deref() {
        Some(i) => {
            let (n, r) = split_identity(i);
            (Some(n.to_owned()), r.map(str::to_owned))
        }
        None => (None, None),
    };
    aaa.identity = match place {
        AaaPlace::IdentityName => match (text, realm) {
            (Some(n), Some(r)) => Some(format!("{n}@{r}")),
            (Some(n), None) => Some(n),
            (None, Some(r)) => Some(format!("@{r}")),
            (None, None) => None,
        },
        AaaPlace::IdentityRealm => match (name, text) {
            (n, Some(r)) => Some(format!("{}@{r}", n.unwrap_or_default())),
            (n, None) => n,
        },
        _ => text,
    };
    Ok(())
}

/// An HTTP status written as a value: an integer, or a string of decimal digits
/// (`http.status = http.query.s` with `s=201`), in 100..=599; a JSON number or
/// string the same way.
fn http_status_of(v: &Value) -> Option<i128> {
    let n = match v {
        Value::Integer(i) => *i,
        Value::String(s)
            if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i128>().ok()?
        }
        Value::Json(j) => return http_status_of(&json_scalar_to_value(j)?),
        _ => return None,
    };
    (100..=599).contains(&n).then_some(n)
}

fn write_http(
    http: &mut HttpExchange,
    place: &HttpPlace,
    op: AssignOp,
    value: Value,
) -> Result<(), ErrorValue> {
    match place {
        HttpPlace::Status => {
            let value = match value {
                Value::None => Value::None,
                Value::Error(e) => return Err(e),
                v => match http_status_of(&v) {
                    Some(status) => Value::Integer(status),
                    None => {
                        return Err(invalid(format!(
                            "{} is not an HTTP status (100..=599)",
                            literal(&v)
                        )));
                    }
                },
            };
            let mut slot = http.status.clone().unwrap_or(Value::None);
            if op == AssignOp::Append {
                return Err(invalid("cannot append to http.status".into()));
            }
            assign_value(&mut slot, op, value)?;
            http.status = (!matches!(slot, Value::None)).then_some(slot);
            Ok(())
        }
        HttpPlace::Response => {
            if op == AssignOp::SetIfNone && http.response.is_some() {
                return Ok(());
            }
            let mut slot = http.response.clone().unwrap_or(Value::None);
            assign_value(&mut slot, op, value)?;
            http.response = Some(slot);
            Ok(())
        }
        HttpPlace::ResponseHeader(name) => {
            let text = match value {
                Value::None => None,
                Value::Error(e) => return Err(e),
                v => Some(crate::eval::text::to_text(&v)),
            };
            match (op, text) {
                (AssignOp::SetIfNone, _) if http.response_headers.contains_key(name) => {}
                (_, None) => {
                    http.response_headers.remove(name);
                }
                (AssignOp::Append, Some(t)) => {
                    let entry = http.response_headers.entry(name.clone()).or_default();
                    if !entry.is_empty() {
                        entry.push_str(", ");
                    }
                    entry.push_str(&t);
                }
                (_, Some(t)) => {
                    http.response_headers.insert(name.clone(), t);
                }
            }
            Ok(())
        }
    }
}

/// Encode `value` as instances of `attr` (a list gives several instances).
pub fn encode_values(
    schema: &dyn AttrSchema,
    attr: AttrId,
    value: &Value,
) -> Result<Vec<Bytes>, ErrorValue> {
    let dt = schema
        .data_type(attr)
        .ok_or_else(|| invalid(format!("attribute {attr} is not in the dictionary")))?;
    let named = |name: &str| schema.value_number(attr, name);
    let one = |v: &Value| -> Result<Bytes, ErrorValue> {
        match v {
            Value::Error(e) => Err(e.clone()),
            Value::Attrs(_) | Value::List(_) | Value::Map(_) | Value::None => {
                Err(invalid(format!(
                    "cannot store {} {} in {}",
                    v.type_name(),
                    literal(v),
                    attr_label(schema, attr)
                )))
            }
            v => encode_attr(dt, v, &named).map(Bytes::from).map_err(|e| {
                ErrorValue::new(
                    e.code,
                    format!("{}: {}", attr_label(schema, attr), e.message),
                )
            }),
        }
    };
    match value {
        Value::None => Ok(Vec::new()),
        Value::List(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// `=`, `?=`, `+=` on every instance of one attribute in a bag. An error value is a
/// pipeline error (language.md §3.1); `none` removes the attribute.
pub fn write_attr(
    bag: &mut AttrBag,
    schema: &dyn AttrSchema,
    attr: AttrId,
    op: AssignOp,
    value: Value,
) -> Result<(), ErrorValue> {
    if op == AssignOp::SetIfNone && bag.count(attr) > 0 {
        return Ok(());
    }
    let encoded = encode_values(schema, attr, &value)?;
    if op != AssignOp::Append {
        bag.remove(attr);
    }
    for v in encoded {
        bag.push(attr, v);
    }
    Ok(())
}

/// `=`, `?=`, `+=` on a whole attribute list; the value must be an attribute list
/// (`radius.request.attrs`, possibly filtered) or `none`.
pub fn write_attrs(bag: &mut AttrBag, op: AssignOp, value: Value) -> Result<(), ErrorValue> {
    let entries = match value {
        Value::Attrs(entries) => entries,
        Value::None => Vec::new(),
        Value::Error(e) => return Err(e),
        other => {
            return Err(invalid(format!(
                "{} {} is not an attribute list",
                other.type_name(),
                literal(&other)
            )));
        }
    };
    match op {
        AssignOp::Set => bag.replace_all(entries),
        AssignOp::SetIfNone => {
            if bag.is_empty() {
                bag.replace_all(entries);
            }
        }
        AssignOp::Append => {
            for e in entries {
                bag.push_entry(e);
            }
        }
    }
    Ok(())
}

impl EvalEnv for Context {
    fn schema(&self) -> &dyn AttrSchema {
        self.schema.as_ref()
    }

    fn read(&self, var: &VarRef) -> Value {
        self.read_var(var)
    }

    fn write(&mut self, place: &Place, op: AssignOp, value: Value) -> Result<(), ErrorValue> {
        self.write_place(place, op, value)
    }

    fn note_error(&mut self, err: &ErrorValue) {
        self.aaa.errors.push(err.clone());
    }

    fn begin_try(&mut self) {
        self.aaa.caught_error = Value::None;
        self.aaa.caught_error_code = Value::None;
    }

    fn catch_error(&mut self, err: &ErrorValue) {
        self.aaa.caught_error = Value::String(err.message.clone());
        self.aaa.caught_error_code = error_code_value(err.code);
        self.aaa.caught_errors.push(err.clone());
    }

    fn reject_errors(&self) -> bool {
        self.reject_errors
    }

    fn set_reject_errors(&mut self, on: bool) {
        self.reject_errors = on;
    }
}
