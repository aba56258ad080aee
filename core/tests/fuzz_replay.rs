//! Replays every committed fuzz seed and every saved crash file through the same
//! function the cargo-fuzz target calls, so the corpus is exercised by the normal test
//! run on stable Rust and a fixed crash stays fixed.

use std::fs;
use std::path::{Path, PathBuf};

use boomerang_core::fuzzing;

/// The files under `fuzz/seeds/<target>` and `fuzz/regressions/<target>`, in name order.
fn corpus(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "regressions"] {
        let dir = fuzz.join(dir).join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !hidden {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, body: fn(&[u8])) {
    let files = corpus(target);
    assert!(
        !files.is_empty(),
        "no seeds committed for fuzz target `{target}` under fuzz/seeds/{target}"
    );
    for file in &files {
        let data = fs::read(file).expect("readable seed file");
        body(&data);
    }
}

#[test]
fn decode_packet_corpus() {
    replay("decode_packet", fuzzing::radius::decode_packet);
}

#[test]
fn decode_verify_corpus() {
    replay("decode_verify", fuzzing::radius::decode_and_verify);
}

#[test]
fn stream_framing_corpus() {
    replay("stream_framing", fuzzing::radius::stream_framing);
}

#[test]
fn dictionary_file_corpus() {
    replay("dictionary_file", fuzzing::dictionary::parse_dictionary);
}

#[test]
fn config_text_corpus() {
    replay("config_text", fuzzing::lang::parse_config);
}

#[test]
fn bus_messages_corpus() {
    replay("bus_messages", |data| {
        let _ = fuzzing::cluster::bus_messages(data, std::time::Instant::now());
    });
}

/// The seeds reach past decoding: the forward naming this node's connection is
/// sent to the NAS exactly once however often it arrives (its duplicate, a bad
/// packet, an unknown backend, another node's connection are not sent), and each
/// forward is answered on the bus.
#[test]
fn bus_messages_seed_reaches_the_nas_once() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds/bus_messages/forward_to_local_connection");
    let data = fs::read(path).expect("the seed");
    let report = fuzzing::cluster::bus_messages(&data, std::time::Instant::now());
    let answers = report
        .published
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains(r#""t":"answer""#))
        .count();
    assert!(report.written >= 1, "written {}", report.written);
    assert!(answers >= 4, "every forward answered: {answers}");
    let first_only = fuzzing::cluster::bus_messages(
        data.split(|b| *b == b'\n')
            .take(2)
            .collect::<Vec<_>>()
            .join(&b'\n')
            .as_slice(),
        std::time::Instant::now(),
    );
    assert_eq!(first_only.written, 1, "the forward sent once");
}
