//! Errors reported while loading or extending a dictionary.

use std::fmt;

use crate::radius::id::AttrId;

/// What went wrong on one dictionary line (or in one definition).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DictionaryErrorKind {
    /// The first word of the line is not a dictionary keyword.
    #[error("unknown keyword `{keyword}`")]
    UnknownKeyword {
        /// The word as written.
        keyword: String,
    },
    /// A FreeRADIUS keyword Boomerang recognises but does not implement
    /// (`BEGIN-TLV`, `PROTOCOL`, v4 `STRUCT`/`MEMBER`/`ENUM`/…).
    #[error("`{construct}` is not supported")]
    Unsupported {
        /// The keyword as written.
        construct: String,
    },
    /// The line ends before a required field.
    #[error("`{keyword}` is missing its {field}")]
    MissingField {
        /// The line's keyword.
        keyword: String,
        /// Which field is missing (e.g. "attribute number").
        field: &'static str,
    },
    /// The line has more fields than its keyword takes.
    #[error("unexpected `{field}` at the end of a `{keyword}` line")]
    UnexpectedField {
        /// The line's keyword.
        keyword: String,
        /// The first surplus field.
        field: String,
    },
    /// A number is neither decimal nor `0x` hexadecimal.
    #[error("`{text}` is not a number (expected decimal or 0x hexadecimal)")]
    InvalidNumber {
        /// The text as written.
        text: String,
    },
    /// A number is outside what its field allows.
    #[error("`{text}` is out of range ({range})")]
    NumberOutOfRange {
        /// The number as written.
        text: String,
        /// The allowed range, e.g. `1..=255`.
        range: String,
    },
    /// An attribute number (`241.8`, `26.9.1`) has a shape no attribute can have.
    #[error("invalid attribute number `{oid}`: {reason}")]
    InvalidOid {
        /// The number as written.
        oid: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The attribute number names a sub-attribute of a TLV, which Boomerang's attribute
    /// identities cannot represent.
    #[error(
        "attribute number `{oid}` names a TLV sub-attribute; TLV sub-attributes are not supported"
    )]
    NestedTlv {
        /// The number as written.
        oid: String,
    },
    /// The data type is not one the dictionary knows.
    #[error("unknown data type `{name}`")]
    UnknownType {
        /// The type as written.
        name: String,
    },
    /// The data type cannot be used for this attribute number or with this syntax.
    #[error("type `{data_type}` is not allowed here: {reason}")]
    TypeNotAllowed {
        /// The type as written.
        data_type: String,
        /// Why it is not allowed.
        reason: String,
    },
    /// A flag in the flags column is not known.
    #[error("unknown flag `{flag}`")]
    UnknownFlag {
        /// The flag as written.
        flag: String,
    },
    /// A known flag is used with a value or a type it does not fit.
    #[error("invalid flag `{flag}`: {reason}")]
    InvalidFlag {
        /// The flag as written.
        flag: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A vendor name or number that has not been defined with `VENDOR`.
    #[error("unknown vendor `{name}`")]
    UnknownVendor {
        /// The vendor as written.
        name: String,
    },
    /// A `VALUE` line names an attribute that is never defined.
    #[error("unknown attribute `{name}`")]
    UnknownAttribute {
        /// The attribute as written.
        name: String,
    },
    /// A `VALUE` line names an attribute whose type cannot have named values.
    #[error("attribute `{attribute}` has type `{data_type}`, which cannot have named values")]
    ValuesNotAllowed {
        /// The attribute name.
        attribute: String,
        /// Its type.
        data_type: String,
    },
    /// A vendor `format=` option is malformed.
    #[error("invalid vendor format `{text}`: {reason}")]
    InvalidVendorFormat {
        /// The option as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name cannot be used for an attribute or vendor.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name as written.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An attribute name is already bound to another attribute number.
    #[error("attribute `{name}` is already defined as {existing}; it cannot be redefined as {new}")]
    AttributeConflict {
        /// The name.
        name: String,
        /// The number it already has.
        existing: AttrId,
        /// The number of the new definition.
        new: AttrId,
    },
    /// A vendor name is already bound to another vendor number.
    #[error("vendor `{name}` is already defined as {existing}; it cannot be redefined as {new}")]
    VendorConflict {
        /// The name.
        name: String,
        /// The number it already has.
        existing: u32,
        /// The number of the new definition.
        new: u32,
    },
    /// A value name of an attribute is already bound to another number.
    #[error(
        "value `{name}` of `{attribute}` is already defined as {existing}; it cannot be redefined as {new}"
    )]
    ValueConflict {
        /// The attribute name.
        attribute: String,
        /// The value name.
        name: String,
        /// The number it already has.
        existing: u64,
        /// The number of the new definition.
        new: u64,
    },
    /// `END-VENDOR` names another vendor than the open `BEGIN-VENDOR`.
    #[error("`END-VENDOR {found}` does not match the open `BEGIN-VENDOR {expected}`")]
    VendorBlockMismatch {
        /// The vendor of the open block.
        expected: String,
        /// The vendor named by `END-VENDOR`.
        found: String,
    },
    /// `END-VENDOR` without an open `BEGIN-VENDOR`.
    #[error("`END-VENDOR {name}` without a matching `BEGIN-VENDOR`")]
    EndVendorWithoutBegin {
        /// The vendor named by `END-VENDOR`.
        name: String,
    },
    /// `BEGIN-VENDOR` while another vendor block is open.
    #[error(
        "`BEGIN-VENDOR {name}` inside the open block of `{open}`; close it with `END-VENDOR {open}` first"
    )]
    NestedVendorBlock {
        /// The vendor of the block already open.
        open: String,
        /// The vendor of the new block.
        name: String,
    },
    /// The file ends inside a `BEGIN-VENDOR` block.
    #[error("`BEGIN-VENDOR {name}` is never closed with `END-VENDOR {name}`")]
    UnclosedVendorBlock {
        /// The vendor of the open block.
        name: String,
    },
    /// The top-level dictionary file cannot be read.
    #[error("cannot read dictionary `{path}`: {reason}")]
    ReadFailed {
        /// The path as given.
        path: String,
        /// The source's reason.
        reason: String,
    },
    /// An `$INCLUDE`d file cannot be read.
    #[error("cannot include `{path}`: {reason}")]
    IncludeFailed {
        /// The path as written.
        path: String,
        /// The source's reason.
        reason: String,
    },
    /// An `$INCLUDE` would read a file that is already being read.
    #[error("`$INCLUDE {path}` includes itself (include cycle)")]
    IncludeCycle {
        /// The resolved name of the file.
        path: String,
    },
    /// `$INCLUDE` nesting is deeper than allowed.
    #[error("`$INCLUDE {path}` nests includes deeper than {max} levels")]
    IncludeTooDeep {
        /// The path as written.
        path: String,
        /// The maximum depth.
        max: usize,
    },
}

/// A dictionary error with the place it was found.
///
/// `line` and `column` are 1-based; 0 means "not tied to a line" (for example a file
/// that could not be read). Displays as `file:line:col: error: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryError {
    /// The file name as the [`DictionarySource`](super::DictionarySource) resolved it.
    pub file: String,
    /// 1-based line number, or 0.
    pub line: u32,
    /// 1-based column (in characters) of the offending field, or 0.
    pub column: u32,
    /// What went wrong.
    pub kind: DictionaryErrorKind,
}

impl fmt::Display for DictionaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: error: {}", self.file, self.kind),
            (line, 0) => write!(f, "{}:{}: error: {}", self.file, line, self.kind),
            (line, col) => write!(f, "{}:{}:{}: error: {}", self.file, line, col, self.kind),
        }
    }
}

/// The message already contains the kind's text, so no `source()` is reported (it
/// would print the same text twice in error chains).
impl std::error::Error for DictionaryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_location() {
        let e = DictionaryError {
            file: "dictionary.acme".into(),
            line: 7,
            column: 3,
            kind: DictionaryErrorKind::UnknownFlag {
                flag: "bogus".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "dictionary.acme:7:3: error: unknown flag `bogus`"
        );
        let e = DictionaryError {
            line: 0,
            column: 0,
            ..e
        };
        assert_eq!(
            e.to_string(),
            "dictionary.acme: error: unknown flag `bogus`"
        );
    }

    #[test]
    fn conflict_message_shows_oids() {
        let k = DictionaryErrorKind::AttributeConflict {
            name: "Foo".into(),
            existing: AttrId::Standard(1),
            new: AttrId::Extended { base: 241, ext: 8 },
        };
        assert_eq!(
            k.to_string(),
            "attribute `Foo` is already defined as 1; it cannot be redefined as 241.8"
        );
    }
}
