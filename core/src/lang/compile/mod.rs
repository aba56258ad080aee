//! The compiler: from parsed configuration files to a validated [`Program`].
//!
//! [`Program`]: crate::lang::program::Program

pub mod lower;
pub mod names;
