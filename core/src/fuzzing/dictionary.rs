//! Fuzz bodies for the dictionary loader.

/// Parse arbitrary bytes as a FreeRADIUS-format dictionary file.
pub fn parse_dictionary(_data: &[u8]) {}
