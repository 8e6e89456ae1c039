//! Spawning and supervising the `herald` server under test.
//!
//! The server runs as a child process with its own temporary data directory
//! (SQLite file and generated master key), bound to a port picked here. It is
//! killed when [`HeraldServer::stop`] is called or when the handle is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::api::AppCredentials;

/// Interval between two `GET /readyz` probes.
const READY_POLL: Duration = Duration::from_millis(100);

/// How to run the server.
pub struct ServerConfig {
    pub bin: PathBuf,
    pub database_url: Option<String>,
    pub log: String,
}

/// A running `herald serve` child process.
pub struct HeraldServer {
    child: Child,
    database_url: String,
    pid: u32,
    bin: PathBuf,
    base_url: String,
    env: Vec<(&'static str, String)>,
    _data_dir: TempDir,
}

impl HeraldServer {
    /// Spawns `herald serve` on a free loopback port with a fresh data directory.
    pub async fn start(config: &ServerConfig) -> Result<Self> {
        ensure!(
            config.bin.is_file(),
            "herald binary not found at {} (build it with `cargo build --release -p herald-cli` \
             or pass --herald-bin)",
            config.bin.display()
        );
        let data_dir = tempfile::Builder::new()
            .prefix("herald-bench-")
            .tempdir()
            .context("creating the server's temporary data directory")?;
        let port = free_port()?;
        let env = server_env(port, data_dir.path(), config);
        let child = Command::new(&config.bin)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            // Keep our stdout for the report: the server's output goes to stderr.
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {} serve", config.bin.display()))?;
        let pid = child.id().context("herald serve exited immediately")?;
        let database_url = config.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                data_dir.path().join("herald.db").display()
            )
        });
        Ok(Self {
            child,
            database_url,
            pid,
            bin: config.bin.clone(),
            base_url: format!("http://127.0.0.1:{port}"),
            env,
            _data_dir: data_dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The database the server uses (its default SQLite file when none was given).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Polls `GET /readyz` until it answers 200, the process dies, or `timeout` passes.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, timeout: Duration) -> Result<()> {
        let url = format!("{}/readyz", self.base_url);
        let started = Instant::now();
        loop {
            self.ensure_running()?;
            let probe = http.get(&url).timeout(Duration::from_secs(1)).send().await;
            if probe.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!("herald did not answer 200 on {url} within {timeout:?}");
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Fails if the server process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self
            .child
            .try_wait()
            .context("checking the herald process")?
        {
            Some(status) => bail!("herald serve exited unexpectedly ({status})"),
            None => Ok(()),
        }
    }

    /// Runs `herald apps create --name <name> --json` against the same data dir / database.
    pub async fn create_app(&self, name: &str) -> Result<AppCredentials> {
        let output = Command::new(&self.bin)
            .args(["apps", "create", "--name", name, "--json"])
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {} apps create", self.bin.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        ensure!(
            output.status.success(),
            "herald apps create failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            stdout
        );
        serde_json::from_str(stdout.trim())
            .with_context(|| format!("unexpected output from herald apps create: {stdout}"))
    }

    /// Kills the server and reaps it.
    pub async fn stop(mut self) -> Result<()> {
        if self.child.try_wait().ok().flatten().is_some() {
            return Ok(());
        }
        self.child.kill().await.context("killing herald serve")
    }
}

/// Environment shared by `herald serve` and `herald apps create`.
fn server_env(port: u16, data_dir: &Path, config: &ServerConfig) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("HERALD_BIND", format!("127.0.0.1:{port}")),
        ("HERALD_DATA_DIR", data_dir.display().to_string()),
        ("HERALD_ALLOWED_PRIVATE_NETS", "127.0.0.1/32".to_owned()),
        ("HERALD_LOG", config.log.clone()),
    ];
    if let Some(url) = &config.database_url {
        env.push(("HERALD_DATABASE_URL", url.clone()));
    }
    env
}

/// Asks the OS for a free loopback port. The listener is dropped before the
/// server binds, so another process could grab the port in between (unlikely).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

/// Tracks a process's peak resident set size.
///
/// `VmRSS` is sampled periodically and combined with the kernel's own
/// high-water mark `VmHWM` at the end. Linux only; elsewhere it reports nothing.
pub struct RssSampler {
    pid: u32,
    peak_kib: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl RssSampler {
    pub fn spawn(pid: u32, interval: Duration) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let peak = Arc::clone(&peak_kib);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                if let Some(kib) = proc_status_kib(pid, "VmRSS") {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
            }
        });
        Self {
            pid,
            peak_kib,
            task,
        }
    }

    /// Stops sampling; returns the peak RSS in KiB, if it could be read.
    /// Must be called while the process is still alive.
    pub fn finish(self) -> Option<u64> {
        self.task.abort();
        let sampled = self.peak_kib.load(Ordering::Relaxed);
        let hwm = proc_status_kib(self.pid, "VmHWM").unwrap_or(0);
        Some(sampled.max(hwm)).filter(|&kib| kib > 0)
    }
}

/// Reads one `kB` field (e.g. `VmRSS`) of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}
