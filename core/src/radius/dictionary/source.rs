//! Where dictionary files come from.
//!
//! The core never touches the file system: the loader asks a [`DictionarySource`] for
//! each file by name. The daemon implements it over `std::fs`; tests, the fuzz target
//! and the built-in dictionary use [`MemorySource`].

use std::collections::BTreeMap;

/// Why a [`DictionarySource`] could not provide a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// There is no such file. An optional `$INCLUDE-` skips it silently.
    #[error("no such file")]
    NotFound,
    /// The file exists but cannot be read (permissions, not text, …).
    #[error("{0}")]
    Unreadable(String),
}

/// A file handed to the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The resolved name: used in error messages, for include-cycle detection, and as
    /// `relative_to` for the file's own `$INCLUDE`s. Two paths that reach the same file
    /// should resolve to the same name.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// Provides dictionary files to the loader.
pub trait DictionarySource {
    /// Read the file `path`. For an `$INCLUDE`, `relative_to` is the resolved name of
    /// the including file and a relative `path` is taken relative to its directory;
    /// for the top-level file it is `None`.
    fn read(&mut self, path: &str, relative_to: Option<&str>) -> Result<SourceFile, SourceError>;
}

/// Resolve `path` against the directory of `relative_to` the way `$INCLUDE` does:
/// absolute paths (starting with `/`) stand alone; `.` and `..` components are folded
/// (`..` never climbs above the root of a relative path). Uses `/` separators.
pub fn join_relative(path: &str, relative_to: Option<&str>) -> String {
    let mut joined = String::new();
    if !path.starts_with('/')
        && let Some(base) = relative_to
        && let Some(pos) = base.rfind('/')
    {
        joined.push_str(base.get(..=pos).unwrap_or(""));
    }
    joined.push_str(path);
    normalize(&joined)
}

fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(last) if *last != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    if absolute { format!("/{body}") } else { body }
}

/// An in-memory set of files, keyed by normalised path.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    files: BTreeMap<String, String>,
}

impl MemorySource {
    /// An empty source: every read is [`SourceError::NotFound`].
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Add (or replace) the file `path` with `text`.
    pub fn insert(&mut self, path: &str, text: &str) {
        self.files.insert(normalize(path), text.to_owned());
    }

    /// Builder form of [`MemorySource::insert`].
    pub fn with(mut self, path: &str, text: &str) -> MemorySource {
        self.insert(path, text);
        self
    }
}

impl DictionarySource for MemorySource {
    fn read(&mut self, path: &str, relative_to: Option<&str>) -> Result<SourceFile, SourceError> {
        let name = join_relative(path, relative_to);
        match self.files.get(&name) {
            Some(text) => Ok(SourceFile {
                name,
                text: text.clone(),
            }),
            None => Err(SourceError::NotFound),
        }
    }
}

/// A source with no files, for loading a single text whose includes must fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSource;

impl DictionarySource for NoSource {
    fn read(&mut self, _path: &str, _relative_to: Option<&str>) -> Result<SourceFile, SourceError> {
        Err(SourceError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_relative_to_the_including_directory() {
        assert_eq!(join_relative("b", Some("dir/a")), "dir/b");
        assert_eq!(
            join_relative("sub/b", Some("/etc/raddb/a")),
            "/etc/raddb/sub/b"
        );
        assert_eq!(join_relative("../b", Some("x/y/a")), "x/b");
        assert_eq!(join_relative("./b", Some("a")), "b");
        assert_eq!(join_relative("/abs/b", Some("x/a")), "/abs/b");
        assert_eq!(join_relative("b", None), "b");
        assert_eq!(join_relative("../../b", Some("x/a")), "../b");
        assert_eq!(join_relative("/../b", None), "/b");
    }

    #[test]
    fn memory_source_resolves_and_reports_missing() {
        let mut s = MemorySource::new()
            .with("d/main", "x")
            .with("d/inc/one", "y");
        let f = s.read("inc/one", Some("d/main")).unwrap();
        assert_eq!(f.name, "d/inc/one");
        assert_eq!(f.text, "y");
        assert_eq!(s.read("nope", Some("d/main")), Err(SourceError::NotFound));
        assert_eq!(NoSource.read("d/main", None), Err(SourceError::NotFound));
    }
}
