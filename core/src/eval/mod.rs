//! The policy interpreter: values, operators, filters, templates, and the resumable
//! pipeline machine.

pub mod context;
pub mod convert;
pub mod error;
pub mod filters;
pub mod format;
pub mod ir;
pub mod json;
pub mod jsonpath;
pub mod machine;
pub mod named;
pub mod ops;
pub mod password;
pub mod policy;
pub mod query;
pub mod select;
pub mod template;
pub mod text;
pub mod value;
