//! Master-key rotation against a running server: `herald keys rotate-master
//! --generate` re-encrypts every stored secret under a new key while the
//! server keeps publishing (it reloads the key files), the old key can then
//! be dropped, and the raw SQLite files never hold a token in clear.

use crate::{connect_messenger, link_activity_body, messenger_site, publish_link};
use herald_e2e::{Herald, e2e_database};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn rotating_the_master_key_keeps_a_running_server_publishing() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .and(header("authorization", "WRAP access_token=tok-1"))
        .and(body_json(link_activity_body()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-1"})))
        .expect(3)
        .mount(&wl)
        .await;
    let (mut herald, app) = messenger_site(&wl).await;
    connect_messenger(&app, "ana", "tok-1").await;
    assert_eq!(
        publish_link(&app).await["deliveries"][0]["state"],
        "published"
    );
    let dir = herald.dir.path().to_owned();
    let old_key = std::fs::read_to_string(dir.join("master.key")).unwrap();

    let out = herald.cli(&["keys", "rotate-master", "--generate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_key = std::fs::read_to_string(dir.join("master.key")).unwrap();
    assert_ne!(new_key.trim(), old_key.trim());
    assert_eq!(
        std::fs::read_to_string(dir.join("master.key.readable"))
            .unwrap()
            .trim(),
        old_key.trim()
    );
    assert!(report["reencrypted"]["connections.access_token_enc"].as_u64() >= Some(1));
    assert!(report["reencrypted"]["apps.secret_enc"].as_u64() >= Some(1));
    assert_eq!(report["values_under_other_keys"], 0, "{report}");

    // The running server loaded the new key: it still reads the token and
    // the app secret (re-encrypted under the new key) and publishes.
    assert_eq!(
        publish_link(&app).await["deliveries"][0]["state"],
        "published"
    );
    assert!(herald.log().contains("master keys reloaded"));

    // Drop the old key: everything is readable with the new one alone.
    std::fs::remove_file(dir.join("master.key.readable")).unwrap();
    herald.restart().await;
    assert_eq!(
        publish_link(&app).await["deliveries"][0]["state"],
        "published"
    );
    let conns = app.get("/v1/users/ana/connections").await;
    assert_eq!(conns.body["connections"][0]["status"], "active");

    if e2e_database() == "sqlite" {
        // The raw database files (and the log) hold no token in clear.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("herald.db") || name == "herald.log" {
                let bytes = std::fs::read(&p).unwrap();
                for secret in ["tok-1", "refresh-1"] {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{name} holds {secret} in clear"
                    );
                }
            }
        }
    }
    wl.verify().await;
}

/// Every file of the SQLite database in `dir` (herald.db and its -wal, -shm,
/// -journal companions) with group or other permission bits set.
#[cfg(unix)]
fn shared_database_files(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let (mut seen, mut shared) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("herald.db") || name.starts_with("master.key") {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                shared.push(format!("{name} {mode:o}"));
            }
            seen.push(name);
        }
    }
    (seen, shared)
}

/// A fresh data dir: `herald migrate` and `herald serve` (with writes, so the
/// WAL exists) leave the database files readable by their owner only, as the
/// key files are, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_created_private() {
    if e2e_database() != "sqlite" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = herald_e2e::herald_command()
        .arg("migrate")
        .env("HERALD_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (seen, shared) = shared_database_files(dir.path());
    assert!(seen.iter().any(|n| n == "herald.db"), "{seen:?}");
    assert!(shared.is_empty(), "after migrate: {shared:?}");

    let herald = Herald::start().await;
    herald.create_app(Some("https://site.example/"));
    let (seen, shared) = shared_database_files(herald.dir.path());
    assert!(
        seen.iter().any(|n| n == "herald.db-wal") && seen.iter().any(|n| n == "herald.db-shm"),
        "{seen:?}"
    );
    assert!(shared.is_empty(), "while serving: {shared:?}");
}
