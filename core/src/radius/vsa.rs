//! Vendor-Specific (26) attributes: unpacking the RFC 2865 §5.26 layout into
//! vendor sub-attributes and packing them back.
//!
//! Most vendors use the recommended layout (1-octet type, 1-octet length). A few
//! declare others in their dictionaries (`format=2,1`, `format=4,0`, …); the
//! dictionary tells the codec through [`VendorFormats`]. A Vendor-Specific
//! attribute that does not parse in its vendor's layout is kept opaque.

use bytes::{BufMut, Bytes, BytesMut};

use super::attr::MAX_VALUE_LEN;
use super::error::EncodeError;
use super::id::AttrId;

/// Octets of the Vendor-Id field.
const VENDOR_ID_LEN: usize = 4;

/// The layout of one vendor's sub-attributes inside Vendor-Specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VsaFormat {
    /// Octets of the vendor type field: 1, 2 or 4.
    pub type_octets: u8,
    /// Octets of the vendor length field: 0, 1 or 2. With 0 there is no length
    /// field and one sub-attribute fills the whole Vendor-Specific attribute.
    pub length_octets: u8,
}

impl VsaFormat {
    /// The RFC 2865 recommended layout: 1-octet type, 1-octet length.
    pub const STANDARD: VsaFormat = VsaFormat {
        type_octets: 1,
        length_octets: 1,
    };

    /// Whether the field sizes are ones a dictionary may declare.
    pub fn is_valid(self) -> bool {
        matches!(self.type_octets, 1 | 2 | 4) && matches!(self.length_octets, 0..=2)
    }

    fn header_len(self) -> usize {
        usize::from(self.type_octets) + usize::from(self.length_octets)
    }

    /// The longest sub-attribute value that fits in one Vendor-Specific attribute.
    pub fn max_value_len(self) -> usize {
        MAX_VALUE_LEN - VENDOR_ID_LEN - self.header_len()
    }
}

impl Default for VsaFormat {
    fn default() -> Self {
        VsaFormat::STANDARD
    }
}

/// Tells the codec each vendor's sub-attribute layout (and, where known, each
/// attribute's data type). The dictionary implements this; [`StandardVsaFormats`]
/// assumes the standard layout for every vendor and knows no types.
pub trait VendorFormats {
    /// The layout `vendor` uses.
    fn vsa_format(&self, vendor: u32) -> VsaFormat;

    /// The data type of attribute `id`, when known. The encoder refuses an empty
    /// value for a type that forbids one ([`crate::radius::id::DataType::forbids_empty`]);
    /// `None` (the default) means the attribute is copied opaquely.
    fn value_type(&self, _id: crate::radius::id::AttrId) -> Option<crate::radius::id::DataType> {
        None
    }
}

/// Every vendor uses the RFC 2865 standard layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardVsaFormats;

impl VendorFormats for StandardVsaFormats {
    fn vsa_format(&self, _vendor: u32) -> VsaFormat {
        VsaFormat::STANDARD
    }
}

/// Read a big-endian unsigned number of 1, 2 or 4 octets.
fn read_be(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
}

/// Unpack the value of a Vendor-Specific attribute into `(AttrId::Vendor, value)`
/// pairs, in order. `None` when the value is not valid in the vendor's layout
/// (short, Vendor-Id high octet set, bad sub-attribute lengths, sub-attributes
/// not filling the attribute): the caller then keeps it opaque.
pub fn unpack(value: &Bytes, formats: &dyn VendorFormats) -> Option<Vec<(AttrId, Bytes)>> {
    let id = value.get(..VENDOR_ID_LEN)?;
    if id[0] != 0 {
        return None;
    }
    let vendor = read_be(id);
    let format = formats.vsa_format(vendor);
    if !format.is_valid() {
        return None;
    }
    let data = value.slice(VENDOR_ID_LEN..);
    if data.is_empty() {
        return None;
    }
    let t = usize::from(format.type_octets);
    let h = format.header_len();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let typ = read_be(rest.get(..t)?);
        let len = match format.length_octets {
            0 => rest.len(),
            _ => usize::try_from(read_be(rest.get(t..h)?)).ok()?,
        };
        if len < h || len > rest.len() {
            return None;
        }
        out.push((
            AttrId::Vendor { vendor, typ },
            data.slice(pos + h..pos + len),
        ));
        pos += len;
    }
    Some(out)
}

/// Pack one vendor sub-attribute into a Vendor-Specific attribute value.
pub fn pack(vendor: u32, typ: u32, value: &[u8], format: VsaFormat) -> Result<Bytes, EncodeError> {
    let id = AttrId::Vendor { vendor, typ };
    if vendor > 0x00FF_FFFF {
        return Err(EncodeError::VendorOutOfRange { vendor });
    }
    let format = if format.is_valid() {
        format
    } else {
        VsaFormat::STANDARD
    };
    let type_max: u64 = (1u64 << (8 * u32::from(format.type_octets))) - 1;
    if u64::from(typ) > type_max {
        return Err(EncodeError::VendorTypeOutOfRange {
            vendor,
            typ,
            octets: format.type_octets,
        });
    }
    let max = format.max_value_len();
    if value.len() > max {
        return Err(EncodeError::LogicalValueTooLong {
            id,
            len: value.len(),
            max,
        });
    }
    let sub_len = format.header_len() + value.len();
    let mut out = BytesMut::with_capacity(VENDOR_ID_LEN + sub_len);
    out.put_u32(vendor);
    match format.type_octets {
        1 => out.put_u8(typ as u8),
        2 => out.put_u16(typ as u16),
        _ => out.put_u32(typ),
    }
    // sub_len <= 253 here, so it fits in either length field size.
    match format.length_octets {
        0 => {}
        1 => out.put_u8(sub_len as u8),
        _ => out.put_u16(sub_len as u16),
    }
    out.put_slice(value);
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Wide;
    impl VendorFormats for Wide {
        fn vsa_format(&self, vendor: u32) -> VsaFormat {
            if vendor == 429 {
                VsaFormat {
                    type_octets: 4,
                    length_octets: 0,
                }
            } else {
                VsaFormat::STANDARD
            }
        }
    }

    #[test]
    fn one_vsa_may_carry_several_sub_attributes() {
        let v = Bytes::from_static(&[0, 0, 0, 9, 1, 4, b'h', b'i', 2, 2]);
        let subs = unpack(&v, &StandardVsaFormats).unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!(
            subs[0],
            (
                AttrId::Vendor { vendor: 9, typ: 1 },
                Bytes::from_static(b"hi")
            )
        );
        assert_eq!(
            subs[1],
            (AttrId::Vendor { vendor: 9, typ: 2 }, Bytes::new())
        );
    }

    #[test]
    fn invalid_layouts_are_rejected() {
        for bad in [
            &[0, 0, 0, 9][..],             // no sub-attribute
            &[1, 0, 0, 9, 1, 3, 0][..],    // Vendor-Id high octet set
            &[0, 0, 0, 9, 1, 1][..],       // sub length below 2
            &[0, 0, 0, 9, 1, 5, 0][..],    // sub length past the end
            &[0, 0, 0, 9, 1, 3, 0, 7][..], // stray octet
            &[0, 0, 9][..],                // shorter than a Vendor-Id
        ] {
            assert!(
                unpack(&Bytes::copy_from_slice(bad), &StandardVsaFormats).is_none(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn other_formats_round_trip() {
        let packed = pack(429, 0x0102_0304, b"xyz", Wide.vsa_format(429)).unwrap();
        assert_eq!(
            packed.as_ref(),
            &[0, 0, 1, 0xAD, 1, 2, 3, 4, b'x', b'y', b'z']
        );
        let subs = unpack(&packed, &Wide).unwrap();
        assert_eq!(
            subs,
            vec![(
                AttrId::Vendor {
                    vendor: 429,
                    typ: 0x0102_0304
                },
                Bytes::from_static(b"xyz")
            )]
        );
        let f21 = VsaFormat {
            type_octets: 2,
            length_octets: 1,
        };
        let p = pack(4846, 300, b"ab", f21).unwrap();
        assert_eq!(p.as_ref(), &[0, 0, 0x12, 0xEE, 1, 44, 5, b'a', b'b']);
    }

    #[test]
    fn pack_rejects_out_of_range() {
        assert!(matches!(
            pack(1 << 24, 1, b"", VsaFormat::STANDARD),
            Err(EncodeError::VendorOutOfRange { .. })
        ));
        assert!(matches!(
            pack(9, 256, b"", VsaFormat::STANDARD),
            Err(EncodeError::VendorTypeOutOfRange { .. })
        ));
        assert!(matches!(
            pack(9, 1, &[0; 248], VsaFormat::STANDARD),
            Err(EncodeError::LogicalValueTooLong { max: 247, .. })
        ));
        assert!(pack(9, 1, &[0; 247], VsaFormat::STANDARD).is_ok());
    }
}
