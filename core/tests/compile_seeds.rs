//! Every configuration block of the seeds, assembled into complete configurations,
//! compiles without a single diagnostic; the reference `.radconf` files compile with
//! only `… is not supported` errors, each at the construct it names.

mod compile_support;

use boomerang_core::lang::compile::CompileOptions;
use boomerang_core::lang::{Item, Severity, parse_text, same_syntax};
use compile_support::*;

fn compile_fixture(name: &str, text: &str) -> boomerang_core::lang::program::Program {
    let path = format!("seeds/{name}");
    let (loaded, compiled) =
        compile_files_with(&[(path.as_str(), text)], &CompileOptions::default());
    assert!(
        compiled.diagnostics.is_empty(),
        "{name}:\n{}",
        compiled.render(&loaded.sources)
    );
    compiled
        .program
        .expect("a program when there are no errors")
}

#[test]
fn seed_configurations_compile_without_diagnostics() {
    let all = fixtures("compile/seeds");
    assert_eq!(all.len(), 6);
    let summaries: Vec<(String, String)> = all
        .iter()
        .map(|(name, text)| (name.clone(), compile_fixture(name, text).summary()))
        .collect();
    let expected = [
        (
            "http_trigger.conf",
            "2 servers, 1 backend, 1 policy, 2 client lists",
        ),
        (
            "nas_simulator.conf",
            "1 server, 1 backend, 1 policy, 1 client list",
        ),
        (
            "quota.conf",
            "1 server, 2 backends, 1 policy, 1 client list",
        ),
        (
            "reverse_select.conf",
            "2 servers, 4 backends, 1 policy, 2 client lists",
        ),
        (
            "select_database.conf",
            "2 servers, 2 backends, 1 policy, 2 client lists",
        ),
        (
            "udp_trigger.conf",
            "2 servers, 1 backend, 1 policy, 2 client lists",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(summaries, expected);
}

/// Every item of `items`, at every depth (blocks and clause blocks).
fn all_items<'a>(items: &'a [Item], out: &mut Vec<&'a Item>) {
    for item in items {
        out.push(item);
        all_items(item.children(), out);
        for c in item.clauses() {
            all_items(&c.block.items, out);
        }
    }
}

#[test]
fn every_seed_block_appears_verbatim_in_an_assembled_configuration() {
    let assembled: Vec<_> = fixtures("compile/seeds")
        .into_iter()
        .map(|(name, text)| parse_text(&name, &text).1.file)
        .collect();
    let mut pool = Vec::new();
    for f in &assembled {
        all_items(&f.items, &mut pool);
    }
    let fragments = fixtures("lang/seeds");
    assert_eq!(fragments.len(), 19);
    for (name, text) in &fragments {
        let fragment = parse_text(name, text).1.file;
        for item in &fragment.items {
            assert!(
                pool.iter().any(|p| same_syntax(*p, item)),
                "a block of {name} (`{}`) is not part of any assembled configuration",
                item.keyword().unwrap_or("?")
            );
        }
    }
}

#[test]
fn assembled_configurations_keep_their_defaults() {
    use boomerang_core::contract::Transport;
    use boomerang_core::lang::program::*;
    use std::time::Duration;
    let text =
        std::fs::read_to_string(fixture_dir("compile/seeds").join("udp_trigger.conf")).unwrap();
    let p = compile_fixture("udp_trigger.conf", &text);
    let (_, radsec) = p.server_by_name("RADSEC_SERVER").unwrap();
    let ServerKind::Radius(r) = &radsec.kind else {
        panic!()
    };
    let RadiusListen::Network(net) = &r.listen else {
        panic!()
    };
    assert_eq!(net.protocol, Transport::Tls);
    assert_eq!(net.port, 2083);
    assert_eq!(net.timeout, Some(Duration::ZERO));
    let tls = net.tls.as_ref().unwrap();
    assert!(tls.require_client_certificate);
    assert_eq!(p.certificate(tls.certificate).unwrap().name, "SERVER_CERT");
    assert_eq!(
        p.certificate(tls.certificate).unwrap().kind,
        CertificateKind::X509 {
            path: "seeds/certs/server.pem".into()
        }
    );
    let (_, backend) = p.backend_by_name("REVERSE_DYNAUTH_BACKEND").unwrap();
    let BackendKind::Radius(rb) = &backend.kind else {
        panic!()
    };
    assert_eq!(rb.servers[0].secret, "radsec");
    assert_eq!(rb.servers[0].timeout, DEFAULT_REQUEST_TIMEOUT);
    assert!(matches!(rb.servers[0].mode, RadiusServerMode::Reverse(_)));
    assert_eq!(rb.queries[0].name, "PROXY_QUERY");
    assert_eq!(p.policies[0].name, "PROXY_POLICY");
    assert_eq!(p.policies[0].handlers[0].name, "PROXY");
    assert!(p.policies[0].handlers[0].execute.is_some());
    assert_eq!(p.management, Management::default());
}

/// `(file, line, col, construct)` of every `is not supported` error the reference files
/// must produce outside pipelines.
const RADCONF_UNSUPPORTED: &[(&str, usize, usize, &str)] = &[
    (
        "15_certificates-radsec-backend.radconf",
        37,
        3,
        "x509-directory",
    ),
    (
        "15_certificates-radsec-server.radconf",
        36,
        5,
        "x509-directory",
    ),
    ("15_logging.radconf", 23, 9, "memory"),
    ("15_logging.radconf", 43, 9, "logger"),
    ("15_logging.radconf", 65, 9, "logger"),
    ("30_backends.radconf", 65, 9, "@pre-proxying"),
    ("30_backends.radconf", 80, 9, "@post-proxying"),
    ("30_backends.radconf", 125, 9, "@pre-proxying"),
    ("30_backends.radconf", 140, 9, "@post-proxying"),
];

/// Unsupported actions inside the reference pipelines, reported by pipeline lowering
/// (all in 50_policies.radconf, whose only other constructs are policies, handlers and
/// conditions). While lowering is incomplete they may be missing.
const RADCONF_UNSUPPORTED_IN_PIPELINES: &[(&str, usize, usize, &str)] = &[
    ("50_policies.radconf", 97, 17, "eap"),
    ("50_policies.radconf", 146, 17, "chargeable-user-identity"),
];

/// The reference files plus the supplement (the pipelines they invoke),
/// as `(path, text)`; `cut` edits each reference file first.
fn radconf_set(cut: impl Fn(&str, String) -> String) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fixtures("lang/radconf")
        .into_iter()
        .map(|(n, t)| (format!("radconf/{n}"), cut(&n, t)))
        .collect();
    assert_eq!(files.len(), 7);
    let extra =
        std::fs::read_to_string(fixture_dir("compile").join("radconf_supplement.conf")).unwrap();
    files.push(("radconf/99_supplement.conf".into(), extra));
    files
}

fn compile_radconf(
    files: &[(String, String)],
) -> (
    boomerang_core::lang::Loaded,
    boomerang_core::lang::compile::Compiled,
) {
    let options = CompileOptions::new();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    compile_files_with(&refs, &options)
}

#[test]
fn radconf_files_compile_with_only_unsupported_errors_at_their_constructs() {
    let files = radconf_set(|_, t| t);
    let (loaded, compiled) = compile_radconf(&files);
    let rendered = compiled.render(&loaded.sources);
    assert!(compiled.program.is_none());
    let mut found = Vec::new();
    for d in &compiled.diagnostics {
        assert_eq!(
            d.severity,
            Severity::Error,
            "unexpected warning:\n{rendered}"
        );
        let construct = d
            .message
            .strip_prefix('`')
            .and_then(|m| m.strip_suffix("` is not supported"))
            .unwrap_or_else(|| {
                panic!(
                    "not an unsupported-construct error: {}\n{rendered}",
                    d.message
                )
            });
        let span = d.span.expect("located");
        let file = loaded.sources.get(span.file).unwrap();
        let (line, col) = file.line_col(span.start);
        let name = file.name().strip_prefix("radconf/").unwrap().to_owned();
        // The location is the construct's keyword.
        assert_eq!(
            file.line_text(line)
                .chars()
                .skip(col - 1)
                .take(construct.chars().count())
                .collect::<String>(),
            construct
        );
        found.push((name, line, col, construct.to_owned()));
    }
    let expected: Vec<(String, usize, usize, String)> = RADCONF_UNSUPPORTED
        .iter()
        .map(|(f, l, c, k)| ((*f).to_owned(), *l, *c, (*k).to_owned()))
        .collect();
    let (in_pipelines, outside): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|f| f.0 == "50_policies.radconf");
    assert_eq!(outside, expected, "{rendered}");
    if !in_pipelines.is_empty() {
        for (f, l, c, k) in RADCONF_UNSUPPORTED_IN_PIPELINES {
            assert!(
                in_pipelines
                    .iter()
                    .any(|x| x.0 == *f && x.1 == *l && x.2 == *c && x.3 == *k),
                "`{k}` at {f}:{l}:{c} is not reported:\n{rendered}"
            );
        }
    }
}

#[test]
fn radconf_files_without_their_unsupported_constructs_compile() {
    // Cut every unsupported construct out of the reference files: what remains (the
    // supported part of real configuration files) compiles into a program.
    let cut = |text: &str, from: &str| -> String {
        // Remove the block starting at the first line containing `from`.
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.trim_start().starts_with(from))
            .unwrap();
        let mut depth = 0i32;
        let mut end = start;
        for (i, l) in lines.iter().enumerate().skip(start) {
            let code = l.split('#').next().unwrap();
            depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
            if depth == 0 {
                end = i;
                break;
            }
        }
        let mut out: Vec<&str> = lines[..start].to_vec();
        out.extend(&lines[end + 1..]);
        out.join("\n")
    };
    let files = radconf_set(|name, mut text| {
        for marker in [
            "x509-directory",
            "memory {",
            "logger",
            "logger",
            "@pre-proxying",
            "@post-proxying",
            "@pre-proxying",
            "@post-proxying",
        ] {
            if text.lines().any(|l| l.trim_start().starts_with(marker)) {
                text = cut(&text, marker);
            }
        }
        if name == "50_policies.radconf" {
            text = cut(&text, "eap {");
            text = cut(&text, "chargeable-user-identity");
        }
        text
    });
    let (loaded, compiled) = compile_radconf(&files);
    let rendered = compiled.render(&loaded.sources);
    let program = compiled.program.unwrap_or_else(|| panic!("{rendered}"));
    assert_eq!(
        program.summary(),
        "3 servers, 3 backends, 1 policy, 2 client lists"
    );
    assert_eq!(program.certificates.len(), 6);
    assert!(program.dictionary.attr("WBA-Identity-Provider").is_some());
    assert_eq!(program.logging.level.as_deref(), Some("info"));
    assert_eq!(
        program.logging.file.as_deref(),
        Some("/var/log/radiator/radiator-server.log")
    );
}

/// The shipped configurations (`config/default.conf`, `config/examples/*/*.conf`,
/// each file on its own) compile without a diagnostic (their certificate files are checked by
/// `boomerang check`, in io-tokio's tests).
#[test]
fn shipped_configurations_compile_without_diagnostics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut configs = vec![root.join("default.conf")];
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "cluster",
            "http-trigger",
            "nas-simulator",
            "quota-disconnect",
            "round-robin",
            "select-by-certificate",
            "select-by-database",
            "udp-trigger",
        ]
    );
    for d in &dirs {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "conf") {
                configs.push(p);
            }
        }
    }
    // default.conf, one boomerang.conf per example, and the cluster's three nodes.
    assert_eq!(configs.len(), 11);
    for path in &configs {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.to_string_lossy().into_owned();
        let (loaded, compiled) = compile_files_with(
            &[(name.as_str(), text.as_str())],
            &CompileOptions::default(),
        );
        assert!(
            compiled.diagnostics.is_empty(),
            "{name}:\n{}",
            compiled.render(&loaded.sources)
        );
        // Every example starts with a comment header saying what it shows.
        assert!(text.starts_with("# "), "{name} has no header comment");
    }
}
