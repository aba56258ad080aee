//! The policy interpreter: values, operators, filters, templates, and the resumable
//! pipeline machine.

pub mod error;
pub mod value;
