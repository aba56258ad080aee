//! Helpers shared by the compiler tests: compile text or fixture files through the
//! in-memory loader and look at the rendered diagnostics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use boomerang_core::lang::compile::{CompileOptions, Compiled, compile};
use boomerang_core::lang::program::Program;
use boomerang_core::lang::{Loaded, MemoryLoader, Severity, load};

/// The directory of the compiler fixtures.
pub fn fixture_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

/// Every file of a fixture directory as `(name, text)`, in name order.
pub fn fixtures(sub: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(fixture_dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Load `files` (path, text) as one configuration, in the order given.
pub fn load_files(files: &[(&str, &str)]) -> Loaded {
    let mut loader = MemoryLoader::new();
    for (path, text) in files {
        loader.add(path, *text);
    }
    let paths: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    load(&loader, &paths)
}

/// Compile `files` with `options`; returns the load (for its sources) and the result.
pub fn compile_files_with(
    files: &[(&str, &str)],
    options: &CompileOptions<'_>,
) -> (Loaded, Compiled) {
    let loaded = load_files(files);
    let compiled = compile(&loaded, options);
    (loaded, compiled)
}

/// Compile one text as `test.conf` with no environment.
pub fn compile_text(text: &str) -> (Loaded, Compiled) {
    compile_files_with(&[("test.conf", text)], &CompileOptions::default())
}

/// The rendered diagnostics of compiling `text` as `test.conf`.
pub fn diagnostics(text: &str) -> String {
    let (loaded, compiled) = compile_text(text);
    compiled.render(&loaded.sources)
}

/// Compile `text`, which must have no errors (warnings are allowed), and return the program.
pub fn program(text: &str) -> Program {
    let (loaded, compiled) = compile_text(text);
    match compiled.program {
        Some(p) => p,
        None => panic!("errors:\n{}", compiled.render(&loaded.sources)),
    }
}

/// The first line of every error (`file:line:col: error: message`).
pub fn error_lines(text: &str) -> Vec<String> {
    let (loaded, compiled) = compile_text(text);
    compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            d.render(&loaded.sources)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// The first line of every warning.
pub fn warning_lines(text: &str) -> Vec<String> {
    let (loaded, compiled) = compile_text(text);
    compiled
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| {
            d.render(&loaded.sources)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}
