//! The [`Dictionary`] itself: attribute, vendor and value tables and their lookups.

use std::collections::BTreeMap;

use crate::radius::id::AttrId;

use super::error::DictionaryErrorKind;
use super::suggest::closest;
use super::types::{AttrDef, VendorDef, value_range};

/// A name as written, and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named<T> {
    spelling: String,
    target: T,
}

/// The named values of one attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ValueTable {
    /// Lower-cased name → name as written and number (every alias is here).
    by_name: BTreeMap<String, Named<u64>>,
    /// Number → canonical name (the most recently defined name for the number).
    by_number: BTreeMap<u64, String>,
}

/// RADIUS attribute dictionary: names, types, flags, vendors and named values.
///
/// Name lookups are ASCII case-insensitive. Definitions follow FreeRADIUS's rules for
/// repeats:
/// - a name may be defined again for the **same** number (the newest type and flags
///   win); binding an existing name to a **different** number is a conflict error;
/// - a new name for an already-named number (attribute, vendor or value) becomes that
///   number's canonical name for printing, and the older names stay valid aliases
///   (so `Acct-Status-Type` value 3 is printed `Interim-Update`, and `Alive` still
///   reads as 3).
///
/// All tables are ordered (`BTreeMap`), so every iteration order is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    attrs: BTreeMap<AttrId, AttrDef>,
    attr_names: BTreeMap<String, Named<AttrId>>,
    vendors: BTreeMap<u32, VendorDef>,
    vendor_names: BTreeMap<String, Named<u32>>,
    values: BTreeMap<AttrId, ValueTable>,
}

fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl Dictionary {
    /// An empty dictionary (no attributes at all). Most callers want
    /// [`Dictionary::builtin`] instead.
    pub fn new() -> Dictionary {
        Dictionary::default()
    }

    // ----- attributes -------------------------------------------------------------

    /// The attribute called `name` (case-insensitive; aliases included).
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        let named = self.attr_names.get(&fold(name))?;
        self.attrs.get(&named.target)
    }

    /// The attribute at `id`.
    pub fn attr_by_id(&self, id: AttrId) -> Option<&AttrDef> {
        self.attrs.get(&id)
    }

    /// Every attribute, in [`AttrId`] order, under its canonical name.
    pub fn attributes(&self) -> impl Iterator<Item = &AttrDef> + '_ {
        self.attrs.values()
    }

    /// Every attribute name including aliases, as written, with its attribute, in
    /// case-insensitive name order.
    pub fn attribute_names(&self) -> impl Iterator<Item = (&str, &AttrDef)> + '_ {
        self.attr_names.values().filter_map(|named| {
            self.attrs
                .get(&named.target)
                .map(|def| (named.spelling.as_str(), def))
        })
    }

    /// Number of attributes (aliases not counted).
    pub fn attribute_count(&self) -> usize {
        self.attrs.len()
    }

    /// The attribute name closest to a misspelt `name` — at most two edits away
    /// (insertions, deletions, substitutions, swaps of neighbours), ignoring ASCII
    /// case — for "did you mean" hints. Ties go to the first name in alphabetical order.
    /// An exact (case-insensitive) match is returned as defined.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        closest(
            name,
            self.attr_names
                .iter()
                .map(|(folded, named)| (folded.as_str(), named.spelling.as_str())),
        )
    }

    /// Define (or redefine) an attribute; see the type-level docs for the rules on
    /// repeats. Vendor attributes need their vendor defined first.
    pub fn define_attribute(&mut self, def: AttrDef) -> Result<(), DictionaryErrorKind> {
        let key = fold(&def.name);
        if let Some(named) = self.attr_names.get(&key)
            && named.target != def.id
        {
            return Err(DictionaryErrorKind::AttributeConflict {
                name: def.name,
                existing: named.target,
                new: def.id,
            });
        }
        if let Some(vendor) = def.vendor_id()
            && !self.vendors.contains_key(&vendor)
        {
            return Err(DictionaryErrorKind::UnknownVendor {
                name: vendor.to_string(),
            });
        }
        self.attr_names.insert(
            key,
            Named {
                spelling: def.name.clone(),
                target: def.id,
            },
        );
        self.attrs.insert(def.id, def);
        Ok(())
    }

    // ----- vendors ----------------------------------------------------------------

    /// The vendor called `name` (case-insensitive; aliases included).
    pub fn vendor(&self, name: &str) -> Option<&VendorDef> {
        let named = self.vendor_names.get(&fold(name))?;
        self.vendors.get(&named.target)
    }

    /// The vendor with Private Enterprise Number `id`.
    pub fn vendor_by_id(&self, id: u32) -> Option<&VendorDef> {
        self.vendors.get(&id)
    }

    /// Every vendor, in number order, under its canonical name.
    pub fn vendors(&self) -> impl Iterator<Item = &VendorDef> + '_ {
        self.vendors.values()
    }

    /// Define (or redefine) a vendor; see the type-level docs for the rules on repeats.
    /// Redefining a vendor replaces its format.
    pub fn define_vendor(&mut self, def: VendorDef) -> Result<(), DictionaryErrorKind> {
        let key = fold(&def.name);
        if let Some(named) = self.vendor_names.get(&key)
            && named.target != def.id
        {
            return Err(DictionaryErrorKind::VendorConflict {
                name: def.name,
                existing: named.target,
                new: def.id,
            });
        }
        self.vendor_names.insert(
            key,
            Named {
                spelling: def.name.clone(),
                target: def.id,
            },
        );
        self.vendors.insert(def.id, def);
        Ok(())
    }

    // ----- values -----------------------------------------------------------------

    /// The number of `attr`'s value called `name` (case-insensitive; aliases
    /// included), if it fits in 32 bits. For `signed` attributes this is the
    /// two's-complement wire pattern.
    pub fn value_number(&self, attr: &AttrDef, name: &str) -> Option<u32> {
        self.value_number64(attr, name)
            .and_then(|n| u32::try_from(n).ok())
    }

    /// The number of `attr`'s value called `name`, for any integer width
    /// (`integer64` values may exceed 32 bits).
    pub fn value_number64(&self, attr: &AttrDef, name: &str) -> Option<u64> {
        let table = self.values.get(&attr.id)?;
        table.by_name.get(&fold(name)).map(|named| named.target)
    }

    /// The canonical name of `attr`'s value `number`.
    pub fn value_name(&self, attr: &AttrDef, number: u32) -> Option<&str> {
        self.value_name64(attr, u64::from(number))
    }

    /// The canonical name of `attr`'s value `number`, for any integer width.
    pub fn value_name64(&self, attr: &AttrDef, number: u64) -> Option<&str> {
        let table = self.values.get(&attr.id)?;
        table.by_number.get(&number).map(String::as_str)
    }

    /// `attr`'s named values in number order, each under its canonical name.
    pub fn values(&self, attr: &AttrDef) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.values
            .get(&attr.id)
            .into_iter()
            .flat_map(|t| t.by_number.iter().map(|(n, s)| (*n, s.as_str())))
    }

    /// Every name of `attr`'s values including aliases, as written, with its number,
    /// in case-insensitive name order.
    pub fn value_names(&self, attr: &AttrDef) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.values.get(&attr.id).into_iter().flat_map(|t| {
            t.by_name
                .values()
                .map(|named| (named.spelling.as_str(), named.target))
        })
    }

    /// Number of value names across all attributes (aliases counted).
    pub fn value_count(&self) -> usize {
        self.values.values().map(|t| t.by_name.len()).sum()
    }

    /// The value name of `attr` closest to a misspelt `name` (same rules as
    /// [`Dictionary::suggest`]).
    pub fn suggest_value(&self, attr: &AttrDef, name: &str) -> Option<&str> {
        let table = self.values.get(&attr.id)?;
        closest(
            name,
            table
                .by_name
                .iter()
                .map(|(folded, named)| (folded.as_str(), named.spelling.as_str())),
        )
    }

    /// Define a named value of the attribute at `attr`; see the type-level docs for
    /// the rules on repeats. The attribute must exist and have an integer type wide
    /// enough for `number`.
    pub fn define_value(
        &mut self,
        attr: AttrId,
        name: &str,
        number: u64,
    ) -> Result<(), DictionaryErrorKind> {
        let Some(def) = self.attrs.get(&attr) else {
            return Err(DictionaryErrorKind::UnknownAttribute {
                name: attr.to_string(),
            });
        };
        let Some((min, max)) = value_range(def.data_type) else {
            return Err(DictionaryErrorKind::ValuesNotAllowed {
                attribute: def.name.clone(),
                data_type: def.data_type.name().to_owned(),
            });
        };
        if number < min || number > max {
            return Err(DictionaryErrorKind::NumberOutOfRange {
                text: number.to_string(),
                range: format!("{min}..={max}"),
            });
        }
        let attribute = def.name.clone();
        let table = self.values.entry(attr).or_default();
        let key = fold(name);
        if let Some(named) = table.by_name.get(&key) {
            if named.target == number {
                return Ok(());
            }
            return Err(DictionaryErrorKind::ValueConflict {
                attribute,
                name: name.to_owned(),
                existing: named.target,
                new: number,
            });
        }
        table.by_name.insert(
            key,
            Named {
                spelling: name.to_owned(),
                target: number,
            },
        );
        table.by_number.insert(number, name.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::dictionary::types::{AttrFlags, VendorFormat};
    use crate::radius::id::DataType;

    fn attr(id: AttrId, name: &str, data_type: DataType) -> AttrDef {
        AttrDef {
            id,
            name: name.into(),
            data_type,
            flags: AttrFlags::default(),
        }
    }

    #[test]
    fn later_name_for_same_number_becomes_canonical() {
        let mut d = Dictionary::new();
        d.define_attribute(attr(AttrId::Standard(4), "Client-Id", DataType::Ipv4Addr))
            .unwrap();
        d.define_attribute(attr(
            AttrId::Standard(4),
            "NAS-IP-Address",
            DataType::Ipv4Addr,
        ))
        .unwrap();
        assert_eq!(d.attr("client-id").unwrap().name, "NAS-IP-Address");
        assert_eq!(
            d.attr_by_id(AttrId::Standard(4)).unwrap().name,
            "NAS-IP-Address"
        );
        assert_eq!(d.attribute_count(), 1);
        assert_eq!(d.attribute_names().count(), 2);
    }

    #[test]
    fn name_bound_to_other_number_conflicts() {
        let mut d = Dictionary::new();
        d.define_attribute(attr(AttrId::Standard(1), "User-Name", DataType::String))
            .unwrap();
        let err = d
            .define_attribute(attr(AttrId::Standard(2), "user-name", DataType::String))
            .unwrap_err();
        assert!(matches!(err, DictionaryErrorKind::AttributeConflict { .. }));
        // Same name, same number: a redefinition that updates the type.
        d.define_attribute(attr(AttrId::Standard(1), "User-Name", DataType::Octets))
            .unwrap();
        assert_eq!(d.attr("User-Name").unwrap().data_type, DataType::Octets);
    }

    #[test]
    fn values_alias_and_conflict() {
        let mut d = Dictionary::new();
        d.define_attribute(attr(
            AttrId::Standard(40),
            "Acct-Status-Type",
            DataType::Integer,
        ))
        .unwrap();
        let id = AttrId::Standard(40);
        d.define_value(id, "Alive", 3).unwrap();
        d.define_value(id, "Interim-Update", 3).unwrap();
        d.define_value(id, "alive", 3).unwrap(); // exact repeat: no change
        let a = d.attr("acct-status-type").unwrap().clone();
        assert_eq!(d.value_name(&a, 3), Some("Interim-Update"));
        assert_eq!(d.value_number(&a, "ALIVE"), Some(3));
        assert!(matches!(
            d.define_value(id, "Alive", 4),
            Err(DictionaryErrorKind::ValueConflict {
                existing: 3,
                new: 4,
                ..
            })
        ));
        assert_eq!(
            d.values(&a).collect::<Vec<_>>(),
            vec![(3, "Interim-Update")]
        );
        assert_eq!(d.value_names(&a).count(), 2);
    }

    #[test]
    fn values_need_integer_types_and_range() {
        let mut d = Dictionary::new();
        d.define_attribute(attr(AttrId::Standard(1), "User-Name", DataType::String))
            .unwrap();
        d.define_attribute(attr(AttrId::Standard(200), "Small", DataType::Byte))
            .unwrap();
        assert!(matches!(
            d.define_value(AttrId::Standard(1), "X", 1),
            Err(DictionaryErrorKind::ValuesNotAllowed { .. })
        ));
        assert!(matches!(
            d.define_value(AttrId::Standard(200), "Big", 256),
            Err(DictionaryErrorKind::NumberOutOfRange { .. })
        ));
        assert!(matches!(
            d.define_value(AttrId::Standard(9), "X", 1),
            Err(DictionaryErrorKind::UnknownAttribute { .. })
        ));
    }

    #[test]
    fn vendor_attributes_need_their_vendor() {
        let mut d = Dictionary::new();
        let id = AttrId::Vendor { vendor: 9, typ: 1 };
        assert!(matches!(
            d.define_attribute(attr(id, "Cisco-AVPair", DataType::String)),
            Err(DictionaryErrorKind::UnknownVendor { .. })
        ));
        d.define_vendor(VendorDef {
            id: 9,
            name: "Cisco".into(),
            format: VendorFormat::STANDARD,
        })
        .unwrap();
        d.define_attribute(attr(id, "Cisco-AVPair", DataType::String))
            .unwrap();
        assert_eq!(d.attr("cisco-avpair").unwrap().vendor_id(), Some(9));
        assert_eq!(d.vendor("CISCO").unwrap().id, 9);
        assert!(matches!(
            d.define_vendor(VendorDef {
                id: 10,
                name: "cisco".into(),
                format: VendorFormat::STANDARD,
            }),
            Err(DictionaryErrorKind::VendorConflict {
                existing: 9,
                new: 10,
                ..
            })
        ));
    }
}
