//! A JSONPath subset for the `jsonpath` filter, with RFC 9535 semantics for what it
//! supports.
//!
//! Supported: the root `$`; child segments `.name`, `.*`, `['name']`, `["name"]`,
//! `[N]` (negative counts from the end), `[*]`, `[start:end:step]` slices and unions
//! of those (`['a','b']`, `[0,2]`); descendant segments `..name`, `..*`, `..[…]`.
//! Member names after a dot may also contain `-` (`$.user-name`), which RFC 9535
//! would require to be written `$['user-name']`.
//!
//! Not supported, and rejected by [`JsonPath::parse`] with a clear message so that
//! the compiler reports it: filter selectors (`[?…]`) and function extensions.

use std::fmt;

use serde_json::Value as Json;

/// A parsed JSONPath query. Parse once (at configuration compile time) and run many
/// times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Child(Vec<Selector>),
    Descendant(Vec<Selector>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Name(String),
    Wildcard,
    Index(i64),
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
    },
}

/// Why a JSONPath query did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath `{path}` at offset {offset}: {reason}")]
pub struct JsonPathError {
    /// The query text.
    pub path: String,
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong there.
    pub reason: String,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: impl Into<String>) -> JsonPathError {
        JsonPathError {
            path: self.text.to_owned(),
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn name_shorthand(&mut self) -> Result<String, JsonPathError> {
        let start = self.pos;
        for (n, c) in self.rest().char_indices() {
            let ok = c.is_alphabetic()
                || c == '_'
                || !c.is_ascii()
                || (n > 0 && (c.is_ascii_digit() || c == '-'));
            if !ok {
                break;
            }
            self.pos = start + n + c.len_utf8();
        }
        if self.pos == start {
            return Err(self.err("expected a member name or `*`"));
        }
        Ok(self.text.get(start..self.pos).unwrap_or("").to_owned())
    }

    fn quoted(&mut self, quote: char) -> Result<String, JsonPathError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.pos += c.len_utf8();
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek() else {
                return Err(self.err("unterminated escape"));
            };
            self.pos += e.len_utf8();
            match e {
                '\\' | '/' | '\'' | '"' => out.push(e),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex = self
                        .rest()
                        .get(..4)
                        .ok_or_else(|| self.err("short \\u escape"))?;
                    let code =
                        u32::from_str_radix(hex, 16).map_err(|_| self.err("bad \\u escape"))?;
                    self.pos += 4;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                _ => return Err(self.err(format!("unknown escape `\\{e}`"))),
            }
        }
    }

    fn int(&mut self) -> Result<Option<i64>, JsonPathError> {
        let start = self.pos;
        self.eat("-");
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let s = self.text.get(start..self.pos).unwrap_or("");
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<i64>().map(Some).map_err(|_| {
            self.pos = start;
            self.err("expected an integer")
        })
    }

    fn bracket(&mut self) -> Result<Vec<Selector>, JsonPathError> {
        let mut selectors = Vec::new();
        loop {
            self.skip_blank();
            let sel = match self.peek() {
                Some(q @ ('\'' | '"')) => {
                    self.pos += 1;
                    Selector::Name(self.quoted(q)?)
                }
                Some('*') => {
                    self.pos += 1;
                    Selector::Wildcard
                }
                Some('?') => return Err(self.err("filter selectors (`?…`) are not supported")),
                Some(c) if c == '-' || c == ':' || c.is_ascii_digit() => {
                    let start = self.int()?;
                    self.skip_blank();
                    if self.eat(":") {
                        self.skip_blank();
                        let end = self.int()?;
                        self.skip_blank();
                        let step = if self.eat(":") {
                            self.skip_blank();
                            self.int()?
                        } else {
                            None
                        };
                        Selector::Slice { start, end, step }
                    } else {
                        match start {
                            Some(i) => Selector::Index(i),
                            None => return Err(self.err("expected an index")),
                        }
                    }
                }
                _ => return Err(self.err("expected a quoted name, an index, a slice or `*`")),
            };
            selectors.push(sel);
            self.skip_blank();
            if self.eat("]") {
                return Ok(selectors);
            }
            if !self.eat(",") {
                return Err(self.err("expected `,` or `]`"));
            }
        }
    }
}

impl JsonPath {
    /// Parse a query (it must start with `$`).
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let mut p = Parser { text, pos: 0 };
        if !p.eat("$") {
            return Err(p.err("a JSONPath query starts with `$`"));
        }
        let mut segments = Vec::new();
        loop {
            p.skip_blank();
            if p.rest().is_empty() {
                return Ok(JsonPath { segments });
            }
            if p.eat("..") {
                let sel = if p.eat("[") {
                    p.bracket()?
                } else if p.eat("*") {
                    vec![Selector::Wildcard]
                } else {
                    vec![Selector::Name(p.name_shorthand()?)]
                };
                segments.push(Segment::Descendant(sel));
            } else if p.eat(".") {
                let sel = if p.eat("*") {
                    Selector::Wildcard
                } else {
                    Selector::Name(p.name_shorthand()?)
                };
                segments.push(Segment::Child(vec![sel]));
            } else if p.eat("[") {
                segments.push(Segment::Child(p.bracket()?));
            } else {
                return Err(p.err("expected `.`, `..` or `[`"));
            }
        }
    }

    /// Every node the query selects in `doc`, in RFC 9535 order (document order for
    /// descendants, selector order within a bracket).
    pub fn query<'j>(&self, doc: &'j Json) -> Vec<&'j Json> {
        let mut nodes = vec![doc];
        for segment in &self.segments {
            let mut next = Vec::new();
            match segment {
                Segment::Child(selectors) => {
                    for node in &nodes {
                        for sel in selectors {
                            select(sel, node, &mut next);
                        }
                    }
                }
                Segment::Descendant(selectors) => {
                    for node in &nodes {
                        let mut visit = Vec::new();
                        descendants(node, &mut visit);
                        for v in visit {
                            for sel in selectors {
                                select(sel, v, &mut next);
                            }
                        }
                    }
                }
            }
            nodes = next;
        }
        nodes
    }
}

impl fmt::Display for JsonPath {
    /// The query in normalized bracket form (`$['a'][0]..['b']`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for seg in &self.segments {
            let (prefix, sels) = match seg {
                Segment::Child(s) => ("", s),
                Segment::Descendant(s) => ("..", s),
            };
            write!(f, "{prefix}[")?;
            for (n, sel) in sels.iter().enumerate() {
                if n > 0 {
                    f.write_str(",")?;
                }
                match sel {
                    Selector::Name(name) => write!(f, "{}", Json::String(name.clone()))?,
                    Selector::Wildcard => f.write_str("*")?,
                    Selector::Index(i) => write!(f, "{i}")?,
                    Selector::Slice { start, end, step } => {
                        if let Some(s) = start {
                            write!(f, "{s}")?;
                        }
                        f.write_str(":")?;
                        if let Some(e) = end {
                            write!(f, "{e}")?;
                        }
                        if let Some(st) = step {
                            write!(f, ":{st}")?;
                        }
                    }
                }
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// `node` and everything below it, parents before children, in document order.
fn descendants<'j>(node: &'j Json, out: &mut Vec<&'j Json>) {
    out.push(node);
    match node {
        Json::Array(items) => items.iter().for_each(|c| descendants(c, out)),
        Json::Object(map) => map.values().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

fn select<'j>(sel: &Selector, node: &'j Json, out: &mut Vec<&'j Json>) {
    match (sel, node) {
        (Selector::Name(name), Json::Object(map)) => out.extend(map.get(name)),
        (Selector::Wildcard, Json::Array(items)) => out.extend(items.iter()),
        (Selector::Wildcard, Json::Object(map)) => out.extend(map.values()),
        (Selector::Index(i), Json::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let idx = if *i < 0 { len.saturating_add(*i) } else { *i };
            if let Some(v) = usize::try_from(idx).ok().and_then(|u| items.get(u)) {
                out.push(v);
            }
        }
        (Selector::Slice { start, end, step }, Json::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let step = step.unwrap_or(1);
            if step == 0 {
                return;
            }
            let norm = |i: i64| if i >= 0 { i } else { len.saturating_add(i) };
            let get = |i: i64| usize::try_from(i).ok().and_then(|u| items.get(u));
            if step > 0 {
                let lower = norm(start.unwrap_or(0)).clamp(0, len);
                let upper = norm(end.unwrap_or(len)).clamp(0, len);
                let mut i = lower;
                while i < upper {
                    out.extend(get(i));
                    i = i.saturating_add(step);
                }
            } else {
                let upper = start.map_or(len - 1, norm).clamp(-1, len - 1);
                let lower = end.map_or(-1, norm).clamp(-1, len - 1);
                let mut i = upper;
                while lower < i {
                    out.extend(get(i));
                    i = i.saturating_add(step);
                }
            }
        }
        _ => {}
    }
}
