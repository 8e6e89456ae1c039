//! Interop: the real, unmodified npm `gigya` SDK (3.0.1, pinned in
//! `tests/gigya-interop/package-lock.json`) against Herald's Gigya-compatible
//! REST surface, once per credential mode: partner secret, userKey + secret
//! (HMAC-signed), and Bearer RS256 JWT. Each mode runs `socialize.notifyLogin`
//! (importing a Windows Live connection) and `socialize.publishUserAction`,
//! which must reach the Windows Live mock.
//!
//! The SDK always targets `https://socialize.us1.gigya.com/<method>` and signs
//! over that URL. `tests/gigya-interop/interop.js` sends its requests to Herald
//! through the SDK's proxy-function hook with `X-Forwarded-Proto: https`, so
//! Herald has to trust 127.0.0.1 as a proxy.
//!
//! Needs Node.js >= 18 and npm. The first run does `npm ci` (registry access).

use herald_e2e::{Herald, TestApp};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACTIVITIES: &str = "/V4.1/cid-cid-42/MyActivities";
const MODES: [&str; 3] = ["secret", "signed", "rsa"];

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gigya-interop")
}

fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a command with a deadline; the child is killed if it overruns.
async fn run(mut cmd: tokio::process::Command, what: &str, limit: Duration) -> Output {
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("{what}: could not start it: {e} (are node and npm installed?)"),
        Err(_) => panic!("{what}: still running after {limit:?}, killed"),
    }
}

/// `npm ci` of the pinned SDK when node_modules is missing or stale.
async fn install_sdk() {
    let script = interop_dir().join("install.sh");
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(&script);
    let out = run(
        cmd,
        "tests/gigya-interop/install.sh",
        Duration::from_secs(300),
    )
    .await;
    assert!(
        out.status.success(),
        "tests/gigya-interop/install.sh failed: the Gigya SDK interop test needs Node.js >= 18, \
         npm and access to the npm registry for the first install.\n{}",
        show(&out)
    );
}

fn cli_json(herald: &Herald, args: &[&str]) -> Value {
    let out = herald.cli(args);
    assert!(
        out.status.success(),
        "herald {args:?} failed:\n{}",
        show(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("herald {args:?} printed more than JSON ({e}): {stdout:?}"))
}

fn str_field<'a>(v: &'a Value, k: &str, what: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{what}: no string {k:?} in {v}"))
}

struct Keys {
    user_key: String,
    user_secret: String,
    rsa_user_key: String,
    rsa_private_key: PathBuf,
}

/// An HMAC application key, and an RSA one whose keypair is generated now.
async fn create_keys(herald: &Herald, app: &TestApp, dir: &Path) -> Keys {
    let hmac = cli_json(herald, &["keys", "create", "--app", &app.id, "--json"]);
    let user_key = str_field(&hmac, "user_key", "keys create").to_owned();
    let user_secret = str_field(&hmac, "secret", "keys create").to_owned();

    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(interop_dir().join("keygen.js")).arg(dir);
    let out = run(cmd, "node keygen.js", Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "node keygen.js failed:\n{}",
        show(&out)
    );
    let public = dir.join("public.pem");
    let rsa = cli_json(
        herald,
        &[
            "keys",
            "add-rsa",
            "--app",
            &app.api_key,
            "--public-key",
            public.to_str().expect("utf-8 temp path"),
            "--json",
        ],
    );
    let rsa_user_key = str_field(&rsa, "user_key", "keys add-rsa").to_owned();
    assert_ne!(rsa_user_key, user_key, "two keys, one userKey");
    Keys {
        user_key,
        user_secret,
        rsa_user_key,
        rsa_private_key: dir.join("private.pem"),
    }
}

#[tokio::test]
async fn the_npm_gigya_sdk_logs_in_and_publishes_in_every_credential_mode() {
    install_sdk().await;

    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header("authorization", "WRAP access_token=tok-1"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "wl-post"})))
        .expect(3)
        .named("Windows Live MyActivities, one post per credential mode")
        .mount(&wl)
        .await;
    let herald = Herald::builder()
        .messenger_at(&wl.uri())
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let app = herald.create_app(Some("https://site.example/"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let keys = create_keys(&herald, &app, tmp.path()).await;

    let mut node = tokio::process::Command::new("node");
    node.arg("interop.js")
        .current_dir(interop_dir())
        .env("HERALD_URL", &herald.base)
        .env("API_KEY", &app.api_key)
        .env("PARTNER_SECRET", &app.secret)
        .env("USER_KEY", &keys.user_key)
        .env("USER_SECRET", &keys.user_secret)
        .env("RSA_USER_KEY", &keys.rsa_user_key)
        .env("RSA_PRIVATE_KEY_FILE", &keys.rsa_private_key)
        .env("UID_PREFIX", "gigya-sdk")
        .env("EXPECT_POST_ID", "wl-post")
        .env("MODES", MODES.join(","))
        .env("TIMEOUT_MS", "60000")
        .env_remove("MESSENGER_TOKEN")
        .env_remove("MESSENGER_UID")
        .env_remove("DATA_CENTER");
    let out = run(node, "node interop.js", Duration::from_secs(90)).await;
    assert!(
        out.status.success(),
        "the gigya SDK interop run failed\n{}\n--- herald log\n{}",
        show(&out),
        herald.log()
    );

    // One JSON line per mode, in order, each with Herald's answers.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    let modes: Vec<&str> = lines.iter().filter_map(|l| l["mode"].as_str()).collect();
    assert_eq!(modes, MODES, "{stdout}");
    for l in &lines {
        assert_eq!(l["ok"], true, "{l}");
        assert_eq!(l["publishUserAction"]["errorCode"], 0, "{l}");
        assert_eq!(
            l["publishUserAction"]["providerPostIDs"]["messenger"], "wl-post",
            "{l}"
        );
        assert_eq!(
            l["notifyLogin"]["UID"],
            format!("gigya-sdk-{}", l["mode"].as_str().unwrap_or_default()),
            "{l}"
        );
    }

    // Exactly one Windows Live post per mode, each carrying the SDK's
    // non-ASCII userAction intact (form encoding, signature and JSON survived).
    let posts: Vec<_> = wl
        .received_requests()
        .await
        .expect("wiremock records requests")
        .into_iter()
        .filter(|r| r.url.path() == ACTIVITIES)
        .collect();
    assert_eq!(posts.len(), 3, "Windows Live posts: {}", posts.len());
    for p in &posts {
        let body = String::from_utf8_lossy(&p.body);
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("Windows Live body is not JSON ({e}): {body}"));
        assert!(
            v.to_string().contains("Crème brûlée recipe"),
            "the userAction title did not reach Windows Live intact: {v}"
        );
    }
    wl.verify().await;
}
