//! Logical attributes: the packet seen as `(AttrId, value)` pairs, with
//! Vendor-Specific attributes unpacked and RFC 6929 fragments joined.
//!
//! Anything that does not parse in its declared layout is handed out opaque under
//! its outer type (`AttrId::Standard(26)`, `AttrId::Standard(245)`, …); a packet is
//! never rejected because of the contents of an attribute (RFC 6929 §2.8).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::attr::{MAX_VALUE_LEN, RawAttribute, VENDOR_SPECIFIC};
use super::error::EncodeError;
use super::extended::{self, MORE_FLAG};
use super::id::AttrId;
use super::packet::Packet;
use super::vsa::{self, StandardVsaFormats, VendorFormats};

/// Iterator over a packet's logical attributes in wire order; see
/// [`Packet::logical_attributes`].
pub struct LogicalAttributes<'a> {
    attrs: &'a [RawAttribute],
    pos: usize,
    pending: VecDeque<(AttrId, Bytes)>,
    formats: &'a dyn VendorFormats,
}

impl std::fmt::Debug for LogicalAttributes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogicalAttributes")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

/// The Extended-Type octet and flags of a long-extended fragment, if it has them.
fn fragment_head(a: &RawAttribute) -> Option<(u8, u8)> {
    match a.value.as_ref() {
        [ext, flags, ..] => Some((*ext, *flags)),
        _ => None,
    }
}

impl LogicalAttributes<'_> {
    /// Handle a long-extended attribute at `self.pos`, queueing what it yields.
    fn long_extended(&mut self, first: &RawAttribute) {
        let base = first.typ;
        let Some((ext, flags)) = fragment_head(first) else {
            self.pending
                .push_back((AttrId::Standard(base), first.value.clone()));
            self.pos += 1;
            return;
        };
        let start = self.pos;
        // Find the fragment that ends the chain: the first one without More.
        let mut end = None;
        if flags & MORE_FLAG == 0 {
            end = Some(start);
        } else {
            let mut j = start + 1;
            while let Some(a) = self.attrs.get(j) {
                match fragment_head(a) {
                    Some((e, f)) if a.typ == base && e == ext => {
                        if f & MORE_FLAG == 0 {
                            end = Some(j);
                            break;
                        }
                        j += 1;
                    }
                    _ => break,
                }
            }
            if end.is_none() {
                // Broken chain: every fragment of it stays opaque.
                for a in &self.attrs[start..j] {
                    self.pending
                        .push_back((AttrId::Standard(base), a.value.clone()));
                }
                self.pos = j;
                return;
            }
        }
        let end = end.unwrap_or(start);
        let chain = &self.attrs[start..=end];
        let data = if chain.len() == 1 {
            first.value.slice(2..)
        } else {
            let mut d = BytesMut::with_capacity(chain.len() * extended::MAX_FRAGMENT_DATA);
            for a in chain {
                d.extend_from_slice(a.value.get(2..).unwrap_or_default());
            }
            d.freeze()
        };
        match extended::identify(base, ext, data) {
            Some(item) => self.pending.push_back(item),
            None => {
                for a in chain {
                    self.pending
                        .push_back((AttrId::Standard(base), a.value.clone()));
                }
            }
        }
        self.pos = end + 1;
    }
}

impl Iterator for LogicalAttributes<'_> {
    type Item = (AttrId, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let a = self.attrs.get(self.pos)?;
            let typ = a.typ;
            if typ == VENDOR_SPECIFIC {
                self.pos += 1;
                match vsa::unpack(&a.value, self.formats) {
                    Some(subs) => self.pending.extend(subs),
                    None => return Some((AttrId::Standard(typ), a.value.clone())),
                }
            } else if extended::is_long_extended(typ) {
                self.long_extended(a);
            } else if extended::is_extended(typ) {
                self.pos += 1;
                let item = match a.value.first() {
                    Some(&ext) => extended::identify(typ, ext, a.value.slice(1..)),
                    None => None,
                };
                return Some(item.unwrap_or((AttrId::Standard(typ), a.value.clone())));
            } else {
                self.pos += 1;
                return Some((AttrId::Standard(typ), a.value.clone()));
            }
        }
    }
}

impl Packet {
    /// The packet's logical attributes in wire order, assuming the standard
    /// Vendor-Specific layout for every vendor.
    pub fn logical_attributes(&self) -> LogicalAttributes<'_> {
        self.logical_attributes_with(&StandardVsaFormats)
    }

    /// The packet's logical attributes, with each vendor's Vendor-Specific layout
    /// taken from `formats` (normally the dictionary).
    pub fn logical_attributes_with<'a>(
        &'a self,
        formats: &'a dyn VendorFormats,
    ) -> LogicalAttributes<'a> {
        LogicalAttributes {
            attrs: &self.attributes,
            pos: 0,
            pending: VecDeque::new(),
            formats,
        }
    }

    /// The value of the first logical attribute `id` (standard VSA layout).
    pub fn logical(&self, id: AttrId) -> Option<Bytes> {
        self.logical_attributes()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v)
    }

    /// Append a logical attribute (standard VSA layout); see [`Packet::push_logical_with`].
    pub fn push_logical(&mut self, id: AttrId, value: &[u8]) -> Result<(), EncodeError> {
        self.push_logical_with(id, value, &StandardVsaFormats)
    }

    /// Append a logical attribute, wrapping vendor attributes in their own
    /// Vendor-Specific attribute (in the vendor's layout from `formats`) and
    /// fragmenting long-extended values over 251 octets.
    ///
    /// `AttrId::Standard(t)` is written as-is, even for 26 and 241..=246: that is
    /// how an opaque attribute read back from a packet is copied unchanged.
    ///
    /// An empty value is refused ([`EncodeError::EmptyValue`]) when `formats` knows
    /// the attribute's type and that type needs at least one octet (RFC 2865 §5).
    pub fn push_logical_with(
        &mut self,
        id: AttrId,
        value: &[u8],
        formats: &dyn VendorFormats,
    ) -> Result<(), EncodeError> {
        if value.is_empty()
            && let Some(t) = formats.value_type(id).filter(|t| t.forbids_empty())
        {
            return Err(EncodeError::EmptyValue {
                id,
                data_type: t.name(),
            });
        }
        match id {
            AttrId::Standard(typ) => {
                if value.len() > MAX_VALUE_LEN {
                    return Err(EncodeError::AttributeTooLong {
                        typ,
                        len: value.len(),
                    });
                }
                self.attributes
                    .push(RawAttribute::new(typ, Bytes::copy_from_slice(value)));
                Ok(())
            }
            AttrId::Vendor { vendor, typ } => {
                let packed = vsa::pack(vendor, typ, value, formats.vsa_format(vendor))?;
                self.attributes
                    .push(RawAttribute::new(VENDOR_SPECIFIC, packed));
                Ok(())
            }
            AttrId::Extended { .. } | AttrId::ExtendedVendor { .. } => {
                let mut out = Vec::new();
                extended::encode(id, value, &mut out)?;
                self.attributes.extend(out);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::code::Code;

    fn logical(p: &Packet) -> Vec<(AttrId, Bytes)> {
        p.logical_attributes().collect()
    }

    /// Knows User-Name (string), Class (octets), Framed-IP-Address (ipaddr) and a
    /// vendor string; everything else is unknown.
    struct Typed;

    impl VendorFormats for Typed {
        fn vsa_format(&self, _vendor: u32) -> vsa::VsaFormat {
            vsa::VsaFormat::STANDARD
        }

        fn value_type(&self, id: AttrId) -> Option<crate::radius::id::DataType> {
            use crate::radius::id::DataType;
            match id {
                AttrId::Standard(1) => Some(DataType::String),
                AttrId::Standard(25) => Some(DataType::Octets),
                AttrId::Standard(8) => Some(DataType::Ipv4Addr),
                AttrId::Vendor { vendor: 9, typ: 1 } => Some(DataType::String),
                AttrId::Extended { base: 241, ext: 1 } => Some(DataType::Extended),
                _ => None,
            }
        }
    }

    #[test]
    fn empty_values_of_types_that_need_an_octet_are_refused() {
        let mut p = Packet::new(Code::DisconnectRequest, 1);
        for id in [
            AttrId::Standard(1),
            AttrId::Standard(25),
            AttrId::Standard(8),
            AttrId::Vendor { vendor: 9, typ: 1 },
        ] {
            let e = p.push_logical_with(id, b"", &Typed).unwrap_err();
            assert!(
                matches!(e, EncodeError::EmptyValue { id: i, .. } if i == id),
                "{e}"
            );
        }
        assert!(p.attributes.is_empty(), "nothing was emitted");
        // One octet is enough; unknown attributes and containers are copied as is.
        p.push_logical_with(AttrId::Standard(1), b"b", &Typed)
            .unwrap();
        p.push_logical_with(AttrId::Standard(200), b"", &Typed)
            .unwrap();
        p.push_logical_with(AttrId::Extended { base: 241, ext: 1 }, b"", &Typed)
            .unwrap();
        // Without type knowledge (StandardVsaFormats) nothing changes.
        p.push_logical(AttrId::Standard(1), b"").unwrap();
        let msg = EncodeError::EmptyValue {
            id: AttrId::Standard(1),
            data_type: "string",
        }
        .to_string();
        assert!(msg.contains("RFC 2865"), "{msg}");
    }

    #[test]
    fn mixed_packet_round_trips() {
        let mut p = Packet::new(Code::CoaRequest, 1);
        let items: Vec<(AttrId, Vec<u8>)> = vec![
            (AttrId::Standard(1), b"bob".to_vec()),
            (
                AttrId::Vendor { vendor: 9, typ: 1 },
                b"shell:priv-lvl=15".to_vec(),
            ),
            (AttrId::Extended { base: 241, ext: 8 }, b"nas-7".to_vec()),
            (AttrId::Extended { base: 245, ext: 4 }, vec![0x5A; 700]),
            (
                AttrId::ExtendedVendor {
                    base: 246,
                    vendor: 311,
                    typ: 9,
                },
                vec![1; 300],
            ),
            (
                AttrId::ExtendedVendor {
                    base: 243,
                    vendor: 311,
                    typ: 2,
                },
                vec![],
            ),
            (AttrId::Extended { base: 245, ext: 4 }, vec![]),
        ];
        for (id, v) in &items {
            p.push_logical(*id, v).unwrap();
        }
        let got = logical(&p);
        let want: Vec<(AttrId, Bytes)> = items
            .into_iter()
            .map(|(i, v)| (i, Bytes::from(v)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn broken_chains_and_invalid_vsas_stay_opaque() {
        let mut p = Packet::new(Code::AccessRequest, 1);
        p.push(245, vec![4, MORE_FLAG, 1, 2]); // More set, no continuation
        p.push(1, "x");
        p.push(26, vec![0, 0, 0, 9, 1, 9]); // sub length past the end
        p.push(241, vec![]); // no Extended-Type octet
        p.push(246, vec![3]); // no flags octet
        p.push(242, vec![26, 0, 0]); // EVS too short
        let got = logical(&p);
        assert_eq!(
            got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![
                AttrId::Standard(245),
                AttrId::Standard(1),
                AttrId::Standard(26),
                AttrId::Standard(241),
                AttrId::Standard(246),
                AttrId::Standard(242),
            ]
        );
        assert_eq!(got[0].1.as_ref(), &[4, MORE_FLAG, 1, 2]);
    }

    #[test]
    fn chain_with_different_ext_type_is_broken() {
        let mut p = Packet::new(Code::AccessRequest, 1);
        p.push(245, vec![4, MORE_FLAG, 1]);
        p.push(245, vec![5, 0, 2]);
        let got = logical(&p);
        assert_eq!(got[0].0, AttrId::Standard(245));
        assert_eq!(
            got[1],
            (
                AttrId::Extended { base: 245, ext: 5 },
                Bytes::from_static(&[2])
            )
        );
    }

    #[test]
    fn first_logical_lookup() {
        let mut p = Packet::new(Code::AccessRequest, 1);
        p.push_logical(
            AttrId::Vendor {
                vendor: 14122,
                typ: 1,
            },
            b"loc",
        )
        .unwrap();
        assert_eq!(
            p.logical(AttrId::Vendor {
                vendor: 14122,
                typ: 1
            })
            .unwrap()
            .as_ref(),
            b"loc"
        );
        assert!(p.logical(AttrId::Standard(1)).is_none());
    }
}
