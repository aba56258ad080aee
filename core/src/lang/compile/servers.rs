//! `servers { radius "N" { listen { … } clients "L"; policy "P"; } http "N" { … } }`.

use std::collections::BTreeSet;

use crate::contract::Transport;
use crate::lang::compile::backends::{
    TLS_UNSUPPORTED, TRANSPORTS, tls_versions, transport, version_item,
};
use crate::lang::compile::certs;
use crate::lang::compile::clients::BuiltList;
use crate::lang::compile::collect::{CertTag, Collected, ServerEntry};
use crate::lang::compile::cx::{ANY_V4, Cx, Seen};
use crate::lang::compile::names::BackendNameKind;
use crate::lang::diag::{Diagnostic, suggest};
use crate::lang::program::{
    Backend, BackendKind, ClientListId, ClientProtocol, ConnectionLimits, HttpServer, Keepalive,
    Liveness, NasIdentifierBinding, NetworkListen, PolicyId, RadiusListen, RadiusServer,
    RadiusServerMode, Server, ServerKind, ServerTls,
};
use crate::lang::span::Span;
use crate::lang::syntax::{Block, Item};

const RADIUS_SERVER_KEYS: &[&str] = &["listen", "clients", "policy"];
const HTTP_SERVER_KEYS: &[&str] = &[
    "listen",
    "clients",
    "tls",
    "policy",
    "header_timeout",
    "idle_timeout",
];
const SERVER_UNSUPPORTED: &[&str] = &["@pre-client", "capture"];
const LISTEN_KEYS: &[&str] = &[
    "protocol",
    "port",
    "ip",
    "timeout",
    "keepalive",
    "receive_buffer",
    "liveness",
    "tls",
    "limits",
];
/// Largest `receive_buffer` accepted (1 GiB); the kernel caps what it grants anyway.
const MAX_RECEIVE_BUFFER: u64 = 1 << 30;
const HTTP_LISTEN_KEYS: &[&str] = &["protocol", "port", "ip", "limits"];
const LIMITS_KEYS: &[&str] = &["connections", "per_source"];
const SERVER_TLS_KEYS: &[&str] = &[
    "certificate",
    "certificate_key",
    "client_ca_certificate",
    "require_client_certificate",
    "min_protocol_version",
    "max_protocol_version",
];

/// What servers refer to, already built.
pub(crate) struct Built<'b> {
    /// Client lists, aligned with `Collected::client_lists` (`None`: had errors).
    pub lists: &'b [Option<BuiltList>],
    /// Backends, aligned with `Collected::backends` (`None`: had errors).
    pub backends: &'b [Option<Backend>],
}

/// Build one server. `warned` remembers the (list, client) pairs already reported
/// for a missing secret, so that a list used by two UDP servers is reported once.
pub(crate) fn build(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    built: &Built<'_>,
    s: &ServerEntry<'_>,
    warned: &mut BTreeSet<(usize, usize)>,
) -> Option<Server> {
    let errors = cx.error_count();
    let kind = if s.http {
        ServerKind::Http(http(cx, col, built, s)?)
    } else {
        ServerKind::Radius(radius(cx, col, built, s, warned)?)
    };
    (cx.error_count() == errors).then(|| Server {
        name: s.e.name.clone(),
        span: s.e.name_span,
        kind,
    })
}

fn radius(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    built: &Built<'_>,
    s: &ServerEntry<'_>,
    warned: &mut BTreeSet<(usize, usize)>,
) -> Option<RadiusServer> {
    let place = format!("server `{}`", s.e.name);
    let mut seen = Seen::default();
    let mut listen = None;
    let mut clients: Option<(usize, Span)> = None;
    let mut policy = None;
    for it in &s.e.block.items {
        let kw = match it.keyword() {
            Some(k) if RADIUS_SERVER_KEYS.contains(&k) => k,
            Some(
                k @ ("timeout" | "tls" | "protocol" | "port" | "ip" | "keepalive"
                | "receive_buffer"),
            ) => {
                cx.push(
                    Diagnostic::error(it.keyword_span(), format!("unknown key `{k}` in {place}"))
                        .with_help(format!("`{k}` belongs inside `listen {{ … }}`")),
                );
                continue;
            }
            _ => {
                cx.other_key(it, &place, RADIUS_SERVER_KEYS, SERVER_UNSUPPORTED);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "listen" => {
                if let Some(b) = cx.plain_block(it) {
                    listen = radius_listen(cx, col, built, b, it);
                }
            }
            "clients" => clients = client_list(cx, col, it, ClientProtocol::Radius),
            "policy" => policy = policy_ref(cx, col, it),
            _ => {}
        }
    }
    let at = s.e.item.keyword_span();
    if seen.get("listen").is_none() {
        cx.push(
            Diagnostic::error(at, format!("{place} has no `listen` block")).with_help(
                "add `listen { protocol udp; port 1812; }` or `listen { backend \"BACKEND\"; }`",
            ),
        );
        return None;
    }
    let listen = listen?;
    if let RadiusListen::Network(net) = &listen {
        if seen.get("clients").is_none() {
            cx.push(
                Diagnostic::error(at, format!("{place} has no `clients`"))
                    .with_help("add `clients \"LIST\";` naming the `clients { radius \"LIST\" { … } }` allowed to send"),
            );
            return None;
        }
        if let (Some((index, used_at)), Transport::Udp | Transport::Tcp) = (clients, net.protocol) {
            secrets_required(cx, built, index, used_at, &s.e.name, net.protocol, warned);
        }
    }
    Some(RadiusServer {
        listen,
        clients: clients.and_then(|(i, _)| u32::try_from(i).ok().map(ClientListId)),
        policy,
    })
}

fn secrets_required(
    cx: &mut Cx<'_>,
    built: &Built<'_>,
    index: usize,
    used_at: Span,
    server: &str,
    protocol: Transport,
    warned: &mut BTreeSet<(usize, usize)>,
) {
    let Some(Some(list)) = built.lists.get(index) else {
        return;
    };
    for (i, (c, span)) in list.list.clients.iter().zip(&list.client_spans).enumerate() {
        if c.secret.is_none() && warned.insert((index, i)) {
            cx.push(
                Diagnostic::error(
                    *span,
                    format!(
                        "client `{}` has no `secret`, which clients of `{}` server `{server}` must have",
                        c.name,
                        protocol.name()
                    ),
                )
                .with_label(used_at, "the client list is used here")
                .with_help("add `secret \"…\";` (only TLS listeners default to `radsec`)"),
            );
        }
    }
}

fn client_list(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    it: &Item,
    want: ClientProtocol,
) -> Option<(usize, Span)> {
    let (name, span) = cx.name_ref(it)?;
    let wanted = match want {
        ClientProtocol::Radius => "radius",
        ClientProtocol::Http => "http",
    };
    let Some(&index) = col.list_index.get(&name) else {
        let mut d = Diagnostic::error(span, format!("unknown client list `{name}`"));
        let names = col
            .client_lists
            .iter()
            .filter(|l| l.protocol == want)
            .map(|l| l.e.name.as_str());
        d = match suggest(&name, names) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "define it in `clients {{ {wanted} \"{name}\" {{ client \"…\" {{ … }} }} }}`"
            )),
        };
        cx.push(d);
        return None;
    };
    let entry = col.client_lists.get(index)?;
    if entry.protocol != want {
        let is = match entry.protocol {
            ClientProtocol::Radius => "a `radius`",
            ClientProtocol::Http => "an `http`",
        };
        let wanted = match want {
            ClientProtocol::Radius => "a `radius`",
            ClientProtocol::Http => "an `http`",
        };
        cx.push(
            Diagnostic::error(
                span,
                format!("`clients` must name {wanted} client list, but `{name}` is {is} list"),
            )
            .with_label(entry.e.name_span, format!("`{name}` is defined here")),
        );
        return None;
    }
    Some((index, span))
}

fn policy_ref(cx: &mut Cx<'_>, col: &Collected<'_>, it: &Item) -> Option<PolicyId> {
    let (name, span) = cx.name_ref(it)?;
    match col.policy_index.get(&name) {
        Some(&i) => u32::try_from(i).ok().map(PolicyId),
        None => {
            let mut d = Diagnostic::error(span, format!("unknown policy `{name}`"));
            if let Some(s) = suggest(&name, col.policies.iter().map(|p| p.name.as_str())) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            cx.push(d);
            None
        }
    }
}

fn radius_listen(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    built: &Built<'_>,
    block: &Block,
    item: &Item,
) -> Option<RadiusListen> {
    if let Some(b) = block.items.iter().find(|i| i.keyword() == Some("backend")) {
        for other in block.items.iter().filter(|i| !std::ptr::eq(*i, b)) {
            let text = other
                .keyword()
                .map_or_else(|| cx.text(other.keyword_span()).to_owned(), str::to_owned);
            cx.push(
                Diagnostic::error(
                    other.keyword_span(),
                    format!("`{text}` is not allowed with `backend`: `listen {{ backend … }}` admits no other key"),
                )
                .with_label(b.keyword_span(), "`backend` is here"),
            );
        }
        return listen_backend(cx, col, built, b);
    }
    network_listen(cx, col, block, item).map(RadiusListen::Network)
}

fn listen_backend(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    built: &Built<'_>,
    it: &Item,
) -> Option<RadiusListen> {
    let (name, span) = cx.name_ref(it)?;
    let need = "`listen { backend … }` needs a RADIUS backend that uses `connect`";
    let Some(b) = col.names.backends.get(&name) else {
        let mut d = Diagnostic::error(span, format!("unknown backend `{name}`"));
        let names = col
            .names
            .backends
            .iter()
            .filter(|(_, b)| matches!(b.kind, BackendNameKind::Radius { connect: true, .. }))
            .map(|(n, _)| n.as_str());
        if let Some(s) = suggest(&name, names) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        cx.push(d);
        return None;
    };
    let what = match b.kind {
        BackendNameKind::Sqlite => Some("an SQLite backend".to_owned()),
        BackendNameKind::Radius { connect: false, .. } => {
            Some("a RADIUS backend whose servers use `reverse`".to_owned())
        }
        BackendNameKind::Radius { connect: true, .. } => {
            let index = usize::try_from(b.id.0).unwrap_or(usize::MAX);
            match built.backends.get(index) {
                Some(Some(Backend {
                    kind: BackendKind::Radius(r),
                    ..
                })) => {
                    let stream = r.servers.iter().any(|s| {
                        matches!(&s.mode, RadiusServerMode::Connect(c) if c.protocol != Transport::Udp)
                    });
                    (!stream).then(|| {
                        "a backend that connects over `udp` only; requests can arrive only over `tcp` or `tls` connections".to_owned()
                    })
                }
                _ => None,
            }
        }
    };
    if let Some(what) = what {
        cx.push(
            Diagnostic::error(span, format!("{need}, but `{name}` is {what}"))
                .with_label(b.span, format!("`{name}` is defined here")),
        );
        return None;
    }
    Some(RadiusListen::Backend(b.id))
}

fn network_listen(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    block: &Block,
    item: &Item,
) -> Option<NetworkListen> {
    let errors = cx.error_count();
    let mut seen = Seen::default();
    let mut protocol = None;
    let mut port = None;
    let mut ips = Vec::new();
    let mut timeout = None;
    let mut keepalive = None;
    let mut receive_buffer = None;
    let mut liveness = Liveness::default();
    let mut tls = None;
    let mut limits = ConnectionLimits::default();
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if LISTEN_KEYS.contains(&k) => k,
            _ => {
                let mut valid = LISTEN_KEYS.to_vec();
                valid.push("backend");
                cx.other_key(it, "`listen`", &valid, &[]);
                continue;
            }
        };
        if kw != "ip" && !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "protocol" => protocol = cx.word(it, TRANSPORTS).map(transport),
            "port" => port = cx.port(it),
            "ip" => {
                if let Some(ip) = cx.ip(it) {
                    if ips.contains(&ip) {
                        cx.error(it.keyword_span(), format!("`ip {ip}` is given twice"));
                    } else {
                        ips.push(ip);
                    }
                }
            }
            "timeout" => timeout = cx.duration(it),
            "keepalive" => {
                if let Some(b) = cx.plain_block(it) {
                    keepalive = Some(keepalive_block(cx, b));
                }
            }
            "receive_buffer" => {
                receive_buffer = cx
                    .integer(it, MAX_RECEIVE_BUFFER)
                    .and_then(|n| u32::try_from(n).ok());
            }
            "liveness" => {
                if let Some(b) = cx.plain_block(it) {
                    liveness = liveness_block(cx, b);
                }
            }
            "tls" => {
                if let Some(b) = cx.plain_block(it) {
                    tls = server_tls(cx, col, b, it, true);
                }
            }
            "limits" => {
                if let Some(b) = cx.plain_block(it) {
                    limits = limits_block(cx, b);
                }
            }
            _ => {}
        }
    }
    let at = item.keyword_span();
    if seen.get("protocol").is_none() {
        cx.push(
            Diagnostic::error(at, "`listen` has no `protocol`")
                .with_help("add `protocol udp;`, `protocol tcp;` or `protocol tls;`"),
        );
    }
    if seen.get("port").is_none() {
        cx.push(Diagnostic::error(at, "`listen` has no `port`").with_help("add `port N;`"));
    }
    match protocol {
        Some(Transport::Tls) if seen.get("tls").is_none() => cx.push(
            Diagnostic::error(
                at,
                "a `protocol tls` listener needs `tls { certificate …; certificate_key …; }`",
            )
            .with_help("add `tls { certificate \"CERT\"; certificate_key \"KEY\"; client_ca_certificate \"CA\"; }`"),
        ),
        Some(p @ (Transport::Udp | Transport::Tcp)) => {
            if let Some(span) = seen.get("tls") {
                cx.error(
                    span,
                    format!("`tls` settings need `protocol tls`, but this listener uses `{}`", p.name()),
                );
            }
            if p == Transport::Udp {
                for key in ["keepalive", "limits"] {
                    if let Some(span) = seen.get(key) {
                        cx.error(span, format!("`{key}` applies to `tcp` and `tls` listeners, not `udp`"));
                    }
                }
                if let Some(span) = seen.get("liveness") {
                    cx.error(span, "`liveness` applies to `tcp` and `tls` listeners, not `udp`");
                }
            }
        }
        _ => {}
    }
    if let (Some(p @ (Transport::Tcp | Transport::Tls)), Some(span)) =
        (protocol, seen.get("receive_buffer"))
    {
        cx.error(
            span,
            format!(
                "`receive_buffer` applies to `udp` listeners, not `{}`",
                p.name()
            ),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    if ips.is_empty() {
        ips.push(ANY_V4);
    }
    Some(NetworkListen {
        protocol: protocol?,
        port: port?,
        ips,
        timeout,
        keepalive,
        receive_buffer,
        tls,
        liveness,
        limits,
    })
}

/// `limits { connections N; per_source N; }` (`0`: no limit).
pub(crate) fn limits_block(cx: &mut Cx<'_>, block: &Block) -> ConnectionLimits {
    let mut seen = Seen::default();
    let mut limits = ConnectionLimits::default();
    for it in &block.items {
        let kw = match it.keyword() {
            Some(kw) if LIMITS_KEYS.contains(&kw) => kw,
            _ => {
                cx.other_key(it, "`limits`", LIMITS_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        let n = cx
            .integer(it, u64::from(u32::MAX))
            .and_then(|n| u32::try_from(n).ok());
        match kw {
            "connections" => limits.connections = n,
            _ => limits.per_source = n,
        }
    }
    if let (Some(total), Some(per_source)) = (limits.connections, limits.per_source)
        && total != 0
        && per_source > total
        && let Some(span) = seen.get("per_source")
    {
        cx.warn(
                    span,
                    format!("`per_source {per_source}` is above `connections {total}`; the listener's limit applies first"),
                );
    }
    limits
}

/// `liveness { probe BOOL; timeout D; }` (see [`Liveness`]); a zero timeout is an
/// error (`probe false;` turns probing off).
fn liveness_block(cx: &mut Cx<'_>, block: &Block) -> Liveness {
    let mut seen = Seen::default();
    let mut l = Liveness::default();
    const KEYS: &[&str] = &["probe", "timeout"];
    for it in &block.items {
        let kw = match it.keyword() {
            Some(kw) if KEYS.contains(&kw) => kw,
            _ => {
                cx.other_key(it, "`liveness`", KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "probe" => {
                if let Some(b) = cx.boolean(it) {
                    l.probe = b;
                }
            }
            _ => match cx.duration(it) {
                Some(d) if d.is_zero() => cx.push(
                    Diagnostic::error(it.keyword_span(), "the probe `timeout` must be above 0")
                        .with_help("`probe false;` turns probing off"),
                ),
                Some(d) => l.timeout = d,
                None => {}
            },
        }
    }
    l
}

fn keepalive_block(cx: &mut Cx<'_>, block: &Block) -> Keepalive {
    let mut seen = Seen::default();
    let mut k = Keepalive {
        idle: None,
        interval: None,
        count: None,
    };
    const KEYS: &[&str] = &["idle", "interval", "count"];
    for it in &block.items {
        let kw = match it.keyword() {
            Some(kw) if KEYS.contains(&kw) => kw,
            _ => {
                cx.other_key(it, "`keepalive`", KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "idle" => k.idle = keepalive_seconds(cx, it),
            "interval" => k.interval = keepalive_seconds(cx, it),
            _ => {
                k.count = cx
                    .integer_in(it, 1, KEEPALIVE_MAX_COUNT)
                    .and_then(|n| u32::try_from(n).ok());
            }
        }
    }
    k
}

/// The largest `idle` and `interval` of `keepalive`, in seconds: the kernel refuses
/// more (Linux `TCP_KEEPIDLE` and `TCP_KEEPINTVL` take at most 32767).
const KEEPALIVE_MAX_SECS: u64 = 32767;
/// The largest `count` of `keepalive` (Linux `TCP_KEEPCNT` takes at most 127).
const KEEPALIVE_MAX_COUNT: u64 = 127;

/// `idle` or `interval` of `keepalive`: whole seconds from 1 to
/// [`KEEPALIVE_MAX_SECS`], as the kernel takes them (it would refuse anything else on
/// every connection at run time).
fn keepalive_seconds(cx: &mut Cx<'_>, it: &Item) -> Option<std::time::Duration> {
    let d = cx.duration(it)?;
    let kw = it.keyword().unwrap_or("?");
    let at = it.args().first().map_or(it.span, |t| t.span());
    let range = format!("1s and {KEEPALIVE_MAX_SECS}s");
    if d.subsec_nanos() != 0 {
        let help = if d.as_secs() == 0 {
            "write at least `1s`".to_owned()
        } else {
            format!("write `{}s` or `{}s`", d.as_secs(), d.as_secs() + 1)
        };
        cx.push(
            Diagnostic::error(
                at,
                format!(
                    "keepalive `{kw}` must be whole seconds between {range}, not {}ms: the kernel takes seconds",
                    d.as_millis()
                ),
            )
            .with_help(help),
        );
        return None;
    }
    if d.as_secs() == 0 || d.as_secs() > KEEPALIVE_MAX_SECS {
        cx.error(
            at,
            format!(
                "keepalive `{kw}` must be between {range}, not {}s",
                d.as_secs()
            ),
        );
        return None;
    }
    Some(d)
}

/// A server-side `tls { … }` block. `require_default` is the default of
/// `require_client_certificate` (true for RADIUS, false for HTTPS).
fn server_tls(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    block: &Block,
    item: &Item,
    require_default: bool,
) -> Option<ServerTls> {
    let errors = cx.error_count();
    let mut seen = Seen::default();
    let mut certificate = None;
    let mut certificate_key = None;
    let mut ca = None;
    let mut require = None;
    let (mut min, mut max) = (None, None);
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if SERVER_TLS_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`tls`", SERVER_TLS_KEYS, TLS_UNSUPPORTED);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "certificate" => certificate = certs::reference(cx, col, it, CertTag::X509),
            "certificate_key" => certificate_key = certs::reference(cx, col, it, CertTag::Key),
            "client_ca_certificate" => ca = certs::reference(cx, col, it, CertTag::X509),
            "require_client_certificate" => require = cx.boolean(it),
            "min_protocol_version" => min = version_item(cx, it),
            "max_protocol_version" => max = version_item(cx, it),
            _ => {}
        }
    }
    tls_versions(cx, min, max);
    let at = item.keyword_span();
    for (key, what) in [
        ("certificate", "the server's certificate chain"),
        ("certificate_key", "its private key"),
    ] {
        if seen.get(key).is_none() {
            cx.push(
                Diagnostic::error(at, format!("`tls` has no `{key}`")).with_help(format!(
                    "add `{key} \"NAME\";` naming {what} in `certificates`"
                )),
            );
        }
    }
    let require_client_certificate = require.unwrap_or(require_default);
    if require_client_certificate && seen.get("client_ca_certificate").is_none() {
        match seen.get("require_client_certificate") {
            Some(span) => cx.push(
                Diagnostic::error(
                    span,
                    "`require_client_certificate` is true but `tls` has no `client_ca_certificate`",
                )
                .with_help("add `client_ca_certificate \"CA\";` naming the CA that signs client certificates"),
            ),
            None => cx.push(
                Diagnostic::error(
                    at,
                    "`tls` has no `client_ca_certificate`, which `require_client_certificate` (true by default) needs",
                )
                .with_help("add `client_ca_certificate \"CA\";`, or `require_client_certificate false;` to accept clients without a certificate"),
            ),
        }
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(ServerTls {
        certificate: certificate?,
        certificate_key: certificate_key?,
        client_ca_certificate: ca,
        require_client_certificate,
        min_version: min.map(|(v, _)| v),
        max_version: max.map(|(v, _)| v),
    })
}

fn http(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    _built: &Built<'_>,
    s: &ServerEntry<'_>,
) -> Option<HttpServer> {
    let errors = cx.error_count();
    let place = format!("server `{}`", s.e.name);
    let mut seen = Seen::default();
    let mut listen = None;
    let mut clients = None;
    let mut tls = None;
    let mut policy = None;
    let mut header_timeout = None;
    let mut idle_timeout = None;
    for it in &s.e.block.items {
        let kw = match it.keyword() {
            Some(k) if HTTP_SERVER_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, &place, HTTP_SERVER_KEYS, SERVER_UNSUPPORTED);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "listen" => {
                if let Some(b) = cx.plain_block(it) {
                    listen = http_listen(cx, b, it);
                }
            }
            "clients" => clients = client_list(cx, col, it, ClientProtocol::Http),
            "tls" => {
                if let Some(b) = cx.plain_block(it) {
                    tls = server_tls(cx, col, b, it, false);
                }
            }
            "policy" => policy = policy_ref(cx, col, it),
            "header_timeout" => header_timeout = positive_duration(cx, it),
            "idle_timeout" => idle_timeout = positive_duration(cx, it),
            _ => {}
        }
    }
    if seen.get("listen").is_none() {
        cx.push(
            Diagnostic::error(
                s.e.item.keyword_span(),
                format!("{place} has no `listen` block"),
            )
            .with_help("add `listen { protocol tcp; ip 127.0.0.1; port 4000; }`"),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    let (ips, port, limits) = listen?;
    Some(HttpServer {
        ips,
        port,
        clients: clients.and_then(|(i, _)| u32::try_from(i).ok().map(ClientListId)),
        tls,
        policy,
        limits,
        header_timeout,
        idle_timeout,
    })
}

/// A duration that must not be zero (a zero header or idle timeout would close every
/// connection at once).
fn positive_duration(cx: &mut Cx<'_>, it: &Item) -> Option<std::time::Duration> {
    let d = cx.duration(it)?;
    if d.is_zero() {
        let kw = it.keyword().unwrap_or("?");
        cx.error(
            it.args().first().map_or(it.span, |t| t.span()),
            format!("`{kw}` must be longer than zero"),
        );
        return None;
    }
    Some(d)
}

fn http_listen(
    cx: &mut Cx<'_>,
    block: &Block,
    item: &Item,
) -> Option<(Vec<std::net::IpAddr>, u16, ConnectionLimits)> {
    let errors = cx.error_count();
    let mut seen = Seen::default();
    let mut port = None;
    let mut ips = Vec::new();
    let mut limits = ConnectionLimits::default();
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if HTTP_LISTEN_KEYS.contains(&k) => k,
            Some("tls") => {
                cx.push(
                    Diagnostic::error(it.keyword_span(), "unknown key `tls` in `listen`")
                        .with_help("for HTTPS put `tls { … }` in the server, next to `listen`"),
                );
                continue;
            }
            _ => {
                cx.other_key(it, "`listen`", HTTP_LISTEN_KEYS, &[]);
                continue;
            }
        };
        if kw != "ip" && !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "protocol" => {
                if let Some(p) = cx.word(it, TRANSPORTS)
                    && p != "tcp"
                {
                    cx.push(
                        Diagnostic::error(
                            it.args().first().map_or(it.span, |t| t.span()),
                            format!("HTTP servers listen with `protocol tcp`, not `{p}`"),
                        )
                        .with_help(
                            "for HTTPS keep `protocol tcp;` and add `tls { … }` to the server",
                        ),
                    );
                }
            }
            "port" => port = cx.port(it),
            "limits" => {
                if let Some(b) = cx.plain_block(it) {
                    limits = limits_block(cx, b);
                }
            }
            _ => {
                if let Some(ip) = cx.ip(it) {
                    ips.push(ip);
                }
            }
        }
    }
    if seen.get("port").is_none() {
        cx.push(
            Diagnostic::error(item.keyword_span(), "`listen` has no `port`")
                .with_help("add `port N;`"),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    if ips.is_empty() {
        ips.push(ANY_V4);
    }
    Some((ips, port?, limits))
}

/// `nas_identifier_binding certificate_…` compares the NAS-Identifier of a
/// Status-Server with the connection's client certificate, and only a `tls` listener
/// has one: on `udp` and `tcp` every Status-Server of such a client is refused. A
/// client list with a binding used only by such listeners is an error (the binding
/// can never hold); used by a `tls` listener as well, a warning for each listener
/// without TLS.
pub(crate) fn certificate_binding_checks(
    servers: &[Option<Server>],
    lists: &[Option<BuiltList>],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (index, list) in lists.iter().enumerate() {
        let Some(list) = list else { continue };
        let uses: Vec<(&Server, Transport)> = servers
            .iter()
            .flatten()
            .filter_map(|s| match &s.kind {
                ServerKind::Radius(RadiusServer {
                    listen: RadiusListen::Network(net),
                    clients: Some(id),
                    ..
                }) if usize::try_from(id.0).ok() == Some(index) => Some((s, net.protocol)),
                _ => None,
            })
            .collect();
        let plain: Vec<&(&Server, Transport)> =
            uses.iter().filter(|(_, t)| *t != Transport::Tls).collect();
        if plain.is_empty() {
            continue;
        }
        let only_plain = plain.len() == uses.len();
        let bound = list
            .list
            .clients
            .iter()
            .zip(&list.binding_spans)
            .filter(|(c, _)| c.nas_identifier_binding != NasIdentifierBinding::None);
        for (c, span) in bound {
            let Some(span) = *span else { continue };
            let binding = c.nas_identifier_binding.name();
            let what = format!(
                "client `{}` binds its NAS-Identifier to the client certificate (`nas_identifier_binding {binding}`)",
                c.name
            );
            let servers_text = plain
                .iter()
                .map(|(s, t)| format!("`{}` ({})", s.name, t.name()))
                .collect::<Vec<_>>()
                .join(", ");
            let mut d = if only_plain {
                Diagnostic::error(
                    span,
                    format!(
                        "{what}, but its list `{}` is only used by servers without TLS ({servers_text}), where a connection has no certificate: every Status-Server of the client would be refused",
                        list.list.name
                    ),
                )
                .with_help("use the list with a `protocol tls` listener, or remove `nas_identifier_binding` (`none`)")
            } else {
                Diagnostic::warning(
                    span,
                    format!(
                        "{what}, but its list `{}` is also used by servers without TLS ({servers_text}), where a connection has no certificate: there every Status-Server of the client is refused",
                        list.list.name
                    ),
                )
                .with_help("give the servers without TLS a client list of their own, without `nas_identifier_binding`")
            };
            for (s, t) in &plain {
                d = d.with_label(
                    s.span,
                    format!("server `{}` uses the list over `{}`", s.name, t.name()),
                );
            }
            out.push(d);
        }
    }
    out
}
