//! The texts of all loaded configuration files, by [`FileId`], and the mapping from
//! byte offsets to 1-based line and column numbers used by diagnostics.

use crate::lang::span::FileId;

/// One source file: its display name (the path it was loaded from) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: String,
    /// Byte offset of the first character of every line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// The name shown in diagnostics (normally the path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column of byte `offset`. The column counts characters, not
    /// bytes. Offsets past the end map to the end of the text; an offset inside a
    /// multi-byte character maps to that character.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = (offset as usize).min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = self.line_starts.get(line_idx).copied().unwrap_or(0);
        let prefix = self.text.get(line_start..).unwrap_or("");
        let col = prefix
            .char_indices()
            .take_while(|&(i, _)| line_start + i < offset)
            .count();
        (line_idx + 1, col + 1)
    }

    /// The text of 1-based line `line`, without its line terminator.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = line_starts_get(&self.line_starts, line) else {
            return "";
        };
        let rest = self.text.get(start..).unwrap_or("");
        let end = rest.find('\n').unwrap_or(rest.len());
        let l = rest.get(..end).unwrap_or("");
        l.strip_suffix('\r').unwrap_or(l)
    }

    /// Number of lines (a text without newline has one line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

fn line_starts_get(starts: &[usize], line: usize) -> Option<&usize> {
    line.checked_sub(1).and_then(|i| starts.get(i))
}

/// All source files of one configuration load, addressed by [`FileId`].
///
/// Ids are handed out in insertion order starting at 0.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Add a file and return its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(name.into(), text.into()));
        id
    }

    /// The file with id `id`, if it exists.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// The display name of file `id` (`"<unknown>"` for an unknown id).
    pub fn name(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", SourceFile::name)
    }

    /// The text of file `id` (empty for an unknown id).
    pub fn text(&self, id: FileId) -> &str {
        self.get(id).map_or("", SourceFile::text)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Iterate over `(id, file)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), f))
    }
}
