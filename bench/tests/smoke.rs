//! A few seconds of herald-bench against the debug `herald`, with every
//! scenario switched on small: every announced delivery must arrive exactly
//! once (no speed is asserted). On SQLite, and on a fresh PostgreSQL database
//! when one is reachable (required under CI=true).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `herald` binary: `HERALD_BIN`, else the workspace's debug build (built
/// here if needed).
fn herald_bin() -> PathBuf {
    if let Ok(p) = std::env::var("HERALD_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "herald-cli", "--bin", "herald"])
        .current_dir(&root)
        .status()
        .expect("running cargo build for the herald binary");
    assert!(status.success(), "building the herald binary failed");
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("debug")
        .join("herald")
}

fn run_bench(database_url: Option<&str>) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald-bench"));
    cmd.arg("--herald-bin").arg(herald_bin()).args([
        "--duration",
        "3",
        "--concurrency",
        "4",
        "--connections",
        "2",
        "--finished",
        "5000",
        "--backlog",
        "40",
        "--apps",
        "2",
        "--drain-timeout",
        "60",
        "--json",
    ]);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.output().expect("running herald-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}), exit {}:\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "herald-bench failed: {report}");
    report
}

fn check(report: &Value) {
    assert_eq!(report["missing_deliveries"], 0, "{report}");
    assert_eq!(report["duplicate_deliveries"], 0, "{report}");
    assert_eq!(report["unexpected_deliveries"], 0, "{report}");
    assert_eq!(report["drained"], true, "{report}");
    assert!(report["accepted_actions"].as_u64().unwrap() > 0, "{report}");
    for key in [
        "accepted_per_s",
        "accept_latency_p99_ms",
        "deliveries_per_s",
        "delivery_latency_p99_ms",
        "server_peak_rss_mib",
    ] {
        assert!(report[key].is_number(), "{key} missing: {report}");
    }
    // Each scenario ran.
    assert_eq!(report["finished_prefilled"], 5000, "{report}");
    assert!(
        report["backlog_deliveries"].as_u64().unwrap() >= 40,
        "{report}"
    );
    assert!(report["backlog_attempts"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["apps"], 2, "{report}");
    assert!(
        report["small_app_actions"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(report["small_app_delivery_p99_ms"].is_number(), "{report}");
}

#[test]
fn a_short_run_on_sqlite_loses_and_duplicates_nothing() {
    check(&run_bench(None));
}

#[tokio::test]
async fn a_short_run_on_postgres_loses_and_duplicates_nothing() {
    let Some(db) = herald_store::testing::postgres_database().await else {
        return;
    };
    let url = db.url.clone();
    let report = tokio::task::spawn_blocking(move || run_bench(Some(&url)))
        .await
        .unwrap();
    assert_eq!(report["database"], "postgres", "{report}");
    check(&report);
}
