//! Reverse dynamic authorization: the registry of inbound stream connections that
//! `@select` chooses among, the `@select` index, and each connection's lane of our
//! own requests (identifier pool, requests in flight, FIFO backlog).

pub mod index;
pub mod lane;
pub mod registry;
