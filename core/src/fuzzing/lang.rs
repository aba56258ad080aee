//! Fuzz bodies for the configuration language.

use crate::lang::{parse_text, print, render_all, same_syntax};

/// Parse arbitrary bytes as configuration text.
///
/// The bytes are decoded as UTF-8 (lossily) and parsed; diagnostics are rendered.
/// When the text parses without errors, the canonical printout must parse without
/// errors to an equal tree (spans ignored) and print identically again; a violation
/// panics, which is what the fuzzer reports. Parsing itself must never panic.
pub fn parse_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (sources, parsed) = parse_text("fuzz.conf", &text);
    let _ = render_all(&parsed.diagnostics, &sources);
    if parsed.has_errors() {
        return;
    }
    let printed = print(&parsed.file);
    let (sources2, again) = parse_text("printed.conf", &printed);
    assert!(
        !again.has_errors(),
        "canonical print does not parse:\n{}\n--- printed ---\n{printed}",
        render_all(&again.diagnostics, &sources2)
    );
    assert!(
        same_syntax(&parsed.file, &again.file),
        "canonical print parses to a different tree:\n{printed}"
    );
    assert_eq!(print(&again.file), printed, "printing is not idempotent");
}
