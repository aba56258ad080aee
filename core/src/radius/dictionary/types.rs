//! Definitions held by the dictionary: attributes, their flags, and vendors.

use crate::radius::id::{AttrId, DataType};

/// How an attribute's value is hidden on the wire (the FreeRADIUS `encrypt=N` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Encrypt {
    /// Sent in the clear.
    #[default]
    None,
    /// `encrypt=1`: RFC 2865 §5.2 User-Password hiding (MD5 chain over the Request
    /// Authenticator, padded to 16 octets).
    UserPassword,
    /// `encrypt=2`: RFC 2868 §3.5 Tunnel-Password hiding (salted MD5 chain, length octet).
    TunnelPassword,
    /// `encrypt=3`: Ascend's Ascend-Send-Secret hiding.
    AscendSecret,
}

impl Encrypt {
    /// The method for a FreeRADIUS `encrypt=N` number, if N is 0..=3.
    pub fn from_number(n: u64) -> Option<Encrypt> {
        match n {
            0 => Some(Encrypt::None),
            1 => Some(Encrypt::UserPassword),
            2 => Some(Encrypt::TunnelPassword),
            3 => Some(Encrypt::AscendSecret),
            _ => None,
        }
    }

    /// The FreeRADIUS `encrypt=N` number of this method.
    pub fn number(self) -> u8 {
        match self {
            Encrypt::None => 0,
            Encrypt::UserPassword => 1,
            Encrypt::TunnelPassword => 2,
            Encrypt::AscendSecret => 3,
        }
    }
}

/// Per-attribute options from the flags column of an `ATTRIBUTE` line.
///
/// The codec reads these to decide how a value is hidden, tagged, split or packed; the
/// policy engine reads `internal`/`is_virtual` to keep such attributes off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttrFlags {
    /// Hiding method (`encrypt=1|2|3`).
    pub encrypt: Encrypt,
    /// The value may carry an RFC 2868 tag octet (`has_tag`).
    pub has_tag: bool,
    /// Long values are split over several consecutive attributes and joined on
    /// receipt, like EAP-Message (`concat`).
    pub concat: bool,
    /// Several fixed-size values are packed into one attribute (`array`).
    pub array: bool,
    /// Computed by the server, never encoded (`virtual`).
    pub is_virtual: bool,
    /// Used only inside the server, never sent (`internal`, or `FLAGS internal`).
    pub internal: bool,
    /// Fixed value length in octets, from a type written `octets[N]`.
    pub length: Option<u8>,
}

/// One attribute of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrDef {
    /// Where the attribute lives on the wire.
    pub id: AttrId,
    /// The canonical name, as written in the dictionary (the most recent name
    /// defined for this `id`; earlier names stay valid as aliases).
    pub name: String,
    /// How the value is encoded.
    pub data_type: DataType,
    /// Encoding options.
    pub flags: AttrFlags,
}

impl AttrDef {
    /// The vendor's Private Enterprise Number for vendor-specific attributes
    /// (standard VSA or RFC 6929 Extended-Vendor-Specific), `None` otherwise.
    pub fn vendor_id(&self) -> Option<u32> {
        match self.id {
            AttrId::Vendor { vendor, .. } | AttrId::ExtendedVendor { vendor, .. } => Some(vendor),
            AttrId::Standard(_) | AttrId::Extended { .. } => None,
        }
    }

    /// Whether `VALUE` names may be attached to this attribute (integer-like types).
    pub fn accepts_values(&self) -> bool {
        value_range(self.data_type).is_some()
    }
}

/// How a vendor lays out its sub-attributes inside Vendor-Specific (26): the
/// FreeRADIUS `format=t,l[,c]` option of `VENDOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorFormat {
    /// Octets of the vendor type field: 1, 2 or 4.
    pub type_octets: u8,
    /// Octets of the vendor length field: 0, 1 or 2.
    pub length_octets: u8,
    /// A continuation octet follows the length (WiMAX, `format=1,1,c`).
    pub continuation: bool,
}

impl VendorFormat {
    /// The RFC 2865 §5.26 layout: one type octet, one length octet.
    pub const STANDARD: VendorFormat = VendorFormat {
        type_octets: 1,
        length_octets: 1,
        continuation: false,
    };

    /// The largest vendor type number this layout can carry.
    pub fn max_type(&self) -> u64 {
        match self.type_octets {
            1 => 0xff,
            2 => 0xffff,
            _ => u64::from(u32::MAX),
        }
    }
}

impl Default for VendorFormat {
    fn default() -> Self {
        VendorFormat::STANDARD
    }
}

/// One vendor of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VendorDef {
    /// SMI Private Enterprise Number (1..=2^24-1).
    pub id: u32,
    /// The canonical name (the most recent name defined for this number).
    pub name: String,
    /// Layout of the vendor's sub-attributes.
    pub format: VendorFormat,
}

/// The data type named in a dictionary file, case-insensitively.
///
/// Accepts the FreeRADIUS v3 names and the v4 spellings that mean the same thing
/// (`ipv4addr`, `uint8`/`uint16`/`uint32`/`uint64`, `int32`).
pub fn parse_data_type(name: &str) -> Option<DataType> {
    let lower = name.to_ascii_lowercase();
    let data_type = match lower.as_str() {
        "string" => DataType::String,
        "octets" => DataType::Octets,
        "ipaddr" | "ipv4addr" => DataType::Ipv4Addr,
        "ipv4prefix" => DataType::Ipv4Prefix,
        "integer" | "uint32" => DataType::Integer,
        "integer64" | "uint64" => DataType::Integer64,
        "date" => DataType::Date,
        "ipv6addr" => DataType::Ipv6Addr,
        "ipv6prefix" => DataType::Ipv6Prefix,
        "ifid" => DataType::Ifid,
        "ether" => DataType::Ether,
        "byte" | "uint8" => DataType::Byte,
        "short" | "uint16" => DataType::Short,
        "signed" | "int32" => DataType::Signed,
        "tlv" => DataType::Tlv,
        "vsa" => DataType::Vsa,
        "extended" => DataType::Extended,
        "long-extended" => DataType::LongExtended,
        "evs" => DataType::Evs,
        "combo-ip" | "combo-ipaddr" => DataType::ComboIp,
        "abinary" => DataType::Abinary,
        _ => return None,
    };
    Some(data_type)
}

/// The inclusive range of numbers a `VALUE` of this type may take, or `None` when
/// the type cannot have named values. `signed` values are stored as the 32-bit
/// two's-complement pattern sent on the wire, so the range is the unsigned one.
pub(crate) fn value_range(data_type: DataType) -> Option<(u64, u64)> {
    match data_type {
        DataType::Byte => Some((0, 0xff)),
        DataType::Short => Some((0, 0xffff)),
        DataType::Integer | DataType::Signed => Some((0, u64::from(u32::MAX))),
        DataType::Integer64 => Some((0, u64::MAX)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_name_parses_back() {
        let all = [
            DataType::String,
            DataType::Octets,
            DataType::Ipv4Addr,
            DataType::Ipv4Prefix,
            DataType::Integer,
            DataType::Integer64,
            DataType::Date,
            DataType::Ipv6Addr,
            DataType::Ipv6Prefix,
            DataType::Ifid,
            DataType::Ether,
            DataType::Byte,
            DataType::Short,
            DataType::Signed,
            DataType::Tlv,
            DataType::Vsa,
            DataType::Extended,
            DataType::LongExtended,
            DataType::Evs,
            DataType::ComboIp,
            DataType::Abinary,
        ];
        for t in all {
            assert_eq!(parse_data_type(t.name()), Some(t));
            assert_eq!(parse_data_type(&t.name().to_ascii_uppercase()), Some(t));
        }
        assert_eq!(parse_data_type("ipv4addr"), Some(DataType::Ipv4Addr));
        assert_eq!(parse_data_type("uint16"), Some(DataType::Short));
        assert_eq!(parse_data_type("struct"), None);
    }

    #[test]
    fn encrypt_numbers_round_trip() {
        for n in 0..=3u64 {
            let e = Encrypt::from_number(n).unwrap();
            assert_eq!(u64::from(e.number()), n);
        }
        assert_eq!(Encrypt::from_number(4), None);
    }

    #[test]
    fn vendor_format_widths() {
        assert_eq!(VendorFormat::STANDARD.max_type(), 255);
        let lucent = VendorFormat {
            type_octets: 2,
            length_octets: 1,
            continuation: false,
        };
        assert_eq!(lucent.max_type(), 65535);
    }
}
