//! Boomerang's production driver: real sockets, TLS, HTTP, SQLite and files around the
//! sans-IO core, plus the command-line tool.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config_files;
pub mod driver;
pub mod fd_limit;
pub mod management;
pub mod metrics;
pub mod net;
pub mod pki;
pub mod sqlite;
pub mod tls;
