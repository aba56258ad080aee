//! `aaa { policy "P" { conditions …; handler "H" { conditions …; @execute { … } } }
//! pipeline "N" { … } }`.

use std::sync::Arc;

use crate::eval::ir::{NamedPipeline, Pipeline};
use crate::eval::policy::{Handler, Policy};
use crate::lang::compile::collect::Entry;
use crate::lang::compile::cx::{Cx, Lowering, NameSet, Seen};
use crate::lang::compile::lower::{self, Stage};
use crate::lang::diag::Diagnostic;
use crate::lang::syntax::{Block, Body, Item};

/// Pipeline stages a handler may hold; only `@execute` and `@final-execute` are
/// implemented.
const HANDLER_STAGES: &[&str] = &[
    "@execute",
    "@final-execute",
    "@pre-execute",
    "@post-execute",
    "@pre-authentication",
    "@authentication",
    "@post-authentication",
    "@pre-authorization",
    "@authorization",
    "@post-authorization",
    "@pre-accounting",
    "@accounting",
    "@post-accounting",
];
const HANDLER_KEYS: &[&str] = &["conditions", "@execute", "@final-execute"];
const POLICY_KEYS: &[&str] = &["conditions", "handler"];
const POLICY_UNSUPPORTED: &[&str] = &["@pre-policy", "@post-policy"];

/// Build one policy.
pub(crate) fn policy(cx: &mut Cx<'_>, lw: Lowering<'_>, p: &Entry<'_>) -> Option<Policy> {
    let errors = cx.error_count();
    let place = format!("policy `{}`", p.name);
    let scope = format!(" in policy `{}`", p.name);
    let mut seen = Seen::default();
    let mut names = NameSet::default();
    let mut conditions = None;
    let mut handlers = Vec::new();
    for it in &p.block.items {
        match it.keyword() {
            Some(k @ "conditions") => {
                if seen.first(cx, k, it) {
                    conditions = cx.lower(lw, |l| lower::lower_conditions(l, it));
                }
            }
            Some("handler") => {
                let Some((name, span, block)) = cx.named_block(it) else {
                    continue;
                };
                if names.define_in(cx, "handler", &name, span, &scope)
                    && let Some(h) = handler(cx, lw, &name, it, block)
                {
                    handlers.push(h);
                }
            }
            _ => cx.other_key(it, &place, POLICY_KEYS, POLICY_UNSUPPORTED),
        }
    }
    if !p.block.items.iter().any(|i| i.keyword() == Some("handler")) {
        cx.push(
            Diagnostic::warning(
                p.item.keyword_span(),
                format!("{place} has no `handler`: requests it matches get no reply"),
            )
            .with_help("add `handler \"NAME\" { @execute { … } }`"),
        );
    }
    (cx.error_count() == errors).then(|| Policy {
        name: p.name.clone(),
        conditions,
        handlers,
    })
}

fn handler(
    cx: &mut Cx<'_>,
    lw: Lowering<'_>,
    name: &str,
    item: &Item,
    block: &Block,
) -> Option<Handler> {
    let errors = cx.error_count();
    let place = format!("handler `{name}`");
    let mut seen = Seen::default();
    let mut h = Handler {
        name: name.to_owned(),
        conditions: None,
        execute: None,
        final_execute: None,
    };
    for it in &block.items {
        if it.keyword() == Some("conditions") {
            if seen.first(cx, "conditions", it) {
                h.conditions = cx.lower(lw, |l| lower::lower_conditions(l, it));
            }
            continue;
        }
        let Some(stage) = cx.stage_keyword(it, HANDLER_STAGES) else {
            cx.other_key(it, &place, HANDLER_KEYS, &[]);
            continue;
        };
        let (slot, lstage) = match stage {
            "@execute" => (&mut h.execute, Stage::Execute),
            "@final-execute" => (&mut h.final_execute, Stage::FinalExecute),
            other => {
                cx.unsupported(it.keyword_span(), other);
                continue;
            }
        };
        if !seen.first(cx, stage, it) {
            continue;
        }
        if let Some(b) = pipeline_block(cx, it, stage) {
            *slot = Some(cx.lower(lw, |l| lower::lower_pipeline(l, lstage, b)));
        }
    }
    if h.execute.is_none() && seen.get("@execute").is_none() {
        cx.push(
            Diagnostic::warning(
                item.keyword_span(),
                format!("{place} has no `@execute`: requests it handles get no reply"),
            )
            .with_help("add `@execute { accept; }` or the actions to run"),
        );
    }
    (cx.error_count() == errors).then_some(h)
}

/// The block of a pipeline item `@stage { … }` (no arguments, no clauses).
fn pipeline_block<'i>(cx: &mut Cx<'_>, it: &'i Item, stage: &str) -> Option<&'i Block> {
    if let Some(extra) = it.args().first() {
        cx.push(
            Diagnostic::error(
                extra.span(),
                format!("unexpected `{}` after `{stage}`", cx.text(extra.span())),
            )
            .with_help(format!(
                "write `{stage} {{ … }}`; for a directive use a block inside, e.g. `{stage} {{ first {{ … }} }}`"
            )),
        );
        return None;
    }
    if let Some(c) = it.clauses.first() {
        cx.error(
            c.keyword_span,
            format!("unexpected `{}` after `{stage}`", c.keyword),
        );
        return None;
    }
    match &it.body {
        Body::Block(b) => Some(b),
        Body::Semi => {
            cx.push(
                Diagnostic::error(it.keyword_span(), format!("`{stage}` must be a block"))
                    .with_help(format!("write `{stage} {{ … }}`")),
            );
            None
        }
    }
}

/// Build one named pipeline (`pipeline "N" { … }`).
pub(crate) fn pipeline(cx: &mut Cx<'_>, lw: Lowering<'_>, p: &Entry<'_>) -> NamedPipeline {
    let body: Arc<Pipeline> = cx.lower(lw, |l| lower::lower_pipeline(l, Stage::Named, p.block));
    NamedPipeline {
        name: p.name.clone(),
        pipeline: body,
    }
}
