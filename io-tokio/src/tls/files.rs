//! Reading certificates, certificate chains, CA bundles and private keys from PEM files.
//!
//! Every failure names the file and says what was wrong with it, because these files come
//! from the operator's configuration and the message is what they will act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pkcs8::der::Document;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Largest PEM file we read (16 MiB). Certificate files and CA bundles are a few kilobytes;
/// anything much larger is a wrong path (a log, a disk image) rather than a certificate.
pub const MAX_PEM_FILE_BYTES: u64 = 16 * 1024 * 1024;

const ENCRYPTED_KEY_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// A PEM file could not be turned into certificates or a private key.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// The file could not be opened or read (missing, unreadable, a directory, …).
    #[error("{}: cannot read file: {source}", path.display())]
    Read {
        /// The file named in the configuration.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_PEM_FILE_BYTES`].
    #[error("{}: file is {size} bytes, larger than the {limit} bytes a PEM file may have", path.display())]
    TooLarge {
        /// The file named in the configuration.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit, [`MAX_PEM_FILE_BYTES`].
        limit: u64,
    },
    /// The file contains no PEM block at all (it may be DER, or not a certificate file).
    #[error(
        "{}: not a PEM file (no `-----BEGIN ...-----` line); DER files can be converted with `openssl x509 -inform der` or `openssl pkey -inform der`",
        path.display()
    )]
    NotPem {
        /// The file named in the configuration.
        path: PathBuf,
    },
    /// The PEM structure is broken (bad base64, missing END line, …).
    #[error("{}: malformed PEM: {detail}", path.display())]
    Malformed {
        /// The file named in the configuration.
        path: PathBuf,
        /// What the PEM parser reported.
        detail: String,
    },
    /// A certificate was expected but the file holds none.
    #[error("{}: no certificate in file (expected a `-----BEGIN CERTIFICATE-----` block){}", path.display(), found_suffix(found))]
    NoCertificate {
        /// The file named in the configuration.
        path: PathBuf,
        /// Labels of the PEM blocks that were present instead.
        found: Vec<String>,
    },
    /// A certificate block does not hold a valid X.509 certificate.
    #[error("{}: certificate #{index} is not a valid X.509 certificate: {detail}", path.display())]
    InvalidCertificate {
        /// The file named in the configuration.
        path: PathBuf,
        /// Position of the certificate in the file, counting from 1.
        index: usize,
        /// What the X.509 parser reported.
        detail: String,
    },
    /// A CA bundle holds a certificate that cannot serve as a trust anchor.
    #[error("{}: CA certificate #{index} cannot be used as a trust anchor: {detail}", path.display())]
    InvalidTrustAnchor {
        /// The file named in the configuration.
        path: PathBuf,
        /// Position of the certificate in the file, counting from 1.
        index: usize,
        /// Why it was refused.
        detail: String,
    },
    /// A private key was expected but the file holds none.
    #[error(
        "{}: no private key in file (expected `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`){}",
        path.display(), found_suffix(found)
    )]
    NoPrivateKey {
        /// The file named in the configuration.
        path: PathBuf,
        /// Labels of the PEM blocks that were present instead.
        found: Vec<String>,
    },
    /// The key is encrypted and no password was configured.
    #[error("{}: the private key is encrypted; give its password with `password \"...\"` in the `key` block", path.display())]
    PasswordRequired {
        /// The file named in the configuration.
        path: PathBuf,
    },
    /// The password does not decrypt the key (or the encrypted key is corrupt).
    #[error("{}: wrong password for the encrypted private key (or the key is corrupt)", path.display())]
    WrongPassword {
        /// The file named in the configuration.
        path: PathBuf,
    },
    /// The key is encrypted with a scheme we cannot decrypt (PBES1, unknown cipher, …).
    #[error(
        "{}: the private key is encrypted with an unsupported scheme ({detail}); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
        path.display()
    )]
    UnsupportedEncryption {
        /// The file named in the configuration.
        path: PathBuf,
        /// What the PKCS#5/PKCS#8 decoder reported.
        detail: String,
    },
    /// The key uses OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED`).
    #[error(
        "{}: legacy OpenSSL-encrypted PEM key (`Proc-Type: 4,ENCRYPTED`) is not supported; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`",
        path.display()
    )]
    LegacyEncryptedKey {
        /// The file named in the configuration.
        path: PathBuf,
    },
    /// The key decoded but is of a type rustls (ring) cannot sign with.
    #[error("{}: unsupported private key type: {detail} (RSA, ECDSA P-256/P-384 and Ed25519 keys are supported)", path.display())]
    UnsupportedKeyType {
        /// The file named in the configuration.
        path: PathBuf,
        /// What rustls reported.
        detail: String,
    },
}

impl PemError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotPem { path }
            | Self::Malformed { path, .. }
            | Self::NoCertificate { path, .. }
            | Self::InvalidCertificate { path, .. }
            | Self::InvalidTrustAnchor { path, .. }
            | Self::NoPrivateKey { path, .. }
            | Self::PasswordRequired { path }
            | Self::WrongPassword { path }
            | Self::UnsupportedEncryption { path, .. }
            | Self::LegacyEncryptedKey { path }
            | Self::UnsupportedKeyType { path, .. } => path,
        }
    }
}

fn found_suffix(found: &[String]) -> String {
    if found.is_empty() {
        String::new()
    } else {
        format!("; found: {}", found.join(", "))
    }
}

/// Reads a whole file, bounded by [`MAX_PEM_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, PemError> {
    use crate::bounded_file::{BoundedReadError, read};
    let read_err = |source| PemError::Read {
        path: path.to_path_buf(),
        source,
    };
    read(path, MAX_PEM_FILE_BYTES).map_err(|e| match e {
        BoundedReadError::Io(e) => read_err(e),
        BoundedReadError::Directory => read_err(std::io::Error::other("is a directory")),
        BoundedReadError::NotRegular => read_err(std::io::Error::other("is not a regular file")),
        BoundedReadError::TooLarge { size, limit } => PemError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        },
    })
}

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block, as text.
struct PemBlock<'a> {
    label: &'a str,
    /// From the BEGIN line through the END line (or the end of the text if END is missing).
    text: &'a str,
    /// Whether the block carries RFC 1421 headers saying it is encrypted.
    legacy_encrypted: bool,
}

/// Splits PEM text into its blocks, without decoding them. Lines that are not valid UTF-8
/// are skipped (PEM is ASCII; the strict decoder reports real damage later).
fn scan_blocks(bytes: &[u8]) -> Vec<PemBlock<'_>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            // Keep the valid prefix: a binary tail cannot hold PEM blocks we could use anyway.
            let valid = bytes.get(..err.valid_up_to()).unwrap_or_default();
            std::str::from_utf8(valid).unwrap_or_default()
        }
    };
    let mut blocks = Vec::new();
    let mut offset = 0;
    let mut open: Option<(usize, &str, bool)> = None;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if let Some(label) = trimmed
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            open = Some((start, label, false));
        } else if let Some(label) = trimmed
            .strip_prefix("-----END ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            if let Some((begin, open_label, encrypted)) = open.take()
                && open_label == label
            {
                blocks.push(PemBlock {
                    label: open_label,
                    text: text.get(begin..offset).unwrap_or_default(),
                    legacy_encrypted: encrypted,
                });
            }
        } else if let Some((_, _, encrypted)) = open.as_mut()
            && trimmed.starts_with("Proc-Type:")
            && trimmed.contains("ENCRYPTED")
        {
            *encrypted = true;
        }
    }
    if let Some((begin, label, encrypted)) = open {
        blocks.push(PemBlock {
            label,
            text: text.get(begin..).unwrap_or_default(),
            legacy_encrypted: encrypted,
        });
    }
    blocks
}

fn labels(blocks: &[PemBlock<'_>]) -> Vec<String> {
    blocks.iter().map(|b| b.label.to_string()).collect()
}

fn malformed(path: &Path, err: pem::Error) -> PemError {
    PemError::Malformed {
        path: path.to_path_buf(),
        detail: err.to_string(),
    }
}

/// Loads every certificate of a PEM file, in file order (for a chain: the end-entity
/// certificate first, then intermediates). Each one must parse as X.509; other blocks in the
/// file (a private key, for example) are ignored.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read_bounded(path)?;
    let blocks = scan_blocks(&bytes);
    if blocks.is_empty() {
        return Err(PemError::NotPem {
            path: path.to_path_buf(),
        });
    }
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| malformed(path, err))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate {
            path: path.to_path_buf(),
            found: labels(&blocks),
        });
    }
    for (i, cert) in certs.iter().enumerate() {
        match x509_parser::parse_x509_certificate(cert.as_ref()) {
            Ok(([], _)) => {}
            Ok(_) => {
                return Err(PemError::InvalidCertificate {
                    path: path.to_path_buf(),
                    index: i + 1,
                    detail: "trailing bytes after the certificate".to_string(),
                });
            }
            Err(err) => {
                return Err(PemError::InvalidCertificate {
                    path: path.to_path_buf(),
                    index: i + 1,
                    detail: err.to_string(),
                });
            }
        }
    }
    Ok(certs)
}

/// Loads a CA bundle: every certificate in the file becomes a trust anchor. A certificate
/// that cannot be a trust anchor is an error (rather than silently skipped), so a damaged
/// bundle is noticed when the configuration loads, not when a peer is refused.
pub fn load_ca_bundle(path: &Path) -> Result<Arc<RootCertStore>, PemError> {
    let certs = load_certificates(path)?;
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        store
            .add(cert)
            .map_err(|err| PemError::InvalidTrustAnchor {
                path: path.to_path_buf(),
                index: i + 1,
                detail: err.to_string(),
            })?;
    }
    Ok(Arc::new(store))
}

/// Loads the first private key of a PEM file: PKCS#8 (`PRIVATE KEY`), PKCS#1 RSA
/// (`RSA PRIVATE KEY`), SEC1 EC (`EC PRIVATE KEY`) or PBES2-encrypted PKCS#8
/// (`ENCRYPTED PRIVATE KEY`, decrypted with `password`). A password given for a key that is
/// not encrypted is ignored, as OpenSSL does. The key is checked to be usable for signing with
/// the ring provider, so an unsupported key type is reported here with its file name.
pub fn load_private_key(
    path: &Path,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = read_bounded(path)?;
    let blocks = scan_blocks(&bytes);
    if blocks.is_empty() {
        return Err(PemError::NotPem {
            path: path.to_path_buf(),
        });
    }
    let key_block = blocks.iter().find(|b| {
        matches!(
            b.label,
            ENCRYPTED_KEY_LABEL | "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
        )
    });
    let key = match key_block {
        None => {
            return Err(PemError::NoPrivateKey {
                path: path.to_path_buf(),
                found: labels(&blocks),
            });
        }
        Some(block) if block.legacy_encrypted => {
            return Err(PemError::LegacyEncryptedKey {
                path: path.to_path_buf(),
            });
        }
        Some(block) if block.label == ENCRYPTED_KEY_LABEL => match password {
            None => {
                return Err(PemError::PasswordRequired {
                    path: path.to_path_buf(),
                });
            }
            Some(password) => decrypt_pkcs8(path, block.text, password)?,
        },
        Some(block) => {
            PrivateKeyDer::from_pem_slice(block.text.as_bytes()).map_err(|err| match err {
                pem::Error::NoItemsFound => PemError::NoPrivateKey {
                    path: path.to_path_buf(),
                    found: labels(&blocks),
                },
                other => malformed(path, other),
            })?
        }
    };
    crate::tls::crypto_provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|err| PemError::UnsupportedKeyType {
            path: path.to_path_buf(),
            detail: err.to_string(),
        })?;
    Ok(key)
}

/// Decrypts one `ENCRYPTED PRIVATE KEY` block (PKCS#8 with PBES2).
fn decrypt_pkcs8(
    path: &Path,
    block: &str,
    password: &str,
) -> Result<PrivateKeyDer<'static>, PemError> {
    let (_, document) = Document::from_pem(block).map_err(|err| PemError::Malformed {
        path: path.to_path_buf(),
        detail: err.to_string(),
    })?;
    let encrypted: EncryptedPrivateKeyInfo<'_> =
        document
            .decode_msg()
            .map_err(|err| PemError::UnsupportedEncryption {
                path: path.to_path_buf(),
                detail: err.to_string(),
            })?;
    // A wrong password shows up as bad CBC padding, which pkcs5 0.7 reports as
    // `EncryptFailed` (sic) from its decrypt path, or as plaintext that is not DER.
    let decrypted = encrypted.decrypt(password).map_err(|err| match err {
        pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
        )
        | pkcs8::Error::Asn1(_) => PemError::WrongPassword {
            path: path.to_path_buf(),
        },
        other => PemError::UnsupportedEncryption {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    })?;
    // A wrong password can, rarely, still unpad cleanly; the plaintext then is not a key.
    if PrivateKeyInfo::try_from(decrypted.as_bytes()).is_err() {
        return Err(PemError::WrongPassword {
            path: path.to_path_buf(),
        });
    }
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        decrypted.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_blocks_and_legacy_headers() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let blocks = scan_blocks(text.as_bytes());
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert!(!blocks[0].legacy_encrypted);
        assert_eq!(blocks[1].label, "RSA PRIVATE KEY");
        assert!(blocks[1].legacy_encrypted);
        assert!(blocks[1].text.ends_with("-----END RSA PRIVATE KEY-----\n"));
    }

    #[test]
    fn scan_keeps_unterminated_block() {
        let blocks = scan_blocks(b"-----BEGIN PRIVATE KEY-----\nAAAA\n");
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "PRIVATE KEY");
    }

    #[test]
    fn scan_of_binary_is_empty() {
        assert!(scan_blocks(&[0x30, 0x82, 0xff, 0xfe, 0x00]).is_empty());
    }
}
