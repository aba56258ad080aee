//! Port clashes are refused by the compiler (so by `run` and `check` alike), at the
//! later listener: same port and socket family (UDP; or TCP for RADIUS/TCP, RadSec,
//! HTTP and management) with overlapping addresses.

mod compile_support;

use compile_support::*;

const CLIENTS: &str =
    "clients { radius \"L\" { client \"c\" { source { ip 127.0.0.1; } secret \"s\"; } } }\n";

fn with_servers(servers: &str) -> String {
    format!("{CLIENTS}servers {{\n{servers}}}\nmanagement {{ enabled false; }}\n")
}

#[test]
fn udp_on_the_same_address_and_port_clashes() {
    let text = with_servers(
        "    radius \"A\" { listen { protocol udp; port 1812; ip 127.0.0.1; } clients \"L\"; }
    radius \"B\" { listen { protocol udp; port 1812; ip 127.0.0.1; } clients \"L\"; }
",
    );
    assert_eq!(
        error_lines(&text),
        [
            "test.conf:4:12: error: RADIUS server `B` (udp) listens on UDP 127.0.0.1 port 1812, which RADIUS server `A` (udp) already uses (the same address)"
        ]
    );
}

#[test]
fn udp_and_tcp_on_one_port_do_not_clash_nor_do_distinct_addresses() {
    let text = with_servers(
        "    radius \"A\" { listen { protocol udp; port 1812; ip 127.0.0.1; } clients \"L\"; }
    radius \"B\" { listen { protocol tcp; port 1812; ip 127.0.0.1; } clients \"L\"; }
    radius \"C\" { listen { protocol udp; port 1812; ip 127.0.0.2; } clients \"L\"; }
",
    );
    assert_eq!(error_lines(&text), Vec::<String>::new());
}

#[test]
fn tls_and_http_clash_through_a_wildcard() {
    let text = with_servers(
        "    http \"H\" { listen { protocol tcp; port 2083; ip 127.0.0.1; } }
    radius \"T\" { listen { protocol tcp; port 2083; ip 0.0.0.0; } clients \"L\"; }
",
    );
    assert_eq!(
        error_lines(&text),
        [
            "test.conf:4:12: error: RADIUS server `T` (tcp) listens on TCP 0.0.0.0 port 2083, which HTTP server `H` already uses (127.0.0.1 overlaps it)"
        ]
    );
}

#[test]
fn an_explicit_management_listener_clashes_at_its_block() {
    let text = format!(
        "{CLIENTS}servers {{
    http \"H\" {{ listen {{ protocol tcp; port 9000; ip ::; }} }}
}}
management {{ listen {{ ip 127.0.0.1; port 9000; }} }}
"
    );
    let errors = error_lines(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("test.conf:5:12: error: the management listener listens on TCP 127.0.0.1 port 9000, which HTTP server `H` already uses (:: overlaps it)"),
        "{errors:?}"
    );
}
