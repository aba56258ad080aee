//! Shared machinery of the section compiler: the diagnostics sink, the checks every
//! block shares (which keys it may hold, keys given twice, unsupported constructs) and
//! the readers of typed statement values (`port 2083;`, `timeout 5s;`, `ip ::1;`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::eval::convert::{parse_duration, parse_ip, parse_prefix};
use crate::eval::filters::{Filter, NoAttrs};
use crate::eval::text::to_text;
use crate::eval::value::{IpPrefix, Value};
use crate::lang::compile::lower::LowerCx;
use crate::lang::compile::names::Names;
use crate::lang::diag::{Diagnostic, suggest};
use crate::lang::load::{join, parent_dir};
use crate::lang::source::SourceMap;
use crate::lang::span::{FileId, Span};
use crate::lang::syntax::{
    Block, Body, Expr, FilterCall, Item, LitKind, Literal, Template, TemplatePart, Term,
};
use crate::radius::dictionary::Dictionary;

/// The compiler's working state: where the text came from, the environment that
/// `%{env.X}` reads, and every diagnostic found so far.
pub(crate) struct Cx<'a> {
    /// All loaded files (for paths relative to a file and for quoting source text).
    pub sources: &'a SourceMap,
    /// The process environment for `%{env.NAME}` outside pipelines.
    pub env: &'a BTreeMap<String, String>,
    /// Errors and warnings, in the order found.
    pub diags: Vec<Diagnostic>,
    /// The include item that loaded each included file (see
    /// [`crate::lang::Loaded::include_sites`]).
    include_sites: &'a BTreeMap<FileId, Span>,
    /// Pairs of loads of one file already reported as "loaded twice".
    twice_reported: BTreeSet<(FileId, FileId)>,
}

/// What pipeline lowering needs besides the diagnostics sink.
#[derive(Clone, Copy)]
pub(crate) struct Lowering<'a> {
    /// The dictionary (built-in plus configured files).
    pub dictionary: &'a Dictionary,
    /// Every backend, query and named pipeline.
    pub names: &'a Names,
}

impl<'a> Cx<'a> {
    /// A fresh compiler state.
    pub fn new(
        sources: &'a SourceMap,
        env: &'a BTreeMap<String, String>,
        include_sites: &'a BTreeMap<FileId, Span>,
    ) -> Cx<'a> {
        Cx {
            sources,
            env,
            diags: Vec::new(),
            include_sites,
            twice_reported: BTreeSet::new(),
        }
    }

    /// Report something defined again at `span` (`what`, e.g. "policy `P0`"), first
    /// defined at `prev`, with `d` (the usual "duplicate …" diagnostic). When the two
    /// are the same place in two loads of one file (a file included twice), that is
    /// said instead, naming both include sites — once per pair of loads, as every
    /// name of the file clashes the same way.
    pub fn duplicate(&mut self, d: Diagnostic, prev: Span, span: Span, what: &str) {
        let Some((first, second)) = self.same_place_loaded_twice(prev, span) else {
            self.push(d);
            return;
        };
        if !self.twice_reported.insert((first.file, second.file)) {
            return;
        }
        let path = self.sources.name(second.file).to_owned();
        let first_site = self.include_sites.get(&first.file).copied();
        let second_site = self.include_sites.get(&second.file).copied();
        let verb = if first_site.is_some() && second_site.is_some() {
            "included"
        } else {
            "loaded"
        };
        let mut d = Diagnostic::error(
            second_site.unwrap_or(span),
            format!("`{path}` is {verb} twice, so {what} in it is defined twice"),
        );
        match first_site {
            Some(site) => d = d.with_label(site, "first included here"),
            None => {
                d = d.with_note(format!(
                    "`{path}` is also loaded as a configuration file of its own (given with `-c`, or in a directory given with `-c`)"
                ));
            }
        }
        if second_site.is_none() {
            d = d.with_note(format!(
                "`{path}` is loaded here as a configuration file of its own (given with `-c`, or in a directory given with `-c`)"
            ));
        }
        self.push(d.with_help(
            "include each file once: its items are spliced in where it is included, and a second copy defines its names again",
        ));
    }

    /// When `a` and `b` are the same offset of two loads of one file, the outermost
    /// such pair (climbing through include sites while those are themselves the same
    /// place in two loads of one including file).
    fn same_place_loaded_twice(&self, a: Span, b: Span) -> Option<(Span, Span)> {
        let same = |x: Span, y: Span| {
            x.file != y.file
                && x.start == y.start
                && x.end == y.end
                && self.sources.name(x.file) == self.sources.name(y.file)
        };
        if !same(a, b) {
            return None;
        }
        let (mut a, mut b) = (a, b);
        while let (Some(&sa), Some(&sb)) = (
            self.include_sites.get(&a.file),
            self.include_sites.get(&b.file),
        ) {
            if !same(sa, sb) {
                break;
            }
            (a, b) = (sa, sb);
        }
        Some((a, b))
    }

    /// Record a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Record an error at `span`.
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message));
    }

    /// Record a warning at `span`.
    pub fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::warning(span, message));
    }

    /// Report `construct` (written at `span`) as outside what Boomerang implements.
    pub fn unsupported(&mut self, span: Span, construct: &str) {
        self.diags.push(Diagnostic::error(
            span,
            format!("`{construct}` is not supported"),
        ));
    }

    /// The number of errors recorded so far (to tell whether a step added any).
    pub fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// The source text under `span` (empty if it cannot be found).
    pub fn text(&self, span: Span) -> &'a str {
        self.sources
            .text(span.file)
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// `path` resolved against the directory of the file `span` is in (absolute
    /// paths stand alone), normalised with `/` separators.
    pub fn resolve_path(&self, span: Span, path: &str) -> String {
        let dir = parent_dir(self.sources.name(span.file));
        join(dir, path)
    }

    /// Run a lowering entry point with this compiler's diagnostics sink.
    pub fn lower<T>(&mut self, lw: Lowering<'_>, f: impl FnOnce(&mut LowerCx<'_>) -> T) -> T {
        let mut lcx = LowerCx {
            dictionary: lw.dictionary,
            names: lw.names,
            diagnostics: &mut self.diags,
        };
        f(&mut lcx)
    }

    // ----- block structure ------------------------------------------------------

    /// The block of `kw { … }` (no name, no arguments).
    pub fn plain_block<'i>(&mut self, item: &'i Item) -> Option<&'i Block> {
        let kw = item.keyword().unwrap_or("?");
        self.no_clauses(item);
        let block = match &item.body {
            Body::Block(b) => b,
            Body::Semi => {
                self.push(
                    Diagnostic::error(item.keyword_span(), format!("`{kw}` must be a block"))
                        .with_help(format!("write `{kw} {{ … }}`")),
                );
                return None;
            }
        };
        if let Some(extra) = item.args().first() {
            self.error(
                extra.span(),
                format!(
                    "unexpected `{}` after `{kw}`; write `{kw} {{ … }}`",
                    self.text(extra.span())
                ),
            );
        }
        Some(block)
    }

    /// The name and block of `kw "NAME" { … }`.
    pub fn named_block<'i>(&mut self, item: &'i Item) -> Option<(String, Span, &'i Block)> {
        let kw = item.keyword().unwrap_or("?");
        self.no_clauses(item);
        let name = match item.args() {
            [] => {
                self.push(
                    Diagnostic::error(item.keyword_span(), format!("`{kw}` needs a name"))
                        .with_help(format!("write `{kw} \"NAME\" {{ … }}`")),
                );
                return None;
            }
            [term] => self.name_term(kw, term)?,
            [_, extra, ..] => {
                self.error(
                    extra.span(),
                    format!(
                        "unexpected `{}` after the name of `{kw}`",
                        self.text(extra.span())
                    ),
                );
                return None;
            }
        };
        match &item.body {
            Body::Block(b) => Some((name.0, name.1, b)),
            Body::Semi => {
                self.push(
                    Diagnostic::error(item.keyword_span(), format!("`{kw}` must be a block"))
                        .with_help(format!("write `{kw} \"{}\" {{ … }}`", name.0)),
                );
                None
            }
        }
    }

    fn no_clauses(&mut self, item: &Item) {
        if let Some(c) = item.clauses.first() {
            self.error(
                c.keyword_span,
                format!(
                    "unexpected `{}` here: it only follows `if`, `with` or `try` in pipelines",
                    c.keyword
                ),
            );
        }
    }

    /// A name written as a plain string (or a bare word).
    fn name_term(&mut self, kw: &str, term: &Term) -> Option<(String, Span)> {
        match term {
            Term::Expr(e) => self.name_expr(kw, e),
            Term::Op(o) => {
                self.push(
                    Diagnostic::error(
                        o.span,
                        format!(
                            "expected a quoted name after `{kw}`, found `{}`",
                            o.op.as_str()
                        ),
                    )
                    .with_help(format!("write `{kw} \"NAME\"`")),
                );
                None
            }
        }
    }

    fn name_expr(&mut self, kw: &str, e: &Expr) -> Option<(String, Span)> {
        match e {
            Expr::Str(t) => match t.as_plain() {
                Some(s) if !s.is_empty() => Some((s.to_owned(), t.span)),
                Some(_) => {
                    self.error(t.span, format!("the name of `{kw}` is empty"));
                    None
                }
                None => {
                    self.error(t.span, "names cannot contain `%{…}`");
                    None
                }
            },
            e => match e.as_word() {
                Some(w) => Some((w.to_owned(), e.span())),
                None => {
                    self.push(
                        Diagnostic::error(
                            e.span(),
                            format!(
                                "expected a quoted name after `{kw}`, found `{}`",
                                self.text(e.span())
                            ),
                        )
                        .with_help(format!("write `{kw} \"NAME\"`")),
                    );
                    None
                }
            },
        }
    }

    /// Report an item that is not one of the keys valid at this place: unsupported
    /// constructs as such, anything else as unknown with a suggestion from `valid`.
    pub fn other_key(&mut self, item: &Item, place: &str, valid: &[&str], unsupported: &[&str]) {
        let span = item.keyword_span();
        let Some(kw) = item.keyword() else {
            self.error(span, format!("unexpected `{}` in {place}", self.text(span)));
            return;
        };
        if unsupported.contains(&kw) {
            self.unsupported(span, kw);
            return;
        }
        let at = format!("@{kw}");
        if valid.contains(&at.as_str()) || unsupported.contains(&at.as_str()) {
            self.warn(span, format!("deprecated: write `{at}`"));
            if unsupported.contains(&at.as_str()) {
                self.unsupported(span, &at);
            }
            return;
        }
        let mut d = Diagnostic::error(span, format!("unknown key `{kw}` in {place}"));
        if let Some(s) = suggest(kw, valid.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.push(d);
    }

    /// The pipeline stage an item names, accepting the deprecated `@`-less spelling
    /// with a warning. `stages` are the `@…` names meaningful at this place.
    pub fn stage_keyword(&mut self, item: &Item, stages: &[&'static str]) -> Option<&'static str> {
        let kw = item.keyword()?;
        if let Some(s) = stages.iter().find(|s| **s == kw) {
            return Some(s);
        }
        let s = stages.iter().find(|s| s.strip_prefix('@') == Some(kw))?;
        self.warn(item.keyword_span(), format!("deprecated: write `{s}`"));
        Some(s)
    }

    // ----- statement values -----------------------------------------------------

    /// The single value of `kw VALUE;`.
    pub fn one_arg<'i>(&mut self, item: &'i Item) -> Option<&'i Expr> {
        let kw = item.keyword().unwrap_or("?");
        if let Body::Block(b) = &item.body {
            self.push(
                Diagnostic::error(b.span, format!("`{kw}` takes a value, not a block"))
                    .with_help(format!("write `{kw} VALUE;`")),
            );
            return None;
        }
        match item.args() {
            [Term::Expr(e)] => Some(e),
            [] => {
                self.push(
                    Diagnostic::error(item.keyword_span(), format!("`{kw}` needs a value"))
                        .with_help(format!("write `{kw} VALUE;`")),
                );
                None
            }
            [Term::Op(o), ..] => {
                self.push(
                    Diagnostic::error(
                        o.span,
                        format!("unexpected `{}` after `{kw}`", o.op.as_str()),
                    )
                    .with_help(format!("write `{kw} VALUE;`")),
                );
                None
            }
            [_, extra, ..] => {
                self.error(
                    extra.span(),
                    format!(
                        "unexpected `{}` after the value of `{kw}`",
                        self.text(extra.span())
                    ),
                );
                None
            }
        }
    }

    /// A string value (quoted; `%{env.NAME}` expanded; a bare word is taken as text).
    pub fn string(&mut self, item: &Item) -> Option<(String, Span)> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        match e {
            Expr::Str(t) => self.expand(t).map(|s| (s, t.span)),
            e if e.as_word().is_some() => {
                Some((e.as_word().unwrap_or_default().to_owned(), e.span()))
            }
            other => {
                self.push(
                    Diagnostic::error(
                        other.span(),
                        format!(
                            "`{kw}` expects a quoted string, found `{}`",
                            self.text(other.span())
                        ),
                    )
                    .with_help(format!("write `{kw} \"…\";`")),
                );
                None
            }
        }
    }

    /// A name referring to another configuration entry (`clients "LIST";`).
    pub fn name_ref(&mut self, item: &Item) -> Option<(String, Span)> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        self.name_expr(kw, e)
    }

    /// One of `choices`, written as a bare word or a string.
    pub fn word(&mut self, item: &Item, choices: &[&'static str]) -> Option<&'static str> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        let written = match e {
            Expr::Str(t) => t.as_plain(),
            e => e.as_word(),
        };
        let list = choices
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(w) = written else {
            self.push(
                Diagnostic::error(e.span(), format!("`{kw}` expects one of {list}"))
                    .with_help(format!("write `{kw} {};`", choices.first().unwrap_or(&"…"))),
            );
            return None;
        };
        if let Some(c) = choices.iter().find(|c| c.eq_ignore_ascii_case(w)) {
            return Some(c);
        }
        let mut d = Diagnostic::error(e.span(), format!("unknown value `{w}` for `{kw}`"));
        d = match suggest(w, choices.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("expected one of {list}")),
        };
        self.push(d);
        None
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, item: &Item) -> Option<bool> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        if let Expr::Literal(Literal {
            kind: LitKind::Bool(b),
            ..
        }) = e
        {
            return Some(*b);
        }
        self.push(Diagnostic::error(
            e.span(),
            format!(
                "`{kw}` expects `true` or `false`, found `{}`",
                self.text(e.span())
            ),
        ));
        None
    }

    /// A non-negative integer no larger than `max`.
    pub fn integer(&mut self, item: &Item, max: u64) -> Option<u64> {
        self.integer_in(item, 0, max)
    }

    /// An integer from `min` to `max` (both included).
    pub fn integer_in(&mut self, item: &Item, min: u64, max: u64) -> Option<u64> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        if let Expr::Literal(l) = e
            && let LitKind::Int(n) = l.kind
        {
            if n >= i128::from(min) && n <= i128::from(max) {
                return u64::try_from(n).ok();
            }
            self.error(
                e.span(),
                format!("`{kw}` must be between {min} and {max}, not {n}"),
            );
            return None;
        }
        self.error(
            e.span(),
            format!("`{kw}` expects a number, found `{}`", self.text(e.span())),
        );
        None
    }

    /// A port number (1–65535).
    pub fn port(&mut self, item: &Item) -> Option<u16> {
        let n = self.integer_in(item, 1, u64::from(u16::MAX))?;
        u16::try_from(n).ok()
    }

    /// A duration: `5s`, `1m30s`, a bare integer in milliseconds, or a quoted duration.
    pub fn duration(&mut self, item: &Item) -> Option<Duration> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        match e {
            Expr::Literal(l) => match &l.kind {
                LitKind::Duration(d) => match d.millis() {
                    Some(ms) => return Some(Duration::from_millis(ms)),
                    None => {
                        self.error(l.span, "duration is too long");
                        return None;
                    }
                },
                LitKind::Int(n) if *n >= 0 => {
                    if let Ok(ms) = u64::try_from(*n) {
                        return Some(Duration::from_millis(ms));
                    }
                    self.error(l.span, "duration is too long");
                    return None;
                }
                LitKind::Int(n) => {
                    self.error(l.span, format!("`{kw}` cannot be negative ({n})"));
                    return None;
                }
                _ => {}
            },
            Expr::Str(t) => {
                if let Some(s) = t.as_plain() {
                    return match parse_duration(s) {
                        Ok(d) => Some(d),
                        Err(err) => {
                            self.error(t.span, format!("invalid duration for `{kw}`: {err}"));
                            None
                        }
                    };
                }
            }
            _ => {}
        }
        self.push(
            Diagnostic::error(
                e.span(),
                format!("`{kw}` expects a duration, found `{}`", self.text(e.span())),
            )
            .with_help("write a duration such as `5s`, `1m30s`, or a number of milliseconds"),
        );
        None
    }

    /// An IP address, bare or quoted.
    pub fn ip(&mut self, item: &Item) -> Option<IpAddr> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        match e {
            Expr::Literal(l) => {
                if let LitKind::Ip(ip) = l.kind {
                    return Some(ip);
                }
            }
            Expr::Str(t) => {
                if let Some(ip) = t.as_plain().and_then(parse_ip) {
                    return Some(ip);
                }
            }
            _ => {}
        }
        self.error(
            e.span(),
            format!(
                "`{kw}` expects an IP address, found `{}`",
                self.text(e.span())
            ),
        );
        None
    }

    /// An IP address or prefix (`192.0.2.1`, `192.0.2.0/24`, `::/0`).
    pub fn prefix(&mut self, item: &Item) -> Option<IpPrefix> {
        let kw = item.keyword().unwrap_or("?");
        let e = self.one_arg(item)?;
        match e {
            Expr::Literal(l) => match l.kind {
                LitKind::Ip(ip) => return IpPrefix::new(ip, IpPrefix::max_len(&ip)),
                LitKind::Prefix { addr, len } => {
                    if let Some(p) = IpPrefix::new(addr, len) {
                        return Some(p);
                    }
                }
                _ => {}
            },
            Expr::Str(t) => {
                if let Some(s) = t.as_plain() {
                    if let Some(ip) = parse_ip(s) {
                        return IpPrefix::new(ip, IpPrefix::max_len(&ip));
                    }
                    if let Ok(p) = parse_prefix(s) {
                        return Some(p);
                    }
                }
            }
            _ => {}
        }
        self.error(
            e.span(),
            format!(
                "`{kw}` expects an IP address or prefix, found `{}`",
                self.text(e.span())
            ),
        );
        None
    }

    // ----- strings outside pipelines -------------------------------------------

    /// The text of a string outside pipelines: literal parts as written, `%{env.NAME}`
    /// parts (optionally filtered) from the environment. Anything else is an error.
    pub fn expand(&mut self, t: &Template) -> Option<String> {
        let mut out = String::new();
        let mut ok = true;
        for part in &t.parts {
            match part {
                TemplatePart::Text { text, .. } => out.push_str(text),
                TemplatePart::Expr { expr, span } => match self.env_value(expr, *span) {
                    Some(v) => out.push_str(&v),
                    None => ok = false,
                },
            }
        }
        ok.then_some(out)
    }

    fn env_value(&mut self, expr: &Expr, span: Span) -> Option<String> {
        let (base, filters): (&Expr, &[FilterCall]) = match expr {
            Expr::Filtered(f) => (&f.base, &f.filters),
            e => (e, &[]),
        };
        let name = match base {
            Expr::Path(p) if p.is_plain() && p.segments.len() == 2 && p.starts_with(&["env"]) => {
                p.segments.get(1).map(|s| s.name.clone())
            }
            _ => None,
        };
        let Some(name) = name else {
            self.push(
                Diagnostic::error(
                    base.span(),
                    format!(
                        "`{}` cannot be read here: outside pipelines only `env.*` is available",
                        self.text(base.span())
                    ),
                )
                .with_help("use `%{env.NAME}` to read the environment variable NAME"),
            );
            return None;
        };
        let Some(value) = self.env.get(&name) else {
            self.push(
                Diagnostic::error(span, format!("environment variable `{name}` is not set"))
                    .with_help(format!("set {name} in the environment of the process")),
            );
            return None;
        };
        let mut value = Value::String(value.clone());
        for f in filters {
            let Some(filter) = Filter::from_name(&f.name) else {
                self.error(f.name_span, format!("unknown filter `{}`", f.name));
                return None;
            };
            let mut args = Vec::new();
            for a in &f.args {
                match a {
                    Expr::Str(t) if t.as_plain().is_some() => {
                        args.push(Value::String(t.as_plain().unwrap_or_default().to_owned()));
                    }
                    Expr::Literal(l) => match &l.kind {
                        LitKind::Int(n) => args.push(Value::Integer(*n)),
                        LitKind::Bool(b) => args.push(Value::Bool(*b)),
                        LitKind::None => args.push(Value::None),
                        _ => {
                            self.error(
                                a.span(),
                                "filter arguments outside pipelines must be strings or numbers",
                            );
                            return None;
                        }
                    },
                    _ => {
                        self.error(
                            a.span(),
                            "filter arguments outside pipelines must be strings or numbers",
                        );
                        return None;
                    }
                }
            }
            if !filter.arity().accepts(args.len()) {
                self.error(
                    f.span,
                    format!("wrong number of arguments for filter `{}`", f.name),
                );
                return None;
            }
            value = filter.apply(&args, value, &NoAttrs);
        }
        if let Value::Error(e) = &value {
            self.error(span, format!("`%{{…}}` failed: {}", e.message));
            return None;
        }
        Some(to_text(&value))
    }
}

/// The unspecified IPv4 address, the default `ip` of listeners.
pub(crate) const ANY_V4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Remembers which keys of one block were given, to report repeated ones.
#[derive(Default)]
pub(crate) struct Seen(BTreeMap<String, Span>);

impl Seen {
    /// True the first time `item`'s key (or `key`) is seen; afterwards reports a
    /// duplicate key (with a label at the first one) and returns false.
    pub fn first(&mut self, cx: &mut Cx<'_>, key: &str, item: &Item) -> bool {
        let span = item.keyword_span();
        if let Some(&prev) = self.0.get(key) {
            cx.duplicate(
                Diagnostic::error(span, format!("duplicate key `{key}`"))
                    .with_label(prev, "first given here"),
                prev,
                span,
                &format!("key `{key}`"),
            );
            return false;
        }
        self.0.insert(key.to_owned(), span);
        true
    }

    /// Where `key` was first given, if it was.
    pub fn get(&self, key: &str) -> Option<Span> {
        self.0.get(key).copied()
    }
}

/// Remembers the names defined in one namespace, to report duplicates.
#[derive(Default)]
pub(crate) struct NameSet(BTreeMap<String, Span>);

impl NameSet {
    /// True the first time `name` is defined; afterwards reports
    /// "duplicate WHAT `NAME`" with a label at the first definition.
    pub fn define(&mut self, cx: &mut Cx<'_>, what: &str, name: &str, span: Span) -> bool {
        self.define_in(cx, what, name, span, "")
    }

    /// Like [`NameSet::define`], the message ending with `scope` (e.g.
    /// " in backend `B`").
    pub fn define_in(
        &mut self,
        cx: &mut Cx<'_>,
        what: &str,
        name: &str,
        span: Span,
        scope: &str,
    ) -> bool {
        if let Some(&prev) = self.0.get(name) {
            cx.duplicate(
                Diagnostic::error(span, format!("duplicate {what} `{name}`{scope}"))
                    .with_label(prev, "first defined here"),
                prev,
                span,
                &format!("{what} `{name}`"),
            );
            return false;
        }
        self.0.insert(name.to_owned(), span);
        true
    }
}
