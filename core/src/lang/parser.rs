//! The parser: tokens → [`File`], with error recovery.
//!
//! Structure (items, blocks, clauses, terms, lists, filters) is parsed by recursive
//! descent over the token list; atoms are classified by the `winnow` grammars in
//! the `atom` module, and strings are split into template parts by
//! [`crate::lang::template`].
//!
//! Recovery: an error inside an item drops that item (its block, if any, is still
//! parsed and its own errors reported) and parsing resumes at the item's `;` or
//! block; only the first structural error of an item is reported, to avoid cascades.
//! A missing `;` is detected when a value-like token follows a value-like token on a
//! new line that is not indented deeper than the item's first token (or when a `}` or
//! the end of the file follows), and the item is closed there, so one forgotten `;`
//! costs one diagnostic. A statement may continue on following lines when they are
//! indented deeper than its first line, or when a line ends or starts with an
//! operator or `|`. Nesting of blocks, lists, filter arguments and templates is
//! capped at [`MAX_DEPTH`]; deeper input is reported and skipped without recursion.

use crate::lang::atom::{AtomValue, classify};
use crate::lang::diag::Diagnostic;
use crate::lang::lexer::{TokKind, Token, lex, to_u32};
use crate::lang::span::{FileId, Span};
use crate::lang::syntax::{
    Block, Body, CLAUSE_KEYWORDS, Clause, Expr, File, FilterCall, Filtered, Item, ListExpr,
    Literal, OpTerm, Operator, RegexLit, Term,
};

/// Maximum nesting depth of blocks, lists, filter arguments and templates combined.
pub const MAX_DEPTH: u32 = 128;

/// At most this many diagnostics are kept per file (followed by one summary line), so
/// that garbage input cannot produce an unbounded report.
pub const MAX_DIAGNOSTICS: usize = 200;

/// The result of parsing one file: the (possibly partial) tree and every diagnostic.
///
/// When `diagnostics` contains errors, `file` holds the items that parsed cleanly;
/// items containing errors are left out.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The syntax tree.
    pub file: File,
    /// Errors and warnings, in source order within each kind of check.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// True when there is at least one error.
    pub fn has_errors(&self) -> bool {
        crate::lang::diag::has_errors(&self.diagnostics)
    }
}

/// Parse the text of file `file`.
pub fn parse(file: FileId, text: &str) -> Parsed {
    if u32::try_from(text.len()).is_err() {
        return Parsed {
            file: File::default(),
            diagnostics: vec![Diagnostic::error_global(
                "configuration file is too large (4 GiB or more)",
            )],
        };
    }
    let mut diags = Vec::new();
    let toks = lex(text, 0, text.len(), file, true, &mut diags);
    let mut p = Parser::new(text, file, toks, 0);
    p.diags = diags;
    let (items, _) = p.parse_items(None);
    p.report_unclosed();
    // Lexer and parser diagnostics interleave in source order.
    p.diags
        .sort_by_key(|d| d.span.map_or((0, 0), |s| (s.start, s.end)));
    if p.diags.len() > MAX_DIAGNOSTICS {
        let dropped = p.diags.len() - MAX_DIAGNOSTICS;
        p.diags.truncate(MAX_DIAGNOSTICS);
        p.diags.push(Diagnostic::error_global(format!(
            "{dropped} more diagnostics not shown (at most {MAX_DIAGNOSTICS} are reported per file)"
        )));
    }
    Parsed {
        file: File { items },
        diagnostics: p.diags,
    }
}

pub(crate) struct Parser<'s> {
    pub(crate) src: &'s str,
    pub(crate) file: FileId,
    toks: Vec<Token>,
    pos: usize,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) depth: u32,
    /// The item being parsed has an error (it will be dropped).
    pub(crate) poisoned: bool,
    /// End offset of the last consumed token.
    prev_end: u32,
    /// Opening braces of blocks still open at the end of the input (innermost first).
    unclosed: Vec<Span>,
}

const EOF_TOKEN: Token = Token {
    kind: TokKind::Eof,
    start: 0,
    end: 0,
    nl_before: false,
};

impl<'s> Parser<'s> {
    pub(crate) fn new(src: &'s str, file: FileId, toks: Vec<Token>, depth: u32) -> Parser<'s> {
        Parser {
            src,
            file,
            toks,
            pos: 0,
            diags: Vec::new(),
            depth,
            poisoned: false,
            prev_end: 0,
            unclosed: Vec::new(),
        }
    }

    /// Report the outermost block left open at the end of the input: by brace
    /// matching, that is the one missing its `}` (inner ones may have borrowed it).
    fn report_unclosed(&mut self) {
        let Some(&outer) = self.unclosed.last() else {
            return;
        };
        let mut d = Diagnostic::error(outer, "unclosed `{`")
            .with_help("add the matching `}` to close this block");
        let more = self.unclosed.len() - 1;
        if more > 0 {
            d = d.with_note(format!(
                "{more} more block{} inside it {} also unclosed",
                if more == 1 { "" } else { "s" },
                if more == 1 { "is" } else { "are" }
            ));
        }
        self.diags.push(d);
    }

    fn peek(&self) -> Token {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .copied()
            .unwrap_or(EOF_TOKEN)
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if t.kind != TokKind::Eof {
            self.pos += 1;
        }
        self.prev_end = t.end;
        t
    }

    pub(crate) fn span(&self, start: u32, end: u32) -> Span {
        Span::new(self.file, start, end)
    }

    fn tok_span(&self, t: Token) -> Span {
        self.span(t.start, t.end)
    }

    fn text(&self, t: Token) -> &'s str {
        self.src.get(t.start as usize..t.end as usize).unwrap_or("")
    }

    /// Report a structural error for the current item, unless one was already reported.
    pub(crate) fn item_error(&mut self, d: Diagnostic) {
        if !self.poisoned {
            self.diags.push(d);
        }
        self.poisoned = true;
    }

    /// Report an independent error (always reported) and poison the item.
    pub(crate) fn value_error(&mut self, d: Diagnostic) {
        self.diags.push(d);
        self.poisoned = true;
    }

    fn describe(&self, t: Token) -> String {
        match t.kind {
            TokKind::Eof => "end of file".to_owned(),
            TokKind::Str { .. } => "a string".to_owned(),
            _ => {
                let s = self.text(t);
                let short: String = s.chars().take(40).collect();
                format!("`{short}`")
            }
        }
    }

    /// Items until `}` (when inside a block opened at `open`) or the end of input.
    /// Returns the items and the end offset of the closing `}` if there was one.
    pub(crate) fn parse_items(&mut self, open: Option<Span>) -> (Vec<Item>, Option<u32>) {
        let mut items = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                TokKind::Eof => {
                    if let Some(open) = open {
                        self.unclosed.push(open);
                    }
                    return (items, None);
                }
                TokKind::RBrace => {
                    self.bump();
                    if open.is_some() {
                        return (items, Some(t.end));
                    }
                    self.diags.push(
                        Diagnostic::error(self.tok_span(t), "unexpected `}`")
                            .with_help("remove it, or check for a missing `{` earlier"),
                    );
                }
                TokKind::Semi => {
                    self.bump();
                    self.diags.push(
                        Diagnostic::warning(self.tok_span(t), "unnecessary `;`")
                            .with_help("remove it"),
                    );
                }
                _ => {
                    if let Some(item) = self.parse_item() {
                        items.push(item);
                    }
                }
            }
        }
    }

    /// Report a missing `;` after the last consumed token. The statement itself is
    /// complete, so the item is kept; nothing is reported if the item already has an
    /// error.
    fn missing_semi(&mut self) {
        if self.poisoned {
            return;
        }
        let at = self.span(self.prev_end, self.prev_end);
        self.diags
            .push(Diagnostic::error(at, "expected `;` after statement").with_help("add `;`"));
    }

    fn parse_item(&mut self) -> Option<Item> {
        let saved = std::mem::replace(&mut self.poisoned, false);
        let head = self.peek();
        let start = head.start;
        if head.kind == TokKind::Atom {
            let word = self.text(head);
            if CLAUSE_KEYWORDS.contains(&word) {
                self.item_error(
                    Diagnostic::error(
                        self.tok_span(head),
                        format!("`{word}` must directly follow the `}}` of a block"),
                    )
                    .with_help(match word {
                        "then" | "else" => "write `if all { … } then { … } else { … }`",
                        "do" => "write `with { … } do { … } else { … }`",
                        _ => "write `try { … } catch { … }`",
                    }),
                );
            }
        }
        let mut terms: Vec<Term> = Vec::new();
        let mut consumed_any = false;
        let mut last_kind = TokKind::Eof;
        let body;
        loop {
            let t = self.peek();
            match t.kind {
                TokKind::Semi => {
                    self.bump();
                    body = Body::Semi;
                    break;
                }
                TokKind::LBrace => {
                    body = match self.parse_block() {
                        Some(b) => Body::Block(b),
                        None => {
                            self.poisoned = true;
                            Body::Semi
                        }
                    };
                    break;
                }
                TokKind::RBrace | TokKind::Eof => {
                    self.missing_semi();
                    body = Body::Semi;
                    break;
                }
                _ if consumed_any
                    && t.nl_before
                    && ends_value(last_kind)
                    && self.starts_value(t)
                    && self.column(t.start) <= self.column(start) =>
                {
                    self.missing_semi();
                    body = Body::Semi;
                    break;
                }
                _ => {
                    let first = !consumed_any;
                    let before = self.pos;
                    if let Some(term) = self.parse_term(first) {
                        terms.push(term);
                    }
                    consumed_any = true;
                    if self.pos == before {
                        // Never loop without progress.
                        self.bump();
                    }
                    last_kind = self
                        .toks
                        .get(self.pos.saturating_sub(1))
                        .map_or(TokKind::Eof, |t| t.kind);
                }
            }
        }
        let mut clauses = Vec::new();
        if matches!(body, Body::Block(_)) {
            while let Some(c) = self.parse_clause() {
                clauses.push(c);
            }
        }
        let end = self.prev_end;
        let bad = self.poisoned;
        self.poisoned = saved;
        if bad {
            return None;
        }
        Some(Item {
            terms,
            body,
            clauses,
            span: self.span(start, end),
        })
    }

    /// Byte column (0-based) of `offset` within its line.
    fn column(&self, offset: u32) -> usize {
        let off = offset as usize;
        let before = self.src.get(..off).unwrap_or("");
        off - before.rfind('\n').map_or(0, |i| i + 1)
    }

    fn starts_value(&self, t: Token) -> bool {
        match t.kind {
            TokKind::Str { .. } | TokKind::Regex | TokKind::LBracket => true,
            TokKind::Atom => Operator::from_word(self.text(t)).is_none(),
            _ => false,
        }
    }

    fn parse_clause(&mut self) -> Option<Clause> {
        let t = self.peek();
        if t.kind != TokKind::Atom {
            return None;
        }
        let word = self.text(t);
        if !CLAUSE_KEYWORDS.contains(&word) {
            return None;
        }
        self.bump();
        let mut terms = Vec::new();
        loop {
            let n = self.peek();
            match n.kind {
                TokKind::LBrace => break,
                TokKind::Semi | TokKind::RBrace | TokKind::Eof => {
                    self.item_error(
                        Diagnostic::error(
                            self.span(self.prev_end, self.prev_end),
                            format!("expected `{{` after `{word}`"),
                        )
                        .with_help(format!(
                            "`{word}` must be followed by a block: `{word} {{ … }}`"
                        )),
                    );
                    return None;
                }
                _ => {
                    let before = self.pos;
                    if let Some(term) = self.parse_term(false) {
                        terms.push(term);
                    }
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        }
        let block = match self.parse_block() {
            Some(b) => b,
            None => {
                self.poisoned = true;
                return None;
            }
        };
        let span = self.span(t.start, block.span.end);
        Some(Clause {
            keyword: word.to_owned(),
            keyword_span: self.tok_span(t),
            terms,
            block,
            span,
        })
    }

    fn enter(&mut self, at: Span, what: &str) -> bool {
        if self.depth >= MAX_DEPTH {
            self.item_error(
                Diagnostic::error(at, format!("{what} nested too deeply"))
                    .with_note(format!(
                        "blocks, lists, filter arguments and templates may nest at most {MAX_DEPTH} levels"
                    )),
            );
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Skip a balanced group starting at the current opening token, without recursion.
    /// Stops early (without consuming) at a token in `stop` when at depth 1 or more
    /// of a non-brace group, so that `;` and braces stay visible to recovery.
    fn skip_group(&mut self, open: TokKind, close: TokKind) {
        let mut level = 0usize;
        loop {
            let t = self.peek();
            if t.kind == TokKind::Eof {
                return;
            }
            if open != TokKind::LBrace
                && matches!(t.kind, TokKind::Semi | TokKind::LBrace | TokKind::RBrace)
            {
                return;
            }
            self.bump();
            if t.kind == open {
                level += 1;
            } else if t.kind == close {
                level = level.saturating_sub(1);
                if level == 0 {
                    return;
                }
            }
        }
    }

    fn parse_block(&mut self) -> Option<Block> {
        let open = self.peek();
        let open_span = self.tok_span(open);
        if !self.enter(open_span, "blocks") {
            self.skip_group(TokKind::LBrace, TokKind::RBrace);
            return None;
        }
        self.bump();
        let (items, close) = self.parse_items(Some(open_span));
        self.leave();
        let end = close.unwrap_or(self.prev_end);
        Some(Block {
            items,
            span: self.span(open.start, end.max(open.end)),
        })
    }

    fn parse_term(&mut self, first: bool) -> Option<Term> {
        let t = self.peek();
        match t.kind {
            TokKind::Op(op) => {
                self.bump();
                Some(Term::Op(OpTerm {
                    op,
                    span: self.tok_span(t),
                }))
            }
            TokKind::Atom if !first && Operator::from_word(self.text(t)).is_some() => {
                self.bump();
                Operator::from_word(self.text(t)).map(|op| {
                    Term::Op(OpTerm {
                        op,
                        span: self.tok_span(t),
                    })
                })
            }
            _ => self.parse_expr().map(Term::Expr),
        }
    }

    /// An expression with optional `| filter(args)` calls.
    pub(crate) fn parse_expr(&mut self) -> Option<Expr> {
        let base = self.parse_primary();
        if self.peek().kind != TokKind::Pipe {
            return base;
        }
        let mut filters = Vec::new();
        let mut ok = base.is_some();
        while self.peek().kind == TokKind::Pipe {
            self.bump();
            match self.parse_filter_call() {
                Some(f) => filters.push(f),
                None => ok = false,
            }
        }
        let base = base.filter(|_| ok)?;
        let start = base.span();
        let end = filters.last().map_or(start, |f: &FilterCall| f.span);
        Some(Expr::Filtered(Filtered {
            span: start.to(end),
            base: Box::new(base),
            filters,
        }))
    }

    fn parse_filter_call(&mut self) -> Option<FilterCall> {
        let t = self.peek();
        let name = match t.kind {
            TokKind::Atom => match classify(self.text(t), t.start as usize, self.file) {
                Ok(AtomValue::Path(p)) => p.as_word().map(str::to_owned),
                _ => None,
            },
            _ => None,
        };
        let Some(name) = name else {
            let found = self.describe(t);
            self.item_error(
                Diagnostic::error(
                    self.tok_span(t),
                    format!("expected a filter name after `|`, found {found}"),
                )
                .with_help("write `value | filter` or `value | filter(arg, …)`"),
            );
            if !matches!(
                t.kind,
                TokKind::Semi | TokKind::LBrace | TokKind::RBrace | TokKind::Eof
            ) {
                self.bump();
            }
            return None;
        };
        self.bump();
        let name_span = self.tok_span(t);
        let mut args = Vec::new();
        let mut end = t.end;
        if self.peek().kind == TokKind::LParen {
            let open = self.peek();
            if !self.enter(self.tok_span(open), "filter arguments") {
                self.skip_group(TokKind::LParen, TokKind::RParen);
                return None;
            }
            self.bump();
            let result = self.parse_args(open, &mut args);
            self.leave();
            end = result?;
        }
        Some(FilterCall {
            name,
            name_span,
            args,
            span: self.span(t.start, end),
        })
    }

    /// Arguments after `(`; returns the end offset of `)`.
    fn parse_args(&mut self, open: Token, args: &mut Vec<Expr>) -> Option<u32> {
        if self.peek().kind == TokKind::RParen {
            return Some(self.bump().end);
        }
        loop {
            let a = self.parse_expr();
            let n = self.peek();
            match n.kind {
                TokKind::Comma => {
                    self.bump();
                    args.push(a?);
                }
                TokKind::RParen => {
                    self.bump();
                    args.push(a?);
                    return Some(n.end);
                }
                TokKind::Semi | TokKind::LBrace | TokKind::RBrace | TokKind::Eof => {
                    self.item_error(
                        Diagnostic::error(self.tok_span(open), "unclosed `(`")
                            .with_help("add `)` after the filter arguments"),
                    );
                    return None;
                }
                _ => {
                    let found = self.describe(n);
                    self.item_error(Diagnostic::error(
                        self.tok_span(n),
                        format!("expected `,` or `)` in filter arguments, found {found}"),
                    ));
                    return None;
                }
            }
        }
    }

    fn parse_primary(&mut self) -> Option<Expr> {
        let t = self.peek();
        match t.kind {
            TokKind::Atom => {
                self.bump();
                match classify(self.text(t), t.start as usize, self.file) {
                    Ok(AtomValue::Lit(kind)) => Some(Expr::Literal(Literal {
                        kind,
                        span: self.tok_span(t),
                    })),
                    Ok(AtomValue::Path(p)) => Some(Expr::Path(p)),
                    Err(e) => {
                        let mut d = Diagnostic::error(self.tok_span(t), e.message);
                        d.help = e.help;
                        self.value_error(d);
                        None
                    }
                }
            }
            TokKind::Str { triple } => {
                self.bump();
                self.parse_string(t, triple).map(Expr::Str)
            }
            TokKind::Regex => {
                self.bump();
                self.parse_regex(t).map(Expr::Regex)
            }
            TokKind::LBracket => self.parse_list(),
            TokKind::Error => {
                self.bump();
                self.poisoned = true;
                None
            }
            _ => {
                let found = self.describe(t);
                self.item_error(Diagnostic::error(
                    self.tok_span(t),
                    format!("expected a value, found {found}"),
                ));
                if !matches!(
                    t.kind,
                    TokKind::Semi | TokKind::LBrace | TokKind::RBrace | TokKind::Eof
                ) {
                    self.bump();
                }
                None
            }
        }
    }

    fn parse_regex(&mut self, t: Token) -> Option<RegexLit> {
        let text = self.text(t);
        let close = text.rfind('/').filter(|&i| i > 0)?;
        let pattern = text.get(1..close).unwrap_or("");
        let flags = text.get(close + 1..).unwrap_or("");
        let case_insensitive = match flags {
            "" => false,
            "i" => true,
            _ => {
                let at = self.span(t.start + to_u32(close) + 1, t.end);
                self.value_error(
                    Diagnostic::error(at, format!("unknown regex flag(s) `{flags}`"))
                        .with_help("only `i` (case-insensitive) is supported"),
                );
                return None;
            }
        };
        Some(RegexLit {
            pattern: pattern.to_owned(),
            case_insensitive,
            span: self.tok_span(t),
        })
    }

    fn parse_list(&mut self) -> Option<Expr> {
        let open = self.peek();
        let open_span = self.tok_span(open);
        if !self.enter(open_span, "lists") {
            self.skip_group(TokKind::LBracket, TokKind::RBracket);
            return None;
        }
        self.bump();
        let mut items = Vec::new();
        let mut ok = true;
        let result = loop {
            let t = self.peek();
            match t.kind {
                TokKind::RBracket => {
                    self.bump();
                    break Some(t.end);
                }
                TokKind::Comma => {
                    self.bump();
                }
                TokKind::Semi | TokKind::LBrace | TokKind::RBrace | TokKind::Eof => {
                    self.item_error(
                        Diagnostic::error(open_span, "unclosed `[`")
                            .with_help("add `]` at the end of the list"),
                    );
                    break None;
                }
                _ => {
                    let before = self.pos;
                    match self.parse_expr() {
                        Some(e) => items.push(e),
                        None => ok = false,
                    }
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        };
        self.leave();
        let end = result?;
        if !ok {
            return None;
        }
        Some(Expr::List(ListExpr {
            items,
            span: self.span(open.start, end),
        }))
    }

    /// Parse the expression of a `%{ … }` template whose body is `start..end`.
    pub(crate) fn parse_template_body(&mut self, start: usize, end: usize) -> Option<Expr> {
        let open = self.span(to_u32(start.saturating_sub(2)), to_u32(start));
        if !self.enter(open, "templates") {
            return None;
        }
        let mut sub_diags = Vec::new();
        let toks = lex(self.src, start, end, self.file, false, &mut sub_diags);
        let mut sub = Parser::new(self.src, self.file, toks, self.depth);
        sub.diags = sub_diags;
        sub.prev_end = to_u32(start);
        let result = if sub.peek().kind == TokKind::Eof {
            sub.item_error(
                Diagnostic::error(
                    self.span(open.start, to_u32(end + 1)),
                    "empty template `%{}`",
                )
                .with_help("write an expression inside, e.g. `%{aaa.identity}`"),
            );
            None
        } else {
            let e = sub.parse_expr();
            let rest = sub.peek();
            if rest.kind != TokKind::Eof {
                let found = sub.describe(rest);
                sub.item_error(
                    Diagnostic::error(sub.tok_span(rest), format!("unexpected {found} in template"))
                        .with_help("a template holds one expression and its filters: `%{ expr | filter(arg) }`"),
                );
            }
            e.filter(|_| !sub.poisoned)
        };
        self.leave();
        let bad = sub.poisoned;
        self.diags.append(&mut sub.diags);
        if bad {
            self.poisoned = true;
        }
        result
    }
}

/// Token kinds that can end a value (for missing-`;` detection).
fn ends_value(k: TokKind) -> bool {
    matches!(
        k,
        TokKind::Atom
            | TokKind::Str { .. }
            | TokKind::Regex
            | TokKind::RBracket
            | TokKind::RParen
            | TokKind::Error
    )
}
