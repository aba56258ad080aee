//! Classification of atoms (word-like tokens) into literals and paths, written with
//! `winnow` combinators.
//!
//! Order of interpretation, for an atom `t`:
//! 1. `true`, `false`, `none`, `any`;
//! 2. `0x…` → bytes (an even, non-zero number of hex digits);
//! 3. containing `::` or at least two `:` → IPv6 address or prefix;
//! 4. starting with a digit (or `-digit`): an IPv4 address/prefix when it contains `/`
//!    or two or more dots; otherwise, when it contains only letters, digits and dots,
//!    an integer, a decimal number or a duration (`1m30s`); otherwise (`3GPP-IMSI`) a
//!    path;
//! 5. anything else → a path (`radius.request.attr.User-Name`, `Tunnel-Type:1`,
//!    `email[0]`, `@execute`, `udp`).
//!
//! An atom that fits none of these is an error with a specific message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use winnow::ascii::digit1;
use winnow::combinator::{alt, opt, preceded, repeat, terminated};
use winnow::error::ContextError;
use winnow::prelude::*;
use winnow::token::{one_of, take_while};

use crate::lang::span::{FileId, Span};
use crate::lang::syntax::{DurationLit, DurationUnit, Index, LitKind, Path, Segment};

/// What an atom turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AtomValue {
    Lit(LitKind),
    Path(Path),
}

/// Why an atom is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AtomError {
    pub message: String,
    pub help: Option<String>,
}

fn err(message: String, help: Option<&str>) -> AtomError {
    AtomError {
        message,
        help: help.map(str::to_owned),
    }
}

/// Classify atom `text`, which starts at byte `base` of file `file`.
pub(crate) fn classify(text: &str, base: usize, file: FileId) -> Result<AtomValue, AtomError> {
    match text {
        "true" => return Ok(AtomValue::Lit(LitKind::Bool(true))),
        "false" => return Ok(AtomValue::Lit(LitKind::Bool(false))),
        "none" => return Ok(AtomValue::Lit(LitKind::None)),
        "any" => return Ok(AtomValue::Lit(LitKind::Any)),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return hex_bytes(hex)
            .map(|b| AtomValue::Lit(LitKind::Bytes(b)))
            .ok_or_else(|| {
                err(
                    format!("invalid hex bytes `{text}`"),
                    Some("write an even number of hex digits after `0x`, e.g. `0xaa00`"),
                )
            });
    }
    let colons = text.bytes().filter(|&c| c == b':').count();
    if text.contains("::") || colons >= 2 {
        return ip_or_prefix::<Ipv6Addr>(text, 128)
            .ok_or_else(|| err(format!("invalid IPv6 address `{text}`"), None))
            .and_then(|r| r.map_err(|e| err(e, None)))
            .map(AtomValue::Lit);
    }
    let digit_start = text
        .strip_prefix('-')
        .unwrap_or(text)
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_digit());
    if digit_start {
        let dots = text.split('/').next().unwrap_or("").matches('.').count();
        if !text.starts_with('-') && (text.contains('/') || dots >= 2) {
            return ip_or_prefix::<Ipv4Addr>(text, 32)
                .ok_or_else(|| {
                    err(
                        format!("invalid IPv4 address `{text}`"),
                        Some("write four numbers 0-255 separated by dots, e.g. `192.0.2.1` or `10.0.0.0/8`"),
                    )
                })
                .and_then(|r| r.map_err(|e| err(e, None)))
                .map(AtomValue::Lit);
        }
        let rest = text.strip_prefix('-').unwrap_or(text);
        if rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.') {
            return number(text).map(AtomValue::Lit);
        }
    }
    path_atom(text, base, file).map(AtomValue::Path)
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|c| c.is_ascii_hexdigit())
    {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| {
            hex.get(2 * i..2 * i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

/// `addr` or `addr/len`. `None` when the address does not parse; `Some(Err)` for a bad
/// prefix length.
fn ip_or_prefix<A>(text: &str, max: u8) -> Option<Result<LitKind, String>>
where
    A: std::str::FromStr + Into<IpAddr>,
{
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse::<A>().ok()?.into();
    Some(match len {
        None => Ok(LitKind::Ip(addr)),
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max && l.bytes().all(|c| c.is_ascii_digit()) => {
                Ok(LitKind::Prefix { addr, len: n })
            }
            _ => Err(format!(
                "invalid prefix length `/{l}` in `{text}` (must be 0 to {max})"
            )),
        },
    })
}

/// Integer, decimal or duration.
fn number(text: &str) -> Result<LitKind, AtomError> {
    let has_letter = text.bytes().any(|c| c.is_ascii_alphabetic());
    if has_letter {
        let parts = duration.parse(text).map_err(|_| {
            err(
                format!("invalid duration `{text}`"),
                Some("units are ms, s, m (minutes), h, d, w, M (months), y, e.g. `1m30s`"),
            )
        })?;
        let lit = DurationLit { parts };
        if lit.millis().is_none() {
            return Err(err(format!("duration `{text}` is out of range"), None));
        }
        return Ok(LitKind::Duration(lit));
    }
    let shape = (opt('-'), digit1::<&str, ContextError>, opt(('.', digit1)))
        .take()
        .parse(text);
    match shape {
        Ok(_) if text.contains('.') => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(LitKind::Float(f)),
            _ => Err(err(format!("number `{text}` is out of range"), None)),
        },
        Ok(_) => text
            .parse::<i128>()
            .map(LitKind::Int)
            .map_err(|_| err(format!("integer `{text}` is out of range"), None)),
        Err(_) => Err(err(format!("invalid number `{text}`"), None)),
    }
}

fn duration(input: &mut &str) -> winnow::Result<Vec<(u64, DurationUnit)>> {
    repeat(1.., (digit1.try_map(str::parse::<u64>), unit)).parse_next(input)
}

fn unit(input: &mut &str) -> winnow::Result<DurationUnit> {
    alt((
        "ms".value(DurationUnit::Millis),
        one_of(['s', 'm', 'h', 'd', 'w', 'M', 'y']).map(|c| match c {
            's' => DurationUnit::Seconds,
            'm' => DurationUnit::Minutes,
            'h' => DurationUnit::Hours,
            'd' => DurationUnit::Days,
            'w' => DurationUnit::Weeks,
            'M' => DurationUnit::Months,
            _ => DurationUnit::Years,
        }),
    ))
    .parse_next(input)
}

/// Offsets of sub-slices relative to the atom, for spans.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    full: &'a str,
    base: usize,
    file: FileId,
}

impl Ctx<'_> {
    fn off(&self, rest: &str) -> u32 {
        crate::lang::lexer::to_u32(self.base + self.full.len().saturating_sub(rest.len()))
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn path_atom(text: &str, base: usize, file: FileId) -> Result<Path, AtomError> {
    let ctx = Ctx {
        full: text,
        base,
        file,
    };
    path(ctx, true).parse(text).map_err(|_| {
        err(
            format!("invalid name `{text}`"),
            Some("names are letters, digits, `_` and `-`, joined by `.`, e.g. `radius.request.attr.User-Name`"),
        )
    })
}

fn path<'a>(ctx: Ctx<'a>, allow_index: bool) -> impl Parser<&'a str, Path, ContextError> {
    move |i: &mut &'a str| {
        let start = ctx.off(i);
        let first = segment(ctx, true, allow_index).parse_next(i)?;
        let mut segments = vec![first];
        let rest: Vec<Segment> =
            repeat(0.., preceded('.', segment(ctx, false, allow_index))).parse_next(i)?;
        segments.extend(rest);
        Ok(Path {
            segments,
            span: Span::new(ctx.file, start, ctx.off(i)),
        })
    }
}

fn segment<'a>(
    ctx: Ctx<'a>,
    first: bool,
    allow_index: bool,
) -> impl Parser<&'a str, Segment, ContextError> {
    move |i: &mut &'a str| {
        let start = ctx.off(i);
        let name = if first {
            (opt('@'), take_while(1.., is_name_char))
                .take()
                .parse_next(i)?
        } else {
            take_while(1.., is_name_char).parse_next(i)?
        };
        let tag = opt(preceded(':', digit1.try_map(str::parse::<u32>))).parse_next(i)?;
        let index = if allow_index {
            opt(preceded('[', terminated(index(ctx), ']'))).parse_next(i)?
        } else {
            None
        };
        Ok(Segment {
            name: name.to_owned(),
            tag,
            index,
            span: Span::new(ctx.file, start, ctx.off(i)),
        })
    }
}

fn index<'a>(ctx: Ctx<'a>) -> impl Parser<&'a str, Index, ContextError> {
    move |i: &mut &'a str| {
        alt((
            digit1.try_map(str::parse::<u64>).map(Index::Pos),
            terminated('n', winnow::combinator::peek(']')).value(Index::Last),
            '*'.value(Index::All),
            path(ctx, false).map(|p| Index::Key(Box::new(p))),
        ))
        .parse_next(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(t: &str) -> LitKind {
        match classify(t, 0, FileId(0)) {
            Ok(AtomValue::Lit(l)) => l,
            other => panic!("{t}: {other:?}"),
        }
    }

    fn bad(t: &str) -> String {
        match classify(t, 0, FileId(0)) {
            Err(e) => e.message,
            other => panic!("{t}: {other:?}"),
        }
    }

    #[test]
    fn literals() {
        assert_eq!(lit("42"), LitKind::Int(42));
        assert_eq!(lit("-7"), LitKind::Int(-7));
        assert_eq!(lit("1.5"), LitKind::Float(1.5));
        assert_eq!(lit("0xaa00"), LitKind::Bytes(vec![0xaa, 0]));
        assert_eq!(lit("::"), LitKind::Ip("::".parse().unwrap()));
        assert_eq!(
            lit("2001:db8:aaaa:bbbb::/64"),
            LitKind::Prefix {
                addr: "2001:db8:aaaa:bbbb::".parse().unwrap(),
                len: 64
            }
        );
        assert_eq!(lit("0.0.0.0"), LitKind::Ip("0.0.0.0".parse().unwrap()));
        let LitKind::Duration(d) = lit("1m30s") else {
            panic!()
        };
        assert_eq!(d.millis(), Some(90_000));
        let LitKind::Duration(d) = lit("2M") else {
            panic!()
        };
        assert_eq!(d.millis(), Some(60 * 86_400_000));
        let LitKind::Duration(d) = lit("250ms") else {
            panic!()
        };
        assert_eq!(d.millis(), Some(250));
    }

    #[test]
    fn paths() {
        let Ok(AtomValue::Path(p)) =
            classify("connection.cert.subject_alt.email[0]", 10, FileId(0))
        else {
            panic!()
        };
        assert_eq!(p.segments.len(), 4);
        assert_eq!(p.segments[3].index, Some(Index::Pos(0)));
        assert_eq!(p.segments[3].span, Span::new(FileId(0), 38, 46));
        let Ok(AtomValue::Path(p)) = classify("Tunnel-Type:1", 0, FileId(0)) else {
            panic!()
        };
        assert_eq!(p.segments[0].tag, Some(1));
        assert!(matches!(
            classify("3GPP-IMSI", 0, FileId(0)),
            Ok(AtomValue::Path(_))
        ));
        assert!(matches!(
            classify("@final-execute", 0, FileId(0)),
            Ok(AtomValue::Path(_))
        ));
        let Ok(AtomValue::Path(p)) = classify("cache.groups[aaa.identity]", 0, FileId(0)) else {
            panic!()
        };
        assert!(matches!(p.segments[1].index, Some(Index::Key(_))));
    }

    #[test]
    fn errors() {
        assert!(bad("10.0.0.256").contains("invalid IPv4"));
        assert!(bad("10.0.0.0/33").contains("prefix length"));
        assert!(bad("2001:db8::zz").contains("invalid IPv6"));
        assert!(bad("5sec").contains("invalid duration"));
        assert!(bad("1.2.3").contains("invalid IPv4"));
        assert!(bad("0xabc").contains("hex"));
        assert!(bad("a//b").contains("invalid name"));
        assert!(bad("a.@b").contains("invalid name"));
    }
}
