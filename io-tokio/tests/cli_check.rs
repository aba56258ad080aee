//! `boomerang check` run as a real process: every shipped example (with a freshly
//! generated development PKI) is OK; broken configurations exit 1 with
//! `file:line:col: error: …` diagnostics; missing or unparsable certificate files
//! are reported with their path and the configuration line that names them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use boomerang_io_tokio::pki::{ClientSpec, DevPki};

fn boomerang(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boomerang"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run boomerang")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn config_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// Copy the files of `src` (not subdirectories) into `dst`.
fn copy_files(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn generate_pki(dir: &Path) {
    DevPki::generate(dir, &[], &[ClientSpec::new("nas1")]).expect("development PKI");
}

#[test]
fn every_example_checks_ok_with_its_pki() {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(config_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    examples.sort();
    assert_eq!(examples.len(), 8);
    for example in &examples {
        let name = example.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(&name);
        copy_files(example, &dir);
        generate_pki(&dir.join("certs"));
        // An example is its directory, except one whose files are separate
        // configurations (the cluster's nodes): each is checked on its own.
        let mut configs = vec![name.clone()];
        if !example.join("boomerang.conf").exists() {
            configs = std::fs::read_dir(example)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|f| f.ends_with(".conf"))
                .map(|f| format!("{name}/{f}"))
                .collect();
            configs.sort();
            assert!(!configs.is_empty(), "{name} holds no configuration");
        }
        for config in &configs {
            let out = boomerang(&["check", "-c", config], tmp.path());
            let stdout = text(&out.stdout);
            let stderr = text(&out.stderr);
            assert!(out.status.success(), "{config}: {stderr}");
            assert!(
                stdout.starts_with("configuration OK\n"),
                "{config}: {stdout}"
            );
            assert_eq!(stderr, "", "{config}");
        }
    }
}

#[test]
fn default_configuration_checks_ok_with_its_pki() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        config_root().join("default.conf"),
        tmp.path().join("default.conf"),
    )
    .unwrap();
    generate_pki(&tmp.path().join("certs"));
    let out = boomerang(&["check", "--config", "default.conf"], tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "configuration OK\n3 servers, 2 backends, 2 policies, 3 client lists\n"
    );
}

#[test]
fn example_without_its_certificates_names_each_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("udp-trigger");
    copy_files(&config_root().join("examples/udp-trigger"), &dir);
    let out = boomerang(&["check", "-c", "udp-trigger"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let heads: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(heads.len(), 3, "{stderr}");
    assert!(heads[0].starts_with(
        "udp-trigger/boomerang.conf:25:10: error: certificate `SERVER_CERT`: udp-trigger/certs/server.pem: cannot read file:"
    ), "{stderr}");
    assert!(heads[1].starts_with(
        "udp-trigger/boomerang.conf:26:9: error: key `SERVER_KEY`: udp-trigger/certs/server.key: cannot read file:"
    ), "{stderr}");
    assert!(heads[2].starts_with(
        "udp-trigger/boomerang.conf:27:10: error: certificate `CLIENT_CA`: udp-trigger/certs/ca.pem: cannot read file:"
    ), "{stderr}");
    // The source line and caret follow each message.
    assert!(
        stderr.contains(
            "    x509 \"SERVER_CERT\" { filename \"certs/server.pem\"; }\n         ^~~~~~~~~~~~~\n"
        ),
        "{stderr}"
    );
    assert!(stderr.ends_with("configuration has 3 errors\n"), "{stderr}");
    assert_eq!(text(&out.stdout), "");

    // The same example without its files validates with --skip-files, and says so.
    let out = boomerang(&["check", "--skip-files", "-c", "udp-trigger"], tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("configuration OK\n"), "{stdout}");
    assert!(
        stdout.ends_with("certificate and key files not checked (--skip-files): 3 named\n"),
        "{stdout}"
    );
}

#[test]
fn a_file_that_is_not_pem_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("server.pem"), "not a certificate\n").unwrap();
    std::fs::write(
        tmp.path().join("a.conf"),
        "certificates {\n    x509 \"C\" { filename \"server.pem\"; }\n}\n",
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "a.conf"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("a.conf:2:10: error: certificate `C`: server.pem: not a PEM file"),
        "{stderr}"
    );
}

#[test]
fn a_broken_configuration_exits_1_with_every_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("broken.conf"),
        "servers {\n    radius \"R\" {\n        lisen { protocol udp; port 1812; }\n        clients \"NOPE\";\n    }\n}\n",
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "broken.conf"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "broken.conf:2:5: error: server `R` has no `listen` block
    radius \"R\" {
    ^~~~~~
help: add `listen { protocol udp; port 1812; }` or `listen { backend \"BACKEND\"; }`
broken.conf:3:9: error: unknown key `lisen` in server `R`
        lisen { protocol udp; port 1812; }
        ^~~~~
help: did you mean `listen`?
broken.conf:4:17: error: unknown client list `NOPE`
        clients \"NOPE\";
                ^~~~~~
help: define it in `clients { radius \"NOPE\" { client \"…\" { … } } }`
configuration has 3 errors
"
    );
}

#[test]
fn directories_load_in_name_order_and_warnings_do_not_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("conf.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("20_servers.conf"),
        "servers { radius \"U\" { listen { protocol udp; port 1812; } clients \"L\"; } }\n",
    )
    .unwrap();
    std::fs::write(
        d.join("10_clients.radconf"),
        "clients { radius \"L\" { client \"c\" { source { ip 127.0.0.1; } secret \"%{env.TEST_SECRET}\"; } } }\n",
    )
    .unwrap();
    std::fs::write(d.join("30_aaa.conf"), "aaa { policy \"EMPTY\" { } }\n").unwrap();
    std::fs::write(d.join("notes.txt"), "not configuration").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boomerang"))
        .args(["check", "-c", "conf.d"])
        .current_dir(tmp.path())
        .env("TEST_SECRET", "from-env")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with(
            "conf.d/30_aaa.conf:1:7: warning: policy `EMPTY` has no `handler`: requests it matches get no reply"
        ),
        "{stderr}"
    );
    assert_eq!(
        text(&out.stdout),
        "configuration OK\n1 server, 0 backends, 1 policy, 1 client list\n"
    );
    // Without the environment variable the secret cannot be expanded.
    let out = Command::new(env!("CARGO_BIN_EXE_boomerang"))
        .args(["check", "-c", "conf.d"])
        .current_dir(tmp.path())
        .env_remove("TEST_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "conf.d/10_clients.radconf:1:70: error: environment variable `TEST_SECRET` is not set"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_configuration_path_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = boomerang(&["check", "-c", "nope.conf"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: `nope.conf` does not exist\nconfiguration has 1 error\n"
    );
    // `-c` is required.
    let out = boomerang(&["check"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
}

/// The lines of `stderr` that head a diagnostic of `severity` (`error`, `warning`).
fn heads<'a>(stderr: &'a str, severity: &str) -> Vec<&'a str> {
    let needle = format!(": {severity}: ");
    stderr.lines().filter(|l| l.contains(&needle)).collect()
}

#[test]
fn two_udp_servers_on_one_port_are_refused_at_the_second() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("a.conf"),
        "clients { radius \"L\" { client \"c\" { source { ip 127.0.0.1; } secret \"s\"; } } }
servers {
    radius \"A\" { listen { protocol udp; port 1812; ip 127.0.0.1; } clients \"L\"; }
    radius \"B\" { listen { protocol udp; port 1812; ip 127.0.0.1; } clients \"L\"; }
    radius \"C\" { listen { protocol udp; port 1813; ip 127.0.0.1; } clients \"L\"; }
    radius \"D\" { listen { protocol tcp; port 1812; ip 127.0.0.1; } clients \"L\"; }
}
",
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "a.conf"], tmp.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        heads(&stderr, "error"),
        [
            "a.conf:4:12: error: RADIUS server `B` (udp) listens on UDP 127.0.0.1 port 1812, which RADIUS server `A` (udp) already uses (the same address)"
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("a.conf:3:12: note: RADIUS server `A` (udp) is defined here"),
        "{stderr}"
    );
}

#[test]
fn tcp_listeners_clash_across_radsec_http_and_management_with_wildcards() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("a.conf"),
        "clients { radius \"L\" { client \"c\" { source { ip 127.0.0.1; } secret \"s\"; } } }
servers {
    radius \"T\" { listen { protocol tcp; port 4000; ip 0.0.0.0; } clients \"L\"; }
    http \"H\" { listen { protocol tcp; port 4000; ip 127.0.0.1; } }
    http \"M\" { listen { protocol tcp; port 8080; ip 127.0.0.1; } }
    http \"V6\" { listen { protocol tcp; port 4001; ip ::1; } }
    http \"V4\" { listen { protocol tcp; port 4001; ip 127.0.0.1; } }
}
",
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "a.conf"], tmp.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors = heads(&stderr, "error");
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].starts_with("a.conf:4:10: error: HTTP server `H` listens on TCP 127.0.0.1 port 4000, which RADIUS server `T` (tcp) already uses (0.0.0.0 overlaps it)"),
        "{stderr}"
    );
    // The management listener's default address (127.0.0.1:8080) is taken by `M`.
    assert!(
        errors[1].starts_with("a.conf:5:10: error: the management listener (by default on 127.0.0.1:8080) listens on TCP 127.0.0.1 port 8080, which HTTP server `M` already uses"),
        "{stderr}"
    );
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    generate_pki(&tmp.path().join("a"));
    generate_pki(&tmp.path().join("b"));
    std::fs::write(
        tmp.path().join("tls.conf"),
        "certificates {
    x509 \"CERT\" { filename \"a/server.pem\"; }
    key \"KEY\" { filename \"b/server.key\"; }
    x509 \"CA\" { filename \"a/ca.pem\"; }
}
clients { radius \"L\" { client \"c\" { source { ip 127.0.0.1; } } } }
servers {
    radius \"RADSEC\" {
        listen {
            protocol tls;
            port 2083;
            ip 127.0.0.1;
            tls { certificate \"CERT\"; certificate_key \"KEY\"; client_ca_certificate \"CA\"; }
        }
        clients \"L\";
    }
}
",
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "tls.conf"], tmp.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors = heads(&stderr, "error");
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("tls.conf:8:12: error: TLS of server `RADSEC` cannot be set up:"),
        "{stderr}"
    );
    // With the matching key it is OK.
    let fixed = std::fs::read_to_string(tmp.path().join("tls.conf"))
        .unwrap()
        .replace("b/server.key", "a/server.key");
    std::fs::write(tmp.path().join("tls.conf"), fixed).unwrap();
    let out = boomerang(&["check", "-c", "tls.conf"], tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn sqlite_config(path: &str) -> String {
    format!(
        "backends {{
    sqlite \"DB\" {{
        filename \"{path}\";
        query \"Q\" {{ query \"SELECT 1\"; }}
    }}
}}
"
    )
}

#[test]
fn sqlite_databases_that_run_cannot_open_are_refused_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Not a database.
    std::fs::write(
        d.join("junk.sqlite"),
        "this is not a database, just text\n".repeat(40),
    )
    .unwrap();
    std::fs::write(d.join("junk.conf"), sqlite_config("junk.sqlite")).unwrap();
    let out = boomerang(&["check", "-c", "junk.conf"], d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors = heads(&stderr, "error");
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("junk.conf:2:12: error: backend `DB`: cannot open SQLite database"),
        "{stderr}"
    );
    // In a directory that does not exist: `run` could not create it.
    std::fs::write(d.join("nodir.conf"), sqlite_config("missing/dir/db.sqlite")).unwrap();
    let out = boomerang(&["check", "-c", "nodir.conf"], d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        heads(&stderr, "error")[0].starts_with("nodir.conf:2:12: error: backend `DB`:"),
        "{stderr}"
    );
    assert!(!d.join("missing").exists());
    // A missing file in an existing directory: `run` creates it; `check` does not.
    std::fs::write(d.join("new.conf"), sqlite_config("new.sqlite")).unwrap();
    let out = boomerang(&["check", "-c", "new.conf"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!d.join("new.sqlite").exists(), "check created the database");
    // An existing database opens.
    rusqlite::Connection::open(d.join("real.sqlite"))
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    std::fs::write(d.join("real.conf"), sqlite_config("real.sqlite")).unwrap();
    let before: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = boomerang(&["check", "-c", "real.conf"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        before.len(),
        after.len(),
        "no journal or other file left behind"
    );
}

#[test]
fn an_empty_configuration_is_a_warning_with_a_position() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("empty.conf"), "# nothing yet\n").unwrap();
    let out = boomerang(&["check", "-c", "empty.conf"], tmp.path());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "warnings do not fail: {stderr}");
    assert!(
        stderr.starts_with(
            "empty.conf:1:1: warning: the configuration defines no servers and no backends"
        ),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with("configuration OK\n"));
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_first_invalid_byte() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("latin1.conf"),
        b"# ok\nclients { radius \"L\" { client \"caf\xe9\" { } } }\n",
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "latin1.conf"], tmp.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "latin1.conf:2:35: error: `latin1.conf` is not valid UTF-8 text: byte 0xE9 here"
        ),
        "{stderr}"
    );
    // Also when it is included.
    std::fs::write(tmp.path().join("main.conf"), "include \"latin1.conf\";\n").unwrap();
    let out = boomerang(&["check", "-c", "main.conf"], tmp.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("latin1.conf:2:35: error:"), "{stderr}");
    assert!(
        stderr.contains("main.conf:1:1: note: included here"),
        "{stderr}"
    );
}

/// `boomerang check` with a bound on how long it may take (a FIFO read would
/// block for ever); `None` when it did not finish in time (then it is killed).
fn boomerang_bounded(args: &[&str], cwd: &Path) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_boomerang"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run boomerang");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

#[test]
fn a_fifo_or_a_device_as_configuration_or_certificate_is_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let made = Command::new("mkfifo")
        .arg(tmp.path().join("pipe.conf"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for path in ["pipe.conf", "/dev/zero"] {
        let out = boomerang_bounded(&["check", "-c", path], tmp.path())
            .unwrap_or_else(|| panic!("`check -c {path}` did not finish"));
        assert_eq!(out.status.code(), Some(1), "{path}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("not a regular file"), "{path}: {stderr}");
    }
    // A certificate file that is a device.
    std::fs::write(
        tmp.path().join("a.conf"),
        "certificates {\n    x509 \"C\" { filename \"/dev/zero\"; }\n}\n",
    )
    .unwrap();
    let out = boomerang_bounded(&["check", "-c", "a.conf"], tmp.path())
        .expect("`check` with a device as certificate did not finish");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

/// A log file `run` could not open is an error of `check` too, at the `file` setting,
/// and `run`'s own error points there; `check` creates no file.
#[test]
fn a_log_file_that_run_cannot_open_is_refused_at_its_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let conf = |file: &str| {
        format!(
            "logging {{\n    level info;\n    file \"{file}\";\n}}\n{}",
            sqlite_config("db.sqlite")
        )
    };
    // In a directory that does not exist.
    std::fs::write(d.join("nodir.conf"), conf("nodir/boomerang.log")).unwrap();
    let out = boomerang(&["check", "-c", "nodir.conf"], d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors = heads(&stderr, "error");
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0]
            .starts_with("nodir.conf:3:5: error: cannot open the log file nodir/boomerang.log"),
        "{stderr}"
    );
    let out = boomerang_bounded(&["run", "-c", "nodir.conf"], d).expect("run exits");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("nodir.conf:3:5: error: cannot open the log file nodir/boomerang.log"),
        "{stderr}"
    );
    assert!(!d.join("nodir").exists());
    // A directory in the file's place.
    std::fs::create_dir(d.join("adir")).unwrap();
    std::fs::write(d.join("isdir.conf"), conf("adir")).unwrap();
    let out = boomerang(&["check", "-c", "isdir.conf"], d);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // A missing file in a directory that exists: `run` creates it, `check` does not.
    std::fs::write(d.join("new.conf"), conf("new.log")).unwrap();
    let out = boomerang(&["check", "-c", "new.conf"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!d.join("new.log").exists(), "check created the log file");
    // The older form, `application { file { filename … } }`, is placed too.
    std::fs::write(
        d.join("app.conf"),
        format!(
            "logging {{\n    application {{\n        file {{\n            filename \"nodir/x.log\";\n        }}\n    }}\n}}\n{}",
            sqlite_config("db.sqlite")
        ),
    )
    .unwrap();
    let out = boomerang(&["check", "-c", "app.conf"], d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        heads(&stderr, "error")[0].starts_with("app.conf:4:13: error: cannot open the log file"),
        "{stderr}"
    );
}

/// Statements that cannot run against the database (they do not prepare, or a mapping
/// reads a column they do not return) would fail every request: `check` reports each
/// at its place, and `run` refuses to start. A database that does not exist yet is
/// not checked against (`run` creates it empty; its tables may come later).
#[test]
fn sql_statements_that_cannot_run_are_refused_by_check_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    rusqlite::Connection::open(d.join("db.sqlite"))
        .unwrap()
        .execute_batch("CREATE TABLE users (username TEXT, nas TEXT);")
        .unwrap();
    let conf = |db: &str| {
        format!(
            r#"backends {{
    sqlite "S" {{
        filename "{db}";
        query "TYPO" {{ query "SELEC nas FROM users WHERE username = ?"; bindings {{ radius.request.attr.User-Name; }} mapping {{ vars.nas = nas; }} }}
        query "NOTABLE" {{ query "SELECT nas FROM nosuch WHERE username = ?"; bindings {{ radius.request.attr.User-Name; }} }}
        query "NOCOL" {{
            statement "SELECT nas FROM users WHERE username = ?";
            bindings {{ radius.request.attr.User-Name; }}
            mapping {{
                vars.nas = nas;
                vars.x = NoSuchCol;
            }}
        }}
        query "TWO" {{ query "SELECT nas FROM users WHERE username = ?; DELETE FROM users"; bindings {{ radius.request.attr.User-Name; }} }}
        query "GOOD" {{ query "SELECT NAS FROM users WHERE username = ?"; bindings {{ radius.request.attr.User-Name; }} mapping {{ vars.nas = nas; }} }}
    }}
}}
"#
        )
    };
    std::fs::write(d.join("sql.conf"), conf("db.sqlite")).unwrap();
    let out = boomerang(&["check", "-c", "sql.conf"], d);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors = heads(&stderr, "error");
    assert_eq!(errors.len(), 4, "{stderr}");
    for (error, at) in errors.iter().zip([
        "sql.conf:4:30: error: backend `S`, query `TYPO`: SQL statement does not prepare: near \"SELEC\"",
        "sql.conf:5:33: error: backend `S`, query `NOTABLE`: SQL statement does not prepare: no such table: nosuch",
        "sql.conf:11:26: error: backend `S`, query `NOCOL`: the mapping reads column \"NoSuchCol\", which the statement does not return (it returns nas)",
        "sql.conf:14:29: error: backend `S`, query `TWO`: SQL statement does not prepare:",
    ]) {
        assert!(error.starts_with(at), "{error}\nexpected {at}\n{stderr}");
    }
    let out = boomerang_bounded(&["run", "-c", "sql.conf"], d).expect("run exits");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for query in ["TYPO", "NOTABLE", "NOCOL", "TWO"] {
        assert!(stderr.contains(&format!("query `{query}`:")), "{stderr}");
    }
    assert!(!stderr.contains("query `GOOD`"), "{stderr}");
    // A database that does not exist yet: not checked against, not created.
    std::fs::write(d.join("new.conf"), conf("new.sqlite")).unwrap();
    let out = boomerang(&["check", "-c", "new.conf"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!d.join("new.sqlite").exists());
}
