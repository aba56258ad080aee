//! Pass 1: find every named entry of every section (certificates, client lists,
//! servers, backends and their queries, policies, named pipelines), report duplicate
//! names, and give each entry its index, so that pass 2 can resolve references
//! whatever the order of definitions in the files.

use std::collections::BTreeMap;

use crate::eval::ir::{BackendId, PipelineId, QueryId};
use crate::lang::compile::cx::{Cx, NameSet};
use crate::lang::compile::names::{BackendName, BackendNameKind, Names};
use crate::lang::program::ClientProtocol;
use crate::lang::span::Span;
use crate::lang::syntax::{Block, Item};

/// Top-level sections Boomerang implements.
pub(crate) const SECTIONS: &[&str] = &[
    "certificates",
    "clients",
    "servers",
    "backends",
    "aaa",
    "management",
    "logging",
    "dictionary",
    "cluster",
];

/// Top-level sections of the language that Boomerang parses but does not implement.
pub(crate) const UNSUPPORTED_SECTIONS: &[&str] = &[
    "license",
    "statistics",
    "captures",
    "caches",
    "scripts",
    "ui",
    "ip-accept",
    "proxy-protocol",
    "@init",
];

/// Backend types of the language that Boomerang does not implement.
const UNSUPPORTED_BACKENDS: &[&str] = &[
    "ldap", "http", "jsonfile", "postgres", "mysql", "mssql", "memory", "file",
];

/// One named entry: `kind "NAME" { … }`.
pub(crate) struct Entry<'l> {
    /// Its name.
    pub name: String,
    /// Where the name is written.
    pub name_span: Span,
    /// The whole item.
    pub item: &'l Item,
    /// Its block.
    pub block: &'l Block,
}

/// The two kinds of `certificates` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CertTag {
    /// `x509 "NAME" { … }`.
    X509,
    /// `key "NAME" { … }`.
    Key,
}

impl CertTag {
    /// The keyword that defines it.
    pub fn keyword(self) -> &'static str {
        match self {
            CertTag::X509 => "x509",
            CertTag::Key => "key",
        }
    }
}

/// A `certificates` entry.
pub(crate) struct CertEntry<'l> {
    /// Name and block.
    pub e: Entry<'l>,
    /// Which kind.
    pub tag: CertTag,
}

/// A `clients` entry.
pub(crate) struct ListEntry<'l> {
    /// Name and block.
    pub e: Entry<'l>,
    /// RADIUS or HTTP.
    pub protocol: ClientProtocol,
}

/// A `servers` entry.
pub(crate) struct ServerEntry<'l> {
    /// Name and block.
    pub e: Entry<'l>,
    /// `http "NAME"` rather than `radius "NAME"`.
    pub http: bool,
}

/// A `backends` entry.
pub(crate) struct BackendEntry<'l> {
    /// Name and block.
    pub e: Entry<'l>,
    /// `sqlite "NAME"` rather than `radius "NAME"`.
    pub sqlite: bool,
    /// Its `query "Q" { … }` blocks without duplicates; `QueryId(n)` is the n-th.
    pub queries: Vec<Entry<'l>>,
}

/// Everything pass 1 found.
#[derive(Default)]
pub(crate) struct Collected<'l> {
    /// `certificates` entries; `CertificateId(n)` is the n-th.
    pub certificates: Vec<CertEntry<'l>>,
    /// `clients` lists; `ClientListId(n)` is the n-th.
    pub client_lists: Vec<ListEntry<'l>>,
    /// `servers` entries, in order.
    pub servers: Vec<ServerEntry<'l>>,
    /// `backends` entries; `BackendId(n)` is the n-th.
    pub backends: Vec<BackendEntry<'l>>,
    /// `aaa { policy … }`; `PolicyId(n)` is the n-th.
    pub policies: Vec<Entry<'l>>,
    /// `aaa { pipeline … }`; `PipelineId(n)` is the n-th.
    pub pipelines: Vec<Entry<'l>>,
    /// The `management` section (the first one; repeats are reported).
    pub management: Option<&'l Block>,
    /// The `logging` section (the first one; repeats are reported).
    pub logging: Option<&'l Block>,
    /// The `cluster` section (the first one; repeats are reported): where its
    /// keyword is written, and its block.
    pub cluster: Option<(Span, &'l Block)>,
    /// Every `dictionary` section, in order.
    pub dictionaries: Vec<&'l Block>,
    /// Backends, queries and pipelines for lowering.
    pub names: Names,
    /// Certificate names to their index.
    pub cert_index: BTreeMap<String, usize>,
    /// Client list names to their index.
    pub list_index: BTreeMap<String, usize>,
    /// Policy names to their index.
    pub policy_index: BTreeMap<String, usize>,
}

#[derive(Default)]
struct Spaces {
    certificates: NameSet,
    client_lists: NameSet,
    servers: NameSet,
    backends: NameSet,
    policies: NameSet,
    pipelines: NameSet,
    management: Option<Span>,
    logging: Option<Span>,
    cluster: Option<Span>,
}

/// Run pass 1 over the top-level items of every file, in load order.
pub(crate) fn collect<'l>(cx: &mut Cx<'_>, items: &[&'l Item]) -> Collected<'l> {
    let mut out = Collected::default();
    let mut sp = Spaces::default();
    for item in items {
        let Some(kw) = item.keyword() else {
            cx.other_key(item, "the top level", SECTIONS, UNSUPPORTED_SECTIONS);
            continue;
        };
        match kw {
            "certificates" => certificates(cx, item, &mut out, &mut sp),
            "clients" => clients(cx, item, &mut out, &mut sp),
            "servers" => servers(cx, item, &mut out, &mut sp),
            "backends" => backends(cx, item, &mut out, &mut sp),
            "aaa" => aaa(cx, item, &mut out, &mut sp),
            "management" | "logging" | "cluster" => {
                let slot = match kw {
                    "management" => &mut sp.management,
                    "logging" => &mut sp.logging,
                    _ => &mut sp.cluster,
                };
                if let Some(prev) = *slot {
                    cx.duplicate(
                        crate::lang::diag::Diagnostic::error(
                            item.keyword_span(),
                            format!("duplicate section `{kw}`"),
                        )
                        .with_label(prev, "first given here"),
                        prev,
                        item.keyword_span(),
                        &format!("section `{kw}`"),
                    );
                    continue;
                }
                *slot = Some(item.keyword_span());
                if let Some(b) = cx.plain_block(item) {
                    match kw {
                        "management" => out.management = Some(b),
                        "logging" => out.logging = Some(b),
                        _ => out.cluster = Some((item.keyword_span(), b)),
                    }
                }
            }
            "dictionary" => {
                if let Some(b) = cx.plain_block(item) {
                    out.dictionaries.push(b);
                }
            }
            _ => {
                if UNSUPPORTED_SECTIONS.contains(&kw) {
                    cx.unsupported(item.keyword_span(), kw);
                } else {
                    let mut d = crate::lang::diag::Diagnostic::error(
                        item.keyword_span(),
                        format!("unknown section `{kw}`"),
                    );
                    if let Some(s) = crate::lang::diag::suggest(kw, SECTIONS.iter().copied()) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    cx.push(d);
                }
            }
        }
    }
    out
}

fn entry<'l>(cx: &mut Cx<'_>, item: &'l Item) -> Option<Entry<'l>> {
    let (name, name_span, block) = cx.named_block(item)?;
    Some(Entry {
        name,
        name_span,
        item,
        block,
    })
}

fn certificates<'l>(cx: &mut Cx<'_>, item: &'l Item, out: &mut Collected<'l>, sp: &mut Spaces) {
    let Some(block) = cx.plain_block(item) else {
        return;
    };
    for child in &block.items {
        let tag = match child.keyword() {
            Some("x509") => CertTag::X509,
            Some("key") => CertTag::Key,
            _ => {
                cx.other_key(
                    child,
                    "`certificates`",
                    &["x509", "key"],
                    &["x509-directory"],
                );
                continue;
            }
        };
        let Some(e) = entry(cx, child) else { continue };
        if sp
            .certificates
            .define(cx, "certificate", &e.name, e.name_span)
        {
            out.cert_index
                .insert(e.name.clone(), out.certificates.len());
            out.certificates.push(CertEntry { e, tag });
        }
    }
}

fn clients<'l>(cx: &mut Cx<'_>, item: &'l Item, out: &mut Collected<'l>, sp: &mut Spaces) {
    let Some(block) = cx.plain_block(item) else {
        return;
    };
    for child in &block.items {
        let protocol = match child.keyword() {
            Some("radius") => ClientProtocol::Radius,
            Some("http") => ClientProtocol::Http,
            _ => {
                cx.other_key(child, "`clients`", &["radius", "http"], &["tacacsplus"]);
                continue;
            }
        };
        let Some(e) = entry(cx, child) else { continue };
        if sp
            .client_lists
            .define(cx, "client list", &e.name, e.name_span)
        {
            out.list_index
                .insert(e.name.clone(), out.client_lists.len());
            out.client_lists.push(ListEntry { e, protocol });
        }
    }
}

fn servers<'l>(cx: &mut Cx<'_>, item: &'l Item, out: &mut Collected<'l>, sp: &mut Spaces) {
    let Some(block) = cx.plain_block(item) else {
        return;
    };
    for child in &block.items {
        let http = match child.keyword() {
            Some("radius") => false,
            Some("http") => true,
            _ => {
                cx.other_key(child, "`servers`", &["radius", "http"], &["tacacsplus"]);
                continue;
            }
        };
        let Some(e) = entry(cx, child) else { continue };
        if sp.servers.define(cx, "server", &e.name, e.name_span) {
            out.servers.push(ServerEntry { e, http });
        }
    }
}

fn backends<'l>(cx: &mut Cx<'_>, item: &'l Item, out: &mut Collected<'l>, sp: &mut Spaces) {
    let Some(block) = cx.plain_block(item) else {
        return;
    };
    for child in &block.items {
        let sqlite = match child.keyword() {
            Some("radius") => false,
            Some("sqlite") => true,
            _ => {
                cx.other_key(
                    child,
                    "`backends`",
                    &["radius", "sqlite"],
                    UNSUPPORTED_BACKENDS,
                );
                continue;
            }
        };
        let Some(e) = entry(cx, child) else { continue };
        if !sp.backends.define(cx, "backend", &e.name, e.name_span) {
            continue;
        }
        let mut queries = Vec::new();
        let mut query_names = NameSet::default();
        let mut query_ids = BTreeMap::new();
        let (mut reverse, mut connect) = (false, false);
        let scope = format!(" in backend `{}`", e.name);
        for inner in &e.block.items {
            match inner.keyword() {
                Some("query") => {
                    let Some(q) = entry(cx, inner) else { continue };
                    if query_names.define_in(cx, "query", &q.name, q.name_span, &scope) {
                        let id = QueryId(u32::try_from(queries.len()).unwrap_or(u32::MAX));
                        query_ids.insert(q.name.clone(), id);
                        queries.push(q);
                    }
                }
                Some("server") if !sqlite => {
                    for part in inner.children() {
                        match part.keyword() {
                            Some("reverse") => reverse = true,
                            Some("connect") => connect = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let kind = if sqlite {
            BackendNameKind::Sqlite
        } else {
            BackendNameKind::Radius { reverse, connect }
        };
        let id = BackendId(u32::try_from(out.backends.len()).unwrap_or(u32::MAX));
        out.names.backends.insert(
            e.name.clone(),
            BackendName {
                id,
                kind,
                queries: query_ids,
                span: e.name_span,
            },
        );
        out.backends.push(BackendEntry { e, sqlite, queries });
    }
}

fn aaa<'l>(cx: &mut Cx<'_>, item: &'l Item, out: &mut Collected<'l>, sp: &mut Spaces) {
    let Some(block) = cx.plain_block(item) else {
        return;
    };
    for child in &block.items {
        match child.keyword() {
            Some("policy") => {
                let Some(e) = entry(cx, child) else { continue };
                if sp.policies.define(cx, "policy", &e.name, e.name_span) {
                    out.policy_index.insert(e.name.clone(), out.policies.len());
                    out.policies.push(e);
                }
            }
            Some("pipeline") => {
                let Some(e) = entry(cx, child) else { continue };
                if sp.pipelines.define(cx, "pipeline", &e.name, e.name_span) {
                    let id = PipelineId(u32::try_from(out.pipelines.len()).unwrap_or(u32::MAX));
                    out.names.pipelines.insert(e.name.clone(), id);
                    out.pipelines.push(e);
                }
            }
            _ => cx.other_key(child, "`aaa`", &["policy", "pipeline"], &["@init"]),
        }
    }
}
