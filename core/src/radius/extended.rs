//! RFC 6929 extended attributes: Extended-Type (241..=244), Long-Extended-Type
//! (245..=246, fragmented with the More flag) and Extended-Vendor-Specific (`.26`).
//!
//! Reading is done by [`super::logical`]; this module knows the layouts.

use bytes::{BufMut, Bytes, BytesMut};

use super::attr::{MAX_VALUE_LEN, RawAttribute};
use super::error::EncodeError;
use super::id::AttrId;

/// The Extended-Type value that marks Extended-Vendor-Specific.
pub const EVS_TYPE: u8 = 26;
/// The More flag of a Long-Extended-Type attribute: another fragment follows.
pub const MORE_FLAG: u8 = 0x80;
/// Data octets one Extended-Type attribute carries after its Extended-Type octet.
pub const MAX_EXTENDED_DATA: usize = MAX_VALUE_LEN - 1;
/// Data octets one Long-Extended-Type fragment carries after Extended-Type and flags.
pub const MAX_FRAGMENT_DATA: usize = MAX_VALUE_LEN - 2;

/// Whether `typ` is one of the RFC 6929 extended types, 241..=246.
pub fn is_extended(typ: u8) -> bool {
    (241..=246).contains(&typ)
}

/// Whether `typ` is a Long-Extended-Type (245 or 246), whose values may span fragments.
pub fn is_long_extended(typ: u8) -> bool {
    matches!(typ, 245 | 246)
}

/// Name the logical attribute carried by extended data: `data` is everything
/// after the Extended-Type octet (and flags), fragments already joined. `None`
/// when an Extended-Vendor-Specific payload is too short or its Vendor-Id does
/// not fit in 24 bits; the caller keeps such attributes opaque.
pub(crate) fn identify(base: u8, ext: u8, data: Bytes) -> Option<(AttrId, Bytes)> {
    if ext != EVS_TYPE {
        return Some((AttrId::Extended { base, ext }, data));
    }
    let head = data.get(..5)?;
    if head[0] != 0 {
        return None;
    }
    let vendor = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let typ = head[4];
    Some((
        AttrId::ExtendedVendor { base, vendor, typ },
        data.slice(5..),
    ))
}

/// Encode an extended logical attribute as one or more wire attributes,
/// appending them to `out`. Long-extended values are split into fragments of at
/// most [`MAX_FRAGMENT_DATA`] octets, every one but the last with the More flag.
pub(crate) fn encode(
    id: AttrId,
    value: &[u8],
    out: &mut Vec<RawAttribute>,
) -> Result<(), EncodeError> {
    let (base, ext, data): (u8, u8, Bytes) = match id {
        AttrId::Extended { base, ext } => (base, ext, Bytes::copy_from_slice(value)),
        AttrId::ExtendedVendor { base, vendor, typ } => {
            if vendor > 0x00FF_FFFF {
                return Err(EncodeError::VendorOutOfRange { vendor });
            }
            let mut d = BytesMut::with_capacity(5 + value.len());
            d.put_u32(vendor);
            d.put_u8(typ);
            d.put_slice(value);
            (base, EVS_TYPE, d.freeze())
        }
        AttrId::Standard(_) | AttrId::Vendor { .. } => {
            // Not extended: the caller routes these elsewhere. Report the
            // outer type so the mistake is visible.
            let base = match id {
                AttrId::Standard(t) => t,
                _ => 26,
            };
            return Err(EncodeError::NotExtendedType { base });
        }
    };
    if !is_extended(base) {
        return Err(EncodeError::NotExtendedType { base });
    }
    if !is_long_extended(base) {
        let overhead = data.len() - value.len();
        let max = MAX_EXTENDED_DATA - overhead;
        if value.len() > max {
            return Err(EncodeError::LogicalValueTooLong {
                id,
                len: value.len(),
                max,
            });
        }
        let mut v = BytesMut::with_capacity(1 + data.len());
        v.put_u8(ext);
        v.put_slice(&data);
        out.push(RawAttribute {
            typ: base,
            value: v.freeze(),
        });
        return Ok(());
    }
    let mut chunks = data.chunks(MAX_FRAGMENT_DATA).peekable();
    if chunks.peek().is_none() {
        out.push(RawAttribute {
            typ: base,
            value: Bytes::from(vec![ext, 0]),
        });
        return Ok(());
    }
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_some() {
            MORE_FLAG
        } else {
            0
        };
        let mut v = BytesMut::with_capacity(2 + chunk.len());
        v.put_u8(ext);
        v.put_u8(flags);
        v.put_slice(chunk);
        out.push(RawAttribute {
            typ: base,
            value: v.freeze(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_fragment_at_251_octets() {
        let mut out = Vec::new();
        encode(
            AttrId::Extended { base: 245, ext: 1 },
            &[7u8; 600],
            &mut out,
        )
        .unwrap();
        let lens: Vec<usize> = out.iter().map(|a| a.value.len()).collect();
        assert_eq!(lens, vec![253, 253, 2 + 600 - 502]);
        assert_eq!(out[0].value[1], MORE_FLAG);
        assert_eq!(out[1].value[1], MORE_FLAG);
        assert_eq!(out[2].value[1], 0);
    }

    #[test]
    fn short_extended_limits() {
        let mut out = Vec::new();
        assert!(encode(AttrId::Extended { base: 241, ext: 1 }, &[0; 252], &mut out).is_ok());
        assert!(matches!(
            encode(AttrId::Extended { base: 241, ext: 1 }, &[0; 253], &mut out),
            Err(EncodeError::LogicalValueTooLong { max: 252, .. })
        ));
        assert!(matches!(
            encode(
                AttrId::ExtendedVendor {
                    base: 242,
                    vendor: 9,
                    typ: 1
                },
                &[0; 248],
                &mut out
            ),
            Err(EncodeError::LogicalValueTooLong { max: 247, .. })
        ));
        assert!(matches!(
            encode(AttrId::Extended { base: 240, ext: 1 }, b"", &mut out),
            Err(EncodeError::NotExtendedType { base: 240 })
        ));
    }

    #[test]
    fn evs_identification() {
        let d = Bytes::from_static(&[0, 0, 0, 9, 4, b'x']);
        assert_eq!(
            identify(241, 26, d),
            Some((
                AttrId::ExtendedVendor {
                    base: 241,
                    vendor: 9,
                    typ: 4
                },
                Bytes::from_static(b"x")
            ))
        );
        assert_eq!(identify(241, 26, Bytes::from_static(&[0, 0, 0, 9])), None);
        assert_eq!(
            identify(241, 26, Bytes::from_static(&[1, 0, 0, 9, 1])),
            None
        );
    }
}
