//! Packets as pipelines see them, and back: the dictionary as the interpreter's
//! attribute schema, received attributes revealed into an [`AttrBag`], and bags
//! encoded (hidden, packed, fragmented) into wire attributes.

use std::sync::Arc;

use bytes::Bytes;

use crate::eval::context::{AttrBag, AttrSchema};
use crate::eval::value::AttrEntry;
use crate::radius::code::Code;
use crate::radius::dictionary::Dictionary;
use crate::radius::dictionary::Encrypt;
use crate::radius::error::{EncodeError, PasswordError};
use crate::radius::id::{AttrId, DataType};
use crate::radius::packet::Packet;
use crate::radius::password::{
    hide_tunnel_password, hide_user_password, reveal_tunnel_password, reveal_user_password,
};
use crate::radius::vsa::{VendorFormats, VsaFormat};
use crate::rng::RandomSource;

/// The program's dictionary seen as the interpreter's [`AttrSchema`] and as the
/// codec's [`VendorFormats`].
#[derive(Debug, Clone)]
pub struct DictSchema {
    dict: Arc<Dictionary>,
}

impl DictSchema {
    /// Wrap a dictionary.
    pub fn new(dict: Arc<Dictionary>) -> Self {
        DictSchema { dict }
    }

    /// The dictionary.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    fn encrypt(&self, id: AttrId) -> Encrypt {
        self.dict
            .attr_by_id(id)
            .map_or(Encrypt::None, |d| d.flags.encrypt)
    }

    /// Whether values of `id` are hidden on the wire (User-Password, Tunnel-Password).
    pub fn hides(&self, id: AttrId) -> bool {
        matches!(
            self.encrypt(id),
            Encrypt::UserPassword | Encrypt::TunnelPassword
        )
    }

    fn local_only(&self, id: AttrId) -> bool {
        self.dict
            .attr_by_id(id)
            .is_some_and(|d| d.flags.internal || d.flags.is_virtual)
    }
}

impl AttrSchema for DictSchema {
    fn data_type(&self, id: AttrId) -> Option<DataType> {
        self.dict.attr_by_id(id).map(|d| d.data_type)
    }

    fn value_number(&self, id: AttrId, name: &str) -> Option<u32> {
        let def = self.dict.attr_by_id(id)?;
        self.dict.value_number(def, name)
    }

    fn attr_id(&self, name: &str) -> Option<AttrId> {
        self.dict.attr(name).map(|d| d.id)
    }

    fn attr_name(&self, id: AttrId) -> Option<String> {
        self.dict.attr_by_id(id).map(|d| d.name.clone())
    }
}

impl VendorFormats for DictSchema {
    fn vsa_format(&self, vendor: u32) -> VsaFormat {
        self.dict
            .vendor_by_id(vendor)
            .map_or(VsaFormat::STANDARD, |v| VsaFormat {
                type_octets: v.format.type_octets,
                length_octets: v.format.length_octets,
            })
    }

    fn value_type(&self, id: AttrId) -> Option<DataType> {
        self.dict.attr_by_id(id).map(|d| d.data_type)
    }
}

/// The vector hidden attributes of a packet with this code are keyed with: the
/// Request Authenticator of an Access-Request (random), sixteen zeros for the
/// requests whose authenticator is an MD5 over the packet (RFC 5176 §3.3 leaves
/// nothing else to key with), and for replies the authenticator of the request.
pub fn hiding_vector(code: Code, packet_authenticator: &[u8; 16]) -> [u8; 16] {
    match code {
        Code::AccessRequest | Code::StatusServer => *packet_authenticator,
        _ => [0u8; 16],
    }
}

/// A received packet's attributes as a bag: Vendor-Specific unpacked, extended
/// attributes joined, User-Password and Tunnel-Password revealed with `secret` and
/// `vector`. A hidden value that does not reveal is kept as received.
pub fn packet_to_bag(
    schema: &DictSchema,
    packet: &Packet,
    secret: &[u8],
    vector: &[u8; 16],
) -> AttrBag {
    let mut bag = AttrBag::new();
    for (id, value) in packet.logical_attributes_with(schema) {
        let entry = match schema.encrypt(id) {
            Encrypt::UserPassword => match reveal_user_password(&value, secret, vector) {
                Ok(plain) => AttrEntry {
                    id,
                    tag: None,
                    value: Bytes::from(plain),
                },
                Err(_) => AttrEntry {
                    id,
                    tag: None,
                    value,
                },
            },
            Encrypt::TunnelPassword => match reveal_tunnel_password(&value, secret, vector) {
                Ok((tag, plain)) => AttrEntry {
                    id,
                    tag: Some(tag),
                    value: Bytes::from(plain),
                },
                Err(_) => AttrEntry {
                    id,
                    tag: None,
                    value,
                },
            },
            Encrypt::None | Encrypt::AscendSecret => AttrEntry {
                id,
                tag: None,
                value,
            },
        };
        bag.push_entry(entry);
    }
    bag
}

/// Why a bag could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrEncodeError {
    /// A value does not fit its attribute (too long, bad vendor layout).
    #[error("attribute {id}: {source}")]
    Encode {
        /// The attribute.
        id: AttrId,
        /// What the codec said.
        source: EncodeError,
    },
    /// An attribute that is hidden with a per-packet secret and vector cannot be
    /// put in a request template (only User-Password is hidden at send time).
    #[error("attribute {id} is hidden on the wire and cannot be sent in this request")]
    CannotHide {
        /// The attribute.
        id: AttrId,
    },
    /// A password attribute could not be hidden.
    #[error("attribute {id}: {source}")]
    Hide {
        /// The attribute.
        id: AttrId,
        /// What hiding said.
        source: PasswordError,
    },
}

/// Append `entries` to `packet` as wire attributes: hidden ones hidden with
/// `secret` and `vector`, vendor ones packed in the vendor's layout, long extended
/// ones fragmented. Attributes in `skip` and dictionary attributes marked internal
/// or virtual are left out.
pub fn push_entries(
    schema: &DictSchema,
    packet: &mut Packet,
    entries: &[AttrEntry],
    skip: &[AttrId],
    secret: &[u8],
    vector: &[u8; 16],
    rng: &mut dyn RandomSource,
) -> Result<(), AttrEncodeError> {
    for e in entries {
        if skip.contains(&e.id) || schema.local_only(e.id) {
            continue;
        }
        let hidden = match schema.encrypt(e.id) {
            Encrypt::UserPassword => Some(
                hide_user_password(&e.value, secret, vector)
                    .map_err(|source| AttrEncodeError::Hide { id: e.id, source })?,
            ),
            Encrypt::TunnelPassword => Some(
                hide_tunnel_password(e.tag.unwrap_or(0), &e.value, secret, vector, rng)
                    .map_err(|source| AttrEncodeError::Hide { id: e.id, source })?,
            ),
            Encrypt::None | Encrypt::AscendSecret => None,
        };
        let value: &[u8] = hidden.as_deref().unwrap_or(&e.value);
        packet
            .push_logical_with(e.id, value, schema)
            .map_err(|source| AttrEncodeError::Encode { id: e.id, source })?;
    }
    Ok(())
}

/// Build a request template for the dialer from a pipeline's attributes
/// (an [`crate::eval::query::OutgoingRequest`]'s, or the current request's when
/// proxying): vendor attributes packed in the vendor's layout, long extended ones
/// fragmented, User-Password left in clear text (the dialer hides it for
/// each transmission with the chosen server's secret and the authenticator it
/// draws). Attributes in `skip` and internal or virtual dictionary attributes are
/// left out; Tunnel-Password (keyed by a per-server secret and a salt) is refused.
pub fn request_template(
    schema: &DictSchema,
    code: Code,
    entries: &[AttrEntry],
    skip: &[AttrId],
) -> Result<Packet, AttrEncodeError> {
    let mut packet = Packet::new(code, 0);
    for e in entries {
        if skip.contains(&e.id) || schema.local_only(e.id) {
            continue;
        }
        match schema.encrypt(e.id) {
            Encrypt::TunnelPassword => return Err(AttrEncodeError::CannotHide { id: e.id }),
            Encrypt::UserPassword | Encrypt::None | Encrypt::AscendSecret => {}
        }
        packet
            .push_logical_with(e.id, &e.value, schema)
            .map_err(|source| AttrEncodeError::Encode { id: e.id, source })?;
    }
    Ok(packet)
}
