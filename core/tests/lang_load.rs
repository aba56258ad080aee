//! Loading through the in-memory `SourceLoader`: directory order, includes relative
//! to the including file, `include_glob`, include cycles, and missing files.

use boomerang_core::lang::{Item, MemoryLoader, Severity, load, load_text};

fn keywords_and_names(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i.name_string() {
            Some(n) => format!("{} {n}", i.keyword().unwrap_or("?")),
            None => i.keyword().unwrap_or("?").to_owned(),
        })
        .collect()
}

#[test]
fn directory_loads_conf_and_radconf_in_name_order() {
    let fs = MemoryLoader::new()
        .with("etc/50_policies.radconf", "aaa \"50\" { }")
        .with("etc/10_certs.conf", "certificates \"10\" { }")
        .with("etc/30_backends.conf", "backends \"30\" { }")
        .with("etc/README.md", "not config {")
        .with("etc/20_old.conf.bak", "not config {")
        .with("etc/sub/99_nested.conf", "nested { }");
    let loaded = load(&fs, &["etc"]);
    assert!(
        loaded.diagnostics.is_empty(),
        "{}",
        loaded.render_diagnostics()
    );
    let paths: Vec<&str> = loaded.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "etc/10_certs.conf",
            "etc/30_backends.conf",
            "etc/50_policies.radconf"
        ]
    );
    let all: Vec<Item> = loaded.items().cloned().collect();
    assert_eq!(
        keywords_and_names(&all),
        ["certificates 10", "backends 30", "aaa 50"]
    );
}

#[test]
fn includes_are_relative_to_the_including_file_and_spliced_in_place() {
    let fs = MemoryLoader::new()
        .with("conf/main.conf", "a;\nclients {\n    include \"clients/local.conf\";\n}\nb;\ninclude \"../shared/common.conf\";\n")
        .with("conf/clients/local.conf", "client \"L\" { }\ninclude \"more.conf\";\n")
        .with("conf/clients/more.conf", "client \"M\" { }\n")
        .with("shared/common.conf", "common;\n");
    let loaded = load(&fs, &["conf/main.conf"]);
    assert!(
        loaded.diagnostics.is_empty(),
        "{}",
        loaded.render_diagnostics()
    );
    let top: Vec<Item> = loaded.items().cloned().collect();
    assert_eq!(keywords_and_names(&top), ["a", "clients", "b", "common"]);
    assert_eq!(
        keywords_and_names(top[1].children()),
        ["client L", "client M"]
    );
    // Spans of spliced items point into the included file.
    let m = &top[1].children()[1];
    assert_eq!(loaded.sources.name(m.span.file), "conf/clients/more.conf");
    assert_eq!(loaded.sources.len(), 4);
}

#[test]
fn include_of_a_directory_and_include_glob() {
    let fs = MemoryLoader::new()
        .with(
            "main.conf",
            "include \"conf.d\";\ninclude_glob \"extra/*.conf\";\ninclude_glob \"extra/[ab]?.inc\";\ninclude_glob \"none/*.conf\";\n",
        )
        .with("conf.d/b.conf", "b;")
        .with("conf.d/a.radconf", "a;")
        .with("conf.d/c.txt", "c {")
        .with("extra/z.conf", "z;")
        .with("extra/y.conf", "y;")
        .with("extra/.hidden.conf", "hidden;")
        .with("extra/a1.inc", "a1;")
        .with("extra/b2.inc", "b2;")
        .with("extra/c3.inc", "c3;");
    let loaded = load(&fs, &["main.conf"]);
    let top: Vec<Item> = loaded.items().cloned().collect();
    assert_eq!(keywords_and_names(&top), ["a", "b", "y", "z", "a1", "b2"]);
    // The pattern that matches nothing is a warning at the include.
    assert_eq!(
        loaded.render_diagnostics(),
        "main.conf:4:1: warning: `include_glob` pattern `none/*.conf` matches no files\n\
         include_glob \"none/*.conf\";\n\
         ^~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
    );
    assert!(!loaded.has_errors());
}

#[test]
fn include_cycle_is_an_error_at_the_include() {
    let fs = MemoryLoader::new()
        .with("a.conf", "x;\ninclude \"b.conf\";\n")
        .with("b.conf", "y;\n  include \"./a.conf\";\n");
    let loaded = load(&fs, &["a.conf"]);
    assert_eq!(
        loaded.render_diagnostics(),
        "b.conf:2:3: error: include cycle: `a.conf` is already being loaded\n\
         \x20 include \"./a.conf\";\n\
         \x20 ^~~~~~~~~~~~~~~~~~~\n\
         note: include chain: a.conf -> b.conf -> a.conf\n"
    );
    let top: Vec<Item> = loaded.items().cloned().collect();
    assert_eq!(keywords_and_names(&top), ["x", "y"]);
    // Self-inclusion too.
    let fs = MemoryLoader::new().with("s.conf", "include \"s.conf\";");
    assert!(load(&fs, &["s.conf"]).has_errors());
}

#[test]
fn missing_files_and_bad_includes_are_reported() {
    let fs = MemoryLoader::new().with(
        "m.conf",
        "include \"nope.conf\";\ninclude nope;\ninclude \"%{env.X}\";\n",
    );
    let loaded = load(&fs, &["m.conf", "absent.conf", "emptydir"]);
    let msgs: Vec<(Severity, String)> = loaded
        .diagnostics
        .iter()
        .map(|d| (d.severity, d.message.clone()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (Severity::Error, "`nope.conf` does not exist".to_owned()),
            (
                Severity::Error,
                "`include` expects one quoted path".to_owned()
            ),
            (
                Severity::Error,
                "`include` expects one quoted path".to_owned()
            ),
            (Severity::Error, "`absent.conf` does not exist".to_owned()),
            (Severity::Error, "`emptydir` does not exist".to_owned()),
        ]
    );
    assert!(
        loaded
            .render_diagnostics()
            .contains("error: `absent.conf` does not exist\n")
    );
}

#[test]
fn parse_errors_of_included_files_name_that_file() {
    let fs = MemoryLoader::new()
        .with("root.conf", "include \"sub/bad.conf\";\nok;\n")
        .with("sub/bad.conf", "good;\nip 1.2.3.999;\n");
    let loaded = load(&fs, &["root.conf"]);
    assert!(loaded.render_diagnostics().starts_with(
        "sub/bad.conf:2:4: error: invalid IPv4 address `1.2.3.999`\nip 1.2.3.999;\n   ^~~~~~~~~\n"
    ));
    let top: Vec<Item> = loaded.items().cloned().collect();
    assert_eq!(keywords_and_names(&top), ["good", "ok"]);
}

#[test]
fn load_text_resolves_includes_relative_to_its_name() {
    let fs = MemoryLoader::new().with("cfg/inc.conf", "inner;");
    let loaded = load_text(&fs, "cfg/default.conf", "outer;\ninclude \"inc.conf\";");
    assert!(loaded.diagnostics.is_empty());
    let top: Vec<Item> = loaded.items().cloned().collect();
    assert_eq!(keywords_and_names(&top), ["outer", "inner"]);
}
