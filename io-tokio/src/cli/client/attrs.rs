//! Attributes as text: `Name=value` arguments and radclient-style attribute files in,
//! `Name = value` lines and JSON out, with the dictionary deciding names, types and
//! named values in both directions.

use std::net::IpAddr;

use bytes::Bytes;
use serde_json::{Map as JsonMap, Value as Json};

use boomerang_core::eval::convert::{decode_attr, encode_attr, parse_hex};
use boomerang_core::eval::text::{format_timestamp, hex_lower};
use boomerang_core::eval::value::Value;
use boomerang_core::radius::dictionary::{AttrDef, Dictionary, Encrypt};
use boomerang_core::radius::id::{AttrId, DataType};
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::vsa::{VendorFormats, VsaFormat};

/// The highest RFC 2868 tag (tags are 0x01..=0x1F; 0 means "no tag").
const MAX_TAG: u8 = 0x1f;

/// One `Name = value` pair as written, before the dictionary has looked at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrText {
    /// The attribute name, possibly with a `:tag` suffix, as written.
    pub name: String,
    /// The value text, unquoted.
    pub value: String,
    /// Where it came from, for messages: `argument 3`, `stdin:2`, `file.txt:7`.
    pub origin: String,
}

/// Attribute text that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    /// A line or argument is not `Name = value`.
    #[error("{origin}: {message}")]
    Syntax {
        /// Where the text came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The dictionary has no attribute of this name.
    #[error("{origin}: unknown attribute `{name}`{}", hint(.suggestion))]
    UnknownAttribute {
        /// Where the text came from.
        origin: String,
        /// The name as written.
        name: String,
        /// The closest dictionary name, if one is close.
        suggestion: Option<String>,
    },
    /// The value does not convert to the attribute's data type.
    #[error("{origin}: {name}: {message}")]
    BadValue {
        /// Where the text came from.
        origin: String,
        /// The attribute's canonical name.
        name: String,
        /// What is wrong with the value.
        message: String,
    },
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Parses a command-line argument `Name=value` (spaces around `=` allowed). The value is
/// taken literally, except that a value wholly in double quotes is unquoted.
pub fn parse_argument(arg: &str, origin: &str) -> Result<AttrText, AttrError> {
    let syntax = |message: String| AttrError::Syntax {
        origin: origin.to_string(),
        message,
    };
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| syntax(format!("`{arg}` is not Name=value")))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(is_name_char) {
        return Err(syntax(format!("`{name}` is not an attribute name")));
    }
    let value = value.trim();
    let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        let (unquoted, rest) = quoted(value).map_err(syntax)?;
        if !rest.is_empty() {
            return Err(syntax(format!(
                "unexpected `{rest}` after the quoted value"
            )));
        }
        unquoted
    } else {
        value.to_string()
    };
    Ok(AttrText {
        name: name.to_string(),
        value,
        origin: origin.to_string(),
    })
}

/// Parses attribute text in radclient's style: one `Name = value` per line (or several
/// separated by commas), values bare or in double quotes with `\"`, `\\`, `\n`, `\r`,
/// `\t` escapes; `:=`, `+=` and `==` are read as `=`; blank lines and `#` comments are
/// skipped. `source` names the text in messages (`stdin`, a file name).
pub fn parse_text(text: &str, source: &str) -> Result<Vec<AttrText>, AttrError> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let origin = format!("{source}:{}", index + 1);
        let syntax = |message: String| AttrError::Syntax {
            origin: origin.clone(),
            message,
        };
        let mut rest = line.trim();
        if rest.starts_with('#') {
            continue;
        }
        while !rest.is_empty() {
            let name_end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            let (name, after) = rest.split_at(name_end);
            if name.is_empty() {
                return Err(syntax(format!("expected an attribute name at `{rest}`")));
            }
            let after = after.trim_start();
            let after = ["==", ":=", "+=", "="]
                .iter()
                .find_map(|op| after.strip_prefix(op))
                .ok_or_else(|| syntax(format!("expected `=` after `{name}`")))?
                .trim_start();
            let (value, after) = if after.starts_with('"') {
                quoted(after).map_err(&syntax)?
            } else {
                let end = after.find([',', '#']).unwrap_or(after.len());
                let (v, a) = after.split_at(end);
                (v.trim().to_string(), a)
            };
            out.push(AttrText {
                name: name.to_string(),
                value,
                origin: origin.clone(),
            });
            let after = after.trim_start();
            rest = match after.strip_prefix(',') {
                Some(r) => r.trim_start(),
                None if after.is_empty() || after.starts_with('#') => "",
                None => return Err(syntax(format!("unexpected `{after}` after a value"))),
            };
            if rest.starts_with('#') {
                rest = "";
            }
        }
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// Reads a double-quoted string at the start of `text`; returns it unescaped and the
/// text after the closing quote.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            other => out.push(other),
        }
    }
    Err(format!("unterminated quoted value {text}"))
}

/// The dictionary seen as the codec's source of vendor sub-attribute layouts.
pub struct DictionaryFormats<'a>(pub &'a Dictionary);

impl VendorFormats for DictionaryFormats<'_> {
    fn vsa_format(&self, vendor: u32) -> VsaFormat {
        match self.0.vendor_by_id(vendor) {
            Some(v) => VsaFormat {
                type_octets: v.format.type_octets,
                length_octets: v.format.length_octets,
            },
            None => VsaFormat::STANDARD,
        }
    }
}

/// An attribute resolved through the dictionary and encoded, but not yet hidden: hiding
/// needs the Request Authenticator, which is chosen when the packet is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedAttr {
    /// Where it goes on the wire.
    pub id: AttrId,
    /// The canonical name (for messages).
    pub name: String,
    /// The value octets, tag included; for hidden attributes the clear text.
    pub value: Vec<u8>,
    /// How the value must be hidden before sending.
    pub encrypt: Encrypt,
    /// The RFC 2868 tag, if one was written (`Tunnel-Password:1`).
    pub tag: Option<u8>,
}

/// Splits `Name:tag` into the name and a tag; a suffix that is not a number 0..=31 is
/// part of the name.
fn split_tag(name: &str) -> (&str, Option<u8>) {
    match name.rsplit_once(':') {
        Some((base, tag)) => match tag.parse::<u8>() {
            Ok(t) if t <= MAX_TAG => (base, Some(t)),
            _ => (name, None),
        },
        None => (name, None),
    }
}

/// Parses the numeric form of an attribute identity as printed for unknown attributes:
/// `N`, `26.V.T`, `241.E`, `241.26.V.T`.
fn parse_oid(text: &str) -> Option<AttrId> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let byte = |n: u32| u8::try_from(n).ok();
    match parts.as_slice() {
        [t] => byte(*t).filter(|t| *t > 0).map(AttrId::Standard),
        [26, vendor, typ] => Some(AttrId::Vendor {
            vendor: *vendor,
            typ: *typ,
        }),
        [base @ 241..=246, 26, vendor, typ] => Some(AttrId::ExtendedVendor {
            base: byte(*base)?,
            vendor: *vendor,
            typ: byte(*typ)?,
        }),
        [base @ 241..=246, ext] => Some(AttrId::Extended {
            base: byte(*base)?,
            ext: byte(*ext)?,
        }),
        _ => None,
    }
}

/// The name printed for an attribute the dictionary does not know: `Attr-26.9.1`.
fn unknown_name(id: AttrId) -> String {
    format!("Attr-{id}")
}

/// Looks an attribute name up: a dictionary name (case-insensitive, aliases included),
/// optionally with `:tag`, or `Attr-<oid>` for a raw one.
fn resolve(dict: &Dictionary, text: &AttrText) -> Result<(AttrDef, Option<u8>), AttrError> {
    let (name, tag) = split_tag(&text.name);
    if let Some(def) = dict.attr(name) {
        if tag.is_some() && !def.flags.has_tag {
            return Err(AttrError::BadValue {
                origin: text.origin.clone(),
                name: def.name.clone(),
                message: "this attribute takes no tag".to_string(),
            });
        }
        return Ok((def.clone(), tag));
    }
    let raw = name
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("attr-"))
        .and_then(|_| parse_oid(&name[5..]));
    if let Some(id) = raw {
        let def = dict.attr_by_id(id).cloned().unwrap_or(AttrDef {
            id,
            name: unknown_name(id),
            data_type: DataType::Octets,
            flags: Default::default(),
        });
        return Ok((def, tag));
    }
    Err(AttrError::UnknownAttribute {
        origin: text.origin.clone(),
        name: name.to_string(),
        suggestion: dict.suggest(name).map(str::to_string),
    })
}

/// Whether values of this type are opaque octets (written `0x…` or as text).
fn is_opaque(dt: DataType) -> bool {
    matches!(
        dt,
        DataType::Octets
            | DataType::Abinary
            | DataType::Tlv
            | DataType::Vsa
            | DataType::Extended
            | DataType::LongExtended
            | DataType::Evs
    )
}

fn is_integer(dt: DataType) -> bool {
    matches!(
        dt,
        DataType::Byte
            | DataType::Short
            | DataType::Integer
            | DataType::Signed
            | DataType::Integer64
    )
}

/// Resolves and encodes one attribute: the value text is converted by the attribute's
/// data type (named values of integer attributes by name, `0x…` hex for octets).
pub fn encode(dict: &Dictionary, text: &AttrText) -> Result<EncodedAttr, AttrError> {
    let (def, tag) = resolve(dict, text)?;
    let bad = |message: String| AttrError::BadValue {
        origin: text.origin.clone(),
        name: def.name.clone(),
        message,
    };
    let encrypt = def.flags.encrypt;
    if encrypt == Encrypt::AscendSecret {
        return Err(bad(
            "Ascend-Send-Secret hiding (encrypt=3) is not supported".to_string(),
        ));
    }
    let mut value = if encrypt != Encrypt::None {
        // Hidden attributes carry their clear text until the packet is built.
        text.value.as_bytes().to_vec()
    } else if is_opaque(def.data_type) && text.value.starts_with("0x") {
        parse_hex(&text.value[2..])
            .ok_or_else(|| bad(format!("`{}` is not 0x followed by hex", text.value)))?
    } else {
        let named = |n: &str| dict.value_number(&def, n);
        encode_attr(def.data_type, &Value::String(text.value.clone()), &named).map_err(|e| {
            let mut message = e.message;
            if is_integer(def.data_type)
                && let Some(s) = dict.suggest_value(&def, &text.value)
            {
                message.push_str(&format!(" (did you mean `{s}`?)"));
            }
            bad(message)
        })?
    };
    if def.flags.has_tag && encrypt != Encrypt::TunnelPassword {
        let t = tag.unwrap_or(0);
        if is_integer(def.data_type) {
            // RFC 2868: the tag replaces the high octet of a 4-octet integer.
            let four = value.len() == 4;
            match value.first_mut() {
                Some(first) if four && *first == 0 => *first = t,
                _ => return Err(bad("tagged integer values must be below 2^24".to_string())),
            }
        } else if tag.is_some() || value.first().is_some_and(|b| *b <= MAX_TAG) {
            value.insert(0, t);
        }
    }
    Ok(EncodedAttr {
        id: def.id,
        name: def.name.clone(),
        value,
        encrypt,
        tag,
    })
}

/// A received attribute value, ready to be printed.
#[derive(Debug, Clone, PartialEq)]
pub enum ShownValue {
    /// Text, printed in double quotes.
    Text(String),
    /// A word printed as it is: a named value, an address, a date.
    Word(String),
    /// A number.
    Number(i128),
    /// Opaque octets, printed `0x…`.
    Hex(Bytes),
}

/// One received attribute, named through the dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The canonical name, or `Attr-<oid>` when the dictionary does not know it.
    pub name: String,
    /// The RFC 2868 tag, when the attribute has one that is not zero.
    pub tag: Option<u8>,
    /// The value.
    pub value: ShownValue,
}

impl Shown {
    /// The name with its tag, as used for keys and `Name = value` lines.
    pub fn key(&self) -> String {
        match self.tag {
            Some(t) => format!("{}:{t}", self.name),
            None => self.name.clone(),
        }
    }

    /// The value as radclient-style text (strings quoted, so the line can be read back).
    pub fn value_text(&self) -> String {
        match &self.value {
            ShownValue::Text(s) => boomerang_core::eval::text::quoted(s),
            ShownValue::Word(w) => w.clone(),
            ShownValue::Number(n) => n.to_string(),
            ShownValue::Hex(b) => format!("0x{}", hex_lower(b)),
        }
    }

    /// The value as JSON: numbers as numbers, everything else as its text (unquoted).
    pub fn value_json(&self) -> Json {
        match &self.value {
            ShownValue::Text(s) | ShownValue::Word(s) => Json::String(s.clone()),
            ShownValue::Number(n) => match i64::try_from(*n) {
                Ok(v) => Json::from(v),
                Err(_) => Json::String(n.to_string()),
            },
            ShownValue::Hex(b) => Json::String(format!("0x{}", hex_lower(b))),
        }
    }
}

/// Names and decodes one logical attribute.
fn show_one(dict: &Dictionary, id: AttrId, raw: &Bytes) -> Shown {
    let Some(def) = dict.attr_by_id(id) else {
        return Shown {
            name: unknown_name(id),
            tag: None,
            value: ShownValue::Hex(raw.clone()),
        };
    };
    let hex = |tag| Shown {
        name: def.name.clone(),
        tag,
        value: ShownValue::Hex(raw.clone()),
    };
    if def.flags.encrypt != Encrypt::None {
        // Hidden values are shown as received, never revealed.
        return hex(None);
    }
    let mut tag = None;
    let mut octets: Vec<u8> = raw.to_vec();
    if def.flags.has_tag {
        match octets.first().copied() {
            Some(t) if t <= MAX_TAG && is_integer(def.data_type) && octets.len() == 4 => {
                tag = Some(t);
                octets[0] = 0;
            }
            Some(t) if t <= MAX_TAG && !is_integer(def.data_type) => {
                tag = Some(t);
                octets.remove(0);
            }
            _ => {}
        }
        tag = tag.filter(|t| *t != 0);
    }
    let value = match decode_attr(def.data_type, &octets) {
        Value::Integer(n) => {
            let name = u64::try_from(n)
                .ok()
                .and_then(|v| dict.value_name64(def, v));
            match name {
                Some(name) => ShownValue::Word(name.to_string()),
                None => ShownValue::Number(n),
            }
        }
        Value::String(s) if def.data_type == DataType::String => ShownValue::Text(s),
        Value::String(s) => ShownValue::Word(s),
        Value::Ip(ip) => ShownValue::Word(ip_text(ip)),
        Value::Prefix(p) => ShownValue::Word(format!("{}/{}", p.addr, p.len)),
        Value::Timestamp(t) => ShownValue::Word(format_timestamp(t)),
        _ => return hex(tag),
    };
    Shown {
        name: def.name.clone(),
        tag,
        value,
    }
}

fn ip_text(ip: IpAddr) -> String {
    ip.to_string()
}

/// Every logical attribute of `packet` in wire order, named through the dictionary
/// (vendor attributes unpacked in their vendor's layout).
pub fn show(dict: &Dictionary, packet: &Packet) -> Vec<Shown> {
    let formats = DictionaryFormats(dict);
    packet
        .logical_attributes_with(&formats)
        .map(|(id, raw)| show_one(dict, id, &raw))
        .collect()
}

/// The attributes as a JSON object in wire order: `"Name": value`, or an array of
/// values when the attribute occurs more than once.
pub fn to_json(shown: &[Shown]) -> Json {
    let mut map = JsonMap::new();
    for s in shown {
        let value = s.value_json();
        match map.get_mut(&s.key()) {
            Some(Json::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Json::Array(vec![first, value]);
            }
            None => {
                map.insert(s.key(), value);
            }
        }
    }
    Json::Object(map)
}

/// Whether `packet` carries the attribute `want` with exactly its value.
pub fn packet_has(dict: &Dictionary, packet: &Packet, want: &EncodedAttr) -> bool {
    let formats = DictionaryFormats(dict);
    packet
        .logical_attributes_with(&formats)
        .any(|(id, raw)| id == want.id && raw.as_ref() == want.value.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> &'static Dictionary {
        Dictionary::builtin()
    }

    fn text(name: &str, value: &str) -> AttrText {
        AttrText {
            name: name.into(),
            value: value.into(),
            origin: "test".into(),
        }
    }

    #[test]
    fn arguments_split_at_the_first_equals_and_unquote() {
        let a = parse_argument("Reply-Message=a=b", "argument 1").unwrap();
        assert_eq!(
            (a.name.as_str(), a.value.as_str()),
            ("Reply-Message", "a=b")
        );
        let a = parse_argument("User-Name = \"bob \\\"b\\\"\"", "argument 1").unwrap();
        assert_eq!(a.value, "bob \"b\"");
        let a = parse_argument("User-Name=", "argument 1").unwrap();
        assert_eq!(a.value, "");
        assert!(matches!(
            parse_argument("User-Name", "argument 2"),
            Err(AttrError::Syntax { .. })
        ));
    }

    #[test]
    fn radclient_text_parses_lines_commas_quotes_and_comments() {
        let got = parse_text(
            "# a comment\n\
             User-Name = \"bob\", NAS-Port = 7\n\
             \n\
             Reply-Message := hello world  # trailing\n\
             Called-Station-Id=\"a,b\",\n",
            "stdin",
        )
        .unwrap();
        let pairs: Vec<_> = got
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str(), a.origin.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("User-Name", "bob", "stdin:2"),
                ("NAS-Port", "7", "stdin:2"),
                ("Reply-Message", "hello world", "stdin:4"),
                ("Called-Station-Id", "a,b", "stdin:5"),
            ]
        );
        let err = parse_text("User-Name bob\n", "stdin").unwrap_err();
        assert_eq!(err.to_string(), "stdin:1: expected `=` after `User-Name`");
        let err = parse_text("User-Name = \"bob\n", "f").unwrap_err();
        assert!(err.to_string().contains("unterminated"), "{err}");
    }

    #[test]
    fn values_encode_by_type_and_name() {
        let a = encode(dict(), &text("acct-status-type", "Interim-Update")).unwrap();
        assert_eq!(a.id, AttrId::Standard(40));
        assert_eq!(a.value, [0, 0, 0, 3]);
        let a = encode(dict(), &text("Framed-IP-Address", "10.1.2.3")).unwrap();
        assert_eq!(a.value, [10, 1, 2, 3]);
        let a = encode(dict(), &text("Class", "0x0102ff")).unwrap();
        assert_eq!(a.value, [1, 2, 0xff]);
        let a = encode(dict(), &text("User-Password", "secret")).unwrap();
        assert_eq!(a.encrypt, Encrypt::UserPassword);
        assert_eq!(a.value, b"secret");
        let a = encode(dict(), &text("Attr-200", "0xabcd")).unwrap();
        assert_eq!(
            (a.id, a.value.as_slice()),
            (AttrId::Standard(200), &[0xab, 0xcd][..])
        );
        let a = encode(dict(), &text("Tunnel-Type:1", "VLAN")).unwrap();
        assert_eq!(a.value, [1, 0, 0, 13]);
    }

    #[test]
    fn unknown_names_and_bad_values_are_explained() {
        let err = encode(dict(), &text("User-Nmae", "bob")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test: unknown attribute `User-Nmae` (did you mean `User-Name`?)"
        );
        let err = encode(dict(), &text("Acct-Status-Type", "Interim-Updat")).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `Interim-Update`"),
            "{err}"
        );
        let err = encode(dict(), &text("NAS-IP-Address", "nope")).unwrap_err();
        assert!(matches!(err, AttrError::BadValue { .. }), "{err}");
    }

    #[test]
    fn received_attributes_are_named_and_decoded() {
        let mut p = Packet::new(boomerang_core::radius::code::Code::DisconnectNak, 1);
        p.push(101, vec![0, 0, 1, 247]);
        p.push(18, "hi \"there\"");
        p.push(4, vec![192, 0, 2, 1]);
        p.push(200, vec![1, 2]);
        p.push(18, "again");
        let shown = show(dict(), &p);
        let lines: Vec<String> = shown
            .iter()
            .map(|s| format!("{} = {}", s.key(), s.value_text()))
            .collect();
        assert_eq!(
            lines,
            [
                "Error-Cause = Session-Context-Not-Found",
                "Reply-Message = \"hi \\\"there\\\"\"",
                "NAS-IP-Address = 192.0.2.1",
                "Attr-200 = 0x0102",
                "Reply-Message = \"again\"",
            ]
        );
        let json = to_json(&shown);
        assert_eq!(
            json,
            serde_json::json!({
                "Error-Cause": "Session-Context-Not-Found",
                "Reply-Message": ["hi \"there\"", "again"],
                "NAS-IP-Address": "192.0.2.1",
                "Attr-200": "0x0102",
            })
        );
    }

    #[test]
    fn written_values_read_back_the_same() {
        for (name, value) in [
            ("User-Name", "\"alice\""),
            ("NAS-Port", "17"),
            ("Service-Type", "Framed-User"),
            ("Framed-IPv6-Prefix", "2001:db8::/32"),
            ("Event-Timestamp", "2024-05-01T12:00:00Z"),
        ] {
            let arg = parse_argument(&format!("{name}={value}"), "t").unwrap();
            let enc = encode(dict(), &arg).unwrap();
            let mut p = Packet::new(boomerang_core::radius::code::Code::CoaRequest, 1);
            p.push_logical(enc.id, &enc.value).unwrap();
            let shown = show(dict(), &p);
            assert_eq!(shown[0].value_text(), value, "{name}");
            assert!(packet_has(dict(), &p, &enc));
        }
    }
}
