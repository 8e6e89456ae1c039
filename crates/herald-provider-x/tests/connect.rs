//! The connect flow against a local HTTP server (wiremock): the consent URL,
//! the code exchange and users/me, refresh and revoke — each request checked
//! field by field as X documents it (form-encoded bodies, HTTP Basic for a
//! confidential client).

mod common;

use common::{CLIENT_ID, CLIENT_SECRET, cred, ctx, form, pairs};
use herald_core::{
    AuthorizeRequest, CallbackParams, Credential, ErrorClass, HttpCtx, Provider, Secret,
};
use herald_provider_x::X;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CALLBACK: &str = "https://herald.example/connect/x/callback";
const SCOPES: &str = "tweet.read tweet.write users.read offline.access";
/// RFC 7636 appendix B: this verifier's S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// docs.x.com's examples of a code and tokens.
const CODE: &str =
    "VGNibzFWSWREZm01bjN1N3dicWlNUG1oa2xRRVNNdmVHelJGY2hPWGxNd2dxOjE2MjIxNjA4MjU4MjU6MToxOmFjOjE";
const ACCESS: &str =
    "Q0Mzb0VhZ0V5dmNXSTEyNER2MFNfVW50RzdXdTN6STFxQlVkTGhTc1lCdlBiOjE2MjIxNDc3NDM5MTQ6MToxOmF0OjE";
const REFRESH: &str =
    "bWRWa3gzdnk3WHRGU1o0bmRRcTJ5VUxWX1lZTDdJSUtmaWcxbTVxdEFXcW5tOjE2MjIxNDc3NDM5MTQ6MToxOnJ0OjE";
/// `Basic base64("rG9n6402A3dbUJKzXTNX4oWHJ:csecret-1")`.
const BASIC: &str = "Basic ckc5bjY0MDJBM2RiVUpLelhUTlg0b1dISjpjc2VjcmV0LTE=";

fn only_request(reqs: &[Request], p: &str) -> Request {
    let found: Vec<_> = reqs.iter().filter(|r| r.url.path() == p).collect();
    assert_eq!(found.len(), 1, "requests to {p}: {found:?}");
    found[0].clone()
}

fn authorize(pkce: Option<&str>) -> AuthorizeRequest {
    AuthorizeRequest {
        state: "st a/te+1".into(),
        callback_url: format!("{CALLBACK}?x=1"),
        pkce_challenge: pkce.map(str::to_owned),
    }
}

#[test]
fn authorize_url_has_every_parameter() {
    let http = ctx("https://api.x.com/");
    let u = X.authorize_url(&authorize(Some(CHALLENGE)), &http).unwrap();
    assert_eq!(
        (u.scheme(), u.host_str(), u.path()),
        ("https", Some("x.com"), "/i/oauth2/authorize")
    );
    let got: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    assert_eq!(
        got,
        pairs(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", &format!("{CALLBACK}?x=1")),
            ("scope", SCOPES),
            ("state", "st a/te+1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    // Spaces in the scope are encoded, reserved characters escaped.
    let q = u.query().unwrap();
    assert!(
        q.contains("scope=tweet.read+tweet.write+users.read+offline.access&"),
        "{q}"
    );
    assert!(q.contains("state=st+a%2Fte%2B1&"), "{q}");

    // A consent base with a path keeps it.
    let mut h = ctx("https://api.x.com/");
    h.consent_base = Some(url::Url::parse("http://127.0.0.1:9/mock/").unwrap());
    let u = X.authorize_url(&authorize(Some(CHALLENGE)), &h).unwrap();
    assert!(
        u.as_str()
            .starts_with("http://127.0.0.1:9/mock/i/oauth2/authorize?"),
        "{u}"
    );

    // X requires PKCE, and the app's client id.
    let e = X.authorize_url(&authorize(None), &http).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
    let mut h = ctx("https://api.x.com/");
    h.settings.client_id = Some(" ".into());
    let e = X
        .authorize_url(&authorize(Some(CHALLENGE)), &h)
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
    assert!(e.message().contains("client_id"), "{}", e.message());
}

fn callback(query: &[(&str, &str)], verifier: Option<&str>) -> CallbackParams {
    CallbackParams {
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        callback_url: CALLBACK.into(),
        pkce_verifier: verifier.map(Secret::new),
    }
}

fn token_body(access: &str, refresh: &str) -> serde_json::Value {
    json!({
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": access,
        "scope": SCOPES,
        "refresh_token": refresh,
    })
}

async fn mount_me(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .and(header("authorization", format!("Bearer {ACCESS}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"id": "2244994945", "name": "X Dev", "username": "TwitterDev"}
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn exchange_posts_the_form_with_basic_auth_and_names_the_account() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS, REFRESH)))
        .expect(1)
        .mount(&server)
        .await;
    mount_me(&server).await;
    let http = ctx(&format!("{}/", server.uri()));
    let c = X
        .exchange(
            &callback(&[("code", CODE), ("state", "s")], Some(VERIFIER)),
            &http,
        )
        .await
        .unwrap();
    assert_eq!(c.access_token.as_ref().unwrap().expose(), ACCESS);
    assert_eq!(c.refresh_token.as_ref().unwrap().expose(), REFRESH);
    assert_eq!(c.provider_uid, "2244994945");
    assert_eq!(c.display_name.as_deref(), Some("@TwitterDev"));
    assert_eq!(c.url, None);
    let left = c.expires_at.unwrap() - time::OffsetDateTime::now_utc();
    assert!((7190..=7200).contains(&left.whole_seconds()), "{left}");
    // Tokens never show in a Debug of the credential.
    let shown = format!("{c:?}");
    assert!(
        !shown.contains(ACCESS) && !shown.contains(REFRESH),
        "{shown}"
    );

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&only_request(&reqs, "/2/oauth2/token").body),
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", CODE),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
        ])
    );
}

#[tokio::test]
async fn basic_auth_is_base64_of_id_colon_secret() {
    // docs.x.com's own example: "Aladdin" / "open sesame".
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(header(
            "authorization",
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS, REFRESH)))
        .expect(1)
        .mount(&server)
        .await;
    mount_me(&server).await;
    let mut http = ctx(&server.uri());
    http.settings.client_id = Some("Aladdin".into());
    http.settings.client_secret = Some(Secret::new("open sesame"));
    X.exchange(&callback(&[("code", CODE)], Some(VERIFIER)), &http)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_public_client_sends_no_authorization_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS, REFRESH)))
        .mount(&server)
        .await;
    mount_me(&server).await;
    let mut http = ctx(&server.uri());
    http.settings.client_secret = None;
    X.exchange(&callback(&[("code", CODE)], Some(VERIFIER)), &http)
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let token = only_request(&reqs, "/2/oauth2/token");
    assert!(token.headers.get("authorization").is_none());
    assert_eq!(
        form(&token.body).last().unwrap(),
        &("client_id".to_owned(), CLIENT_ID.to_owned())
    );
}

#[tokio::test]
async fn a_denied_consent_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no request on denial")
        .mount(&server)
        .await;
    let e = X
        .exchange(
            &callback(
                &[("error", "access_denied"), ("state", "s")],
                Some(VERIFIER),
            ),
            &ctx(&server.uri()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(e.message().contains("access_denied"), "{}", e.message());
    let e = X
        .exchange(
            &callback(&[("state", "s")], Some(VERIFIER)),
            &ctx(&server.uri()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_code");
    let e = X
        .exchange(&callback(&[("code", CODE)], None), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_code_verifier");
}

async fn exchange_error(resp: ResponseTemplate) -> herald_core::ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(resp)
        .mount(&server)
        .await;
    X.exchange(
        &callback(&[("code", "the-code-42")], Some("the-verifier-42")),
        &ctx(&server.uri()),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn exchange_failures_map_and_hide_secrets() {
    // X refuses a spent or wrong code with invalid_request; the echo of the
    // code and verifier is scrubbed.
    let e = exchange_error(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_request",
        "error_description": "Value passed for the authorization code was invalid."
    })))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    let e = exchange_error(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant",
        "error_description": "code the-code-42 with verifier the-verifier-42 is no good"
    })))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains("the-code-42"), "{}", e.message());
    assert!(!e.message().contains("the-verifier-42"), "{}", e.message());
    // The app's client credentials are wrong: the operator's problem.
    let e = exchange_error(ResponseTemplate::new(401).set_body_json(json!({
        "error": "unauthorized_client",
        "error_description": format!("Missing valid authorization header for {CLIENT_SECRET}")
    })))
    .await;
    assert_eq!(e.code(), "invalid_client");
    assert!(!e.message().contains(CLIENT_SECRET), "{}", e.message());
    let e = exchange_error(ResponseTemplate::new(503)).await;
    assert_eq!(e.class(), ErrorClass::Transient);
    let e =
        exchange_error(ResponseTemplate::new(200).set_body_json(json!({"token_type": "bearer"})))
            .await;
    assert_eq!(e.code(), "invalid_answer");

    // A fresh token that users/me refuses is unusable.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS, REFRESH)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "title": "Unauthorized", "type": "about:blank", "status": 401,
            "detail": format!("Unauthorized {ACCESS}")
        })))
        .mount(&server)
        .await;
    let e = X
        .exchange(
            &callback(&[("code", CODE)], Some(VERIFIER)),
            &ctx(&server.uri()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains(ACCESS), "{}", e.message());
}

fn connected() -> Credential {
    let mut c = cred(ACCESS);
    c.refresh_token = Some(Secret::new(REFRESH));
    c
}

async fn refresh_against(
    resp: ResponseTemplate,
) -> (Result<Credential, herald_core::ProviderError>, MockServer) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("authorization", BASIC))
        .respond_with(resp)
        .expect(1)
        .mount(&server)
        .await;
    let r = X.refresh(&connected(), &ctx(&server.uri())).await;
    (r, server)
}

#[tokio::test]
async fn refresh_sends_the_form_and_keeps_the_rotated_token() {
    let (r, server) = refresh_against(
        ResponseTemplate::new(200).set_body_json(token_body("access-2", "refresh-2")),
    )
    .await;
    let fresh = r.unwrap();
    assert_eq!(fresh.access_token.unwrap().expose(), "access-2");
    // X rotates refresh tokens: the new one replaces the spent one.
    assert_eq!(fresh.refresh_token.unwrap().expose(), "refresh-2");
    let left = fresh.expires_at.unwrap() - time::OffsetDateTime::now_utc();
    assert!((7190..=7200).contains(&left.whole_seconds()), "{left}");
    assert_eq!(
        (fresh.provider_uid.as_str(), fresh.display_name.as_deref()),
        ("2244994945", Some("@TwitterDev"))
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&reqs[0].body),
        pairs(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH),
            ("client_id", CLIENT_ID),
        ])
    );
}

#[tokio::test]
async fn refresh_refused_is_revoked_and_outages_transient() {
    // A spent or revoked refresh token; its echo is scrubbed.
    let (r, _s) = refresh_against(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_request",
        "error_description": format!("Value passed for the token was invalid. ({REFRESH})")
    })))
    .await;
    let e = r.unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::AuthRevoked, Some(400))
    );
    assert!(!e.message().contains(REFRESH), "{}", e.message());
    let (r, _s) = refresh_against(ResponseTemplate::new(503)).await;
    assert_eq!(r.unwrap_err().class(), ErrorClass::Transient);
    let (r, _s) = refresh_against(ResponseTemplate::new(401).set_body_json(json!({
        "error": "unauthorized_client",
        "error_description": "Missing valid authorization header"
    })))
    .await;
    assert_eq!(r.unwrap_err().code(), "invalid_client");

    // Connected without offline.access: nothing to refresh with, nothing sent.
    let e = X
        .refresh(&cred(ACCESS), &ctx("http://127.0.0.1:9"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

fn revoke_ctx(server: &MockServer) -> HttpCtx {
    ctx(&server.uri())
}

#[tokio::test]
async fn revoke_posts_each_token_with_its_hint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"revoked": true})))
        .expect(2)
        .mount(&server)
        .await;
    assert!(X.revoke(&connected(), &revoke_ctx(&server)).await.unwrap());
    let reqs = server.received_requests().await.unwrap();
    let forms: Vec<_> = reqs.iter().map(|r| form(&r.body)).collect();
    assert_eq!(
        forms,
        [
            pairs(&[
                ("token", REFRESH),
                ("token_type_hint", "refresh_token"),
                ("client_id", CLIENT_ID),
            ]),
            pairs(&[
                ("token", ACCESS),
                ("token_type_hint", "access_token"),
                ("client_id", CLIENT_ID),
            ]),
        ]
    );
}

#[tokio::test]
async fn revoke_of_a_dead_token_is_done_and_failures_are_classified() {
    // Only an access token; X no longer knows it.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid."
        })))
        .expect(1)
        .mount(&server)
        .await;
    assert!(X.revoke(&cred(ACCESS), &revoke_ctx(&server)).await.unwrap());

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let e = X
        .revoke(&connected(), &revoke_ctx(&server))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "unauthorized_client",
            "error_description": format!("bad client {CLIENT_SECRET} for {REFRESH}")
        })))
        .mount(&server)
        .await;
    let e = X
        .revoke(&connected(), &revoke_ctx(&server))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_client");
    assert!(
        !e.message().contains(CLIENT_SECRET) && !e.message().contains(REFRESH),
        "{}",
        e.message()
    );
}
