//! The compiler: from parsed configuration files to a validated [`Program`].
//!
//! [`compile`] works in two passes over the top-level items of every loaded file:
//!
//! 1. **Names** ([`collect`]): every certificate, client list, server, backend (with
//!    its queries), policy and named pipeline gets its index; duplicate names are
//!    reported with a label at the first definition. The name table ([`Names`]) lets
//!    pipelines refer to backends and pipelines defined anywhere, in any order.
//! 2. **Sections**: every entry is checked key by key (unknown keys with a
//!    suggestion, repeated keys, missing required keys, values of the wrong type,
//!    references of the wrong kind, the constraints of the seeds) and built, with
//!    every default of [`crate::lang::program`] applied. Pipelines, conditions and
//!    query blocks are handed to [`lower`].
//!
//! Constructs of the language that Boomerang does not implement (see
//! `docs/configuration.md`) are reported as `` `construct` is not supported `` at
//! their location; nothing is skipped silently. Every problem is reported, not just
//! the first, and a [`Program`] is produced only when there is no error.
//!
//! The compiler does no IO: the environment (for `%{env.NAME}` in strings outside
//! pipelines) and dictionary files come through [`CompileOptions`].
//!
//! [`Program`]: crate::lang::program::Program
//! [`Names`]: names::Names

mod aaa;
mod backends;
mod certs;
mod clients;
mod cluster;
mod collect;
mod cx;
pub mod lower;
pub mod names;
mod ports;
mod servers;
mod settings;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use backends::DEFAULT_SQLITE_BUSY_TIMEOUT;

use crate::eval::ir::Library;
use crate::lang::diag::{Diagnostic, has_errors, render_all};
use crate::lang::load::Loaded;
use crate::lang::program::Program;
use crate::lang::source::SourceMap;
use crate::radius::dictionary::DictionarySource;

use cx::{Cx, Lowering};

/// What the compiler needs from outside the configuration text.
#[derive(Default)]
pub struct CompileOptions<'a> {
    /// The process environment: `%{env.NAME}` in strings outside pipelines reads it.
    /// A name that is not set is an error.
    pub env: BTreeMap<String, String>,
    dictionary_source: Option<RefCell<Box<dyn DictionarySource + 'a>>>,
}

impl std::fmt::Debug for CompileOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileOptions")
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("dictionary_source", &self.dictionary_source.is_some())
            .finish()
    }
}

impl<'a> CompileOptions<'a> {
    /// No environment and no dictionary files.
    pub fn new() -> CompileOptions<'a> {
        CompileOptions::default()
    }

    /// Use these environment variables for `%{env.NAME}`.
    pub fn with_env<I, K, V>(mut self, vars: I) -> CompileOptions<'a>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Read the files named by `dictionary { filename "…"; }` through `source`
    /// (paths arrive resolved against the configuration file that names them).
    /// Without a source, such a section is an error.
    pub fn with_dictionary_source(
        mut self,
        source: impl DictionarySource + 'a,
    ) -> CompileOptions<'a> {
        self.dictionary_source = Some(RefCell::new(Box::new(source)));
        self
    }
}

/// The result of [`compile`].
#[derive(Debug)]
pub struct Compiled {
    /// The program, present exactly when `diagnostics` holds no error.
    pub program: Option<Program>,
    /// Every diagnostic of the load (parse and include problems) and of the
    /// compilation, errors and warnings, ordered by file and position (diagnostics
    /// without a location first).
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// True when some diagnostic is an error (and so there is no program).
    pub fn has_errors(&self) -> bool {
        has_errors(&self.diagnostics)
    }

    /// All diagnostics rendered as `file:line:col: severity: message` with source
    /// lines and carets (see [`crate::lang::diag::render`]).
    pub fn render(&self, sources: &SourceMap) -> String {
        render_all(&self.diagnostics, sources)
    }
}

fn all<T>(v: Vec<Option<T>>) -> Option<Vec<T>> {
    v.into_iter().collect()
}

/// Compile a loaded configuration into a [`Program`], reporting every problem.
pub fn compile(loaded: &Loaded, options: &CompileOptions<'_>) -> Compiled {
    let mut cx = Cx::new(&loaded.sources, &options.env, &loaded.include_sites);
    let items: Vec<_> = loaded.items().collect();

    // Pass 1: names and indices.
    let col = collect::collect(&mut cx, &items);

    // The dictionary comes first: lowering resolves attribute names against it.
    let dictionary = settings::dictionary(
        &mut cx,
        &col.dictionaries,
        options.dictionary_source.as_ref(),
    );
    let lw = Lowering {
        dictionary: &dictionary,
        names: &col.names,
    };

    // Pass 2: every section, referenced entries before the entries referring to them.
    let certificates: Vec<_> = col
        .certificates
        .iter()
        .map(|c| certs::build(&mut cx, c))
        .collect();
    let lists: Vec<_> = col
        .client_lists
        .iter()
        .map(|l| clients::build(&mut cx, l))
        .collect();
    let backends: Vec<_> = col
        .backends
        .iter()
        .map(|b| backends::build(&mut cx, lw, &col, b))
        .collect();
    let policies: Vec<_> = col
        .policies
        .iter()
        .map(|p| aaa::policy(&mut cx, lw, p))
        .collect();
    let pipelines: Vec<_> = col
        .pipelines
        .iter()
        .map(|p| aaa::pipeline(&mut cx, lw, p))
        .collect();
    let mut warned = BTreeSet::new();
    let built = servers::Built {
        lists: &lists,
        backends: &backends,
    };
    let servers: Vec<_> = col
        .servers
        .iter()
        .map(|s| servers::build(&mut cx, &col, &built, s, &mut warned))
        .collect();
    cx.diags
        .extend(servers::certificate_binding_checks(&servers, &lists));
    cx.diags.extend(backends::reverse_secret_warnings(
        &backends, &servers, &lists,
    ));
    cx.diags
        .extend(backends::idle_timeout_warnings(&backends, &servers, &lists));
    let management = settings::management(&mut cx, col.management);
    let clashes = ports::clashes(&servers, &management, col.management.map(|b| b.span));
    cx.diags.extend(clashes);
    let logging = settings::logging(&mut cx, col.logging);
    let cluster = cluster::cluster(&mut cx, &col);

    let mut diagnostics = loaded.diagnostics.clone();
    diagnostics.append(&mut cx.diags);
    diagnostics.sort_by_key(|d| d.span.map(|s| (s.file, s.start)));

    let program = if has_errors(&diagnostics) {
        None
    } else {
        match (
            all(certificates),
            all(lists),
            all(backends),
            all(policies),
            all(servers),
        ) {
            (Some(certificates), Some(lists), Some(backends), Some(policies), Some(servers)) => {
                Some(Program {
                    dictionary: Arc::new(dictionary),
                    certificates,
                    client_lists: lists.into_iter().map(|l| l.list).collect(),
                    servers,
                    backends,
                    policies,
                    library: Arc::new(Library { pipelines }),
                    management,
                    logging,
                    cluster,
                })
            }
            _ => {
                // Every builder that returns nothing has reported an error; should one
                // ever not, say so rather than hand out a program with missing parts.
                diagnostics.push(Diagnostic::error_global(
                    "internal error: a configuration entry could not be built but no error was reported",
                ));
                None
            }
        }
    };
    Compiled {
        program,
        diagnostics,
    }
}
