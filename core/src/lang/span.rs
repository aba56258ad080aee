//! Source positions: which file, which byte range.
//!
//! Every syntax node carries a [`Span`] so that the parser, the compiler and
//! `boomerang check` can point at the exact text a diagnostic is about.

/// Identifies one loaded source file inside a [`crate::lang::source::SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(pub u32);

/// A byte range `start..end` inside one source file.
///
/// Offsets are byte offsets into the file text as given to the parser; `start <= end`.
/// A zero-width span (`start == end`) marks a position, e.g. "just after this token".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// First byte of the range.
    pub start: u32,
    /// One past the last byte of the range.
    pub end: u32,
}

impl Span {
    /// The span used for nodes that were not read from a file (built by code or
    /// after [`ClearSpans::clear_spans`]).
    pub const DUMMY: Span = Span {
        file: FileId(0),
        start: 0,
        end: 0,
    };

    /// A span from `start` to `end` in `file`.
    pub fn new(file: FileId, start: u32, end: u32) -> Span {
        Span {
            file,
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both `self` and `other` (assumed in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// A zero-width span at the end of `self`.
    pub fn end_point(self) -> Span {
        Span {
            file: self.file,
            start: self.end,
            end: self.end,
        }
    }

    /// Length in bytes.
    pub fn len(self) -> u32 {
        self.end - self.start
    }

    /// True for a zero-width span.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// Resetting every span of a tree to [`Span::DUMMY`], so that two trees can be
/// compared for syntactic equality regardless of where they were read from.
pub trait ClearSpans {
    /// Set every span inside `self` to [`Span::DUMMY`].
    fn clear_spans(&mut self);
}

impl ClearSpans for Span {
    fn clear_spans(&mut self) {
        *self = Span::DUMMY;
    }
}

impl<T: ClearSpans> ClearSpans for Vec<T> {
    fn clear_spans(&mut self) {
        for x in self {
            x.clear_spans();
        }
    }
}

impl<T: ClearSpans> ClearSpans for Option<T> {
    fn clear_spans(&mut self) {
        if let Some(x) = self {
            x.clear_spans();
        }
    }
}

impl<T: ClearSpans> ClearSpans for Box<T> {
    fn clear_spans(&mut self) {
        (**self).clear_spans();
    }
}

/// True when `a` and `b` are equal once all spans are ignored.
pub fn same_syntax<T: ClearSpans + Clone + PartialEq>(a: &T, b: &T) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.clear_spans();
    b.clear_spans();
    a == b
}
