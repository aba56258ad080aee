//! One test per constraint of the seeds and per common slip, asserting the exact
//! diagnostic (`file:line:col: severity: message`, and for some the whole rendering
//! with source line, caret, labels and help), plus the defaults the compiler applies.
//!
//! Each configuration under test is `test.conf`, loaded after `base.conf` (below),
//! which defines certificates and client lists to refer to.

mod compile_support;

use std::time::Duration;

use boomerang_core::eval::select::SelectMode;
use boomerang_core::lang::compile::{CompileOptions, Compiled};
use boomerang_core::lang::program::*;
use boomerang_core::lang::{Loaded, MemoryLoader, Severity, load};
use boomerang_core::radius::dictionary::MemorySource;
use compile_support::*;

const BASE: &str = r#"certificates {
    x509 "CERT" { filename "server.pem"; }
    key "KEY" { filename "server.key"; }
    x509 "CA" { filename "ca.pem"; }
}
clients {
    radius "NAS" { client "any" { source { ip 0.0.0.0/0; } } }
    radius "LOCAL" { client "lo" { source { ip 127.0.0.1; } secret "s"; } }
    http "WEB" { client "lo" { source { ip 127.0.0.1; } } }
}
"#;

fn run(text: &str) -> (Loaded, Compiled) {
    run_with(text, &CompileOptions::default())
}

fn run_with(text: &str, options: &CompileOptions<'_>) -> (Loaded, Compiled) {
    compile_files_with(&[("base.conf", BASE), ("test.conf", text)], options)
}

/// First lines of every diagnostic (`file:line:col: severity: message`).
fn heads(text: &str) -> Vec<String> {
    let (loaded, compiled) = run(text);
    compiled
        .diagnostics
        .iter()
        .map(|d| d.render(&loaded.sources).lines().next().unwrap().to_owned())
        .collect()
}

/// The whole rendering.
fn rendered(text: &str) -> String {
    let (loaded, compiled) = run(text);
    compiled.render(&loaded.sources)
}

/// The program of a configuration that must compile (warnings allowed).
fn ok(text: &str) -> Program {
    let (loaded, compiled) = run(text);
    let r = compiled.render(&loaded.sources);
    assert!(!compiled.has_errors(), "{r}");
    compiled.program.unwrap()
}

fn radius_backend<'p>(p: &'p Program, name: &str) -> &'p RadiusBackend {
    match &p.backend_by_name(name).unwrap().1.kind {
        BackendKind::Radius(r) => r,
        other => panic!("{other:?}"),
    }
}

fn radius_server<'p>(p: &'p Program, name: &str) -> &'p RadiusServer {
    match &p.server_by_name(name).unwrap().1.kind {
        ServerKind::Radius(r) => r,
        other => panic!("{other:?}"),
    }
}

// ----- seed constraints ----------------------------------------------------------

#[test]
fn reverse_and_connect_are_mutually_exclusive() {
    let text = r#"backends {
    radius "R" {
        server "S" {
            connect { protocol tls; host "x"; port 2083; tls { server_ca_certificate "CA"; } }
            reverse { @select { accept; } }
        }
    }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:5:13: error: `reverse` and `connect` are mutually exclusive in server `S`
            reverse { @select { accept; } }
            ^~~~~~~
test.conf:4:13: note: `connect` is here
            connect { protocol tls; host \"x\"; port 2083; tls { server_ca_certificate \"CA\"; } }
            ^~~~~~~
help: a server either connects out (`connect`) or uses inbound connections (`reverse`)
"
    );
}

#[test]
fn reverse_needs_exactly_one_select() {
    let text = r#"backends {
    radius "R" {
        server "NONE" {
            reverse { }
        }
        server "TWO" {
            reverse {
                @select { accept; }
                @select round-robin { accept; }
            }
        }
    }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:4:13: error: `reverse` must contain exactly one `@select` pipeline
            reverse { }
            ^~~~~~~
help: add `@select { … accept; }` choosing the connection to send over
test.conf:9:17: error: `reverse` must contain exactly one `@select`; this is a second one
                @select round-robin { accept; }
                ^~~~~~~
test.conf:8:17: note: the first `@select` is here
                @select { accept; }
                ^~~~~~~
"
    );
}

#[test]
fn unknown_selection_mode_suggests_the_nearest() {
    let text = r#"backends {
    radius "R" {
        server "U" { reverse { @select round-robbin { accept; } } }
        server "V" { reverse { @select last { accept; } } }
    }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:3:40: error: unknown selection mode `round-robbin`
        server \"U\" { reverse { @select round-robbin { accept; } } }
                                       ^~~~~~~~~~~~
help: did you mean `round-robin`?
test.conf:4:40: error: unknown selection mode `last`
        server \"V\" { reverse { @select last { accept; } } }
                                       ^~~~
help: the modes are `first` (the default) and `round-robin`
"
    );
}

#[test]
fn selection_modes_compile() {
    let p = ok(r#"backends {
    radius "R" {
        server "A" { reverse { @select { accept; } } }
        server "B" { reverse { @select first { accept; } } }
        server "C" { reverse { @select round-robin { accept; } } }
    }
}
"#);
    let modes: Vec<SelectMode> = radius_backend(&p, "R")
        .servers
        .iter()
        .map(|s| match &s.mode {
            RadiusServerMode::Reverse(r) => r.mode,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        modes,
        [SelectMode::First, SelectMode::First, SelectMode::RoundRobin]
    );
}

#[test]
fn server_needs_connect_or_reverse() {
    assert_eq!(
        heads("backends { radius \"R\" { server \"V\" { secret \"x\"; } } }\n"),
        ["test.conf:1:25: error: server `V` needs `connect { … }` or `reverse { … }`"]
    );
    assert_eq!(
        heads("backends { radius \"R\" { } }\n"),
        ["test.conf:1:12: error: backend `R` has no `server`"]
    );
}

#[test]
fn listen_backend_admits_no_other_key() {
    let text = r#"servers {
    radius "SIM" {
        listen {
            backend "B";
            protocol tls;
            port 2083;
        }
    }
}
backends {
    radius "B" { server "s" { connect { protocol tls; host "h"; port 2083; tls { server_ca_certificate "CA"; } } } }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:5:13: error: `protocol` is not allowed with `backend`: `listen { backend … }` admits no other key",
            "test.conf:6:13: error: `port` is not allowed with `backend`: `listen { backend … }` admits no other key",
        ]
    );
}

#[test]
fn listen_backend_must_name_a_radius_backend_that_connects() {
    let text = r#"servers {
    radius "A" { listen { backend "NOPE"; } }
    radius "C" { listen { backend "DB"; } }
    radius "D" { listen { backend "REV"; } }
    radius "E" { listen { backend "UDP"; } }
    radius "F" { listen { backend "RADSEC"; } }
}
backends {
    sqlite "DB" { filename "x.db"; }
    radius "REV" { server "s" { reverse { @select { accept; } } } }
    radius "UDP" { server "s" { secret "x"; connect { protocol udp; ip 192.0.2.1; port 1812; } } }
    radius "RADSEC" { server "s" { connect { protocol tls; host "h"; port 2083; tls { server_ca_certificate "CA"; } } } }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:2:35: error: unknown backend `NOPE`",
            "test.conf:3:35: error: `listen { backend … }` needs a RADIUS backend that uses `connect`, but `DB` is an SQLite backend",
            "test.conf:4:35: error: `listen { backend … }` needs a RADIUS backend that uses `connect`, but `REV` is a RADIUS backend whose servers use `reverse`",
            "test.conf:5:35: error: `listen { backend … }` needs a RADIUS backend that uses `connect`, but `UDP` is a backend that connects over `udp` only; requests can arrive only over `tcp` or `tls` connections",
        ]
    );
    let r = rendered(text);
    assert!(
        r.contains("test.conf:9:12: note: `DB` is defined here\n"),
        "{r}"
    );
}

#[test]
fn listen_backend_compiles_to_the_backend_id() {
    let p = ok(r#"servers {
    radius "SIM" { listen { backend "RADSEC"; } clients "NAS"; }
}
backends {
    sqlite "DB" { filename "x.db"; }
    radius "RADSEC" {
        server "s" {
            status true;
            nas_identifier "nas-1";
            connect { protocol tls; host "h"; port 2083; tls { server_ca_certificate "CA"; certificate "CERT"; certificate_key "KEY"; } }
        }
    }
}
"#);
    let s = radius_server(&p, "SIM");
    assert_eq!(
        s.listen,
        RadiusListen::Backend(boomerang_core::eval::ir::BackendId(1))
    );
    let b = radius_backend(&p, "RADSEC");
    let server = &b.servers[0];
    assert_eq!(server.secret, RADSEC_DEFAULT_SECRET);
    assert!(server.status);
    assert_eq!(server.status_interval, DEFAULT_STATUS_INTERVAL);
    assert_eq!(server.nas_identifier.as_deref(), Some("nas-1"));
    let RadiusServerMode::Connect(c) = &server.mode else {
        panic!()
    };
    assert_eq!(c.host.as_deref(), Some("h"));
    let tls = c.tls.as_ref().unwrap();
    assert_eq!(p.certificate(tls.server_ca_certificate).unwrap().name, "CA");
    assert_eq!(
        p.certificate(tls.certificate.unwrap()).unwrap().name,
        "CERT"
    );
}

#[test]
fn server_clients_must_name_a_list_of_the_right_protocol() {
    let text = r#"servers {
    radius "A" { listen { protocol udp; port 1812; } clients "WEB"; }
    http "H" { listen { protocol tcp; port 4000; } clients "NAS"; }
    radius "B" { listen { protocol udp; port 1813; } clients "LOCL"; }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:2:62: error: `clients` must name a `radius` client list, but `WEB` is an `http` list
    radius \"A\" { listen { protocol udp; port 1812; } clients \"WEB\"; }
                                                             ^~~~~
base.conf:9:10: note: `WEB` is defined here
    http \"WEB\" { client \"lo\" { source { ip 127.0.0.1; } } }
         ^~~~~
test.conf:3:60: error: `clients` must name an `http` client list, but `NAS` is a `radius` list
    http \"H\" { listen { protocol tcp; port 4000; } clients \"NAS\"; }
                                                           ^~~~~
base.conf:7:12: note: `NAS` is defined here
    radius \"NAS\" { client \"any\" { source { ip 0.0.0.0/0; } } }
           ^~~~~
test.conf:4:62: error: unknown client list `LOCL`
    radius \"B\" { listen { protocol udp; port 1813; } clients \"LOCL\"; }
                                                             ^~~~~~
help: did you mean `LOCAL`?
"
    );
}

#[test]
fn certificate_references_must_name_an_entry_of_the_right_kind() {
    let text = r#"servers {
    radius "T" {
        listen {
            protocol tls; port 2083;
            tls { certificate "KEY"; certificate_key "CERT"; client_ca_certificate "CAA"; }
        }
        clients "NAS";
    }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:5:31: error: `certificate` must name an `x509` entry, but `KEY` is a `key`
            tls { certificate \"KEY\"; certificate_key \"CERT\"; client_ca_certificate \"CAA\"; }
                              ^~~~~
base.conf:3:9: note: `KEY` is defined here
    key \"KEY\" { filename \"server.key\"; }
        ^~~~~
test.conf:5:54: error: `certificate_key` must name a `key` entry, but `CERT` is an `x509` certificate
            tls { certificate \"KEY\"; certificate_key \"CERT\"; client_ca_certificate \"CAA\"; }
                                                     ^~~~~~
base.conf:2:10: note: `CERT` is defined here
    x509 \"CERT\" { filename \"server.pem\"; }
         ^~~~~~
test.conf:5:84: error: unknown certificate `CAA`
            tls { certificate \"KEY\"; certificate_key \"CERT\"; client_ca_certificate \"CAA\"; }
                                                                                   ^~~~~
help: did you mean `CA`?
"
    );
    // The CA of an outbound connection too.
    assert_eq!(
        heads(
            "backends { radius \"B\" { server \"s\" { connect { protocol tls; host \"h\"; port 2083; tls { server_ca_certificate \"KEY\"; } } } } }\n"
        ),
        [
            "test.conf:1:111: error: `server_ca_certificate` must name an `x509` entry, but `KEY` is a `key`"
        ]
    );
}

#[test]
fn tls_listener_needs_certificate_and_key() {
    let text = r#"servers {
    radius "U" { listen { protocol tls; port 2084; } clients "NAS"; }
    radius "V" { listen { protocol tls; port 2085; tls { client_ca_certificate "CA"; } } clients "NAS"; }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:2:18: error: a `protocol tls` listener needs `tls { certificate …; certificate_key …; }`",
            "test.conf:3:52: error: `tls` has no `certificate`",
            "test.conf:3:52: error: `tls` has no `certificate_key`",
        ]
    );
}

#[test]
fn required_client_certificate_needs_a_client_ca() {
    let text = r#"servers {
    radius "V" { listen { protocol tls; port 2085; tls { certificate "CERT"; certificate_key "KEY"; } } clients "NAS"; }
    radius "W" { listen { protocol tls; port 2086; tls { certificate "CERT"; certificate_key "KEY"; require_client_certificate true; } } clients "NAS"; }
    radius "X" { listen { protocol tls; port 2087; tls { certificate "CERT"; certificate_key "KEY"; require_client_certificate false; } } clients "NAS"; }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:2:52: error: `tls` has no `client_ca_certificate`, which `require_client_certificate` (true by default) needs",
            "test.conf:3:101: error: `require_client_certificate` is true but `tls` has no `client_ca_certificate`",
        ]
    );
}

#[test]
fn tls_settings_need_protocol_tls() {
    assert_eq!(
        heads(
            "servers { radius \"R\" { listen { protocol tcp; port 1812; tls { certificate \"CERT\"; certificate_key \"KEY\"; require_client_certificate false; } } clients \"LOCAL\"; } }\n"
        ),
        ["test.conf:1:58: error: `tls` settings need `protocol tls`, but this listener uses `tcp`"]
    );
}

// ----- names ------------------------------------------------------------------------

#[test]
fn duplicate_names_point_at_the_first_definition() {
    let text = r#"backends {
    radius "B" { server "s" { reverse { @select { accept; } } } }
    sqlite "B" { filename "x.db"; }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:3:12: error: duplicate backend `B`
    sqlite \"B\" { filename \"x.db\"; }
           ^~~
test.conf:2:12: note: first defined here
    radius \"B\" { server \"s\" { reverse { @select { accept; } } } }
           ^~~
"
    );
}

#[test]
fn every_namespace_reports_duplicates() {
    let text = r#"certificates { x509 "CA" { filename "other.pem"; } key "K" { filename "k"; } x509 "K" { filename "k"; } }
clients { http "NAS" { client "a" { source { ip 10.0.0.1; } } client "a" { source { ip 10.0.0.2; } } } }
servers {
    radius "S" { listen { protocol udp; port 1812; } clients "LOCAL"; }
    http "S" { listen { port 4000; } }
}
backends {
    radius "R" {
        server "x" { reverse { @select { accept; } } }
        server "x" { reverse { @select { accept; } } }
        query "Q" { bindings { radius.request.code = radius.COA_REQUEST; } }
        query "Q" { bindings { radius.request.code = radius.COA_REQUEST; } }
    }
}
aaa {
    policy "P" { handler "H" { @execute { accept; } } handler "H" { @execute { accept; } } }
    policy "P" { handler "H" { @execute { accept; } } }
    pipeline "L" { accept; }
    pipeline "L" { accept; }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:1:21: error: duplicate certificate `CA`",
            "test.conf:1:83: error: duplicate certificate `K`",
            "test.conf:2:16: error: duplicate client list `NAS`",
            "test.conf:5:10: error: duplicate server `S`",
            "test.conf:10:16: error: duplicate server `x` in backend `R`",
            "test.conf:12:15: error: duplicate query `Q` in backend `R`",
            "test.conf:16:63: error: duplicate handler `H` in policy `P`",
            "test.conf:17:12: error: duplicate policy `P`",
            "test.conf:19:14: error: duplicate pipeline `L`",
        ]
    );
    // Clients inside a list (the list itself is a duplicate above, so use a fresh one).
    assert_eq!(
        heads(
            "clients { radius \"L\" { client \"a\" { source { ip 10.0.0.1; } secret \"s\"; } client \"a\" { source { ip 10.0.0.2; } secret \"s\"; } } }\n"
        ),
        ["test.conf:1:82: error: duplicate client `a` in client list `L`"]
    );
}

#[test]
fn duplicate_keys_point_at_the_first() {
    let text = "backends { radius \"B\" { server \"t\" { timeout 7000; timeout 5s; reverse { @select { accept; } } } } }\n";
    assert_eq!(
        rendered(text),
        "test.conf:1:52: error: duplicate key `timeout`
backends { radius \"B\" { server \"t\" { timeout 7000; timeout 5s; reverse { @select { accept; } } } } }
                                                   ^~~~~~~
test.conf:1:38: note: first given here
backends { radius \"B\" { server \"t\" { timeout 7000; timeout 5s; reverse { @select { accept; } } } } }
                                     ^~~~~~~
"
    );
}

#[test]
fn unknown_pinned_policy_suggests() {
    assert_eq!(
        heads(
            "servers { radius \"S\" { listen { protocol udp; port 1812; } clients \"LOCAL\"; policy \"DEFAUTL\"; } }\naaa { policy \"DEFAULT\" { handler \"h\" { @execute { accept; } } } }\n"
        ),
        ["test.conf:1:84: error: unknown policy `DEFAUTL`"]
    );
    let p = ok(
        "servers { radius \"S\" { listen { protocol udp; port 1812; } clients \"LOCAL\"; policy \"B\"; } }\naaa { policy \"A\" { handler \"h\" { @execute { accept; } } } policy \"B\" { handler \"h\" { @execute { accept; } } } }\n",
    );
    assert_eq!(radius_server(&p, "S").policy, Some(PolicyId(1)));
}

// ----- common slips -----------------------------------------------------------------

#[test]
fn unknown_keys_suggest_the_nearest_valid_key() {
    let text = r#"servers {
    radius "S" { lisen { protocol udp; port 1812; } clients "LOCAL"; }
}
clients {
    radius "L2" { client "c" { source { ip 10.0.0.1; } secert "x"; } }
}
serverz { }
"#;
    let r = rendered(text);
    assert!(
        r.contains(
            "test.conf:2:18: error: unknown key `lisen` in server `S`
    radius \"S\" { lisen { protocol udp; port 1812; } clients \"LOCAL\"; }
                 ^~~~~
help: did you mean `listen`?
"
        ),
        "{r}"
    );
    assert_eq!(
        heads(text),
        [
            "test.conf:2:5: error: server `S` has no `listen` block",
            "test.conf:2:18: error: unknown key `lisen` in server `S`",
            "test.conf:5:56: error: unknown key `secert` in client `c`",
            "test.conf:7:1: error: unknown section `serverz`",
        ]
    );
    assert!(r.contains("help: did you mean `secret`?\n"));
    assert!(r.contains("help: did you mean `servers`?\n"));
}

#[test]
fn listener_keys_written_in_the_server_are_pointed_inside_listen() {
    let r = rendered(
        "servers { radius \"R\" { listen { protocol udp; port 1812; } clients \"LOCAL\"; timeout 5s; } }\n",
    );
    assert_eq!(
        r,
        "test.conf:1:77: error: unknown key `timeout` in server `R`
servers { radius \"R\" { listen { protocol udp; port 1812; } clients \"LOCAL\"; timeout 5s; } }
                                                                            ^~~~~~~
help: `timeout` belongs inside `listen { … }`
"
    );
}

#[test]
fn missing_required_keys_are_reported_at_the_block() {
    let text = r#"servers {
    radius "S" { listen { protocol udp; } clients "NAS"; }
    radius "T" { listen { port 1; } }
    radius "U" { clients "NAS"; }
    radius "V" { listen { protocol udp; port 1812; } }
}
backends {
    radius "B" { server "s" { connect { protocol tcp; secret "x"; } } }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:2:18: error: `listen` has no `port`",
            "test.conf:3:18: error: `listen` has no `protocol`",
            "test.conf:4:5: error: server `U` has no `listen` block",
            "test.conf:5:5: error: server `V` has no `clients`",
            "test.conf:8:31: error: `connect` has no `port`",
            "test.conf:8:31: error: `connect` has neither `host` nor `ip`",
            "test.conf:8:55: error: unknown key `secret` in `connect`",
        ]
    );
}

#[test]
fn udp_and_tcp_clients_need_a_secret() {
    let text = r#"servers {
    radius "U" { listen { protocol udp; port 1812; } clients "MIXED"; }
    radius "T" { listen { protocol tcp; port 1812; } clients "MIXED"; }
    radius "S" { listen { protocol tls; port 2083; tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; } } clients "MIXED"; }
}
clients {
    radius "MIXED" {
        client "with" { source { ip 10.0.0.1; } secret "x"; }
        client "without" { source { ip 10.0.0.2; } }
    }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:9:16: error: client `without` has no `secret`, which clients of `udp` server `U` must have
        client \"without\" { source { ip 10.0.0.2; } }
               ^~~~~~~~~
test.conf:2:62: note: the client list is used here
    radius \"U\" { listen { protocol udp; port 1812; } clients \"MIXED\"; }
                                                             ^~~~~~~
help: add `secret \"…\";` (only TLS listeners default to `radsec`)
"
    );
    // Over TLS alone the same list is fine: the secret is `radsec`.
    let p = ok(r#"servers {
    radius "S" { listen { protocol tls; port 2083; tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; } } clients "MIXED"; }
}
clients { radius "MIXED" { client "without" { source { ip 10.0.0.2; } } } }
"#);
    assert_eq!(p.client_lists[3].clients[0].secret, None);
}

#[test]
fn outbound_udp_and_tcp_need_a_secret() {
    assert_eq!(
        heads(
            "backends { radius \"B\" { server \"s\" { connect { protocol udp; ip 192.0.2.1; port 1812; } } } }\n"
        ),
        ["test.conf:1:25: error: server `s` connects over `udp` and needs a `secret`"]
    );
}

#[test]
fn wrong_value_types_are_reported_at_the_value() {
    let text = r#"clients {
    radius "E" {
        client "h" { source { ip 10.0.0.4; } secret 5; timeout -1; require_message_authenticator yes; }
        client "i" { source { ip banana; } secret "x"; }
    }
}
servers { radius "R" { listen { protocol sctp; port 70000; } clients "LOCAL"; } }
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:3:53: error: `secret` expects a quoted string, found `5`",
            "test.conf:3:64: error: `timeout` cannot be negative (-1)",
            "test.conf:3:98: error: `require_message_authenticator` expects `true` or `false`, found `yes`",
            "test.conf:4:34: error: `ip` expects an IP address or prefix, found `banana`",
            "test.conf:7:42: error: unknown value `sctp` for `protocol`",
            "test.conf:7:53: error: `port` must be between 1 and 65535, not 70000",
        ]
    );
}

#[test]
fn port_zero_and_a_port_past_65535_get_the_same_range() {
    let text = r#"servers {
    radius "A" { listen { protocol udp; port 0; } clients "LOCAL"; }
    radius "B" { listen { protocol udp; port 65536; } clients "LOCAL"; }
}
"#;
    let h = heads(text);
    assert!(
        h.iter()
            .any(|l| l.ends_with("error: `port` must be between 1 and 65535, not 0")),
        "{h:?}"
    );
    assert!(
        h.iter()
            .any(|l| l.ends_with("error: `port` must be between 1 and 65535, not 65536")),
        "{h:?}"
    );
}

#[test]
fn parse_errors_are_part_of_the_diagnostics() {
    let text = "servers {\n    radius \"R\" {\n        listen { protocol udp; port 1812; }\n        clients \"LOCAL\"\n    }\n}\n";
    let h = heads(text);
    assert_eq!(h, ["test.conf:4:24: error: expected `;` after statement"]);
}

// ----- unsupported and deprecated constructs ------------------------------------

#[test]
fn unsupported_sections_are_reported_at_their_keyword() {
    let text = "license { }\nstatistics { }\ncaptures { }\ncaches { }\nscripts { }\nui { }\nip-accept { }\nproxy-protocol { }\n@init { }\n";
    assert_eq!(
        heads(text),
        [
            "test.conf:1:1: error: `license` is not supported",
            "test.conf:2:1: error: `statistics` is not supported",
            "test.conf:3:1: error: `captures` is not supported",
            "test.conf:4:1: error: `caches` is not supported",
            "test.conf:5:1: error: `scripts` is not supported",
            "test.conf:6:1: error: `ui` is not supported",
            "test.conf:7:1: error: `ip-accept` is not supported",
            "test.conf:8:1: error: `proxy-protocol` is not supported",
            "test.conf:9:1: error: `@init` is not supported",
        ]
    );
}

#[test]
fn unsupported_keys_inside_sections() {
    let text = r#"certificates { x509-directory "D" { directory "/x"; } }
backends {
    radius "B" {
        server "s" { secret "x"; connect { protocol udp; ip 192.0.2.1; port 1812; } }
        @pre-proxying { filter { Tunnel-Type; } }
        post-proxying { filter { Tunnel-Type; } }
    }
    ldap "L" { }
}
servers {
    radius "R" {
        listen { protocol tls; port 2083; tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; keylog_filename "k"; } }
        clients "NAS";
        @pre-client { accept; }
    }
}
logging { application { memory { size 1; } syslog { } } aaa { logger "A" { } } }
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:1:16: error: `x509-directory` is not supported",
            "test.conf:5:9: error: `@pre-proxying` is not supported",
            "test.conf:6:9: warning: deprecated: write `@post-proxying`",
            "test.conf:6:9: error: `@post-proxying` is not supported",
            "test.conf:8:5: error: `ldap` is not supported",
            "test.conf:12:120: error: `keylog_filename` is not supported",
            "test.conf:14:9: error: `@pre-client` is not supported",
            "test.conf:17:25: error: `memory` is not supported",
            "test.conf:17:44: error: `syslog` is not supported",
            "test.conf:17:63: error: `logger` is not supported",
        ]
    );
}

#[test]
fn deprecated_stage_names_warn_and_unsupported_stages_are_errors() {
    let text = r#"aaa {
    policy "P" {
        handler "H" {
            authentication { pap; }
            execute { accept; }
            @post-execute { accept; }
            final-execute { accept; }
        }
    }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:4:13: warning: deprecated: write `@authentication`",
            "test.conf:4:13: error: `@authentication` is not supported",
            "test.conf:5:13: warning: deprecated: write `@execute`",
            "test.conf:6:13: error: `@post-execute` is not supported",
            "test.conf:7:13: warning: deprecated: write `@final-execute`",
        ]
    );
    // The deprecated spelling of a supported stage alone is only a warning.
    let (_, c) = run("aaa { policy \"P\" { handler \"H\" { execute { accept; } } } }\n");
    assert!(!c.has_errors());
    assert!(c.program.unwrap().policies[0].handlers[0].execute.is_some());
    assert_eq!(
        heads("backends { radius \"R\" { server \"s\" { reverse { select { accept; } } } } }\n"),
        ["test.conf:1:48: warning: deprecated: write `@select`"]
    );
}

#[test]
fn handlers_without_execute_and_policies_without_handlers_warn() {
    assert_eq!(
        heads(
            "aaa { policy \"P\" { } policy \"Q\" { handler \"H\" { @final-execute { accept; } } } }\n"
        ),
        [
            "test.conf:1:7: warning: policy `P` has no `handler`: requests it matches get no reply",
            "test.conf:1:35: warning: handler `H` has no `@execute`: requests it handles get no reply",
        ]
    );
}

// ----- defaults ---------------------------------------------------------------------

#[test]
fn defaults_are_applied() {
    let p = ok(r#"servers {
    radius "RADSEC" { listen { protocol tls; port 2083; tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; } } clients "NAS"; }
    radius "UDP" { listen { protocol udp; port 1812; ip 127.0.0.1; ip ::1; } clients "LOCAL"; }
    http "API" { listen { port 4000; } }
}
backends {
    radius "REV" {
        server "r" { reverse { @select { accept; } } }
        server "c" { timeout 7000; retries 2; status true; status_interval 30s; priority 3; connect { protocol tls; ip 192.0.2.1; port 2083; tls { server_ca_certificate "CA"; } } }
    }
    sqlite "DB" { url "sqlite:data/sessions.sqlite"; }
}
"#);
    // Listener: no timeout of its own (the 10 s default applies at run time), all IPv4 by default.
    let RadiusListen::Network(net) = &radius_server(&p, "RADSEC").listen else {
        panic!()
    };
    assert_eq!(net.timeout, None);
    assert_eq!(net.ips, ["0.0.0.0".parse::<std::net::IpAddr>().unwrap()]);
    assert!(net.tls.as_ref().unwrap().require_client_certificate);
    let RadiusListen::Network(udp) = &radius_server(&p, "UDP").listen else {
        panic!()
    };
    assert_eq!(udp.ips.len(), 2);
    // Client: no secret (radsec on TLS at run time), no timeout, no Message-Authenticator requirement.
    let nas = &p.client_lists[0].clients[0];
    assert_eq!((nas.secret.as_deref(), nas.timeout), (None, None));
    assert!(!nas.require_message_authenticator && !nas.limit_proxy_state);
    // Reverse server: secret radsec, 5 s timeout, no retries.
    let rev = radius_backend(&p, "REV");
    assert_eq!(rev.server_selection, ServerSelection::Fallback);
    let r = &rev.servers[0];
    assert_eq!(r.secret, RADSEC_DEFAULT_SECRET);
    assert_eq!(r.timeout, DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(r.retries, 0);
    assert!(!r.status);
    assert_eq!(r.status_interval, Duration::from_secs(15));
    // Bare integers are milliseconds.
    let c = &rev.servers[1];
    assert_eq!(c.timeout, Duration::from_millis(7000));
    assert_eq!((c.retries, c.priority, c.status), (2, 3, true));
    assert_eq!(c.status_interval, Duration::from_secs(30));
    assert_eq!(c.secret, RADSEC_DEFAULT_SECRET);
    // SQLite path relative to the configuration file, default busy timeout.
    let BackendKind::Sqlite(db) = &p.backend_by_name("DB").unwrap().1.kind else {
        panic!()
    };
    assert_eq!(db.path, "data/sessions.sqlite");
    assert_eq!(db.busy_timeout, Duration::from_secs(5));
    // HTTP: all IPv4, no client list (every client allowed), no TLS.
    let ServerKind::Http(h) = &p.server_by_name("API").unwrap().1.kind else {
        panic!()
    };
    assert_eq!((h.port, h.clients, h.tls.is_some()), (4000, None, false));
    assert_eq!(p.management, Management::default());
    assert_eq!(p.logging, Logging::default());
}

#[test]
fn durations_accept_units_bare_milliseconds_and_zero() {
    let p = ok(r#"clients {
    radius "T" {
        client "a" { source { ip 10.0.0.1; } secret "s"; timeout 0; }
        client "b" { source { ip 10.0.0.2; } secret "s"; timeout 1800000; }
        client "c" { source { ip 10.0.0.3; } secret "s"; timeout 1m30s; }
        client "d" { source { ip 10.0.0.4; } secret "s"; timeout "250ms"; }
    }
}
"#);
    let t: Vec<Option<Duration>> = p.client_lists[3]
        .clients
        .iter()
        .map(|c| c.timeout)
        .collect();
    assert_eq!(
        t,
        [
            Some(Duration::ZERO),
            Some(Duration::from_secs(1800)),
            Some(Duration::from_secs(90)),
            Some(Duration::from_millis(250)),
        ]
    );
}

// ----- strings, paths, files ----------------------------------------------------

#[test]
fn environment_variables_expand_outside_pipelines() {
    let text = r#"clients {
    radius "E" {
        client "e" { source { ip 10.0.0.1; } secret "%{env.RADSEC_SECRET}"; }
        client "g" { source { ip 10.0.0.3; } secret "pre-%{env.NAME | uppercase}"; }
    }
}
"#;
    let options = CompileOptions::new().with_env([("RADSEC_SECRET", "s3cret"), ("NAME", "abc")]);
    let (_, c) = run_with(text, &options);
    let p = c.program.unwrap();
    let secrets: Vec<_> = p.client_lists[3]
        .clients
        .iter()
        .map(|c| c.secret.clone().unwrap())
        .collect();
    assert_eq!(secrets, ["s3cret", "pre-ABC"]);

    let bad = r#"clients {
    radius "E" {
        client "e" { source { ip 10.0.0.1; } secret "%{env.RADSEC_SECRET}"; }
        client "f" { source { ip 10.0.0.2; } secret "%{radius.request.attr.User-Name}"; }
    }
}
"#;
    assert_eq!(
        heads(bad),
        [
            "test.conf:3:54: error: environment variable `RADSEC_SECRET` is not set",
            "test.conf:4:56: error: `radius.request.attr.User-Name` cannot be read here: outside pipelines only `env.*` is available",
        ]
    );
}

#[test]
fn file_paths_are_relative_to_the_file_that_names_them() {
    let mut loader = MemoryLoader::new();
    loader.add("etc/boomerang.conf", "include \"conf.d/certs.conf\";\ncertificates { x509 \"TOP\" { filename \"/abs/top.pem\"; } }\n");
    loader.add(
        "etc/conf.d/certs.conf",
        "certificates { x509 \"C\" { filename \"../pki/c.pem\"; } key \"K\" { filename \"k.pem\"; password \"pw\"; } }\nbackends { sqlite \"DB\" { filename \"db/s.sqlite\"; } sqlite \"MEM\" { url \"sqlite::memory:\"; } }\nlogging { file \"log/b.log\"; level debug; format json; }\n",
    );
    let loaded = load(&loader, &["etc/boomerang.conf"]);
    let c = boomerang_core::lang::compile::compile(&loaded, &CompileOptions::default());
    assert!(c.diagnostics.is_empty(), "{}", c.render(&loaded.sources));
    let p = c.program.unwrap();
    let kinds: Vec<_> = p.certificates.iter().map(|c| c.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            CertificateKind::X509 {
                path: "etc/pki/c.pem".into()
            },
            CertificateKind::Key {
                path: "etc/conf.d/k.pem".into(),
                password: Some("pw".into())
            },
            CertificateKind::X509 {
                path: "/abs/top.pem".into()
            },
        ]
    );
    let paths: Vec<_> = p
        .backends
        .iter()
        .map(|b| match &b.kind {
            BackendKind::Sqlite(s) => s.path.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(paths, ["etc/conf.d/db/s.sqlite", ":memory:"]);
    assert_eq!(p.logging.file.as_deref(), Some("etc/conf.d/log/b.log"));
    assert_eq!(p.logging.level.as_deref(), Some("debug"));
    assert_eq!(p.logging.format.as_deref(), Some("json"));
}

#[test]
fn sqlite_backends_and_queries() {
    let text = r#"backends {
    sqlite "D" {
        url "sqlite:x.db";
        filename "y.db";
        query "Q" { statement "SELECT a FROM t WHERE u = ? AND v = ?"; bindings { aaa.identity; } }
        query "R" { query "SELECT 1"; statement "SELECT 2"; }
        query "S" { bindings { aaa.identity; } }
    }
    sqlite "E" { url "postgres://x"; }
    sqlite "F" { }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:4:9: error: give either `url` or `filename`, not both",
            "test.conf:5:72: error: the statement has 2 `?` placeholders but `bindings` gives 1 value",
            "test.conf:6:39: error: a query has one SQL statement: give either `query` or `statement`",
            "test.conf:7:9: error: query `S` has no SQL statement",
            "test.conf:9:22: error: `postgres://x` is not an SQLite URL",
            "test.conf:10:5: error: backend `F` has no database: add `filename \"PATH\";` or `url \"sqlite:PATH\";`",
        ]
    );
    let p = ok(r#"backends {
    sqlite "D" {
        filename "s.sqlite";
        timeout 250;
        query "Q" {
            query """SELECT a, b FROM t WHERE u = ? AND note = 'why?' -- really?
                     AND v = ?2""";
            bindings { aaa.identity; radius.request.attr.NAS-Identifier; }
            mappings { vars.a = a; }
        }
    }
}
"#);
    let BackendKind::Sqlite(s) = &p.backends[0].kind else {
        panic!()
    };
    assert_eq!(s.busy_timeout, Duration::from_millis(250));
    assert_eq!(s.queries[0].name, "Q");
    assert!(s.queries[0].statement.starts_with("SELECT a, b"));
}

#[test]
fn radius_queries_need_bindings_and_one_mapping() {
    let text = r#"backends {
    radius "R" {
        server "s" { reverse { @select { accept; } } }
        query "A" { mapping { vars.x = radius.reply.code; } }
        query "B" { bindings { radius.request.code = radius.COA_REQUEST; } mapping { vars.x = 1; } mappings { vars.y = 2; } }
        query "C" { bindings { radius.request.code = radius.COA_REQUEST; } filter { User-Name; } }
    }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:4:9: error: query `A` has no `bindings`",
            "test.conf:5:100: error: duplicate `mappings`: a query has one `mapping` block (`mappings` is the same)",
            "test.conf:6:76: error: unknown key `filter` in query `C`",
        ]
    );
}

#[test]
fn dictionary_files_extend_the_dictionary() {
    let text = "dictionary { filename \"dictionary.acme\"; }\n";
    let source = MemorySource::new().with(
        "dictionary.acme",
        "VENDOR Acme 64512\nBEGIN-VENDOR Acme\nATTRIBUTE Acme-Role 1 integer\nEND-VENDOR Acme\n",
    );
    let options = CompileOptions::new().with_dictionary_source(source);
    let (_, c) = run_with(text, &options);
    let p = c.program.unwrap();
    assert!(p.dictionary.attr("Acme-Role").is_some());
    assert!(p.dictionary.attr("User-Name").is_some());

    // Without a source, or with a broken file, the section is an error at the file name.
    assert_eq!(
        heads(text),
        [
            "test.conf:1:23: error: cannot read dictionary `dictionary.acme`: no dictionary files are available to this compilation"
        ]
    );
    let source = MemorySource::new().with("dictionary.acme", "ATTRIBUTE Broken 1 nosuchtype\n");
    let options = CompileOptions::new().with_dictionary_source(source);
    let (loaded, c) = run_with(text, &options);
    assert_eq!(
        c.render(&loaded.sources),
        "test.conf:1:23: error: dictionary `dictionary.acme`: unknown data type `nosuchtype`
dictionary { filename \"dictionary.acme\"; }
                      ^~~~~~~~~~~~~~~~~
note: in dictionary.acme:1:20
"
    );
}

#[test]
fn management_and_logging_sections() {
    let p = ok(
        "management { listen { ip 0.0.0.0; port 9090; } }\nlogging { level warning; format json; }\n",
    );
    assert_eq!(p.management.port, 9090);
    assert_eq!(
        p.management.ip,
        "0.0.0.0".parse::<std::net::IpAddr>().unwrap()
    );
    assert!(p.management.enabled);
    assert_eq!(p.logging.level.as_deref(), Some("warn"));
    let p = ok("management { enabled false; }\n");
    assert!(!p.management.enabled);
    assert_eq!(
        heads(
            "management { listen { port 9090; } }\nmanagement { enabled false; }\nlogging { level verbose; }\n"
        ),
        [
            "test.conf:2:1: error: duplicate section `management`",
            "test.conf:3:17: error: unknown value `verbose` for `level`",
        ]
    );
}

#[test]
fn http_servers() {
    assert_eq!(
        heads("servers { http \"H\" { listen { protocol tls; port 4000; } } }\n"),
        ["test.conf:1:40: error: HTTP servers listen with `protocol tcp`, not `tls`"]
    );
    let p = ok(r#"servers {
    http "H" {
        listen { protocol tcp; ip 127.0.0.1; port 8443; }
        clients "WEB";
        tls { certificate "CERT"; certificate_key "KEY"; }
        policy "API";
    }
}
aaa { policy "API" { handler "h" { @execute { accept; } } } }
"#);
    let ServerKind::Http(h) = &p.servers[0].kind else {
        panic!()
    };
    assert_eq!(h.clients, Some(ClientListId(2)));
    assert_eq!(h.policy, Some(PolicyId(0)));
    let tls = h.tls.as_ref().unwrap();
    // HTTPS does not require client certificates unless asked to.
    assert!(!tls.require_client_certificate);
}

#[test]
fn keepalive_and_tls_versions() {
    let p = ok(r#"servers {
    radius "R" {
        listen {
            protocol tcp; port 1812; timeout 0;
            keepalive { idle 30s; interval 10s; count 3; }
        }
        clients "LOCAL";
    }
    radius "S" {
        listen {
            protocol tls; port 2083;
            tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; min_protocol_version tlsv12; max_protocol_version tlsv13; }
        }
        clients "NAS";
    }
}
"#);
    let RadiusListen::Network(n) = &radius_server(&p, "R").listen else {
        panic!()
    };
    assert_eq!(n.timeout, Some(Duration::ZERO));
    assert_eq!(
        n.keepalive,
        Some(Keepalive {
            idle: Some(Duration::from_secs(30)),
            interval: Some(Duration::from_secs(10)),
            count: Some(3)
        })
    );
    let RadiusListen::Network(s) = &radius_server(&p, "S").listen else {
        panic!()
    };
    let t = s.tls.as_ref().unwrap();
    assert_eq!(
        (t.min_version, t.max_version),
        (Some(TlsVersion::Tls12), Some(TlsVersion::Tls13))
    );
    assert_eq!(
        heads(
            "servers { radius \"S\" { listen { protocol tls; port 2083; tls { certificate \"CERT\"; certificate_key \"KEY\"; client_ca_certificate \"CA\"; min_protocol_version tlsv13; max_protocol_version tlsv12; } } clients \"NAS\"; } }\n"
        ),
        ["test.conf:1:164: error: `max_protocol_version` is lower than `min_protocol_version`"]
    );
}

#[test]
fn liveness_probe_settings() {
    let p = ok(r#"servers {
    radius "R" {
        listen { protocol tcp; port 1812; timeout 0; liveness { probe false; } }
        clients "LOCAL";
    }
    radius "S" {
        listen {
            protocol tls; port 2083; timeout 0;
            liveness { timeout 3s; }
            tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; }
        }
        clients "NAS";
    }
    radius "T" {
        listen { protocol tcp; port 1813; }
        clients "LOCAL";
    }
}
"#);
    let liveness = |name: &str| match &radius_server(&p, name).listen {
        RadiusListen::Network(n) => n.liveness,
        RadiusListen::Backend(_) => panic!("not a network listener"),
    };
    assert!(!liveness("R").probe);
    assert_eq!(
        liveness("S"),
        Liveness {
            probe: true,
            timeout: Duration::from_secs(3)
        }
    );
    assert_eq!(liveness("T"), Liveness::default());
    assert_eq!(Liveness::default().timeout, Duration::from_secs(10));
    let errors = heads(
        "servers { radius \"U\" { listen { protocol udp; port 1812; liveness { probe true; } } clients \"LOCAL\"; } }\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`liveness` applies to `tcp` and `tls` listeners")),
        "{errors:?}"
    );
    let errors = heads(
        "servers { radius \"R\" { listen { protocol tcp; port 1812; liveness { timeout 0; bogus 1; } } clients \"LOCAL\"; } }\n",
    );
    assert!(
        errors.iter().any(|e| e.contains("must be above 0")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("bogus")), "{errors:?}");
}

#[test]
fn program_is_absent_exactly_when_there_are_errors() {
    let (_, c) = run("servers { radius \"R\" { } }\n");
    assert!(c.has_errors());
    assert!(c.program.is_none());
    // Warnings alone keep the program.
    let (_, c) = run("aaa { policy \"P\" { } }\n");
    assert!(
        c.diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
    assert!(c.program.is_some());
}

#[test]
fn receive_buffer_is_for_udp_listeners() {
    let p = ok(r#"servers {
    radius "U" {
        listen { protocol udp; port 1812; receive_buffer 8388608; }
        clients "LOCAL";
    }
    radius "D" {
        listen { protocol udp; port 1813; }
        clients "LOCAL";
    }
}
"#);
    let RadiusListen::Network(u) = &radius_server(&p, "U").listen else {
        panic!()
    };
    assert_eq!(u.receive_buffer, Some(8_388_608));
    let RadiusListen::Network(d) = &radius_server(&p, "D").listen else {
        panic!()
    };
    assert_eq!(d.receive_buffer, None, "no key: the driver's default");
    assert_eq!(
        heads(
            "servers { radius \"T\" { listen { protocol tcp; port 1812; receive_buffer 65536; } clients \"LOCAL\"; } }\n"
        ),
        ["test.conf:1:58: error: `receive_buffer` applies to `udp` listeners, not `tcp`"]
    );
    let too_big = heads(
        "servers { radius \"U\" { listen { protocol udp; port 1812; receive_buffer 2147483648; } clients \"LOCAL\"; } }\n",
    );
    assert_eq!(too_big.len(), 1, "{too_big:?}");
    assert!(too_big[0].starts_with("test.conf:1:"), "{too_big:?}");
}

#[test]
fn nas_identifier_binding_is_read_and_checked_at_its_value() {
    let p = ok(r#"clients {
    radius "BOUND" {
        client "ANY" { source { ip 0.0.0.0/0; } nas_identifier_binding certificate_cn; }
        client "DNS" { source { ip 10.0.0.0/8; } nas_identifier_binding "certificate_dns"; }
        client "OFF" { source { ip 10.1.0.0/16; } }
    }
}
"#);
    let list = p.client_lists.iter().find(|l| l.name == "BOUND").unwrap();
    let bindings: Vec<NasIdentifierBinding> = list
        .clients
        .iter()
        .map(|c| c.nas_identifier_binding)
        .collect();
    assert_eq!(
        bindings,
        [
            NasIdentifierBinding::CertificateCn,
            NasIdentifierBinding::CertificateDns,
            NasIdentifierBinding::None,
        ]
    );
    let text = r#"clients {
    radius "BOUND" {
        client "A" { source { ip 0.0.0.0/0; } nas_identifier_binding certificate_cm; }
    }
    http "API" {
        client "B" { source { ip 127.0.0.1; } nas_identifier_binding certificate_cn; }
    }
}
"#;
    let h = heads(text);
    assert_eq!(
        h[0],
        "test.conf:3:70: error: unknown value `certificate_cm` for `nas_identifier_binding`"
    );
    // Not a key of HTTP clients.
    assert!(
        h[1].starts_with("test.conf:6:47: error: unknown key `nas_identifier_binding`"),
        "{h:?}"
    );
}

/// A reverse server signs with its own secret whatever connection it picks: a
/// RADIUS/TCP server whose clients have another secret is warned about (a NAS there
/// would refuse the requests); one whose clients share it is not.
#[test]
fn a_reverse_secret_that_a_tcp_client_does_not_share_is_warned_about() {
    let config = |tcp_secret: &str| {
        format!(
            r#"clients {{ radius "TCP_NAS" {{ client "t1" {{ source {{ ip 10.0.0.0/8; }} secret "{tcp_secret}"; }} }} }}
servers {{ radius "TCP_IN" {{ listen {{ protocol tcp; port 1812; timeout 0; }} clients "TCP_NAS"; }} }}
backends {{
    radius "REV" {{
        server "S" {{ secret "radsec"; reverse {{ @select {{ accept; }} }} }}
        query "Q" {{ bindings {{ radius.request.code = radius.DISCONNECT_REQUEST; }} }}
    }}
}}
"#
        )
    };
    let warned = heads(&config("tcpsecret"));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("warning: backend `REV`: reverse server `S` signs with its own secret, and client `t1` of the RADIUS/TCP server `TCP_IN` has another"),
        "{warned:?}"
    );
    assert_eq!(heads(&config("radsec")), Vec::<String>::new());
}

/// A NAS keeps its connection with Status-Server every 15 s (radiusdtls-bis); the
/// default idle timeout of 10 s drops it between two, so a configuration that sends
/// reverse requests is warned about each stream listener left at the default —
/// unless the listener or every one of its clients sets a timeout.
#[test]
fn the_default_idle_timeout_on_a_nas_listener_is_warned_about_when_reverse_requests_are_sent() {
    let config = |listen_timeout: &str, client_timeout: &str, reverse: bool| {
        let backend = if reverse {
            r#"backends {
    radius "REV" {
        server "S" { secret "radsec"; reverse { @select { accept; } } }
        query "Q" { bindings { radius.request.code = radius.DISCONNECT_REQUEST; } }
    }
}"#
        } else {
            ""
        };
        format!(
            r#"clients {{ radius "TCP_NAS" {{ client "n1" {{ source {{ ip 10.0.0.0/8; }} secret "radsec"; {client_timeout} }} }} }}
servers {{ radius "TCP_IN" {{ listen {{ protocol tcp; port 1812; {listen_timeout} }} clients "TCP_NAS"; }} }}
{backend}
"#
        )
    };
    let warned = heads(&config("", "", true));
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("warning: server `TCP_IN`: NAS connections without a packet for 10 s (the default idle timeout) are closed"),
        "{warned:?}"
    );
    assert_eq!(heads(&config("timeout 0;", "", true)), Vec::<String>::new());
    assert_eq!(
        heads(&config("timeout 5m;", "", true)),
        Vec::<String>::new()
    );
    assert_eq!(heads(&config("", "timeout 0;", true)), Vec::<String>::new());
    assert_eq!(
        heads(&config("", "", false)),
        Vec::<String>::new(),
        "no reverse requests"
    );
}

/// A backend server's `timeout` is how long a request waits for its reply: `0` would
/// fail every request as soon as it is sent, so it is refused, for `reverse` and
/// `connect` servers alike. A listener's or a client's `timeout 0` (an idle timeout)
/// still turns the timeout off.
#[test]
fn a_backend_server_request_timeout_of_zero_is_refused() {
    let text = r#"backends {
    radius "REV" {
        server "R" { timeout 0; reverse { @select { accept; } } }
        server "C" { secret "s"; timeout "0s"; connect { protocol udp; ip 192.0.2.1; port 1812; } }
    }
}
"#;
    assert_eq!(
        rendered(text),
        "test.conf:3:30: error: the `timeout` of a backend server must be longer than zero
        server \"R\" { timeout 0; reverse { @select { accept; } } }
                             ^
help: it is how long a request waits for its reply (default 5 s); `0` does not turn it off
test.conf:4:42: error: the `timeout` of a backend server must be longer than zero
        server \"C\" { secret \"s\"; timeout \"0s\"; connect { protocol udp; ip 192.0.2.1; port 1812; } }
                                         ^~~~
help: it is how long a request waits for its reply (default 5 s); `0` does not turn it off
"
    );
    // Any positive timeout is fine, and `timeout 0` keeps meaning "off" where it is an
    // idle timeout.
    let p = ok(
        r#"clients { radius "T" { client "t" { source { ip 10.0.0.0/8; } secret "s"; timeout 0; } } }
servers { radius "IN" { listen { protocol tcp; port 1812; timeout 0; } clients "T"; } }
backends { radius "REV" { server "R" { timeout 1ms; reverse { @select { accept; } } } } }
"#,
    );
    assert_eq!(
        radius_backend(&p, "REV").servers[0].timeout,
        Duration::from_millis(1)
    );
}

/// `keepalive` values go to the kernel as whole seconds (TCP_KEEPIDLE and
/// TCP_KEEPINTVL at most 32767) and a probe count (TCP_KEEPCNT at most 127); the
/// kernel refuses anything else on every connection, so the check does.
#[test]
fn keepalive_values_are_checked_against_the_kernels_ranges() {
    let config = |keepalive: &str| {
        format!(
            "servers {{ radius \"R\" {{ listen {{ protocol tcp; port 1812; keepalive {{ {keepalive} }} }} clients \"LOCAL\"; }} }}\n"
        )
    };
    assert_eq!(
        heads(&config("idle 0; interval 0; count 0;")),
        [
            "test.conf:1:75: error: keepalive `idle` must be between 1s and 32767s, not 0s",
            "test.conf:1:87: error: keepalive `interval` must be between 1s and 32767s, not 0s",
            "test.conf:1:96: error: `count` must be between 1 and 127, not 0",
        ]
    );
    assert_eq!(
        heads(&config("idle 999999999s; interval 32768s; count 1000;")),
        [
            "test.conf:1:75: error: keepalive `idle` must be between 1s and 32767s, not 999999999s",
            "test.conf:1:96: error: keepalive `interval` must be between 1s and 32767s, not 32768s",
            "test.conf:1:110: error: `count` must be between 1 and 127, not 1000",
        ]
    );
    assert_eq!(
        rendered(&config("idle 1500ms; interval 500ms;")),
        "test.conf:1:75: error: keepalive `idle` must be whole seconds between 1s and 32767s, not 1500ms: the kernel takes seconds
servers { radius \"R\" { listen { protocol tcp; port 1812; keepalive { idle 1500ms; interval 500ms; } } clients \"LOCAL\"; } }
                                                                          ^~~~~~
help: write `1s` or `2s`
test.conf:1:92: error: keepalive `interval` must be whole seconds between 1s and 32767s, not 500ms: the kernel takes seconds
servers { radius \"R\" { listen { protocol tcp; port 1812; keepalive { idle 1500ms; interval 500ms; } } clients \"LOCAL\"; } }
                                                                                           ^~~~~
help: write at least `1s`
"
    );
    // The limits themselves are fine.
    let p = ok(&config("idle 32767s; interval 1000; count 127;"));
    let RadiusListen::Network(n) = &radius_server(&p, "R").listen else {
        panic!()
    };
    assert_eq!(
        n.keepalive,
        Some(Keepalive {
            idle: Some(Duration::from_secs(32767)),
            interval: Some(Duration::from_secs(1)),
            count: Some(127)
        })
    );
}

/// A query sends a new request, whose code only its bindings set: a constant reply
/// code, or no code at all, fails every call, so both are refused. A code copied from
/// the incoming request (the seeds' proxy query), or any other expression, is only
/// known at run time and stays accepted.
#[test]
fn a_query_needs_a_request_code() {
    let text = r#"backends {
    radius "REV" {
        server "R" { reverse { @select { accept; } } }
        query "REPLY_CODE" { bindings { radius.request.code = radius.ACCESS_ACCEPT; radius.request.attr.User-Name = "u"; } }
        query "NAK" { bindings { radius.request.code = "CoA-NAK"; } }
        query "NO_CODE" { bindings { radius.request.attr.User-Name = "u"; } }
    }
}
"#;
    assert_eq!(
        heads(text),
        [
            "test.conf:4:63: error: Access-Accept (2) is a reply code, not a request code: a query with it could never be sent",
            "test.conf:5:56: error: CoA-NAK (45) is a reply code, not a request code: a query with it could never be sent",
            "test.conf:6:27: error: the `bindings` of query `NO_CODE` set no `radius.request.code`",
        ]
    );
    ok(r#"backends {
    radius "REV" {
        server "R" { reverse { @select { accept; } } }
        query "PROXY" { bindings { radius.request.code = radius.request.code; radius.request.attrs = radius.request.attrs; } }
        query "VAR" { bindings { radius.request.code = vars.code; } }
        query "CONST" { bindings { radius.request.code = radius.COA_REQUEST; } }
        query "NAME" { bindings { radius.request.code = "disconnect-request"; } }
        query "NUMBER" { bindings { radius.request.code = 12; } }
    }
}
"#);
}

/// `nas_identifier_binding certificate_…` compares with the connection's client
/// certificate, which only TLS connections have: on a list used only by `udp`/`tcp`
/// servers it can never hold (an error, like a missing secret there); on a list that
/// a `tls` server uses too, each server without TLS is warned about.
#[test]
fn a_certificate_binding_needs_a_tls_listener() {
    let config = |servers: &str| {
        format!(
            r#"clients {{ radius "BOUND" {{ client "ANY" {{ source {{ ip 127.0.0.0/8; }} secret "s"; nas_identifier_binding certificate_cn; }} }} }}
servers {{
{servers}
}}
"#
        )
    };
    let tcp = r#"    radius "TCP_IN" { listen { protocol tcp; port 1812; timeout 0; } clients "BOUND"; }"#;
    let udp = r#"    radius "UDP_IN" { listen { protocol udp; port 1812; } clients "BOUND"; }"#;
    let tls = r#"    radius "TLS_IN" { listen { protocol tls; port 2083; tls { certificate "CERT"; certificate_key "KEY"; client_ca_certificate "CA"; } } clients "BOUND"; }"#;
    assert_eq!(
        rendered(&config(tcp)),
        "test.conf:1:105: error: client `ANY` binds its NAS-Identifier to the client certificate (`nas_identifier_binding certificate_cn`), but its list `BOUND` is only used by servers without TLS (`TCP_IN` (tcp)), where a connection has no certificate: every Status-Server of the client would be refused
clients { radius \"BOUND\" { client \"ANY\" { source { ip 127.0.0.0/8; } secret \"s\"; nas_identifier_binding certificate_cn; } } }
                                                                                                        ^~~~~~~~~~~~~~
test.conf:3:12: note: server `TCP_IN` uses the list over `tcp`
    radius \"TCP_IN\" { listen { protocol tcp; port 1812; timeout 0; } clients \"BOUND\"; }
           ^~~~~~~~
help: use the list with a `protocol tls` listener, or remove `nas_identifier_binding` (`none`)
"
    );
    assert_eq!(
        heads(&config(&format!("{tcp}\n{udp}"))),
        [
            "test.conf:1:105: error: client `ANY` binds its NAS-Identifier to the client certificate (`nas_identifier_binding certificate_cn`), but its list `BOUND` is only used by servers without TLS (`TCP_IN` (tcp), `UDP_IN` (udp)), where a connection has no certificate: every Status-Server of the client would be refused"
        ]
    );
    assert_eq!(
        heads(&config(&format!("{tls}\n{tcp}"))),
        [
            "test.conf:1:105: warning: client `ANY` binds its NAS-Identifier to the client certificate (`nas_identifier_binding certificate_cn`), but its list `BOUND` is also used by servers without TLS (`TCP_IN` (tcp)), where a connection has no certificate: there every Status-Server of the client is refused"
        ]
    );
    assert_eq!(heads(&config(tls)), Vec::<String>::new());
    // A list no server uses says nothing yet.
    assert_eq!(heads(&config("")), Vec::<String>::new());
}

/// A file included twice is spliced in twice, so its names are defined twice: that is
/// said once, at the second include, with the first one, instead of a "duplicate"
/// whose "first defined here" shows the very same line.
#[test]
fn a_file_included_twice_is_reported_at_both_includes() {
    let render = |fs: &MemoryLoader, paths: &[&str]| {
        let loaded = load(fs, paths);
        let compiled = boomerang_core::lang::compile::compile(&loaded, &CompileOptions::default());
        assert!(compiled.program.is_none());
        compiled.render(&loaded.sources)
    };
    let fs = MemoryLoader::new()
        .with("main.conf", "include_glob \"d/*.conf\";\ninclude \"d\";\n")
        .with(
            "d/10_a.conf",
            "aaa { policy \"P0\" { handler \"H\" { @execute { accept; } } } }\naaa { pipeline \"X\" { accept; } }\n",
        );
    // Once, for the first name, though the pipeline clashes too.
    assert_eq!(
        render(&fs, &["main.conf"]),
        "main.conf:2:1: error: `d/10_a.conf` is included twice, so policy `P0` in it is defined twice
include \"d\";
^~~~~~~~~~~~
main.conf:1:1: note: first included here
include_glob \"d/*.conf\";
^~~~~~~~~~~~~~~~~~~~~~~~
help: include each file once: its items are spliced in where it is included, and a second copy defines its names again
"
    );
    // Through an including file loaded twice: the outermost includes are named.
    let fs = MemoryLoader::new()
        .with(
            "main.conf",
            "include \"mid.conf\";\ninclude \"./mid.conf\";\n",
        )
        .with("mid.conf", "include \"leaf.conf\";\n")
        .with("leaf.conf", "management { enabled false; }\n");
    assert_eq!(
        render(&fs, &["main.conf"])
            .lines()
            .take(2)
            .collect::<Vec<_>>(),
        [
            "main.conf:2:1: error: `mid.conf` is included twice, so section `management` in it is defined twice",
            "include \"./mid.conf\";",
        ]
    );
    // A file given on its own and included as well.
    let fs = MemoryLoader::new()
        .with("conf/50_main.conf", "include \"10_base.conf\";\n")
        .with(
            "conf/10_base.conf",
            "clients { http \"WEB\" { client \"lo\" { source { ip 127.0.0.1; } } } }\n",
        );
    let r = render(&fs, &["conf"]);
    assert!(
        r.starts_with("conf/50_main.conf:1:1: error: `conf/10_base.conf` is loaded twice, so client list `WEB` in it is defined twice"),
        "{r}"
    );
    assert!(
        r.contains("note: `conf/10_base.conf` is also loaded as a configuration file of its own"),
        "{r}"
    );
    // The same name in two different files stays a plain duplicate.
    let fs = MemoryLoader::new()
        .with("a.conf", "aaa { pipeline \"X\" { accept; } }\n")
        .with("b.conf", "aaa { pipeline \"X\" { accept; } }\n");
    let r = render(&fs, &["a.conf", "b.conf"]);
    assert!(
        r.starts_with("b.conf:1:16: error: duplicate pipeline `X`"),
        "{r}"
    );
    // A fragment without names may be included in several places.
    let fs = MemoryLoader::new()
        .with(
            "main.conf",
            "aaa { policy \"P\" { handler \"A\" { @execute { include \"act.conf\"; } } handler \"B\" { @execute { include \"act.conf\"; } } } }\n",
        )
        .with("act.conf", "accept;\n");
    let loaded = load(&fs, &["main.conf"]);
    let compiled = boomerang_core::lang::compile::compile(&loaded, &CompileOptions::default());
    assert!(
        !compiled.has_errors(),
        "{}",
        compiled.render(&loaded.sources)
    );
}
