//! Retention jobs run on every kind of node: `herald serve` and `herald
//! worker` each run them (the nonce and JWT-id purge included) without any
//! delivery work. What each job deletes is tested in the store and dispatch
//! crates; here, that the binary runs them.

use herald_e2e::{Herald, e2e_database};
use std::time::Duration;

/// Whether `log` shows every built-in retention job run.
fn retention_ran(log: &str) -> bool {
    [
        "retention.nonces",
        "retention.oauth_states",
        "retention.attempt_bodies",
    ]
    .iter()
    .all(|job| {
        log.lines()
            .any(|l| l.contains("retention job ran") && l.contains(job))
    })
}

async fn wait_for_retention(log: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !retention_ran(&log()) {
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not run:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Retention runs in `herald serve` on its own (the nonce purge included),
/// without waiting for any delivery work.
#[tokio::test]
async fn serve_runs_the_retention_jobs() {
    let herald = Herald::start().await;
    wait_for_retention(|| herald.log()).await;
}

/// And in `herald worker`, which serves no API.
#[tokio::test]
async fn a_worker_runs_the_retention_jobs() {
    if e2e_database() != "sqlite" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("worker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = herald_e2e::herald_command()
        .arg("worker")
        .env("HERALD_DATA_DIR", dir.path())
        .env("HERALD_LOG", "info,herald=debug")
        .stderr(log.try_clone().unwrap())
        .stdout(log)
        .spawn()
        .unwrap();
    let _worker = KillOnDrop(child);
    wait_for_retention(|| std::fs::read_to_string(&log_path).unwrap_or_default()).await;
}

/// Stops the spawned worker however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
