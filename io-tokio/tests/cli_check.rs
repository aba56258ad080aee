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
    assert_eq!(examples.len(), 7);
    for example in &examples {
        let name = example.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(&name);
        copy_files(example, &dir);
        generate_pki(&dir.join("certs"));
        let out = boomerang(&["check", "-c", &name], tmp.path());
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stdout.starts_with("configuration OK\n"), "{name}: {stdout}");
        assert_eq!(stderr, "", "{name}");
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
