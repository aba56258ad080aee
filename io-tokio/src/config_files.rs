//! Configuration and dictionary files on the real file system: the [`SourceLoader`]
//! and [`DictionarySource`] the sans-IO core reads through, and the load-and-compile
//! step every command that takes `-c PATH` runs.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

use boomerang_core::lang::compile::{CompileOptions, Compiled, compile};
use boomerang_core::lang::{LoadError, Loaded, SourceLoader, load};
use boomerang_core::radius::dictionary::{
    DictionarySource, SourceError, SourceFile, join_relative,
};

/// Largest configuration or dictionary file read (16 MiB): real files are a few
/// kilobytes, so anything larger is a wrong path rather than configuration.
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads configuration files with `std::fs`. Paths are used as given (relative ones
/// against the working directory).
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

fn read_text(path: &str) -> Result<String, LoadError> {
    use crate::bounded_file::{BoundedReadError, read};
    let bytes = read(Path::new(path), MAX_CONFIG_FILE_BYTES).map_err(|e| match e {
        BoundedReadError::Io(e) if e.kind() == ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
        },
        other => LoadError::Io {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let error = e.utf8_error();
        LoadError::not_utf8(path, e.as_bytes(), error)
    })
}

impl SourceLoader for FsLoader {
    fn read(&self, path: &str) -> Result<String, LoadError> {
        read_text(path)
    }

    fn is_dir(&self, path: &str) -> bool {
        Path::new(path).is_dir()
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, LoadError> {
        let entries = std::fs::read_dir(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => LoadError::NotFound {
                path: path.to_owned(),
            },
            _ => LoadError::Io {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::Io {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            // Names that are not UTF-8 cannot be named in configuration; skip them.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Reads dictionary files (and their `$INCLUDE`s) with `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsDictionarySource;

impl DictionarySource for FsDictionarySource {
    fn read(&mut self, path: &str, relative_to: Option<&str>) -> Result<SourceFile, SourceError> {
        let name = join_relative(path, relative_to);
        match read_text(&name) {
            Ok(text) => Ok(SourceFile { name, text }),
            Err(LoadError::NotFound { .. }) => Err(SourceError::NotFound),
            Err(e) => Err(SourceError::Unreadable(e.to_string())),
        }
    }
}

/// The process environment as seen by `%{env.NAME}` (variables whose name or value
/// is not valid UTF-8 are left out).
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Load the configuration at `paths` (files, or directories whose `*.conf` and
/// `*.radconf` files load in name order) and compile it with the process
/// environment and dictionary files from the file system.
pub fn load_and_compile(paths: &[&str]) -> (Loaded, Compiled) {
    let loaded = load(&FsLoader, paths);
    let options = CompileOptions::new()
        .with_env(process_env())
        .with_dictionary_source(FsDictionarySource);
    let compiled = compile(&loaded, &options);
    (loaded, compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_directories_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b.conf"), "x;").unwrap();
        std::fs::write(d.join("a.radconf"), "y;").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let p = d.to_str().unwrap();
        assert!(FsLoader.is_dir(p));
        assert_eq!(
            FsLoader.list_dir(p).unwrap(),
            ["a.radconf", "b.conf", "sub"]
        );
        assert_eq!(FsLoader.read(&format!("{p}/b.conf")).unwrap(), "x;");
        assert!(matches!(
            FsLoader.read(&format!("{p}/nope.conf")),
            Err(LoadError::NotFound { .. })
        ));
        assert!(matches!(
            FsLoader.read(&format!("{p}/sub")),
            Err(LoadError::Io { .. })
        ));
        std::fs::write(d.join("bin.conf"), b"ok;\n\xc3\xa9 \xff\xfe").unwrap();
        assert!(matches!(
            FsLoader.read(&format!("{p}/bin.conf")),
            Err(LoadError::NotUtf8 {
                offset: 7,
                byte: 0xff,
                ..
            })
        ));
    }

    #[test]
    fn dictionary_includes_resolve_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("dict")).unwrap();
        std::fs::write(d.join("dict/main"), "$INCLUDE inc\n").unwrap();
        std::fs::write(d.join("dict/inc"), "ATTRIBUTE X 250 string\n").unwrap();
        let main = format!("{}/dict/main", d.to_str().unwrap());
        let mut src = FsDictionarySource;
        let f = src.read(&main, None).unwrap();
        assert_eq!(f.text, "$INCLUDE inc\n");
        let inc = src.read("inc", Some(&f.name)).unwrap();
        assert_eq!(inc.text, "ATTRIBUTE X 250 string\n");
        assert_eq!(src.read("nope", Some(&f.name)), Err(SourceError::NotFound));
    }
}
