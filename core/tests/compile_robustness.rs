//! The compiler never panics and keeps its contract on damaged configuration: every
//! line of every seed, reference and shipped configuration is deleted in turn, and
//! every file is cut short at many points. Each result either has errors (and no
//! program) or a program; every diagnostic points inside a loaded file.

mod compile_support;

use boomerang_core::lang::MemoryLoader;
use boomerang_core::lang::compile::{CompileOptions, compile};
use boomerang_core::lang::load_text;
use compile_support::*;

fn corpus() -> Vec<(String, String)> {
    let mut all = fixtures("compile/seeds");
    all.extend(fixtures("lang/radconf"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    all.push((
        "default.conf".into(),
        std::fs::read_to_string(root.join("default.conf")).unwrap(),
    ));
    all
}

fn check(name: &str, text: &str) {
    let loaded = load_text(&MemoryLoader::new(), name, text);
    let compiled = compile(&loaded, &CompileOptions::default());
    assert_eq!(
        compiled.program.is_some(),
        !compiled.has_errors(),
        "{name}: program present exactly when there is no error"
    );
    for d in &compiled.diagnostics {
        if let Some(span) = d.span {
            let file = loaded
                .sources
                .get(span.file)
                .expect("span in a loaded file");
            assert!(span.start <= span.end && span.end as usize <= file.text().len());
        }
        for l in &d.labels {
            assert!(loaded.sources.get(l.span.file).is_some());
        }
    }
    // Rendering never panics either.
    let _ = compiled.render(&loaded.sources);
}

#[test]
fn deleting_any_line_never_breaks_the_compiler() {
    for (name, text) in corpus() {
        let lines: Vec<&str> = text.lines().collect();
        for skip in 0..lines.len() {
            let damaged: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| *l)
                .collect();
            check(&name, &damaged.join("\n"));
        }
    }
}

#[test]
fn truncating_anywhere_never_breaks_the_compiler() {
    for (name, text) in corpus() {
        let mut cut = 0;
        while cut < text.len() {
            if text.is_char_boundary(cut) {
                check(&name, &text[..cut]);
            }
            cut += 23;
        }
    }
}

#[test]
fn swapping_values_between_keys_never_breaks_the_compiler() {
    // Give every statement of one file the value of another statement: strings where
    // numbers are expected, addresses where names are, and so on.
    let values = [
        "\"x\"",
        "0",
        "-1",
        "70000",
        "5s",
        "true",
        "none",
        "any",
        "10.0.0.0/8",
        "::1",
        "/re/i",
        "[a b]",
        "0xff",
        "udp",
        "\"%{env.X}\"",
        "\"%{vars.y}\"",
        "a.b.c",
        "1.5",
    ];
    for (name, text) in corpus().into_iter().take(4) {
        for v in values {
            let damaged: String = text
                .lines()
                .map(|l| {
                    let t = l.trim_end();
                    match (t.strip_suffix(';'), t.trim_start().split_once(' ')) {
                        (Some(_), Some((kw, _))) if !kw.contains('.') => {
                            let indent = &l[..l.len() - l.trim_start().len()];
                            format!("{indent}{kw} {v};\n")
                        }
                        _ => format!("{l}\n"),
                    }
                })
                .collect();
            check(&name, &damaged);
        }
    }
}
