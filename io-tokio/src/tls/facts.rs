//! The driver's view of a certificate: the few facts used to log a peer, show it in the
//! management API and pick connections (subject CN, issuer, SANs, fingerprint, validity).

use std::fmt::Write as _;
use std::net::IpAddr;

use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Facts about one X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The subject as an RFC 4514 string (most specific RDN first, e.g.
    /// `CN=nas1,O=Example`).
    pub subject: String,
    /// The subject's first common name, if any.
    pub subject_cn: Option<String>,
    /// The issuer as an RFC 4514 string.
    pub issuer: String,
    /// The serial number, lowercase hex without separators.
    pub serial: String,
    /// `rfc822Name` subject alternative names, in certificate order.
    pub san_emails: Vec<String>,
    /// `dNSName` subject alternative names, in certificate order.
    pub san_dns: Vec<String>,
    /// `uniformResourceIdentifier` subject alternative names, in certificate order.
    pub san_uris: Vec<String>,
    /// `iPAddress` subject alternative names, in certificate order.
    pub san_ips: Vec<IpAddr>,
    /// SHA-256 of the DER certificate, lowercase hex without separators.
    pub sha256_fingerprint: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

/// A certificate could not be described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateFactsError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not a valid X.509 certificate: {0}")]
    Malformed(String),
    /// The certificate is followed by other bytes.
    #[error("{0} unexpected bytes after the certificate")]
    TrailingData(usize),
    /// The subject alternative name extension is present but cannot be read.
    #[error("unreadable subject alternative name extension: {0}")]
    SubjectAltName(String),
}

/// Describes one DER certificate.
pub fn describe_certificate(der: &[u8]) -> Result<CertificateFacts, CertificateFactsError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| CertificateFactsError::Malformed(err.to_string()))?;
    if !rest.is_empty() {
        return Err(CertificateFactsError::TrailingData(rest.len()));
    }
    let mut facts = CertificateFacts {
        subject: rfc4514(cert.subject()),
        subject_cn: cert.subject().iter_common_name().next().map(attribute_text),
        issuer: rfc4514(cert.issuer()),
        serial: hex(cert.raw_serial()),
        san_emails: Vec::new(),
        san_dns: Vec::new(),
        san_uris: Vec::new(),
        san_ips: Vec::new(),
        sha256_fingerprint: hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    };
    let san = cert
        .subject_alternative_name()
        .map_err(|err| CertificateFactsError::SubjectAltName(err.to_string()))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                GeneralName::RFC822Name(email) => facts.san_emails.push((*email).to_string()),
                GeneralName::DNSName(dns) => facts.san_dns.push((*dns).to_string()),
                GeneralName::URI(uri) => facts.san_uris.push((*uri).to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        facts.san_ips.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(facts)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::from(v6))
    } else {
        None
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Short names of the attribute types RFC 4514 lists, plus `emailAddress`, which OpenSSL
/// prints and which appears in many RadSec certificates.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "2.5.4.5" => "serialNumber",
        _ => return None,
    })
}

/// The value of an attribute: text for string types (BMPString decoded), raw content octets
/// for anything else.
enum AttributeValue {
    Text(String),
    Binary(Vec<u8>),
}

fn attribute_value(attr: &AttributeTypeAndValue<'_>) -> AttributeValue {
    if let Ok(s) = attr.as_str() {
        return AttributeValue::Text(s.to_string());
    }
    let value = attr.attr_value();
    let data = value.data;
    match value.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            AttributeValue::Text(String::from_utf16_lossy(&units))
        }
        Tag::T61String | Tag::VisibleString => {
            AttributeValue::Text(String::from_utf8_lossy(data).into_owned())
        }
        _ => AttributeValue::Binary(data.to_vec()),
    }
}

/// An attribute value as plain text (binary values as `#` and hex).
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> String {
    match attribute_value(attr) {
        AttributeValue::Text(text) => text,
        AttributeValue::Binary(bytes) => format!("#{}", hex(&bytes)),
    }
}

/// RFC 4514 escaping of one attribute value.
fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let needs_escape = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
        } else {
            if needs_escape {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// A distinguished name in RFC 4514 form: RDNs from last to first, separated by `,`; the
/// attributes of a multi-valued RDN separated by `+`.
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let oid = attr.attr_type().to_id_string();
                    let key = short_name(&oid).map(str::to_string).unwrap_or(oid);
                    match attribute_value(attr) {
                        AttributeValue::Text(text) => format!("{key}={}", escape_value(&text)),
                        AttributeValue::Binary(bytes) => format!("{key}=#{}", hex(&bytes)),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_rfc4514() {
        assert_eq!(escape_value("a,b"), "a\\,b");
        assert_eq!(escape_value(" lead"), "\\ lead");
        assert_eq!(escape_value("trail "), "trail\\ ");
        assert_eq!(escape_value("#x"), "\\#x");
        assert_eq!(escape_value("plain"), "plain");
    }

    #[test]
    fn hex_is_lowercase_without_separators() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            describe_certificate(b"not a certificate"),
            Err(CertificateFactsError::Malformed(_))
        ));
    }
}
