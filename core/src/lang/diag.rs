//! Diagnostics (errors and warnings about configuration text) and their rendering as
//!
//! ```text
//! file.conf:3:15: error: expected `;` after statement
//!     secret "x"
//!               ^
//! help: add `;`
//! ```
//!
//! Used by the parser, the compiler and `boomerang check`, so every configuration
//! problem is reported the same way.

use std::fmt::Write as _;

use crate::lang::source::SourceMap;
use crate::lang::span::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// The configuration works but something deserves attention (e.g. a deprecated form).
    Warning,
}

impl Severity {
    /// The word used in rendered output (`error`, `warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A secondary location attached to a diagnostic ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it.
    pub message: String,
}

/// One problem found in configuration text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The primary location; `None` for problems that have no place in a file
    /// (e.g. a configuration path that cannot be read).
    pub span: Option<Span>,
    /// One-line description, lower case, no trailing period.
    pub message: String,
    /// Secondary locations, rendered after the primary one as `note:` entries.
    pub labels: Vec<Label>,
    /// Free-form notes without a location.
    pub notes: Vec<String>,
    /// A suggestion for how to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, Some(span), message)
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, Some(span), message)
    }

    /// An error with no location.
    pub fn error_global(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, None, message)
    }

    /// A diagnostic of any severity.
    pub fn new(severity: Severity, span: Option<Span>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            span,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// Attach a `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Attach a secondary location.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Attach a `note:` line.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render this diagnostic against the files in `sources` (see [`render`]).
    pub fn render(&self, sources: &SourceMap) -> String {
        render(self, sources)
    }
}

/// True when any diagnostic in `diags` is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Render one diagnostic:
///
/// * `file:line:col: severity: message` (line and column 1-based, column in characters),
///   or `severity: message` when it has no span;
/// * the source line, then a caret line with `^` under the first character of the
///   span and `~` under the rest of it (to the end of that line for multi-line spans);
/// * each label as `file:line:col: note: message` with its own source and caret lines;
/// * each note as `note: …`, then `help: …` if any.
///
/// The output ends with a newline.
pub fn render(diag: &Diagnostic, sources: &SourceMap) -> String {
    let mut out = String::new();
    match diag.span {
        Some(span) => location_block(
            &mut out,
            sources,
            span,
            diag.severity.as_str(),
            &diag.message,
        ),
        None => {
            let _ = writeln!(out, "{}: {}", diag.severity.as_str(), diag.message);
        }
    }
    for label in &diag.labels {
        location_block(&mut out, sources, label.span, "note", &label.message);
    }
    for note in &diag.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if let Some(help) = &diag.help {
        let _ = writeln!(out, "help: {help}");
    }
    out
}

/// Render all diagnostics, in order, concatenated.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap) -> String {
    diags.iter().map(|d| render(d, sources)).collect()
}

/// Lines longer than this (in characters) are shown as a window of this length.
const LONG_LINE: usize = 160;
/// Characters shown before the column in such a window.
const CONTEXT_BEFORE: usize = 60;

fn location_block(out: &mut String, sources: &SourceMap, span: Span, kind: &str, message: &str) {
    let Some(file) = sources.get(span.file) else {
        let _ = writeln!(out, "<unknown>: {kind}: {message}");
        return;
    };
    let (line, col) = file.line_col(span.start);
    let _ = writeln!(
        out,
        "{}:{}:{}: {}: {}",
        file.name(),
        line,
        col,
        kind,
        message
    );
    let full = file.line_text(line);
    // Width of the underline in characters, clipped to the end of the line.
    let (end_line, end_col) = file.line_col(span.end);
    let line_chars = full.chars().count();
    let last_col = if end_line == line {
        end_col
    } else {
        line_chars + 1
    };
    let mut width = last_col.saturating_sub(col).max(1);
    // Very long lines are shown as a window around the column.
    let (text, col) = if line_chars > LONG_LINE {
        let skip = col.saturating_sub(1 + CONTEXT_BEFORE);
        let shown: String = full.chars().skip(skip).take(LONG_LINE).collect();
        width = width.min(LONG_LINE);
        let prefix = if skip > 0 { "…" } else { "" };
        let suffix = if skip + LONG_LINE < line_chars {
            "…"
        } else {
            ""
        };
        (
            format!("{prefix}{shown}{suffix}"),
            col - skip + prefix.chars().count(),
        )
    } else {
        (full.to_owned(), col)
    };
    let _ = writeln!(out, "{text}");
    let mut caret = String::new();
    // Copy tabs from the source so the caret lines up however tabs are displayed.
    for ch in text.chars().take(col.saturating_sub(1)) {
        caret.push(if ch == '\t' { '\t' } else { ' ' });
    }
    caret.push('^');
    for _ in 1..width {
        caret.push('~');
    }
    let _ = writeln!(out, "{caret}");
}

/// The candidate closest to `word` by edit distance (case-insensitive), if it is close
/// enough to be a plausible typo: at most 1 edit for words up to 4 characters, 2 up to
/// 8, 3 beyond. Ties go to the earlier candidate. Used for "did you mean `listen`?".
pub fn suggest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word_l: Vec<char> = word.to_lowercase().chars().collect();
    let limit = match word_l.len() {
        0 => return None,
        1..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        let cand_l: Vec<char> = cand.to_lowercase().chars().collect();
        let d = edit_distance(&word_l, &cand_l);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let n = b.len();
    let mut prev2: Vec<usize> = vec![0; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur: Vec<usize> = vec![0; n + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut v = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a.get(i - 1) == Some(&cb) && b.get(j - 1) == Some(&ca) {
                v = v.min(prev2[j - 1] + 1);
            }
            cur[j + 1] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::span::FileId;

    #[test]
    fn suggest_finds_typos_case_insensitively() {
        let c = ["listen", "clients", "secret", "timeout"];
        assert_eq!(suggest("lisen", c), Some("listen"));
        assert_eq!(suggest("LISTEN", c), Some("listen"));
        assert_eq!(suggest("secert", c), Some("secret"));
        assert_eq!(suggest("banana", c), None);
        assert_eq!(suggest("", c), None);
    }

    #[test]
    fn render_points_at_span() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.conf", "x {\n\tfoo bar;\n}\n");
        let d = Diagnostic::error(Span::new(f, 9, 12), "bad bar").with_help("fix it");
        assert_eq!(
            d.render(&sm),
            "a.conf:2:6: error: bad bar\n\tfoo bar;\n\t    ^~~\nhelp: fix it\n"
        );
        let long = format!("{}BAD{}", "a".repeat(1000), "b".repeat(1000));
        let f2 = sm.add("b.conf", long);
        let d = Diagnostic::error(Span::new(f2, 1000, 1003), "bad");
        let r = d.render(&sm);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines[0], "b.conf:1:1001: error: bad");
        assert_eq!(lines[1].chars().count(), 162);
        let caret_col = lines[2].find('^').unwrap();
        assert_eq!(
            lines[1].chars().skip(caret_col).take(3).collect::<String>(),
            "BAD"
        );
        assert_eq!(&lines[2][caret_col..], "^~~");
        let g = Diagnostic::error(Span::new(FileId(7), 0, 0), "x");
        assert_eq!(g.render(&sm), "<unknown>: error: x\n");
    }
}
