//! Loading configuration from files, directories, `include` and `include_glob`.
//!
//! The core does no IO: file access goes through [`SourceLoader`], implemented by the
//! driver over the real file system and by [`MemoryLoader`] for tests.
//!
//! Rules:
//! * A path to load may be a file or a directory. A directory loads its `*.conf` and
//!   `*.radconf` files (not subdirectories) in name order.
//! * `include "PATH";` and `include_glob "PATTERN";` may appear anywhere an item may;
//!   they are replaced, in place, by the items of the included file(s). Relative paths
//!   are relative to the directory of the file containing the include. `include` of a
//!   directory behaves like loading that directory.
//! * Glob patterns support `*`, `?` and `[…]` (`[a-z]`, `[!x]`/`[^x]`) in every path
//!   component; they never match `/`, and `*`/`?` do not match a leading `.`.
//!   Matches load in name order; a pattern matching nothing is a warning.
//! * An include that would re-enter a file already being loaded is an include cycle,
//!   reported at the include.
//!
//! Paths use `/` separators and are normalised lexically (`a/./b/../c` → `a/c`).

use std::collections::{BTreeMap, BTreeSet};

use crate::lang::diag::{self, Diagnostic};
use crate::lang::parser::parse;
use crate::lang::source::SourceMap;
use crate::lang::span::{FileId, Span};
use crate::lang::syntax::{Body, File, Item};

/// Maximum depth of nested includes.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Why a path could not be read or listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Nothing exists at the path.
    #[error("`{path}` does not exist")]
    NotFound {
        /// The path as requested.
        path: String,
    },
    /// The file or directory exists but could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Io {
        /// The path as requested.
        path: String,
        /// The operating system's explanation.
        reason: String,
    },
    /// The file is not UTF-8 text.
    #[error("`{path}` is not valid UTF-8 text: byte 0x{byte:02X} at offset {offset}")]
    NotUtf8 {
        /// The path as requested.
        path: String,
        /// The file's text with every invalid sequence replaced by U+FFFD (the
        /// octets before `offset` are exactly the file's), so that the diagnostic
        /// can show the line with a caret.
        text: String,
        /// Byte offset of the first invalid octet (equal in the file and in `text`).
        offset: usize,
        /// That octet.
        byte: u8,
    },
}

impl LoadError {
    /// A [`LoadError::NotUtf8`] for the octets of the file at `path`, which are not
    /// valid UTF-8 (`error` is what [`std::str::from_utf8`] said about them).
    pub fn not_utf8(path: &str, bytes: &[u8], error: std::str::Utf8Error) -> LoadError {
        let offset = error.valid_up_to();
        LoadError::NotUtf8 {
            path: path.to_owned(),
            text: String::from_utf8_lossy(bytes).into_owned(),
            offset,
            byte: bytes.get(offset).copied().unwrap_or(0),
        }
    }
}

/// Access to configuration files, supplied by the caller (the core does no IO).
pub trait SourceLoader {
    /// The full text of the file at `path`.
    fn read(&self, path: &str) -> Result<String, LoadError>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// The names (not paths) of the entries of directory `path`, in any order.
    fn list_dir(&self, path: &str) -> Result<Vec<String>, LoadError>;
}

/// An in-memory file system for tests and embedded configuration: a map from
/// normalised path to text. Directories exist implicitly as prefixes of file paths.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: BTreeMap<String, String>,
}

impl MemoryLoader {
    /// An empty file system.
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    /// Add (or replace) a file.
    pub fn add(&mut self, path: &str, text: impl Into<String>) -> &mut MemoryLoader {
        self.files.insert(normalize(path), text.into());
        self
    }

    /// Builder form of [`MemoryLoader::add`].
    pub fn with(mut self, path: &str, text: impl Into<String>) -> MemoryLoader {
        self.add(path, text);
        self
    }

    fn dir_prefix(path: &str) -> String {
        let p = normalize(path);
        if p == "." || p.is_empty() {
            String::new()
        } else if p == "/" {
            p
        } else {
            format!("{p}/")
        }
    }
}

impl SourceLoader for MemoryLoader {
    fn read(&self, path: &str) -> Result<String, LoadError> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| LoadError::NotFound {
                path: path.to_owned(),
            })
    }

    fn is_dir(&self, path: &str) -> bool {
        let prefix = MemoryLoader::dir_prefix(path);
        !self.files.contains_key(&normalize(path))
            && self.files.keys().any(|k| k.starts_with(&prefix))
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, LoadError> {
        if !self.is_dir(path) {
            return Err(LoadError::NotFound {
                path: path.to_owned(),
            });
        }
        let prefix = MemoryLoader::dir_prefix(path);
        let names: BTreeSet<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(names.into_iter().collect())
    }
}

/// One top-level file of a load, with includes already spliced in.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// Its id in [`Loaded::sources`].
    pub id: FileId,
    /// The normalised path it was read from.
    pub path: String,
    /// Its syntax tree (included items replace the `include` items).
    pub file: File,
}

/// Everything a configuration load produced.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Every file read (top-level and included), for rendering diagnostics.
    pub sources: SourceMap,
    /// The top-level files in load order.
    pub files: Vec<LoadedFile>,
    /// All diagnostics of all files.
    pub diagnostics: Vec<Diagnostic>,
    /// For each included file (by the id of that load of it), the `include` or
    /// `include_glob` item that loaded it. Top-level files are not in it. A file
    /// loaded twice has two ids; the compiler uses this to say so, naming both
    /// include sites, when the second copy's names clash with the first's.
    pub include_sites: BTreeMap<FileId, Span>,
}

impl Loaded {
    /// All top-level items of all files, in load order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.files.iter().flat_map(|f| f.file.items.iter())
    }

    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        diag::has_errors(&self.diagnostics)
    }

    /// All diagnostics rendered (see [`crate::lang::diag::render`]).
    pub fn render_diagnostics(&self) -> String {
        diag::render_all(&self.diagnostics, &self.sources)
    }
}

/// Load each of `paths` (files or directories) in order.
pub fn load(loader: &dyn SourceLoader, paths: &[&str]) -> Loaded {
    let mut l = Loader {
        loader,
        out: Loaded::default(),
        stack: Vec::new(),
    };
    for &path in paths {
        let path = normalize(path);
        if loader.is_dir(&path) {
            let files = match config_files_in(loader, &path) {
                Ok(f) => f,
                Err(e) => {
                    l.out
                        .diagnostics
                        .push(Diagnostic::error_global(e.to_string()));
                    continue;
                }
            };
            if files.is_empty() {
                l.out.diagnostics.push(Diagnostic::new(
                    diag::Severity::Warning,
                    None,
                    format!("no `*.conf` or `*.radconf` files in directory `{path}`"),
                ));
            }
            for f in files {
                l.load_top(&f);
            }
        } else {
            l.load_top(&path);
        }
    }
    l.out
}

/// Load configuration given as text (e.g. an embedded default), named `name`;
/// its includes are resolved through `loader` relative to `name`'s directory.
pub fn load_text(loader: &dyn SourceLoader, name: &str, text: &str) -> Loaded {
    let mut l = Loader {
        loader,
        out: Loaded::default(),
        stack: Vec::new(),
    };
    let path = normalize(name);
    if let Some((id, file)) = l.parse_and_expand(&path, text.to_owned()) {
        l.out.files.push(LoadedFile { id, path, file });
    }
    l.out
}

struct Loader<'a> {
    loader: &'a dyn SourceLoader,
    out: Loaded,
    /// Files currently being loaded (outermost first), for cycle detection.
    stack: Vec<String>,
}

impl Loader<'_> {
    fn load_top(&mut self, path: &str) {
        match self.loader.read(path) {
            Ok(text) => {
                if let Some((id, file)) = self.parse_and_expand(path, text) {
                    self.out.files.push(LoadedFile {
                        id,
                        path: path.to_owned(),
                        file,
                    });
                }
            }
            Err(e) => {
                let d = self.read_error(e, None);
                self.out.diagnostics.push(d);
            }
        }
    }

    /// The diagnostic for a file that could not be read: a text that is not UTF-8
    /// is added to the sources so the diagnostic points at its first invalid octet;
    /// other errors are placed at `site` (the `include`), or nowhere for a top-level
    /// file.
    fn read_error(&mut self, e: LoadError, site: Option<Span>) -> Diagnostic {
        match e {
            LoadError::NotUtf8 {
                path,
                text,
                offset,
                byte,
            } => {
                let id = self.out.sources.add(path.as_str(), text);
                let start = u32::try_from(offset).unwrap_or(u32::MAX);
                // The invalid octet became U+FFFD (3 octets) in the text shown.
                let mut d = Diagnostic::error(
                    Span::new(id, start, start.saturating_add(3)),
                    format!("`{path}` is not valid UTF-8 text: byte 0x{byte:02X} here"),
                )
                .with_help("configuration files are UTF-8; convert it (e.g. `iconv -t UTF-8`)");
                if let Some(site) = site {
                    d = d.with_label(site, "included here");
                }
                d
            }
            other => match site {
                Some(site) => Diagnostic::error(site, other.to_string()),
                None => Diagnostic::error_global(other.to_string()),
            },
        }
    }

    fn parse_and_expand(&mut self, path: &str, text: String) -> Option<(FileId, File)> {
        let id = self.out.sources.add(path, text);
        let parsed = parse(id, self.out.sources.text(id));
        self.out.diagnostics.extend(parsed.diagnostics);
        self.stack.push(path.to_owned());
        let mut file = parsed.file;
        let dir = parent_dir(path).to_owned();
        file.items = self.expand(file.items, &dir);
        self.stack.pop();
        Some((id, file))
    }

    /// Replace include items (at any depth) by the items they load.
    fn expand(&mut self, items: Vec<Item>, dir: &str) -> Vec<Item> {
        let mut out = Vec::with_capacity(items.len());
        for mut item in items {
            match item.keyword() {
                Some(kw @ ("include" | "include_glob")) if item.is_statement() => {
                    let glob = kw == "include_glob";
                    match item.args() {
                        [arg] if arg.as_plain_str().is_some() => {
                            let target = arg.as_plain_str().unwrap_or("").to_owned();
                            out.extend(self.include(&target, glob, dir, item.span));
                        }
                        _ => self.out.diagnostics.push(
                            Diagnostic::error(item.span, format!("`{kw}` expects one quoted path"))
                                .with_help(format!("write `{kw} \"path\";`")),
                        ),
                    }
                    continue;
                }
                _ => {}
            }
            if let Body::Block(b) = &mut item.body {
                let inner = std::mem::take(&mut b.items);
                b.items = self.expand(inner, dir);
            }
            for c in &mut item.clauses {
                let inner = std::mem::take(&mut c.block.items);
                c.block.items = self.expand(inner, dir);
            }
            out.push(item);
        }
        out
    }

    fn include(&mut self, target: &str, glob: bool, dir: &str, site: Span) -> Vec<Item> {
        let path = join(dir, target);
        let files = if glob {
            let matches = glob_paths(self.loader, &path);
            if matches.is_empty() {
                self.out.diagnostics.push(Diagnostic::warning(
                    site,
                    format!("`include_glob` pattern `{path}` matches no files"),
                ));
            }
            matches
        } else if self.loader.is_dir(&path) {
            match config_files_in(self.loader, &path) {
                Ok(f) => f,
                Err(e) => {
                    self.out
                        .diagnostics
                        .push(Diagnostic::error(site, e.to_string()));
                    return Vec::new();
                }
            }
        } else {
            vec![path]
        };
        let mut items = Vec::new();
        for f in files {
            items.extend(self.include_file(&f, site));
        }
        items
    }

    fn include_file(&mut self, path: &str, site: Span) -> Vec<Item> {
        if let Some(pos) = self.stack.iter().position(|p| p == path) {
            let chain: Vec<&str> = self
                .stack
                .get(pos..)
                .unwrap_or(&[])
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(path))
                .collect();
            self.out.diagnostics.push(
                Diagnostic::error(
                    site,
                    format!("include cycle: `{path}` is already being loaded"),
                )
                .with_note(format!("include chain: {}", chain.join(" -> "))),
            );
            return Vec::new();
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.out.diagnostics.push(Diagnostic::error(
                site,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} levels deep"),
            ));
            return Vec::new();
        }
        match self.loader.read(path) {
            Ok(text) => match self.parse_and_expand(path, text) {
                Some((id, f)) => {
                    self.out.include_sites.insert(id, site);
                    f.items
                }
                None => Vec::new(),
            },
            Err(e) => {
                let d = self.read_error(e, Some(site));
                self.out.diagnostics.push(d);
                Vec::new()
            }
        }
    }
}

/// The `*.conf` and `*.radconf` files directly inside `dir`, as paths, in name order.
fn config_files_in(loader: &dyn SourceLoader, dir: &str) -> Result<Vec<String>, LoadError> {
    let mut names = loader.list_dir(dir)?;
    names.sort();
    Ok(names
        .into_iter()
        .filter(|n| n.ends_with(".conf") || n.ends_with(".radconf"))
        .map(|n| join(dir, &n))
        .filter(|p| !loader.is_dir(p))
        .collect())
}

/// Expand a glob pattern (already joined to its base directory) into file paths.
fn glob_paths(loader: &dyn SourceLoader, pattern: &str) -> Vec<String> {
    let absolute = pattern.starts_with('/');
    let mut current: Vec<String> = vec![if absolute {
        "/".to_owned()
    } else {
        String::new()
    }];
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let mut next = Vec::new();
        for base in &current {
            if has_glob_chars(comp) {
                let dir = if base.is_empty() { "." } else { base.as_str() };
                let Ok(mut names) = loader.list_dir(dir) else {
                    continue;
                };
                names.sort();
                for n in names.iter().filter(|n| glob_match(comp, n)) {
                    next.push(join_raw(base, n));
                }
            } else {
                next.push(join_raw(base, comp));
            }
        }
        if !last {
            next.retain(|p| loader.is_dir(p));
        }
        current = next;
    }
    current.retain(|p| !p.is_empty() && p != "/" && !loader.is_dir(p));
    if comps.last().is_some_and(|c| !has_glob_chars(c)) {
        current.retain(|p| loader.read(p).is_ok());
    }
    current
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn join_raw(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// Whether file name `name` matches glob `pattern` (`*`, `?`, `[…]`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    if s.first() == Some(&'.') && p.first() != Some(&'.') {
        return false;
    }
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let c = s[si];
        if let Some(&pc) = p.get(pi) {
            match pc {
                '*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class_match(&p, pi, c) {
                        if matched {
                            pi = next;
                            si += 1;
                            continue;
                        }
                    } else if c == '[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                _ if pc == c => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
}

/// Match `c` against the class starting at `p[start] == '['`. Returns whether it
/// matched and the index after the closing `]`, or `None` if the class is unclosed.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &pc = p.get(i)?;
        if pc == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let hi = *p.get(i + 2)?;
            if pc <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if pc == c {
                matched = true;
            }
            i += 1;
        }
    }
}

/// The directory part of `path` (`"."` for a bare file name).
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => path.get(..i).unwrap_or("."),
        None => ".",
    }
}

/// `rel` resolved against directory `dir` (absolute `rel` wins), normalised.
pub fn join(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') || dir.is_empty() || dir == "." {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}"))
    }
}

/// Lexical normalisation: collapse `//`, drop `.`, resolve `..` where possible.
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(!glob_match("*.conf", "a.radconf.bak"));
        assert!(glob_match("1?_*.conf", "10_x.conf"));
        assert!(glob_match("[0-9]*", "5x"));
        assert!(!glob_match("[!0-9]*", "5x"));
        assert!(glob_match("[^a]b", "cb"));
        assert!(!glob_match("*", ".hidden"));
        assert!(glob_match(".*", ".hidden"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("[]]", "]"));
        assert!(glob_match("[", "["));
    }

    #[test]
    fn paths() {
        assert_eq!(normalize("a/./b/../c"), "a/c");
        assert_eq!(normalize("../x"), "../x");
        assert_eq!(normalize("/a/../../b"), "/b");
        assert_eq!(join("etc/conf.d", "../x.conf"), "etc/x.conf");
        assert_eq!(join("etc", "/abs.conf"), "/abs.conf");
        assert_eq!(parent_dir("a/b.conf"), "a");
        assert_eq!(parent_dir("b.conf"), ".");
        assert_eq!(parent_dir("/b.conf"), "/");
    }
}
