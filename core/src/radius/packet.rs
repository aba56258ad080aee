//! A whole RADIUS packet: header plus attributes in wire order, with strict
//! decoding and canonical encoding.

use bytes::{BufMut, Bytes, BytesMut};

use super::attr::{MAX_VALUE_LEN, PROXY_STATE, RawAttribute};
use super::code::Code;
use super::error::{DecodeError, EncodeError};

/// Size of the fixed header: Code, Identifier, Length, Authenticator.
pub const HEADER_LEN: usize = 20;

/// The largest packet RFC 2865 allows, and the default limit for decoding,
/// encoding and stream framing. RFC 7930 lets RADIUS/TCP peers agree on more
/// (up to 65535); use the `*_with_max` functions for that.
pub const MAX_PACKET_LEN: usize = 4096;

/// A RADIUS packet.
///
/// Attributes are kept in wire order with duplicates, so that a packet decoded
/// and encoded again is octet-for-octet the packet received (up to its Length).
/// Decoding copies nothing: every attribute value is a slice of the input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// The Code octet.
    pub code: Code,
    /// The Identifier octet, matching replies to requests.
    pub identifier: u8,
    /// The Authenticator field as received, or as last set by signing.
    pub authenticator: [u8; 16],
    /// The attributes in wire order.
    pub attributes: Vec<RawAttribute>,
}

impl Packet {
    /// An empty packet with a zero authenticator (signing fills it in).
    pub fn new(code: Code, identifier: u8) -> Self {
        Packet {
            code,
            identifier,
            authenticator: [0; 16],
            attributes: Vec::new(),
        }
    }

    /// A reply to this request: same identifier, the given code, and every
    /// Proxy-State attribute copied verbatim and in order (RFC 2865 §5.33).
    pub fn new_reply(&self, code: Code) -> Packet {
        let mut reply = Packet::new(code, self.identifier);
        reply.attributes.extend(self.all(PROXY_STATE).cloned());
        reply
    }

    /// Decode a packet of at most [`MAX_PACKET_LEN`] octets. Octets past the
    /// Length field are ignored (RFC 2865 §3). No authenticator is checked.
    pub fn decode(buf: Bytes) -> Result<Packet, DecodeError> {
        Self::decode_with_max(buf, MAX_PACKET_LEN)
    }

    /// Decode a packet whose Length may be up to `max` octets (RFC 7930).
    pub fn decode_with_max(buf: Bytes, max: usize) -> Result<Packet, DecodeError> {
        let (code, identifier, length, authenticator) = match buf.get(..HEADER_LEN) {
            Some(h) => {
                let mut auth = [0u8; 16];
                auth.copy_from_slice(&h[4..20]);
                (h[0], h[1], u16::from_be_bytes([h[2], h[3]]), auth)
            }
            None => return Err(DecodeError::BufferTooShort { len: buf.len() }),
        };
        let len = usize::from(length);
        if len < HEADER_LEN {
            return Err(DecodeError::LengthBelowMinimum { length });
        }
        if len > max {
            return Err(DecodeError::LengthAboveMaximum { length, max });
        }
        if buf.len() < len {
            return Err(DecodeError::Truncated {
                length,
                available: buf.len(),
            });
        }
        let body = buf.slice(HEADER_LEN..len);
        let attributes = decode_attributes(&body)?;
        Ok(Packet {
            code: Code::from_u8(code),
            identifier,
            authenticator,
            attributes,
        })
    }

    /// Octets the packet occupies when encoded.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self
                .attributes
                .iter()
                .map(RawAttribute::wire_len)
                .sum::<usize>()
    }

    /// Encode the packet exactly as it stands (authenticator included), refusing
    /// values over 253 octets and packets over [`MAX_PACKET_LEN`].
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        self.encode_with_max(MAX_PACKET_LEN)
    }

    /// Encode with a packet size limit of `max` octets (RFC 7930).
    pub fn encode_with_max(&self, max: usize) -> Result<Bytes, EncodeError> {
        Ok(self.encode_raw(&self.authenticator, max)?.freeze())
    }

    /// Encode with `authenticator` in the Authenticator field; signing patches
    /// the result in place.
    pub(crate) fn encode_raw(
        &self,
        authenticator: &[u8; 16],
        max: usize,
    ) -> Result<BytesMut, EncodeError> {
        if let Some(a) = self
            .attributes
            .iter()
            .find(|a| a.value.len() > MAX_VALUE_LEN)
        {
            return Err(EncodeError::AttributeTooLong {
                typ: a.typ,
                len: a.value.len(),
            });
        }
        let len = self.encoded_len();
        let length = match u16::try_from(len) {
            Ok(l) if len <= max => l,
            _ => return Err(EncodeError::PacketTooLong { len, max }),
        };
        let mut out = BytesMut::with_capacity(len);
        out.put_u8(self.code.as_u8());
        out.put_u8(self.identifier);
        out.put_u16(length);
        out.put_slice(authenticator);
        for a in &self.attributes {
            // Cannot truncate: checked above that every value is <= 253.
            out.put_u8(a.typ);
            out.put_u8((a.value.len() + 2) as u8);
            out.put_slice(&a.value);
        }
        Ok(out)
    }

    /// The first attribute of type `typ`.
    pub fn first(&self, typ: u8) -> Option<&RawAttribute> {
        self.attributes.iter().find(|a| a.typ == typ)
    }

    /// The value of the first attribute of type `typ`.
    pub fn first_value(&self, typ: u8) -> Option<&Bytes> {
        self.first(typ).map(|a| &a.value)
    }

    /// Every attribute of type `typ`, in wire order.
    pub fn all(&self, typ: u8) -> impl Iterator<Item = &RawAttribute> + '_ {
        self.attributes.iter().filter(move |a| a.typ == typ)
    }

    /// Whether any attribute of type `typ` is present.
    pub fn contains(&self, typ: u8) -> bool {
        self.attributes.iter().any(|a| a.typ == typ)
    }

    /// Append an attribute after all others.
    pub fn push(&mut self, typ: u8, value: impl Into<Bytes>) {
        self.attributes.push(RawAttribute::new(typ, value));
    }

    /// Put an attribute before all others (where Message-Authenticator belongs
    /// in replies, per the BlastRADIUS mitigations).
    pub fn insert_first(&mut self, typ: u8, value: impl Into<Bytes>) {
        self.attributes.insert(0, RawAttribute::new(typ, value));
    }

    /// Remove every attribute of type `typ`, returning how many were removed.
    pub fn remove_all(&mut self, typ: u8) -> usize {
        let before = self.attributes.len();
        self.attributes.retain(|a| a.typ != typ);
        before - self.attributes.len()
    }
}

/// Split the attribute area into attributes; it must be filled exactly.
fn decode_attributes(body: &Bytes) -> Result<Vec<RawAttribute>, DecodeError> {
    let mut attributes = Vec::with_capacity(body.len() / 6);
    let mut pos = 0;
    while pos < body.len() {
        let offset = HEADER_LEN + pos;
        let remaining = body.len() - pos;
        let (typ, length) = match body.get(pos..pos + 2) {
            Some(h) => (h[0], h[1]),
            None => return Err(DecodeError::StrayOctet { offset }),
        };
        let alen = usize::from(length);
        if alen < 2 {
            return Err(DecodeError::AttributeLengthTooSmall { offset, length });
        }
        if alen > remaining {
            return Err(DecodeError::AttributeOverrun {
                offset,
                length,
                remaining,
            });
        }
        attributes.push(RawAttribute {
            typ,
            value: body.slice(pos + 2..pos + alen),
        });
        pos += alen;
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(code: u8, len: u16) -> Vec<u8> {
        let mut v = vec![code, 7];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&[0xAA; 16]);
        v
    }

    #[test]
    fn decodes_duplicates_in_order_and_ignores_padding() {
        let mut b = header(43, 20 + 3 + 4 + 2);
        b.extend_from_slice(&[1, 3, b'a', 33, 4, 1, 2, 33, 2]);
        b.extend_from_slice(&[0xFF; 5]); // padding past Length
        let p = Packet::decode(Bytes::from(b.clone())).unwrap();
        assert_eq!(p.code, Code::CoaRequest);
        assert_eq!(p.identifier, 7);
        assert_eq!(p.attributes.len(), 3);
        assert_eq!(p.all(33).count(), 2);
        assert_eq!(p.first_value(33).unwrap().as_ref(), &[1, 2]);
        assert_eq!(p.encode().unwrap().as_ref(), &b[..29]);
    }

    #[test]
    fn convenience_edits() {
        let mut p = Packet::new(Code::AccessAccept, 1);
        p.push(18, "a");
        p.push(18, "b");
        p.insert_first(80, vec![0u8; 16]);
        assert_eq!(p.attributes[0].typ, 80);
        assert_eq!(p.remove_all(18), 2);
        assert!(!p.contains(18));
        assert_eq!(p.encoded_len(), 38);
    }

    #[test]
    fn reply_echoes_proxy_state_in_order() {
        let mut req = Packet::new(Code::CoaRequest, 42);
        req.push(PROXY_STATE, "one");
        req.push(1, "user");
        req.push(PROXY_STATE, "two");
        let reply = req.new_reply(Code::CoaAck);
        assert_eq!(reply.identifier, 42);
        let states: Vec<_> = reply.all(PROXY_STATE).map(|a| a.value.clone()).collect();
        assert_eq!(states, vec![Bytes::from("one"), Bytes::from("two")]);
        assert_eq!(reply.attributes.len(), 2);
    }
}
