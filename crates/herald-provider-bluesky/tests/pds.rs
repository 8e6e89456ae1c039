//! End-to-end against a real @atproto/pds 0.4.217 with an in-memory PLC
//! directory (tests/peers/bluesky-pds), all on 127.0.0.1 and offline once
//! installed. The peer is started once per test binary; it exits when this
//! process does, because it watches its stdin, which only this process holds.
//!
//! Needs Node.js >= 18.7 and npm; the first run does `npm ci` (about a minute
//! or two, 250 MB). Without them the tests fail when `CI=true` and otherwise
//! skip with a printed reason.

use base64::Engine;
use herald_core::provider::http_clients;
use herald_core::{
    AccountInfo, ActionId, ActionMeta, Credential, DeliveryId, ErrorClass, HttpCtx, IdempotencyKey,
    NativePost, OutboundPolicy, PasswordLogin, Provider, ProviderSettings, RenderedAction, Secret,
};
use herald_provider_bluesky::Bluesky;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A running peer. Holding `_stdin` keeps it alive; when the test process
/// exits the pipe closes and run.cjs shuts down (statics are never dropped,
/// so this is what guarantees no orphan node process).
struct Peer {
    /// `http://localhost:<port>`: the PDS's public URL.
    url: String,
    /// Connecting to 127.0.0.1 directly (what an operator would configure).
    loopback_url: String,
    jwt_secret: String,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

static PEER: OnceLock<Result<Peer, Absent>> = OnceLock::new();

/// Why there is no peer: missing prerequisites may be skipped outside CI; a
/// peer that is installed but does not start is always a failure.
#[derive(Debug)]
enum Absent {
    Prerequisites(String),
    Broken(String),
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/bluesky-pds")
}

fn log_file(name: &str) -> (PathBuf, std::fs::File) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bluesky-pds-{name}-{}.log", std::process::id()));
    let file = std::fs::File::create(&path).expect("a log file in CARGO_TARGET_TMPDIR");
    (path, file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Runs install.sh (npm ci when needed), bounded by `limit`.
fn install(limit: Duration) -> Result<(), Absent> {
    let (log, file) = log_file("install");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(peer_dir().join("install.sh"))
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log handle"))
        .stderr(file)
        .spawn()
        .map_err(|e| Absent::Prerequisites(format!("cannot run bash install.sh: {e}")))?;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for install.sh") {
            eprintln!("bluesky-pds install.sh: {:?}", started.elapsed());
            return if status.success() {
                Ok(())
            } else {
                Err(Absent::Prerequisites(format!(
                    "tests/peers/bluesky-pds/install.sh failed ({status}): it needs Node.js >= 18.7, \
                     npm and, the first time, the npm registry:\n{}",
                    read(&log)
                )))
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Absent::Prerequisites(format!(
                "install.sh still running after {limit:?}, killed:\n{}",
                read(&log)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start() -> Result<Peer, Absent> {
    install(Duration::from_secs(600))?;
    let (log, file) = log_file("run");
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg("run.cjs")
        .current_dir(peer_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(file)
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
    let broken = |why: String, child: &mut Child| {
        let _ = child.kill();
        let _ = child.wait();
        Absent::Broken(format!("{why}\n--- run.cjs stderr\n{}", read(&log)))
    };
    let ready = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(line) => line,
        Err(_) => {
            return Err(broken(
                "the PDS did not become ready within 90 s".into(),
                &mut child,
            ));
        }
    };
    let v: Value = serde_json::from_str(&ready).expect("the ready line is JSON");
    let url = v["url"].as_str().expect("url").to_owned();
    eprintln!("bluesky-pds ready at {url} in {:?}", started.elapsed());
    Ok(Peer {
        loopback_url: url.replace("//localhost:", "//127.0.0.1:"),
        url,
        jwt_secret: v["jwtSecret"].as_str().expect("jwtSecret").to_owned(),
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    })
}

/// The peer, or `None` (after saying why) when it may be skipped.
fn peer() -> Option<&'static Peer> {
    match PEER.get_or_init(start) {
        Ok(p) => Some(p),
        Err(Absent::Broken(why)) => panic!("the Bluesky PDS peer is installed but broken: {why}"),
        Err(Absent::Prerequisites(why)) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and the Bluesky PDS peer is unavailable: {why}");
            }
            // Straight to stderr: libtest would hide an eprintln! of a passing test.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (no Bluesky PDS peer; set CI=true to make this fail): {why}"
            );
            None
        }
    }
}

/// Loopback allowed: the PDS runs next to the test.
fn policy() -> OutboundPolicy {
    OutboundPolicy::new(vec![
        "127.0.0.0/8".parse().unwrap(),
        "::1/128".parse().unwrap(),
    ])
}

/// The context Herald builds: for an account, its server and the guarded client.
fn ctx(api_base: &str, guarded: bool) -> HttpCtx {
    herald_core::tls::init();
    let (client, guarded_client) = http_clients(&policy(), Duration::from_secs(20)).unwrap();
    HttpCtx {
        client: if guarded {
            guarded_client.clone()
        } else {
            client
        },
        guarded: guarded_client,
        policy: policy(),
        api_base: url::Url::parse(api_base).unwrap(),
        consent_base: None,
        settings: ProviderSettings::default(),
    }
}

fn account_ctx(cred: &Credential) -> HttpCtx {
    ctx(cred.url.as_deref().expect("the connection's url"), true)
}

/// A direct XRPC call, for setting up accounts and reading back.
async fn xrpc(
    peer: &Peer,
    method: &str,
    nsid: &str,
    token: Option<&str>,
    body: Option<Value>,
    query: &[(&str, &str)],
) -> (u16, Value) {
    herald_core::tls::init();
    let client = reqwest::Client::new();
    let url = format!("{}/xrpc/{nsid}", peer.loopback_url);
    let mut req = if method == "GET" {
        client.get(url).query(query)
    } else {
        client.post(url)
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the PDS answers");
    let status = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

struct Account {
    handle: String,
    did: String,
    app_password: String,
}

/// A fresh account with an app password (what a user hands Herald).
async fn account(peer: &Peer) -> Account {
    let id = DeliveryId::new();
    let handle = format!("u{}.test", &id.as_str()[id.as_str().len() - 10..]);
    let (status, created) = xrpc(
        peer,
        "POST",
        "com.atproto.server.createAccount",
        None,
        Some(json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "main-password-1"})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "createAccount: {created}");
    let (status, app) = xrpc(
        peer,
        "POST",
        "com.atproto.server.createAppPassword",
        created["accessJwt"].as_str(),
        Some(json!({"name": "herald"})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "createAppPassword: {app}");
    Account {
        handle,
        did: created["did"].as_str().unwrap().to_owned(),
        app_password: app["password"].as_str().unwrap().to_owned(),
    }
}

async fn login(peer: &Peer, acct: &Account) -> Credential {
    Bluesky
        .login_password(
            &PasswordLogin {
                identifier: acct.handle.clone(),
                password: Secret::new(acct.app_password.clone()),
                service: None,
            },
            &ctx(&peer.loopback_url, false),
        )
        .await
        .expect("login with the app password")
}

fn render(action: Value) -> NativePost {
    let rendered = RenderedAction {
        action: serde_json::from_value(action).unwrap(),
        meta: ActionMeta {
            action_id: ActionId::new(),
            uid: "u1".into(),
            delivery_id: None,
            app_name: "Demo".into(),
            site_url: None,
        },
        options: BTreeMap::new(),
    };
    Bluesky.render(&rendered, &AccountInfo::default()).unwrap()
}

fn rkey(post_id: &str) -> &str {
    post_id.rsplit('/').next().unwrap()
}

async fn get_record(peer: &Peer, did: &str, rkey: &str) -> (u16, Value) {
    xrpc(
        peer,
        "GET",
        "com.atproto.repo.getRecord",
        None,
        None,
        &[
            ("repo", did),
            ("collection", "app.bsky.feed.post"),
            ("rkey", rkey),
        ],
    )
    .await
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// The same access token, expired: re-signed with the PDS's secret (HS256)
/// with `exp` in the past.
fn expired(peer: &Peer, access: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut c = claims(access);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    c["iat"] = json!(now - 7300);
    c["exp"] = json!(now - 100);
    let head = access.split('.').next().unwrap();
    let signing = format!("{head}.{}", B64.encode(c.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(peer.jwt_secret.as_bytes()).unwrap();
    mac.update(signing.as_bytes());
    format!("{signing}.{}", B64.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn login_publish_idempotently_refresh_revoke_and_delete() {
    let Some(peer) = peer() else { return };
    let acct = account(peer).await;
    let cred = login(peer, &acct).await;
    assert_eq!(cred.provider_uid, acct.did);
    assert_eq!(cred.display_name.as_deref(), Some(acct.handle.as_str()));
    // The DID document's PDS, as the PDS names itself (not the 127.0.0.1 we
    // logged in at).
    assert_eq!(cred.url.as_deref(), Some(peer.url.as_str()));
    let left = cred.expires_at.unwrap() - time::OffsetDateTime::now_utc();
    assert!(
        (7100..=7200).contains(&left.whole_seconds()),
        "access JWT lifetime {left}"
    );
    let http = account_ctx(&cred);

    // Publish: the record is exactly what was rendered, plus createdAt.
    let post = render(json!({
        "user_message": "Héllo 👋 read this:",
        "link_back": "https://example.com/article",
        "title": "An article",
        "description": "Its description"
    }));
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let published = Bluesky.publish(&post, &cred, &key, &http).await.unwrap();
    let rk = rkey(&published.post_id).to_owned();
    assert_eq!(
        published.post_id,
        format!("at://{}/app.bsky.feed.post/{rk}", acct.did)
    );
    assert_eq!(
        published.post_url.as_deref(),
        Some(format!("https://bsky.app/profile/{}/post/{rk}", acct.did).as_str())
    );
    let (status, got) = get_record(peer, &acct.did, &rk).await;
    assert_eq!(status, 200, "{got}");
    let mut value = got["value"].clone();
    let created_at = value.as_object_mut().unwrap().remove("createdAt").unwrap();
    assert_eq!(value, post.body);
    assert_eq!(
        value["facets"][0]["index"],
        json!({"byteStart": 23, "byteEnd": 50})
    );
    assert!(created_at.as_str().unwrap().ends_with('Z'));
    let cid = got["cid"].clone();

    // The same delivery again (an unknown outcome re-sent): still one post.
    let again = Bluesky.publish(&post, &cred, &key, &http).await.unwrap();
    assert_eq!(again, published);
    let (_, list) = xrpc(
        peer,
        "GET",
        "com.atproto.repo.listRecords",
        None,
        None,
        &[("repo", &acct.did), ("collection", "app.bsky.feed.post")],
    )
    .await;
    assert_eq!(list["records"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        get_record(peer, &acct.did, &rk).await.1["cid"],
        cid,
        "unchanged"
    );

    // An expired access token is 400 ExpiredToken at the real PDS: AuthExpired.
    let stale = Credential {
        access_token: Some(Secret::new(expired(peer, cred.access_token().unwrap()))),
        ..cred.clone()
    };
    let e = Bluesky
        .publish(&post, &stale, &key, &http)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::AuthExpired, Some(400)),
        "{e}"
    );
    assert!(e.message().contains("ExpiredToken"), "{e}");

    // Refresh: a new session (refresh JWT with a new id) and a new access
    // JWT, which works (the delete below uses it). Access JWTs carry no id:
    // one minted in the same second as the old one is byte-identical.
    let fresh = Bluesky.refresh(&cred, &http).await.unwrap();
    let old_refresh = cred.refresh_token.as_ref().unwrap().expose();
    let new_refresh = fresh.refresh_token.as_ref().unwrap().expose().to_owned();
    assert_ne!(claims(&new_refresh)["jti"], claims(old_refresh)["jti"]);
    assert!(fresh.expires_at.unwrap() >= cred.expires_at.unwrap());
    assert_eq!(
        claims(fresh.access_token().unwrap())["sub"],
        json!(acct.did)
    );
    assert_eq!(fresh.provider_uid, acct.did);
    assert_eq!(fresh.url, cred.url);
    // The PDS keeps the old refresh token for a two-hour grace period and
    // answers it with the same rotated session id: a refresh whose answer
    // was lost can be repeated safely.
    let retried = Bluesky.refresh(&cred, &http).await.unwrap();
    assert_eq!(
        claims(retried.refresh_token.as_ref().unwrap().expose())["jti"],
        claims(&new_refresh)["jti"]
    );

    // Revoke: the rotated refresh token is then refused for good.
    assert_eq!(Bluesky.revoke(&fresh, &http).await, Ok(true));
    let e = Bluesky.refresh(&fresh, &http).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked, "{e}");
    assert!(e.message().contains("log in again"), "{e}");
    assert_eq!(
        Bluesky.revoke(&fresh, &http).await,
        Ok(true),
        "revoking twice"
    );

    // Delete with the refreshed access token (still valid until it expires).
    Bluesky.delete(&published, &fresh, &http).await.unwrap();
    let (status, gone) = get_record(peer, &acct.did, &rk).await;
    assert_eq!(
        (status, gone["error"].as_str()),
        (400, Some("RecordNotFound")),
        "{gone}"
    );
    Bluesky
        .delete(&published, &fresh, &http)
        .await
        .expect("deleting twice is fine");
}

#[tokio::test]
async fn a_wrong_app_password_is_auth_revoked() {
    let Some(peer) = peer() else { return };
    let acct = account(peer).await;
    let e = Bluesky
        .login_password(
            &PasswordLogin {
                identifier: acct.handle.clone(),
                password: Secret::new("aaaa-bbbb-cccc-dddd"),
                service: None,
            },
            &ctx(&peer.loopback_url, false),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::AuthRevoked, Some(401)),
        "{e}"
    );
    assert!(
        e.message().contains("Invalid identifier or password"),
        "{e}"
    );
}

#[tokio::test]
async fn fitted_texts_pass_the_pds_limits_that_unfitted_ones_fail() {
    let Some(peer) = peer() else { return };
    let acct = account(peer).await;
    let cred = login(peer, &acct).await;
    let http = account_ctx(&cred);
    let link = "https://example.com/article";
    let family = "👨‍👩‍👧‍👦";
    for message in ["wörd ".repeat(100), family.repeat(300)] {
        let post = render(json!({"user_message": message, "link_back": link}));
        assert!(!post.warnings.is_empty(), "shortened");
        let key = IdempotencyKey::for_delivery(&DeliveryId::new());
        let p = Bluesky.publish(&post, &cred, &key, &http).await.unwrap();
        let (_, got) = get_record(peer, &acct.did, rkey(&p.post_id)).await;
        assert_eq!(got["value"]["text"], post.body["text"]);
    }
    // The PDS enforces both limits: 301 graphemes, and 300 graphemes of 7500 bytes.
    for text in ["a".repeat(301), family.repeat(300)] {
        let post = NativePost {
            kind: "post".into(),
            body: json!({"$type": "app.bsky.feed.post", "text": text}),
            warnings: vec![],
        };
        let key = IdempotencyKey::for_delivery(&DeliveryId::new());
        let e = Bluesky
            .publish(&post, &cred, &key, &http)
            .await
            .unwrap_err();
        assert_eq!(
            (e.class(), e.code().as_str()),
            (ErrorClass::Rejected, "InvalidRequest"),
            "{e}"
        );
    }
}
