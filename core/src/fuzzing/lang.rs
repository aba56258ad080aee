//! Fuzz bodies for the configuration language.

/// Parse arbitrary bytes as configuration text.
pub fn parse_config(_data: &[u8]) {}
