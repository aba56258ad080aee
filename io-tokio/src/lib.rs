//! Boomerang's production driver: real sockets, TLS, HTTP, SQLite and files around the
//! sans-IO core, plus the command-line tool.

#![forbid(unsafe_code)]

pub mod bounded_file;
pub mod cli;
pub mod config_files;
pub mod conn_limit;
pub mod driver;
pub mod fd_limit;
pub mod http_conn;
pub mod log_file;
pub mod log_limit;
pub mod management;
pub mod metrics;
pub mod net;
pub mod pki;
pub mod sqlite;
pub mod tls;
