//! Replays the committed `config_text` fuzz seeds and regression files through the
//! fuzz body (`parse_config`), and checks the seed set parses as expected.

use std::path::PathBuf;

use boomerang_core::fuzzing::lang::parse_config;
use boomerang_core::lang::parse_text;

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(sub)
        .join("config_text")
}

fn files(sub: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(dir(sub)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn seeds_replay_without_panics() {
    let seeds = files("seeds");
    assert!((8..=15).contains(&seeds.len()), "{} seeds", seeds.len());
    for (name, data) in &seeds {
        parse_config(data);
        let text = String::from_utf8(data.clone()).unwrap();
        let (_, parsed) = parse_text(name, &text);
        // Every seed is clean except the one collecting common slips.
        assert_eq!(parsed.has_errors(), name == "slips.conf", "{name}");
    }
}

#[test]
fn regressions_replay_without_panics() {
    for (_, data) in files("regressions") {
        parse_config(&data);
    }
}
