//! The process-wide sections: `management`, `logging` and `dictionary`.

use std::cell::RefCell;

use crate::eval::value::IpPrefix;
use crate::lang::compile::cx::{Cx, Seen};
use crate::lang::diag::Diagnostic;
use crate::lang::program::{Logging, Management};
use crate::lang::span::Span;
use crate::lang::syntax::Block;
use crate::radius::dictionary::{Dictionary, DictionarySource};

const MANAGEMENT_KEYS: &[&str] = &["listen", "enabled", "allow", "token"];
const MANAGEMENT_LISTEN_KEYS: &[&str] = &["protocol", "ip", "port", "limits"];
const LOGGING_KEYS: &[&str] = &["level", "format", "file", "application", "aaa"];
const LEVELS: &[&str] = &["error", "warn", "warning", "info", "debug", "trace"];

/// `management { listen { ip A; port N; limits { … } } enabled B; allow { ip P; … }
/// token "…"; }`.
pub(crate) fn management(cx: &mut Cx<'_>, block: Option<&Block>) -> Management {
    let mut m = Management::default();
    let Some(block) = block else {
        return m;
    };
    let mut seen = Seen::default();
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if MANAGEMENT_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`management`", MANAGEMENT_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "enabled" => {
                m.enabled = cx.boolean(it).unwrap_or(true);
                continue;
            }
            "allow" => {
                if let Some(b) = cx.plain_block(it) {
                    m.allow = allow_block(cx, b);
                }
                continue;
            }
            "token" => {
                if let Some((token, span)) = cx.string(it) {
                    if token.is_empty() {
                        cx.error(span, "`token` must not be empty");
                    } else {
                        m.token = Some(token);
                    }
                }
                continue;
            }
            _ => {}
        }
        let Some(b) = cx.plain_block(it) else {
            continue;
        };
        let mut inner = Seen::default();
        for l in &b.items {
            let k = match l.keyword() {
                Some(k) if MANAGEMENT_LISTEN_KEYS.contains(&k) => k,
                _ => {
                    cx.other_key(l, "`listen`", MANAGEMENT_LISTEN_KEYS, &[]);
                    continue;
                }
            };
            if !inner.first(cx, k, l) {
                continue;
            }
            match k {
                "protocol" => {
                    if let Some(p) = cx.word(l, &["tcp", "udp", "tls"])
                        && p != "tcp"
                    {
                        cx.error(
                            l.args().first().map_or(l.span, |t| t.span()),
                            format!("the management listener uses `protocol tcp`, not `{p}`"),
                        );
                    }
                }
                "ip" => {
                    if let Some(ip) = cx.ip(l) {
                        m.ip = ip;
                    }
                }
                "limits" => {
                    if let Some(b) = cx.plain_block(l) {
                        m.limits = crate::lang::compile::servers::limits_block(cx, b);
                    }
                }
                _ => {
                    if let Some(p) = cx.port(l) {
                        m.port = p;
                    }
                }
            }
        }
    }
    m
}

/// `allow { ip PREFIX; … }`: the management clients that may read `/api/v1/…` and
/// `/metrics` (an empty block allows none of them).
fn allow_block(cx: &mut Cx<'_>, block: &Block) -> Vec<IpPrefix> {
    let mut out = Vec::new();
    for it in &block.items {
        if it.keyword() != Some("ip") {
            cx.other_key(it, "`allow`", &["ip"], &[]);
            continue;
        }
        if let Some(p) = cx.prefix(it) {
            out.push(p);
        }
    }
    out
}

/// `logging { level …; format …; file "…"; }`, plus the file destination of the
/// `application { file { loglevel …; filename "…"; } }` form.
pub(crate) fn logging(cx: &mut Cx<'_>, block: Option<&Block>) -> Logging {
    let mut out = Logging::default();
    let Some(block) = block else {
        return out;
    };
    // Where level and file were set, to report a second setting in another form.
    let mut level_at: Option<Span> = None;
    let mut file_at: Option<Span> = None;
    let mut seen = Seen::default();
    for it in &block.items {
        let kw = match it.keyword() {
            Some(k) if LOGGING_KEYS.contains(&k) => k,
            _ => {
                cx.other_key(it, "`logging`", LOGGING_KEYS, &[]);
                continue;
            }
        };
        if !seen.first(cx, kw, it) {
            continue;
        }
        match kw {
            "level" => {
                if once(cx, &mut level_at, it.keyword_span(), "log level") {
                    out.level = level(cx, it);
                }
            }
            "format" => out.format = cx.word(it, &["text", "json"]).map(str::to_owned),
            "file" => {
                if once(cx, &mut file_at, it.keyword_span(), "log file") {
                    out.file = log_file(cx, it);
                }
            }
            "application" => {
                let Some(b) = cx.plain_block(it) else {
                    continue;
                };
                let mut dest = Seen::default();
                for d in &b.items {
                    match d.keyword() {
                        Some(k @ "file") if dest.first(cx, k, d) => {
                            let Some(fb) = cx.plain_block(d) else {
                                continue;
                            };
                            for f in &fb.items {
                                match f.keyword() {
                                    Some("loglevel") => {
                                        if once(cx, &mut level_at, f.keyword_span(), "log level") {
                                            out.level = level(cx, f);
                                        }
                                    }
                                    Some("filename") => {
                                        if once(cx, &mut file_at, f.keyword_span(), "log file") {
                                            out.file = log_file(cx, f);
                                        }
                                    }
                                    _ => cx.other_key(f, "`file`", &["loglevel", "filename"], &[]),
                                }
                            }
                        }
                        Some("file") => {}
                        _ => cx.other_key(d, "`application`", &["file"], &["memory", "syslog"]),
                    }
                }
            }
            _ => {
                // `aaa { logger "NAME" { … } }`: named AAA loggers.
                let Some(b) = cx.plain_block(it) else {
                    continue;
                };
                for l in &b.items {
                    cx.other_key(l, "`logging aaa`", &[], &["logger"]);
                }
            }
        }
    }
    out
}

fn once(cx: &mut Cx<'_>, slot: &mut Option<Span>, span: Span, what: &str) -> bool {
    if let Some(prev) = *slot {
        cx.push(
            Diagnostic::error(span, format!("the {what} is set twice"))
                .with_label(prev, "first set here"),
        );
        return false;
    }
    *slot = Some(span);
    true
}

fn level(cx: &mut Cx<'_>, it: &crate::lang::syntax::Item) -> Option<String> {
    cx.word(it, LEVELS)
        .map(|l| if l == "warning" { "warn" } else { l }.to_owned())
}

fn log_file(cx: &mut Cx<'_>, it: &crate::lang::syntax::Item) -> Option<String> {
    let (f, span) = cx.string(it)?;
    if f.is_empty() {
        cx.error(span, "the log file name is empty");
        return None;
    }
    Some(cx.resolve_path(span, &f))
}

/// The built-in dictionary extended with the files of every
/// `dictionary { filename "…"; }` section, read through `source`.
pub(crate) fn dictionary(
    cx: &mut Cx<'_>,
    blocks: &[&Block],
    source: Option<&RefCell<Box<dyn DictionarySource + '_>>>,
) -> Dictionary {
    let mut dict = Dictionary::builtin().clone();
    for block in blocks {
        for it in &block.items {
            if it.keyword() != Some("filename") {
                cx.other_key(it, "`dictionary`", &["filename"], &[]);
                continue;
            }
            let Some((path, span)) = cx.string(it) else {
                continue;
            };
            let resolved = cx.resolve_path(span, &path);
            let Some(source) = source else {
                cx.error(
                    span,
                    format!("cannot read dictionary `{resolved}`: no dictionary files are available to this compilation"),
                );
                continue;
            };
            let result = {
                let mut src = source.borrow_mut();
                dict.load(&resolved, src.as_mut())
            };
            if let Err(errors) = result {
                for e in errors {
                    let at = if e.line == 0 {
                        e.file.clone()
                    } else if e.column == 0 {
                        format!("{}:{}", e.file, e.line)
                    } else {
                        format!("{}:{}:{}", e.file, e.line, e.column)
                    };
                    cx.push(
                        Diagnostic::error(span, format!("dictionary `{path}`: {}", e.kind))
                            .with_note(format!("in {at}")),
                    );
                }
            }
        }
    }
    dict
}
