//! No import cycle among the modules of `core/src` (issue 13).
//!
//! The test reads every `.rs` file under `core/src`, builds the graph of
//! file → file edges from the paths the code names, and fails listing every cycle
//! (every strongly connected group of files, with the names that tie them).
//!
//! What counts as an edge from file A to file B: a path in A — in a `use`
//! declaration (groups `{…}` expanded, nested, over several lines, `pub use`
//! re-exports included) or written inline in code (`crate::eval::text::to_text(x)`)
//! — that resolves to module file B. A path is resolved from `crate::`, `self::`,
//! `super::`, a child module's name, or a name a `use` bound to a module, to the
//! deepest module *file* that exists: `crate::engine::io::ConnId` →
//! `engine/io.rs`, `crate::engine::Engine` → `engine/mod.rs`. Not edges: `mod x;`
//! declarations (owning a module is not using it), paths to other crates, anything in
//! comments, doc comments or string literals, and items under `#[cfg(test)]`
//! (test modules inside files).
//!
//! Plain `std`, no dependency: it runs in `cargo test -p boomerang-core` in a few
//! milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Cycles tolerated while a refactoring removes them, as the sets of files
/// (relative to `core/src`) that form them. Empty: `core/src` has no import cycle,
/// and any cycle found fails the test. Should a large reshaping ever need a
/// transition, its cycle may be listed here only under `engine/` or `reverse/`,
/// exactly as found, and the list must be empty again when it lands.
const KNOWN_CYCLES_BEING_REMOVED: &[&[&str]] = &[];

// ---------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The tokens of a Rust source that matter for paths: identifiers, `::` and single
/// punctuation characters. Comments, string, byte-string, raw-string and character
/// literals, lifetimes and numbers are dropped.
fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let n = c.len();
    let mut i = 0;
    let mut out = Vec::new();
    while i < n {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && i + 1 < n && c[i + 1] == '/' {
            while i < n && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && i + 1 < n && c[i + 1] == '*' {
            // Block comments nest in Rust.
            let mut depth = 0usize;
            while i < n {
                if c[i] == '/' && i + 1 < n && c[i + 1] == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && i + 1 < n && c[i + 1] == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            i = end;
        } else if ch == '"' || (ch == 'b' && i + 1 < n && c[i + 1] == '"') {
            i += if ch == 'b' { 2 } else { 1 };
            while i < n && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '\'' || (ch == 'b' && i + 1 < n && c[i + 1] == '\'') {
            let start = if ch == 'b' { i + 1 } else { i };
            if start + 1 < n && c[start + 1] == '\\' {
                // An escaped character literal: up to the closing quote.
                i = start + 2;
                while i < n && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if start + 2 < n && c[start + 2] == '\'' {
                i = start + 3;
            } else {
                // A lifetime or label: skip the quote and its name.
                i = start + 1;
                while i < n && is_ident_continue(c[i]) {
                    i += 1;
                }
            }
        } else if ch == 'r' && i + 2 < n && c[i + 1] == '#' && is_ident_start(c[i + 2]) {
            // A raw identifier `r#name`.
            let start = i + 2;
            i = start;
            while i < n && is_ident_continue(c[i]) {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if is_ident_start(ch) {
            let start = i;
            while i < n && is_ident_continue(c[i]) {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while i < n && (is_ident_continue(c[i]) || c[i] == '.' && next_is_digit(&c, i)) {
                i += 1;
            }
        } else if ch == ':' && i + 1 < n && c[i + 1] == ':' {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

fn next_is_digit(c: &[char], i: usize) -> bool {
    c.get(i + 1).is_some_and(char::is_ascii_digit)
}

/// If a raw (byte) string literal `r"…"`, `r#"…"#`, `br##"…"##` starts at `i`, the
/// index just past it.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The index just past the group opened at `open` (a `(`, `[` or `{`).
fn skip_group(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// Whether the attribute whose `[` is at `open` is a `cfg` that holds only under
/// `test` (`#[cfg(test)]`, `#[cfg(all(test, …))]`).
fn is_cfg_test(toks: &[Tok], open: usize, end: usize) -> bool {
    let inner = &toks[open + 1..end.saturating_sub(1)];
    ident(inner.first()) == Some("cfg")
        && inner.iter().any(|t| ident(Some(t)) == Some("test"))
        && !inner
            .iter()
            .any(|t| matches!(ident(Some(t)), Some("not" | "any")))
}

/// The tokens without the items under `#[cfg(test)]` (a whole file when it starts
/// with `#![cfg(test)]`).
fn strip_test_items(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == Tok::Punct('#') {
            let inner = toks.get(i + 1) == Some(&Tok::Punct('!'));
            let open = if inner { i + 2 } else { i + 1 };
            if toks.get(open) == Some(&Tok::Punct('[')) {
                let end = skip_group(&toks, open);
                if is_cfg_test(&toks, open, end) {
                    if inner {
                        return Vec::new();
                    }
                    i = skip_item(&toks, end);
                    continue;
                }
                i = end;
                continue;
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// The index just past the item starting at `i` (after its attributes): up to a
/// `;` outside any group, or to the end of its first top-level `{…}` block.
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i] {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return skip_group(toks, i),
            Tok::Punct('(' | '[') => i = skip_group(toks, i),
            _ => i += 1,
        }
    }
    toks.len()
}

// ---------------------------------------------------------------------------
// Paths

/// One path named in a file, as written (segments), and the module scope it was
/// written in (the file's module plus any inline `mod x { … }` around it).
#[derive(Debug, Clone)]
struct Named {
    scope: Vec<String>,
    segments: Vec<String>,
    /// The name a `use` binds it to (its last segment, or the `as` alias); `None`
    /// for globs and for paths written inline.
    binds: Option<String>,
}

/// Parse the use tree starting at `i` under `prefix`; push its leaf paths; return
/// the index just past the tree.
fn parse_use_tree(
    toks: &[Tok],
    mut i: usize,
    prefix: &mut Vec<String>,
    scope: &[String],
    out: &mut Vec<Named>,
) -> usize {
    let depth = prefix.len();
    loop {
        match toks.get(i) {
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Punct('}')) => {
                            i += 1;
                            break;
                        }
                        Some(Tok::Punct(',')) => i += 1,
                        None => break,
                        Some(_) => {
                            let before = i;
                            i = parse_use_tree(toks, i, prefix, scope, out);
                            if i == before {
                                i += 1;
                            }
                        }
                    }
                }
                break;
            }
            Some(Tok::Punct('*')) => {
                out.push(Named {
                    scope: scope.to_vec(),
                    segments: prefix.clone(),
                    binds: None,
                });
                i += 1;
                break;
            }
            Some(Tok::PathSep) => i += 1,
            Some(Tok::Ident(name)) => {
                i += 1;
                if toks.get(i) == Some(&Tok::PathSep) {
                    prefix.push(name.clone());
                    i += 1;
                    continue;
                }
                let mut segments = prefix.clone();
                let mut bound = name.clone();
                if name == "self" {
                    bound = prefix.last().cloned().unwrap_or_default();
                } else {
                    segments.push(name.clone());
                }
                if ident(toks.get(i)) == Some("as") {
                    if let Some(alias) = ident(toks.get(i + 1)) {
                        bound = alias.to_owned();
                    }
                    i += 2;
                }
                out.push(Named {
                    scope: scope.to_vec(),
                    segments,
                    binds: Some(bound),
                });
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(depth);
    i
}

/// Every path a file names, in `use` declarations and inline, with the scope it is
/// written in. `module` is the file's own module path.
fn named_paths(toks: &[Tok], module: &[String]) -> Vec<Named> {
    let mut out = Vec::new();
    // Inline modules open around the current token: (name, brace depth inside).
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let scope_of = |scopes: &[(String, usize)]| {
        let mut s = module.to_vec();
        s.extend(scopes.iter().map(|(n, _)| n.clone()));
        s
    };
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                if scopes.last().is_some_and(|(_, d)| *d == depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(name), Some(Tok::Punct('{'))) =
                    (ident(toks.get(i + 1)), toks.get(i + 2))
                {
                    scopes.push((name.to_owned(), depth + 1));
                    depth += 1;
                    i += 3;
                } else {
                    // `mod x;` owns a module file: not a use.
                    i += 2;
                }
            }
            Tok::Ident(kw)
                if kw == "use"
                    && matches!(
                        toks.get(i + 1),
                        Some(Tok::Ident(_)) | Some(Tok::PathSep) | Some(Tok::Punct('{'))
                    ) =>
            {
                if toks.get(i + 1) == Some(&Tok::PathSep) {
                    // `use ::other_crate::…`: an extern path.
                    i = skip_item(toks, i);
                    continue;
                }
                let scope = scope_of(&scopes);
                let mut prefix = Vec::new();
                i = parse_use_tree(toks, i + 1, &mut prefix, &scope, &mut out);
            }
            Tok::Ident(first) if toks.get(i + 1) == Some(&Tok::PathSep) => {
                let starts_path = i == 0 || !matches!(toks[i - 1], Tok::PathSep);
                let mut segments = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::PathSep) {
                    match toks.get(j + 1) {
                        Some(Tok::Ident(s)) => {
                            segments.push(s.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                if starts_path {
                    out.push(Named {
                        scope: scope_of(&scopes),
                        segments,
                        binds: None,
                    });
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The graph

/// The module path of a file relative to `src/`: `lib.rs` → `[]`,
/// `engine/mod.rs` → `[engine]`, `engine/io.rs` → `[engine, io]`.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Edges between files (paths relative to `src/`), each with the paths that make it.
type Edges = BTreeMap<(String, String), BTreeSet<String>>;

/// The file → file edges among `sources` (file path relative to `src/` → text).
fn build_graph(sources: &BTreeMap<String, String>) -> Edges {
    let modules: BTreeMap<Vec<String>, String> = sources
        .keys()
        .map(|rel| (module_of(rel), rel.clone()))
        .collect();
    let mut edges = Edges::new();
    for (rel, src) in sources {
        let module = module_of(rel);
        let toks = strip_test_items(tokenize(src));
        let named = named_paths(&toks, &module);
        // First the `use`s, which also say which local names denote modules
        // (`use crate::eval;` lets `eval::text::to_text` be written inline).
        let mut aliases: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
        let mut resolved = Vec::new();
        for pass_uses in [true, false] {
            for n in named.iter().filter(|n| n.binds.is_some() == pass_uses) {
                let Some(abs) = absolute(&n.segments, &n.scope, &modules, &aliases) else {
                    continue;
                };
                if let Some(b) = &n.binds
                    && modules.contains_key(&abs)
                {
                    aliases.insert((n.scope.clone(), b.clone()), abs.clone());
                }
                resolved.push(abs);
            }
        }
        for abs in resolved {
            let Some(target) = (0..=abs.len()).rev().find_map(|k| modules.get(&abs[..k])) else {
                continue;
            };
            if target != rel {
                let name = format!("crate::{}", abs.join("::"));
                edges
                    .entry((rel.clone(), target.clone()))
                    .or_default()
                    .insert(name.trim_end_matches("::").to_owned());
            }
        }
    }
    edges
}

/// A path's segments from the crate root, or `None` for a path into another crate
/// (or a local name that is not a module).
fn absolute(
    segments: &[String],
    scope: &[String],
    modules: &BTreeMap<Vec<String>, String>,
    aliases: &BTreeMap<(Vec<String>, String), Vec<String>>,
) -> Option<Vec<String>> {
    let (first, rest) = segments.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => scope.to_vec(),
        "super" => scope[..scope.len().checked_sub(1)?].to_vec(),
        name => {
            let mut child = scope.to_vec();
            child.push(name.to_owned());
            if modules.contains_key(&child) {
                child
            } else {
                aliases.get(&(scope.to_vec(), name.to_owned()))?.clone()
            }
        }
    };
    let mut rest = rest.iter().peekable();
    while rest.next_if(|s| s.as_str() == "super").is_some() {
        base.pop()?;
    }
    base.extend(rest.filter(|s| s.as_str() != "self").cloned());
    Some(base)
}

/// The strongly connected groups of more than one file (Tarjan), each sorted.
fn cycles(edges: &Edges) -> Vec<BTreeSet<String>> {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        adj.entry(from).or_default().push(to);
        adj.entry(to).or_default();
    }
    struct Tarjan<'a> {
        adj: &'a BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for &w in &self.adj[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.insert(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    self.found.push(group);
                }
            }
        }
    }
    let mut t = Tarjan {
        adj: &adj,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for &v in adj.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found.sort();
    t.found
}

/// A cycle in words: its files, then each edge inside it with the paths that make it.
fn describe(group: &BTreeSet<String>, edges: &Edges) -> String {
    let mut out = String::new();
    let files: Vec<&str> = group.iter().map(String::as_str).collect();
    let _ = writeln!(out, "cycle among {{{}}}:", files.join(", "));
    if let Some(path) = shortest_cycle(group, edges) {
        let _ = writeln!(out, "    for example {}", path.join(" -> "));
    }
    for ((from, to), names) in edges {
        if group.contains(from) && group.contains(to) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let _ = writeln!(out, "    {from} -> {to}: {}", names.join(", "));
        }
    }
    out
}

/// A shortest cycle through the first file of `group` (a strongly connected group),
/// as the files in order, ending where it starts.
fn shortest_cycle(group: &BTreeSet<String>, edges: &Edges) -> Option<Vec<String>> {
    let start = group.iter().next()?;
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.as_str()]);
    while let Some(v) = queue.pop_front() {
        for (from, to) in edges.keys() {
            if from != v || !group.contains(to) {
                continue;
            }
            if to == start {
                let mut path = vec![start.clone()];
                let mut at = v;
                while at != start {
                    path.push(at.to_owned());
                    at = came_from[at];
                }
                path[1..].reverse();
                path.push(start.clone());
                return Some(path);
            }
            if !came_from.contains_key(to.as_str()) {
                came_from.insert(to, v);
                queue.push_back(to);
            }
        }
    }
    None
}

/// The complaints about `found` cycles given the `allowed` list: every cycle not on
/// the list, every listed cycle that is not found exactly, every listed file outside
/// `engine/` and `reverse/`.
fn check(found: &[BTreeSet<String>], allowed: &[&[&str]], edges: &Edges) -> Vec<String> {
    let allowed: Vec<BTreeSet<String>> = allowed
        .iter()
        .map(|set| set.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    let mut problems = Vec::new();
    for set in &allowed {
        for f in set {
            if !(f.starts_with("engine/") || f.starts_with("reverse/")) {
                problems.push(format!(
                    "KNOWN_CYCLES_BEING_REMOVED lists {f}, outside engine/ and reverse/: \
                     cycles elsewhere are never allowed"
                ));
            }
        }
        if !found.contains(set) {
            let files: Vec<&str> = set.iter().map(String::as_str).collect();
            problems.push(format!(
                "KNOWN_CYCLES_BEING_REMOVED lists {{{}}}, which is no longer a cycle: \
                 remove it from the list (or replace it with the smaller cycle left)",
                files.join(", ")
            ));
        }
    }
    for group in found {
        if !allowed.contains(group) {
            problems.push(describe(group, edges));
        }
    }
    problems
}

fn read_sources(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(&path, root, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            out.insert(rel, text);
        }
    }
}

#[test]
fn no_import_cycles_in_core_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    read_sources(&root, &root, &mut sources);
    assert!(sources.contains_key("lib.rs") && sources.len() > 50);
    let edges = build_graph(&sources);
    assert!(
        edges.len() > 100,
        "suspiciously few edges ({}): is the checker reading the sources?",
        edges.len()
    );
    let found = cycles(&edges);
    for group in &found {
        eprint!("{}", describe(group, &edges));
    }
    let problems = check(&found, KNOWN_CYCLES_BEING_REMOVED, &edges);
    assert!(
        problems.is_empty(),
        "import cycles in core/src (paths relative to core/src):\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The checker itself, on small synthetic crates.

fn crate_of(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
        .collect()
}

fn edge_set(edges: &Edges) -> BTreeSet<(String, String)> {
    edges.keys().cloned().collect()
}

fn set(files: &[&str]) -> BTreeSet<String> {
    files.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn checker_finds_a_known_cycle_and_names_its_ties() {
    let sources = crate_of(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        (
            "a/mod.rs",
            "pub mod x;\npub mod y;\nuse crate::b::{\n    Thing,\n    deep::{Other, self},\n};\n",
        ),
        ("a/x.rs", "pub struct X;\n"),
        ("a/y.rs", "pub fn f() -> super::x::X { todo!() }\n"),
        ("b/mod.rs", "pub mod deep;\npub struct Thing;\n"),
        ("b/deep.rs", "pub use crate::c::C as Other;\n"),
        (
            "c.rs",
            "pub struct C;\nfn g() { let _ = crate::a::y::f(); }\n",
        ),
    ]);
    let edges = build_graph(&sources);
    let expected: BTreeSet<(String, String)> = [
        ("a/mod.rs", "b/mod.rs"),
        ("a/mod.rs", "b/deep.rs"),
        ("a/y.rs", "a/x.rs"),
        ("b/deep.rs", "c.rs"),
        ("c.rs", "a/y.rs"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(edge_set(&edges), expected);
    // No cycle yet: a/mod.rs owns a/y.rs (`mod y;`) but does not use it.
    assert!(cycles(&edges).is_empty());

    // a/y.rs now uses a re-export of its parent: a/mod.rs → b/deep.rs → c.rs →
    // a/y.rs → a/mod.rs.
    let mut sources = sources;
    sources.insert(
        "a/y.rs".into(),
        "use super::Thing;\npub fn f() -> super::x::X { todo!() }\n".into(),
    );
    let edges = build_graph(&sources);
    let found = cycles(&edges);
    assert_eq!(
        found,
        vec![set(&["a/mod.rs", "a/y.rs", "b/deep.rs", "c.rs"])]
    );
    let problems = check(&found, &[], &edges);
    assert_eq!(problems.len(), 1);
    let text = &problems[0];
    for tie in [
        "for example a/mod.rs -> b/deep.rs -> c.rs -> a/y.rs -> a/mod.rs",
        "a/y.rs -> a/mod.rs: crate::a::Thing",
        "c.rs -> a/y.rs: crate::a::y::f",
        "b/deep.rs -> c.rs: crate::c::C",
        "a/mod.rs -> b/deep.rs: crate::b::deep",
    ] {
        assert!(text.contains(tie), "missing {tie:?} in:\n{text}");
    }
}

#[test]
fn checker_ignores_comments_strings_tests_and_mod_declarations() {
    let sources = crate_of(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            r##"
//! See [`crate::b::B`].
/* crate::b::B /* nested */ crate::b::B */
/// crate::b::B
const S: &str = "crate::b::B";
const R: &str = r#"crate::b::"B""#;
const C: char = '"';
fn f<'a>(x: &'a str) -> &'a str { x }
#[cfg(test)]
mod tests {
    use crate::b::B;
    fn t() { let _ = crate::b::B; }
}
#[cfg(test)]
use crate::b::{B};
pub struct A;
"##,
        ),
        ("b.rs", "use crate::a::A;\npub struct B;\n"),
    ]);
    let edges = build_graph(&sources);
    assert_eq!(
        edge_set(&edges),
        [("b.rs".to_owned(), "a.rs".to_owned())]
            .into_iter()
            .collect()
    );
    assert!(cycles(&edges).is_empty());
}

#[test]
fn checker_resolves_children_aliases_globs_and_inline_modules() {
    let sources = crate_of(&[
        ("lib.rs", "pub mod engine;\npub mod eval;\n"),
        (
            "engine/mod.rs",
            "mod io;\nuse io::ConnId;\npub use self::io::*;\npub struct Engine;\n",
        ),
        (
            "engine/io.rs",
            "use crate::eval as ev;\npub struct ConnId;\nfn f() { ev::text::go(); }\n",
        ),
        ("eval/mod.rs", "pub mod text;\n"),
        (
            "eval/text.rs",
            "pub fn go() {}\nmod inner {\n    use super::super::super::engine::Engine;\n}\n",
        ),
    ]);
    let edges = build_graph(&sources);
    let expected: BTreeSet<(String, String)> = [
        ("engine/mod.rs", "engine/io.rs"),
        ("engine/io.rs", "eval/mod.rs"),
        ("engine/io.rs", "eval/text.rs"),
        ("eval/text.rs", "engine/mod.rs"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(edge_set(&edges), expected);
    assert_eq!(
        cycles(&edges),
        vec![set(&["engine/io.rs", "engine/mod.rs", "eval/text.rs"])]
    );
}

#[test]
fn allow_list_can_only_shrink() {
    let mut edges = Edges::new();
    for (a, b) in [
        ("engine/a.rs", "engine/b.rs"),
        ("engine/b.rs", "engine/a.rs"),
        ("eval/x.rs", "eval/y.rs"),
        ("eval/y.rs", "eval/x.rs"),
    ] {
        edges
            .entry((a.to_owned(), b.to_owned()))
            .or_default()
            .insert("crate::t".to_owned());
    }
    let found = cycles(&edges);
    assert_eq!(found.len(), 2);
    // The engine cycle is allowed; the eval one is not.
    let problems = check(&found, &[&["engine/a.rs", "engine/b.rs"]], &edges);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("eval/x.rs -> eval/y.rs"));
    // Listing a cycle outside engine/ and reverse/ is itself a problem.
    let problems = check(&found, &[&["eval/x.rs", "eval/y.rs"]], &edges);
    assert!(problems.iter().any(|p| p.contains("outside engine/")));
    // A listed cycle that is gone (or changed) fails too.
    let problems = check(
        &found[..1],
        &[
            &["engine/a.rs", "engine/b.rs"],
            &["engine/c.rs", "engine/d.rs"],
        ],
        &edges,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("engine/c.rs, engine/d.rs") && p.contains("no longer"))
    );
}
