//! Real network peers for the end-to-end tests, started once per test binary
//! and stopped when it exits: the PyPI `mastodon-mock` server
//! (tests/peers/mastodon-mock) and an @atproto/pds with an in-memory PLC
//! (tests/peers/bluesky-pds). Each runs under a supervisor that watches a
//! pipe only this process holds, so even a killed test run leaves nothing
//! behind.
//!
//! A peer whose prerequisites (python3, node, npm, the registries) are
//! missing fails the test under `CI=true` and is skipped with a printed
//! reason otherwise; a peer that is installed but does not start always fails.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// A running peer; holding `_stdin` keeps it alive.
pub struct Peer {
    /// Where the peer answers (`http://127.0.0.1:<port>`).
    pub url: String,
    /// The peer's own description of itself (Bluesky: its public URL, secrets).
    pub info: Value,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

enum Absent {
    Prerequisites(String),
    Broken(String),
}

static MASTODON: OnceLock<Result<Peer, Absent>> = OnceLock::new();
static BLUESKY: OnceLock<Result<Peer, Absent>> = OnceLock::new();

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn present(test: &str, what: &str, peer: &'static Result<Peer, Absent>) -> Option<&'static Peer> {
    match peer {
        Ok(p) => Some(p),
        Err(Absent::Broken(why)) => panic!("{what} is installed but broken: {why}"),
        Err(Absent::Prerequisites(why)) => {
            if herald_store::testing::in_ci() {
                panic!("CI=true and {what} is unavailable: {why}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {what} unavailable (set CI=true to make this fail): {why}"
            );
            None
        }
    }
}

fn run_install(script: &Path) -> Result<String, Absent> {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Absent::Prerequisites(format!("cannot run bash {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Absent::Prerequisites(format!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    eprintln!("{}: {:?}", script.display(), started.elapsed());
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A running `mastodon-mock` (seeded account `testuser`), or `None` when it
/// may be skipped.
pub fn mastodon_mock(test: &str) -> Option<&'static Peer> {
    present(
        test,
        "the mastodon-mock peer",
        MASTODON.get_or_init(start_mastodon),
    )
}

fn start_mastodon() -> Result<Peer, Absent> {
    let bin = run_install(&peers_dir().join("mastodon-mock/install.sh"))?;
    let port = free_port();
    // The supervisor kills the server and removes its media folder when the
    // pipe from this process closes.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(
            r#"tmp=$(mktemp -d)
TMPDIR="$tmp" "$0" serve --in-memory --host 127.0.0.1 --port "$1" </dev/null >/dev/null 2>&1 &
srv=$!
cat >/dev/null
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
rm -rf "$tmp""#,
        )
        .arg(&bin)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Absent::Prerequisites(format!("cannot start mastodon_mock: {e}")))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers(port, "/api/v2/instance") {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Absent::Broken(format!("mastodon_mock exited ({status})")));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(Absent::Broken(
                "mastodon_mock did not answer in 60 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Peer {
        url,
        info: Value::Null,
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    })
}

/// A blocking GET that is 200.
fn answers(port: u16, path: &str) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// A running Bluesky PDS: `url` is its loopback address, `info["url"]` its
/// public URL (`http://localhost:<port>`, the one in DID documents).
pub fn bluesky_pds(test: &str) -> Option<&'static Peer> {
    present(
        test,
        "the Bluesky PDS peer",
        BLUESKY.get_or_init(start_bluesky),
    )
}

fn start_bluesky() -> Result<Peer, Absent> {
    let dir = peers_dir().join("bluesky-pds");
    run_install(&dir.join("install.sh"))?;
    let log = std::env::temp_dir().join(format!("herald-e2e-pds-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("a log file");
    let mut child = Command::new("node")
        .arg("run.cjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| Absent::Prerequisites(format!("cannot run node: {e}")))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(json) = line.strip_prefix("HERALD_PDS_READY ") {
                let _ = tx.send(json.to_owned());
            }
        }
    });
    let Ok(ready) = rx.recv_timeout(Duration::from_secs(90)) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Absent::Broken(format!(
            "the PDS did not become ready in 90 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )));
    };
    let info: Value = serde_json::from_str(&ready).expect("the ready line is JSON");
    let public = info["url"].as_str().expect("url").to_owned();
    Ok(Peer {
        url: public.replace("//localhost:", "//127.0.0.1:"),
        info,
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    })
}
