//! The log file of `logging { file "…"; }`: opened by `run` (appended to, created if
//! missing), probed by `check` without creating or changing anything, and the
//! configuration position of the setting, for both to point at.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::Path;

use boomerang_core::lang::Loaded;
use boomerang_core::lang::span::Span;
use boomerang_core::lang::syntax::{Body, Item};

/// Open `path` for appending, creating it if missing, as `run` does.
pub fn open(path: &str) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the log file {path}: {e}"))
}

/// Whether [`open`] would succeed, without creating or changing anything: an existing
/// file must open for appending; a missing one needs a directory that exists and that
/// the process may create files in.
pub fn probe(path: &str) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot open the log file {path}: {e}");
    match OpenOptions::new().append(true).open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(fail(&e)),
        Err(_) => {}
    }
    let parent = match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(fail(&format_args!(
                "{} is not a directory",
                parent.display()
            )));
        }
        Err(e) => {
            return Err(fail(&format_args!(
                "the directory {}: {e}",
                parent.display()
            )));
        }
    }
    use rustix::fs::{Access, access};
    access(parent, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| {
        fail(&format_args!(
            "cannot create files in {}: {}",
            parent.display(),
            std::io::Error::from(e)
        ))
    })
}

/// The position of the `logging` setting that names the log file (`file "…";`, or
/// `application { file { filename "…"; } }`), the first one if several: the compiler
/// keeps the first and refuses the others.
pub fn setting_span(loaded: &Loaded) -> Option<Span> {
    let logging = loaded
        .items()
        .filter(|i| i.keyword() == Some("logging"))
        .filter_map(block);
    for items in logging {
        for it in items {
            match it.keyword() {
                Some("file") if matches!(it.body, Body::Semi) => return Some(it.span),
                Some("application") => {
                    let files = block(it)
                        .into_iter()
                        .flatten()
                        .filter(|d| d.keyword() == Some("file"))
                        .filter_map(block);
                    for f in files.flatten() {
                        if f.keyword() == Some("filename") {
                            return Some(f.span);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// The items of `item`'s block, if it has one.
fn block(item: &Item) -> Option<&[Item]> {
    match &item.body {
        Body::Block(b) => Some(b.items.as_slice()),
        Body::Semi => None,
    }
}
