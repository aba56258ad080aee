//! PLACEHOLDER password verification (replaced at merge by the real `password.rs`):
//! plain-text comparison only.

/// Why a stored password could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The stored password uses a scheme this placeholder does not know.
    #[error("unsupported password scheme")]
    UnsupportedScheme,
}

/// Check `presented` against the `stored` password.
pub fn verify_password(stored: &str, presented: &[u8]) -> Result<bool, PasswordError> {
    if stored.starts_with('{') {
        return Err(PasswordError::UnsupportedScheme);
    }
    Ok(stored.as_bytes() == presented)
}
