//! `clients { radius "LIST" { client "N" { source { ip …; } secret "…"; … } } }` and
//! `clients { http "LIST" { client "N" { source { ip …; } } } }`.

use crate::lang::compile::collect::ListEntry;
use crate::lang::compile::cx::{Cx, NameSet, Seen};
use crate::lang::diag::Diagnostic;
use crate::lang::program::{Client, ClientList, ClientProtocol, NasIdentifierBinding};
use crate::lang::span::Span;

/// Keys of a RADIUS client.
const RADIUS_CLIENT_KEYS: &[&str] = &[
    "source",
    "secret",
    "timeout",
    "require_message_authenticator",
    "limit_proxy_state",
    "nas_identifier_binding",
];
/// Keys of an HTTP client.
const HTTP_CLIENT_KEYS: &[&str] = &["source"];
/// Client keys of the language that Boomerang does not implement.
const UNSUPPORTED_CLIENT_KEYS: &[&str] = &["@pre-policy", "@post-policy", "@pre-client"];

/// A built client list and where each of its clients is named (for diagnostics that
/// point at a client, e.g. a UDP client without a secret).
pub(crate) struct BuiltList {
    /// The list.
    pub list: ClientList,
    /// `client_spans[i]` is where `list.clients[i]` is named.
    pub client_spans: Vec<Span>,
    /// `binding_spans[i]` is the value of `list.clients[i]`'s
    /// `nas_identifier_binding`, when it has one.
    pub binding_spans: Vec<Option<Span>>,
}

/// Build one client list.
pub(crate) fn build(cx: &mut Cx<'_>, l: &ListEntry<'_>) -> Option<BuiltList> {
    let errors = cx.error_count();
    let mut clients = Vec::new();
    let mut client_spans = Vec::new();
    let mut binding_spans = Vec::new();
    let mut names = NameSet::default();
    let scope = format!(" in client list `{}`", l.e.name);
    let place = format!("client list `{}`", l.e.name);
    for item in &l.e.block.items {
        if item.keyword() != Some("client") {
            cx.other_key(item, &place, &["client"], &[]);
            continue;
        }
        let Some((name, name_span, block)) = cx.named_block(item) else {
            continue;
        };
        if !names.define_in(cx, "client", &name, name_span, &scope) {
            continue;
        }
        if let Some((c, binding)) = client(cx, l.protocol, &name, item.keyword_span(), block) {
            clients.push(c);
            client_spans.push(name_span);
            binding_spans.push(binding);
        }
    }
    if cx.error_count() > errors {
        return None;
    }
    Some(BuiltList {
        list: ClientList {
            name: l.e.name.clone(),
            protocol: l.protocol,
            clients,
            span: l.e.name_span,
        },
        client_spans,
        binding_spans,
    })
}

fn client(
    cx: &mut Cx<'_>,
    protocol: ClientProtocol,
    name: &str,
    at: Span,
    block: &crate::lang::syntax::Block,
) -> Option<(Client, Option<Span>)> {
    let valid = match protocol {
        ClientProtocol::Radius => RADIUS_CLIENT_KEYS,
        ClientProtocol::Http => HTTP_CLIENT_KEYS,
    };
    let place = format!("client `{name}`");
    let mut seen = Seen::default();
    let mut c = Client {
        name: name.to_owned(),
        sources: Vec::new(),
        secret: None,
        timeout: None,
        require_message_authenticator: false,
        limit_proxy_state: false,
        nas_identifier_binding: NasIdentifierBinding::None,
    };
    let mut binding_at = None;
    for item in &block.items {
        let kw = item.keyword().unwrap_or("");
        if !valid.contains(&kw) {
            cx.other_key(item, &place, valid, UNSUPPORTED_CLIENT_KEYS);
            continue;
        }
        if !seen.first(cx, kw, item) {
            continue;
        }
        match kw {
            "source" => {
                let Some(b) = cx.plain_block(item) else {
                    continue;
                };
                for s in &b.items {
                    if s.keyword() == Some("ip") {
                        if let Some(p) = cx.prefix(s) {
                            c.sources.push(p);
                        }
                    } else {
                        cx.other_key(s, "`source`", &["ip"], &[]);
                    }
                }
                if b.items.is_empty() {
                    cx.push(
                        Diagnostic::error(item.keyword_span(), "`source` lists no address")
                            .with_help("add `ip ADDRESS;` or `ip PREFIX;`"),
                    );
                }
            }
            "secret" => {
                if let Some((s, span)) = cx.string(item) {
                    if s.is_empty() {
                        cx.error(span, "`secret` is empty");
                    } else {
                        c.secret = Some(s);
                    }
                }
            }
            "timeout" => c.timeout = cx.duration(item),
            "require_message_authenticator" => {
                c.require_message_authenticator = cx.boolean(item).unwrap_or(false);
            }
            "limit_proxy_state" => c.limit_proxy_state = cx.boolean(item).unwrap_or(false),
            "nas_identifier_binding" => {
                let names = NasIdentifierBinding::ALL.map(NasIdentifierBinding::name);
                if let Some(w) = cx.word(item, &names) {
                    binding_at = item.args().first().map(|t| t.span());
                    c.nas_identifier_binding = NasIdentifierBinding::ALL
                        .into_iter()
                        .find(|b| b.name() == w)
                        .unwrap_or_default();
                }
            }
            _ => {}
        }
    }
    if seen.get("source").is_none() {
        cx.push(
            Diagnostic::error(at, format!("client `{name}` has no `source`"))
                .with_help("add `source { ip ADDRESS; }` saying where it sends from"),
        );
        return None;
    }
    Some((c, binding_at))
}
