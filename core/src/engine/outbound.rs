//! Outbound `connect` backends (the NAS side: Status-Server watchdog, reconnect with
//! backoff, proxy and query over UDP/TCP/TLS).
//!
//! Placeholder: this module is written in parallel in another worktree and replaces
//! this file at merge. Until then the engine answers a call to a `connect` backend
//! with `errors.BACKEND_ERROR` ("outbound backends not wired yet").
