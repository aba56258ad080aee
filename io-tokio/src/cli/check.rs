//! `boomerang check -c PATH…`: everything `boomerang run` would refuse that can be
//! known without binding a socket. It loads and compiles the configuration (which
//! refuses, among the rest, two listeners on the same port), makes sure every
//! certificate and key file it names exists and parses, builds every listener's TLS
//! configuration as `run` does (a key that does not match its certificate), and
//! opens every SQLite database the way `run` would without creating or changing
//! anything (preparing every query's statement against it, as `run` does), and makes sure the log file could be opened (again creating nothing). It prints every problem found as `file:line:col: error: …` with the
//! source line and a caret, warns about a configuration that defines nothing to
//! serve, and exits 0 (with `configuration OK` and a summary; warnings do not fail)
//! or 1.

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
use crate::driver::server_tls_settings;
use crate::sqlite::{StatementProblem, probe_database, probe_statements};
use crate::tls::{load_ca_bundle, load_certificates, load_private_key};
use boomerang_core::lang::program::ServerTls;
use boomerang_core::lang::span::Span;
use boomerang_core::lang::{Item, Loaded};

/// Arguments of `boomerang check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A configuration file, or a directory whose `*.conf` and `*.radconf` files load in
    /// name order; repeat to load several in the order given.
    #[arg(short = 'c', long = "config", value_name = "PATH", required = true)]
    pub config: Vec<PathBuf>,
    /// Do not read the certificate, key, SQLite database and log files the
    /// configuration names (nor build TLS configurations from them): validate
    /// the configuration alone, e.g. in a CI pipeline or on a machine that does not
    /// hold the keys. The summary line says the files were not checked.
    #[arg(long)]
    pub skip_files: bool,
}

/// The certificates used as trust anchors (client, server or NATS CAs): these must also be
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
                if let RadiusServerMode::Connect(c) = &s.mode
                    && let Some(tls) = &c.tls
                {
                    out.insert(tls.server_ca_certificate);
                }
            }
        }
    }
    // The CA of `cluster { nats { tls { ca …; } } }` verifies the NATS servers.
    if let Some(tls) = program.cluster.as_ref().and_then(|c| c.nats.tls.as_ref()) {
        out.insert(tls.ca);
    }
    out
}

/// Check that every certificate and key file of `program` exists and parses; one
/// diagnostic (at the entry that names the file) per file that does not.
pub fn check_certificate_files(program: &Program) -> Vec<Diagnostic> {
    certificate_file_problems(program).1
}

/// The certificate entries whose file failed, and the diagnostics saying why.
fn certificate_file_problems(program: &Program) -> (BTreeSet<CertificateId>, Vec<Diagnostic>) {
    let cas = ca_certificates(program);
    let mut failed = BTreeSet::new();
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
            failed.insert(id);
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
    (failed, out)
}

/// The `tls { … }` block of a listener (RadSec or HTTPS), if it has one.
fn listener_tls(kind: &ServerKind) -> Option<&ServerTls> {
    match kind {
        ServerKind::Radius(r) => match &r.listen {
            RadiusListen::Network(n) => n.tls.as_ref(),
            RadiusListen::Backend(_) => None,
        },
        ServerKind::Http(h) => h.tls.as_ref(),
    }
}

/// Build every listener's TLS configuration from its files as `run` does, which
/// also checks that the key matches the certificate; one diagnostic (at the server)
/// per listener whose configuration cannot be built. Listeners naming a file that
/// already failed (`failed`) are skipped: that file has its own diagnostic.
fn check_listener_tls(program: &Program, failed: &BTreeSet<CertificateId>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for server in &program.servers {
        let Some(tls) = listener_tls(&server.kind) else {
            continue;
        };
        let named = [
            Some(tls.certificate),
            Some(tls.certificate_key),
            tls.client_ca_certificate,
        ];
        if named.iter().flatten().any(|id| failed.contains(id)) {
            continue;
        }
        let built = server_tls_settings(program, &server.name, tls)
            .map_err(|e| e.to_string())
            .and_then(|settings| settings.build_config().map_err(|e| e.to_string()));
        if let Err(e) = built {
            out.push(Diagnostic::error(
                server.span,
                format!("TLS of server `{}` cannot be set up: {e}", server.name),
            ));
        }
    }
    out
}

/// Open every SQLite backend's database as `run` would, without creating or
/// changing anything ([`probe_database`]); one diagnostic (at the backend) per
/// database that would not open.
pub fn check_databases(program: &Program) -> Vec<Diagnostic> {
    program
        .backends
        .iter()
        .filter_map(|b| match &b.kind {
            BackendKind::Sqlite(s) => probe_database(&s.path)
                .err()
                .map(|e| Diagnostic::error(b.span, format!("backend `{}`: {e}", b.name))),
            BackendKind::Radius(_) => None,
        })
        .collect()
}

/// Prepare every SQLite query's statement against its database, as `run` does at
/// start ([`probe_statements`]); one diagnostic per problem, at the statement, or at
/// the mapping entry that reads a column the statement does not return.
fn check_statements(program: &Program, loaded: &Loaded) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for b in &program.backends {
        let BackendKind::Sqlite(s) = &b.kind else {
            continue;
        };
        for (index, problem) in probe_statements(&s.path, &s.queries) {
            let Some(query) = s.queries.get(index) else {
                continue;
            };
            let entry = sql_query_item(loaded, &b.name, &query.name);
            let span = match (&problem, entry) {
                (StatementProblem::Prepare(_), Some(item)) => item
                    .children()
                    .iter()
                    .find(|i| matches!(i.keyword(), Some("query" | "statement")))
                    .and_then(|i| i.terms.last())
                    .map_or(item.keyword_span(), |t| t.span()),
                (StatementProblem::MissingColumn { index, .. }, Some(item)) => item
                    .children()
                    .iter()
                    .find(|i| matches!(i.keyword(), Some("mapping" | "mappings")))
                    .and_then(|m| m.children().get(*index))
                    .and_then(|line| line.terms.last())
                    .map_or(item.keyword_span(), |t| t.span()),
                (_, None) => b.span,
            };
            out.push(Diagnostic::error(
                span,
                format!("backend `{}`, query `{}`: {problem}", b.name, query.name),
            ));
        }
    }
    out
}

/// The `query "QUERY" { … }` item of `sqlite "BACKEND" { … }` in the configuration's
/// syntax (the first, as the compiler keeps it).
fn sql_query_item<'a>(loaded: &'a Loaded, backend: &str, query: &str) -> Option<&'a Item> {
    loaded
        .items()
        .filter(|i| i.keyword() == Some("backends"))
        .flat_map(|i| i.children())
        .filter(|i| i.keyword() == Some("sqlite") && i.name_string() == Some(backend))
        .flat_map(|i| i.children())
        .find(|i| i.keyword() == Some("query") && i.name_string() == Some(query))
}

/// Whether `run` could open the log file (`logging { file "…"; }`), without creating
/// it ([`crate::log_file::probe`]); the diagnostic is at the setting, or global if it
/// cannot be found.
fn check_log_file(program: &Program, loaded: &Loaded) -> Option<Diagnostic> {
    let path = program.logging.file.as_deref()?;
    let e = crate::log_file::probe(path).err()?;
    Some(match crate::log_file::setting_span(loaded) {
        Some(span) => Diagnostic::error(span, e),
        None => Diagnostic::error_global(e),
    })
}

/// A warning when the configuration defines no server and no backend: `run` would
/// start and serve nothing but the management listener. It is placed at the start
/// of the first file loaded.
fn check_empty(program: &Program, loaded: &Loaded) -> Option<Diagnostic> {
    if !program.servers.is_empty() || !program.backends.is_empty() {
        return None;
    }
    let message = "the configuration defines no servers and no backends: \
                   `boomerang run` would serve nothing";
    let d = match loaded.files.first() {
        Some(f) => Diagnostic::warning(Span::new(f.id, 0, 0), message),
        None => Diagnostic::new(boomerang_core::lang::diag::Severity::Warning, None, message),
    };
    Some(d.with_help("add a `servers { … }` section (see docs/configuration.md)"))
}

/// Everything `run` would refuse in a compiled `program` that the compiler cannot
/// know (it does no IO), short of binding sockets, plus the empty-configuration
/// warning. `files`: read the certificate, key and database files.
pub fn check_program(program: &Program, loaded: &Loaded, files: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if files {
        let (failed, problems) = certificate_file_problems(program);
        out.extend(problems);
        out.extend(check_listener_tls(program, &failed));
        out.extend(check_databases(program));
        out.extend(check_statements(program, loaded));
        out.extend(check_log_file(program, loaded));
    }
    out.extend(check_empty(program, loaded));
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
        diagnostics.extend(check_program(program, &loaded, !args.skip_files));
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
