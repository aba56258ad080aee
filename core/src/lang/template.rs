//! Strings: escape processing, triple-quote dedenting, and `%{ expr | filter }` parts.
//!
//! # String rules
//!
//! * `"…"` ends at the first unescaped `"` and may not contain a line break.
//! * `"""…"""` may span lines and hold bare `"`; it ends at the first unescaped `"""`.
//! * Escapes (both forms): `\"` → `"`, `\\` → `\`, `\n`, `\t`, `\r`. Any other
//!   backslash sequence is kept verbatim (`\d` stays `\d`, `\%{` stays `\%{` and is
//!   *not* a template).
//! * `%{ … }` is a template part. Its body is lexed and parsed as an expression with
//!   optional filters; strings inside it are written `"…"` (the template ends at the
//!   first `}` outside such a nested string) and the body must stay on one line.
//!
//! # Triple-quoted strings spanning several lines
//!
//! Like a text block: if the first line (right after the opening `"""`) is blank it
//! is dropped; if the last line (before the closing `"""`) is blank it is dropped
//! together with the line break before it; then the common leading whitespace
//! (spaces and tabs, counted as characters) of the lines that are not blank is
//! removed from every line. A raw `\r\n` counts as `\n`. A triple-quoted string on
//! a single line is taken as is. So
//!
//! ```text
//!     debug """
//!     Server: %{connection.server_name}
//!       indented
//!     """;
//! ```
//!
//! is `"Server: %{connection.server_name}\n  indented"` (no trailing newline).

use crate::lang::lexer::{ScanStart, Token, scan_string, to_u32};
use crate::lang::parser::Parser;
use crate::lang::syntax::{Template, TemplatePart};

/// Accumulates canonical template parts (merged text, no empty text parts).
struct Parts {
    parts: Vec<TemplatePart>,
    text: String,
    text_start: Option<u32>,
    text_end: u32,
}

impl Parts {
    fn new() -> Parts {
        Parts {
            parts: Vec::new(),
            text: String::new(),
            text_start: None,
            text_end: 0,
        }
    }

    fn push(&mut self, s: &str, start: usize, end: usize) {
        if s.is_empty() {
            return;
        }
        if self.text_start.is_none() {
            self.text_start = Some(to_u32(start));
        }
        self.text.push_str(s);
        self.text_end = to_u32(end);
    }

    fn flush(&mut self, p: &Parser<'_>) {
        if let Some(start) = self.text_start.take() {
            let text = std::mem::take(&mut self.text);
            self.parts.push(TemplatePart::Text {
                text,
                span: p.span(start, self.text_end),
            });
        }
    }
}

impl Parser<'_> {
    /// Turn a string token into a [`Template`].
    pub(crate) fn parse_string(&mut self, t: Token, triple: bool) -> Option<Template> {
        let q = if triple { 3 } else { 1 };
        let cs = t.start as usize + q;
        let ce = (t.end as usize).saturating_sub(q).max(cs);
        let poisoned_before = self.poisoned;
        self.poisoned = false;
        let mut parts = Parts::new();
        let raw = self.src.get(cs..ce).unwrap_or("");
        if triple && raw.contains('\n') {
            let lines = dedent_lines(self.src.as_bytes(), cs, ce);
            for (k, (ls, le)) in lines.into_iter().enumerate() {
                if k > 0 {
                    parts.push("\n", ls, ls);
                }
                self.segment(&mut parts, ls, le);
            }
        } else {
            self.segment(&mut parts, cs, ce);
        }
        parts.flush(self);
        let bad = self.poisoned;
        self.poisoned = poisoned_before || bad;
        if bad {
            return None;
        }
        Some(Template {
            parts: parts.parts,
            span: self.span(t.start, t.end),
        })
    }

    /// Process escapes and templates in `s..e` (which contains no line break that
    /// matters: a plain string's content or one line of a triple string).
    fn segment(&mut self, parts: &mut Parts, s: usize, e: usize) {
        let src = self.src;
        let b = src.as_bytes();
        let mut p = s;
        let mut run = s;
        while p < e {
            match b.get(p).copied() {
                Some(b'\\') => {
                    parts.push(src.get(run..p).unwrap_or(""), run, p);
                    let next = if p + 1 < e {
                        b.get(p + 1).copied()
                    } else {
                        None
                    };
                    match next {
                        Some(c) if c.is_ascii() => {
                            let rep = match c {
                                b'"' => "\"",
                                b'\\' => "\\",
                                b'n' => "\n",
                                b't' => "\t",
                                b'r' => "\r",
                                _ => src.get(p..p + 2).unwrap_or("\\"),
                            };
                            parts.push(rep, p, p + 2);
                            p += 2;
                        }
                        _ => {
                            parts.push("\\", p, p + 1);
                            p += 1;
                        }
                    }
                    run = p;
                }
                Some(b'%') if p + 1 < e && b.get(p + 1) == Some(&b'{') => {
                    parts.push(src.get(run..p).unwrap_or(""), run, p);
                    match scan_string(b, p + 2, e, ScanStart::TemplateBody) {
                        Ok(close) => {
                            let expr = self.parse_template_body(p + 2, close);
                            if let Some(expr) = expr {
                                parts.flush(self);
                                parts.parts.push(TemplatePart::Expr {
                                    expr,
                                    span: self.span(to_u32(p), to_u32(close + 1)),
                                });
                            }
                            p = close + 1;
                        }
                        Err(err) => {
                            let line_end = e;
                            let d = err.diagnostic(self.file, line_end);
                            self.value_error(d);
                            p = e;
                        }
                    }
                    run = p;
                }
                _ => p += 1,
            }
        }
        parts.push(src.get(run..e.max(run)).unwrap_or(""), run, e);
    }
}

/// Lines of a multi-line triple string's content `cs..ce`, as byte ranges with the
/// common indentation already skipped, after dropping a blank first and last line.
fn dedent_lines(b: &[u8], cs: usize, ce: usize) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut ls = cs;
    for i in cs..ce {
        if b.get(i) == Some(&b'\n') {
            let le = if i > ls && b.get(i - 1) == Some(&b'\r') {
                i - 1
            } else {
                i
            };
            lines.push((ls, le));
            ls = i + 1;
        }
    }
    lines.push((ls, ce));
    let blank = |&(s, e): &(usize, usize)| {
        b.get(s..e)
            .is_none_or(|l| l.iter().all(|c| matches!(c, b' ' | b'\t')))
    };
    if lines.first().is_some_and(blank) {
        lines.remove(0);
    }
    if lines.last().is_some_and(blank) {
        lines.pop();
    }
    let lead = |&(s, e): &(usize, usize)| {
        b.get(s..e).map_or(0, |l| {
            l.iter().take_while(|c| matches!(c, b' ' | b'\t')).count()
        })
    };
    let indent = lines
        .iter()
        .filter(|l| !blank(l))
        .map(lead)
        .min()
        .unwrap_or(0);
    lines
        .into_iter()
        .map(|l| {
            let skip = lead(&l).min(indent);
            (l.0 + skip, l.1)
        })
        .collect()
}
