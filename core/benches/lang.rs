//! Configuration parsing throughput.
//!
//! Generates a realistic configuration of about 1 MB (and 2 MB, to show that parse
//! time grows linearly) by repeating the shapes of the seed documents — clients,
//! servers, RADIUS backends with `reverse { @select … }` and queries, policies with
//! `if … then … else if …`, templates, filters, lists and comments — with distinct
//! names, then measures `lang::parse` on it. Criterion reports throughput in MiB/s.
//!
//! Run: `cargo bench -p boomerang-core --bench lang -- --warm-up-time 1 --measurement-time 3`

use std::fmt::Write as _;
use std::hint::black_box;

use boomerang_core::lang::{FileId, parse, print};
use criterion::{Criterion, Throughput};

fn block(i: usize) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# ---- tenant {i} ----
clients {{
    radius "CLIENTS_{i}" {{
        client "NAS_{i}" {{
            source {{
                ip 10.{a}.{b}.0/24;
                ip 2001:db8:{i:x}::/64;
            }}
            secret "secret-{i}";
            timeout 30s;
        }}
    }}
}}
servers {{
    radius "RADSEC_{i}" {{
        listen {{
            protocol tls;
            port {port};
            ip 0.0.0.0;
            ip ::;
            timeout 0;
            tls {{
                certificate "SERVER_CERT";
                certificate_key "SERVER_KEY";
                client_ca_certificate "CLIENT_CA";
                require_client_certificate true;
            }}
        }}
        clients "CLIENTS_{i}";
    }}
}}
backends {{
    radius "REVERSE_{i}" {{
        server "REVERSE" {{
            secret "radsec";
            reverse {{
                @select round-robin {{
                    if all {{
                        connection.server_name == "RADSEC_{i}";
                        connection.status.nas_identifier == radius.request.attr.NAS-Identifier;
                        connection.cert.subject_alt.email[0] ends "@example.com";
                        connection.peer_ip == 10.{a}.{b}.1;
                    }} then {{
                        accept;
                    }} else {{
                        reject;
                    }}
                }}
            }}
        }}
        query "DISCONNECT_{i}" {{
            bindings {{
                radius.request.code = radius.DISCONNECT_REQUEST;
                radius.request.attr.User-Name = "%{{vars.user | lowercase}}";
                radius.request.attr.Acct-Session-Id = radius.request.attr.Acct-Session-Id;
            }}
            mapping {{
                vars.result = radius.reply.code;
            }}
        }}
    }}
}}
aaa {{
    policy "POLICY_{i}" {{
        conditions all {{
            radius.server == "RADSEC_{i}";
        }}
        handler "QUOTA_{i}" {{
            conditions any {{
                radius.request.attr.Acct-Status-Type == radius.dict.Acct-Status-Type.Alive;
                aaa.identity.realm == ["example.com" "example.net" example.org];
            }}
            @execute {{
                accept;
                reply;
                try {{
                    backend {{
                        name "REVERSE_{i}";
                        query "DISCONNECT_{i}";
                    }}
                }} catch {{
                    if all {{
                        aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS;
                    }} then {{
                        reject "NAS not connected";
                    }} else if any {{
                        aaa.caught_error != none;
                    }} then {{
                        reject "CoA failed: %{{aaa.caught_error | default("unknown")}}";
                    }}
                }}
                modify {{
                    radius.reply.attr.Session-Timeout = 86400;
                    vars.seen ?= 1m30s;
                    vars.tags += 0xaa00;
                }}
            }}
            @final-execute {{
                debug """
                    tenant {i}: %{{aaa.identity}}
                    result: %{{aaa.result}}
                    """;
            }}
        }}
    }}
}}
"#,
        a = i % 256,
        b = (i / 256) % 256,
        port = 2000 + i % 60000,
    );
    s
}

fn config(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 8192);
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(&block(i));
        i += 1;
    }
    s
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let one = config(1 << 20);
    let two = config(2 << 20);
    // Sanity: the generated text is valid and round-trips.
    for text in [&one, &two] {
        let parsed = parse(FileId(0), text);
        assert!(
            parsed.diagnostics.is_empty(),
            "benchmark config has diagnostics"
        );
        let again = parse(FileId(0), &print(&parsed.file));
        assert!(again.diagnostics.is_empty());
    }
    let mut g = c.benchmark_group("lang_parse");
    for (name, text) in [("1MB", &one), ("2MB", &two)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| b.iter(|| parse(FileId(0), black_box(text))));
    }
    g.finish();
    let parsed = parse(FileId(0), &one);
    let mut g = c.benchmark_group("lang_print");
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function("1MB", |b| b.iter(|| print(black_box(&parsed.file))));
    g.finish();
    c.final_summary();
}
