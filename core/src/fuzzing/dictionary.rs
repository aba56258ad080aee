//! Fuzz bodies for the dictionary loader.

use crate::radius::dictionary::{Dictionary, NoSource};

/// Parse arbitrary bytes as a FreeRADIUS-format dictionary file.
///
/// The bytes are read as lossy UTF-8 and loaded on top of the built-in dictionary,
/// with every `$INCLUDE` failing. Besides "never panics", this checks the invariants
/// callers rely on: a failed load leaves the dictionary unchanged, every error has a
/// location inside the input, and every canonical attribute and value name resolves
/// back to its own number.
pub fn parse_dictionary(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let builtin = Dictionary::builtin();
    let mut dict = builtin.clone();
    match dict.load_text("fuzz.dictionary", &text, &mut NoSource) {
        Err(errors) => {
            assert!(
                !errors.is_empty(),
                "a failed load reports at least one error"
            );
            assert!(
                dict == *builtin,
                "a failed load must leave the dictionary unchanged"
            );
            let lines = text.split('\n').count();
            for error in &errors {
                assert!(error.line >= 1, "every error is tied to a line: {error}");
                assert!(
                    usize::try_from(error.line).is_ok_and(|l| l <= lines),
                    "error line beyond the input: {error}"
                );
                let _ = error.to_string();
            }
        }
        Ok(()) => {
            for def in dict.attributes() {
                let found = dict.attr(&def.name).map(|d| d.id);
                assert_eq!(found, Some(def.id), "canonical name resolves to itself");
                for (number, name) in dict.values(def) {
                    assert_eq!(dict.value_number64(def, name), Some(number));
                }
            }
            for vendor in dict.vendors() {
                assert_eq!(dict.vendor(&vendor.name).map(|v| v.id), Some(vendor.id));
            }
            // One suggestion per input (a scan of every name) keeps runs fast.
            if let Some(first) = text.split_whitespace().nth(1) {
                let _ = dict.suggest(first);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_garbage_and_valid_text() {
        parse_dictionary(b"");
        parse_dictionary(b"\xff\xfe ATTRIBUTE");
        parse_dictionary(b"VENDOR V 1\nBEGIN-VENDOR V\nATTRIBUTE V-A 1 string\nEND-VENDOR V\n");
        parse_dictionary(b"$INCLUDE nowhere\n");
        parse_dictionary(b"VALUE Nope X 1\nATTRIBUTE 26.1.1 1 octets\n");
    }
}
