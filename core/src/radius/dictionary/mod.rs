//! The RADIUS dictionary: attribute names, numbers, types and flags, vendors, and the
//! named values of integer attributes.
//!
//! [`Dictionary::builtin`] holds the standard attributes of the IETF RADIUS RFCs
//! (RFC 2865 through RFC 8559, including the RFC 6929 extended space). Sites add
//! vendor dictionaries in FreeRADIUS format by cloning it and calling
//! [`Dictionary::load`] with a [`DictionarySource`] (the core does no file IO):
//!
//! ```
//! use boomerang_core::radius::dictionary::{Dictionary, MemorySource};
//!
//! let mut source = MemorySource::new().with(
//!     "dictionary.acme",
//!     "VENDOR Acme 64512\n\
//!      BEGIN-VENDOR Acme\n\
//!      ATTRIBUTE Acme-Role 1 integer\n\
//!      VALUE Acme-Role Admin 1\n\
//!      END-VENDOR Acme\n",
//! );
//! let mut dict = Dictionary::builtin().clone();
//! dict.load("dictionary.acme", &mut source).expect("valid dictionary");
//! let role = dict.attr("acme-role").unwrap();
//! assert_eq!(dict.value_number(role, "admin"), Some(1));
//! assert_eq!(dict.suggest("User-Nmae"), Some("User-Name"));
//! ```

mod builtin;
mod error;
mod loader;
mod source;
mod suggest;
mod table;
mod types;

pub use error::{DictionaryError, DictionaryErrorKind};
pub use loader::MAX_INCLUDE_DEPTH;
pub use source::{
    DictionarySource, MemorySource, NoSource, SourceError, SourceFile, join_relative,
};
pub use suggest::MAX_SUGGESTION_DISTANCE;
pub use table::Dictionary;
pub use types::{AttrDef, AttrFlags, Encrypt, VendorDef, VendorFormat, parse_data_type};
