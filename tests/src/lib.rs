//! End-to-end test harness: runs the real `herald` binary on a temporary data
//! dir (SQLite by default, a fresh PostgreSQL database when
//! `HERALD_E2E_DATABASE=postgres`), creates apps with its CLI, and talks to it
//! over HTTP with freshly minted app JWTs.

pub mod peers;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The `herald` binary, built once per test run.
pub fn herald_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
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
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        target.join("debug").join("herald")
    })
    .clone()
}

/// The `herald` binary with none of this process's `HERALD_*` variables: a
/// command sees only the settings a test gives it.
pub fn herald_command() -> Command {
    let mut cmd = Command::new(herald_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("HERALD_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Which database the binary under test uses.
pub fn e2e_database() -> String {
    std::env::var("HERALD_E2E_DATABASE").unwrap_or_else(|_| "sqlite".into())
}

pub struct Herald {
    child: Option<Child>,
    pub base: String,
    pub dir: Arc<tempfile::TempDir>,
    env: Vec<(String, String)>,
    _pg: Option<Arc<herald_store::testing::PgDatabase>>,
    pub http: reqwest::Client,
}

pub struct HeraldBuilder {
    env: Vec<(String, String)>,
}

impl HeraldBuilder {
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    /// Windows Live endpoints at a mock.
    pub fn messenger_at(self, base: &str) -> Self {
        self.env("HERALD_PROVIDERS__MESSENGER__API_BASE", base)
            .env("HERALD_PROVIDERS__MESSENGER__CONSENT_BASE", base)
            .env("HERALD_PROVIDERS__MESSENGER__CLIENT_ID", "client-1")
            .env(
                "HERALD_PROVIDERS__MESSENGER__CLIENT_SECRET",
                "client-secret-1",
            )
    }

    pub async fn start(self) -> Herald {
        herald_core::tls::init();
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let port = free_port();
        let mut env = vec![
            ("HERALD_BIND".to_owned(), format!("127.0.0.1:{port}")),
            (
                "HERALD_DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
            ("HERALD_LOG".to_owned(), "info,herald=debug".to_owned()),
            (
                "HERALD_ALLOWED_PRIVATE_NETS".to_owned(),
                "127.0.0.1/32".to_owned(),
            ),
            (
                "HERALD_DISPATCH__POLL_INTERVAL_MS".to_owned(),
                "100".to_owned(),
            ),
            (
                "HERALD_DISPATCH__BACKOFF_BASE_MS".to_owned(),
                "50".to_owned(),
            ),
            (
                "HERALD_DISPATCH__BACKOFF_CAP_MS".to_owned(),
                "200".to_owned(),
            ),
        ];
        let mut pg = None;
        if e2e_database() == "postgres" {
            let db = herald_store::testing::postgres_database()
                .await
                .expect("HERALD_E2E_DATABASE=postgres needs a reachable PostgreSQL");
            env.push(("HERALD_DATABASE_URL".into(), db.url.clone()));
            pg = Some(Arc::new(db));
        }
        for (k, v) in self.env {
            env.retain(|(key, _)| key != &k);
            env.push((k, v));
        }
        let mut h = Herald {
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            env,
            _pg: pg,
            // Idle connections are dropped before actix's 5 s keep-alive
            // closes them, so a request never races a closing connection.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .expect("HTTP client"),
        };
        h.spawn().await;
        h
    }
}

impl Herald {
    pub fn builder() -> HeraldBuilder {
        HeraldBuilder { env: Vec::new() }
    }

    pub async fn start() -> Herald {
        Self::builder().start().await
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("herald.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn command(&self) -> Command {
        let mut cmd = herald_command();
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = self
            .command()
            .arg("serve")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawning herald");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("herald exited ({status}) during start-up:\n{}", self.log());
            }
            // Ours must be the server that answers: another test's server may
            // hold the port this one was given (free ports are picked racily),
            // and then its `/readyz` would answer for ours.
            let bound = format!("listening on: {}", self.base.trim_start_matches("http://"));
            if self.log().contains(&bound)
                && let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "herald not ready after 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, like a crash or a power cut.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Runs a CLI command against the same data dir and database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .output()
            .expect("running herald CLI")
    }

    pub fn create_app(&self, site_url: Option<&str>) -> TestApp {
        let mut args = vec!["apps", "create", "--name", "Test site", "--json"];
        if let Some(u) = site_url {
            args.extend(["--site-url", u]);
        }
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "apps create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("apps create --json printed more than JSON ({e}): {stdout:?}")
        });
        TestApp {
            id: v["id"].as_str().expect("id").to_owned(),
            api_key: v["api_key"].as_str().expect("api_key").to_owned(),
            secret: v["secret"].as_str().expect("secret").to_owned(),
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // The temp dir goes with us: show the server's side of the failure.
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("---- last lines of the herald log ----");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

#[derive(Clone)]
pub struct TestApp {
    pub id: String,
    pub api_key: String,
    pub secret: String,
    base: String,
    http: reqwest::Client,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// An answer: status and JSON body (Null when the body is empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

impl TestApp {
    /// A fresh single-use token.
    pub fn token(&self) -> String {
        let key = STANDARD.decode(&self.secret).expect("secret is base64");
        let iat = time::OffsetDateTime::now_utc().unix_timestamp();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &Claims {
                iss: &self.api_key,
                iat,
                exp: iat + 300,
                jti: uuid::Uuid::new_v4().to_string(),
            },
            &jsonwebtoken::EncodingKey::from_secret(&key),
        )
        .expect("sign")
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await.expect("request")).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Polls `GET /v1/actions/{id}` until every delivery is in a final state.
    pub async fn wait_final(&self, action_id: &str, max: Duration) -> Value {
        let deadline = Instant::now() + max;
        loop {
            let a = self.get(&format!("/v1/actions/{action_id}")).await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            let done = a.body["deliveries"]
                .as_array()
                .expect("deliveries")
                .iter()
                .all(|d| {
                    matches!(
                        d["state"].as_str(),
                        Some("published" | "failed" | "unknown" | "deleted")
                    )
                });
            if done {
                return a.body;
            }
            assert!(
                Instant::now() < deadline,
                "action {action_id} not final in {max:?}: {}",
                a.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = r.text().await.unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        content_type,
    }
}

/// The `name=value` of the connect-flow cookie Herald set on `r` (each flow
/// has its own, named after its state): what the same browser sends on the
/// flow's callback or login.
pub fn flow_cookie(r: &reqwest::Response) -> String {
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .find(|v| v.starts_with("herald_flow_") || v.starts_with("__Host-herald_flow_"))
        .unwrap_or_else(|| panic!("no flow cookie in {:?}", r.headers()));
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

/// The query of a redirect's `Location` as a map.
pub fn location_query(r: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = r.headers()["location"].to_str().expect("ASCII location");
    url::Url::parse(location)
        .expect("absolute location")
        .query_pairs()
        .into_owned()
        .collect()
}

/// A client that does not follow redirects: a browser's view of each hop of
/// a connect flow.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// A Windows Live flow as the browser that started it holds it, from the
/// start's redirect to the consent page: the flow cookie (`name=value`) and
/// the flow's state (the consent URL's `wrap_client_state`).
pub fn messenger_flow(started: &reqwest::Response) -> (String, String) {
    let cookie = flow_cookie(started);
    let state = location_query(started)
        .remove("wrap_client_state")
        .unwrap_or_else(|| panic!("no wrap_client_state in {:?}", started.headers()));
    (cookie, state)
}

impl Herald {
    /// The browser coming back from Windows Live to
    /// `/connect/messenger/callback` with `param` (`wrap_verification_code`
    /// or `wrap_error_reason`) and the flow's `state`, sending `cookie` (a
    /// `Cookie` header) if given; the answer is not followed.
    pub async fn messenger_callback(
        &self,
        cookie: Option<&str>,
        state: &str,
        param: (&str, &str),
    ) -> reqwest::Response {
        let mut req = no_redirects()
            .get(format!("{}/connect/messenger/callback", self.base))
            .query(&[param, ("wrap_client_state", state)]);
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        req.send().await.expect("callback request")
    }
}

impl TestApp {
    /// The site's backend redeeming the `connect_code` a connect flow sent
    /// back to its `redirect_uri`, for the user it expects.
    pub async fn redeem(&self, uid: &str, connect_code: &str) -> Answer {
        self.post(
            &format!("/v1/users/{uid}/connections/redeem"),
            &serde_json::json!({ "connect_code": connect_code }),
        )
        .await
    }

    /// Redeems the `connect_code` of a flow's final redirect (`back`, the
    /// site URL Herald sent the browser to) for `uid`; panics unless 200.
    pub async fn redeem_from(&self, uid: &str, back: &str) -> Answer {
        let q: std::collections::HashMap<String, String> = url::Url::parse(back)
            .expect("absolute redirect")
            .query_pairs()
            .into_owned()
            .collect();
        let code = q
            .get("connect_code")
            .unwrap_or_else(|| panic!("no connect_code in {back}"));
        let r = self.redeem(uid, code).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r
    }
}

/// A flow's redirect back to the site without its `connect_code`, and the
/// code (panics when there is none): the rest can be compared exactly.
pub fn split_connect_code(back: &str) -> (String, String) {
    let mut url = url::Url::parse(back).expect("absolute redirect");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let code = pairs
        .iter()
        .find(|(k, _)| k == "connect_code")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no connect_code in {back}"));
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().filter(|(k, _)| k != "connect_code"));
    (url.to_string(), code)
}
