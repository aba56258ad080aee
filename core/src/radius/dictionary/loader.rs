//! The FreeRADIUS-format dictionary loader.
//!
//! Understood (keywords are case-insensitive, `#` starts a comment anywhere):
//!
//! - `VENDOR name number [format=t,l[,c]]`
//! - `BEGIN-VENDOR name [format=Extended-Vendor-Specific-N]` … `END-VENDOR name`
//! - `ATTRIBUTE name number type [flags]`, where `number` is `N` (1..=255), `26.V.T`,
//!   `241.E` … `246.E`, `24x.26.V.T`, or inside a vendor block the vendor type; `type`
//!   may be written `octets[N]` for a fixed length; `flags` is a comma-separated list of
//!   `encrypt=0|1|2|3`, `has_tag`, `concat`, `array`, `virtual`, `internal`, or (old
//!   style, outside vendor blocks) a lone vendor name
//! - `VALUE attribute name number` (decimal or `0x` hex; negative for `signed`); the
//!   attribute may be defined later in the same load
//! - `$INCLUDE path` and `$INCLUDE- path` (optional: a missing file is skipped),
//!   relative to the including file
//! - `FLAGS internal` / `FLAGS !internal` for the attributes that follow in the file
//!
//! Reported as "not supported" with their location: `BEGIN-TLV`/`END-TLV`, TLV
//! sub-attribute numbers (`26.9.1.2`, `.1`), `PROTOCOL`, `BEGIN-PROTOCOL`/
//! `END-PROTOCOL` and the v4 keywords `STRUCT`, `MEMBER`, `ENUM`, `ALIAS`, `DEFINE`,
//! `BEGIN`, `END`.
//!
//! Every line is checked and every error is reported, not just the first. A load is
//! all-or-nothing: with any error, the dictionary is left unchanged.

use crate::radius::id::{AttrId, DataType};

use super::error::{DictionaryError, DictionaryErrorKind as Kind};
use super::source::{DictionarySource, SourceError, SourceFile};
use super::table::Dictionary;
use super::types::{
    AttrDef, AttrFlags, Encrypt, VendorDef, VendorFormat, parse_data_type, value_range,
};

/// How deep `$INCLUDE`s may nest (the top-level file is depth 1).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// The largest vendor number: Vendor-Id carries a 24-bit Private Enterprise Number.
const MAX_VENDOR_ID: u64 = 0x00ff_ffff;

impl Dictionary {
    /// Load the dictionary file `path` (and everything it `$INCLUDE`s) from `source`
    /// into this dictionary.
    ///
    /// On success every definition has been added; on failure *all* errors found are
    /// returned and the dictionary is unchanged.
    pub fn load(
        &mut self,
        path: &str,
        source: &mut dyn DictionarySource,
    ) -> Result<(), Vec<DictionaryError>> {
        match source.read(path, None) {
            Ok(file) => self.load_file(file, source),
            Err(e) => Err(vec![DictionaryError {
                file: path.to_owned(),
                line: 0,
                column: 0,
                kind: Kind::ReadFailed {
                    path: path.to_owned(),
                    reason: e.to_string(),
                },
            }]),
        }
    }

    /// Load dictionary `text` that was already read, naming it `name` in errors and as
    /// the base for its `$INCLUDE`s, which are read from `source`. Same all-or-nothing
    /// rule as [`Dictionary::load`].
    pub fn load_text(
        &mut self,
        name: &str,
        text: &str,
        source: &mut dyn DictionarySource,
    ) -> Result<(), Vec<DictionaryError>> {
        self.load_file(
            SourceFile {
                name: name.to_owned(),
                text: text.to_owned(),
            },
            source,
        )
    }

    fn load_file(
        &mut self,
        file: SourceFile,
        source: &mut dyn DictionarySource,
    ) -> Result<(), Vec<DictionaryError>> {
        let (dict, errors) = load_lenient(self.clone(), file, source);
        if errors.is_empty() {
            *self = dict;
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Load `file` into `dict`, applying every valid definition, and return the result
/// together with all errors. Used directly only for the built-in data.
pub(crate) fn load_lenient(
    dict: Dictionary,
    file: SourceFile,
    source: &mut dyn DictionarySource,
) -> (Dictionary, Vec<DictionaryError>) {
    let mut loader = Loader {
        dict,
        source,
        errors: Vec::new(),
        stack: Vec::new(),
        deferred: Vec::new(),
    };
    loader.stack.push(file.name.clone());
    loader.parse(&file.name, &file.text);
    loader.stack.pop();
    loader.resolve_deferred();
    (loader.dict, loader.errors)
}

/// One whitespace-separated field of a line, with its 1-based character column.
#[derive(Debug, Clone, Copy)]
struct Token<'t> {
    text: &'t str,
    col: u32,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Split a line (comment already removed) into fields.
fn tokenize(line: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte offset, char column)
    let mut col = 0usize;
    for (byte, ch) in line.char_indices() {
        col += 1;
        if ch.is_whitespace() {
            if let Some((s, c)) = start.take() {
                tokens.push(Token {
                    text: line.get(s..byte).unwrap_or(""),
                    col: to_u32(c),
                });
            }
        } else if start.is_none() {
            start = Some((byte, col));
        }
    }
    if let Some((s, c)) = start {
        tokens.push(Token {
            text: line.get(s..).unwrap_or(""),
            col: to_u32(c),
        });
    }
    tokens
}

/// An error on the current line.
struct LineError {
    col: u32,
    kind: Kind,
}

fn at(token: &Token<'_>, kind: Kind) -> LineError {
    LineError {
        col: token.col,
        kind,
    }
}

type LineResult = Result<(), LineError>;

/// Vendor block opened by `BEGIN-VENDOR`.
struct Block {
    /// `None` when `BEGIN-VENDOR` named an unknown vendor (already reported): the
    /// block's attributes are checked but not defined.
    vendor: Option<u32>,
    name: String,
    /// `Some(241..=246)` for `format=Extended-Vendor-Specific-N` blocks.
    evs_base: Option<u8>,
    line: u32,
    col: u32,
}

/// State local to one file.
struct FileCtx<'f> {
    name: &'f str,
    keyword: String,
    block: Option<Block>,
    default_internal: bool,
}

/// A `VALUE` whose attribute was not yet defined when the line was read.
struct Deferred {
    file: String,
    line: u32,
    attr: (String, u32),
    name: (String, u32),
    number: (String, u32),
}

struct Loader<'s> {
    dict: Dictionary,
    source: &'s mut dyn DictionarySource,
    errors: Vec<DictionaryError>,
    /// Resolved names of the files being read, outermost first.
    stack: Vec<String>,
    deferred: Vec<Deferred>,
}

/// Parse a number written in decimal or `0x` hexadecimal.
fn parse_number(token: &Token<'_>) -> Result<u64, LineError> {
    parse_number_text(token.text).map_err(|kind| at(token, kind))
}

fn parse_number_text(text: &str) -> Result<u64, Kind> {
    let invalid = || Kind::InvalidNumber {
        text: text.to_owned(),
    };
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(invalid());
    }
    u64::from_str_radix(digits, radix).map_err(|_| Kind::NumberOutOfRange {
        text: text.to_owned(),
        range: format!("0..={}", u64::MAX),
    })
}

fn in_range(token: &Token<'_>, n: u64, min: u64, max: u64) -> LineResult {
    if n < min || n > max {
        return Err(at(
            token,
            Kind::NumberOutOfRange {
                text: token.text.to_owned(),
                range: format!("{min}..={max}"),
            },
        ));
    }
    Ok(())
}

fn validate_name(token: &Token<'_>) -> LineResult {
    if token.text.chars().all(|c| c.is_ascii_digit()) {
        return Err(at(
            token,
            Kind::InvalidName {
                name: token.text.to_owned(),
                reason: "a name cannot consist of digits only".to_owned(),
            },
        ));
    }
    Ok(())
}

fn is_container(data_type: DataType) -> bool {
    matches!(
        data_type,
        DataType::Tlv | DataType::Vsa | DataType::Extended | DataType::LongExtended | DataType::Evs
    )
}

fn parse_vendor_format(token: &Token<'_>) -> Result<VendorFormat, LineError> {
    let fail = |reason: &str| {
        at(
            token,
            Kind::InvalidVendorFormat {
                text: token.text.to_owned(),
                reason: reason.to_owned(),
            },
        )
    };
    let Some(spec) = strip_prefix_ci(token.text, "format=") else {
        return Err(fail(
            "expected `format=TYPE,LENGTH` or `format=TYPE,LENGTH,c`",
        ));
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let (t, l, c) = match parts.as_slice() {
        [t, l] => (*t, *l, None),
        [t, l, c] => (*t, *l, Some(*c)),
        _ => {
            return Err(fail(
                "expected `format=TYPE,LENGTH` or `format=TYPE,LENGTH,c`",
            ));
        }
    };
    let type_octets = match t {
        "1" => 1,
        "2" => 2,
        "4" => 4,
        _ => return Err(fail("the type field must be 1, 2 or 4 octets")),
    };
    let length_octets = match l {
        "0" => 0,
        "1" => 1,
        "2" => 2,
        _ => return Err(fail("the length field must be 0, 1 or 2 octets")),
    };
    let continuation = match c {
        None => false,
        Some(c) if c.eq_ignore_ascii_case("c") => {
            if (type_octets, length_octets) != (1, 1) {
                return Err(fail("the continuation flag `c` needs `format=1,1,c`"));
            }
            true
        }
        Some(_) => return Err(fail("the third field may only be `c` (continuation)")),
    };
    Ok(VendorFormat {
        type_octets,
        length_octets,
        continuation,
    })
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// Parse a data type field, including the `octets[N]` fixed-length form.
fn parse_type(token: &Token<'_>) -> Result<(DataType, Option<u8>), LineError> {
    let unknown = || {
        at(
            token,
            Kind::UnknownType {
                name: token.text.to_owned(),
            },
        )
    };
    let (base, length) = match token.text.split_once('[') {
        None => (token.text, None),
        Some((base, rest)) => {
            let Some(inner) = rest.strip_suffix(']') else {
                return Err(unknown());
            };
            (base, Some(inner))
        }
    };
    let data_type = parse_data_type(base).ok_or_else(unknown)?;
    let Some(inner) = length else {
        return Ok((data_type, None));
    };
    if !matches!(data_type, DataType::Octets | DataType::String) {
        return Err(at(
            token,
            Kind::TypeNotAllowed {
                data_type: token.text.to_owned(),
                reason: "only `octets[N]` and `string[N]` may declare a fixed length".to_owned(),
            },
        ));
    }
    let n = parse_number_text(inner).map_err(|kind| at(token, kind))?;
    if !(1..=253).contains(&n) {
        return Err(at(
            token,
            Kind::NumberOutOfRange {
                text: inner.to_owned(),
                range: "1..=253".to_owned(),
            },
        ));
    }
    Ok((data_type, u8::try_from(n).ok()))
}

impl Loader<'_> {
    fn push_error(&mut self, file: &str, line: u32, err: LineError) {
        self.errors.push(DictionaryError {
            file: file.to_owned(),
            line,
            column: err.col,
            kind: err.kind,
        });
    }

    fn parse(&mut self, name: &str, text: &str) {
        let mut ctx = FileCtx {
            name,
            keyword: String::new(),
            block: None,
            default_internal: false,
        };
        for (index, raw) in text.split('\n').enumerate() {
            let line = to_u32(index.saturating_add(1));
            let content = raw.split('#').next().unwrap_or("");
            let tokens = tokenize(content);
            let Some(first) = tokens.first() else {
                continue;
            };
            ctx.keyword = first.text.to_owned();
            if let Err(err) = self.line(&mut ctx, line, &tokens) {
                self.push_error(name, line, err);
            }
        }
        if let Some(block) = ctx.block.take() {
            self.push_error(
                name,
                block.line,
                LineError {
                    col: block.col,
                    kind: Kind::UnclosedVendorBlock { name: block.name },
                },
            );
        }
    }

    fn line(&mut self, ctx: &mut FileCtx<'_>, line: u32, tokens: &[Token<'_>]) -> LineResult {
        let Some(first) = tokens.first() else {
            return Ok(());
        };
        match first.text.to_ascii_uppercase().as_str() {
            "ATTRIBUTE" => self.attribute(ctx, tokens),
            "VALUE" => self.value(ctx, line, tokens),
            "VENDOR" => self.vendor(ctx, tokens),
            "BEGIN-VENDOR" => self.begin_vendor(ctx, line, tokens),
            "END-VENDOR" => self.end_vendor(ctx, tokens),
            "$INCLUDE" => self.include(ctx, tokens, false),
            "$INCLUDE-" => self.include(ctx, tokens, true),
            "FLAGS" => self.flags(ctx, tokens),
            "BEGIN-TLV" | "END-TLV" | "PROTOCOL" | "BEGIN-PROTOCOL" | "END-PROTOCOL" | "STRUCT"
            | "MEMBER" | "ENUM" | "ALIAS" | "DEFINE" | "BEGIN" | "END" => Err(at(
                first,
                Kind::Unsupported {
                    construct: first.text.to_owned(),
                },
            )),
            _ => Err(at(
                first,
                Kind::UnknownKeyword {
                    keyword: first.text.to_owned(),
                },
            )),
        }
    }

    // ----- field helpers ----------------------------------------------------------

    fn field<'a, 't>(
        ctx: &FileCtx<'_>,
        tokens: &'a [Token<'t>],
        index: usize,
        what: &'static str,
    ) -> Result<&'a Token<'t>, LineError> {
        if let Some(token) = tokens.get(index) {
            return Ok(token);
        }
        let end = tokens
            .last()
            .map(|t| t.col.saturating_add(to_u32(t.text.chars().count())))
            .unwrap_or(1);
        Err(LineError {
            col: end,
            kind: Kind::MissingField {
                keyword: ctx.keyword.clone(),
                field: what,
            },
        })
    }

    fn no_more(ctx: &FileCtx<'_>, tokens: &[Token<'_>], count: usize) -> LineResult {
        match tokens.get(count) {
            Some(extra) => Err(at(
                extra,
                Kind::UnexpectedField {
                    keyword: ctx.keyword.clone(),
                    field: extra.text.to_owned(),
                },
            )),
            None => Ok(()),
        }
    }

    // ----- ATTRIBUTE --------------------------------------------------------------

    fn attribute(&mut self, ctx: &mut FileCtx<'_>, tokens: &[Token<'_>]) -> LineResult {
        let name = Self::field(ctx, tokens, 1, "attribute name")?;
        let oid = Self::field(ctx, tokens, 2, "attribute number")?;
        let ty = Self::field(ctx, tokens, 3, "data type")?;
        let flag_token = tokens.get(4);
        Self::no_more(ctx, tokens, 5)?;
        validate_name(name)?;
        let (data_type, length) = parse_type(ty)?;
        let mut flags = AttrFlags {
            internal: ctx.default_internal,
            length,
            ..AttrFlags::default()
        };
        let mut legacy_vendor = None;
        if let Some(token) = flag_token {
            legacy_vendor = self.parse_flags(ctx, token, data_type, &mut flags)?;
        }
        if ctx.block.as_ref().is_some_and(|b| b.vendor.is_none()) {
            // Inside the block of an unknown vendor (reported at BEGIN-VENDOR).
            return Ok(());
        }
        let id = self.resolve_oid(ctx, oid, legacy_vendor)?;
        check_placement(ty, id, data_type)?;
        self.dict
            .define_attribute(AttrDef {
                id,
                name: name.text.to_owned(),
                data_type,
                flags,
            })
            .map_err(|kind| at(name, kind))
    }

    /// Parse the flags column; returns the vendor of an old-style `vendor` flag.
    fn parse_flags(
        &self,
        ctx: &FileCtx<'_>,
        token: &Token<'_>,
        data_type: DataType,
        flags: &mut AttrFlags,
    ) -> Result<Option<u32>, LineError> {
        if !token.text.contains([',', '='])
            && let Some(vendor) = self.dict.vendor(token.text)
        {
            if ctx.block.is_some() {
                return Err(at(
                    token,
                    Kind::InvalidFlag {
                        flag: token.text.to_owned(),
                        reason: "a vendor name cannot be given inside a BEGIN-VENDOR block"
                            .to_owned(),
                    },
                ));
            }
            return Ok(Some(vendor.id));
        }
        if is_container(data_type) {
            return Err(at(
                token,
                Kind::InvalidFlag {
                    flag: token.text.to_owned(),
                    reason:
                        "container types (tlv, vsa, extended, long-extended, evs) take no flags"
                            .to_owned(),
                },
            ));
        }
        let mut offset = 0usize;
        for piece in token.text.split(',') {
            let piece_token = Token {
                text: piece,
                col: token.col.saturating_add(to_u32(offset)),
            };
            offset += piece.chars().count() + 1;
            if piece.is_empty() {
                continue;
            }
            apply_flag(&piece_token, data_type, flags)?;
        }
        Ok(None)
    }

    /// Turn an attribute number into an [`AttrId`], given the vendor context.
    fn resolve_oid(
        &self,
        ctx: &FileCtx<'_>,
        token: &Token<'_>,
        legacy_vendor: Option<u32>,
    ) -> Result<AttrId, LineError> {
        let nested = || {
            at(
                token,
                Kind::NestedTlv {
                    oid: token.text.to_owned(),
                },
            )
        };
        let invalid = |reason: &str| {
            at(
                token,
                Kind::InvalidOid {
                    oid: token.text.to_owned(),
                    reason: reason.to_owned(),
                },
            )
        };
        if token.text.starts_with('.') {
            return Err(nested());
        }
        let mut parts = Vec::new();
        for part in token.text.split('.') {
            if part.is_empty() {
                return Err(invalid("empty component"));
            }
            parts.push(parse_number_text(part).map_err(|kind| at(token, kind))?);
        }
        let vendor_context = match legacy_vendor {
            Some(vendor) => Some((vendor, None)),
            None => ctx
                .block
                .as_ref()
                .and_then(|b| b.vendor.map(|v| (v, b.evs_base))),
        };
        if let Some((vendor, evs_base)) = vendor_context {
            let [typ] = parts.as_slice() else {
                if legacy_vendor.is_some() {
                    return Err(invalid(
                        "an old-style vendor flag needs a plain vendor type",
                    ));
                }
                return Err(nested());
            };
            return self.vendor_attr(token, vendor, evs_base, *typ);
        }
        match parts.as_slice() {
            [n] => {
                in_range(token, *n, 1, 255)?;
                Ok(AttrId::Standard(u8::try_from(*n).unwrap_or(0)))
            }
            [26, vendor, typ] => {
                let vendor = self.known_vendor(token, *vendor)?;
                self.vendor_attr(token, vendor, None, *typ)
            }
            [26, _] => Err(invalid(
                "a Vendor-Specific number is written 26.VENDOR.TYPE",
            )),
            [26, ..] => Err(nested()),
            [base @ 241..=246, 26, vendor, typ] => {
                let vendor = self.known_vendor(token, *vendor)?;
                let base = u8::try_from(*base).unwrap_or(0);
                self.vendor_attr(token, vendor, Some(base), *typ)
            }
            [241..=246, 26, _] => Err(invalid(
                "an Extended-Vendor-Specific number is written BASE.26.VENDOR.TYPE",
            )),
            [base @ 241..=246, ext] => {
                if *ext == 0 || *ext > 255 {
                    return Err(at(
                        token,
                        Kind::NumberOutOfRange {
                            text: token.text.to_owned(),
                            range: format!("{base}.1..={base}.255"),
                        },
                    ));
                }
                Ok(AttrId::Extended {
                    base: u8::try_from(*base).unwrap_or(0),
                    ext: u8::try_from(*ext).unwrap_or(0),
                })
            }
            [1..=255, ..] => Err(nested()),
            _ => Err(at(
                token,
                Kind::NumberOutOfRange {
                    text: token.text.to_owned(),
                    range: "1..=255".to_owned(),
                },
            )),
        }
    }

    fn known_vendor(&self, token: &Token<'_>, vendor: u64) -> Result<u32, LineError> {
        u32::try_from(vendor)
            .ok()
            .filter(|v| self.dict.vendor_by_id(*v).is_some())
            .ok_or_else(|| {
                at(
                    token,
                    Kind::UnknownVendor {
                        name: vendor.to_string(),
                    },
                )
            })
    }

    fn vendor_attr(
        &self,
        token: &Token<'_>,
        vendor: u32,
        evs_base: Option<u8>,
        typ: u64,
    ) -> Result<AttrId, LineError> {
        let range_error = |max: u64| {
            at(
                token,
                Kind::NumberOutOfRange {
                    text: token.text.to_owned(),
                    range: format!("vendor type 0..={max}"),
                },
            )
        };
        if let Some(base) = evs_base {
            let typ = u8::try_from(typ).map_err(|_| range_error(255))?;
            return Ok(AttrId::ExtendedVendor { base, vendor, typ });
        }
        let format = self
            .dict
            .vendor_by_id(vendor)
            .map(|v| v.format)
            .unwrap_or_default();
        let max = format.max_type();
        if typ > max {
            return Err(range_error(max));
        }
        let typ = u32::try_from(typ).map_err(|_| range_error(max))?;
        Ok(AttrId::Vendor { vendor, typ })
    }

    // ----- VALUE ------------------------------------------------------------------

    fn value(&mut self, ctx: &mut FileCtx<'_>, line: u32, tokens: &[Token<'_>]) -> LineResult {
        let attr = Self::field(ctx, tokens, 1, "attribute name")?;
        let name = Self::field(ctx, tokens, 2, "value name")?;
        let number = Self::field(ctx, tokens, 3, "number")?;
        Self::no_more(ctx, tokens, 4)?;
        if self.dict.attr(attr.text).is_none() {
            self.deferred.push(Deferred {
                file: ctx.name.to_owned(),
                line,
                attr: (attr.text.to_owned(), attr.col),
                name: (name.text.to_owned(), name.col),
                number: (number.text.to_owned(), number.col),
            });
            return Ok(());
        }
        self.apply_value(attr, name, number)
    }

    fn apply_value(
        &mut self,
        attr: &Token<'_>,
        name: &Token<'_>,
        number: &Token<'_>,
    ) -> LineResult {
        let Some(def) = self.dict.attr(attr.text) else {
            return Err(at(
                attr,
                Kind::UnknownAttribute {
                    name: attr.text.to_owned(),
                },
            ));
        };
        let (id, data_type) = (def.id, def.data_type);
        let Some((min, max)) = value_range(data_type) else {
            return Err(at(
                attr,
                Kind::ValuesNotAllowed {
                    attribute: def.name.clone(),
                    data_type: data_type.name().to_owned(),
                },
            ));
        };
        let n = if data_type == DataType::Signed {
            signed_value(number)?
        } else {
            let n = parse_number(number)?;
            in_range(number, n, min, max)?;
            n
        };
        self.dict
            .define_value(id, name.text, n)
            .map_err(|kind| at(name, kind))
    }

    fn resolve_deferred(&mut self) {
        for d in std::mem::take(&mut self.deferred) {
            let attr = Token {
                text: &d.attr.0,
                col: d.attr.1,
            };
            let name = Token {
                text: &d.name.0,
                col: d.name.1,
            };
            let number = Token {
                text: &d.number.0,
                col: d.number.1,
            };
            if let Err(err) = self.apply_value(&attr, &name, &number) {
                self.push_error(&d.file, d.line, err);
            }
        }
    }

    // ----- VENDOR / BEGIN-VENDOR / END-VENDOR ---------------------------------------

    fn vendor(&mut self, ctx: &mut FileCtx<'_>, tokens: &[Token<'_>]) -> LineResult {
        let name = Self::field(ctx, tokens, 1, "vendor name")?;
        let number = Self::field(ctx, tokens, 2, "vendor number")?;
        let format_token = tokens.get(3);
        Self::no_more(ctx, tokens, 4)?;
        validate_name(name)?;
        let id = parse_number(number)?;
        in_range(number, id, 1, MAX_VENDOR_ID)?;
        let format = match format_token {
            Some(token) => parse_vendor_format(token)?,
            None => VendorFormat::STANDARD,
        };
        self.dict
            .define_vendor(VendorDef {
                id: u32::try_from(id).unwrap_or(0),
                name: name.text.to_owned(),
                format,
            })
            .map_err(|kind| at(name, kind))
    }

    fn begin_vendor(
        &mut self,
        ctx: &mut FileCtx<'_>,
        line: u32,
        tokens: &[Token<'_>],
    ) -> LineResult {
        let name = Self::field(ctx, tokens, 1, "vendor name")?;
        let format_token = tokens.get(2);
        let surplus = Self::no_more(ctx, tokens, 3);
        if let Some(open) = &ctx.block {
            return Err(at(
                name,
                Kind::NestedVendorBlock {
                    open: open.name.clone(),
                    name: name.text.to_owned(),
                },
            ));
        }
        // The block is opened even when the line has an error, so that its
        // `END-VENDOR` and attributes do not produce follow-on errors.
        let vendor = self.dict.vendor(name.text).map(|v| v.id);
        let evs_base = format_token.map(evs_format);
        ctx.block = Some(Block {
            vendor,
            name: name.text.to_owned(),
            evs_base: evs_base.as_ref().and_then(|r| r.as_ref().ok().copied()),
            line,
            col: name.col,
        });
        if vendor.is_none() {
            return Err(at(
                name,
                Kind::UnknownVendor {
                    name: name.text.to_owned(),
                },
            ));
        }
        match evs_base {
            Some(Err(e)) => Err(e),
            _ => surplus,
        }
    }

    fn end_vendor(&mut self, ctx: &mut FileCtx<'_>, tokens: &[Token<'_>]) -> LineResult {
        let name = Self::field(ctx, tokens, 1, "vendor name")?;
        Self::no_more(ctx, tokens, 2)?;
        let Some(block) = ctx.block.take() else {
            return Err(at(
                name,
                Kind::EndVendorWithoutBegin {
                    name: name.text.to_owned(),
                },
            ));
        };
        let same = block.name.eq_ignore_ascii_case(name.text)
            || (block.vendor.is_some()
                && self.dict.vendor(name.text).map(|v| v.id) == block.vendor);
        if !same {
            return Err(at(
                name,
                Kind::VendorBlockMismatch {
                    expected: block.name,
                    found: name.text.to_owned(),
                },
            ));
        }
        Ok(())
    }

    // ----- $INCLUDE / FLAGS -----------------------------------------------------------

    fn include(
        &mut self,
        ctx: &mut FileCtx<'_>,
        tokens: &[Token<'_>],
        optional: bool,
    ) -> LineResult {
        let path = Self::field(ctx, tokens, 1, "file name")?;
        Self::no_more(ctx, tokens, 2)?;
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(at(
                path,
                Kind::IncludeTooDeep {
                    path: path.text.to_owned(),
                    max: MAX_INCLUDE_DEPTH,
                },
            ));
        }
        let file = match self.source.read(path.text, Some(ctx.name)) {
            Ok(file) => file,
            Err(SourceError::NotFound) if optional => return Ok(()),
            Err(e) => {
                return Err(at(
                    path,
                    Kind::IncludeFailed {
                        path: path.text.to_owned(),
                        reason: e.to_string(),
                    },
                ));
            }
        };
        if self.stack.contains(&file.name) {
            return Err(at(path, Kind::IncludeCycle { path: file.name }));
        }
        self.stack.push(file.name.clone());
        self.parse(&file.name, &file.text);
        self.stack.pop();
        Ok(())
    }

    fn flags(&mut self, ctx: &mut FileCtx<'_>, tokens: &[Token<'_>]) -> LineResult {
        let flag = Self::field(ctx, tokens, 1, "flag")?;
        Self::no_more(ctx, tokens, 2)?;
        match flag.text.to_ascii_lowercase().as_str() {
            "internal" => ctx.default_internal = true,
            "!internal" => ctx.default_internal = false,
            _ => {
                return Err(at(
                    flag,
                    Kind::UnknownFlag {
                        flag: flag.text.to_owned(),
                    },
                ));
            }
        }
        Ok(())
    }
}

/// Parse `format=Extended-Vendor-Specific-N` of `BEGIN-VENDOR` into the base 241..=246.
fn evs_format(token: &Token<'_>) -> Result<u8, LineError> {
    let base =
        strip_prefix_ci(token.text, "format=Extended-Vendor-Specific-").and_then(|n| match n {
            "1" => Some(241),
            "2" => Some(242),
            "3" => Some(243),
            "4" => Some(244),
            "5" => Some(245),
            "6" => Some(246),
            _ => None,
        });
    base.ok_or_else(|| {
        at(
            token,
            Kind::InvalidVendorFormat {
                text: token.text.to_owned(),
                reason: "a vendor block takes only `format=Extended-Vendor-Specific-N`, N = 1..=6"
                    .to_owned(),
            },
        )
    })
}

/// Parse a `signed` VALUE number (decimal, optionally negative, or hex) into the
/// 32-bit two's-complement pattern.
fn signed_value(token: &Token<'_>) -> Result<u64, LineError> {
    let range_error = || {
        at(
            token,
            Kind::NumberOutOfRange {
                text: token.text.to_owned(),
                range: format!("{}..={}", i32::MIN, i32::MAX),
            },
        )
    };
    let (negative, magnitude) = match token.text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token.text),
    };
    let m = parse_number_text(magnitude).map_err(|kind| match kind {
        Kind::InvalidNumber { .. } => at(
            token,
            Kind::InvalidNumber {
                text: token.text.to_owned(),
            },
        ),
        _ => range_error(),
    })?;
    let value = i64::try_from(m).map_err(|_| range_error())?;
    let value = if negative { -value } else { value };
    let value = i32::try_from(value).map_err(|_| range_error())?;
    // Two's-complement reinterpretation is the intent here.
    Ok(u64::from(value as u32))
}

/// Apply one flag of the flags column, checking that it fits `data_type`.
fn apply_flag(token: &Token<'_>, data_type: DataType, flags: &mut AttrFlags) -> LineResult {
    let invalid = |reason: &str| {
        at(
            token,
            Kind::InvalidFlag {
                flag: token.text.to_owned(),
                reason: reason.to_owned(),
            },
        )
    };
    let lower = token.text.to_ascii_lowercase();
    if let Some(n) = lower.strip_prefix("encrypt=") {
        let method = parse_number_text(n)
            .ok()
            .and_then(Encrypt::from_number)
            .ok_or_else(|| invalid("the encryption method must be 0, 1, 2 or 3"))?;
        if method == Encrypt::AscendSecret && data_type != DataType::String {
            return Err(invalid("`encrypt=3` applies only to `string` attributes"));
        }
        flags.encrypt = method;
        return Ok(());
    }
    match lower.as_str() {
        "has_tag" | "has_tag=1" => {
            if !matches!(
                data_type,
                DataType::String | DataType::Octets | DataType::Integer
            ) {
                return Err(invalid(
                    "only string, octets and integer attributes can be tagged",
                ));
            }
            flags.has_tag = true;
        }
        "concat" => {
            if data_type != DataType::Octets {
                return Err(invalid("only `octets` attributes can be concatenated"));
            }
            flags.concat = true;
        }
        "array" => {
            if !matches!(
                data_type,
                DataType::Ipv4Addr
                    | DataType::Ipv6Addr
                    | DataType::Byte
                    | DataType::Short
                    | DataType::Integer
                    | DataType::Integer64
                    | DataType::Signed
                    | DataType::Date
                    | DataType::Ether
                    | DataType::Ifid
                    | DataType::String
            ) {
                return Err(invalid("only fixed-size types (and string) can be arrays"));
            }
            flags.array = true;
        }
        "virtual" => flags.is_virtual = true,
        "internal" => flags.internal = true,
        _ => {
            return Err(at(
                token,
                Kind::UnknownFlag {
                    flag: token.text.to_owned(),
                },
            ));
        }
    }
    Ok(())
}

/// Check that container types sit where RFC 2865/6929 put them.
fn check_placement(token: &Token<'_>, id: AttrId, data_type: DataType) -> LineResult {
    let reason = match (data_type, id) {
        (DataType::Vsa, AttrId::Standard(26)) => None,
        (DataType::Vsa, _) => Some("only attribute 26 (Vendor-Specific) has type `vsa`"),
        (DataType::Extended, AttrId::Standard(241..=244)) => None,
        (DataType::Extended, _) => Some("type `extended` is for attributes 241..=244"),
        (DataType::LongExtended, AttrId::Standard(245..=246)) => None,
        (DataType::LongExtended, _) => Some("type `long-extended` is for attributes 245 and 246"),
        (DataType::Evs, AttrId::Extended { ext: 26, .. }) => None,
        (DataType::Evs, _) => Some("type `evs` is for attributes 241.26 … 246.26"),
        _ => None,
    };
    match reason {
        Some(reason) => Err(at(
            token,
            Kind::TypeNotAllowed {
                data_type: token.text.to_owned(),
                reason: reason.to_owned(),
            },
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::dictionary::source::NoSource;

    fn load(text: &str) -> Result<Dictionary, Vec<DictionaryError>> {
        let mut d = Dictionary::new();
        d.load_text("t", text, &mut NoSource).map(|()| d)
    }

    #[test]
    fn tokenizer_columns_are_character_based() {
        let t = tokenize("  ab\tcd  é x");
        let cols: Vec<(&str, u32)> = t.iter().map(|t| (t.text, t.col)).collect();
        assert_eq!(cols, vec![("ab", 3), ("cd", 6), ("é", 10), ("x", 12)]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number_text("0x1F"), Ok(31));
        assert_eq!(parse_number_text("17"), Ok(17));
        assert!(matches!(
            parse_number_text("+1"),
            Err(Kind::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_number_text("0x"),
            Err(Kind::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_number_text("99999999999999999999999"),
            Err(Kind::NumberOutOfRange { .. })
        ));
    }

    #[test]
    fn signed_values_store_the_wire_pattern() {
        let d =
            load("ATTRIBUTE S 200 signed\nVALUE S Minus-One -1\nVALUE S Max 2147483647\n").unwrap();
        let s = d.attr("S").unwrap();
        assert_eq!(d.value_number(s, "Minus-One"), Some(0xffff_ffff));
        assert_eq!(d.value_number(s, "Max"), Some(0x7fff_ffff));
        let errs = load("ATTRIBUTE S 200 signed\nVALUE S Big 2147483648\n").unwrap_err();
        assert!(matches!(errs[0].kind, Kind::NumberOutOfRange { .. }));
    }

    #[test]
    fn fixed_length_types() {
        let d = load("ATTRIBUTE A 70 octets[16]\n").unwrap();
        assert_eq!(d.attr("A").unwrap().flags.length, Some(16));
        let errs =
            load("ATTRIBUTE A 70 octets[0]\nATTRIBUTE B 71 integer[4]\nATTRIBUTE C 72 octets[4\n")
                .unwrap_err();
        assert_eq!(errs.len(), 3);
        assert!(matches!(errs[0].kind, Kind::NumberOutOfRange { .. }));
        assert!(matches!(errs[1].kind, Kind::TypeNotAllowed { .. }));
        assert!(matches!(errs[2].kind, Kind::UnknownType { .. }));
    }

    #[test]
    fn flag_columns_point_at_the_piece() {
        let errs = load("ATTRIBUTE A 1 string has_tag,bogus\n").unwrap_err();
        assert_eq!(errs[0].column, 30);
        assert_eq!(
            errs[0].kind,
            Kind::UnknownFlag {
                flag: "bogus".into()
            }
        );
    }

    #[test]
    fn evs_block() {
        let d = load(
            "VENDOR Acme 99999\nBEGIN-VENDOR Acme format=Extended-Vendor-Specific-5\n\
             ATTRIBUTE Acme-Long 7 octets\nEND-VENDOR Acme\n",
        )
        .unwrap();
        assert_eq!(
            d.attr("acme-long").unwrap().id,
            AttrId::ExtendedVendor {
                base: 245,
                vendor: 99999,
                typ: 7
            }
        );
    }
}
