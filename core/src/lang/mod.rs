//! The configuration language: lexing and parsing (winnow), the syntax tree with spans,
//! diagnostics, and (in `compile`) the translation into a validated program.
pub mod program;
