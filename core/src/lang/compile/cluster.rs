//! The `cluster { … }` section: this process as one node of a cluster whose nodes
//! share their connections over NATS (see `docs/cluster.md`).

use std::time::Duration;

use crate::eval::format::format_duration;
use crate::lang::compile::certs;
use crate::lang::compile::collect::{CertTag, Collected};
use crate::lang::compile::cx::{Cx, Seen};
use crate::lang::diag::Diagnostic;
use crate::lang::program::{
    Cluster, DEFAULT_FORWARD_MARGIN, DEFAULT_HEARTBEAT, DEFAULT_NATS_CONNECT_TIMEOUT,
    DEFAULT_NODE_TIMEOUT, MAX_NODE_ID, Nats, NatsAuth, NatsTls,
};
use crate::lang::span::Span;
use crate::lang::syntax::{Block, Item, Term};

const CLUSTER_KEYS: &[&str] = &[
    "name",
    "node",
    "node_id",
    "heartbeat",
    "node_timeout",
    "forward_margin",
    "nats",
];
const NATS_KEYS: &[&str] = &[
    "server",
    "tls",
    "user",
    "password",
    "token",
    "connect_timeout",
];
const NATS_TLS_KEYS: &[&str] = &["ca", "certificate", "certificate_key"];

/// `cluster { name …; node …; node_id N; heartbeat D; node_timeout D;
/// forward_margin D; nats { … } }`, or `None` when there is no such section (or it
/// has errors, which are reported).
pub(crate) fn cluster(cx: &mut Cx<'_>, col: &Collected<'_>) -> Option<Cluster> {
    let (at, block) = col.cluster?;
    let errors = cx.error_count();
    let mut seen = Seen::default();
    let (mut name, mut node, mut node_id, mut nats) = (None, None, None, None);
    let mut heartbeat: Option<(Duration, Span)> = None;
    let mut node_timeout: Option<(Duration, Span)> = None;
    let mut forward_margin = None;
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if CLUSTER_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`cluster`", CLUSTER_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "name" => name = subject_word(cx, it, "cluster name"),
            "node" => node = subject_word(cx, it, "node name"),
            "node_id" => {
                node_id = cx
                    .integer_in(it, 1, u64::from(MAX_NODE_ID))
                    .and_then(|n| u16::try_from(n).ok());
            }
            "heartbeat" => heartbeat = positive(cx, it),
            "node_timeout" => node_timeout = positive(cx, it),
            "forward_margin" => forward_margin = cx.duration(it),
            _ => {
                if let Some(b) = cx.plain_block(it) {
                    nats = nats_block(cx, col, it, b);
                }
            }
        }
    }
    for (key, help) in [
        (
            "name",
            "add `name \"NAME\";`: letters, digits, `_` and `-`, the same on every node",
        ),
        (
            "node",
            "add `node \"NAME\";`: this node's name, unique in the cluster",
        ),
        (
            "node_id",
            "add `node_id N;`: this node's number (1-32767), unique in the cluster",
        ),
        ("nats", "add `nats { server \"nats://HOST:4222\"; }`"),
    ] {
        if seen.get(key).is_none() {
            cx.push(Diagnostic::error(at, format!("`cluster` has no `{key}`")).with_help(help));
        }
    }
    // A node is declared gone after `node_timeout` without a heartbeat: at least
    // two heartbeats must fit, so that one lost heartbeat does not remove a live
    // node. Checked when both values are known (given and valid, or defaults).
    let known = |v: bool, key| v || seen.get(key).is_none();
    if known(heartbeat.is_some(), "heartbeat") && known(node_timeout.is_some(), "node_timeout") {
        timeouts(cx, at, heartbeat, node_timeout);
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(Cluster {
        name: name?,
        node: node?,
        node_id: node_id?,
        nats: nats?,
        heartbeat: heartbeat.map_or(DEFAULT_HEARTBEAT, |(d, _)| d),
        node_timeout: node_timeout.map_or(DEFAULT_NODE_TIMEOUT, |(d, _)| d),
        forward_margin: forward_margin.unwrap_or(DEFAULT_FORWARD_MARGIN),
    })
}

/// Report a `node_timeout` shorter than two `heartbeat`s (either may be the
/// default): at `node_timeout` when given, else at `heartbeat`, else at `cluster`.
fn timeouts(
    cx: &mut Cx<'_>,
    at: Span,
    heartbeat: Option<(Duration, Span)>,
    node_timeout: Option<(Duration, Span)>,
) {
    let hb = heartbeat.map_or(DEFAULT_HEARTBEAT, |(d, _)| d);
    let nt = node_timeout.map_or(DEFAULT_NODE_TIMEOUT, |(d, _)| d);
    if nt >= hb.saturating_mul(2) {
        return;
    }
    let default = |given: bool| if given { "" } else { ", the default" };
    let message = format!(
        "`node_timeout` ({}{}) must be at least twice `heartbeat` ({}{})",
        format_duration(nt),
        default(node_timeout.is_some()),
        format_duration(hb),
        default(heartbeat.is_some()),
    );
    let span = node_timeout.or(heartbeat).map_or(at, |(_, s)| s);
    let mut d = Diagnostic::error(span, message);
    if let (Some(_), Some((_, hb_span))) = (node_timeout, heartbeat) {
        d = d.with_label(hb_span, "`heartbeat` is set here");
    }
    cx.push(d.with_help(format!(
        "write `node_timeout {};` or more, or a shorter `heartbeat`",
        format_duration(hb.saturating_mul(2))
    )));
}

/// Where the value of `kw VALUE;` is written (the item when it has none).
fn value_span(it: &Item) -> Span {
    it.args().first().map_or(it.span, Term::span)
}

/// A duration greater than zero, with where it is written.
fn positive(cx: &mut Cx<'_>, it: &Item) -> Option<(Duration, Span)> {
    let d = cx.duration(it)?;
    let span = value_span(it);
    if d.is_zero() {
        let kw = it.keyword().unwrap_or("?");
        cx.error(span, format!("`{kw}` must be greater than 0"));
        return None;
    }
    Some((d, span))
}

/// A name that goes into NATS subjects: not empty, only `[A-Za-z0-9_-]`.
fn subject_word(cx: &mut Cx<'_>, it: &Item, what: &str) -> Option<String> {
    let (s, span) = cx.string(it)?;
    if s.is_empty() {
        cx.error(span, format!("the {what} is empty"));
        return None;
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        cx.push(
            Diagnostic::error(
                span,
                format!("the {what} `{s}` contains {c:?}: it goes into NATS subjects"),
            )
            .with_help("use only letters, digits, `_` and `-`"),
        );
        return None;
    }
    Some(s)
}

/// A non-empty string (secrets and user names).
fn non_empty(cx: &mut Cx<'_>, it: &Item) -> Option<String> {
    let (s, span) = cx.string(it)?;
    if s.is_empty() {
        let kw = it.keyword().unwrap_or("?");
        cx.error(span, format!("`{kw}` must not be empty"));
        return None;
    }
    Some(s)
}

/// `nats { server "…"; … tls { … } user "…"; password "…"; token "…";
/// connect_timeout D; }`.
fn nats_block(cx: &mut Cx<'_>, col: &Collected<'_>, item: &Item, block: &Block) -> Option<Nats> {
    let errors = cx.error_count();
    let at = item.keyword_span();
    let mut seen = Seen::default();
    let mut servers = Vec::new();
    // Where each `tls://` server is written.
    let mut tls_servers = Vec::new();
    let mut tls = None;
    let (mut user, mut password, mut token) = (None, None, None);
    let mut connect_timeout = None;
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if NATS_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`nats`", NATS_KEYS, &[]);
                continue;
            }
        };
        if kw == "server" {
            if let Some((url, span)) = cx.string(it) {
                match server_url(&url) {
                    Ok(tls) => {
                        if tls {
                            tls_servers.push(span);
                        }
                        servers.push(url);
                    }
                    Err(why) => cx.push(
                        Diagnostic::error(span, format!("invalid NATS server `{url}`: {why}"))
                            .with_help("write `server \"nats://HOST:PORT\";` or `server \"tls://HOST:PORT\";`"),
                    ),
                }
            }
            continue;
        }
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "tls" => {
                if let Some(b) = cx.plain_block(it) {
                    tls = nats_tls(cx, col, it, b);
                }
            }
            "user" => user = non_empty(cx, it),
            "password" => password = non_empty(cx, it),
            "token" => token = non_empty(cx, it),
            _ => connect_timeout = positive(cx, it).map(|(d, _)| d),
        }
    }
    if servers.is_empty() && cx.error_count() == errors {
        cx.push(
            Diagnostic::error(at, "`nats` has no `server`")
                .with_help("add `server \"nats://HOST:4222\";` (repeat it for each server)"),
        );
    }
    if seen.get("tls").is_none() {
        // The system's root certificates are not used: a tls:// server is verified
        // against the `ca` of `tls { }` only.
        for span in tls_servers {
            cx.push(
                Diagnostic::error(span, "a tls:// server needs nats { tls { ca …; } }")
                    .with_help("add `tls { ca \"CA\"; }` to `nats`, naming the x509 entry of the CA that signed the NATS servers' certificates"),
            );
        }
    }
    match (seen.get("user"), seen.get("password")) {
        (Some(u), None) => cx.push(
            Diagnostic::error(u, "`nats` has a `user` but no `password`").with_help(
                "add `password \"…\";` (for example `password \"%{env.NATS_PASSWORD}\";`)",
            ),
        ),
        (None, Some(p)) => cx.push(
            Diagnostic::error(p, "`nats` has a `password` but no `user`")
                .with_help("add `user \"…\";`"),
        ),
        _ => {}
    }
    if let Some(t) = seen.get("token")
        && let Some(other) = seen.get("user").or(seen.get("password"))
    {
        cx.push(
            Diagnostic::error(t, "`token` cannot be used together with `user`/`password`")
                .with_label(other, "given here")
                .with_help("authenticate with either a token or a user and password"),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    let auth = match (user, password, token) {
        (Some(user), Some(password), None) => NatsAuth::UserPassword { user, password },
        (None, None, Some(t)) => NatsAuth::Token(t),
        _ => NatsAuth::None,
    };
    Some(Nats {
        servers,
        tls,
        auth,
        connect_timeout: connect_timeout.unwrap_or(DEFAULT_NATS_CONNECT_TIMEOUT),
    })
}

/// `tls { ca "X509"; certificate "X509"; certificate_key "KEY"; }` in `nats`.
fn nats_tls(cx: &mut Cx<'_>, col: &Collected<'_>, item: &Item, block: &Block) -> Option<NatsTls> {
    let errors = cx.error_count();
    let at = item.keyword_span();
    let mut seen = Seen::default();
    let (mut ca, mut certificate, mut certificate_key) = (None, None, None);
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if NATS_TLS_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`tls`", NATS_TLS_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "ca" => ca = certs::reference(cx, col, it, CertTag::X509),
            "certificate" => certificate = certs::reference(cx, col, it, CertTag::X509),
            _ => certificate_key = certs::reference(cx, col, it, CertTag::Key),
        }
    }
    if seen.get("ca").is_none() {
        cx.push(
            Diagnostic::error(at, "`tls` has no `ca`")
                .with_help("add `ca \"CA\";` naming the x509 entry of the CA that signed the NATS servers' certificates"),
        );
    }
    match (seen.get("certificate"), seen.get("certificate_key")) {
        (Some(_), None) => cx.push(
            Diagnostic::error(at, "`tls` has a `certificate` but no `certificate_key`")
                .with_help("add `certificate_key \"KEY\";` naming the certificate's private key"),
        ),
        (None, Some(_)) => cx.push(
            Diagnostic::error(at, "`tls` has a `certificate_key` but no `certificate`")
                .with_help("add `certificate \"CERT\";` naming this node's client certificate"),
        ),
        _ => {}
    }
    if cx.error_count() > errors {
        return None;
    }
    let client = match (certificate, certificate_key) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => None,
    };
    Some(NatsTls { ca: ca?, client })
}

/// Check a NATS server address, `nats://HOST:PORT` or `tls://HOST:PORT` (HOST a
/// name, an IPv4 address or a bracketed IPv6 address); `Ok(true)` for `tls://`.
fn server_url(url: &str) -> Result<bool, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("nats://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("tls://") {
        (true, r)
    } else {
        let why = match url.split_once("://") {
            Some((scheme, _)) => {
                format!("the scheme must be `nats://` or `tls://`, not `{scheme}://`")
            }
            None => "it must start with `nats://` or `tls://`".to_owned(),
        };
        return Err(why);
    };
    if rest.contains('@') {
        return Err(
            "write credentials with `user`/`password` or `token`, not in the address".to_owned(),
        );
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let Some((host, after)) = r.split_once(']') else {
            return Err("an IPv6 address in `[` has no closing `]`".to_owned());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{host}` is not an IPv6 address"));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err("it has no port (`:PORT` after the host)".to_owned());
        };
        (host, port)
    } else {
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err("it has no port (`:PORT` after the host)".to_owned());
        };
        if host.contains(':') {
            return Err("write an IPv6 address in brackets: `[ADDRESS]:PORT`".to_owned());
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
        if !host.chars().all(ok) {
            return Err(format!("`{host}` is not a host name or address"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("it has no host".to_owned());
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) && port.chars().all(|c| c.is_ascii_digit()) => Ok(tls),
        _ if port.is_empty() => Err("it has no port (`:PORT` after the host)".to_owned()),
        _ => Err(format!(
            "the port must be a number from 1 to 65535, not `{port}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::server_url;

    #[test]
    fn server_urls() {
        assert_eq!(server_url("nats://10.0.0.1:4222"), Ok(false));
        assert_eq!(server_url("tls://nats.example.net:4443"), Ok(true));
        assert_eq!(server_url("nats://[::1]:4222"), Ok(false));
        assert_eq!(server_url("nats://localhost:1"), Ok(false));
        for bad in [
            "10.0.0.1:4222",
            "http://10.0.0.1:4222",
            "nats://10.0.0.1",
            "nats://10.0.0.1:",
            "nats://:4222",
            "nats://10.0.0.1:0",
            "nats://10.0.0.1:65536",
            "nats://10.0.0.1:+42",
            "nats://10.0.0.1:4222/x",
            "nats://u:p@10.0.0.1:4222",
            "nats://::1:4222",
            "nats://[::1:4222",
            "nats://[zz]:4222",
            "nats://a b:4222",
        ] {
            assert!(server_url(bad).is_err(), "{bad}");
        }
    }
}
