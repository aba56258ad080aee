//! `boomerang check -c PATH…`: load and compile the configuration, make sure every
//! certificate and key file it names exists and parses, print every problem found as
//! `file:line:col: error: …` with the source line and a caret, and exit 0 (with
//! `configuration OK` and a summary) or 1.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use boomerang_core::lang::Diagnostic;
use boomerang_core::lang::diag::has_errors;
use boomerang_core::lang::program::{
    BackendKind, CertificateId, CertificateKind, Program, RadiusListen, RadiusServerMode,
    ServerKind,
};
use clap::Args;

use crate::config_files::load_and_compile;
use crate::tls::{load_ca_bundle, load_certificates, load_private_key};

/// Arguments of `boomerang check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A configuration file, or a directory whose `*.conf` and `*.radconf` files load in
    /// name order; repeat to load several in the order given.
    #[arg(short = 'c', long = "config", value_name = "PATH", required = true)]
    pub config: Vec<PathBuf>,
    /// Do not read the certificate and key files the configuration names: validate
    /// the configuration alone, e.g. in a CI pipeline or on a machine that does not
    /// hold the keys. The summary line says the files were not checked.
    #[arg(long)]
    pub skip_files: bool,
}

/// The certificates used as trust anchors (client or server CAs): these must also be
/// usable as such, not merely parse.
fn ca_certificates(program: &Program) -> BTreeSet<CertificateId> {
    let mut out = BTreeSet::new();
    for server in &program.servers {
        let tls = match &server.kind {
            ServerKind::Radius(r) => match &r.listen {
                RadiusListen::Network(n) => n.tls.as_ref(),
                RadiusListen::Backend(_) => None,
            },
            ServerKind::Http(h) => h.tls.as_ref(),
        };
        if let Some(ca) = tls.and_then(|t| t.client_ca_certificate) {
            out.insert(ca);
        }
    }
    for backend in &program.backends {
        if let BackendKind::Radius(r) = &backend.kind {
            for s in &r.servers {
                if let RadiusServerMode::Connect(c) = &s.mode {
                    if let Some(tls) = &c.tls {
                        out.insert(tls.server_ca_certificate);
                    }
                }
            }
        }
    }
    out
}

/// Check that every certificate and key file of `program` exists and parses; one
/// diagnostic (at the entry that names the file) per file that does not.
pub fn check_certificate_files(program: &Program) -> Vec<Diagnostic> {
    let cas = ca_certificates(program);
    let mut out = Vec::new();
    for (index, cert) in program.certificates.iter().enumerate() {
        let id = CertificateId(u32::try_from(index).unwrap_or(u32::MAX));
        let result = match &cert.kind {
            CertificateKind::X509 { path } => {
                if cas.contains(&id) {
                    load_ca_bundle(Path::new(path)).map(|_| ())
                } else {
                    load_certificates(Path::new(path)).map(|_| ())
                }
            }
            CertificateKind::Key { path, password } => {
                load_private_key(Path::new(path), password.as_deref()).map(|_| ())
            }
        };
        if let Err(e) = result {
            let what = match cert.kind {
                CertificateKind::X509 { .. } => "certificate",
                CertificateKind::Key { .. } => "key",
            };
            out.push(Diagnostic::error(
                cert.span,
                format!("{what} `{}`: {e}", cert.name),
            ));
        }
    }
    out
}

/// Run `boomerang check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let mut paths = Vec::new();
    for p in &args.config {
        match p.to_str() {
            Some(s) => paths.push(s.to_owned()),
            None => {
                eprintln!(
                    "error: the path `{}` is not valid UTF-8 and cannot be loaded",
                    p.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (loaded, compiled) = load_and_compile(&refs);
    let mut diagnostics = compiled.diagnostics;
    if let Some(program) = &compiled.program {
        if !args.skip_files {
            diagnostics.extend(check_certificate_files(program));
        }
    }
    let stderr = boomerang_core::lang::render_all(&diagnostics, &loaded.sources);
    // Output errors (a closed pipe) cannot be reported anywhere; the exit code stays.
    let _ = std::io::stderr().write_all(stderr.as_bytes());
    if has_errors(&diagnostics) {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let _ = writeln!(
            std::io::stderr(),
            "configuration has {errors} error{}",
            if errors == 1 { "" } else { "s" }
        );
        return ExitCode::FAILURE;
    }
    match &compiled.program {
        Some(program) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "configuration OK");
            let _ = writeln!(out, "{}", program.summary());
            if args.skip_files && !program.certificates.is_empty() {
                let n = program.certificates.len();
                let _ = writeln!(
                    out,
                    "certificate and key files not checked (--skip-files): {n} named"
                );
            }
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}
