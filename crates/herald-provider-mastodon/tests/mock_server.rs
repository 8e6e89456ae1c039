//! Against a real Mastodon-API server: the PyPI `mastodon-mock` 0.6.1
//! (installed by tests/peers/mastodon-mock/install.sh), started once per test
//! binary on a free port with its seeded account `testuser` / token
//! `mock_token`.
//!
//! The server runs under a small shell supervisor whose stdin is a pipe from
//! this process: when the test binary exits (normally or killed) the pipe
//! closes, `cat` returns and the supervisor kills the server and removes the
//! temporary directory the server keeps its media in, so nothing outlives
//! the run.
//!
//! mastodon-mock is not the oracle for length counting (it counts code points
//! and ignores the 23-per-URL rule); that is unit-tested in `render`. Here it
//! checks the HTTP shapes, idempotency, errors and the full connect flow.
//!
//! When python3/venv/pip are missing or the install fails, each test prints
//! why and skips — unless `CI=true`, where that is a failure.

use herald_core::provider::http_clients;
use herald_core::{
    AccountInfo, ActionId, ActionMeta, AuthorizeRequest, CallbackParams, Credential, DeliveryId,
    ErrorClass, HttpCtx, IdempotencyKey, NativePost, OutboundPolicy, Provider, ProviderSettings,
    Published, RenderedAction, Secret,
};
use herald_provider_mastodon::{Mastodon, max_characters};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const TOKEN: &str = "mock_token";

/// The running server; `stdin` is held for as long as the process lives.
struct Peer {
    base: String,
    _child: Child,
    _stdin: Mutex<ChildStdin>,
}

static PEER: OnceLock<Result<Peer, String>> = OnceLock::new();
/// The tests share one server and the fault test changes how it answers, so
/// they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn install_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/mastodon-mock/install.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Result<Peer, String> {
    let t0 = Instant::now();
    let out = Command::new("bash")
        .arg(install_script())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run install.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("install.sh failed ({})", out.status));
    }
    let bin = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    eprintln!("mastodon-mock: installed in {:?}", t0.elapsed());
    let port = free_port();
    let t1 = Instant::now();
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
        .map_err(|e| format!("cannot start mastodon_mock: {e}"))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let base = format!("http://127.0.0.1:{port}");
    // Ready when the instance endpoint answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mastodon_mock exited early ({status})"));
        }
        if instance_answers(port) {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("mastodon_mock did not answer within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("mastodon-mock: serving {base} after {:?}", t1.elapsed());
    Ok(Peer {
        base,
        _child: child,
        _stdin: Mutex::new(stdin),
    })
}

/// A blocking `GET /api/v2/instance` without an HTTP client library: the
/// server is up when it answers 200.
fn instance_answers(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /api/v2/instance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The server's base URL, or `None` (with the reason printed) when the peer
/// is absent outside CI. In CI an absent peer fails the test.
fn peer(test: &str) -> Option<&'static str> {
    match PEER.get_or_init(start) {
        Ok(p) => Some(p.base.as_str()),
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("mastodon-mock is required when CI=true: {why}");
            }
            eprintln!("SKIPPED {test}: mastodon-mock unavailable: {why}");
            None
        }
    }
}

fn ctx(base: &str) -> HttpCtx {
    herald_core::tls::init();
    let policy = OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let (_trusted, guarded) = http_clients(&policy, Duration::from_secs(10)).unwrap();
    let base = url::Url::parse(base).unwrap();
    HttpCtx {
        client: guarded.clone(),
        guarded,
        policy,
        api_base: base.clone(),
        consent_base: Some(base),
        settings: ProviderSettings::default(),
    }
}

fn cred(token: &str) -> Credential {
    Credential {
        access_token: Some(Secret::new(token)),
        provider_uid: "1".into(),
        ..Credential::default()
    }
}

fn render(v: Value, account: &AccountInfo) -> NativePost {
    let ra = RenderedAction {
        action: serde_json::from_value(v).unwrap(),
        meta: ActionMeta {
            action_id: ActionId::new(),
            uid: "user-1".into(),
            delivery_id: None,
            app_name: "Site".into(),
            site_url: None,
        },
        options: BTreeMap::new(),
    };
    Mastodon.render(&ra, account).unwrap()
}

fn key() -> IdempotencyKey {
    IdempotencyKey::for_delivery(&DeliveryId::new())
}

/// A GET with the seeded token, outside the provider: (status, JSON body).
async fn get(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn publish_creates_the_rendered_status() {
    let Some(base) = peer("publish_creates_the_rendered_status") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let post = render(
        json!({
            "user_message": "Zoë liked this 👍🏽",
            "title": "Herald ships",
            "link_back": "https://site.example/p/1",
            "privacy": "friends",
        }),
        &AccountInfo::default(),
    );
    let t = Instant::now();
    let p = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &ctx(base))
        .await
        .unwrap();
    eprintln!("publish took {:?}", t.elapsed());
    assert!(!p.post_id.is_empty());
    assert!(
        p.post_url
            .as_deref()
            .is_some_and(|u| u.contains(&p.post_id)),
        "{p:?}"
    );
    let (status, source) = get(base, &format!("/api/v1/statuses/{}/source", p.post_id)).await;
    assert_eq!(status, 200, "{source}");
    assert_eq!(source["text"], post.body["status"]);
    let (status, s) = get(base, &format!("/api/v1/statuses/{}", p.post_id)).await;
    assert_eq!(status, 200);
    assert_eq!(s["visibility"], "private");
    assert_eq!(s["account"]["username"], "testuser");
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_status() {
    let Some(base) = peer("the_same_idempotency_key_gives_the_same_status") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let post = render(
        json!({"user_message": "once only"}),
        &AccountInfo::default(),
    );
    let http = ctx(base);
    let k = key();
    let a = Mastodon
        .publish(&post, &cred(TOKEN), &k, &http)
        .await
        .unwrap();
    let b = Mastodon
        .publish(&post, &cred(TOKEN), &k, &http)
        .await
        .unwrap();
    assert_eq!(a.post_id, b.post_id);
    let c = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &http)
        .await
        .unwrap();
    assert_ne!(a.post_id, c.post_id);
}

#[tokio::test]
async fn errors_from_the_server_are_classified() {
    let Some(base) = peer("errors_from_the_server_are_classified") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let http = ctx(base);
    let post = render(json!({"user_message": "hello"}), &AccountInfo::default());
    let e = Mastodon
        .publish(&post, &cred("not-a-token"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked, "{e:?}");
    assert_eq!(e.http_status(), Some(401));

    // Rendered for an instance allowing 1000 characters, sent to one that
    // allows 500: the server refuses it for good.
    let long = render(
        json!({"user_message": "word ".repeat(150)}),
        &AccountInfo {
            max_text: Some(1000),
            ..AccountInfo::default()
        },
    );
    let e = Mastodon
        .publish(&long, &cred(TOKEN), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str(), e.http_status()),
        (ErrorClass::Rejected, "too_long", Some(422)),
        "{e:?}"
    );
    assert!(e.message().contains("too long"), "{}", e.message());

    let blank = NativePost {
        kind: "status".into(),
        body: json!({"status": " "}),
        warnings: vec![],
    };
    let e = Mastodon
        .publish(&blank, &cred(TOKEN), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "blank", "{e:?}");
}

#[tokio::test]
async fn delete_removes_the_status() {
    let Some(base) = peer("delete_removes_the_status") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let http = ctx(base);
    let post = render(
        json!({"user_message": "short-lived"}),
        &AccountInfo::default(),
    );
    let p = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &http)
        .await
        .unwrap();
    assert_eq!(
        get(base, &format!("/api/v1/statuses/{}", p.post_id))
            .await
            .0,
        200
    );
    Mastodon.delete(&p, &cred(TOKEN), &http).await.unwrap();
    let (status, body) = get(base, &format!("/api/v1/statuses/{}", p.post_id)).await;
    assert_eq!((status, &body["error"]), (404, &json!("Record not found")));
    // Deleting again finds nothing: already done.
    Mastodon.delete(&p, &cred(TOKEN), &http).await.unwrap();
    let e = Mastodon
        .delete(
            &Published {
                post_id: "1".into(),
                post_url: None,
            },
            &cred("not-a-token"),
            &http,
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn instance_limit() {
    let Some(base) = peer("instance_limit") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    assert_eq!(max_characters(&ctx(base)).await.unwrap(), Some(500));
}

/// Register → consent page → (the mock's account picker) → code → exchange
/// with PKCE → publish with the new token → revoke → the token is dead.
#[tokio::test]
async fn the_whole_connect_flow() {
    let Some(base) = peer("the_whole_connect_flow") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let callback = "https://herald.example/connect/mastodon/callback";
    let mut http = ctx(base);
    let scopes = Mastodon.oauth().unwrap().scopes;
    let client = Mastodon
        .register_client(callback, &scopes, &http)
        .await
        .unwrap();
    http.settings.client_id = Some(client.client_id.clone());
    http.settings.client_secret = Some(client.client_secret.clone());

    let consent = Mastodon
        .authorize_url(
            &AuthorizeRequest {
                state: "state-1".into(),
                callback_url: callback.into(),
                pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            },
            &http,
        )
        .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(consent.clone()).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "{consent}");
    assert!(page.text().await.unwrap().contains("testuser"));
    // The mock has no login: its page posts the chosen account back.
    let answer = browser
        .post(format!("{base}/oauth/authorize"))
        .form(&[
            ("username", "testuser"),
            ("redirect_uri", callback),
            ("client_id", client.client_id.as_str()),
            ("state", "state-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 302);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(callback), "{location}");
    let query: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(Mastodon.callback_state(&query), Some("state-1"));

    let c = Mastodon
        .exchange(
            &CallbackParams {
                query,
                callback_url: callback.into(),
                pkce_verifier: Some(Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")),
            },
            &http,
        )
        .await
        .unwrap();
    let port = url::Url::parse(base).unwrap().port().unwrap();
    assert_eq!(
        c.display_name.as_deref(),
        Some(format!("@testuser@127.0.0.1:{port}").as_str())
    );
    assert_eq!(c.url.as_deref(), Some(base));
    let (_, me) = get(base, "/api/v1/accounts/verify_credentials").await;
    assert_eq!(json!(c.provider_uid), me["id"]);

    let post = render(
        json!({"user_message": "connected"}),
        &AccountInfo::default(),
    );
    Mastodon.publish(&post, &c, &key(), &http).await.unwrap();
    assert!(Mastodon.revoke(&c, &http).await.unwrap());
    let e = Mastodon
        .publish(&post, &c, &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked, "{e:?}");
    // The denied-consent callback never reaches the server.
    let e = Mastodon
        .exchange(
            &CallbackParams {
                query: BTreeMap::from([("error".to_owned(), "access_denied".to_owned())]),
                callback_url: callback.into(),
                pkce_verifier: None,
            },
            &http,
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

/// Adds a one-shot fault rule (mastodon-mock's `/api/v1/_mock/faults`).
async fn fault(base: &str, spec: Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/_mock/faults"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
}

/// Rate limits, outages and broken answers, injected into the real server;
/// and a timeout after sending, followed by a re-send with the same key,
/// leaves exactly one status.
#[tokio::test]
async fn injected_faults_are_classified() {
    let Some(base) = peer("injected_faults_are_classified") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let http = ctx(base);
    let statuses = json!({"methods": ["POST"], "path": "/api/v1/statuses"});
    let post = render(
        json!({"user_message": "fault test"}),
        &AccountInfo::default(),
    );

    // Mastodon's own shape: an ISO-8601 reset 120 s ahead.
    let reset = (time::OffsetDateTime::now_utc() + time::Duration::seconds(120))
        .format(&time::format_description::well_known::Iso8601::DEFAULT)
        .unwrap();
    fault(
        base,
        json!({"match": statuses, "count": 1, "effect": {"type": "ratelimit",
            "headers": {"X-RateLimit-Reset": reset, "Retry-After": "5"}}}),
    )
    .await;
    match Mastodon.publish(&post, &cred(TOKEN), &key(), &http).await {
        Err(herald_core::ProviderError::RateLimited {
            retry_after: Some(d),
            status: Some(429),
            ..
        }) => assert!((118..=121).contains(&d.as_secs()), "{d:?}"),
        other => panic!("{other:?}"),
    }
    // The mock's default: epoch seconds 300 s ahead (and Retry-After: 300).
    fault(
        base,
        json!({"match": statuses, "count": 1, "effect": {"type": "ratelimit"}}),
    )
    .await;
    let e = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::RateLimited, "{e:?}");

    fault(
        base,
        json!({"match": statuses, "count": 1, "effect": {"type": "status", "status": 503}}),
    )
    .await;
    let e = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::Transient, Some(503))
    );

    fault(
        base,
        json!({"match": statuses, "count": 1, "effect": {"type": "malformed"}}),
    )
    .await;
    let e = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_answer", "{e:?}");

    // The instance is slow: the client gives up after the request left.
    let marker = format!("slow-{}", DeliveryId::new());
    let slow = render(json!({"user_message": marker}), &AccountInfo::default());
    fault(
        base,
        json!({"match": statuses, "count": 1, "effect": {"type": "latency", "delay_ms": 1500}}),
    )
    .await;
    let impatient = {
        let mut h = ctx(base);
        let policy = h.policy.clone();
        h.client = http_clients(&policy, Duration::from_millis(300)).unwrap().1;
        h
    };
    let k = key();
    let e = Mastodon
        .publish(&slow, &cred(TOKEN), &k, &impatient)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
    let again = Mastodon
        .publish(&slow, &cred(TOKEN), &k, &http)
        .await
        .unwrap();
    // Let the slow first attempt finish on the server, then count.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (_, me) = get(base, "/api/v1/accounts/verify_credentials").await;
    let (_, list) = get(
        base,
        &format!(
            "/api/v1/accounts/{}/statuses?limit=40",
            me["id"].as_str().unwrap()
        ),
    )
    .await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["content"].as_str().is_some_and(|c| c.contains(&marker)))
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [again.post_id.as_str()]);
}

/// An image-only action: fetched from the site, uploaded with
/// `POST /api/v2/media`, attached to the status.
#[tokio::test]
async fn images_are_attached() {
    let Some(base) = peer("images_are_attached") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/photo.png"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_bytes(b"\x89PNG\r\n\x1a\n not really a png".to_vec()),
        )
        .mount(&site)
        .await;
    let post = render(
        json!({"user_message": "a photo", "media_items": [
            {"type": "image", "src": format!("{}/photo.png", site.uri())}
        ]}),
        &AccountInfo::default(),
    );
    let p = Mastodon
        .publish(&post, &cred(TOKEN), &key(), &ctx(base))
        .await
        .unwrap();
    let (status, s) = get(base, &format!("/api/v1/statuses/{}", p.post_id)).await;
    assert_eq!(status, 200);
    let media = s["media_attachments"].as_array().unwrap();
    assert_eq!(media.len(), 1, "{s}");
    assert_eq!(media[0]["type"], "image");
}
