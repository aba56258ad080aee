//! The policy interpreter: values, operators, filters, templates, and the resumable
//! pipeline machine.
