//! The built-in dictionary: standard attributes from the IETF RFCs, written in
//! FreeRADIUS dictionary syntax under `data/` and loaded once on first use.

use std::sync::OnceLock;

use super::error::DictionaryError;
use super::loader::load_lenient;
use super::source::{DictionarySource, MemorySource};
use super::table::Dictionary;

/// The top-level built-in file; it `$INCLUDE`s the others.
const ROOT: &str = "builtin/dictionary";

/// The embedded files, by name under `builtin/`.
const FILES: &[(&str, &str)] = &[
    ("dictionary", include_str!("data/dictionary")),
    ("rfc2865", include_str!("data/rfc2865")),
    ("rfc2866", include_str!("data/rfc2866")),
    ("rfc2867", include_str!("data/rfc2867")),
    ("rfc2868", include_str!("data/rfc2868")),
    ("rfc2869", include_str!("data/rfc2869")),
    ("rfc3162", include_str!("data/rfc3162")),
    ("rfc3580", include_str!("data/rfc3580")),
    ("rfc4072", include_str!("data/rfc4072")),
    ("rfc4372", include_str!("data/rfc4372")),
    ("rfc4603", include_str!("data/rfc4603")),
    ("rfc4675", include_str!("data/rfc4675")),
    ("rfc4679", include_str!("data/rfc4679")),
    ("rfc4818", include_str!("data/rfc4818")),
    ("rfc4849", include_str!("data/rfc4849")),
    ("rfc5090", include_str!("data/rfc5090")),
    ("rfc5176", include_str!("data/rfc5176")),
    ("rfc5447", include_str!("data/rfc5447")),
    ("rfc5580", include_str!("data/rfc5580")),
    ("rfc5607", include_str!("data/rfc5607")),
    ("rfc5904", include_str!("data/rfc5904")),
    ("rfc6519", include_str!("data/rfc6519")),
    ("rfc6572", include_str!("data/rfc6572")),
    ("rfc6677", include_str!("data/rfc6677")),
    ("rfc6911", include_str!("data/rfc6911")),
    ("rfc6929", include_str!("data/rfc6929")),
    ("rfc6930", include_str!("data/rfc6930")),
    ("rfc7055", include_str!("data/rfc7055")),
    ("rfc7155", include_str!("data/rfc7155")),
    ("rfc7268", include_str!("data/rfc7268")),
    ("rfc7499", include_str!("data/rfc7499")),
    ("rfc7930", include_str!("data/rfc7930")),
    ("rfc8045", include_str!("data/rfc8045")),
    ("rfc8559", include_str!("data/rfc8559")),
    (
        "deprecating-radius",
        include_str!("data/deprecating-radius"),
    ),
    ("iana", include_str!("data/iana")),
    ("wba", include_str!("data/wba")),
];

static BUILTIN: OnceLock<Dictionary> = OnceLock::new();

impl Dictionary {
    /// The standard dictionary, built on first use and shared for the life of the
    /// process. Clone it to add site dictionaries with [`Dictionary::load`].
    pub fn builtin() -> &'static Dictionary {
        BUILTIN.get_or_init(|| build().0)
    }
}

fn source() -> MemorySource {
    let mut source = MemorySource::new();
    for (name, text) in FILES {
        source.insert(&format!("builtin/{name}"), text);
    }
    source
}

/// Load the embedded files. The data is fixed at compile time and a unit test
/// requires it to load without errors; should it ever not, the valid part is used
/// rather than failing at run time.
fn build() -> (Dictionary, Vec<DictionaryError>) {
    let mut source = source();
    match source.read(ROOT, None) {
        Ok(file) => load_lenient(Dictionary::new(), file, &mut source),
        Err(_) => (Dictionary::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::id::AttrId;

    #[test]
    fn builtin_data_loads_without_errors() {
        let (dict, errors) = build();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(messages.is_empty(), "{messages:#?}");
        assert!(dict.attribute_count() > 200);
    }

    #[test]
    fn every_embedded_file_is_included() {
        let root = FILES
            .iter()
            .find(|(n, _)| *n == "dictionary")
            .map(|(_, t)| *t)
            .unwrap();
        for (name, _) in FILES.iter().filter(|(n, _)| *n != "dictionary") {
            assert!(
                root.lines().any(|l| l.trim() == format!("$INCLUDE {name}")),
                "{name} is not included by the root file"
            );
        }
    }

    #[test]
    fn reloading_the_builtin_files_changes_nothing() {
        let mut dict = Dictionary::builtin().clone();
        dict.load(ROOT, &mut source()).unwrap();
        assert_eq!(&dict, Dictionary::builtin());
    }

    #[test]
    fn standard_attribute_numbers_are_unique_names() {
        let dict = Dictionary::builtin();
        for def in dict.attributes() {
            assert_eq!(dict.attr(&def.name).map(|d| d.id), Some(def.id));
        }
        assert!(dict.attr_by_id(AttrId::Standard(1)).is_some());
    }
}
