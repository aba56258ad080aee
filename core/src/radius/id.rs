//! Attribute identity and data types shared by the codec, the dictionary and the
//! interpreter.

use std::fmt;

/// The identity of a logical attribute, independent of how it is carried on the wire.
///
/// Vendor-Specific (26) attributes in the standard format and RFC 6929 extended
/// attributes are unpacked into their own identities so that the dictionary and the
/// policy language can name them directly. The derived order is the order in which
/// tables keyed by attribute are iterated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttrId {
    /// A top-level attribute: its one-octet type (1..=255).
    Standard(u8),
    /// A Vendor-Specific (26) sub-attribute in the RFC 2865 §5.26 standard format.
    Vendor {
        /// The vendor's SMI Private Enterprise Number (24 bits on the wire).
        vendor: u32,
        /// The vendor type (one octet in the standard format; wider for
        /// vendors whose dictionaries declare `format=2,1` and similar).
        typ: u32,
    },
    /// An RFC 6929 Extended-Type (241..=244) or Long-Extended-Type (245..=246) attribute.
    Extended {
        /// The outer type, 241..=246.
        base: u8,
        /// The Extended-Type octet.
        ext: u8,
    },
    /// An RFC 6929 Extended-Vendor-Specific attribute (`base`.26).
    ExtendedVendor {
        /// The outer type, 241..=246.
        base: u8,
        /// The vendor's Private Enterprise Number.
        vendor: u32,
        /// The vendor type octet.
        typ: u8,
    },
}

impl fmt::Display for AttrId {
    /// The numeric "OID" form used in FreeRADIUS dictionaries and in diagnostics,
    /// e.g. `26.9.1` or `241.8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrId::Standard(t) => write!(f, "{t}"),
            AttrId::Vendor { vendor, typ } => write!(f, "26.{vendor}.{typ}"),
            AttrId::Extended { base, ext } => write!(f, "{base}.{ext}"),
            AttrId::ExtendedVendor { base, vendor, typ } => write!(f, "{base}.26.{vendor}.{typ}"),
        }
    }
}

/// The data type of an attribute's value, as named in FreeRADIUS dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataType {
    /// UTF-8 text (not validated on the wire: bytes are kept as sent).
    String,
    /// Opaque bytes.
    Octets,
    /// IPv4 address, 4 octets.
    Ipv4Addr,
    /// IPv4 prefix (RFC 6572), reserved octet + prefix length + address.
    Ipv4Prefix,
    /// Unsigned 32-bit integer; may have named values.
    Integer,
    /// Unsigned 64-bit integer.
    Integer64,
    /// Seconds since the UNIX epoch, 32 bits.
    Date,
    /// IPv6 address, 16 octets.
    Ipv6Addr,
    /// IPv6 prefix (RFC 3162): reserved octet, prefix length, up to 16 address octets.
    Ipv6Prefix,
    /// IPv6 interface identifier, 8 octets.
    Ifid,
    /// Ethernet MAC address, 6 octets.
    Ether,
    /// Unsigned 8-bit integer.
    Byte,
    /// Unsigned 16-bit integer.
    Short,
    /// Signed 32-bit integer.
    Signed,
    /// A TLV container (RFC 6929).
    Tlv,
    /// Vendor-Specific container (attribute 26).
    Vsa,
    /// RFC 6929 Extended-Type container.
    Extended,
    /// RFC 6929 Long-Extended-Type container.
    LongExtended,
    /// RFC 6929 Extended-Vendor-Specific container.
    Evs,
    /// IPv4 or IPv6 address, decided by length.
    ComboIp,
    /// Ascend binary filter: kept as opaque bytes.
    Abinary,
}

impl DataType {
    /// Whether a value of this type must be at least one octet long. RFC 2865 §5
    /// gives `text` and `string` (our `string` and `octets`) 1–253 octets, RFC 8044
    /// §3.4–3.5 says a zero-length one MUST NOT be sent (omit the attribute), and
    /// every fixed-size type (addresses, integers, dates, …) is longer than zero.
    /// The containers (TLV, VSA, extended) are laid out by their own encoders.
    pub fn forbids_empty(self) -> bool {
        !matches!(
            self,
            DataType::Tlv
                | DataType::Vsa
                | DataType::Extended
                | DataType::LongExtended
                | DataType::Evs
        )
    }

    /// The type's name as FreeRADIUS dictionaries spell it (`ipaddr`, `integer64`, …),
    /// used in dictionary files, diagnostics and listings.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Octets => "octets",
            DataType::Ipv4Addr => "ipaddr",
            DataType::Ipv4Prefix => "ipv4prefix",
            DataType::Integer => "integer",
            DataType::Integer64 => "integer64",
            DataType::Date => "date",
            DataType::Ipv6Addr => "ipv6addr",
            DataType::Ipv6Prefix => "ipv6prefix",
            DataType::Ifid => "ifid",
            DataType::Ether => "ether",
            DataType::Byte => "byte",
            DataType::Short => "short",
            DataType::Signed => "signed",
            DataType::Tlv => "tlv",
            DataType::Vsa => "vsa",
            DataType::Extended => "extended",
            DataType::LongExtended => "long-extended",
            DataType::Evs => "evs",
            DataType::ComboIp => "combo-ip",
            DataType::Abinary => "abinary",
        }
    }
}
