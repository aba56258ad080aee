//! Every configuration in `config/examples/` runs with `boomerang run -c` unchanged.
//!
//! For each example directory (enumerated, so a new example is covered without editing
//! this file) the test copies the shipped examples into a temporary directory laid out
//! like the repository, runs the set-up commands its header documents under "Try it" (in
//! order, up to its `boomerang run -c` line: `boomerang pki dev …`, `boomerang check …`,
//! `cp …`, and `sqlite3 DB < FILE`, which the test carries out with SQLite itself so
//! that the sqlite3 shell is not needed), then runs that `boomerang run -c` line as
//! written (except `cluster`, whose nodes need a NATS server). Nothing in the
//! configuration is rewritten. The example must say `ready`,
//! every socket it lists must accept (`/ready` answers 200 on the management listener),
//! and SIGTERM must end it with exit status 0.
//!
//! The examples bind fixed ports (2083, 4000, 1812, 3799, 8080), so they run one at a
//! time, and the whole test holds a lock (a listener on [`LOCK`]) so that two copies of
//! it (another checkout's test run on the same machine) wait for each other instead of
//! clashing. No other test binds those ports. Every wait is bounded.

mod e2e_support;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e_support::{BIN, http, wait_bounded};

/// The example not run here: its three node configurations need a NATS server
/// (`nats-server`), which this test does not start. `boomerang check` covers each
/// node's file (tests/cli_check.rs).
const CLUSTER: &str = "cluster";

/// Bound on one example's start, and on its exit after SIGTERM.
const BOUND: Duration = Duration::from_secs(20);

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples")
}

/// The example directories, by name, in name order.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Copy `from` into `to` as a fresh checkout has it: no generated certificates (only
/// the `.gitignore` of `certs/`) and no SQLite databases.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
            continue;
        }
        let in_certs = from.file_name().is_some_and(|d| d == "certs");
        let generated = (in_certs && name != ".gitignore") || name.contains(".sqlite");
        if !generated {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The commands of the header's "Try it" part (and the database line before it): the
/// comment lines indented as commands (`#   program …`), in order, up to and including
/// the first `boomerang run`.
fn header_commands(config: &str) -> Vec<String> {
    let mut commands = Vec::new();
    for line in config.lines().take_while(|l| l.starts_with('#')) {
        let Some(command) = line.strip_prefix("#   ") else {
            continue;
        };
        // A command starts with a program name in lower case (`POST /path` is prose);
        // a trailing `# …` is a comment.
        let command = command.split(" #").next().unwrap_or_default().trim();
        let program = command.split_whitespace().next().unwrap_or_default();
        let is_program = program.starts_with(|c: char| c.is_ascii_lowercase())
            && program
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if !is_program {
            continue;
        }
        commands.push(command.to_owned());
        if command.starts_with("boomerang run") {
            return commands;
        }
    }
    commands
}

/// Carry out one set-up command in `root` (the temporary repository root).
fn set_up(example: &str, root: &Path, command: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert!(
        !command.contains(['"', '\'', '$', '`', ';', '&']),
        "{example}: the header command `{command}` needs a shell; this test runs plain commands"
    );
    match words.as_slice() {
        ["boomerang", args @ ..] => {
            let out = Command::new(BIN)
                .current_dir(root)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{example}: `{command}` failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ["sqlite3", db, "<", file] => {
            let sql = std::fs::read_to_string(root.join(file)).unwrap();
            let conn = rusqlite::Connection::open(root.join(db)).unwrap();
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{example}: `{command}`: {e}"));
        }
        ["cp", from, to] => {
            let to = root.join(to);
            match from.strip_suffix("/*") {
                Some(dir) => {
                    for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                        let entry = entry.unwrap();
                        if entry.file_type().unwrap().is_file() {
                            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
                        }
                    }
                }
                None => {
                    std::fs::copy(root.join(from), &to).unwrap();
                }
            }
        }
        _ => panic!(
            "{example}: the header asks to run `{command}` before `boomerang run`; this test knows `boomerang …`, `sqlite3 DB < FILE` and `cp`"
        ),
    }
}

/// The address whose listener serves as this test's machine-wide lock: the operating
/// system releases it even when the test is killed. It is below the ephemeral range, so
/// no socket bound to port 0 takes it.
const LOCK: &str = "127.0.0.1:20899";

/// Holds the machine-wide lock of this test while alive.
struct PortsLock(#[allow(dead_code)] std::net::TcpListener);

impl PortsLock {
    /// Take the lock, waiting (bounded) while another copy of this test holds it.
    fn take() -> PortsLock {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            match std::net::TcpListener::bind(LOCK) {
                Ok(listener) => return PortsLock(listener),
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "{LOCK} (this test's lock) stayed taken for 5 minutes: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

/// A running example, killed when dropped.
struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sockets `boomerang run` printed (`listening: SERVER KIND on ADDR`).
fn listening(stdout: &str) -> Vec<(String, SocketAddr)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("listening: "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let _server = words.next()?;
            let kind = words.next()?;
            let addr = words.nth(1)?.parse().ok()?;
            Some((kind.to_owned(), addr))
        })
        .collect()
}

/// Run one example as its header says, and check it serves and stops cleanly.
fn run_example(example: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_tree(&examples_dir(), &root.join("config/examples"));
    let conf = root
        .join("config/examples")
        .join(example)
        .join("boomerang.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let commands = header_commands(&text);
    let run = commands
        .last()
        .filter(|c| c.starts_with("boomerang run"))
        .unwrap_or_else(|| panic!("{example}: the header shows no `boomerang run -c` line"));
    let dir = format!("config/examples/{example}");
    assert!(
        run.split_whitespace()
            .any(|w| w.trim_end_matches('/') == dir || w == format!("{dir}/boomerang.conf")),
        "{example}: the header's run line `{run}` does not run this example"
    );
    for command in &commands[..commands.len() - 1] {
        set_up(example, root, command);
    }
    let before = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        before, text,
        "{example}: the set-up changed the configuration"
    );

    let stdout = root.join("run.stdout");
    let stderr = root.join("run.stderr");
    let words: Vec<&str> = run.split_whitespace().collect();
    let child = Command::new(BIN)
        .current_dir(root)
        .args(&words[1..])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut running = Running {
        child,
        stdout,
        stderr,
    };

    // Ready: the daemon says so, and every socket it lists takes connections.
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!(
                "{example}: `{run}` exited with {status}\n{}",
                running.output()
            );
        }
        let err = std::fs::read_to_string(&running.stderr).unwrap_or_default();
        if err.lines().any(|l| l.trim_end().ends_with(" ready")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{example}: not ready in time\n{}",
            running.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = std::fs::read_to_string(&running.stdout).unwrap_or_default();
    for (kind, addr) in listening(&out) {
        let addr = match addr.ip() {
            ip if ip.is_unspecified() && addr.is_ipv4() => {
                SocketAddr::from(([127, 0, 0, 1], addr.port()))
            }
            ip if ip.is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
            }
            _ => addr,
        };
        match kind.as_str() {
            "management" => {
                let (status, body) = http(addr, "GET", "/ready")
                    .unwrap_or_else(|e| panic!("{example}: /ready on {addr}: {e}"));
                assert_eq!(status, 200, "{example}: /ready: {body}");
            }
            "tcp" | "tls" | "http" => {
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_or_else(|e| {
                    panic!("{example}: {kind} listener on {addr} refuses: {e}")
                });
            }
            _ => {}
        }
    }

    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_bounded(&mut running.child, BOUND).unwrap_or_else(|| {
        panic!(
            "{example}: still running after SIGTERM\n{}",
            running.output()
        )
    });
    assert!(
        status.success(),
        "{example}: exit {status} after SIGTERM\n{}",
        running.output()
    );
    eprintln!("{example}: ran with `{run}`, exit 0 after SIGTERM");
}

#[test]
fn every_example_runs_unchanged_and_exits_0_on_sigterm() {
    let names = examples();
    assert!(names.len() >= 7, "config/examples/ holds {names:?}");
    let _lock = PortsLock::take();
    for name in &names {
        if name == CLUSTER {
            continue;
        }
        run_example(name);
    }
}

#[test]
fn header_commands_stop_at_the_run_line() {
    let header = "# Try it:\n#   POST /x?y=z\n#   boomerang pki dev --out config/examples/x/certs\n#   # a comment\n#   boomerang run -c config/examples/x    # here\n#   boomerang run -c config/examples/y\n\nservers {}\n";
    assert_eq!(
        header_commands(header),
        [
            "boomerang pki dev --out config/examples/x/certs",
            "boomerang run -c config/examples/x"
        ]
    );
}
