//! The canonical printer: a syntax tree back to configuration text.
//!
//! The output parses back to a tree equal to the input (ignoring spans) — the
//! property checked by the tests and the fuzz target. Layout: four-space
//! indentation, one item per line, clauses on the closing-brace line
//! (`} else {`), operators in symbol form, single spaces between terms. Strings with
//! line breaks are printed as indented `"""` blocks when that round-trips (at least
//! one non-blank line starts without whitespace), otherwise with `\n` escapes.
//! Comments are not part of the tree and are not printed.

use std::fmt::Write as _;

use crate::lang::syntax::{
    Body, Clause, Expr, File, Item, LitKind, Path, Template, TemplatePart, Term,
};

const INDENT: &str = "    ";

/// Print a whole file.
pub fn print(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        print_item_into(&mut out, item, 0);
    }
    out
}

/// Print one item (and everything inside it) at indentation level 0.
pub fn print_item(item: &Item) -> String {
    let mut out = String::new();
    print_item_into(&mut out, item, 0);
    out
}

/// Print one expression as it would appear in an item.
pub fn expr_to_string(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr, Ctx::default());
    out
}

/// Print a path (`radius.request.attr.User-Name`, `email[0]`, `Tunnel-Type:1`).
pub fn path_to_string(path: &Path) -> String {
    path.to_string()
}

#[derive(Clone, Copy, Default)]
struct Ctx {
    /// Indentation level of the enclosing item.
    level: usize,
    /// Inside a `%{}` template: strings must be single-line `"…"`.
    in_template: bool,
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

fn print_item_into(out: &mut String, item: &Item, level: usize) {
    indent(out, level);
    let ctx = Ctx {
        level,
        in_template: false,
    };
    write_terms(out, &item.terms, ctx);
    match &item.body {
        Body::Semi => out.push(';'),
        Body::Block(b) => {
            if !item.terms.is_empty() {
                out.push(' ');
            }
            write_block(out, &b.items, level);
        }
    }
    for c in &item.clauses {
        write_clause(out, c, level);
    }
    out.push('\n');
}

fn write_terms(out: &mut String, terms: &[Term], ctx: Ctx) {
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match t {
            Term::Expr(e) => write_expr(out, e, ctx),
            Term::Op(o) => out.push_str(o.op.as_str()),
        }
    }
}

fn write_block(out: &mut String, items: &[Item], level: usize) {
    out.push('{');
    if items.is_empty() {
        out.push('}');
        return;
    }
    out.push('\n');
    for it in items {
        print_item_into(out, it, level + 1);
    }
    indent(out, level);
    out.push('}');
}

fn write_clause(out: &mut String, c: &Clause, level: usize) {
    out.push(' ');
    out.push_str(&c.keyword);
    if !c.terms.is_empty() {
        out.push(' ');
        write_terms(
            out,
            &c.terms,
            Ctx {
                level,
                in_template: false,
            },
        );
    }
    out.push(' ');
    write_block(out, &c.block.items, level);
}

fn write_expr(out: &mut String, e: &Expr, ctx: Ctx) {
    match e {
        Expr::Literal(l) => write_lit(out, &l.kind),
        Expr::Path(p) => write_path(out, p),
        Expr::Str(t) => write_string(out, t, ctx),
        Expr::Regex(r) => {
            out.push('/');
            out.push_str(&r.pattern);
            out.push('/');
            if r.case_insensitive {
                out.push('i');
            }
        }
        Expr::List(l) => {
            out.push('[');
            for (i, x) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_expr(out, x, ctx);
            }
            out.push(']');
        }
        Expr::Filtered(f) => {
            write_expr(out, &f.base, ctx);
            for call in &f.filters {
                out.push_str(" | ");
                out.push_str(&call.name);
                if !call.args.is_empty() {
                    out.push('(');
                    for (i, a) in call.args.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        write_expr(out, a, ctx);
                    }
                    out.push(')');
                }
            }
        }
    }
}

fn write_lit(out: &mut String, k: &LitKind) {
    match k {
        LitKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        LitKind::None => out.push_str("none"),
        LitKind::Any => out.push_str("any"),
        LitKind::Int(i) => {
            let _ = write!(out, "{i}");
        }
        LitKind::Float(f) => {
            let s = format!("{f}");
            out.push_str(&s);
            if !s.contains('.') {
                out.push_str(".0");
            }
        }
        LitKind::Duration(d) => {
            for (n, u) in &d.parts {
                let _ = write!(out, "{n}{}", u.as_str());
            }
        }
        LitKind::Bytes(b) => {
            out.push_str("0x");
            for x in b {
                let _ = write!(out, "{x:02x}");
            }
        }
        LitKind::Ip(a) => {
            let _ = write!(out, "{a}");
        }
        LitKind::Prefix { addr, len } => {
            let _ = write!(out, "{addr}/{len}");
        }
    }
}

fn write_path(out: &mut String, p: &Path) {
    let _ = write!(out, "{p}");
}

/// The string's content in source form (escaped), for plain or triple quoting.
fn string_body(t: &Template, triple: bool) -> String {
    let mut body = String::new();
    let n = t.parts.len();
    for (pi, part) in t.parts.iter().enumerate() {
        match part {
            TemplatePart::Text { text, .. } => {
                let last_part = pi + 1 == n;
                let mut chars = text.chars().peekable();
                while let Some(c) = chars.next() {
                    let next = chars.peek().copied();
                    match c {
                        // A backslash before `%` is written bare: `\%` is a verbatim pair,
                        // which keeps a following `{` from starting a template.
                        '\\' if next == Some('%') => body.push('\\'),
                        '\\' => body.push_str("\\\\"),
                        '"' if !triple => body.push_str("\\\""),
                        '"' if next == Some('"') || (next.is_none() && last_part) => {
                            body.push_str("\\\"");
                        }
                        '\n' if !triple => body.push_str("\\n"),
                        '\t' => body.push_str("\\t"),
                        '\r' => body.push_str("\\r"),
                        c => body.push(c),
                    }
                }
            }
            TemplatePart::Expr { expr, .. } => {
                body.push_str("%{");
                write_expr(
                    &mut body,
                    expr,
                    Ctx {
                        level: 0,
                        in_template: true,
                    },
                );
                body.push('}');
            }
        }
    }
    body
}

fn write_string(out: &mut String, t: &Template, ctx: Ctx) {
    let multiline = t.parts.iter().any(|p| match p {
        TemplatePart::Text { text, .. } => text.contains('\n'),
        TemplatePart::Expr { .. } => false,
    });
    if multiline && !ctx.in_template {
        let body = string_body(t, true);
        let anchored = body
            .split('\n')
            .any(|l| l.chars().next().is_some_and(|c| c != ' '));
        if anchored {
            out.push_str("\"\"\"\n");
            for line in body.split('\n') {
                indent(out, ctx.level + 1);
                out.push_str(line);
                out.push('\n');
            }
            indent(out, ctx.level + 1);
            out.push_str("\"\"\"");
            return;
        }
    }
    out.push('"');
    out.push_str(&string_body(t, false));
    out.push('"');
}
