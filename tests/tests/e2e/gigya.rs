//! The Gigya-compatible surface over HTTP: every auth mode and its refusal
//! codes, the envelope (JSONP, httpStatusCodes, context, Date), and the
//! methods, with Windows Live behind a wiremock.

use herald_e2e::{Answer, Herald, TestApp, answer};
use herald_server::gigya::signature;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANONICAL: &str = "https://socialize.us1.gigya.com";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// POSTs a form to `/<method>`.
async fn call(h: &Herald, method: &str, params: &[(&str, String)], https: bool) -> Answer {
    let mut req = h.http.post(format!("{}/{method}", h.base)).form(
        &params
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    if https {
        req = req.header("X-Forwarded-Proto", "https");
    }
    answer(req.send().await.unwrap()).await
}

/// Adds timestamp, nonce and sig computed over `base_url` + `/<method>`.
fn signed(
    method: &str,
    secret: &str,
    base_url: &str,
    mut params: Vec<(&'static str, String)>,
    ts: i64,
) -> Vec<(&'static str, String)> {
    params.push(("timestamp", ts.to_string()));
    params.push(("nonce", uuid::Uuid::new_v4().simple().to_string()));
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let url = signature::normalized_url(&url::Url::parse(&format!("{base_url}/{method}")).unwrap());
    let base = signature::base_string("POST", &url, &pairs);
    params.push(("sig", signature::sign(secret, &base).unwrap()));
    params
}

async fn gigya_herald(wl: Option<&MockServer>) -> Herald {
    let mut b = Herald::builder()
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .env("HERALD_GIGYA__PUBLISH_WAIT_MS", "10000");
    if let Some(wl) = wl {
        b = b.messenger_at(&wl.uri());
    }
    b.start().await
}

fn hmac_key(h: &Herald, app: &TestApp) -> (String, String) {
    let out = h.cli(&["keys", "create", "--app", &app.api_key, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["user_key"].as_str().unwrap().to_owned(),
        v["secret"].as_str().unwrap().to_owned(),
    )
}

fn code(a: &Answer) -> i64 {
    a.body["errorCode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no errorCode: {:?}", a.body))
}

#[tokio::test]
async fn every_auth_mode_and_its_refusals() {
    let h = gigya_herald(None).await;
    let app = h.create_app(None);
    let (user_key, user_secret) = hmac_key(&h, &app);
    let uid = |v: &str| ("UID", v.to_owned());
    let api = ("apiKey", app.api_key.clone());

    // Partner secret: HTTPS only.
    let p = vec![api.clone(), ("secret", app.secret.clone()), uid("u1")];
    assert_eq!(code(&call(&h, "socialize.getUserInfo", &p, true).await), 0);
    assert_eq!(
        code(&call(&h, "socialize.getUserInfo", &p, false).await),
        403006
    );
    let wrong = vec![api.clone(), ("secret", user_secret.clone()), uid("u1")];
    assert_eq!(
        code(&call(&h, "socialize.getUserInfo", &wrong, true).await),
        403010
    );

    // userKey + secret.
    let p = vec![
        api.clone(),
        ("userKey", user_key.clone()),
        ("secret", user_secret.clone()),
        uid("u1"),
    ];
    assert_eq!(code(&call(&h, "socialize.getUserInfo", &p, true).await), 0);
    let p = vec![
        api.clone(),
        ("userKey", user_key.clone()),
        ("secret", app.secret.clone()),
        uid("u1"),
    ];
    assert_eq!(
        code(&call(&h, "socialize.getUserInfo", &p, true).await),
        403010
    );

    // Signed, over the canonical Gigya URL and over Herald's own URL, seconds and ms.
    let m = "socialize.getUserInfo";
    for (base, ts) in [
        (CANONICAL.to_owned(), now()),
        (h.base.clone(), now()),
        (CANONICAL.to_owned(), now() * 1000),
    ] {
        let p = signed(
            m,
            &user_secret,
            &base,
            vec![api.clone(), ("userKey", user_key.clone()), uid("u1")],
            ts,
        );
        let a = call(&h, m, &p, false).await;
        assert_eq!(code(&a), 0, "{base} {ts}: {:?}", a.body);
    }
    let p = signed(
        m,
        &app.secret,
        CANONICAL,
        vec![api.clone(), uid("u1")],
        now(),
    );
    assert_eq!(
        code(&call(&h, m, &p, false).await),
        0,
        "partner-secret signature"
    );
    let p = signed(
        m,
        &app.secret,
        "https://elsewhere.example",
        vec![api.clone(), uid("u1")],
        now(),
    );
    assert_eq!(code(&call(&h, m, &p, false).await), 403003);
    let p = signed(
        m,
        &app.secret,
        CANONICAL,
        vec![api.clone(), uid("u1")],
        now() - 600,
    );
    assert_eq!(code(&call(&h, m, &p, false).await), 403002);
    let mut tampered = signed(
        m,
        &app.secret,
        CANONICAL,
        vec![api.clone(), uid("u1")],
        now(),
    );
    tampered[1].1 = "u2".into();
    assert_eq!(code(&call(&h, m, &tampered, false).await), 403003);

    // Other refusals.
    let p = vec![
        ("apiKey", "nope".to_owned()),
        ("secret", app.secret.clone()),
        uid("u1"),
    ];
    assert_eq!(code(&call(&h, m, &p, true).await), 400093);
    let p = vec![api.clone(), ("secret", app.secret.clone())];
    let a = call(&h, m, &p, true).await;
    assert_eq!(code(&a), 400002);
    assert!(a.body["errorDetails"].as_str().unwrap().contains("UID"));
    let p = vec![api.clone(), uid("u1")];
    assert_eq!(code(&call(&h, m, &p, true).await), 400002);
    let p = vec![api.clone(), ("secret", app.secret.clone())];
    assert_eq!(
        code(&call(&h, "socialize.noSuchMethod", &p, true).await),
        405001
    );
    assert_eq!(
        code(&call(&h, "socialize.getUserInfo", &[], true).await),
        400002
    );
}

#[tokio::test]
async fn a_replayed_nonce_is_refused_even_after_a_restart() {
    let mut h = gigya_herald(None).await;
    let app = h.create_app(None);
    let m = "socialize.getUserInfo";
    let p = signed(
        m,
        &app.secret,
        CANONICAL,
        vec![("apiKey", app.api_key.clone()), ("UID", "u".into())],
        now(),
    );
    assert_eq!(code(&call(&h, m, &p, false).await), 0);
    assert_eq!(code(&call(&h, m, &p, false).await), 403004);
    h.restart().await;
    assert_eq!(code(&call(&h, m, &p, false).await), 403004);
}

#[tokio::test]
async fn envelope_jsonp_status_codes_context_and_date() {
    let h = gigya_herald(None).await;
    let app = h.create_app(None);
    let p = vec![
        ("apiKey", app.api_key.clone()),
        ("secret", app.secret.clone()),
        ("UID", "u".into()),
        ("context", "ctx-1".into()),
    ];
    let a = call(&h, "socialize.getUserInfo", &p, true).await;
    assert_eq!(a.status, 200);
    let b = &a.body;
    assert_eq!(b["errorCode"], 0);
    assert_eq!(b["statusCode"], 200);
    assert_eq!(b["statusReason"], "OK");
    assert_eq!(b["apiVersion"], 2);
    assert_eq!(b["context"], "ctx-1");
    let call_id = b["callId"].as_str().unwrap();
    assert!(call_id.len() == 32 && call_id.chars().all(|c| c.is_ascii_hexdigit()));
    let t = b["time"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.contains('.'), "{t}");

    // A refusal: HTTP 200 by default, the status with httpStatusCodes=true.
    let bad = vec![("apiKey", app.api_key.clone()), ("UID", "u".into())];
    let a = call(&h, "socialize.getUserInfo", &bad, true).await;
    assert_eq!((a.status, code(&a)), (200, 400002));
    assert_eq!(a.body["statusCode"], 400);
    assert_eq!(a.body["errorMessage"], "Missing required parameter");
    let mut with = bad.clone();
    with.push(("httpStatusCodes", "true".into()));
    assert_eq!(
        call(&h, "socialize.getUserInfo", &with, true).await.status,
        400
    );

    // JSONP by GET, with a Date header.
    let r = h
        .http
        .get(format!("{}/socialize.getUserInfo", h.base))
        .query(&[
            ("apiKey", app.api_key.as_str()),
            ("secret", &app.secret),
            ("UID", "u"),
            ("format", "jsonp"),
            ("callback", "gigya.cb"),
        ])
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let date = r
        .headers()
        .get("date")
        .expect("Date header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(date.ends_with("GMT"), "{date}");
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("gigya.cb({") && text.ends_with("});"),
        "{text}"
    );
    let inner: Value = serde_json::from_str(&text["gigya.cb(".len()..text.len() - 2]).unwrap();
    assert_eq!(inner["errorCode"], 0);
    assert_eq!(
        inner["time"].as_str().unwrap().len(),
        "2026-01-01T00:00:00.000Z".len()
    );
    // The secret rode in the query string; it must not reach the log.
    assert!(
        !h.log().contains(&app.secret),
        "the partner secret appears in the server log"
    );
}

fn activity(content_title: &str) -> Value {
    json!({
        "__type": "CustomActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
        "CustomActivityVerb": "shared a link",
        "ApplicationLink": "https://site.example/",
        "ActivityObjects": [{
            "ActivityObjectType": "http://activitystrea.ms/schema/1.0/custom",
            "Title": content_title,
            "Summary": "desc",
            "Content": "look",
            "AlternateLink": "http://example.com/",
            "PreviewLink": "http://example.com/a.jpg"
        }]
    })
}

#[tokio::test]
async fn notify_login_then_publish_reaches_windows_live() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .and(header("authorization", "WRAP access_token=tok-g"))
        .and(body_json(activity("Hello")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "wl-1"})))
        .expect(1)
        .mount(&wl)
        .await;
    let h = gigya_herald(Some(&wl)).await;
    let app = h.create_app(Some("https://site.example/"));
    let auth = || {
        vec![
            ("apiKey", app.api_key.clone()),
            ("secret", app.secret.clone()),
        ]
    };

    let mut p = auth();
    p.push(("siteUID", "_guid_abc123==".into()));
    p.push(("providerSessions", json!({"messenger": {"authToken": "tok-g", "providerUID": "cid-42", "tokenExpiration": now() + 3600}}).to_string()));
    let a = call(&h, "socialize.notifyLogin", &p, true).await;
    assert_eq!(code(&a), 0, "{:?}", a.body);
    assert_eq!(a.body["UID"], "_guid_abc123==");
    let ts: i64 = a.body["signatureTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = signature::uid_signature(&app.secret, ts, "_guid_abc123==").unwrap();
    assert_eq!(a.body["UIDSignature"], expected);

    let mut p = auth();
    p.push(("UID", "_guid_abc123==".into()));
    p.push(("userAction", json!({"title": "Hello", "linkBack": "http://example.com/", "description": "desc", "userMessage": "look",
        "mediaItems": [{"type": "image", "src": "http://example.com/a.jpg", "href": "http://example.com/"}]}).to_string()));
    p.push(("enabledProviders", "windowslive".into()));
    let a = call(&h, "socialize.publishUserAction", &p, true).await;
    assert_eq!(code(&a), 0, "{:?}", a.body);
    assert_eq!(a.body["providerPostIDs"]["messenger"], "wl-1");
    assert!(a.body["actionID"].as_str().unwrap().starts_with("act_"));

    // The same action is visible on the native API.
    let read = app
        .get(&format!(
            "/v1/actions/{}",
            a.body["actionID"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read.body["deliveries"][0]["state"], "published");

    // getUserInfo lists the identity; removeConnection drops it.
    let mut p = auth();
    p.push(("UID", "_guid_abc123==".into()));
    let info = call(&h, "socialize.getUserInfo", &p, true).await;
    assert_eq!(info.body["identities"][0]["provider"], "messenger");
    assert_eq!(info.body["identities"][0]["providerUID"], "cid-42");
    assert!(!info.body.to_string().contains("tok-g"));
    let mut rm = p.clone();
    rm.push(("provider", "microsoft".into()));
    assert_eq!(
        code(&call(&h, "socialize.removeConnection", &rm, true).await),
        0
    );
    assert_eq!(
        code(&call(&h, "socialize.removeConnection", &rm, true).await),
        400106
    );
    let info = call(&h, "socialize.getUserInfo", &p, true).await;
    assert_eq!(info.body["identities"], json!([]));
}

#[tokio::test]
async fn publish_outcomes_map_to_gigya_codes() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({"error": {"code": "request_body_invalid", "message": "bad"}}),
            ),
        )
        .mount(&wl)
        .await;
    let h = gigya_herald(Some(&wl)).await;
    let app = h.create_app(Some("https://site.example/"));
    let auth = || {
        vec![
            ("apiKey", app.api_key.clone()),
            ("secret", app.secret.clone()),
        ]
    };
    let ua = json!({"title": "T", "linkBack": "https://site.example/x"}).to_string();

    let mut p = auth();
    p.push(("UID", "nobody".into()));
    p.push(("userAction", ua.clone()));
    assert_eq!(
        code(&call(&h, "socialize.publishUserAction", &p, true).await),
        400106
    );

    let mut login = auth();
    login.push(("siteUID", "ana".into()));
    login.push((
        "providerSessions",
        json!({"messenger": {"authToken": "t", "providerUID": "cid-42"}}).to_string(),
    ));
    assert_eq!(
        code(&call(&h, "socialize.notifyLogin", &login, true).await),
        0
    );

    let mut p = auth();
    p.push(("UID", "ana".into()));
    p.push(("userAction", ua.clone()));
    let a = call(&h, "socialize.publishUserAction", &p, true).await;
    assert_eq!(code(&a), 500023, "{:?}", a.body);
    assert_eq!(a.body["providerErrorCodes"][0]["provider"], "messenger");
    assert_eq!(a.body["providerErrorCodes"][0]["errorCode"], 500023);

    // Malformed input names the parameter.
    let mut p = auth();
    p.push(("UID", "ana".into()));
    p.push(("userAction", "{not json".into()));
    let a = call(&h, "socialize.publishUserAction", &p, true).await;
    assert_eq!(code(&a), 400004);
    assert!(
        a.body["errorDetails"]
            .as_str()
            .unwrap()
            .contains("userAction")
    );
    let mut p = auth();
    p.push(("UID", "ana".into()));
    p.push((
        "userAction",
        json!({"title": "T", "linkBack": "/relative"}).to_string(),
    ));
    let a = call(&h, "socialize.publishUserAction", &p, true).await;
    assert_eq!(code(&a), 400006);
    assert!(
        a.body["errorDetails"]
            .as_str()
            .unwrap()
            .contains("userAction.linkBack"),
        "{:?}",
        a.body
    );
    let mut p = auth();
    p.push(("UID", "ana".into()));
    assert!(
        call(&h, "socialize.publishUserAction", &p, true).await.body["errorDetails"]
            .as_str()
            .unwrap()
            .contains("userAction")
    );
}

#[tokio::test]
async fn set_status_and_short_links() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .and(body_json(json!({
            "__type": "AddStatusActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
            "ActivityVerb": "http://activitystrea.ms/schema/1.0/post",
            "ApplicationLink": "https://site.example/",
            "ActivityObjects": [{"ActivityObjectType": "http://activitystrea.ms/schema/1.0/status", "Content": "Hello world ☀"}]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "st-1"})))
        .expect(1)
        .mount(&wl)
        .await;
    let h = gigya_herald(Some(&wl)).await;
    let app = h.create_app(Some("https://site.example/"));
    let auth = || {
        vec![
            ("apiKey", app.api_key.clone()),
            ("secret", app.secret.clone()),
        ]
    };
    let mut login = auth();
    login.push(("siteUID", "ana".into()));
    login.push((
        "providerSessions",
        json!({"messenger": {"authToken": "t", "providerUID": "cid-42"}}).to_string(),
    ));
    assert_eq!(
        code(&call(&h, "socialize.notifyLogin", &login, true).await),
        0
    );
    let mut p = auth();
    p.push(("UID", "ana".into()));
    p.push(("status", "Hello world ☀".into()));
    let a = call(&h, "socialize.setStatus", &p, true).await;
    assert_eq!(code(&a), 0, "{:?}", a.body);
    assert_eq!(a.body["providerPostIDs"]["messenger"], "st-1");

    let mut p = auth();
    p.push(("url", "https://site.example/article?id=7&x=%20".into()));
    let a = call(&h, "socialize.shortenURL", &p, true).await;
    assert_eq!(code(&a), 0, "{:?}", a.body);
    let short = a.body["shortURL"].as_str().unwrap();
    assert!(short.starts_with(&format!("{}/s/", h.base)), "{short}");
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect.get(short).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(
        r.headers()["location"],
        "https://site.example/article?id=7&x=%20"
    );
    assert_eq!(
        no_redirect
            .get(format!("{}/s/nope", h.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let mut p = auth();
    p.push(("url", "javascript:alert(1)".into()));
    assert_eq!(
        code(&call(&h, "socialize.shortenURL", &p, true).await),
        400006
    );

    // deleteAccount removes the user's connections.
    let mut p = auth();
    p.push(("UID", "ana".into()));
    assert_eq!(
        code(&call(&h, "socialize.deleteAccount", &p, true).await),
        0
    );
    let info = call(&h, "socialize.getUserInfo", &p, true).await;
    assert_eq!(info.body["identities"], json!([]));
}

/// An RSA key pair made with openssl: (private PEM path, public PEM path).
pub(crate) fn rsa_pair(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .status()
        .expect("openssl is needed to make a test RSA key")
        .success();
    assert!(ok);
    let ok = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    (private, public)
}

pub(crate) fn rs256(private: &std::path::Path, kid: &str, jti: &str, iat: i64) -> String {
    let pem = std::fs::read(private).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &json!({"iat": iat, "jti": jti}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn rs256_bearer_tokens_on_gigya_and_v1() {
    let h = gigya_herald(None).await;
    let app = h.create_app(None);
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = rsa_pair(dir.path());
    let out = h.cli(&[
        "keys",
        "add-rsa",
        "--app",
        &app.id,
        "--public-key",
        public.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = serde_json::from_slice::<Value>(&out.stdout).unwrap()["user_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let send = |token: String| {
        let h = &h;
        let app = &app;
        async move {
            answer(
                h.http
                    .post(format!("{}/socialize.getUserInfo", h.base))
                    .bearer_auth(token)
                    .form(&[
                        ("apiKey", app.api_key.as_str()),
                        ("UID", "u"),
                        ("format", "json"),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let token = rs256(&private, &kid, "j-1", now());
    assert_eq!(code(&send(token.clone()).await), 0);
    assert_eq!(code(&send(token).await), 403004, "jti is single-use");
    assert_eq!(
        code(&send(rs256(&private, &kid, "j-2", now() - 600)).await),
        403002
    );
    assert_eq!(
        code(&send(rs256(&private, "uk_unknown", "j-3", now())).await),
        403003
    );

    // The same key authenticates /v1.
    let url = format!("{}/v1/users/u/connections", h.base);
    let ok = answer(
        h.http
            .get(&url)
            .bearer_auth(rs256(&private, &kid, "v1-1", now()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let t = rs256(&private, &kid, "v1-2", now());
    assert_eq!(
        answer(h.http.get(&url).bearer_auth(&t).send().await.unwrap())
            .await
            .status,
        200
    );
    assert_eq!(
        answer(h.http.get(&url).bearer_auth(&t).send().await.unwrap())
            .await
            .status,
        401
    );
}
