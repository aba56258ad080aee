//! Attributes as they appear on the wire, and the attribute types the codec itself
//! needs to know about.

use bytes::Bytes;

/// User-Name (RFC 2865 §5.1).
pub const USER_NAME: u8 = 1;
/// User-Password, hidden with the shared secret (RFC 2865 §5.2).
pub const USER_PASSWORD: u8 = 2;
/// CHAP-Password (RFC 2865 §5.3).
pub const CHAP_PASSWORD: u8 = 3;
/// NAS-IP-Address (RFC 2865 §5.4).
pub const NAS_IP_ADDRESS: u8 = 4;
/// Framed-IP-Address (RFC 2865 §5.8).
pub const FRAMED_IP_ADDRESS: u8 = 8;
/// Vendor-Specific (RFC 2865 §5.26).
pub const VENDOR_SPECIFIC: u8 = 26;
/// Proxy-State (RFC 2865 §5.33): opaque to everyone but the proxy that added it;
/// the codec carries it verbatim and in order.
pub const PROXY_STATE: u8 = 33;
/// Acct-Session-Id (RFC 2866 §5.5).
pub const ACCT_SESSION_ID: u8 = 44;
/// Event-Timestamp (RFC 2869 §5.3).
pub const EVENT_TIMESTAMP: u8 = 55;
/// CHAP-Challenge (RFC 2865 §5.40).
pub const CHAP_CHALLENGE: u8 = 60;
/// Tunnel-Password, hidden with a salt (RFC 2868 §3.5).
pub const TUNNEL_PASSWORD: u8 = 69;
/// Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2).
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
/// Error-Cause (RFC 5176 §3.6).
pub const ERROR_CAUSE: u8 = 101;

/// The most octets one attribute value can hold (255 minus the 2-octet header).
pub const MAX_VALUE_LEN: usize = 253;

/// One attribute exactly as carried on the wire: its type octet and value.
///
/// The Length octet is not stored; it is always `value.len() + 2`. A decoded
/// value is a zero-copy slice of the received buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// The Type octet.
    pub typ: u8,
    /// The value octets (at most [`MAX_VALUE_LEN`] for the packet to be encodable).
    pub value: Bytes,
}

impl RawAttribute {
    /// An attribute of type `typ` carrying `value`.
    pub fn new(typ: u8, value: impl Into<Bytes>) -> Self {
        RawAttribute {
            typ,
            value: value.into(),
        }
    }

    /// Octets this attribute occupies on the wire, header included.
    pub fn wire_len(&self) -> usize {
        self.value.len() + 2
    }
}
