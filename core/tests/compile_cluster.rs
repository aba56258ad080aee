//! The `cluster { … }` section: every key read into `Program.cluster`, the defaults,
//! and one test per rule with its exact diagnostic (`file:line:col: severity:
//! message`). Each configuration under test is `test.conf`, loaded after
//! `base.conf` (below), which defines the certificates `tls { }` may name.

mod compile_support;

use std::time::Duration;

use boomerang_core::lang::compile::{CompileOptions, Compiled};
use boomerang_core::lang::program::*;
use boomerang_core::lang::{Loaded, Severity};
use compile_support::*;

const BASE: &str = r#"certificates {
    x509 "NATS_CA" { filename "nats-ca.pem"; }
    x509 "NODE_CERT" { filename "node.pem"; }
    key "NODE_KEY" { filename "node.key"; }
}
"#;

fn env() -> CompileOptions<'static> {
    CompileOptions::new().with_env([
        ("NATS_PASSWORD", "s3cret"),
        ("NATS_TOKEN", "t0ken"),
        ("EMPTY", ""),
    ])
}

fn run(text: &str) -> (Loaded, Compiled) {
    compile_files_with(&[("base.conf", BASE), ("test.conf", text)], &env())
}

/// The first line of every diagnostic (`file:line:col: severity: message`).
fn heads(text: &str) -> Vec<String> {
    let (loaded, compiled) = run(text);
    assert!(compiled.program.is_none() || !compiled.has_errors());
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

/// The cluster of a configuration that must compile without any diagnostic.
fn ok(text: &str) -> Option<Cluster> {
    let (loaded, compiled) = run(text);
    let r = compiled.render(&loaded.sources);
    assert!(compiled.diagnostics.is_empty(), "{r}");
    compiled.program.unwrap().cluster
}

/// `cluster { … }` with the required keys, then `extra` inside `cluster`.
fn minimal(extra: &str) -> String {
    format!(
        "cluster {{\n    name \"c\"; node \"a\"; node_id 1;\n    nats {{ server \"nats://127.0.0.1:4222\"; }}\n{extra}}}\n"
    )
}

/// `cluster { … nats { server …; NATS } }` with the other keys given.
fn with_nats(nats: &str) -> String {
    format!("cluster {{\n    name \"c\"; node \"a\"; node_id 1;\n    nats {{\n{nats}    }}\n}}\n")
}

#[test]
fn full_block_with_every_key() {
    let c = ok(r#"cluster {
    name "isp-east";
    node "b";
    node_id 2;
    heartbeat 500ms;
    node_timeout 3s;
    forward_margin 2s;
    nats {
        server "nats://10.0.0.1:4222";
        server "tls://nats.example.net:4443";
        server "nats://[2001:db8::1]:4222";
        tls { ca "NATS_CA"; certificate "NODE_CERT"; certificate_key "NODE_KEY"; }
        user "boomerang"; password "%{env.NATS_PASSWORD}";
        connect_timeout 1500;
    }
}
"#)
    .expect("a cluster");
    assert_eq!(
        c,
        Cluster {
            name: "isp-east".into(),
            node: "b".into(),
            node_id: 2,
            nats: Nats {
                servers: vec![
                    "nats://10.0.0.1:4222".into(),
                    "tls://nats.example.net:4443".into(),
                    "nats://[2001:db8::1]:4222".into(),
                ],
                tls: Some(NatsTls {
                    ca: CertificateId(0),
                    client: Some((CertificateId(1), CertificateId(2))),
                }),
                auth: NatsAuth::UserPassword {
                    user: "boomerang".into(),
                    password: "s3cret".into(),
                },
                connect_timeout: Duration::from_millis(1500),
            },
            heartbeat: Duration::from_millis(500),
            node_timeout: Duration::from_secs(3),
            forward_margin: Duration::from_secs(2),
        }
    );
    assert_eq!(Cluster::first_conn_number(c.node_id), 2 << 48);
    assert_eq!(
        Cluster::owner_of(Cluster::first_conn_number(c.node_id) + 7),
        2
    );
}

#[test]
fn defaults() {
    let c = ok(&minimal("")).expect("a cluster");
    assert_eq!(c.name, "c");
    assert_eq!(c.node, "a");
    assert_eq!(c.node_id, 1);
    assert_eq!(c.heartbeat, Duration::from_secs(1));
    assert_eq!(c.node_timeout, Duration::from_secs(5));
    assert_eq!(c.forward_margin, Duration::from_secs(1));
    assert_eq!(c.nats.servers, ["nats://127.0.0.1:4222"]);
    assert_eq!(c.nats.tls, None);
    assert_eq!(c.nats.auth, NatsAuth::None);
    assert_eq!(c.nats.connect_timeout, Duration::from_secs(2));
    assert_eq!(
        (
            DEFAULT_HEARTBEAT,
            DEFAULT_NODE_TIMEOUT,
            DEFAULT_FORWARD_MARGIN
        ),
        (c.heartbeat, c.node_timeout, c.forward_margin)
    );
    assert_eq!(DEFAULT_NATS_CONNECT_TIMEOUT, c.nats.connect_timeout);
}

#[test]
fn no_cluster_section_is_none() {
    assert_eq!(ok("management { enabled false; }\n"), None);
    assert_eq!(ok(""), None);
}

#[test]
fn token_and_tls_without_a_client_certificate() {
    let c = ok(&with_nats(
        "        server \"nats://127.0.0.1:4222\";\n        token \"%{env.NATS_TOKEN}\";\n        tls { ca \"NATS_CA\"; }\n",
    ))
    .expect("a cluster");
    assert_eq!(c.nats.auth, NatsAuth::Token("t0ken".into()));
    // `tls { }` with only nats:// servers is fine: TLS is then required.
    assert_eq!(
        c.nats.tls,
        Some(NatsTls {
            ca: CertificateId(0),
            client: None
        })
    );
}

#[test]
fn names_and_durations_written_in_other_forms() {
    // Bare words for names, quoted durations, node_id at both ends of its range.
    let c = ok(
        "cluster {\n    name isp_east-2; node \"node-1\"; node_id 32767;\n    heartbeat \"2s\"; node_timeout 1m;\n    forward_margin 0;\n    nats { server \"nats://n1:4222\"; }\n}\n",
    )
    .expect("a cluster");
    assert_eq!(c.name, "isp_east-2");
    assert_eq!(c.node_id, 32767);
    assert_eq!(c.heartbeat, Duration::from_secs(2));
    assert_eq!(c.node_timeout, Duration::from_secs(60));
    assert_eq!(c.forward_margin, Duration::ZERO);
}

#[test]
fn repeated_cluster_section() {
    let text = format!("{}{}", minimal(""), minimal(""));
    assert_eq!(
        heads(&text),
        ["test.conf:5:1: error: duplicate section `cluster`"]
    );
    assert!(rendered(&text).contains("first given here"));
}

#[test]
fn cluster_must_be_a_block() {
    assert_eq!(
        heads("cluster;\n"),
        ["test.conf:1:1: error: `cluster` must be a block"]
    );
}

#[test]
fn unknown_key_with_a_suggestion() {
    let text = minimal("    hearbeat 1s;\n");
    assert_eq!(
        heads(&text),
        ["test.conf:4:5: error: unknown key `hearbeat` in `cluster`"]
    );
    assert!(rendered(&text).contains("did you mean `heartbeat`?"));

    let text = with_nats("        server \"nats://h:1\";\n        conect_timeout 1s;\n");
    assert_eq!(
        heads(&text),
        ["test.conf:5:9: error: unknown key `conect_timeout` in `nats`"]
    );
    assert!(rendered(&text).contains("did you mean `connect_timeout`?"));

    let text = with_nats(
        "        server \"nats://h:1\";\n        tls { ca \"NATS_CA\"; cert \"NODE_CERT\"; }\n",
    );
    assert_eq!(
        heads(&text),
        ["test.conf:5:29: error: unknown key `cert` in `tls`"]
    );
}

#[test]
fn unknown_section_suggests_cluster() {
    assert!(rendered("clustr { }\n").contains("did you mean `cluster`?"));
}

#[test]
fn repeated_keys() {
    assert_eq!(
        heads(&minimal(
            "    node_id 2;\n    heartbeat 1s;\n    heartbeat 2s;\n"
        )),
        [
            "test.conf:4:5: error: duplicate key `node_id`",
            "test.conf:6:5: error: duplicate key `heartbeat`",
        ]
    );
    assert_eq!(
        heads(&with_nats(
            "        server \"nats://h:1\";\n        connect_timeout 1s; connect_timeout 2s;\n"
        )),
        ["test.conf:5:29: error: duplicate key `connect_timeout`"]
    );
}

#[test]
fn missing_required_keys() {
    assert_eq!(
        heads("cluster {\n}\n"),
        [
            "test.conf:1:1: error: `cluster` has no `name`",
            "test.conf:1:1: error: `cluster` has no `node`",
            "test.conf:1:1: error: `cluster` has no `node_id`",
            "test.conf:1:1: error: `cluster` has no `nats`",
        ]
    );
    assert!(
        rendered("cluster {\n}\n").contains("help: add `nats { server \"nats://HOST:4222\"; }`")
    );
    assert_eq!(
        heads(
            "cluster {\n    name \"c\"; node \"a\"; node_id 1;\n    nats { connect_timeout 1s; }\n}\n"
        ),
        ["test.conf:3:5: error: `nats` has no `server`"]
    );
    assert_eq!(
        heads(&with_nats(
            "        server \"tls://h:1\";\n        tls { certificate \"NODE_CERT\"; certificate_key \"NODE_KEY\"; }\n"
        )),
        ["test.conf:5:9: error: `tls` has no `ca`"]
    );
}

#[test]
fn names_must_fit_nats_subjects() {
    assert_eq!(
        heads(
            "cluster {\n    name \"isp.east\"; node \"\"; node_id 1;\n    nats { server \"nats://h:1\"; }\n}\n"
        ),
        [
            "test.conf:2:10: error: the cluster name `isp.east` contains '.': it goes into NATS subjects",
            "test.conf:2:27: error: the node name is empty",
        ]
    );
    assert_eq!(
        heads(
            "cluster {\n    name \"c\"; node \"a b\"; node_id 1;\n    nats { server \"nats://h:1\"; }\n}\n"
        ),
        ["test.conf:2:20: error: the node name `a b` contains ' ': it goes into NATS subjects"]
    );
}

#[test]
fn node_id_range() {
    for n in ["0", "32768", "-1"] {
        let text = format!(
            "cluster {{\n    name \"c\"; node \"a\"; node_id {n};\n    nats {{ server \"nats://h:1\"; }}\n}}\n"
        );
        assert_eq!(
            heads(&text),
            [format!(
                "test.conf:2:33: error: `node_id` must be between 1 and 32767, not {n}"
            )]
        );
    }
    assert_eq!(
        heads(
            "cluster {\n    name \"c\"; node \"a\"; node_id \"2\";\n    nats { server \"nats://h:1\"; }\n}\n"
        ),
        ["test.conf:2:33: error: `node_id` expects a number, found `\"2\"`"]
    );
}

#[test]
fn durations_must_be_positive_and_well_formed() {
    assert_eq!(
        heads(&minimal("    heartbeat 0s;\n    node_timeout 0;\n")),
        [
            "test.conf:4:15: error: `heartbeat` must be greater than 0",
            "test.conf:5:18: error: `node_timeout` must be greater than 0",
        ]
    );
    let got = heads(&minimal("    forward_margin \"soon\";\n"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("test.conf:4:20: error: invalid duration for `forward_margin`: "),
        "{got:?}"
    );
    assert_eq!(
        heads(&with_nats(
            "        server \"nats://h:1\";\n        connect_timeout 0s;\n"
        )),
        ["test.conf:5:25: error: `connect_timeout` must be greater than 0"]
    );
    assert_eq!(
        heads(&minimal("    heartbeat yes;\n")),
        ["test.conf:4:15: error: `heartbeat` expects a duration, found `yes`"]
    );
}

#[test]
fn node_timeout_at_least_two_heartbeats() {
    assert_eq!(
        heads(&minimal("    heartbeat 2s;\n    node_timeout 3s;\n")),
        ["test.conf:5:18: error: `node_timeout` (3s) must be at least twice `heartbeat` (2s)"]
    );
    let r = rendered(&minimal("    heartbeat 2s;\n    node_timeout 3s;\n"));
    assert!(r.contains("`heartbeat` is set here"), "{r}");
    assert!(r.contains("help: write `node_timeout 4s;` or more"), "{r}");
    // Against a default.
    assert_eq!(
        heads(&minimal("    heartbeat 3s;\n")),
        [
            "test.conf:4:15: error: `node_timeout` (5s, the default) must be at least twice `heartbeat` (3s)"
        ]
    );
    assert_eq!(
        heads(&minimal("    node_timeout 1500ms;\n")),
        [
            "test.conf:4:18: error: `node_timeout` (1s500ms) must be at least twice `heartbeat` (1s, the default)"
        ]
    );
    // Exactly twice is enough.
    assert!(ok(&minimal("    heartbeat 2s;\n    node_timeout 4s;\n")).is_some());
    // An invalid heartbeat is reported once, not compared.
    assert_eq!(
        heads(&minimal("    heartbeat 0;\n    node_timeout 1s;\n")),
        ["test.conf:4:15: error: `heartbeat` must be greater than 0"]
    );
}

#[test]
fn bad_server_addresses() {
    let cases = [
        (
            "10.0.0.1:4222",
            "the scheme must be `nats://` or `tls://`, not `10.0.0.1:4222`",
        ),
        (
            "http://h:4222",
            "the scheme must be `nats://` or `tls://`, not `http://`",
        ),
        ("nats://h", "it has no port (`:PORT` after the host)"),
        (
            "nats://h:0",
            "the port must be a number from 1 to 65535, not `0`",
        ),
        (
            "nats://h:65536",
            "the port must be a number from 1 to 65535, not `65536`",
        ),
        ("nats://:4222", "it has no host"),
        (
            "nats://u:p@h:4222",
            "write credentials with `user`/`password` or `token`, not in the address",
        ),
    ];
    for (url, why) in cases {
        let got = heads(&with_nats(&format!("        server \"{url}\";\n")));
        assert_eq!(got.len(), 1, "{url}: {got:?}");
        let head = &got[0];
        assert!(
            head.starts_with(&format!(
                "test.conf:4:16: error: invalid NATS server `{url}`: "
            )),
            "{url}: {head}"
        );
        if !why.contains("10.0.0.1:4222") {
            assert!(head.ends_with(why), "{url}: {head}");
        }
    }
    assert!(
        rendered(&with_nats("        server \"nats://h\";\n")).contains(
            "help: write `server \"nats://HOST:PORT\";` or `server \"tls://HOST:PORT\";`"
        )
    );
}

#[test]
fn tls_server_needs_a_tls_block() {
    let text = with_nats("        server \"nats://a:4222\";\n        server \"tls://b:4443\";\n");
    assert_eq!(
        heads(&text),
        ["test.conf:5:16: error: a tls:// server needs nats { tls { ca …; } }"]
    );
    assert!(rendered(&text).contains("help: add `tls { ca \"CA\"; }` to `nats`"));
    assert!(
        ok(&with_nats(
            "        server \"tls://b:4443\";\n        tls { ca \"NATS_CA\"; }\n"
        ))
        .is_some()
    );
}

#[test]
fn tls_references_are_checked_like_other_tls_blocks() {
    assert_eq!(
        heads(&with_nats(
            "        server \"tls://h:1\";\n        tls { ca \"NODE_KEY\"; certificate \"NODE_CERT\"; }\n"
        )),
        [
            "test.conf:5:9: error: `tls` has a `certificate` but no `certificate_key`",
            "test.conf:5:18: error: `ca` must name an `x509` entry, but `NODE_KEY` is a `key`",
        ]
    );
    assert_eq!(
        heads(&with_nats(
            "        server \"tls://h:1\";\n        tls { ca \"NATS_CA\"; certificate_key \"NODE_KEY\"; }\n"
        )),
        ["test.conf:5:9: error: `tls` has a `certificate_key` but no `certificate`"]
    );
    let text = with_nats("        server \"tls://h:1\";\n        tls { ca \"NATS_CAA\"; }\n");
    assert_eq!(
        heads(&text),
        ["test.conf:5:18: error: unknown certificate `NATS_CAA`"]
    );
    assert!(rendered(&text).contains("did you mean `NATS_CA`?"));
    assert_eq!(
        heads(&with_nats(
            "        server \"tls://h:1\";\n        tls { ca \"NATS_CA\"; certificate \"NODE_CERT\"; certificate_key \"NODE_CERT\"; }\n"
        )),
        [
            "test.conf:5:70: error: `certificate_key` must name a `key` entry, but `NODE_CERT` is an `x509` certificate"
        ]
    );
}

#[test]
fn authentication_rules() {
    assert_eq!(
        heads(&with_nats(
            "        server \"nats://h:1\";\n        user \"u\";\n"
        )),
        ["test.conf:5:9: error: `nats` has a `user` but no `password`"]
    );
    assert_eq!(
        heads(&with_nats(
            "        server \"nats://h:1\";\n        password \"p\";\n"
        )),
        ["test.conf:5:9: error: `nats` has a `password` but no `user`"]
    );
    let text = with_nats(
        "        server \"nats://h:1\";\n        user \"u\"; password \"p\";\n        token \"t\";\n",
    );
    assert_eq!(
        heads(&text),
        ["test.conf:6:9: error: `token` cannot be used together with `user`/`password`"]
    );
    assert!(rendered(&text).contains("given here"));
    assert_eq!(
        heads(&with_nats(
            "        server \"nats://h:1\";\n        token \"%{env.EMPTY}\";\n"
        )),
        ["test.conf:5:15: error: `token` must not be empty"]
    );
    assert_eq!(
        heads(&with_nats(
            "        server \"nats://h:1\";\n        token \"%{env.NOPE}\";\n"
        )),
        ["test.conf:5:16: error: environment variable `NOPE` is not set"]
    );
}

#[test]
fn errors_leave_no_program() {
    let (_, compiled) = run("cluster {\n}\n");
    assert!(compiled.program.is_none());
    assert!(
        compiled
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Error)
    );
}
