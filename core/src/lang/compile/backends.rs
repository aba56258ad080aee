//! `backends { radius "N" { server "S" { … } query "Q" { … } } sqlite "N" { … } }`.

use std::time::Duration;

use crate::contract::Transport;
use crate::eval::ir::{PacketRef, Place};
use crate::eval::query::{Bindings, Mapping, RadiusQuery, SqlQuery};
use crate::eval::select::SelectMode;
use crate::lang::compile::certs;
use crate::lang::compile::collect::{BackendEntry, CertTag, Collected, Entry};
use crate::lang::compile::cx::{Cx, Lowering, NameSet, Seen};
use crate::lang::compile::lower::{self, Stage};
use crate::lang::diag::{Diagnostic, suggest};
use crate::lang::program::{
    Backend, BackendKind, ClientTls, Connect, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STATUS_INTERVAL,
    RADSEC_DEFAULT_SECRET, RadiusBackend, RadiusServerDef, RadiusServerMode, Reverse,
    ServerSelection, SqliteBackend,
};
use crate::lang::span::Span;
use crate::lang::syntax::{Block, Body, Item};

/// How long an SQLite query waits on a locked database unless `timeout` says otherwise.
pub const DEFAULT_SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const RADIUS_BACKEND_KEYS: &[&str] = &["server-selection", "server", "query"];
const RADIUS_BACKEND_UNSUPPORTED: &[&str] = &["@pre-proxying", "@post-proxying"];
const SERVER_KEYS: &[&str] = &[
    "secret",
    "timeout",
    "retries",
    "status",
    "status_interval",
    "nas_identifier",
    "priority",
    "connections",
    "min-connections",
    "connect",
    "reverse",
];
const CONNECT_KEYS: &[&str] = &["protocol", "host", "ip", "port", "tls"];
const CLIENT_TLS_KEYS: &[&str] = &[
    "certificate",
    "certificate_key",
    "server_ca_certificate",
    "min_protocol_version",
    "max_protocol_version",
];
/// TLS keys of the language that Boomerang does not implement.
pub(crate) const TLS_UNSUPPORTED: &[&str] = &[
    "keylog_filename",
    "@verification",
    "client_ca_certificates",
    "server_ca_certificates",
    "session_tickets",
];
const SQLITE_KEYS: &[&str] = &["url", "filename", "timeout", "query"];
const SQL_QUERY_KEYS: &[&str] = &["query", "statement", "bindings", "mapping", "mappings"];
const RADIUS_QUERY_KEYS: &[&str] = &["bindings", "mapping", "mappings"];

/// `udp`, `tcp`, `tls` for `protocol`.
pub(crate) const TRANSPORTS: &[&str] = &["udp", "tcp", "tls"];

/// The transport a `protocol` word names.
pub(crate) fn transport(word: &str) -> Transport {
    match word {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => Transport::Tls,
    }
}

/// Build one backend.
pub(crate) fn build(
    cx: &mut Cx<'_>,
    lw: Lowering<'_>,
    col: &Collected<'_>,
    b: &BackendEntry<'_>,
) -> Option<Backend> {
    let errors = cx.error_count();
    let kind = if b.sqlite {
        BackendKind::Sqlite(sqlite(cx, lw, b))
    } else {
        BackendKind::Radius(radius(cx, lw, col, b))
    };
    (cx.error_count() == errors).then(|| Backend {
        name: b.e.name.clone(),
        span: b.e.name_span,
        kind,
    })
}

fn radius(
    cx: &mut Cx<'_>,
    lw: Lowering<'_>,
    col: &Collected<'_>,
    b: &BackendEntry<'_>,
) -> RadiusBackend {
    let place = format!("backend `{}`", b.e.name);
    let scope = format!(" in backend `{}`", b.e.name);
    let mut seen = Seen::default();
    let mut names = NameSet::default();
    let mut out = RadiusBackend {
        server_selection: ServerSelection::Fallback,
        servers: Vec::new(),
        queries: Vec::new(),
    };
    for item in &b.e.block.items {
        match item.keyword() {
            Some("query") => {}
            Some(k @ "server-selection") => {
                if seen.first(cx, k, item) {
                    out.server_selection = match cx.word(
                        item,
                        &[
                            "fallback",
                            "round-robin",
                            "least-connections",
                            "no-fallback",
                        ],
                    ) {
                        Some("round-robin") => ServerSelection::RoundRobin,
                        Some("least-connections") => ServerSelection::LeastConnections,
                        Some("no-fallback") => ServerSelection::NoFallback,
                        _ => ServerSelection::Fallback,
                    };
                }
            }
            Some("server") => {
                let Some((name, span, block)) = cx.named_block(item) else {
                    continue;
                };
                if !names.define_in(cx, "server", &name, span, &scope) {
                    continue;
                }
                if let Some(s) = server(cx, lw, col, &name, item, block) {
                    out.servers.push(s);
                }
            }
            _ => cx.other_key(
                item,
                &place,
                RADIUS_BACKEND_KEYS,
                RADIUS_BACKEND_UNSUPPORTED,
            ),
        }
    }
    if !b
        .e
        .block
        .items
        .iter()
        .any(|i| i.keyword() == Some("server"))
    {
        cx.push(
            Diagnostic::error(b.e.item.keyword_span(), format!("{place} has no `server`"))
                .with_help("add `server \"NAME\" { connect { … } }` or `server \"NAME\" { reverse { @select { … } } }`"),
        );
    }
    for q in &b.queries {
        if let Some(q) = radius_query(cx, lw, q) {
            out.queries.push(q);
        }
    }
    out
}

fn server(
    cx: &mut Cx<'_>,
    lw: Lowering<'_>,
    col: &Collected<'_>,
    name: &str,
    item: &Item,
    block: &Block,
) -> Option<RadiusServerDef> {
    let errors = cx.error_count();
    let place = format!("server `{name}`");
    let mut seen = Seen::default();
    let mut secret = None;
    let mut timeout = None;
    let mut retries = 0;
    let mut status = false;
    let mut status_interval = None;
    let mut nas_identifier = None;
    let mut priority = 0;
    let mut mode: Option<RadiusServerMode> = None;
    let mut mode_at: Option<(&'static str, Span)> = None;
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if SERVER_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, &place, SERVER_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "secret" => {
                if let Some((s, span)) = cx.string(it) {
                    if s.is_empty() {
                        cx.error(span, "`secret` is empty");
                    } else {
                        secret = Some(s);
                    }
                }
            }
            "timeout" => timeout = request_timeout(cx, it),
            "retries" => {
                retries = cx
                    .integer(it, 100)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
            }
            "status" => status = cx.boolean(it).unwrap_or(false),
            "status_interval" => {
                status_interval = cx.duration(it);
                if status_interval == Some(Duration::ZERO) {
                    cx.error(it.keyword_span(), "`status_interval` must be longer than 0");
                }
            }
            "nas_identifier" => nas_identifier = cx.string(it).map(|(s, _)| s),
            "priority" => {
                priority = cx
                    .integer(it, u64::from(u32::MAX))
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
            }
            "connections" | "min-connections" => ignored_pool_setting(cx, it, kw),
            "connect" | "reverse" => {
                let kw_static: &'static str = if kw == "connect" {
                    "connect"
                } else {
                    "reverse"
                };
                if let Some((other, at)) = mode_at {
                    cx.push(
                        Diagnostic::error(
                            it.keyword_span(),
                            format!("`reverse` and `connect` are mutually exclusive in {place}"),
                        )
                        .with_label(at, format!("`{other}` is here"))
                        .with_help("a server either connects out (`connect`) or uses inbound connections (`reverse`)"),
                    );
                    continue;
                }
                mode_at = Some((kw_static, it.keyword_span()));
                let Some(b) = cx.plain_block(it) else {
                    continue;
                };
                mode = if kw == "connect" {
                    connect(cx, col, b, it).map(RadiusServerMode::Connect)
                } else {
                    reverse(cx, lw, it, b).map(RadiusServerMode::Reverse)
                };
            }
            _ => {}
        }
    }
    if mode_at.is_none() {
        cx.push(
            Diagnostic::error(
                item.keyword_span(),
                format!("{place} needs `connect {{ … }}` or `reverse {{ … }}`"),
            )
            .with_help("`connect` opens an outbound connection; `reverse` sends over connections NAS devices opened to a local server"),
        );
        return None;
    }
    let secret = match (&mode, secret) {
        (_, Some(s)) => s,
        (Some(RadiusServerMode::Reverse(_)), None) => RADSEC_DEFAULT_SECRET.to_owned(),
        (Some(RadiusServerMode::Connect(c)), None) if c.protocol == Transport::Tls => {
            RADSEC_DEFAULT_SECRET.to_owned()
        }
        (Some(RadiusServerMode::Connect(c)), None) => {
            cx.push(
                Diagnostic::error(
                    item.keyword_span(),
                    format!(
                        "{place} connects over `{}` and needs a `secret`",
                        c.protocol.name()
                    ),
                )
                .with_help(
                    "only TLS connections and `reverse` servers default to the secret `radsec`",
                ),
            );
            return None;
        }
        (None, None) => return None,
    };
    if cx.error_count() > errors {
        return None;
    }
    Some(RadiusServerDef {
        name: name.to_owned(),
        secret,
        timeout: timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        retries,
        status,
        status_interval: status_interval.unwrap_or(DEFAULT_STATUS_INTERVAL),
        nas_identifier,
        priority,
        mode: mode?,
    })
}

/// A backend server's `timeout`: how long a request waits for its reply. Unlike a
/// listener's idle timeout, `0` cannot mean "off" here — every request would fail
/// with a timeout as soon as it is sent — so it is refused.
fn request_timeout(cx: &mut Cx<'_>, it: &Item) -> Option<Duration> {
    let d = cx.duration(it)?;
    if d.is_zero() {
        cx.push(
            Diagnostic::error(
                it.args().first().map_or(it.span, |t| t.span()),
                "the `timeout` of a backend server must be longer than zero",
            )
            .with_help("it is how long a request waits for its reply (default 5 s); `0` does not turn it off"),
        );
        return None;
    }
    Some(d)
}

/// `connections` / `min-connections`: checked, then ignored with a warning.
fn ignored_pool_setting(cx: &mut Cx<'_>, it: &Item, kw: &str) {
    if cx.integer(it, u64::from(u32::MAX)).is_some() {
        let msg = format!(
            "`{kw}` is ignored: Boomerang keeps one connection (or one UDP socket) per backend server"
        );
        cx.warn(it.keyword_span(), msg);
    }
}

fn connect(cx: &mut Cx<'_>, col: &Collected<'_>, block: &Block, item: &Item) -> Option<Connect> {
    let errors = cx.error_count();
    let mut seen = Seen::default();
    let mut protocol = None;
    let mut host = None;
    let mut ip = None;
    let mut port = None;
    let mut tls = None;
    let mut tls_at = None;
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if CONNECT_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`connect`", CONNECT_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "protocol" => protocol = cx.word(it, TRANSPORTS).map(transport),
            "host" => {
                if let Some((h, span)) = cx.string(it) {
                    if h.is_empty() {
                        cx.error(span, "`host` is empty");
                    } else {
                        host = Some(h);
                    }
                }
            }
            "ip" => ip = cx.ip(it),
            "port" => port = cx.port(it),
            "tls" => {
                tls_at = Some(it.keyword_span());
                if let Some(b) = cx.plain_block(it) {
                    tls = client_tls(cx, col, b, it);
                }
            }
            _ => {}
        }
    }
    let at = item.keyword_span();
    if seen.get("protocol").is_none() {
        cx.push(
            Diagnostic::error(at, "`connect` has no `protocol`")
                .with_help("add `protocol udp;`, `protocol tcp;` or `protocol tls;`"),
        );
    }
    if seen.get("port").is_none() {
        cx.push(Diagnostic::error(at, "`connect` has no `port`").with_help("add `port N;`"));
    }
    if seen.get("host").is_none() && seen.get("ip").is_none() {
        cx.push(
            Diagnostic::error(at, "`connect` has neither `host` nor `ip`")
                .with_help("add `host \"name\";` or `ip ADDRESS;`"),
        );
    }
    match (protocol, tls_at) {
        (Some(Transport::Tls), None) => cx.push(
            Diagnostic::error(at, "a `protocol tls` connection needs `tls { server_ca_certificate …; }`")
                .with_help("add `tls { server_ca_certificate \"CA\"; }` (and `certificate`/`certificate_key` for a client certificate)"),
        ),
        (Some(p @ (Transport::Udp | Transport::Tcp)), Some(span)) => cx.error(
            span,
            format!("`tls` settings need `protocol tls`, but this connection uses `{}`", p.name()),
        ),
        _ => {}
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(Connect {
        protocol: protocol?,
        host,
        ip,
        port: port?,
        tls,
    })
}

fn tls_version(cx: &mut Cx<'_>, it: &Item) -> Option<crate::lang::program::TlsVersion> {
    use crate::lang::program::TlsVersion;
    match cx.word(it, &["tlsv12", "tlsv13"])? {
        "tlsv12" => Some(TlsVersion::Tls12),
        _ => Some(TlsVersion::Tls13),
    }
}

/// `min_protocol_version` / `max_protocol_version` of any `tls` block, checked in order.
pub(crate) fn tls_versions(
    cx: &mut Cx<'_>,
    min: Option<(crate::lang::program::TlsVersion, Span)>,
    max: Option<(crate::lang::program::TlsVersion, Span)>,
) {
    if let (Some((lo, _)), Some((hi, span))) = (min, max)
        && lo > hi
    {
        cx.error(
            span,
            "`max_protocol_version` is lower than `min_protocol_version`",
        );
    }
}

/// Read `min_protocol_version`/`max_protocol_version` items.
pub(crate) fn version_item(
    cx: &mut Cx<'_>,
    it: &Item,
) -> Option<(crate::lang::program::TlsVersion, Span)> {
    let span = it.keyword_span();
    tls_version(cx, it).map(|v| (v, span))
}

fn client_tls(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    block: &Block,
    item: &Item,
) -> Option<ClientTls> {
    let errors = cx.error_count();
    let mut seen = Seen::default();
    let mut certificate = None;
    let mut certificate_key = None;
    let mut ca = None;
    let (mut min, mut max) = (None, None);
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if CLIENT_TLS_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`tls`", CLIENT_TLS_KEYS, TLS_UNSUPPORTED);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "certificate" => certificate = certs::reference(cx, col, it, CertTag::X509),
            "certificate_key" => certificate_key = certs::reference(cx, col, it, CertTag::Key),
            "server_ca_certificate" => ca = certs::reference(cx, col, it, CertTag::X509),
            "min_protocol_version" => min = version_item(cx, it),
            "max_protocol_version" => max = version_item(cx, it),
            _ => {}
        }
    }
    tls_versions(cx, min, max);
    let at = item.keyword_span();
    match (seen.get("certificate"), seen.get("certificate_key")) {
        (Some(_), None) => cx.push(
            Diagnostic::error(at, "`tls` has a `certificate` but no `certificate_key`")
                .with_help("add `certificate_key \"KEY\";` naming the certificate's private key"),
        ),
        (None, Some(_)) => cx.push(
            Diagnostic::error(at, "`tls` has a `certificate_key` but no `certificate`")
                .with_help("add `certificate \"CERT\";` naming the client certificate"),
        ),
        _ => {}
    }
    if seen.get("server_ca_certificate").is_none() {
        cx.push(
            Diagnostic::error(at, "`tls` has no `server_ca_certificate`")
                .with_help("add `server_ca_certificate \"CA\";` naming the CA that signed the server's certificate"),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(ClientTls {
        certificate,
        certificate_key,
        server_ca_certificate: ca?,
        min_version: min.map(|(v, _)| v),
        max_version: max.map(|(v, _)| v),
    })
}

fn reverse(cx: &mut Cx<'_>, lw: Lowering<'_>, item: &Item, block: &Block) -> Option<Reverse> {
    let mut first: Option<Span> = None;
    let mut out = None;
    for it in &block.items {
        if cx.stage_keyword(it, &["@select"]).is_none() {
            cx.other_key(it, "`reverse`", &["@select"], &[]);
            continue;
        }
        if let Some(prev) = first {
            cx.push(
                Diagnostic::error(
                    it.keyword_span(),
                    "`reverse` must contain exactly one `@select`; this is a second one",
                )
                .with_label(prev, "the first `@select` is here"),
            );
            continue;
        }
        first = Some(it.keyword_span());
        out = select(cx, lw, it);
    }
    if first.is_none() {
        cx.push(
            Diagnostic::error(
                item.keyword_span(),
                "`reverse` must contain exactly one `@select` pipeline",
            )
            .with_help("add `@select { … accept; }` choosing the connection to send over"),
        );
    }
    out
}

fn select(cx: &mut Cx<'_>, lw: Lowering<'_>, it: &Item) -> Option<Reverse> {
    let mode = match it.args() {
        [] => Some(SelectMode::First),
        [mode] => match mode.as_word() {
            Some("first") => Some(SelectMode::First),
            Some("round-robin") => Some(SelectMode::RoundRobin),
            _ => {
                let written = cx.text(mode.span());
                let mut d =
                    Diagnostic::error(mode.span(), format!("unknown selection mode `{written}`"));
                d = match suggest(written, ["first", "round-robin"]) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help("the modes are `first` (the default) and `round-robin`"),
                };
                cx.push(d);
                None
            }
        },
        [_, extra, ..] => {
            cx.error(
                extra.span(),
                format!(
                    "unexpected `{}` after the selection mode",
                    cx.text(extra.span())
                ),
            );
            None
        }
    };
    if let Some(c) = it.clauses.first() {
        cx.error(
            c.keyword_span,
            format!("unexpected `{}` after `@select`", c.keyword),
        );
    }
    let Body::Block(block) = &it.body else {
        cx.push(
            Diagnostic::error(it.keyword_span(), "`@select` must be a block")
                .with_help("write `@select { … }`"),
        );
        return None;
    };
    let pipeline = cx.lower(lw, |l| lower::lower_pipeline(l, Stage::Select, block));
    Some(Reverse {
        mode: mode?,
        select: pipeline,
    })
}

/// Where the mapping block of a query is, tolerating the `mappings` synonym once.
fn mapping_once(cx: &mut Cx<'_>, prev: &mut Option<Span>, it: &Item) -> bool {
    if let Some(p) = *prev {
        cx.push(
            Diagnostic::error(
                it.keyword_span(),
                format!(
                    "duplicate `{}`: a query has one `mapping` block (`mappings` is the same)",
                    it.keyword().unwrap_or("mapping")
                ),
            )
            .with_label(p, "first given here"),
        );
        return false;
    }
    *prev = Some(it.keyword_span());
    true
}

fn radius_query(cx: &mut Cx<'_>, lw: Lowering<'_>, q: &Entry<'_>) -> Option<RadiusQuery> {
    let errors = cx.error_count();
    let place = format!("query `{}`", q.name);
    let mut seen = Seen::default();
    let mut mapping_at = None;
    let mut bindings = None;
    let mut mapping = Mapping::default();
    for it in &q.block.items {
        match it.keyword() {
            Some(k @ "bindings") => {
                if seen.first(cx, k, it)
                    && let Some(b) = cx.plain_block(it)
                {
                    bindings = Some(cx.lower(lw, |l| lower::lower_bindings(l, b)));
                }
            }
            Some("mapping" | "mappings") => {
                if mapping_once(cx, &mut mapping_at, it)
                    && let Some(b) = cx.plain_block(it)
                {
                    mapping = cx.lower(lw, |l| lower::lower_mapping(l, b));
                }
            }
            _ => cx.other_key(it, &place, RADIUS_QUERY_KEYS, &[]),
        }
    }
    if seen.get("bindings").is_none() {
        cx.push(
            Diagnostic::error(q.item.keyword_span(), format!("{place} has no `bindings`"))
                .with_help(
                    "add `bindings { radius.request.code = …; radius.request.attr.NAME = …; }`",
                ),
        );
    }
    // Only the bindings set the code of the request a query sends: without an
    // assignment to it, every call would fail. (After another error in the query a
    // code binding may have been dropped, so this is only said on its own.)
    if let (Some(b), Some(at)) = (&bindings, seen.get("bindings"))
        && cx.error_count() == errors
        && !b
            .assignments
            .iter()
            .any(|a| a.place == Place::RadiusCode(PacketRef::Request))
    {
        cx.push(
            Diagnostic::error(at, format!("the `bindings` of {place} set no `radius.request.code`"))
                .with_help("a query sends a new request and needs its code: add e.g. `radius.request.code = radius.DISCONNECT_REQUEST;`, or `radius.request.code = radius.request.code;` to copy the incoming one"),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(RadiusQuery {
        name: q.name.clone(),
        bindings: bindings.unwrap_or_else(Bindings::default),
        mapping,
    })
}

fn sqlite(cx: &mut Cx<'_>, lw: Lowering<'_>, b: &BackendEntry<'_>) -> SqliteBackend {
    let place = format!("backend `{}`", b.e.name);
    let mut seen = Seen::default();
    let mut path = None;
    let mut location: Option<(&'static str, Span)> = None;
    let mut busy_timeout = DEFAULT_SQLITE_BUSY_TIMEOUT;
    for it in &b.e.block.items {
        let kw = match it.keyword() {
            Some("query") => continue,
            Some(k) if SQLITE_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, &place, SQLITE_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "url" | "filename" => {
                let this: &'static str = if kw == "url" { "url" } else { "filename" };
                if let Some((other, at)) = location {
                    cx.push(
                        Diagnostic::error(
                            it.keyword_span(),
                            "give either `url` or `filename`, not both",
                        )
                        .with_label(at, format!("`{other}` is here")),
                    );
                    continue;
                }
                location = Some((this, it.keyword_span()));
                let Some((text, span)) = cx.string(it) else {
                    continue;
                };
                let file = if this == "url" {
                    match text
                        .strip_prefix("sqlite://")
                        .or_else(|| text.strip_prefix("sqlite:"))
                    {
                        Some(f) => f.to_owned(),
                        None => {
                            cx.push(
                                Diagnostic::error(span, format!("`{text}` is not an SQLite URL"))
                                    .with_help(
                                        "write `url \"sqlite:PATH\";` or `filename \"PATH\";`",
                                    ),
                            );
                            continue;
                        }
                    }
                } else {
                    text
                };
                if file.is_empty() {
                    cx.error(span, "the database path is empty");
                } else if file == ":memory:" {
                    path = Some(file);
                } else {
                    path = Some(cx.resolve_path(span, &file));
                }
            }
            "timeout" => busy_timeout = cx.duration(it).unwrap_or(busy_timeout),
            _ => {}
        }
    }
    if location.is_none() {
        cx.push(Diagnostic::error(
            b.e.item.keyword_span(),
            format!("{place} has no database: add `filename \"PATH\";` or `url \"sqlite:PATH\";`"),
        ));
    }
    let mut queries = Vec::new();
    for q in &b.queries {
        if let Some(q) = sql_query(cx, lw, q) {
            queries.push(q);
        }
    }
    SqliteBackend {
        path: path.unwrap_or_default(),
        busy_timeout,
        queries,
    }
}

/// The number of `?` placeholders in an SQL statement, outside quoted strings,
/// quoted identifiers and comments.
pub(crate) fn count_placeholders(sql: &str) -> usize {
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '[' => {
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                for d in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            '?' => {
                n += 1;
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    n
}

fn sql_query(cx: &mut Cx<'_>, lw: Lowering<'_>, q: &Entry<'_>) -> Option<SqlQuery> {
    let errors = cx.error_count();
    let place = format!("query `{}`", q.name);
    let mut seen = Seen::default();
    let mut statement: Option<(String, Span)> = None;
    let mut statement_at: Option<(&'static str, Span)> = None;
    let mut params = Vec::new();
    let mut param_count = 0;
    let mut mapping_at = None;
    let mut mapping = Vec::new();
    for it in &q.block.items {
        match it.keyword() {
            Some(k @ ("query" | "statement")) => {
                let this: &'static str = if k == "query" { "query" } else { "statement" };
                if let Some((other, at)) = statement_at {
                    cx.push(
                        Diagnostic::error(
                            it.keyword_span(),
                            "a query has one SQL statement: give either `query` or `statement`",
                        )
                        .with_label(at, format!("`{other}` is here")),
                    );
                    continue;
                }
                statement_at = Some((this, it.keyword_span()));
                let Some(e) = cx.one_arg(it) else { continue };
                match e {
                    crate::lang::syntax::Expr::Str(t) => match t.as_plain() {
                        Some(s) if !s.trim().is_empty() => statement = Some((s.to_owned(), t.span)),
                        Some(_) => cx.error(t.span, "the SQL statement is empty"),
                        None => cx.push(
                            Diagnostic::error(t.span, "SQL statements cannot contain `%{…}`")
                                .with_help("write `?` placeholders and give their values in `bindings { … }`"),
                        ),
                    },
                    other => cx.push(
                        Diagnostic::error(
                            other.span(),
                            format!("`{k}` expects the SQL statement as a quoted string"),
                        ),
                    ),
                }
            }
            Some(k @ "bindings") => {
                if seen.first(cx, k, it)
                    && let Some(b) = cx.plain_block(it)
                {
                    param_count = b.items.len();
                    params = cx.lower(lw, |l| lower::lower_sql_params(l, b));
                }
            }
            Some("mapping" | "mappings") => {
                if mapping_once(cx, &mut mapping_at, it)
                    && let Some(b) = cx.plain_block(it)
                {
                    mapping = cx.lower(lw, |l| lower::lower_sql_mapping(l, b));
                }
            }
            _ => cx.other_key(it, &place, SQL_QUERY_KEYS, &[]),
        }
    }
    match (&statement, statement_at) {
        (Some((sql, span)), _) => {
            let want = count_placeholders(sql);
            if want != param_count {
                let at = seen.get("bindings").unwrap_or(*span);
                cx.push(
                    Diagnostic::error(
                        at,
                        format!(
                            "the statement has {want} `?` placeholder{} but `bindings` gives {param_count} value{}",
                            if want == 1 { "" } else { "s" },
                            if param_count == 1 { "" } else { "s" },
                        ),
                    )
                    .with_label(*span, "the statement"),
                );
            }
        }
        (None, None) => cx.push(
            Diagnostic::error(
                q.item.keyword_span(),
                format!("{place} has no SQL statement"),
            )
            .with_help("add `statement \"SELECT … WHERE x = ?\";`"),
        ),
        (None, Some(_)) => {}
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(SqlQuery {
        name: q.name.clone(),
        statement: statement.map(|(s, _)| s)?,
        params,
        mapping,
    })
}

/// A `reverse` server signs every request with its own `secret` (`radsec` when it has
/// none), whichever connection `@select` picks; a RADIUS/TCP connection's NAS
/// shares its client's secret with us (and our liveness probes on it are signed with
/// that one). Warn, at the backend, for each RADIUS/TCP server with clients whose
/// secret is another: a NAS that verifies with its client secret refuses the
/// reverse requests, and the trigger ends with `CONNECTION_CLOSED` or a timeout.
pub(crate) fn reverse_secret_warnings(
    backends: &[Option<Backend>],
    servers: &[Option<crate::lang::program::Server>],
    lists: &[Option<crate::lang::compile::clients::BuiltList>],
) -> Vec<Diagnostic> {
    use crate::lang::program::{RadiusListen, ServerKind};
    let mut out = Vec::new();
    for backend in backends.iter().flatten() {
        let BackendKind::Radius(r) = &backend.kind else {
            continue;
        };
        for def in &r.servers {
            if !matches!(def.mode, RadiusServerMode::Reverse(_)) {
                continue;
            }
            for server in servers.iter().flatten() {
                let ServerKind::Radius(rs) = &server.kind else {
                    continue;
                };
                let (RadiusListen::Network(listen), Some(list)) = (&rs.listen, rs.clients) else {
                    continue;
                };
                if listen.protocol != Transport::Tcp {
                    continue;
                }
                let Some(Some(list)) = usize::try_from(list.0).ok().and_then(|i| lists.get(i))
                else {
                    continue;
                };
                let others: Vec<&str> = list
                    .list
                    .clients
                    .iter()
                    .filter(|c| c.secret.as_deref().is_some_and(|s| s != def.secret))
                    .map(|c| c.name.as_str())
                    .collect();
                let Some(first) = others.first() else {
                    continue;
                };
                let which = match others.len() {
                    1 => format!(
                        "client `{first}` of the RADIUS/TCP server `{}` has",
                        server.name
                    ),
                    n => format!(
                        "{n} clients (`{first}`, …) of the RADIUS/TCP server `{}` have",
                        server.name
                    ),
                };
                out.push(
                    Diagnostic::warning(
                        backend.span,
                        format!(
                            "backend `{}`: reverse server `{}` signs with its own secret, and {which} another: a NAS on such a connection that verifies with its client secret refuses the reverse requests",
                            backend.name, def.name
                        ),
                    )
                    .with_help(
                        "give the reverse server the secret those NAS verify with (`secret \"…\";`), or let `@select` pick only RadSec connections (whose secret is `radsec` on both sides)",
                    ),
                );
            }
        }
    }
    out
}

/// Warn about each RADIUS/TCP or RadSec server that closes idle NAS connections
/// after the default 10 s in a configuration that sends reverse requests: a NAS
/// keeps its connection alive with Status-Server every 15 s (radiusdtls-bis's
/// watchdog interval; `boomerang client --reverse` too), so it is dropped between
/// two watchdogs and reverse requests find no connection. Quiet when the listener
/// sets `timeout`, or when every client of the server sets its own.
pub(crate) fn idle_timeout_warnings(
    backends: &[Option<Backend>],
    servers: &[Option<crate::lang::program::Server>],
    lists: &[Option<crate::lang::compile::clients::BuiltList>],
) -> Vec<Diagnostic> {
    use crate::lang::program::{RadiusListen, ServerKind};
    let reverse = backends.iter().flatten().any(|b| match &b.kind {
        BackendKind::Radius(r) => r
            .servers
            .iter()
            .any(|s| matches!(s.mode, RadiusServerMode::Reverse(_))),
        BackendKind::Sqlite(_) => false,
    });
    if !reverse {
        return Vec::new();
    }
    let mut out = Vec::new();
    for server in servers.iter().flatten() {
        let ServerKind::Radius(rs) = &server.kind else {
            continue;
        };
        let RadiusListen::Network(listen) = &rs.listen else {
            continue;
        };
        if !listen.protocol.is_stream() || listen.timeout.is_some() {
            continue;
        }
        let list = rs
            .clients
            .and_then(|l| usize::try_from(l.0).ok())
            .and_then(|i| lists.get(i))
            .and_then(Option::as_ref);
        let all_set = list.is_some_and(|l| l.list.clients.iter().all(|c| c.timeout.is_some()));
        if all_set {
            continue;
        }
        out.push(
            Diagnostic::warning(
                server.span,
                format!(
                    "server `{}`: NAS connections without a packet for 10 s (the default idle timeout) are closed, sooner than the 15 s between a NAS's Status-Server watchdogs (radiusdtls-bis), so reverse requests may find no connection",
                    server.name
                ),
            )
            .with_help(
                "set `timeout 0;` in its `listen { … }` and let the NAS send Status-Server (or use TCP keepalive), or a timeout longer than the NAS's watchdog interval",
            ),
        );
    }
    out
}
