//! The syntax tree of the configuration language.
//!
//! The tree is deliberately *uniform*: the parser knows the lexical grammar and the
//! block/statement structure, not the meaning of keywords. That way every construct of
//! the language parses (including ones Boomerang later rejects as unsupported, such
//! as `eap { eap-tls { … } }`), and the compiler decides what each item means.
//!
//! * A [`File`] is a list of [`Item`]s.
//! * An [`Item`] is a sequence of [`Term`]s ending either in `;` or in a `{ block }`,
//!   optionally followed by continuation [`Clause`]s (`then {…}`, `else {…}`,
//!   `else if all {…}`, `do {…}`, `catch {…}`) that belong to the same item. An
//!   `if` chain `if all {A} then {B} else if any {C} then {D} else {E}` is one item
//!   with terms `[if, all]`, block `A` and clauses `then B`, `else [if any] C`,
//!   `then D`, `else E`.
//! * A [`Term`] is an [`Expr`] or an [`Operator`]. Keywords are single-segment
//!   paths ([`Term::as_word`]); `true`/`false`/`none`/`any` are literals, but
//!   `as_word` returns them as words too, so `if any {` and `conditions all {` can be
//!   matched uniformly.
//! * An [`Expr`] is a literal, a path, a string (a [`Template`] of text and `%{…}`
//!   parts), a regex, a list, or an expression with `| filter(args)` calls.
//!
//! Every node carries a [`Span`]. Syntactic equality that ignores spans is
//! [`crate::lang::span::same_syntax`].

use std::net::IpAddr;

use crate::lang::span::{ClearSpans, Span};

/// A parsed file (or fragment): its top-level items in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// Top-level items.
    pub items: Vec<Item>,
}

/// A `{ … }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Items inside, in order.
    pub items: Vec<Item>,
    /// From the opening `{` to the closing `}` inclusive.
    pub span: Span,
}

/// How an item ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `terms ;` — a statement.
    Semi,
    /// `terms { … }` — a block.
    Block(Block),
}

/// One statement or block: `keyword args… ;` or `keyword args… { … } clauses…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The terms before the `;` or `{`. Normally non-empty; the first term is the
    /// keyword (or, in `bindings`/`mapping`/`json`/`filter` blocks, a path or string).
    pub terms: Vec<Term>,
    /// `;` or a block.
    pub body: Body,
    /// Continuation clauses after the block (`then`, `else`, `do`, `catch`).
    /// Always empty when `body` is [`Body::Semi`].
    pub clauses: Vec<Clause>,
    /// The whole item, from its first term to its `;` or last `}`.
    pub span: Span,
}

/// The words that continue a block item instead of starting a new item.
pub const CLAUSE_KEYWORDS: [&str; 4] = ["then", "else", "do", "catch"];

/// A continuation of a block item: `then { … }`, `else { … }`, `else if any { … }`,
/// `do { … }`, `catch { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// `then`, `else`, `do` or `catch`.
    pub keyword: String,
    /// Span of the keyword.
    pub keyword_span: Span,
    /// Terms between the keyword and the block (`[if, any]` for `else if any`).
    pub terms: Vec<Term>,
    /// The clause's block.
    pub block: Block,
    /// From the keyword to the closing `}`.
    pub span: Span,
}

/// One element of an item's term sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A value, path, keyword, string, ….
    Expr(Expr),
    /// A comparison, assignment or `=>` operator.
    Op(OpTerm),
}

/// An operator with its location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpTerm {
    /// Which operator.
    pub op: Operator,
    /// Where it was written.
    pub span: Span,
}

/// Operators. Word forms (`eq`, `ne`, …) are normalised to the symbol forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `==` / `eq`
    Eq,
    /// `!=` / `ne`
    Ne,
    /// `>` / `gt`
    Gt,
    /// `>=` / `ge`
    Ge,
    /// `<` / `lt`
    Lt,
    /// `<=` / `le`
    Le,
    /// `starts`
    Starts,
    /// `!starts`
    NotStarts,
    /// `contains`
    Contains,
    /// `!contains`
    NotContains,
    /// `ends`
    Ends,
    /// `!ends`
    NotEnds,
    /// `=` (assign)
    Assign,
    /// `?=` (assign if none)
    AssignIfNone,
    /// `+=` (append)
    Append,
    /// `:=` (deprecated alias of `=`)
    AssignDeprecated,
    /// `=>` (map arm)
    Arrow,
}

impl Operator {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::Ne => "!=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Starts => "starts",
            Operator::NotStarts => "!starts",
            Operator::Contains => "contains",
            Operator::NotContains => "!contains",
            Operator::Ends => "ends",
            Operator::NotEnds => "!ends",
            Operator::Assign => "=",
            Operator::AssignIfNone => "?=",
            Operator::Append => "+=",
            Operator::AssignDeprecated => ":=",
            Operator::Arrow => "=>",
        }
    }

    /// The operator written as a word in term position (`eq`, `starts`, …), if any.
    pub fn from_word(word: &str) -> Option<Operator> {
        Some(match word {
            "eq" => Operator::Eq,
            "ne" => Operator::Ne,
            "gt" => Operator::Gt,
            "ge" => Operator::Ge,
            "lt" => Operator::Lt,
            "le" => Operator::Le,
            "starts" => Operator::Starts,
            "contains" => Operator::Contains,
            "ends" => Operator::Ends,
            _ => return None,
        })
    }

    /// True for the comparison operators (everything except assignments and `=>`).
    pub fn is_comparison(self) -> bool {
        !matches!(
            self,
            Operator::Assign
                | Operator::AssignIfNone
                | Operator::Append
                | Operator::AssignDeprecated
                | Operator::Arrow
        )
    }

    /// True for `=`, `?=`, `+=`, `:=`.
    pub fn is_assignment(self) -> bool {
        matches!(
            self,
            Operator::Assign
                | Operator::AssignIfNone
                | Operator::Append
                | Operator::AssignDeprecated
        )
    }
}

/// An expression: something that has (or names) a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `true`, `42`, `5s`, `0xaa00`, `10.0.0.0/8`, ….
    Literal(Literal),
    /// A dotted path or bare word: `radius.request.attr.User-Name`, `udp`, `@execute`.
    Path(Path),
    /// A quoted string, possibly with `%{…}` parts.
    Str(Template),
    /// `/pattern/` or `/pattern/i`.
    Regex(RegexLit),
    /// `[a b c]`.
    List(ListExpr),
    /// `base | f(args) | g`.
    Filtered(Filtered),
}

impl Expr {
    /// The span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            Expr::Literal(x) => x.span,
            Expr::Path(x) => x.span,
            Expr::Str(x) => x.span,
            Expr::Regex(x) => x.span,
            Expr::List(x) => x.span,
            Expr::Filtered(x) => x.span,
        }
    }

    /// The word this expression is, if it is a single plain path segment, or one of the
    /// keyword-like literals `true`/`false`/`none`/`any`.
    pub fn as_word(&self) -> Option<&str> {
        match self {
            Expr::Path(p) => p.as_word(),
            Expr::Literal(l) => match l.kind {
                LitKind::Bool(true) => Some("true"),
                LitKind::Bool(false) => Some("false"),
                LitKind::None => Some("none"),
                LitKind::Any => Some("any"),
                _ => None,
            },
            _ => None,
        }
    }

    /// The text of a quoted string without `%{}` parts.
    pub fn as_plain_str(&self) -> Option<&str> {
        match self {
            Expr::Str(t) => t.as_plain(),
            _ => None,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// Which value.
    pub kind: LitKind,
    /// Where.
    pub span: Span,
}

/// The kinds of literal.
#[derive(Debug, Clone, PartialEq)]
pub enum LitKind {
    /// `true` / `false`.
    Bool(bool),
    /// `none`.
    None,
    /// `any`.
    Any,
    /// An integer, possibly negative (`0`, `1812`, `-1`). Bare integers in duration
    /// positions are milliseconds; that is the compiler's decision.
    Int(i128),
    /// A decimal number with a fraction (`1.5`, `-0.25`). Always finite.
    Float(f64),
    /// A duration with units (`5s`, `1m30s`, `2M`).
    Duration(DurationLit),
    /// `0x…` bytes.
    Bytes(Vec<u8>),
    /// A bare IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A bare CIDR prefix (`10.0.0.0/8`, `::/0`).
    Prefix {
        /// Network address as written.
        addr: IpAddr,
        /// Prefix length (validated: ≤ 32 for IPv4, ≤ 128 for IPv6).
        len: u8,
    },
}

/// Duration units. Case matters: `m` is minutes and `M` is months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    /// `ms`
    Millis,
    /// `s`
    Seconds,
    /// `m`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`
    Weeks,
    /// `M` (30 days)
    Months,
    /// `y` (365 days)
    Years,
}

impl DurationUnit {
    /// Length of one unit in milliseconds.
    pub fn millis(self) -> u64 {
        const S: u64 = 1000;
        const D: u64 = 86_400 * S;
        match self {
            DurationUnit::Millis => 1,
            DurationUnit::Seconds => S,
            DurationUnit::Minutes => 60 * S,
            DurationUnit::Hours => 3600 * S,
            DurationUnit::Days => D,
            DurationUnit::Weeks => 7 * D,
            DurationUnit::Months => 30 * D,
            DurationUnit::Years => 365 * D,
        }
    }

    /// The suffix as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::Millis => "ms",
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "m",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
            DurationUnit::Weeks => "w",
            DurationUnit::Months => "M",
            DurationUnit::Years => "y",
        }
    }
}

/// A duration literal as written (`1m30s` = `[(1, m), (30, s)]`). The parser only
/// accepts durations whose total fits in `u64` milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationLit {
    /// Amount/unit pairs in written order (non-empty).
    pub parts: Vec<(u64, DurationUnit)>,
}

impl DurationLit {
    /// Total length in milliseconds, `None` on overflow.
    pub fn millis(&self) -> Option<u64> {
        self.parts.iter().try_fold(0u64, |acc, &(n, u)| {
            n.checked_mul(u.millis()).and_then(|x| acc.checked_add(x))
        })
    }
}

/// A path: dot-separated segments, each with an optional tag and index.
///
/// `radius.request.attr.User-Name`, `radius.dict.Acct-Status-Type.Alive`,
/// `connection.cert.subject_alt.email[0]`, `Tunnel-Type:1`, `@execute`, `udp`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Non-empty list of segments.
    pub segments: Vec<Segment>,
    /// Where.
    pub span: Span,
}

impl Path {
    /// The path as one word, if it has a single segment without tag or index.
    pub fn as_word(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [s] if s.tag.is_none() && s.index.is_none() => Some(&s.name),
            _ => None,
        }
    }

    /// True when every segment is a plain name (no tags, no indices).
    pub fn is_plain(&self) -> bool {
        self.segments
            .iter()
            .all(|s| s.tag.is_none() && s.index.is_none())
    }

    /// The segment names (ignoring tags and indices).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.name.as_str())
    }

    /// True when the segment names are exactly `names` (tags and indices ignored).
    pub fn starts_with(&self, names: &[&str]) -> bool {
        self.segments.len() >= names.len()
            && self.segments.iter().zip(names).all(|(s, n)| s.name == *n)
    }
}

impl std::fmt::Display for Path {
    /// The path in source form: `a.b:2[3]`, `x[n]`, `y[*]`, `m[k.j]` (what the
    /// printer writes, see [`crate::lang::print`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&s.name)?;
            if let Some(t) = s.tag {
                write!(f, ":{t}")?;
            }
            match &s.index {
                None => {}
                Some(Index::Pos(n)) => write!(f, "[{n}]")?,
                Some(Index::Last) => f.write_str("[n]")?,
                Some(Index::All) => f.write_str("[*]")?,
                Some(Index::Key(k)) => write!(f, "[{k}]")?,
            }
        }
        Ok(())
    }
}

/// One segment of a [`Path`]: `name[:tag][index]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The name (`radius`, `User-Name`, `@execute`, `0` in `http.path.0`).
    pub name: String,
    /// RFC 2868 tag written as `Name:1`.
    pub tag: Option<u32>,
    /// `[0]`, `[n]`, `[*]` or `[key.path]`.
    pub index: Option<Index>,
    /// Where.
    pub span: Span,
}

/// A segment index.
#[derive(Debug, Clone, PartialEq)]
pub enum Index {
    /// `[N]` — the N-th value (0-based).
    Pos(u64),
    /// `[n]` — the last value.
    Last,
    /// `[*]` — all values.
    All,
    /// `[other.path]` — a lookup key (`cache.groups[aaa.identity]`).
    Key(Box<Path>),
}

/// A quoted string: literal text and `%{ expr | filter }` parts.
///
/// Canonical form (what the parser produces): no empty text parts, no two adjacent
/// text parts. `""` has no parts. Whether it was written `"…"` or `"""…"""` is not
/// recorded; the printer picks a form.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The parts in order.
    pub parts: Vec<TemplatePart>,
    /// The whole string including its quotes.
    pub span: Span,
}

impl Template {
    /// The text, if the string has no `%{}` parts.
    pub fn as_plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [TemplatePart::Text { text, .. }] => Some(text),
            _ => None,
        }
    }

    /// True when the string has at least one `%{}` part.
    pub fn has_expressions(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, TemplatePart::Expr { .. }))
    }
}

/// One part of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    /// Literal text, escapes already processed.
    Text {
        /// The text.
        text: String,
        /// The source range it came from (approximate for dedented triple strings).
        span: Span,
    },
    /// `%{ expr }`; the expression's own spans point inside the string.
    Expr {
        /// The expression (with filters as [`Expr::Filtered`]).
        expr: Expr,
        /// From `%{` to `}`.
        span: Span,
    },
}

/// `/pattern/flags`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegexLit {
    /// The text between the slashes, verbatim (`\/` stays `\/`).
    pub pattern: String,
    /// `/…/i`.
    pub case_insensitive: bool,
    /// Where.
    pub span: Span,
}

/// `[a b c]` (elements whitespace- or comma-separated).
#[derive(Debug, Clone, PartialEq)]
pub struct ListExpr {
    /// Elements in order.
    pub items: Vec<Expr>,
    /// From `[` to `]`.
    pub span: Span,
}

/// `base | f(args) | g`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filtered {
    /// The filtered value (never itself [`Expr::Filtered`] when produced by the parser).
    pub base: Box<Expr>,
    /// The filters, applied left to right (non-empty).
    pub filters: Vec<FilterCall>,
    /// The whole expression.
    pub span: Span,
}

/// One filter call: `name` or `name(arg, …)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterCall {
    /// Filter name.
    pub name: String,
    /// Span of the name.
    pub name_span: Span,
    /// Arguments; empty both for `f` and `f()`.
    pub args: Vec<Expr>,
    /// From the name to the closing `)` (or the name).
    pub span: Span,
}

impl Term {
    /// The span of the term.
    pub fn span(&self) -> Span {
        match self {
            Term::Expr(e) => e.span(),
            Term::Op(o) => o.span,
        }
    }

    /// The expression, if the term is one.
    pub fn as_expr(&self) -> Option<&Expr> {
        match self {
            Term::Expr(e) => Some(e),
            Term::Op(_) => None,
        }
    }

    /// The operator, if the term is one.
    pub fn as_op(&self) -> Option<Operator> {
        match self {
            Term::Op(o) => Some(o.op),
            Term::Expr(_) => None,
        }
    }

    /// See [`Expr::as_word`].
    pub fn as_word(&self) -> Option<&str> {
        self.as_expr().and_then(Expr::as_word)
    }

    /// The text of a plain (template-free) string term.
    pub fn as_plain_str(&self) -> Option<&str> {
        self.as_expr().and_then(Expr::as_plain_str)
    }

    /// The path, if the term is one.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Term::Expr(Expr::Path(p)) => Some(p),
            _ => None,
        }
    }
}

impl Item {
    /// The first term as a word: the item's keyword (`listen`, `@execute`, `if`).
    pub fn keyword(&self) -> Option<&str> {
        self.terms.first().and_then(Term::as_word)
    }

    /// The span of the first term (the whole item if it has none).
    pub fn keyword_span(&self) -> Span {
        self.terms.first().map_or(self.span, Term::span)
    }

    /// The terms after the first one.
    pub fn args(&self) -> &[Term] {
        self.terms.get(1..).unwrap_or(&[])
    }

    /// The item's name for `keyword "NAME" …` forms: the second term, when it is a
    /// string without `%{}` parts.
    pub fn name_string(&self) -> Option<&str> {
        self.terms.get(1).and_then(Term::as_plain_str)
    }

    /// The block, for block items.
    pub fn block(&self) -> Option<&Block> {
        match &self.body {
            Body::Block(b) => Some(b),
            Body::Semi => None,
        }
    }

    /// The items of the block (empty for statements).
    pub fn children(&self) -> &[Item] {
        self.block().map_or(&[], |b| b.items.as_slice())
    }

    /// True for `…;` items.
    pub fn is_statement(&self) -> bool {
        matches!(self.body, Body::Semi)
    }

    /// The continuation clauses (`then`, `else`, …).
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// The operator terms and their positions in `terms`.
    pub fn operators(&self) -> impl Iterator<Item = (usize, Operator)> + '_ {
        self.terms
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_op().map(|o| (i, o)))
    }
}

impl Clause {
    /// The clause's terms as words, joined with spaces (`"if any"` for `else if any`).
    pub fn words(&self) -> Option<String> {
        let words: Option<Vec<&str>> = self.terms.iter().map(Term::as_word).collect();
        words.map(|w| w.join(" "))
    }
}

impl ClearSpans for File {
    fn clear_spans(&mut self) {
        self.items.clear_spans();
    }
}

impl ClearSpans for Block {
    fn clear_spans(&mut self) {
        self.items.clear_spans();
        self.span.clear_spans();
    }
}

impl ClearSpans for Item {
    fn clear_spans(&mut self) {
        self.terms.clear_spans();
        if let Body::Block(b) = &mut self.body {
            b.clear_spans();
        }
        self.clauses.clear_spans();
        self.span.clear_spans();
    }
}

impl ClearSpans for Clause {
    fn clear_spans(&mut self) {
        self.keyword_span.clear_spans();
        self.terms.clear_spans();
        self.block.clear_spans();
        self.span.clear_spans();
    }
}

impl ClearSpans for Term {
    fn clear_spans(&mut self) {
        match self {
            Term::Expr(e) => e.clear_spans(),
            Term::Op(o) => o.span.clear_spans(),
        }
    }
}

impl ClearSpans for Expr {
    fn clear_spans(&mut self) {
        match self {
            Expr::Literal(l) => l.span.clear_spans(),
            Expr::Path(p) => p.clear_spans(),
            Expr::Str(t) => t.clear_spans(),
            Expr::Regex(r) => r.span.clear_spans(),
            Expr::List(l) => {
                l.items.clear_spans();
                l.span.clear_spans();
            }
            Expr::Filtered(f) => {
                f.base.clear_spans();
                f.filters.clear_spans();
                f.span.clear_spans();
            }
        }
    }
}

impl ClearSpans for Path {
    fn clear_spans(&mut self) {
        self.segments.clear_spans();
        self.span.clear_spans();
    }
}

impl ClearSpans for Segment {
    fn clear_spans(&mut self) {
        if let Some(Index::Key(p)) = &mut self.index {
            p.clear_spans();
        }
        self.span.clear_spans();
    }
}

impl ClearSpans for Template {
    fn clear_spans(&mut self) {
        self.parts.clear_spans();
        self.span.clear_spans();
    }
}

impl ClearSpans for TemplatePart {
    fn clear_spans(&mut self) {
        match self {
            TemplatePart::Text { span, .. } => span.clear_spans(),
            TemplatePart::Expr { expr, span } => {
                expr.clear_spans();
                span.clear_spans();
            }
        }
    }
}

impl ClearSpans for FilterCall {
    fn clear_spans(&mut self) {
        self.args.clear_spans();
        self.name_span.clear_spans();
        self.span.clear_spans();
    }
}
