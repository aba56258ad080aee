//! Reverse dynamic authorization: the registry of inbound stream connections that
//! `@select` chooses among, and the `@select` index. Our requests on each
//! connection are its peer machine's ([`crate::peer`]).

pub mod index;
pub mod registry;
