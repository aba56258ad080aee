//! Helpers shared by the lowering tests: a name table, parsing snippets, lowering them
//! and rendering diagnostics as `line:col: severity: message`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use boomerang_core::eval::ir::{BackendId, Condition, Expr, Pipeline, PipelineId, QueryId};
use boomerang_core::eval::query::{Bindings, Mapping, SqlAssign};
use boomerang_core::lang::compile::lower::{
    LowerCx, Stage, lower_bindings, lower_conditions, lower_mapping, lower_pipeline,
    lower_sql_mapping, lower_sql_params,
};
use boomerang_core::lang::compile::names::{BackendName, BackendNameKind, Names};
use boomerang_core::lang::{Block, Diagnostic, SourceMap, Span, parse_text, render_all};
use boomerang_core::radius::dictionary::Dictionary;

pub fn dict() -> &'static Dictionary {
    Dictionary::builtin()
}

fn backend(id: u32, kind: BackendNameKind, queries: &[&str]) -> BackendName {
    BackendName {
        id: BackendId(id),
        kind,
        queries: queries
            .iter()
            .enumerate()
            .map(|(i, q)| (q.to_string(), QueryId(i as u32)))
            .collect(),
        span: Span::DUMMY,
    }
}

/// Backends: REVERSE_DYNAUTH (0, reverse; DISCONNECT_USER, PROXY_QUERY),
/// SQL_BACKEND (1, sqlite; FIND_NAS_IDENTIFIER), UPSTREAM (2, connect; no queries).
/// Pipelines: LOG_IT (0), LOG_ACCOUNTING (1).
pub fn names() -> Names {
    let mut backends = BTreeMap::new();
    backends.insert(
        "REVERSE_DYNAUTH".to_string(),
        backend(
            0,
            BackendNameKind::Radius {
                reverse: true,
                connect: false,
            },
            &["DISCONNECT_USER", "PROXY_QUERY"],
        ),
    );
    backends.insert(
        "SQL_BACKEND".to_string(),
        backend(1, BackendNameKind::Sqlite, &["FIND_NAS_IDENTIFIER"]),
    );
    backends.insert(
        "UPSTREAM".to_string(),
        backend(
            2,
            BackendNameKind::Radius {
                reverse: false,
                connect: true,
            },
            &[],
        ),
    );
    let mut pipelines = BTreeMap::new();
    pipelines.insert("LOG_IT".to_string(), PipelineId(0));
    pipelines.insert("LOG_ACCOUNTING".to_string(), PipelineId(1));
    Names {
        backends,
        pipelines,
    }
}

/// A snippet parsed without errors; its top-level items as one block.
pub fn parse_block(text: &str) -> (SourceMap, Block) {
    let (sources, parsed) = parse_text("t.conf", text);
    assert!(
        !parsed.has_errors(),
        "parse errors:\n{}",
        render_all(&parsed.diagnostics, &sources)
    );
    let block = Block {
        items: parsed.file.items,
        span: Span::DUMMY,
    };
    (sources, block)
}

/// `line:col: severity: message` for each diagnostic (plus ` [help: …]`).
pub fn render_short(diags: &[Diagnostic], sources: &SourceMap) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            let loc = d.span.map_or_else(String::new, |s| {
                let (l, c) = sources.get(s.file).unwrap().line_col(s.start);
                format!("{l}:{c}: ")
            });
            let mut out = format!("{loc}{}: {}", d.severity.as_str(), d.message);
            if let Some(h) = &d.help {
                out.push_str(&format!(" [help: {h}]"));
            }
            out
        })
        .collect()
}

pub struct Lowered<T> {
    pub value: T,
    pub diags: Vec<String>,
}

fn with_cx<T>(
    text: &str,
    names: &Names,
    f: impl FnOnce(&mut LowerCx<'_>, &Block) -> T,
) -> Lowered<T> {
    let (sources, block) = parse_block(text);
    let mut diagnostics = Vec::new();
    let value = {
        let mut cx = LowerCx {
            dictionary: dict(),
            names,
            diagnostics: &mut diagnostics,
        };
        f(&mut cx, &block)
    };
    Lowered {
        value,
        diags: render_short(&diagnostics, &sources),
    }
}

/// Lower `text` (a sequence of actions) as a pipeline of `stage`.
pub fn pipeline(stage: Stage, text: &str) -> Lowered<Arc<Pipeline>> {
    with_cx(text, &names(), |cx, b| lower_pipeline(cx, stage, b))
}

/// Lower an `@execute` snippet that must produce no diagnostics.
pub fn pipeline_ok(stage: Stage, text: &str) -> Arc<Pipeline> {
    let l = pipeline(stage, text);
    assert!(l.diags.is_empty(), "unexpected diagnostics: {:#?}", l.diags);
    l.value
}

/// Lower the diagnostics of an `@execute` snippet.
pub fn pipeline_diags(stage: Stage, text: &str) -> Vec<String> {
    pipeline(stage, text).diags
}

/// Lower the first item of `text` as a `conditions …` item.
pub fn conditions(text: &str) -> Lowered<Option<Condition>> {
    with_cx(text, &names(), |cx, b| lower_conditions(cx, &b.items[0]))
}

/// Lower `text` as the contents of a `bindings { … }` block.
pub fn bindings(text: &str) -> Lowered<Bindings> {
    with_cx(text, &names(), lower_bindings)
}

/// Lower `text` as the contents of a `mapping { … }` block.
pub fn mapping(text: &str) -> Lowered<Mapping> {
    with_cx(text, &names(), lower_mapping)
}

/// Lower `text` as SQL positional bindings.
pub fn sql_params(text: &str) -> Lowered<Vec<Expr>> {
    with_cx(text, &names(), lower_sql_params)
}

/// Lower `text` as an SQL mapping.
pub fn sql_mapping(text: &str) -> Lowered<Vec<SqlAssign>> {
    with_cx(text, &names(), lower_sql_mapping)
}
