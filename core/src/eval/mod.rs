//! The policy interpreter: values, operators, filters, templates, and the resumable
//! pipeline machine.

pub mod convert;
pub mod error;
pub mod filters;
pub mod jsonpath;
pub mod ops;
pub mod password;
pub mod text;
pub mod value;
