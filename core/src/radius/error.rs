//! Errors of the RADIUS codec, one variant per distinct failure.
//!
//! Offsets are octet offsets from the start of the packet (the Code octet), so a
//! log line can point at the exact place in a captured packet.

use thiserror::Error;

use super::id::AttrId;

/// Why a buffer is not a well-formed RADIUS packet (RFC 2865 §3, RFC 6613 §2.6).
///
/// On a stream (RADIUS/TCP, RadSec) every one of these closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer than 20 octets: not even a header.
    #[error("packet too short: {len} octets, a RADIUS header needs 20")]
    BufferTooShort {
        /// Octets available.
        len: usize,
    },
    /// The Length field is below the 20-octet minimum.
    #[error("Length field {length} is below the minimum of 20")]
    LengthBelowMinimum {
        /// The Length field.
        length: u16,
    },
    /// The Length field is above the maximum packet size.
    #[error("Length field {length} exceeds the maximum of {max}")]
    LengthAboveMaximum {
        /// The Length field.
        length: u16,
        /// The maximum in force (4096 unless configured otherwise).
        max: usize,
    },
    /// Fewer octets arrived than the Length field announces.
    #[error("Length field says {length} octets but only {available} are present")]
    Truncated {
        /// The Length field.
        length: u16,
        /// Octets available.
        available: usize,
    },
    /// An attribute's Length octet is 0 or 1 (it must count its own 2-octet header).
    #[error("attribute at offset {offset} has invalid length {length} (minimum 2)")]
    AttributeLengthTooSmall {
        /// Offset of the attribute's Type octet.
        offset: usize,
        /// Its Length octet.
        length: u8,
    },
    /// An attribute's Length octet runs past the end of the packet.
    #[error(
        "attribute at offset {offset} has length {length} but only {remaining} octets remain in the packet"
    )]
    AttributeOverrun {
        /// Offset of the attribute's Type octet.
        offset: usize,
        /// Its Length octet.
        length: u8,
        /// Octets left in the packet from `offset`.
        remaining: usize,
    },
    /// A single octet is left after the last attribute: the attributes do not
    /// fill the packet exactly.
    #[error("attributes do not fill the packet: one stray octet at offset {offset}")]
    StrayOctet {
        /// Offset of the stray octet.
        offset: usize,
    },
}

/// Why a packet or attribute cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// An attribute value does not fit in one attribute (253 octets).
    #[error("attribute {typ} value is {len} octets; at most 253 fit in one attribute")]
    AttributeTooLong {
        /// The attribute type.
        typ: u8,
        /// The value length.
        len: usize,
    },
    /// The encoded packet would exceed the maximum packet size.
    #[error("packet would be {len} octets; the maximum is {max}")]
    PacketTooLong {
        /// The encoded length.
        len: usize,
        /// The maximum in force.
        max: usize,
    },
    /// A logical attribute's value is too long for its encoding.
    #[error("value of attribute {id} is {len} octets; at most {max} fit")]
    LogicalValueTooLong {
        /// The attribute.
        id: AttrId,
        /// The value length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// A zero-length value for an attribute whose type needs at least one octet
    /// (RFC 2865 §5: text and string are 1–253 octets): the attribute would be
    /// malformed, so it is refused rather than sent.
    #[error(
        "attribute {id} ({data_type}) cannot be empty: a value needs at least one octet (RFC 2865 §5)"
    )]
    EmptyValue {
        /// The attribute.
        id: AttrId,
        /// Its data type's dictionary name.
        data_type: &'static str,
    },
    /// A vendor number does not fit in the 24 bits the Vendor-Id field allows.
    #[error("vendor {vendor} does not fit in 24 bits")]
    VendorOutOfRange {
        /// The vendor number.
        vendor: u32,
    },
    /// A vendor type does not fit in the vendor's type field.
    #[error("vendor {vendor} type {typ} does not fit in its {octets}-octet type field")]
    VendorTypeOutOfRange {
        /// The vendor number.
        vendor: u32,
        /// The vendor type.
        typ: u32,
        /// Size of the type field.
        octets: u8,
    },
    /// An extended identity names an outer type outside 241..=246.
    #[error("{base} is not an RFC 6929 extended attribute type (241..=246)")]
    NotExtendedType {
        /// The outer type given.
        base: u8,
    },
    /// The packet carries more than one Message-Authenticator, so there is no
    /// single value to compute.
    #[error("packet carries {count} Message-Authenticator attributes; at most one is allowed")]
    DuplicateMessageAuthenticator {
        /// How many were found.
        count: usize,
    },
    /// A request-signing function was given a code that is not a request.
    #[error("code {code} is not a request code")]
    NotARequest {
        /// The packet code.
        code: u8,
    },
    /// A response-signing function was given a code that is not a response.
    #[error("code {code} is not a response code")]
    NotAResponse {
        /// The packet code.
        code: u8,
    },
}

/// Why a received packet fails authentication. Each of these means: discard the
/// packet; on a stream (RFC 6613 §2.6.4) close the connection, except
/// [`AuthError::UnknownCode`] and [`AuthError::WrongDirection`], which are only
/// discarded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The code is not one this crate can verify; discard the packet.
    #[error("unknown code {code}")]
    UnknownCode {
        /// The packet code.
        code: u8,
    },
    /// A response was given to request verification or the other way round.
    #[error("code {code} is not a {expected}")]
    WrongDirection {
        /// The packet code.
        code: u8,
        /// "request" or "response".
        expected: &'static str,
    },
    /// No Message-Authenticator, but the code (Status-Server) or the policy
    /// (require Message-Authenticator) demands one.
    #[error("Message-Authenticator is required but absent")]
    MissingMessageAuthenticator,
    /// More than one Message-Authenticator attribute.
    #[error("{count} Message-Authenticator attributes; at most one is allowed")]
    DuplicateMessageAuthenticator {
        /// How many were found.
        count: usize,
    },
    /// A Message-Authenticator whose value is not 16 octets.
    #[error("Message-Authenticator value is {len} octets, not 16")]
    MessageAuthenticatorLength {
        /// The value length.
        len: usize,
    },
    /// The Message-Authenticator HMAC does not match.
    #[error("Message-Authenticator does not match (wrong secret or altered packet)")]
    BadMessageAuthenticator,
    /// The MD5 Request Authenticator of an Accounting/CoA/Disconnect-Request does not match.
    #[error("Request Authenticator does not match (wrong secret or altered packet)")]
    BadRequestAuthenticator,
    /// The Response Authenticator does not match the request it claims to answer.
    #[error(
        "Response Authenticator does not match (wrong secret, wrong request, or altered packet)"
    )]
    BadResponseAuthenticator,
    /// Proxy-State without Message-Authenticator while the "limit Proxy-State"
    /// BlastRADIUS mitigation is on.
    #[error("Proxy-State present without Message-Authenticator")]
    ProxyStateWithoutMessageAuthenticator,
}

/// Why an attribute cannot be hidden or revealed (User-Password, Tunnel-Password).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// The clear text is longer than the attribute can carry.
    #[error("password is {len} octets; at most {max} can be hidden")]
    TooLong {
        /// The clear-text length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A hidden User-Password is not 16..=128 octets in 16-octet blocks.
    #[error("hidden User-Password is {len} octets; it must be a multiple of 16 between 16 and 128")]
    BadHiddenLength {
        /// The hidden value length.
        len: usize,
    },
    /// A Tunnel-Password value is too short or not tag + salt + 16-octet blocks.
    #[error(
        "Tunnel-Password value is {len} octets; it must be tag, 2-octet salt and 16-octet blocks"
    )]
    BadTunnelLength {
        /// The value length.
        len: usize,
    },
    /// The Tunnel-Password salt does not have its most significant bit set.
    #[error("Tunnel-Password salt {salt:#06x} does not have its high bit set")]
    BadSalt {
        /// The salt as received.
        salt: u16,
    },
    /// The decrypted Tunnel-Password length octet is larger than the data.
    #[error("Tunnel-Password length octet {length} exceeds the {available} decrypted octets")]
    BadTunnelPasswordLength {
        /// The decrypted length octet.
        length: u8,
        /// Octets available after it.
        available: usize,
    },
}

/// Why a stream (RADIUS/TCP, RadSec) must be closed (RFC 6613 §2.6.4). Framing
/// only looks at the Length field; the decoder checks the rest.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    /// A packet's Length field is below 20.
    #[error("stream packet Length {length} is below the minimum of 20")]
    LengthBelowMinimum {
        /// The Length field.
        length: u16,
    },
    /// A packet's Length field is above the configured maximum.
    #[error("stream packet Length {length} exceeds the maximum of {max}")]
    LengthAboveMaximum {
        /// The Length field.
        length: u16,
        /// The configured maximum.
        max: usize,
    },
}
