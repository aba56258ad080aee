//! The configuration language: lexing and parsing (winnow), the syntax tree with spans,
//! diagnostics, and (in `compile`) the translation into a validated program.
//!
//! Pipeline: [`load::load`] reads files through a [`load::SourceLoader`] (the core
//! does no IO), [`parser::parse`] turns each text into a [`syntax::File`] plus
//! [`diag::Diagnostic`]s, includes are spliced in place, and the compiler (a later
//! step) interprets the uniform item tree. [`print::print`] writes a tree back as
//! canonical text that parses to an equal tree.

pub(crate) mod atom;
pub mod compile;
pub mod diag;
pub(crate) mod lexer;
pub mod load;
pub mod parser;
pub mod print;
pub mod program;
pub mod source;
pub mod span;
pub mod syntax;
pub mod template;

pub use diag::{Diagnostic, Severity, render, render_all, suggest};
pub use load::{LoadError, Loaded, LoadedFile, MemoryLoader, SourceLoader, load, load_text};
pub use parser::{MAX_DEPTH, Parsed, parse};
pub use print::print;
pub use source::SourceMap;
pub use span::{ClearSpans, FileId, Span, same_syntax};
pub use syntax::*;

/// Parse `text` as a file named `name` in a fresh [`SourceMap`] (handy for tests,
/// tools and the fuzz target). Includes are *not* resolved.
pub fn parse_text(name: &str, text: &str) -> (SourceMap, Parsed) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let parsed = parse(id, sources.text(id));
    (sources, parsed)
}
