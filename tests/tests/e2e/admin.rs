//! The admin API (`/admin/v1`) end to end: admin JWTs from the CLI, apps and
//! their validation, app-admin isolation on every route family, secret rotation
//! with a grace period, app keys (and their revocation on the Gigya surface),
//! provider configs, templates, domains, connections, actions and redrive, and
//! the audit log.

use crate::{connect_messenger, link_action, outcomes};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use herald_e2e::{Answer, Herald, TestApp, answer};
use herald_server::gigya::signature;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACTIVITIES: &str = "/V4.1/cid-cid-42/MyActivities";
const CANONICAL: &str = "https://socialize.us1.gigya.com";
const PROBLEM: &str = "application/problem+json";
const NO_SUCH_APP: &str = "app_0000000000000000000000000000000a";

/// A throwaway RSA public key (the private half was never kept).
const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkWsHEu/Zi+rVBVZrMdB8
aEvBwpcrzLwR+NDm7z8g0j25n7Zw+yTDQ/WStUlfSrN3blvBNvPWOs5S1RmETd3a
Ec8LmrOrZ8h8RLFmVNU2za9EiKR/zN+oZPGWpskbxfa3loew7vpMoTYTc8LXSsYc
EakBDfwm2Ggfywc5AYSe1GTZurlB6yqLwYIwBWuXR5QIMX7MhKH6/JN/D7F6plog
CyI4h60cR02RL2QknUGNZ6D69YiY9sjYPlCERUSQt9ZTDDmyCMIxHIaAqq8jlBkZ
j2R4Wf2eWMSED7OmgGwlzaztlbkj2hkcv/18F0L42njMWiTP5PhWfo6BkWAxJ3Ff
cQIDAQAB
-----END PUBLIC KEY-----
";

// ---------------------------------------------------------------- helpers

/// `herald admin token --sub tester --role <role> [--apps a,b] --ttl <ttl>`:
/// the token is the last line of stdout.
fn admin_token_ttl(h: &Herald, role: &str, apps: &[&str], ttl: &str) -> String {
    let joined = apps.join(",");
    let mut args = vec!["admin", "token", "--sub", "tester", "--role", role];
    if !apps.is_empty() {
        args.extend(["--apps", joined.as_str()]);
    }
    args.extend(["--ttl", ttl]);
    let out = h.cli(&args);
    assert!(
        out.status.success(),
        "herald {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("herald {args:?} printed no token"))
        .to_owned()
}

pub(crate) fn admin_token(h: &Herald, role: &str, apps: &[&str]) -> String {
    admin_token_ttl(h, role, apps, "1h")
}

/// One admin API call: `route` is relative to `/admin/v1`.
pub(crate) async fn admin(
    h: &Herald,
    token: &str,
    verb: &str,
    route: &str,
    body: Option<Value>,
) -> Answer {
    let m = reqwest::Method::from_bytes(verb.as_bytes()).expect("HTTP method");
    let mut req = h
        .http
        .request(m, format!("{}/admin/v1{route}", h.base))
        .header("Authorization", format!("Bearer {token}"));
    if let Some(b) = &body {
        req = req.json(b);
    }
    answer(req.send().await.expect("request")).await
}

/// `PUT /apps/{app_id}/providers/{provider}`: an app's own settings for one
/// provider.
pub(crate) async fn put_provider(
    h: &Herald,
    token: &str,
    app_id: &str,
    provider: &str,
    body: Value,
) -> Answer {
    let route = format!("/apps/{app_id}/providers/{provider}");
    admin(h, token, "PUT", &route, Some(body)).await
}

/// Asserts a problem+json answer with `status` whose first error names `field`.
#[track_caller]
pub(crate) fn assert_problem(a: &Answer, status: u16, field: &str, context: &str) {
    assert_eq!(a.status, status, "{context}: {:?}", a.body);
    assert_eq!(a.content_type, PROBLEM, "{context}: {:?}", a.body);
    assert_eq!(a.body["status"], status, "{context}: {:?}", a.body);
    assert_eq!(
        a.body["errors"][0]["field"], field,
        "{context}: {:?}",
        a.body
    );
}

#[track_caller]
fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

#[track_caller]
fn items(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {:?}", a.body))
        .clone()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|i| s(&i["id"])).collect()
}

fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A fresh single-use HS256 app JWT, as `TestApp::token` makes them.
fn app_jwt(api_key: &str, secret: &str) -> String {
    let key = STANDARD.decode(secret).expect("app secret is base64");
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "iss": api_key,
            "iat": iat,
            "exp": iat + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        }),
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .expect("sign")
}

/// The status of `GET /v1/users/u/connections` with a JWT signed by `secret`.
async fn v1_status(h: &Herald, api_key: &str, secret: &str) -> u16 {
    h.http
        .get(format!("{}/v1/users/u/connections", h.base))
        .bearer_auth(app_jwt(api_key, secret))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// POSTs a form to the Gigya surface `/<method>` as if over HTTPS.
pub(crate) async fn gigya(h: &Herald, m: &str, params: &[(&str, String)]) -> Answer {
    let req = h
        .http
        .post(format!("{}/{m}", h.base))
        .form(
            &params
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .header("X-Forwarded-Proto", "https");
    answer(req.send().await.expect("request")).await
}

/// Adds timestamp, nonce and sig over the canonical Gigya URL.
fn signed(
    m: &str,
    secret: &str,
    mut params: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    params.push(("timestamp", ts.to_string()));
    params.push(("nonce", uuid::Uuid::new_v4().simple().to_string()));
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let url = signature::normalized_url(&url::Url::parse(&format!("{CANONICAL}/{m}")).unwrap());
    let base = signature::base_string("POST", &url, &pairs);
    params.push(("sig", signature::sign(secret, &base).unwrap()));
    params
}

#[track_caller]
pub(crate) fn gigya_code(a: &Answer) -> i64 {
    a.body["errorCode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no errorCode: {:?}", a.body))
}

/// A Windows Live mock answering every activity with 201.
pub(crate) async fn accepting_windows_live() -> MockServer {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "wl-ok"})))
        .mount(&wl)
        .await;
    wl
}

/// A server with Windows Live at `wl` and Gigya trusting a proxy on
/// 127.0.0.1, and an app of https://news.example/ (no domains yet).
pub(crate) async fn news_site(wl: &MockServer) -> (Herald, TestApp) {
    let h = Herald::builder()
        .messenger_at(&wl.uri())
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let app = h.create_app(Some("https://news.example/"));
    (h, app)
}

/// Sets the app's domains through the admin API (200 expected); returns
/// the answer.
pub(crate) async fn set_domains(h: &Herald, app_id: &str, domains: Value) -> Answer {
    let root = admin_token(h, "admin", &[]);
    let a = admin(
        h,
        &root,
        "PATCH",
        &format!("/apps/{app_id}"),
        Some(json!({ "domains": domains })),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a
}

/// Creates an app through the admin API; returns its creation answer's body.
async fn create_app(h: &Herald, token: &str, body: Value) -> Value {
    let a = admin(h, token, "POST", "/apps", Some(body)).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body
}

/// A comparable instant from an audit entry's `at` (RFC 3339 or a number).
fn instant(v: &Value) -> i128 {
    match v {
        Value::Number(n) => n.as_f64().expect("number") as i128,
        Value::String(t) => {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("at {t:?} is not RFC 3339: {e}"))
                .unix_timestamp_nanos()
        }
        other => panic!("unexpected at: {other}"),
    }
}

// ------------------------------------------------------------------- auth

#[tokio::test]
async fn admin_calls_without_a_token_or_with_garbage_are_401() {
    let h = Herald::start().await;
    let none = answer(
        h.http
            .get(format!("{}/admin/v1/apps", h.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(none.status, 401, "{:?}", none.body);
    assert_eq!(none.content_type, PROBLEM);
    assert_eq!(none.body["status"], 401);
    for garbage in ["garbage", "not.a.jwt", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"] {
        let a = admin(&h, garbage, "GET", "/apps", None).await;
        assert_eq!(a.status, 401, "{garbage}: {:?}", a.body);
        assert_eq!(a.content_type, PROBLEM);
    }
    // An app's /v1 JWT is not an admin token.
    let app = h.create_app(None);
    let a = admin(&h, &app.token(), "GET", "/apps", None).await;
    assert_eq!(
        a.status, 401,
        "an app JWT opened the admin API: {:?}",
        a.body
    );
}

#[tokio::test]
async fn a_valid_admin_token_is_accepted_and_ttl_takes_every_documented_form() {
    let h = Herald::start().await;
    for ttl in ["1h", "30m", "90s", "3600"] {
        let token = admin_token_ttl(&h, "admin", &[], ttl);
        let a = admin(&h, &token, "GET", "/apps", None).await;
        assert_eq!(a.status, 200, "ttl {ttl}: {:?}", a.body);
        assert!(a.body["items"].is_array(), "{:?}", a.body);
        // Admin tokens are not single-use.
        let again = admin(&h, &token, "GET", "/apps", None).await;
        assert_eq!(again.status, 200, "ttl {ttl}, second use: {:?}", again.body);
    }
}

#[tokio::test]
async fn an_expired_admin_token_is_401() {
    let h = Herald::start().await;
    let token = admin_token_ttl(&h, "admin", &[], "1s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = admin(&h, &token, "GET", "/apps", None).await;
    assert_eq!(
        a.status, 401,
        "a token past its exp is accepted (leeway?): {:?}",
        a.body
    );
    assert_eq!(a.content_type, PROBLEM);
}

#[tokio::test]
async fn a_tampered_or_unsigned_admin_token_is_401() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = create_app(&h, &root, json!({"name": "Mine"})).await;
    let app_id = s(&app["id"]);
    let scoped = admin_token(&h, "app-admin", &[&app_id]);
    let a = admin(&h, &scoped, "POST", "/apps", Some(json!({"name": "x"}))).await;
    assert_eq!(a.status, 403, "{:?}", a.body);

    // Promote the app-admin to admin by editing the payload, keeping the signature.
    let parts: Vec<&str> = scoped.split('.').collect();
    assert_eq!(parts.len(), 3, "{scoped}");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url payload"))
            .expect("JSON claims");
    assert_eq!(claims["role"], "app-admin", "{claims}");
    assert_eq!(claims["sub"], "tester", "{claims}");
    claims["role"] = json!("admin");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    let a = admin(&h, &forged, "POST", "/apps", Some(json!({"name": "x"}))).await;
    assert_eq!(a.status, 401, "a forged role was accepted: {:?}", a.body);
    let a = admin(&h, &forged, "GET", "/apps", None).await;
    assert_eq!(a.status, 401, "{:?}", a.body);

    // alg: none.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{forged_payload}.");
    let a = admin(&h, &unsigned, "GET", "/apps", None).await;
    assert_eq!(
        a.status, 401,
        "an unsigned token was accepted: {:?}",
        a.body
    );
}

// ------------------------------------------------------------------- apps

#[tokio::test]
async fn apps_are_created_read_updated_and_deleted() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let created = admin(
        &h,
        &root,
        "POST",
        "/apps",
        Some(json!({
            "name": "News site",
            "site_url": "https://news.example/",
            "domains": ["news.example", "cdn.news.example"],
            "enabled_providers": ["messenger"]
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let c = &created.body;
    let id = s(&c["id"]);
    assert!(id.starts_with("app_"), "{id}");
    assert!(!s(&c["api_key"]).is_empty());
    let secret = s(&c["secret"]);
    STANDARD.decode(&secret).expect("the secret is base64");
    assert_eq!(c["name"], "News site");
    assert_eq!(c["site_url"], "https://news.example/");
    assert_eq!(c["domains"], json!(["news.example", "cdn.news.example"]));
    assert_eq!(c["enabled_providers"], json!(["messenger"]));
    assert_eq!(c["disabled"], false);
    assert!(c["created_at"].is_string(), "{c}");

    // The created app works on /v1 with its secret.
    assert_eq!(v1_status(&h, &s(&c["api_key"]), &secret).await, 200);

    let got = admin(&h, &root, "GET", &format!("/apps/{id}"), None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["id"], id.as_str());
    assert_eq!(got.body["api_key"], c["api_key"]);
    assert_eq!(got.body["name"], "News site");
    assert_eq!(got.body["domains"], c["domains"]);
    assert!(got.body.get("secret").is_none(), "{:?}", got.body);

    // PATCH changes only what it names.
    let p = admin(
        &h,
        &root,
        "PATCH",
        &format!("/apps/{id}"),
        Some(json!({"name": "News site 2", "disabled": true})),
    )
    .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["name"], "News site 2");
    assert_eq!(p.body["disabled"], true);
    assert_eq!(p.body["site_url"], "https://news.example/");
    assert_eq!(p.body["domains"], c["domains"]);
    assert_eq!(p.body["enabled_providers"], json!(["messenger"]));
    assert!(p.body.get("secret").is_none(), "{:?}", p.body);
    let p = admin(
        &h,
        &root,
        "PATCH",
        &format!("/apps/{id}"),
        Some(json!({
            "site_url": "http://other.example/home",
            "domains": ["other.example"],
            "enabled_providers": [],
            "disabled": false
        })),
    )
    .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["name"], "News site 2");
    assert_eq!(p.body["site_url"], "http://other.example/home");
    assert_eq!(p.body["domains"], json!(["other.example"]));
    assert_eq!(p.body["enabled_providers"], json!([]));
    assert_eq!(p.body["disabled"], false);
    let got = admin(&h, &root, "GET", &format!("/apps/{id}"), None).await;
    assert_eq!(got.body["name"], "News site 2");
    assert_eq!(got.body["domains"], json!(["other.example"]));

    let d = admin(&h, &root, "DELETE", &format!("/apps/{id}"), None).await;
    assert_eq!(d.status, 204, "{:?}", d.body);
    let got = admin(&h, &root, "GET", &format!("/apps/{id}"), None).await;
    assert_eq!(got.status, 404, "{:?}", got.body);
    assert_eq!(got.content_type, PROBLEM);
    let d = admin(&h, &root, "DELETE", &format!("/apps/{id}"), None).await;
    assert_eq!(d.status, 404, "{:?}", d.body);
    assert!(!ids(&items(&admin(&h, &root, "GET", "/apps", None).await)).contains(&id));
    assert_eq!(
        v1_status(&h, &s(&c["api_key"]), &secret).await,
        401,
        "a deleted app's secret still opens /v1"
    );
}

#[tokio::test]
async fn invalid_app_fields_are_400_naming_the_field() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let long = "x".repeat(201);
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": "A", "site_url": "/relative"}), "site_url"),
        (
            json!({"name": "A", "site_url": "ftp://files.example/"}),
            "site_url",
        ),
        (json!({"name": "A", "site_url": "not a url"}), "site_url"),
        (
            json!({"name": "A", "domains": ["ok.example", "not a host"]}),
            "domains[1]",
        ),
        (
            json!({"name": "A", "domains": ["https://ok.example/"]}),
            "domains[0]",
        ),
        (
            json!({"name": "A", "enabled_providers": ["myspace"]}),
            "enabled_providers[0]",
        ),
        (
            json!({"name": "A", "enabled_providers": ["messenger", "friendster"]}),
            "enabled_providers[1]",
        ),
    ];
    for (body, field) in &cases {
        let a = admin(&h, &root, "POST", "/apps", Some(body.clone())).await;
        assert_problem(&a, 400, field, &format!("POST {body}"));
    }
    // The limits are inclusive.
    create_app(&h, &root, json!({"name": "x".repeat(200)})).await;
    create_app(&h, &root, json!({"name": "y"})).await;

    let app = create_app(&h, &root, json!({"name": "Valid"})).await;
    let route = format!("/apps/{}", s(&app["id"]));
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"site_url": "javascript:alert(1)"}), "site_url"),
        (
            json!({"domains": ["a.example", "b.example", "bad host"]}),
            "domains[2]",
        ),
        (
            json!({"enabled_providers": ["myspace"]}),
            "enabled_providers[0]",
        ),
    ] {
        let a = admin(&h, &root, "PATCH", &route, Some(body.clone())).await;
        assert_problem(&a, 400, field, &format!("PATCH {body}"));
    }
    // Nothing was changed by the refused calls.
    let got = admin(&h, &root, "GET", &route, None).await;
    assert_eq!(got.body["name"], "Valid");
    assert_eq!(got.body["domains"], json!([]), "{:?}", got.body);

    let raw = h
        .http
        .post(format!("{}/admin/v1/apps", h.base))
        .bearer_auth(root.as_str())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let raw = answer(raw).await;
    assert_eq!(raw.status, 400, "{:?}", raw.body);
    assert_eq!(raw.content_type, PROBLEM);
}

#[tokio::test]
async fn unknown_and_malformed_app_ids_are_404() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    for id in [
        NO_SUCH_APP,
        "nope",
        "act_0000000000000000000000000000000a",
        "app_%27;--",
    ] {
        for (verb, route, body) in [
            ("GET", format!("/apps/{id}"), None),
            ("PATCH", format!("/apps/{id}"), Some(json!({"name": "n"}))),
            ("DELETE", format!("/apps/{id}"), None),
            ("POST", format!("/apps/{id}/secret/rotate"), Some(json!({}))),
            ("GET", format!("/apps/{id}/keys"), None),
            ("GET", format!("/apps/{id}/providers"), None),
            ("GET", format!("/apps/{id}/templates"), None),
            ("GET", format!("/apps/{id}/connections"), None),
            ("GET", format!("/apps/{id}/actions"), None),
        ] {
            let a = admin(&h, &root, verb, &route, body).await;
            assert_eq!(a.status, 404, "{verb} {route}: {:?}", a.body);
            assert_eq!(a.content_type, PROBLEM, "{verb} {route}");
        }
    }
}

#[tokio::test]
async fn the_app_list_pages_with_a_cursor_without_duplicates() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let mut created = BTreeSet::new();
    for name in ["One", "Two", "Three"] {
        created.insert(s(&create_app(&h, &root, json!({"name": name})).await["id"]));
    }
    let first = admin(&h, &root, "GET", "/apps?limit=2", None).await;
    let page = items(&first);
    assert_eq!(page.len(), 2, "{:?}", first.body);
    let mut seen = ids(&page);
    let mut cursor = first.body["next_cursor"].clone();
    assert!(
        cursor.is_string(),
        "no next_cursor after a full page: {:?}",
        first.body
    );
    let mut pages = 1;
    while let Some(c) = cursor.as_str() {
        let next = admin(
            &h,
            &root,
            "GET",
            &format!("/apps?limit=2&cursor={}", enc(c)),
            None,
        )
        .await;
        let page = items(&next);
        assert!(page.len() <= 2, "{:?}", next.body);
        for item in &page {
            assert!(item.get("secret").is_none(), "secret in the list: {item}");
        }
        seen.extend(ids(&page));
        cursor = next.body["next_cursor"].clone();
        pages += 1;
        assert!(pages <= 3, "the cursor never ends: {:?}", next.body);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "duplicates across pages: {seen:?}"
    );
    assert_eq!(unique, created, "pages: {seen:?}");

    let all = admin(&h, &root, "GET", "/apps?limit=10", None).await;
    assert_eq!(items(&all).len(), 3);
    assert!(
        all.body["next_cursor"].is_null(),
        "a last page has no next_cursor: {:?}",
        all.body
    );
}

#[tokio::test]
async fn the_app_secret_is_shown_only_at_creation() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = create_app(&h, &root, json!({"name": "Secretive"})).await;
    let (id, secret) = (s(&app["id"]), s(&app["secret"]));
    let list = admin(&h, &root, "GET", "/apps", None).await;
    for item in items(&list) {
        assert!(item.get("secret").is_none(), "{item}");
    }
    let got = admin(&h, &root, "GET", &format!("/apps/{id}"), None).await;
    let patched = admin(
        &h,
        &root,
        "PATCH",
        &format!("/apps/{id}"),
        Some(json!({"name": "Still secretive"})),
    )
    .await;
    for a in [&list, &got, &patched] {
        assert!(
            !a.body.to_string().contains(secret.as_str()),
            "the app secret leaked: {:?}",
            a.body
        );
    }
    assert!(got.body.get("secret").is_none());
    assert!(patched.body.get("secret").is_none());
}

// ----------------------------------------------------- app-admin isolation

#[tokio::test]
async fn an_app_admin_lists_only_its_apps_and_may_not_create_apps() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let mine = s(&create_app(&h, &root, json!({"name": "Mine"})).await["id"]);
    let also_mine = s(&create_app(&h, &root, json!({"name": "Also mine"})).await["id"]);
    let theirs = s(&create_app(&h, &root, json!({"name": "Theirs"})).await["id"]);

    let one = admin_token(&h, "app-admin", &[&mine]);
    let listed = ids(&items(&admin(&h, &one, "GET", "/apps", None).await));
    assert_eq!(listed, vec![mine.clone()]);
    let two = admin_token(&h, "app-admin", &[&mine, &also_mine]);
    let listed: BTreeSet<String> = ids(&items(&admin(&h, &two, "GET", "/apps", None).await))
        .into_iter()
        .collect();
    assert_eq!(listed, BTreeSet::from([mine.clone(), also_mine.clone()]));
    assert!(!listed.contains(&theirs));
    // Paging does not leak either.
    let page = admin(&h, &two, "GET", "/apps?limit=1", None).await;
    let mut seen = ids(&items(&page));
    if let Some(c) = page.body["next_cursor"].as_str() {
        let next = admin(
            &h,
            &two,
            "GET",
            &format!("/apps?limit=1&cursor={}", enc(c)),
            None,
        )
        .await;
        seen.extend(ids(&items(&next)));
    }
    assert!(!seen.contains(&theirs), "{seen:?}");

    let a = admin(&h, &one, "POST", "/apps", Some(json!({"name": "New"}))).await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    assert_eq!(a.content_type, PROBLEM);
    assert_eq!(
        items(&admin(&h, &root, "GET", "/apps", None).await).len(),
        3
    );

    // Its own app it may read and change.
    let got = admin(&h, &one, "GET", &format!("/apps/{mine}"), None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let p = admin(
        &h,
        &one,
        "PATCH",
        &format!("/apps/{mine}"),
        Some(json!({"name": "Mine, renamed"})),
    )
    .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.body["name"], "Mine, renamed");
}

#[tokio::test]
async fn an_app_admin_gets_404_on_every_route_of_another_app() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"code": "request_body_invalid", "message": "no"}})),
        )
        .mount(&wl)
        .await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let root = admin_token(&h, "admin", &[]);
    let mine = h.create_app(Some("https://mine.example/"));
    let theirs = h.create_app(Some("https://theirs.example/"));
    let (m, t) = (mine.id.clone(), theirs.id.clone());

    // Give both apps one of everything.
    let mut their_key = String::new();
    let mut their_action = String::new();
    let mut their_delivery = String::new();
    let mut their_connection = String::new();
    for app in [&mine, &theirs] {
        let id = &app.id;
        connect_messenger(app, "ana", "tok-1").await;
        let k = admin(
            &h,
            &root,
            "POST",
            &format!("/apps/{id}/keys"),
            Some(json!({"kind": "hmac", "permissions": ["read"]})),
        )
        .await;
        assert_eq!(k.status, 201, "{:?}", k.body);
        let p = put_provider(
            &h,
            &root,
            id,
            "messenger",
            json!({"enabled": true, "client_id": "c", "client_secret": "cs", "api_base": wl.uri()}),
        )
        .await;
        assert_eq!(p.status, 200, "{:?}", p.body);
        let tp = admin(
            &h,
            &root,
            "PUT",
            &format!("/apps/{id}/templates/tpl"),
            Some(json!({"text": "{actor} read it"})),
        )
        .await;
        assert_eq!(tp.status, 200, "{:?}", tp.body);
        let a = app
            .post(
                "/v1/actions?wait=10000",
                &json!({"uid": "ana", "action": link_action()}),
            )
            .await;
        assert_eq!(a.status, 202, "{:?}", a.body);
        assert_eq!(a.body["deliveries"][0]["state"], "failed", "{:?}", a.body);
        let conns = items(
            &admin(
                &h,
                &root,
                "GET",
                &format!("/apps/{id}/users/ana/connections"),
                None,
            )
            .await,
        );
        assert_eq!(conns.len(), 1, "{conns:?}");
        if id == &t {
            their_key = s(&k.body["user_key"]);
            their_action = s(&a.body["id"]);
            their_delivery = s(&a.body["deliveries"][0]["id"]);
            their_connection = s(&conns[0]["id"]);
        }
    }

    let scoped = admin_token(&h, "app-admin", &[&m]);
    let routes: &[(&str, String, Option<Value>)] = &[
        ("GET", format!("/apps/{t}"), None),
        (
            "PATCH",
            format!("/apps/{t}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            "POST",
            format!("/apps/{t}/secret/rotate"),
            Some(json!({"grace_seconds": 0})),
        ),
        // keys
        ("GET", format!("/apps/{t}/keys"), None),
        (
            "POST",
            format!("/apps/{t}/keys"),
            Some(json!({"kind": "hmac", "permissions": ["publish"]})),
        ),
        ("DELETE", format!("/apps/{t}/keys/{their_key}"), None),
        // provider configs
        ("GET", format!("/apps/{t}/providers"), None),
        ("GET", format!("/apps/{t}/providers/messenger"), None),
        (
            "PUT",
            format!("/apps/{t}/providers/messenger"),
            Some(json!({"enabled": false})),
        ),
        ("DELETE", format!("/apps/{t}/providers/messenger"), None),
        // templates
        ("GET", format!("/apps/{t}/templates"), None),
        ("GET", format!("/apps/{t}/templates/tpl"), None),
        (
            "PUT",
            format!("/apps/{t}/templates/tpl"),
            Some(json!({"text": "{actor} was here"})),
        ),
        (
            "PUT",
            format!("/apps/{t}/templates/new"),
            Some(json!({"text": "x"})),
        ),
        ("DELETE", format!("/apps/{t}/templates/tpl"), None),
        // users and connections
        ("GET", format!("/apps/{t}/users/ana/connections"), None),
        (
            "DELETE",
            format!("/apps/{t}/users/ana/connections/{their_connection}"),
            None,
        ),
        ("GET", format!("/apps/{t}/connections"), None),
        (
            "GET",
            format!("/apps/{t}/connections?provider=messenger&status=active"),
            None,
        ),
        // actions and deliveries
        ("GET", format!("/apps/{t}/actions"), None),
        ("GET", format!("/apps/{t}/actions?uid=ana"), None),
        ("GET", format!("/apps/{t}/actions/{their_action}"), None),
        (
            "POST",
            format!("/apps/{t}/deliveries/{their_delivery}/redrive"),
            None,
        ),
        // Another app's ids under my own app's routes.
        ("DELETE", format!("/apps/{m}/keys/{their_key}"), None),
        (
            "DELETE",
            format!("/apps/{m}/users/ana/connections/{their_connection}"),
            None,
        ),
        ("GET", format!("/apps/{m}/actions/{their_action}"), None),
        (
            "POST",
            format!("/apps/{m}/deliveries/{their_delivery}/redrive"),
            None,
        ),
        // Last: the app itself.
        ("DELETE", format!("/apps/{t}"), None),
    ];
    for (verb, route, body) in routes {
        let a = admin(&h, &scoped, verb, route, body.clone()).await;
        assert_eq!(a.status, 404, "app-admin {verb} {route}: {:?}", a.body);
        assert_eq!(a.content_type, PROBLEM, "{verb} {route}");
    }
    // Cross-app ids are 404 for a full admin too.
    for (verb, route) in [
        ("GET", format!("/apps/{m}/actions/{their_action}")),
        ("DELETE", format!("/apps/{m}/keys/{their_key}")),
        (
            "DELETE",
            format!("/apps/{m}/users/ana/connections/{their_connection}"),
        ),
        (
            "POST",
            format!("/apps/{m}/deliveries/{their_delivery}/redrive"),
        ),
    ] {
        let a = admin(&h, &root, verb, &route, None).await;
        assert_eq!(a.status, 404, "admin {verb} {route}: {:?}", a.body);
    }

    // The same routes work on its own app.
    for route in [
        format!("/apps/{m}"),
        format!("/apps/{m}/keys"),
        format!("/apps/{m}/providers"),
        format!("/apps/{m}/providers/messenger"),
        format!("/apps/{m}/templates"),
        format!("/apps/{m}/templates/tpl"),
        format!("/apps/{m}/users/ana/connections"),
        format!("/apps/{m}/connections"),
        format!("/apps/{m}/actions"),
    ] {
        let a = admin(&h, &scoped, "GET", &route, None).await;
        assert_eq!(a.status, 200, "app-admin GET {route}: {:?}", a.body);
    }
    let my_actions = items(&admin(&h, &scoped, "GET", &format!("/apps/{m}/actions"), None).await);
    assert_eq!(my_actions.len(), 1);
    assert!(!ids(&my_actions).contains(&their_action));

    // The audit log shows only its apps' entries.
    let audit = items(&admin(&h, &scoped, "GET", "/audit?limit=100", None).await);
    assert!(
        !audit.is_empty(),
        "the app-admin sees none of its own app's entries"
    );
    for e in &audit {
        assert_eq!(e["app_id"], m.as_str(), "{e}");
    }
    let other = admin(&h, &scoped, "GET", &format!("/audit?app_id={t}"), None).await;
    assert!(
        other.status == 404 || (other.status == 200 && items(&other).is_empty()),
        "the app-admin reads another app's audit: {:?}",
        other.body
    );

    // Nothing of theirs was changed.
    let app = admin(&h, &root, "GET", &format!("/apps/{t}"), None).await;
    assert_eq!(app.status, 200, "{:?}", app.body);
    assert_ne!(app.body["name"], "pwned");
    assert_eq!(theirs.get("/v1/users/ana/connections").await.status, 200);
    let keys = items(&admin(&h, &root, "GET", &format!("/apps/{t}/keys"), None).await);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0]["revoked_at"].is_null(), "{keys:?}");
    let cfg = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{t}/providers/messenger"),
        None,
    )
    .await;
    assert_eq!(cfg.status, 200, "{:?}", cfg.body);
    assert_eq!(cfg.body["enabled"], true);
    let tpl = admin(&h, &root, "GET", &format!("/apps/{t}/templates/tpl"), None).await;
    assert_eq!(tpl.body["text"], "{actor} read it");
    assert_eq!(
        admin(&h, &root, "GET", &format!("/apps/{t}/templates/new"), None)
            .await
            .status,
        404
    );
    let conns = items(
        &admin(
            &h,
            &root,
            "GET",
            &format!("/apps/{t}/users/ana/connections"),
            None,
        )
        .await,
    );
    assert_eq!(conns.len(), 1);
    let action = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{t}/actions/{their_action}"),
        None,
    )
    .await;
    assert_eq!(
        action.body["deliveries"][0]["state"], "failed",
        "{:?}",
        action.body
    );
}

// ------------------------------------------------------- secret rotation

#[tokio::test]
async fn a_rotated_secret_keeps_the_old_one_valid_for_the_default_grace_period() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = create_app(&h, &root, json!({"name": "Rotating"})).await;
    let (id, api_key, old) = (s(&app["id"]), s(&app["api_key"]), s(&app["secret"]));
    assert_eq!(v1_status(&h, &api_key, &old).await, 200);

    let before = time::OffsetDateTime::now_utc();
    let r = admin(
        &h,
        &root,
        "POST",
        &format!("/apps/{id}/secret/rotate"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = s(&r.body["secret"]);
    assert_ne!(new, old);
    STANDARD.decode(&new).expect("the new secret is base64");
    let until = time::OffsetDateTime::parse(
        &s(&r.body["previous_valid_until"]),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("previous_valid_until is RFC 3339");
    let grace = until - before;
    assert!(
        grace > time::Duration::seconds(86_400 - 60)
            && grace < time::Duration::seconds(86_400 + 60),
        "default grace is a day, got {grace}"
    );

    assert_eq!(v1_status(&h, &api_key, &new).await, 200, "the new secret");
    assert_eq!(
        v1_status(&h, &api_key, &old).await,
        200,
        "the old secret during its grace"
    );
    let got = admin(&h, &root, "GET", &format!("/apps/{id}"), None).await;
    assert!(
        !got.body.to_string().contains(new.as_str()),
        "{:?}",
        got.body
    );
}

#[tokio::test]
async fn a_rotation_with_no_grace_stops_the_old_secret_at_once() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = create_app(&h, &root, json!({"name": "Rotating"})).await;
    let (id, api_key, first) = (s(&app["id"]), s(&app["api_key"]), s(&app["secret"]));
    let route = format!("/apps/{id}/secret/rotate");

    let r = admin(&h, &root, "POST", &route, Some(json!({"grace_seconds": 0}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let second = s(&r.body["secret"]);
    assert_eq!(
        v1_status(&h, &api_key, &first).await,
        401,
        "the old secret still works"
    );
    assert_eq!(
        v1_status(&h, &api_key, &second).await,
        200,
        "the new secret"
    );

    // A graceful rotation after a graceless one: only the latest two work.
    let r = admin(
        &h,
        &root,
        "POST",
        &route,
        Some(json!({"grace_seconds": 600})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let third = s(&r.body["secret"]);
    assert_eq!(v1_status(&h, &api_key, &third).await, 200);
    assert_eq!(v1_status(&h, &api_key, &second).await, 200);
    assert_eq!(v1_status(&h, &api_key, &first).await, 401);
    let r = admin(&h, &root, "POST", &route, Some(json!({"grace_seconds": 0}))).await;
    let fourth = s(&r.body["secret"]);
    assert_eq!(v1_status(&h, &api_key, &fourth).await, 200);
    assert_eq!(v1_status(&h, &api_key, &third).await, 401);
    assert_eq!(v1_status(&h, &api_key, &second).await, 401);
}

// ------------------------------------------------------------------ keys

#[tokio::test]
async fn keys_are_created_listed_without_secrets_and_a_revoked_key_is_refused_at_once() {
    let h = Herald::builder()
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let root = admin_token(&h, "admin", &[]);
    let app = create_app(&h, &root, json!({"name": "Keyed"})).await;
    let (id, api_key, app_secret) = (s(&app["id"]), s(&app["api_key"]), s(&app["secret"]));

    let hk = admin(
        &h,
        &root,
        "POST",
        &format!("/apps/{id}/keys"),
        Some(json!({"kind": "hmac", "permissions": ["publish", "connections", "read"]})),
    )
    .await;
    assert_eq!(hk.status, 201, "{:?}", hk.body);
    assert_eq!(hk.body["kind"], "hmac");
    assert_eq!(
        hk.body["permissions"],
        json!(["publish", "connections", "read"])
    );
    let user_key = s(&hk.body["user_key"]);
    let key_secret = s(&hk.body["secret"]);

    let rk = admin(
        &h,
        &root,
        "POST",
        &format!("/apps/{id}/keys"),
        Some(json!({"kind": "rsa", "public_key_pem": RSA_PUBLIC_PEM, "permissions": ["publish"]})),
    )
    .await;
    assert_eq!(rk.status, 201, "{:?}", rk.body);
    assert_eq!(rk.body["kind"], "rsa");
    assert!(
        rk.body["secret"].is_null(),
        "an rsa key has no secret: {:?}",
        rk.body
    );
    let rsa_key = s(&rk.body["user_key"]);

    let list = admin(&h, &root, "GET", &format!("/apps/{id}/keys"), None).await;
    let keys = items(&list);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        !list.body.to_string().contains(key_secret.as_str()),
        "{:?}",
        list.body
    );
    for k in &keys {
        assert!(k.get("secret").is_none(), "{k}");
        assert!(k["revoked_at"].is_null(), "{k}");
        assert!(k["created_at"].is_string(), "{k}");
    }
    let hmac_item = keys
        .iter()
        .find(|k| k["user_key"] == user_key.as_str())
        .expect("hmac key listed");
    assert_eq!(hmac_item["kind"], "hmac");
    assert_eq!(
        hmac_item["permissions"],
        json!(["publish", "connections", "read"])
    );
    let rsa_item = keys
        .iter()
        .find(|k| k["user_key"] == rsa_key.as_str())
        .expect("rsa key listed");
    assert_eq!(rsa_item["kind"], "rsa");
    assert_eq!(rsa_item["permissions"], json!(["publish"]));

    // The key works on the Gigya surface, by secret and signed.
    let m = "socialize.getUserInfo";
    let by_secret = vec![
        ("apiKey", api_key.clone()),
        ("userKey", user_key.clone()),
        ("secret", key_secret.clone()),
        ("UID", "u1".to_owned()),
    ];
    let a = gigya(&h, m, &by_secret).await;
    assert_eq!(gigya_code(&a), 0, "{:?}", a.body);
    let p = signed(
        m,
        &key_secret,
        vec![
            ("apiKey", api_key.clone()),
            ("userKey", user_key.clone()),
            ("UID", "u1".into()),
        ],
    );
    assert_eq!(gigya_code(&gigya(&h, m, &p).await), 0);

    let d = admin(
        &h,
        &root,
        "DELETE",
        &format!("/apps/{id}/keys/{user_key}"),
        None,
    )
    .await;
    assert_eq!(d.status, 204, "{:?}", d.body);

    // Refused at once: no cache outlives the revocation.
    let a = gigya(&h, m, &by_secret).await;
    assert_eq!(gigya_code(&a), 403007, "{:?}", a.body);
    let p = signed(
        m,
        &key_secret,
        vec![
            ("apiKey", api_key.clone()),
            ("userKey", user_key.clone()),
            ("UID", "u1".into()),
        ],
    );
    let a = gigya(&h, m, &p).await;
    assert_eq!(gigya_code(&a), 403007, "{:?}", a.body);
    // The app's own secret is unaffected.
    let partner = vec![
        ("apiKey", api_key.clone()),
        ("secret", app_secret.clone()),
        ("UID", "u1".to_owned()),
    ];
    assert_eq!(gigya_code(&gigya(&h, m, &partner).await), 0);

    let keys = items(&admin(&h, &root, "GET", &format!("/apps/{id}/keys"), None).await);
    let revoked = keys
        .iter()
        .find(|k| k["user_key"] == user_key.as_str())
        .expect("revoked key listed");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let rsa_item = keys
        .iter()
        .find(|k| k["user_key"] == rsa_key.as_str())
        .expect("rsa key listed");
    assert!(rsa_item["revoked_at"].is_null(), "{rsa_item}");

    let d = admin(&h, &root, "DELETE", &format!("/apps/{id}/keys/nokey"), None).await;
    assert_eq!(d.status, 404, "{:?}", d.body);
}

#[tokio::test]
async fn invalid_keys_are_400_naming_the_field() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let id = s(&create_app(&h, &root, json!({"name": "Keyed"})).await["id"]);
    let route = format!("/apps/{id}/keys");
    for (body, field) in [
        (
            json!({"kind": "hmac", "permissions": ["nuke"]}),
            "permissions[0]",
        ),
        (
            json!({"kind": "hmac", "permissions": ["read", "nuke"]}),
            "permissions[1]",
        ),
        (
            json!({"kind": "rsa", "permissions": ["publish"]}),
            "public_key_pem",
        ),
        (
            json!({"kind": "rsa", "public_key_pem": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", "permissions": ["publish"]}),
            "public_key_pem",
        ),
        (json!({"kind": "dsa", "permissions": ["publish"]}), "kind"),
    ] {
        let a = admin(&h, &root, "POST", &route, Some(body.clone())).await;
        assert_problem(&a, 400, field, &format!("POST keys {body}"));
    }
    assert!(items(&admin(&h, &root, "GET", &route, None).await).is_empty());
}

// ------------------------------------------------------ provider configs

#[tokio::test]
async fn provider_configs_are_replaced_read_without_their_secret_and_deleted() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let id = s(&create_app(&h, &root, json!({"name": "Configured"})).await["id"]);
    let route = format!("/apps/{id}/providers/messenger");
    let put = admin(
        &h,
        &root,
        "PUT",
        &route,
        Some(json!({
            "enabled": true,
            "client_id": "app-client",
            "client_secret": "app-client-secret-xyz",
            "api_base": "https://wl.example",
            "consent_base": "https://consent.wl.example",
            "options": {"mode": "activities"}
        })),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    let got = admin(&h, &root, "GET", &route, None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    for a in [&put, &got] {
        let b = &a.body;
        assert_eq!(b["provider"], "messenger", "{b}");
        assert_eq!(b["enabled"], true, "{b}");
        assert_eq!(b["client_id"], "app-client", "{b}");
        assert_eq!(b["client_secret_set"], true, "{b}");
        assert_eq!(b["api_base"], "https://wl.example", "{b}");
        assert_eq!(b["consent_base"], "https://consent.wl.example", "{b}");
        assert_eq!(b["options"]["mode"], "activities", "{b}");
        assert!(b.get("client_secret").is_none(), "{b}");
        assert!(!b.to_string().contains("app-client-secret-xyz"), "{b}");
    }
    let list = admin(&h, &root, "GET", &format!("/apps/{id}/providers"), None).await;
    let configs = items(&list);
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert_eq!(configs[0]["provider"], "messenger");
    assert!(!list.body.to_string().contains("app-client-secret-xyz"));

    // PUT replaces: what it leaves out is gone.
    let put = admin(&h, &root, "PUT", &route, Some(json!({"enabled": false}))).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(put.body["enabled"], false);
    assert_eq!(put.body["client_secret_set"], false, "{:?}", put.body);
    assert!(put.body["client_id"].is_null(), "{:?}", put.body);
    let opts = &put.body["options"];
    assert!(
        opts.is_null() || opts == &json!({}),
        "options survived a replacing PUT: {opts}"
    );

    // Validation.
    let a = admin(
        &h,
        &root,
        "PUT",
        &route,
        Some(json!({"enabled": true, "options": {"mode": "telepathy"}})),
    )
    .await;
    assert_problem(&a, 422, "options.mode", "mode telepathy");
    let a = admin(
        &h,
        &root,
        "PUT",
        &route,
        Some(json!({"enabled": true, "options": {"colour": "red"}})),
    )
    .await;
    assert_problem(&a, 422, "options.colour", "unknown option");
    let a = admin(&h, &root, "GET", &route, None).await;
    assert_eq!(
        a.body["enabled"], false,
        "a refused PUT changed the config: {:?}",
        a.body
    );
    for verb in ["GET", "PUT", "DELETE"] {
        let body = (verb == "PUT").then(|| json!({"enabled": true}));
        let a = admin(
            &h,
            &root,
            verb,
            &format!("/apps/{id}/providers/myspace"),
            body,
        )
        .await;
        if verb == "PUT" {
            assert_eq!(a.status, 422, "{verb} myspace: {:?}", a.body);
            assert_eq!(a.body["errors"][0]["field"], "provider", "{:?}", a.body);
        } else {
            assert_eq!(a.status, 404, "{verb} myspace: {:?}", a.body);
        }
    }

    let d = admin(&h, &root, "DELETE", &route, None).await;
    assert_eq!(d.status, 204, "{:?}", d.body);
    assert_eq!(admin(&h, &root, "GET", &route, None).await.status, 404);
    assert_eq!(admin(&h, &root, "DELETE", &route, None).await.status, 404);
    assert!(
        items(&admin(&h, &root, "GET", &format!("/apps/{id}/providers"), None).await).is_empty()
    );
}

#[tokio::test]
async fn an_app_level_share_mode_sends_publishes_to_live_connect() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v5.0/me/share"))
        .and(header("authorization", "Bearer tok-1"))
        .and(body_json(json!({
            "message": "Try this 👀",
            "link": "https://news.example/a/caf%C3%A9?x=1&y=%20z",
            "name": "Crème brûlée recipe",
            "description": "The best one",
            "picture": "https://news.example/t.jpg"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "share-1"})))
        .expect(1)
        .mount(&wl)
        .await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "wrong"})))
        .expect(0)
        .mount(&wl)
        .await;
    // The server-wide mode is the default (activities); the app overrides it.
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    let put = put_provider(
        &h,
        &root,
        &app.id,
        "messenger",
        json!({
            "enabled": true,
            "client_id": "client-1",
            "client_secret": "client-secret-1",
            "api_base": wl.uri(),
            "consent_base": wl.uri(),
            "options": {"mode": "share"}
        }),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    let c = app
        .put(
            "/v1/users/ana/connections/messenger",
            &json!({"access_token": "tok-1", "provider_uid": "cid-42"}),
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let d = &a.body["deliveries"][0];
    assert_eq!(d["state"], "published", "{:?}", a.body);
    assert_eq!(d["post_id"], "share-1");
    assert!(
        !h.log().contains("client-secret-1"),
        "the app's client secret is logged"
    );
}

// -------------------------------------------------------------- templates

#[tokio::test]
async fn templates_are_put_read_listed_validated_and_deleted() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let id = s(&create_app(&h, &root, json!({"name": "Templated"})).await["id"]);
    let route = format!("/apps/{id}/templates/recipe");
    let body = json!({
        "text": "{actor} made a recipe",
        "per_provider": {"messenger": {"activity_type": "CustomActivity", "verb": "devoured"}}
    });
    let put = admin(&h, &root, "PUT", &route, Some(body)).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    let got = admin(&h, &root, "GET", &route, None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    for b in [&put.body, &got.body] {
        assert_eq!(b["name"], "recipe", "{b}");
        assert_eq!(b["text"], "{actor} made a recipe", "{b}");
        assert_eq!(b["per_provider"]["messenger"]["verb"], "devoured", "{b}");
        assert_eq!(
            b["per_provider"]["messenger"]["activity_type"], "CustomActivity",
            "{b}"
        );
    }
    let other = admin(
        &h,
        &root,
        "PUT",
        &format!("/apps/{id}/templates/short"),
        Some(json!({"text": "{actor} {action}"})),
    )
    .await;
    assert_eq!(other.status, 200, "{:?}", other.body);
    let list = items(&admin(&h, &root, "GET", &format!("/apps/{id}/templates"), None).await);
    let names: BTreeSet<String> = list.iter().map(|t| s(&t["name"])).collect();
    assert_eq!(
        names,
        BTreeSet::from(["recipe".to_owned(), "short".to_owned()])
    );

    // PUT replaces.
    let put = admin(
        &h,
        &root,
        "PUT",
        &route,
        Some(json!({"text": "{actor} cooked"})),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(put.body["text"], "{actor} cooked");
    let pp = &put.body["per_provider"];
    assert!(
        pp.is_null() || pp == &json!({}),
        "per_provider survived a PUT: {pp}"
    );

    let bad = admin(
        &h,
        &root,
        "PUT",
        &route,
        Some(json!({"text": "{actor} {nope}"})),
    )
    .await;
    assert_problem(&bad, 400, "text", "unknown placeholder");
    let bad = admin(&h, &root, "PUT", &route, Some(json!({"text": "{actor"}))).await;
    assert_problem(&bad, 400, "text", "unclosed placeholder");
    let got = admin(&h, &root, "GET", &route, None).await;
    assert_eq!(
        got.body["text"], "{actor} cooked",
        "a refused PUT changed it"
    );

    assert_eq!(
        admin(
            &h,
            &root,
            "GET",
            &format!("/apps/{id}/templates/nope"),
            None
        )
        .await
        .status,
        404
    );
    let d = admin(&h, &root, "DELETE", &route, None).await;
    assert_eq!(d.status, 204, "{:?}", d.body);
    assert_eq!(admin(&h, &root, "GET", &route, None).await.status, 404);
    assert_eq!(admin(&h, &root, "DELETE", &route, None).await.status, 404);
    let list = items(&admin(&h, &root, "GET", &format!("/apps/{id}/templates"), None).await);
    assert_eq!(list.len(), 1, "{list:?}");
}

#[tokio::test]
async fn a_publish_naming_a_template_uses_its_text_and_per_provider_verb() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header("authorization", "WRAP access_token=tok-1"))
        .and(body_partial_json(json!({
            "__type": "CustomActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
            "CustomActivityVerb": "devoured",
            "ActivityObjects": [{
                "Title": "Ana made a recipe",
                "AlternateLink": "https://news.example/r"
            }]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "tpl-1"})))
        .expect(1)
        .mount(&wl)
        .await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    let put = admin(
        &h,
        &root,
        "PUT",
        &format!("/apps/{}/templates/recipe", app.id),
        Some(json!({
            "text": "{actor} made a recipe",
            "per_provider": {"messenger": {"activity_type": "CustomActivity", "verb": "devoured"}}
        })),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    connect_messenger(&app, "ana", "tok-1").await;

    let unknown = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "template_name": "nope",
                    "action": {"link_back": "https://news.example/r", "action_name": "cooked"}}),
        )
        .await;
    assert_problem(&unknown, 422, "template_name", "unknown template_name");

    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "template_name": "recipe",
                    "action": {"link_back": "https://news.example/r", "action_name": "cooked"}}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let d = &a.body["deliveries"][0];
    assert_eq!(d["state"], "published", "{:?}", a.body);
    assert_eq!(d["post_id"], "tpl-1");

    // A deleted template can no longer be named.
    let d = admin(
        &h,
        &root,
        "DELETE",
        &format!("/apps/{}/templates/recipe", app.id),
        None,
    )
    .await;
    assert_eq!(d.status, 204);
    let gone = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "template_name": "recipe",
                    "action": {"link_back": "https://news.example/r"}}),
        )
        .await;
    assert_problem(&gone, 422, "template_name", "deleted template");
}

// ---------------------------------------------------------------- domains

#[tokio::test]
async fn links_outside_the_apps_domains_are_refused_on_v1_and_gigya() {
    let wl = accepting_windows_live().await;
    let (h, app) = news_site(&wl).await;
    let root = admin_token(&h, "admin", &[]);
    let p = set_domains(&h, &app.id, json!(["news.example"])).await;
    assert_eq!(p.body["domains"], json!(["news.example"]));
    connect_messenger(&app, "ana", "tok-1").await;

    let publish = |link: &str| json!({"uid": "ana", "action": {"title": "t", "link_back": link}});
    for link in [
        "https://evil.example/x",
        "https://notnews.example/x",
        "https://news.example.evil.example/x",
    ] {
        let a = app.post("/v1/actions", &publish(link)).await;
        assert_problem(&a, 400, "action.link_back", link);
        assert_eq!(a.body["code"], "domain_not_allowed", "{link}: {:?}", a.body);
    }
    for link in [
        "https://news.example/x",
        "https://www.news.example/x",
        "http://a.b.news.example/",
    ] {
        let a = app.post("/v1/actions", &publish(link)).await;
        assert_eq!(a.status, 202, "{link}: {:?}", a.body);
    }
    let media = json!({"uid": "ana", "action": {
        "title": "t",
        "link_back": "https://news.example/x",
        "media_items": [{"type": "image", "src": "https://cdn.evil.example/a.jpg"}]
    }});
    let a = app.post("/v1/actions", &media).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert_eq!(a.body["code"], "domain_not_allowed", "{:?}", a.body);
    let field = s(&a.body["errors"][0]["field"]);
    assert!(field.starts_with("action.media_items[0]"), "{field}");

    // The Gigya surface refuses it with its own code.
    let g = gigya(
        &h,
        "socialize.publishUserAction",
        &[
            ("apiKey", app.api_key.clone()),
            ("secret", app.secret.clone()),
            ("UID", "ana".to_owned()),
            (
                "userAction",
                json!({"title": "t", "linkBack": "https://evil.example/x"}).to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(gigya_code(&g), 400120, "{:?}", g.body);

    // Without domains anything goes.
    let p = admin(
        &h,
        &root,
        "PATCH",
        &format!("/apps/{}", app.id),
        Some(json!({"domains": []})),
    )
    .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    let a = app
        .post("/v1/actions", &publish("https://evil.example/x"))
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
}

// ---------------------------------------------------- users, connections

#[tokio::test]
async fn connections_are_listed_without_tokens_filtered_and_removed() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(None);
    connect_messenger(&app, "ana", "tok-secret-ana").await;
    connect_messenger(&app, "bob", "tok-secret-bob").await;
    let id = &app.id;

    let list = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{id}/users/ana/connections"),
        None,
    )
    .await;
    let conns = items(&list);
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0]["provider"], "messenger");
    assert_eq!(conns[0]["provider_uid"], "cid-42");
    assert_eq!(conns[0]["status"], "active");
    let con_id = s(&conns[0]["id"]);
    let all = admin(&h, &root, "GET", &format!("/apps/{id}/connections"), None).await;
    assert_eq!(items(&all).len(), 2);
    for a in [&list, &all] {
        let text = a.body.to_string();
        for t in ["tok-secret-ana", "tok-secret-bob", "refresh-1"] {
            assert!(!text.contains(t), "{t} leaked: {text}");
        }
    }
    let filtered = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{id}/connections?provider=messenger&status=active"),
        None,
    )
    .await;
    assert_eq!(items(&filtered).len(), 2, "{:?}", filtered.body);
    let none = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{id}/connections?status=needs_reauth"),
        None,
    )
    .await;
    assert!(items(&none).is_empty(), "{:?}", none.body);

    let d = admin(
        &h,
        &root,
        "DELETE",
        &format!("/apps/{id}/users/ana/connections/{con_id}"),
        None,
    )
    .await;
    assert_eq!(d.status, 204, "{:?}", d.body);
    let v1 = app.get("/v1/users/ana/connections").await;
    assert_eq!(v1.body["connections"], json!([]), "{:?}", v1.body);
    assert_eq!(
        app.get("/v1/users/bob/connections").await.body["connections"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let again = admin(
        &h,
        &root,
        "DELETE",
        &format!("/apps/{id}/users/ana/connections/{con_id}"),
        None,
    )
    .await;
    assert_eq!(again.status, 404, "{:?}", again.body);
    let after = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{id}/users/ana/connections"),
        None,
    )
    .await;
    assert!(items(&after).is_empty());
    assert_eq!(
        items(&admin(&h, &root, "GET", &format!("/apps/{id}/connections"), None).await).len(),
        1
    );
}

#[tokio::test]
async fn deleting_an_app_removes_its_keys_provider_configs_and_connections() {
    let h = Herald::builder()
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(None);
    let id = app.id.clone();
    connect_messenger(&app, "ana", "tok-1").await;
    let k = admin(
        &h,
        &root,
        "POST",
        &format!("/apps/{id}/keys"),
        Some(json!({"kind": "hmac", "permissions": ["read"]})),
    )
    .await;
    assert_eq!(k.status, 201, "{:?}", k.body);
    let p = put_provider(&h, &root, &id, "messenger", json!({"enabled": true})).await;
    assert_eq!(p.status, 200, "{:?}", p.body);

    assert_eq!(
        admin(&h, &root, "DELETE", &format!("/apps/{id}"), None)
            .await
            .status,
        204
    );
    for route in [
        format!("/apps/{id}/keys"),
        format!("/apps/{id}/providers/messenger"),
        format!("/apps/{id}/users/ana/connections"),
        format!("/apps/{id}/connections"),
    ] {
        assert_eq!(
            admin(&h, &root, "GET", &route, None).await.status,
            404,
            "{route}"
        );
    }
    assert_eq!(app.get("/v1/users/ana/connections").await.status, 401);
    let g = gigya(
        &h,
        "socialize.getUserInfo",
        &[
            ("apiKey", app.api_key.clone()),
            ("userKey", s(&k.body["user_key"])),
            ("secret", s(&k.body["secret"])),
            ("UID", "ana".to_owned()),
        ],
    )
    .await;
    assert_ne!(
        gigya_code(&g),
        0,
        "a deleted app's key still works: {:?}",
        g.body
    );
}

// ------------------------------------------------------ actions, redrive

#[tokio::test]
async fn a_failed_delivery_is_read_with_its_history_and_redriven_to_published() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": "request_body_invalid", "message": "Title too long"}}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&wl)
        .await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    let id = app.id.clone();
    connect_messenger(&app, "ana", "tok-1").await;

    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    assert_eq!(a.body["deliveries"][0]["state"], "failed", "{:?}", a.body);
    let action_id = s(&a.body["id"]);
    let delivery_id = s(&a.body["deliveries"][0]["id"]);

    let read = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{id}/actions/{action_id}"),
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["id"], action_id.as_str());
    assert_eq!(read.body["uid"], "ana");
    let d = &read.body["deliveries"][0];
    assert_eq!(d["id"], delivery_id.as_str());
    assert_eq!(d["state"], "failed");
    assert_eq!(d["history"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(d["history"][0]["http_status"], 400, "{d}");
    assert!(!read.body.to_string().contains("tok-1"));

    let listed = items(
        &admin(
            &h,
            &root,
            "GET",
            &format!("/apps/{id}/actions?uid=ana"),
            None,
        )
        .await,
    );
    assert_eq!(ids(&listed), vec![action_id.clone()]);
    assert!(listed[0]["created_at"].is_string(), "{}", listed[0]);
    assert_eq!(
        listed[0]["deliveries"][0]["state"], "failed",
        "{}",
        listed[0]
    );
    for (query, expected) in [
        ("uid=bob", 0),
        ("provider=messenger", 1),
        ("state=failed", 1),
        ("state=published", 0),
        ("uid=ana&provider=messenger&state=failed&limit=1", 1),
    ] {
        let l = items(
            &admin(
                &h,
                &root,
                "GET",
                &format!("/apps/{id}/actions?{query}"),
                None,
            )
            .await,
        );
        assert_eq!(l.len(), expected, "{query}: {l:?}");
    }

    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-redriven"})))
        .expect(1)
        .mount(&wl)
        .await;
    let redrive = format!("/apps/{id}/deliveries/{delivery_id}/redrive");
    let r = admin(&h, &root, "POST", &redrive, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["id"], delivery_id.as_str());
    assert_eq!(r.body["state"], "queued", "{:?}", r.body);

    let done = app.wait_final(&action_id, Duration::from_secs(30)).await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published", "{done}");
    assert_eq!(d["post_id"], "act-redriven");
    assert_eq!(
        outcomes(d).last().map(String::as_str),
        Some("published"),
        "{d}"
    );

    // Only failed or unknown deliveries can be redriven.
    let again = admin(&h, &root, "POST", &redrive, None).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.content_type, PROBLEM);
    assert_eq!(again.body["code"], "not_redrivable", "{:?}", again.body);
    let none = admin(
        &h,
        &root,
        "POST",
        &format!("/apps/{id}/deliveries/dlv_0000000000000000000000000000000a/redrive"),
        None,
    )
    .await;
    assert_eq!(none.status, 404, "{:?}", none.body);
    let published = items(
        &admin(
            &h,
            &root,
            "GET",
            &format!("/apps/{id}/actions?state=published"),
            None,
        )
        .await,
    );
    assert_eq!(ids(&published), vec![action_id.clone()]);
    let read = admin(
        &h,
        &root,
        "GET",
        &format!("/apps/{id}/actions/{action_id}"),
        None,
    )
    .await;
    assert_eq!(
        read.body["deliveries"][0]["history"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{:?}",
        read.body
    );
    assert_eq!(
        admin(
            &h,
            &root,
            "GET",
            &format!("/apps/{id}/actions/act_0000000000000000000000000000000a"),
            None
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn the_action_list_pages_with_a_cursor() {
    let wl = accepting_windows_live().await;
    let h = Herald::builder().messenger_at(&wl.uri()).start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;
    let mut created = BTreeSet::new();
    for _ in 0..3 {
        let a = app
            .post(
                "/v1/actions",
                &json!({"uid": "ana", "action": link_action()}),
            )
            .await;
        assert_eq!(a.status, 202, "{:?}", a.body);
        created.insert(s(&a.body["id"]));
    }
    let route = format!("/apps/{}/actions?limit=2", app.id);
    let first = admin(&h, &root, "GET", &route, None).await;
    let mut seen = ids(&items(&first));
    assert_eq!(seen.len(), 2);
    let c = s(&first.body["next_cursor"]);
    let second = admin(
        &h,
        &root,
        "GET",
        &format!("{route}&cursor={}", enc(&c)),
        None,
    )
    .await;
    seen.extend(ids(&items(&second)));
    assert!(second.body["next_cursor"].is_null(), "{:?}", second.body);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "{seen:?}");
    assert_eq!(unique, created);
}

// ------------------------------------------------------------------ audit

#[tokio::test]
async fn mutating_calls_are_audited_newest_first_without_secrets() {
    let h = Herald::start().await;
    let root = admin_token(&h, "admin", &[]);
    let app = create_app(
        &h,
        &root,
        json!({"name": "Audited", "site_url": "https://audited.example/"}),
    )
    .await;
    let (id, first_secret) = (s(&app["id"]), s(&app["secret"]));
    let r = |route: &str| format!("/apps/{id}{route}");

    let mut mutations = 1;
    let p = admin(
        &h,
        &root,
        "PATCH",
        &r(""),
        Some(json!({"name": "Audited 2"})),
    )
    .await;
    assert_eq!(p.status, 200);
    mutations += 1;
    let k = admin(
        &h,
        &root,
        "POST",
        &r("/keys"),
        Some(json!({"kind": "hmac", "permissions": ["read"]})),
    )
    .await;
    assert_eq!(k.status, 201);
    mutations += 1;
    let (user_key, key_secret) = (s(&k.body["user_key"]), s(&k.body["secret"]));
    let c = admin(
        &h,
        &root,
        "PUT",
        &r("/providers/messenger"),
        Some(json!({"enabled": true, "client_id": "cid", "client_secret": "cs-audit-secret-1"})),
    )
    .await;
    assert_eq!(c.status, 200);
    mutations += 1;
    let t = admin(
        &h,
        &root,
        "PUT",
        &r("/templates/t"),
        Some(json!({"text": "{actor} read it"})),
    )
    .await;
    assert_eq!(t.status, 200);
    mutations += 1;
    let rot = admin(
        &h,
        &root,
        "POST",
        &r("/secret/rotate"),
        Some(json!({"grace_seconds": 60})),
    )
    .await;
    assert_eq!(rot.status, 200);
    mutations += 1;
    let second_secret = s(&rot.body["secret"]);
    let d = admin(&h, &root, "DELETE", &r(&format!("/keys/{user_key}")), None).await;
    assert_eq!(d.status, 204);
    mutations += 1;
    // Reads are not mutations.
    admin(&h, &root, "GET", &r(""), None).await;
    admin(&h, &root, "GET", &r("/keys"), None).await;
    let scoped = admin_token(&h, "app-admin", &[&id]);
    let p = admin(
        &h,
        &scoped,
        "PATCH",
        &r(""),
        Some(json!({"name": "Audited 3"})),
    )
    .await;
    assert_eq!(p.status, 200);
    mutations += 1;
    let other = s(&create_app(&h, &root, json!({"name": "Other"})).await["id"]);

    let audit = admin(
        &h,
        &root,
        "GET",
        &format!("/audit?app_id={id}&limit=100"),
        None,
    )
    .await;
    let entries = items(&audit);
    assert!(
        entries.len() >= mutations,
        "{} entries for {mutations} mutating calls: {entries:?}",
        entries.len()
    );
    for e in &entries {
        assert_eq!(e["app_id"], id.as_str(), "{e}");
        assert_eq!(e["actor"], "tester", "{e}");
        assert!(e["id"].is_string() || e["id"].is_number(), "{e}");
        assert!(e["action"].is_string(), "{e}");
        assert!(
            matches!(e["role"].as_str(), Some("admin" | "app-admin")),
            "{e}"
        );
    }
    let times: Vec<i128> = entries.iter().map(|e| instant(&e["at"])).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {entries:?}"
    );
    let actions: BTreeSet<String> = entries.iter().map(|e| s(&e["action"])).collect();
    assert!(actions.len() >= 5, "too few kinds of action: {actions:?}");
    // Newest first: the app-admin's rename, then the key revocation.
    assert_eq!(entries[0]["role"], "app-admin", "{entries:?}");
    assert!(
        entries[1]["target"].to_string().contains(user_key.as_str()),
        "the key revocation does not name the key: {}",
        entries[1]
    );
    let text = audit.body.to_string();
    for secret in [
        first_secret.as_str(),
        second_secret.as_str(),
        key_secret.as_str(),
        "cs-audit-secret-1",
    ] {
        assert!(
            !text.contains(secret),
            "a secret is in the audit log: {text}"
        );
    }

    let two = admin(
        &h,
        &root,
        "GET",
        &format!("/audit?app_id={id}&limit=2"),
        None,
    )
    .await;
    assert_eq!(items(&two).len(), 2, "{:?}", two.body);
    assert_eq!(ids(&items(&two)), ids(&entries[..2]));
    let everything = items(&admin(&h, &root, "GET", "/audit?limit=100", None).await);
    let apps: BTreeSet<String> = everything
        .iter()
        .filter_map(|e| e["app_id"].as_str().map(str::to_owned))
        .collect();
    assert!(apps.contains(&id) && apps.contains(&other), "{apps:?}");
    assert!(
        !everything
            .iter()
            .any(|e| e.to_string().contains(first_secret.as_str()))
    );

    // The app-admin sees its app's entries only.
    let seen = items(&admin(&h, &scoped, "GET", "/audit?limit=100", None).await);
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|e| e["app_id"] == id.as_str()), "{seen:?}");
}
