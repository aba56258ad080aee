//! `limits { connections N; per_source N; }` in `listen` blocks, `header_timeout` and
//! `idle_timeout` of HTTP servers, and the management listener's `allow`, `token` and
//! `limits`: what they compile to, their defaults, and the diagnostics (with their
//! positions) of their misuse.

mod compile_support;

use std::time::Duration;

use boomerang_core::lang::program::*;
use compile_support::*;

const CLIENTS: &str = r#"clients {
    radius "LOCAL" { client "lo" { source { ip 127.0.0.1; } secret "s"; } }
    http "WEB" { client "lo" { source { ip 127.0.0.1; } } }
}
"#;

fn with_clients(text: &str) -> String {
    format!("{CLIENTS}{text}")
}

fn server<'p>(p: &'p Program, name: &str) -> &'p ServerKind {
    &p.server_by_name(name).unwrap().1.kind
}

#[test]
fn listen_limits_and_http_timeouts_compile() {
    let p = program(&with_clients(
        r#"servers {
    radius "R" {
        listen { protocol tcp; port 1812; limits { connections 50000; per_source 0; } }
        clients "LOCAL";
    }
    http "H" {
        listen { protocol tcp; port 4000; limits { per_source 100; } }
        header_timeout 5s;
        idle_timeout 2m;
    }
}
management {
    listen { ip 127.0.0.1; port 9090; limits { connections 32; } }
    allow { ip 127.0.0.1; ip 10.0.0.0/8; }
    token "t0ken";
}
"#,
    ));
    let ServerKind::Radius(RadiusServer {
        listen: RadiusListen::Network(n),
        ..
    }) = server(&p, "R")
    else {
        panic!()
    };
    assert_eq!(
        n.limits,
        ConnectionLimits {
            connections: Some(50_000),
            per_source: Some(0)
        }
    );
    let ServerKind::Http(h) = server(&p, "H") else {
        panic!()
    };
    assert_eq!(
        h.limits,
        ConnectionLimits {
            connections: None,
            per_source: Some(100)
        }
    );
    assert_eq!(h.header_timeout, Some(Duration::from_secs(5)));
    assert_eq!(h.idle_timeout, Some(Duration::from_secs(120)));
    let m = &p.management;
    assert_eq!(m.limits.connections, Some(32));
    assert_eq!(m.token.as_deref(), Some("t0ken"));
    let allowed: Vec<String> = m
        .allow
        .iter()
        .map(|p| format!("{}/{}", p.addr, p.len))
        .collect();
    assert_eq!(allowed, ["127.0.0.1/32", "10.0.0.0/8"]);
}

#[test]
fn defaults_leave_limits_to_the_driver_and_management_to_loopback() {
    let p = program(&with_clients(
        r#"servers {
    http "H" { listen { protocol tcp; port 4000; } }
}
"#,
    ));
    let ServerKind::Http(h) = server(&p, "H") else {
        panic!()
    };
    assert_eq!(h.limits, ConnectionLimits::default());
    assert_eq!((h.header_timeout, h.idle_timeout), (None, None));
    let allowed: Vec<String> = p
        .management
        .allow
        .iter()
        .map(|p| format!("{}/{}", p.addr, p.len))
        .collect();
    assert_eq!(allowed, ["127.0.0.1/8", "::1/128"]);
    assert_eq!(p.management.token, None);
}

#[test]
fn misuse_is_reported_where_it_is_written() {
    let text = r#"servers {
    radius "U" {
        listen { protocol udp; port 1812; limits { connections 10; } }
        clients "LOCAL";
    }
    radius "T" {
        listen { protocol tcp; port 1813; limits { connections -1; backlog 5; } }
        clients "LOCAL";
    }
    http "H" {
        listen { protocol tcp; port 4000; }
        header_timeout 0;
    }
}
management {
    allow { ip nowhere; }
    token "";
}
"#;
    let full = with_clients(text);
    // `CLIENTS` takes four lines.
    assert_eq!(
        error_lines(&full),
        [
            "test.conf:7:43: error: `limits` applies to `tcp` and `tls` listeners, not `udp`",
            "test.conf:11:64: error: `connections` must be between 0 and 4294967295, not -1",
            "test.conf:11:68: error: unknown key `backlog` in `limits`",
            "test.conf:16:24: error: `header_timeout` must be longer than zero",
            "test.conf:20:16: error: `ip` expects an IP address or prefix, found `nowhere`",
            "test.conf:21:11: error: `token` must not be empty",
        ]
    );
}

#[test]
fn a_per_source_limit_above_the_listener_limit_is_a_warning() {
    let text = with_clients(
        r#"servers {
    http "H" { listen { protocol tcp; port 4000; limits { connections 10; per_source 20; } } }
}
"#,
    );
    assert_eq!(
        warning_lines(&text),
        [
            "test.conf:6:75: warning: `per_source 20` is above `connections 10`; the listener's limit applies first"
        ]
    );
}
