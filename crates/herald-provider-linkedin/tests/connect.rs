//! The connect flow against a local HTTP server (wiremock): the consent URL,
//! the code exchange and the OpenID userinfo lookup, refresh and revoke —
//! each request checked field by field as LinkedIn documents it.

mod common;

use common::{CLIENT_ID, CLIENT_SECRET, cred, ctx, form, pairs};
use herald_core::{AuthorizeRequest, CallbackParams, ErrorClass, Provider, ProviderError, Secret};
use herald_provider_linkedin::LinkedIn;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CALLBACK: &str = "https://herald.example/connect/linkedin/callback";
/// A code with characters that must be encoded in a form body.
const CODE: &str = "AQTx-4g/9+Zk=";
const ACCESS: &str = "AQUbb-SLz7vpN3";

fn only_request(reqs: &[Request], p: &str) -> Request {
    let found: Vec<_> = reqs.iter().filter(|r| r.url.path() == p).collect();
    assert_eq!(found.len(), 1, "requests to {p}: {found:?}");
    found[0].clone()
}

#[test]
fn authorize_url_has_every_parameter_and_no_pkce() {
    let http = ctx("https://www.linkedin.com/");
    let req = AuthorizeRequest {
        state: "st a/te+1&x=y".into(),
        callback_url: format!("{CALLBACK}?app=demo"),
        // LinkedIn web apps have no PKCE: a challenge is not sent.
        pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
    };
    let u = LinkedIn.authorize_url(&req, &http).unwrap();
    assert_eq!(
        (u.scheme(), u.host_str(), u.path()),
        ("https", Some("www.linkedin.com"), "/oauth/v2/authorization")
    );
    let got: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    assert_eq!(
        got,
        pairs(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", &format!("{CALLBACK}?app=demo")),
            ("state", "st a/te+1&x=y"),
            ("scope", "openid profile w_member_social"),
        ])
    );
    assert!(
        u.query()
            .unwrap()
            .contains("scope=openid+profile+w_member_social"),
        "{u}"
    );
    // The consent host is the consent base, not the API base.
    let mut split = ctx("https://api.linkedin.com/");
    split.consent_base = Some(url::Url::parse("https://www.linkedin.com/").unwrap());
    let u = LinkedIn.authorize_url(&req, &split).unwrap();
    assert_eq!(u.host_str(), Some("www.linkedin.com"));
    // No client id: nothing to send the member to.
    split.settings.client_id = None;
    let e = LinkedIn.authorize_url(&req, &split).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

fn callback(query: &[(&str, &str)]) -> CallbackParams {
    CallbackParams {
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        callback_url: CALLBACK.into(),
        pkce_verifier: None,
    }
}

fn token_ok(extra: serde_json::Value) -> ResponseTemplate {
    let mut body = json!({
        "access_token": ACCESS,
        "expires_in": 5184000,
        "scope": "email,openid,profile,w_member_social",
        "token_type": "Bearer",
        "id_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig"
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ResponseTemplate::new(200).set_body_json(body)
}

fn userinfo_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "sub": "782bbtaQ",
        "email_verified": true,
        "name": "Ana Lima",
        "locale": {"country": "US", "language": "en"},
        "given_name": "Ana",
        "family_name": "Lima",
        "email": "ana@example.com",
        "picture": "https://media.licdn.com/dms/image/x"
    }))
}

#[tokio::test]
async fn exchange_posts_the_form_and_names_the_member() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(token_ok(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .and(header("authorization", &*format!("Bearer {ACCESS}")))
        .respond_with(userinfo_ok())
        .expect(1)
        .mount(&server)
        .await;
    let c = LinkedIn
        .exchange(
            &callback(&[("code", CODE), ("state", "s")]),
            &ctx(&format!("{}/", server.uri())),
        )
        .await
        .unwrap();
    assert_eq!(c.access_token.as_ref().unwrap().expose(), ACCESS);
    assert_eq!(c.provider_uid, "782bbtaQ");
    assert_eq!(c.display_name.as_deref(), Some("Ana Lima"));
    assert!(c.refresh_token.is_none() && c.url.is_none());
    let left = c.expires_at.unwrap() - time::OffsetDateTime::now_utc();
    assert!(
        (5_183_990..=5_184_000).contains(&left.whole_seconds()),
        "{left}"
    );

    let reqs = server.received_requests().await.unwrap();
    let token = only_request(&reqs, "/oauth/v2/accessToken");
    // Credentials in the body, not Basic auth.
    assert!(token.headers.get("authorization").is_none());
    assert_eq!(
        form(&token.body),
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", CODE),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("redirect_uri", CALLBACK),
        ])
    );
    // The raw body encodes the code's reserved characters.
    let raw = String::from_utf8(token.body.clone()).unwrap();
    assert!(raw.contains("code=AQTx-4g%2F9%2BZk%3D"), "{raw}");
    // userinfo is unversioned OpenID: no LinkedIn-Version header.
    let info = only_request(&reqs, "/v2/userinfo");
    assert!(info.headers.get("linkedin-version").is_none());
}

#[tokio::test]
async fn exchange_keeps_a_programmatic_refresh_token_and_composes_a_name() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .respond_with(token_ok(json!({
            "refresh_token": "AQWrefresh1", "refresh_token_expires_in": 31536000
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": "782bbtaQ", "given_name": "Ana", "family_name": "Lima"
        })))
        .mount(&server)
        .await;
    let c = LinkedIn
        .exchange(&callback(&[("code", "c")]), &ctx(&server.uri()))
        .await
        .unwrap();
    assert_eq!(c.refresh_token.unwrap().expose(), "AQWrefresh1");
    assert_eq!(c.display_name.as_deref(), Some("Ana Lima"));
}

#[tokio::test]
async fn a_just_issued_token_refused_once_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .respond_with(token_ok(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": 401, "serviceErrorCode": 65601, "code": "REVOKED_ACCESS_TOKEN",
            "message": "The token used in the request has been revoked by the user"
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .respond_with(userinfo_ok())
        .mount(&server)
        .await;
    let c = LinkedIn
        .exchange(&callback(&[("code", "c")]), &ctx(&server.uri()))
        .await
        .unwrap();
    assert_eq!(c.provider_uid, "782bbtaQ");
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.url.path() == "/v2/userinfo")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_token_userinfo_keeps_refusing_is_revoked_and_unnamed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .respond_with(token_ok(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/userinfo"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": 401, "serviceErrorCode": 65601, "code": "REVOKED_ACCESS_TOKEN",
            "message": format!("The token {ACCESS} has been revoked by the user")
        })))
        .expect(3)
        .mount(&server)
        .await;
    let e = LinkedIn
        .exchange(&callback(&[("code", "c")]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    // The token the message echoed is scrubbed.
    assert!(!e.message().contains(ACCESS), "{}", e.message());

    // A userinfo answer without `sub` names nobody.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token_ok(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "Ana"})))
        .mount(&server)
        .await;
    let e = LinkedIn
        .exchange(&callback(&[("code", "c")]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_answer");
}

#[tokio::test]
async fn exchange_failures() {
    // The member refused consent: nothing is sent.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no request on denial")
        .mount(&server)
        .await;
    for (error, description) in [
        ("access_denied", "The resource owner denied the request."),
        (
            "user_cancelled_authorize",
            "The user cancelled the authorization",
        ),
        ("user_cancelled_login", "The user cancelled LogIn"),
    ] {
        let e = LinkedIn
            .exchange(
                &callback(&[
                    ("error", error),
                    ("error_description", description),
                    ("state", "s"),
                ]),
                &ctx(&server.uri()),
            )
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::AuthRevoked);
        assert!(
            e.message().contains(&format!("{error}: {description}")),
            "{}",
            e.message()
        );
    }
    let e = LinkedIn
        .exchange(&callback(&[("state", "s")]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_code");
    drop(server);

    let token_answer = |resp: ResponseTemplate| async move {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/v2/accessToken"))
            .respond_with(resp)
            .mount(&server)
            .await;
        LinkedIn
            .exchange(&callback(&[("code", "the-code-42")]), &ctx(&server.uri()))
            .await
            .unwrap_err()
    };
    // An invalid code; the network's text echoing the code is scrubbed.
    let e = token_answer(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant",
        "error_description": "The provided authorization grant the-code-42 is invalid"
    })))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains("the-code-42"), "{}", e.message());
    // LinkedIn's own answer for an expired or mismatched code.
    let e = token_answer(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_request",
        "error_description": "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists"
    })))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    let e = token_answer(ResponseTemplate::new(401).set_body_json(json!({
        "error": "invalid_client",
        "error_description": format!("Client authentication failed for {CLIENT_SECRET}")
    })))
    .await;
    assert_eq!(e.code(), "invalid_client");
    assert!(!e.message().contains(CLIENT_SECRET));
    let e = token_answer(ResponseTemplate::new(503)).await;
    assert_eq!(e.class(), ErrorClass::Transient);

    // No client credentials in the settings.
    let mut http = ctx("http://127.0.0.1:9");
    http.settings.client_secret = None;
    let e = LinkedIn
        .exchange(&callback(&[("code", "c")]), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

#[tokio::test]
async fn refresh_needs_a_programmatic_refresh_token() {
    let e = LinkedIn
        .refresh(&cred("tok"), &ctx("http://127.0.0.1:9"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ProviderError::AuthRevoked {
            status: None,
            message:
                "LinkedIn issued no refresh token for this connection; the user must reconnect"
                    .into()
        }
    );
}

#[tokio::test]
async fn refresh_posts_the_form_and_keeps_the_rotated_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "AQVnew",
            "expires_in": 5184000,
            "refresh_token": "AQWrotated",
            "refresh_token_expires_in": 525600,
            "scope": "openid,profile,w_member_social"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = cred("AQVold");
    c.refresh_token = Some(Secret::new("AQWold"));
    let fresh = LinkedIn.refresh(&c, &ctx(&server.uri())).await.unwrap();
    assert_eq!(fresh.access_token.unwrap().expose(), "AQVnew");
    assert_eq!(fresh.refresh_token.unwrap().expose(), "AQWrotated");
    assert!(fresh.expires_at.is_some());
    assert_eq!(
        (fresh.provider_uid.as_str(), fresh.display_name.as_deref()),
        ("782bbtaQ", Some("Ana Lima"))
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&reqs[0].body),
        pairs(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "AQWold"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
    );

    // An answer without a new refresh token keeps the old one.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "AQVnew2", "expires_in": 60})),
        )
        .mount(&server)
        .await;
    let fresh = LinkedIn.refresh(&c, &ctx(&server.uri())).await.unwrap();
    assert_eq!(fresh.refresh_token.unwrap().expose(), "AQWold");
}

#[tokio::test]
async fn refused_and_failing_refreshes() {
    let refresh_answer = |resp: ResponseTemplate| async move {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/v2/accessToken"))
            .respond_with(resp)
            .mount(&server)
            .await;
        let mut c = cred("AQVold");
        c.refresh_token = Some(Secret::new("AQWdead"));
        LinkedIn.refresh(&c, &ctx(&server.uri())).await.unwrap_err()
    };
    let e = refresh_answer(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_request",
        "error_description": "The provided refresh token AQWdead is invalid or expired"
    })))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains("AQWdead"), "{}", e.message());
    let e =
        refresh_answer(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
            .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    let e = refresh_answer(ResponseTemplate::new(502).set_body_string("Bad Gateway")).await;
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::Transient, Some(502))
    );
}

#[tokio::test]
async fn revoke_is_not_offered_and_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    assert!(
        !LinkedIn
            .revoke(&cred("tok"), &ctx(&server.uri()))
            .await
            .unwrap()
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut c = cred("AQVsecret-token");
    c.refresh_token = Some(Secret::new("AQWsecret-refresh"));
    let http = ctx("https://api.linkedin.com/");
    let shown = format!("{c:?} {http:?}");
    for s in ["AQVsecret-token", "AQWsecret-refresh", CLIENT_SECRET] {
        assert!(!shown.contains(s), "{s} in {shown}");
    }
}
