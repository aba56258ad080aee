//! Tokenizer: turns configuration text into a flat token list.
//!
//! Atoms (words, paths, numbers, durations, IP addresses — anything that is a run of
//! `[A-Za-z0-9_.:/@-]` plus attached `[index]` suffixes) are only *delimited* here;
//! [`crate::lang::atom`] classifies them. Strings are delimited here too (including
//! nested `%{ … "…" … }` templates); [`crate::lang::template`] splits them into parts.
//!
//! The lexer never fails: a malformed piece of input produces a diagnostic and a
//! [`TokKind::Error`] token, and lexing continues, so every problem of a file is
//! reported in one run.

use crate::lang::diag::Diagnostic;
use crate::lang::span::{FileId, Span};
use crate::lang::syntax::Operator;

/// Maximum nesting of strings and `%{}` templates inside one string literal.
pub(crate) const MAX_STRING_NESTING: usize = 16;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// A word-like run: keyword, path, number, duration, address, ….
    Atom,
    /// A `"…"` (or `"""…"""` when `triple`) string, quotes included.
    Str {
        triple: bool,
    },
    /// `/pattern/flags`.
    Regex,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Semi,
    Comma,
    Pipe,
    /// An operator written with symbols (or `!starts`/`!contains`/`!ends`).
    Op(Operator),
    /// Malformed input; a diagnostic has already been produced.
    Error,
    /// End of input (always the last token).
    Eof,
}

/// One token: kind, byte range, and whether a line break precedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokKind,
    pub start: u32,
    pub end: u32,
    /// A newline occurs between the previous token and this one.
    pub nl_before: bool,
}

/// Why a string could not be delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanErrorKind {
    String,
    Triple,
    Template,
    TooDeep,
    /// A string or template left open after a `\"` inside `%{…}` (`open` is the
    /// backslash): the likely cause, so the diagnostic says it.
    EscapedQuote,
}

/// A string-delimiting failure: what, where the offending opener is, and where
/// lexing should resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub kind: ScanErrorKind,
    /// Offset of the opening `"`, `"""` or `%{` concerned.
    pub open: usize,
    /// Length of that opener.
    pub open_len: usize,
    /// Where to continue.
    pub resume: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    Plain(usize),
    Triple(usize),
    Tpl(usize),
}

/// What to scan from `pos`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanStart {
    /// `pos` is at an opening `"` (or `"""` when `triple`).
    String { triple: bool },
    /// `pos` is just after a `%{`, which is at `pos - 2`.
    TemplateBody,
}

/// Find the end of a string or template body starting at `pos`, never looking at or
/// beyond `end`. Returns the offset just after the closing `"`/`"""`, or for
/// [`ScanStart::TemplateBody`] the offset of the closing `}`.
///
/// Inside a template, `"` opens a nested plain string and `}` closes the template.
/// Escapes (`\` + next character) are skipped as pairs. Plain strings and templates
/// end at a line break (an error), except that inside a triple-quoted string a broken
/// template is abandoned and the triple string continues (the template is reported
/// when the string's parts are parsed). Works with an explicit stack: no recursion.
///
/// A `\"` inside a template is not an escape (a template holds an expression, where
/// strings nest with bare quotes): when the scan then fails, the error points at it
/// ([`ScanErrorKind::EscapedQuote`]) rather than at the template left open.
pub(crate) fn scan_string(
    b: &[u8],
    pos: usize,
    end: usize,
    start: ScanStart,
) -> Result<usize, ScanError> {
    let mut escaped_quote = None;
    scan_string_inner(b, pos, end, start, &mut escaped_quote).map_err(|e| {
        match (e.kind, escaped_quote) {
            (ScanErrorKind::Template | ScanErrorKind::String, Some(at)) => ScanError {
                kind: ScanErrorKind::EscapedQuote,
                open: at,
                open_len: 2,
                resume: e.resume,
            },
            _ => e,
        }
    })
}

/// [`scan_string`], noting in `escaped_quote` the first `\"` met inside a template.
fn scan_string_inner(
    b: &[u8],
    mut pos: usize,
    end: usize,
    start: ScanStart,
    escaped_quote: &mut Option<usize>,
) -> Result<usize, ScanError> {
    let end = end.min(b.len());
    let mut stack: Vec<Frame> = Vec::new();
    match start {
        ScanStart::String { triple: true } => {
            stack.push(Frame::Triple(pos));
            pos += 3;
        }
        ScanStart::String { triple: false } => {
            stack.push(Frame::Plain(pos));
            pos += 1;
        }
        ScanStart::TemplateBody => stack.push(Frame::Tpl(pos.saturating_sub(2))),
    }
    loop {
        let Some(&top) = stack.last() else {
            return Ok(pos);
        };
        if stack.len() > MAX_STRING_NESTING {
            let open = frame_open(stack[0]);
            return Err(ScanError {
                kind: ScanErrorKind::TooDeep,
                open,
                open_len: 1,
                resume: skip_line(b, pos, end),
            });
        }
        let Some(&c) = b.get(pos).filter(|_| pos < end) else {
            return Err(eof_error(&stack, end));
        };
        match top {
            Frame::Plain(_) => match c {
                b'\\' => pos += if b.get(pos + 1) == Some(&b'\n') { 1 } else { 2 },
                b'"' => {
                    stack.pop();
                    pos += 1;
                    if stack.is_empty() {
                        return Ok(pos);
                    }
                }
                b'\n' => match newline_in(&mut stack) {
                    Some(()) => pos += 1,
                    None => return Err(line_error(&stack_snapshot(&stack), pos)),
                },
                b'%' if b.get(pos + 1) == Some(&b'{') => {
                    stack.push(Frame::Tpl(pos));
                    pos += 2;
                }
                _ => pos += 1,
            },
            Frame::Triple(_) => match c {
                b'\\' => pos += 2,
                b'"' if b.get(pos..pos + 3) == Some(b"\"\"\"") && pos + 3 <= end => {
                    stack.pop();
                    pos += 3;
                    if stack.is_empty() {
                        return Ok(pos);
                    }
                }
                b'%' if b.get(pos + 1) == Some(&b'{') => {
                    stack.push(Frame::Tpl(pos));
                    pos += 2;
                }
                _ => pos += 1,
            },
            Frame::Tpl(_) => match c {
                b'}' => {
                    stack.pop();
                    if stack.is_empty() {
                        return Ok(pos);
                    }
                    pos += 1;
                }
                b'"' => {
                    stack.push(Frame::Plain(pos));
                    pos += 1;
                }
                b'\\' if b.get(pos + 1) == Some(&b'"') => {
                    // Scanned as before (the `"` opens a string), only remembered.
                    escaped_quote.get_or_insert(pos);
                    pos += 1;
                }
                b'\n' => match newline_in(&mut stack) {
                    Some(()) => pos += 1,
                    None => return Err(line_error(&stack_snapshot(&stack), pos)),
                },
                _ => pos += 1,
            },
        }
    }
}

fn stack_snapshot(stack: &[Frame]) -> Vec<Frame> {
    stack.to_vec()
}

fn frame_open(f: Frame) -> usize {
    match f {
        Frame::Plain(o) | Frame::Triple(o) | Frame::Tpl(o) => o,
    }
}

/// A line break inside a plain string or template: if a triple string encloses it,
/// abandon everything above that triple string and continue; otherwise fail.
fn newline_in(stack: &mut Vec<Frame>) -> Option<()> {
    let idx = stack.iter().rposition(|f| matches!(f, Frame::Triple(_)))?;
    stack.truncate(idx + 1);
    Some(())
}

fn line_error(stack: &[Frame], newline: usize) -> ScanError {
    if let Some(&Frame::Tpl(open)) = stack.iter().find(|f| matches!(f, Frame::Tpl(_))) {
        ScanError {
            kind: ScanErrorKind::Template,
            open,
            open_len: 2,
            resume: newline,
        }
    } else {
        ScanError {
            kind: ScanErrorKind::String,
            open: stack.first().map_or(newline, |f| frame_open(*f)),
            open_len: 1,
            resume: newline,
        }
    }
}

fn eof_error(stack: &[Frame], end: usize) -> ScanError {
    match stack.first() {
        Some(&Frame::Triple(open)) => ScanError {
            kind: ScanErrorKind::Triple,
            open,
            open_len: 3,
            resume: end,
        },
        _ => line_error(stack, end),
    }
}

fn skip_line(b: &[u8], pos: usize, end: usize) -> usize {
    let mut p = pos;
    while p < end && b.get(p) != Some(&b'\n') {
        p += 1;
    }
    p
}

impl ScanError {
    /// The diagnostic for this failure.
    pub(crate) fn diagnostic(&self, file: FileId, line_end: usize) -> Diagnostic {
        let open = to_u32(self.open);
        let span = match self.kind {
            // Underline from the quote to the end of the line for plain strings.
            ScanErrorKind::String => Span::new(file, open, to_u32(line_end.max(self.open + 1))),
            _ => Span::new(file, open, to_u32(self.open + self.open_len)),
        };
        match self.kind {
            ScanErrorKind::String => Diagnostic::error(span, "unterminated string")
                .with_help("add the closing `\"` before the end of the line"),
            ScanErrorKind::Triple => Diagnostic::error(span, "unterminated triple-quoted string")
                .with_help("close it with `\"\"\"`"),
            ScanErrorKind::Template => Diagnostic::error(span, "unterminated template `%{`")
                .with_help("close it with `}` on the same line"),
            ScanErrorKind::EscapedQuote => Diagnostic::error(
                span,
                "`\\\"` inside `%{…}` is not an escape: a template holds an expression, and its strings are written with bare quotes",
            )
            .with_help(
                "write `%{x | default(\"text\")}` without backslashes, even inside a \"…\" string (or use a \"\"\"…\"\"\" string)",
            ),
            ScanErrorKind::TooDeep => Diagnostic::error(
                span,
                format!("strings and templates nested more than {MAX_STRING_NESTING} levels deep"),
            ),
        }
    }
}

/// Convert an offset to `u32` (the parser rejects texts of 4 GiB or more up front).
pub(crate) fn to_u32(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// Bytes that make up atoms.
pub(crate) fn is_atom_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':' | b'/' | b'@')
}

/// Tokenize `src[start..end]`. Token offsets are offsets into `src`. When `comments`
/// is false (template bodies), `#` is an error instead of starting a comment.
pub(crate) fn lex(
    src: &str,
    start: usize,
    end: usize,
    file: FileId,
    comments: bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Token> {
    let b = src.as_bytes();
    let end = end.min(b.len());
    let mut toks: Vec<Token> = Vec::with_capacity((end.saturating_sub(start)) / 5 + 1);
    let mut pos = start;
    // Skip a byte-order mark at the start of the file.
    if pos == 0 && src.starts_with('\u{feff}') {
        pos = 3;
    }
    let mut nl = false;
    // End of the line on which a regex was found unterminated: any later `/` before
    // it is unterminated too (escape pairing is the same), so it is not rescanned.
    let mut regex_fail_end = 0usize;
    let push = |toks: &mut Vec<Token>, kind, s: usize, e: usize, nl: &mut bool| {
        toks.push(Token {
            kind,
            start: to_u32(s),
            end: to_u32(e),
            nl_before: *nl,
        });
        *nl = false;
    };
    while pos < end {
        let c = b[pos];
        match c {
            b'\n' => {
                nl = true;
                pos += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => pos += 1,
            b'#' if comments => pos = skip_line(b, pos, end),
            b'"' => {
                let triple = b.get(pos..pos + 3) == Some(b"\"\"\"") && pos + 3 <= end;
                match scan_string(b, pos, end, ScanStart::String { triple }) {
                    Ok(e) => {
                        push(&mut toks, TokKind::Str { triple }, pos, e, &mut nl);
                        pos = e;
                    }
                    Err(err) => {
                        diags.push(err.diagnostic(file, skip_line(b, pos, end)));
                        let resume = err.resume.max(pos + 1);
                        push(&mut toks, TokKind::Error, pos, resume, &mut nl);
                        pos = resume;
                    }
                }
            }
            b'/' => {
                let e = if pos < regex_fail_end {
                    None
                } else {
                    let e = scan_regex(b, pos, end);
                    if e.is_none() {
                        regex_fail_end = skip_line(b, pos, end);
                    }
                    e
                };
                match e {
                    Some(e) => {
                        push(&mut toks, TokKind::Regex, pos, e, &mut nl);
                        pos = e;
                    }
                    None => {
                        // Resume right after the `/` so the rest of the line (often
                        // `;` and `}`) still counts.
                        let le = pos + 1;
                        diags.push(
                            Diagnostic::error(
                                Span::new(file, to_u32(pos), to_u32(pos + 1)),
                                "unterminated regex",
                            )
                            .with_help("close it with `/` on the same line"),
                        );
                        push(&mut toks, TokKind::Error, pos, le, &mut nl);
                        pos = le;
                    }
                }
            }
            b'{' => single(&mut toks, TokKind::LBrace, &mut pos, &mut nl),
            b'}' => single(&mut toks, TokKind::RBrace, &mut pos, &mut nl),
            b'[' => single(&mut toks, TokKind::LBracket, &mut pos, &mut nl),
            b']' => single(&mut toks, TokKind::RBracket, &mut pos, &mut nl),
            b'(' => single(&mut toks, TokKind::LParen, &mut pos, &mut nl),
            b')' => single(&mut toks, TokKind::RParen, &mut pos, &mut nl),
            b';' => single(&mut toks, TokKind::Semi, &mut pos, &mut nl),
            b',' => single(&mut toks, TokKind::Comma, &mut pos, &mut nl),
            b'|' => single(&mut toks, TokKind::Pipe, &mut pos, &mut nl),
            b'=' | b'!' | b'<' | b'>' | b'?' | b'+' | b':' | b'-'
                if operator_at(b, pos, end).is_some() =>
            {
                if let Some((op, len)) = operator_at(b, pos, end) {
                    push(&mut toks, TokKind::Op(op), pos, pos + len, &mut nl);
                    pos += len;
                }
            }
            _ if starts_atom(b, pos, end) => {
                let e = scan_atom(b, pos, end);
                push(&mut toks, TokKind::Atom, pos, e, &mut nl);
                pos = e;
            }
            _ => {
                // Unexpected character (or a lone operator character).
                let ch = src.get(pos..).and_then(|s| s.chars().next()).unwrap_or('?');
                let len = ch.len_utf8().max(1);
                let span = Span::new(file, to_u32(pos), to_u32(pos + len));
                let d = match c {
                    b'!' => Diagnostic::error(span, "unexpected `!`")
                        .with_help("use `!=`, `!starts`, `!contains` or `!ends`"),
                    b'#' => Diagnostic::error(span, "unexpected `#` inside a template"),
                    _ => Diagnostic::error(
                        span,
                        format!("unexpected character `{}`", ch.escape_debug()),
                    ),
                };
                diags.push(d);
                push(&mut toks, TokKind::Error, pos, pos + len, &mut nl);
                pos += len;
            }
        }
    }
    toks.push(Token {
        kind: TokKind::Eof,
        start: to_u32(end),
        end: to_u32(end),
        nl_before: nl,
    });
    toks
}

fn single(toks: &mut Vec<Token>, kind: TokKind, pos: &mut usize, nl: &mut bool) {
    toks.push(Token {
        kind,
        start: to_u32(*pos),
        end: to_u32(*pos + 1),
        nl_before: *nl,
    });
    *nl = false;
    *pos += 1;
}

/// A symbolic operator at `pos`: `== != >= <= > < = => ?= += :=` and
/// `!starts`/`!contains`/`!ends`.
fn operator_at(b: &[u8], pos: usize, end: usize) -> Option<(Operator, usize)> {
    let at = |i: usize| {
        if pos + i < end {
            b.get(pos + i).copied()
        } else {
            None
        }
    };
    let c = at(0)?;
    let n = at(1);
    Some(match (c, n) {
        (b'=', Some(b'=')) => (Operator::Eq, 2),
        (b'=', Some(b'>')) => (Operator::Arrow, 2),
        (b'=', _) => (Operator::Assign, 1),
        (b'!', Some(b'=')) => (Operator::Ne, 2),
        (b'!', Some(_)) => {
            for (word, op) in [
                ("starts", Operator::NotStarts),
                ("contains", Operator::NotContains),
                ("ends", Operator::NotEnds),
            ] {
                let w = word.as_bytes();
                let e = pos + 1 + w.len();
                if e <= end
                    && b.get(pos + 1..e) == Some(w)
                    && !b.get(e).is_some_and(|&x| e < end && is_atom_byte(x))
                {
                    return Some((op, 1 + w.len()));
                }
            }
            return None;
        }
        (b'>', Some(b'=')) => (Operator::Ge, 2),
        (b'>', _) => (Operator::Gt, 1),
        (b'<', Some(b'=')) => (Operator::Le, 2),
        (b'<', _) => (Operator::Lt, 1),
        (b'?', Some(b'=')) => (Operator::AssignIfNone, 2),
        (b'+', Some(b'=')) => (Operator::Append, 2),
        (b':', Some(b'=')) => (Operator::AssignDeprecated, 2),
        _ => return None,
    })
}

/// Whether an atom starts at `pos`: a letter, digit, `_`, `@`, `::` (IPv6), or `-`
/// followed by a digit (negative number).
fn starts_atom(b: &[u8], pos: usize, end: usize) -> bool {
    let at = |i: usize| {
        if pos + i < end {
            b.get(pos + i).copied()
        } else {
            None
        }
    };
    match at(0) {
        Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'@' => true,
        Some(b':') => at(1) == Some(b':'),
        Some(b'-') => at(1).is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// The end of the atom starting at `pos`: atom bytes, stopping before `:=`, plus
/// `[index]` suffixes attached without whitespace (and `.` continuations after them).
fn scan_atom(b: &[u8], pos: usize, end: usize) -> usize {
    let mut p = pos;
    loop {
        while p < end {
            let c = b[p];
            if !is_atom_byte(c) || (c == b':' && p + 1 < end && b[p + 1] == b'=') {
                break;
            }
            p += 1;
        }
        if p > pos && p < end && b[p] == b'[' {
            let mut q = p + 1;
            while q < end && (is_atom_byte(b[q]) || b[q] == b'*') {
                q += 1;
            }
            if q < end && b[q] == b']' {
                p = q + 1;
                if p < end && b[p] == b'.' {
                    continue;
                }
            }
        }
        return p;
    }
}

/// The end of the regex starting with `/` at `pos` (after its flags), or `None` when
/// no closing `/` appears on the line.
fn scan_regex(b: &[u8], pos: usize, end: usize) -> Option<usize> {
    let mut p = pos + 1;
    while p < end {
        match b[p] {
            b'\\' if p + 1 < end && b[p + 1] != b'\n' => p += 2,
            b'\n' => return None,
            b'/' => {
                p += 1;
                while p < end && b[p].is_ascii_alphabetic() {
                    p += 1;
                }
                return Some(p);
            }
            _ => p += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokKind> {
        let mut d = Vec::new();
        lex(s, 0, s.len(), FileId(0), true, &mut d)
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn lexes_basic_shapes() {
        use TokKind::*;
        assert_eq!(
            kinds("a.b-c[0] == \"x\"; # c\n{ } /r/i"),
            vec![
                Atom,
                Op(Operator::Eq),
                Str { triple: false },
                Semi,
                LBrace,
                RBrace,
                Regex,
                Eof
            ]
        );
        assert_eq!(
            kinds("x:=1"),
            vec![Atom, Op(Operator::AssignDeprecated), Atom, Eof]
        );
        assert_eq!(
            kinds("a !starts b"),
            vec![Atom, Op(Operator::NotStarts), Atom, Eof]
        );
        assert_eq!(kinds("ip ::/0;"), vec![Atom, Atom, Semi, Eof]);
        assert_eq!(kinds("\"\"\"a\"b\"\"\""), vec![Str { triple: true }, Eof]);
        assert_eq!(
            kinds("\"a %{ f(\"}\") } b\""),
            vec![Str { triple: false }, Eof]
        );
    }

    #[test]
    fn unterminated_string_resumes_next_line() {
        let mut d = Vec::new();
        let t = lex("a \"bc\nd;", 0, 8, FileId(0), true, &mut d);
        assert_eq!(d.len(), 1);
        assert_eq!(
            t.iter().map(|t| t.kind).collect::<Vec<_>>(),
            vec![
                TokKind::Atom,
                TokKind::Error,
                TokKind::Atom,
                TokKind::Semi,
                TokKind::Eof
            ]
        );
    }
}
