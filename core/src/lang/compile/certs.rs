//! `certificates { x509 "N" { filename "…"; } key "N" { filename "…"; password "…"; } }`
//! and the references to them from `tls { … }` blocks.

use crate::lang::compile::collect::{CertEntry, CertTag, Collected};
use crate::lang::compile::cx::{Cx, Seen};
use crate::lang::diag::{Diagnostic, suggest};
use crate::lang::program::{Certificate, CertificateId, CertificateKind};
use crate::lang::syntax::Item;

/// Build one `certificates` entry.
pub(crate) fn build(cx: &mut Cx<'_>, c: &CertEntry<'_>) -> Option<Certificate> {
    let kw = c.tag.keyword();
    let valid: &[&str] = match c.tag {
        CertTag::X509 => &["filename"],
        CertTag::Key => &["filename", "password"],
    };
    let place = format!("{kw} `{}`", c.e.name);
    let mut seen = Seen::default();
    let mut path = None;
    let mut password = None;
    let errors = cx.error_count();
    for item in &c.e.block.items {
        match item.keyword() {
            Some(k @ "filename") if seen.first(cx, k, item) => {
                if let Some((p, span)) = cx.string(item) {
                    if p.is_empty() {
                        cx.error(span, "`filename` is empty");
                    } else {
                        path = Some(cx.resolve_path(span, &p));
                    }
                }
            }
            Some(k @ "password") if c.tag == CertTag::Key && seen.first(cx, k, item) => {
                password = cx.string(item).map(|(p, _)| p);
            }
            Some("filename" | "password") if valid.contains(&item.keyword().unwrap_or("")) => {}
            _ => cx.other_key(item, &place, valid, &[]),
        }
    }
    if seen.get("filename").is_none() {
        cx.push(
            Diagnostic::error(
                c.e.item.keyword_span(),
                format!("{place} has no `filename`"),
            )
            .with_help(format!(
                "add `filename \"PATH\";` to `{kw} \"{}\"`",
                c.e.name
            )),
        );
    }
    if cx.error_count() > errors {
        return None;
    }
    let path = path?;
    let kind = match c.tag {
        CertTag::X509 => CertificateKind::X509 { path },
        CertTag::Key => CertificateKind::Key { path, password },
    };
    Some(Certificate {
        name: c.e.name.clone(),
        span: c.e.name_span,
        kind,
    })
}

/// Resolve the certificate named by statement `item` (`certificate "N";`), which must
/// be of kind `want`.
pub(crate) fn reference(
    cx: &mut Cx<'_>,
    col: &Collected<'_>,
    item: &Item,
    want: CertTag,
) -> Option<CertificateId> {
    let kw = item.keyword().unwrap_or("?");
    let (name, span) = cx.name_ref(item)?;
    let Some(&index) = col.cert_index.get(&name) else {
        let mut d = Diagnostic::error(span, format!("unknown certificate `{name}`"));
        let names = col
            .certificates
            .iter()
            .filter(|c| c.tag == want)
            .map(|c| c.e.name.as_str());
        d = match suggest(&name, names) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "define it in `certificates {{ {} \"{name}\" {{ filename \"…\"; }} }}`",
                want.keyword()
            )),
        };
        cx.push(d);
        return None;
    };
    let entry = col.certificates.get(index)?;
    if entry.tag != want {
        let (article, what) = match entry.tag {
            CertTag::X509 => ("an", "`x509` certificate"),
            CertTag::Key => ("a", "`key`"),
        };
        let wanted = match want {
            CertTag::X509 => "an `x509` entry",
            CertTag::Key => "a `key` entry",
        };
        cx.push(
            Diagnostic::error(
                span,
                format!("`{kw}` must name {wanted}, but `{name}` is {article} {what}"),
            )
            .with_label(entry.e.name_span, format!("`{name}` is defined here")),
        );
        return None;
    }
    Some(CertificateId(u32::try_from(index).ok()?))
}
