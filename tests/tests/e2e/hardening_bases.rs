//! Provider bases an app sets, and two server edges, through the binary: an
//! app-admin cannot point a network at a listener of its choosing to collect
//! the operator's client credentials, an app's own base needs its own
//! `client_id`, only the `admin` role may use a private address the operator
//! allowed, calls to an app's base follow no redirects, and only the nearest
//! proxy hop's `X-Forwarded-Proto` is believed.

use crate::admin::{admin_token, assert_problem, put_provider};
use herald_e2e::{Herald, TestApp, answer};
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Herald with X at `x` under the operator's client credentials.
async fn with_x(x: &MockServer) -> Herald {
    Herald::builder()
        .env("HERALD_PROVIDERS__X__API_BASE", x.uri())
        .env("HERALD_PROVIDERS__X__CONSENT_BASE", x.uri())
        .env("HERALD_PROVIDERS__X__CLIENT_ID", "operator-client")
        .env("HERALD_PROVIDERS__X__CLIENT_SECRET", "operator-secret")
        .start()
        .await
}

/// An app's X settings: its own API base and its own client credentials.
fn with_own_client(api_base: &str) -> Value {
    json!({
        "enabled": true,
        "api_base": api_base,
        "client_id": "app-client",
        "client_secret": "app-secret"
    })
}

/// Imports an X connection for `ana`; `expired` makes the next publish refresh.
async fn connect_x(app: &TestApp, expired: bool) {
    let mut body = json!({
        "access_token": "x-acc-1",
        "refresh_token": "x-ref-1",
        "provider_uid": "2244994945",
    });
    if expired {
        body["expires_at"] = json!(1);
    }
    let c = app.put("/v1/users/ana/connections/x", &body).await;
    assert_eq!(c.status, 200, "{:?}", c.body);
}

async fn publish_to_x(app: &TestApp) -> Value {
    let a = app
        .post(
            "/v1/actions",
            &json!({
                "uid": "ana",
                "enabled_providers": ["x"],
                "action": {"user_message": "Read this", "link_back": "https://news.example/a"}
            }),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    app.wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await
}

#[tokio::test]
async fn an_app_admin_cannot_send_the_operators_x_credentials_to_its_listener() {
    let x = MockServer::start().await;
    // Refuses every token, so Herald refreshes with its client credentials.
    let listener = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&listener)
        .await;
    let h = with_x(&x).await;
    let app = h.create_app(Some("https://site.example/"));
    let tenant = admin_token(&h, "app-admin", &[&app.id]);
    // The listener is on 127.0.0.1, which this deployment allows for its own
    // (operator-configured) mocks: the app-admin must still not use it.
    let put = put_provider(
        &h,
        &tenant,
        &app.id,
        "x",
        json!({"enabled": true, "api_base": listener.uri(), "consent_base": listener.uri()}),
    )
    .await;
    connect_x(&app, true).await;
    publish_to_x(&app).await;
    let got = listener.received_requests().await.unwrap_or_default();
    assert!(
        got.iter().all(|r| !r.headers.contains_key("authorization")),
        "credentials reached the app's listener: {:?}",
        got.iter().map(|r| &r.headers).collect::<Vec<_>>()
    );
    assert!(got.is_empty(), "the app's listener was called");
    assert_problem(&put, 400, "api_base", "an app-admin's loopback base");
}

#[tokio::test]
async fn an_app_base_needs_the_apps_own_client_id() {
    let x = MockServer::start().await;
    let h = with_x(&x).await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    // A name that does not resolve (yet) is checked again at every call.
    for base in ["api_base", "consent_base"] {
        let body = json!({"enabled": true, base: "https://x-api.example/"});
        let put = put_provider(&h, &root, &app.id, "x", body).await;
        assert_problem(&put, 422, "client_id", base);
        assert_eq!(put.body["code"], "client_credentials_required");
    }
    let put = put_provider(
        &h,
        &root,
        &app.id,
        "x",
        with_own_client("https://x-api.example/"),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    // Bluesky logs in with the user's app password: no client credentials.
    let body = json!({"enabled": true, "api_base": "https://pds.example/"});
    let put = put_provider(&h, &root, &app.id, "bluesky", body).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
}

#[tokio::test]
async fn only_the_admin_may_set_a_private_base_the_operator_allowed() {
    let x = MockServer::start().await;
    let h = with_x(&x).await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    let tenant = admin_token(&h, "app-admin", &[&app.id]);
    let body = |field: &str, base: &str| json!({"enabled": true, field: base, "client_id": "c", "client_secret": "cs"});
    let allowed = x.uri(); // 127.0.0.1, in HERALD_ALLOWED_PRIVATE_NETS
    for (field, base) in [
        ("api_base", allowed.as_str()),
        ("consent_base", allowed.as_str()),
        ("api_base", "http://localhost:9/"),
        ("api_base", "http://169.254.169.254/"),
    ] {
        let put = put_provider(&h, &tenant, &app.id, "x", body(field, base)).await;
        assert_problem(&put, 400, field, base);
    }
    let put = put_provider(&h, &tenant, &app.id, "x", body("api_base", &allowed)).await;
    assert!(
        put.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("only the admin role"),
        "{:?}",
        put.body
    );
    let put = put_provider(&h, &root, &app.id, "x", body("api_base", &allowed)).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    // Not allowed by the operator: refused for the admin too.
    let put = put_provider(
        &h,
        &root,
        &app.id,
        "x",
        body("api_base", "http://10.1.2.3/"),
    )
    .await;
    assert_problem(&put, 400, "api_base", "10.1.2.3 by the admin");
}

#[tokio::test]
async fn a_call_to_an_app_base_follows_no_redirect() {
    let x = MockServer::start().await;
    let own = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/2/tweets", elsewhere.uri()).as_str()),
        )
        .mount(&own)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"data": {"id": "1", "text": "Read this"}})),
        )
        .mount(&elsewhere)
        .await;
    let h = with_x(&x).await;
    let root = admin_token(&h, "admin", &[]);
    let app = h.create_app(Some("https://site.example/"));
    let put = put_provider(&h, &root, &app.id, "x", with_own_client(&own.uri())).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    connect_x(&app, false).await;
    let done = publish_to_x(&app).await;
    assert_eq!(own.received_requests().await.unwrap().len(), 1);
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect was followed"
    );
    assert_ne!(done["deliveries"][0]["state"], "published", "{done}");
}

#[tokio::test]
async fn only_the_nearest_hops_forwarded_proto_counts() {
    let h = Herald::builder()
        .env("HERALD_GIGYA__TRUSTED_PROXIES", "127.0.0.1/32")
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    let code = |headers: &'static [&'static str]| {
        let h = &h;
        let app = &app;
        async move {
            let mut req = h
                .http
                .post(format!("{}/socialize.getUserInfo", h.base))
                .form(&[
                    ("apiKey", app.api_key.as_str()),
                    ("secret", app.secret.as_str()),
                    ("UID", "u1"),
                ]);
            for v in headers {
                req = req.header("X-Forwarded-Proto", *v);
            }
            answer(req.send().await.unwrap()).await.body["errorCode"].clone()
        }
    };
    // A client's own "https" ahead of what the proxy appended ("http").
    assert_eq!(code(&["https, http"]).await, 403006);
    assert_eq!(code(&["https", "http"]).await, 403006);
    assert_eq!(code(&["http, https"]).await, 0);
    assert_eq!(code(&["https"]).await, 0);
}
