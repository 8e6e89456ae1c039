//! The connect flow against a local HTTP server (wiremock): app registration,
//! the consent URL, the code exchange and verify_credentials, refresh and
//! revoke — each request checked field by field as Mastodon documents it.

mod common;

use common::{cred, ctx, form, pairs};
use herald_core::{AuthorizeRequest, CallbackParams, ErrorClass, Provider, ProviderError, Secret};
use herald_provider_mastodon::Mastodon;
use serde_json::json;
use std::collections::BTreeMap;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CALLBACK: &str = "https://herald.example/connect/mastodon/callback";
const SCOPES: &str = "write:statuses write:media read:accounts";

fn only_request(reqs: &[Request], p: &str) -> Request {
    let found: Vec<_> = reqs.iter().filter(|r| r.url.path() == p).collect();
    assert_eq!(found.len(), 1, "requests to {p}: {found:?}");
    found[0].clone()
}

#[tokio::test]
async fn register_client_posts_the_documented_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/apps"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "563419",
            "name": "Herald",
            "website": null,
            "redirect_uri": CALLBACK,
            "client_id": "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM",
            "client_secret": "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw",
            "vapid_key": "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M="
        })))
        .expect(1)
        .mount(&server)
        .await;
    let scopes = Mastodon.oauth().unwrap().scopes;
    let c = Mastodon
        .register_client(CALLBACK, &scopes, &ctx(&server.uri()))
        .await
        .unwrap();
    assert_eq!(c.client_id, "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM");
    assert_eq!(
        c.client_secret.expose(),
        "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw"
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&only_request(&reqs, "/api/v1/apps").body),
        pairs(&[
            ("client_name", "Herald"),
            ("redirect_uris", CALLBACK),
            ("scopes", SCOPES),
        ])
    );
}

#[tokio::test]
async fn register_client_uses_the_apps_options_and_maps_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/apps"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "error": "Validation failed: Redirect URI must be an absolute URI."
        })))
        .mount(&server)
        .await;
    let mut http = ctx(&server.uri());
    http.settings.options = BTreeMap::from([
        ("client_name".to_owned(), "Site Shares".to_owned()),
        ("website".to_owned(), "https://site.example".to_owned()),
    ]);
    let e = Mastodon
        .register_client("not a uri", &["write:statuses"], &http)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.message()),
        (
            ErrorClass::Rejected,
            "Validation failed: Redirect URI must be an absolute URI."
        )
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&reqs[0].body),
        pairs(&[
            ("client_name", "Site Shares"),
            ("redirect_uris", "not a uri"),
            ("scopes", "write:statuses"),
            ("website", "https://site.example"),
        ])
    );
    // A 2xx without credentials is not a registration.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1"})))
        .mount(&server)
        .await;
    let e = Mastodon
        .register_client(CALLBACK, &["write:statuses"], &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_answer");
}

#[test]
fn authorize_url_has_every_parameter() {
    let http = ctx("https://mastodon.example");
    let req = AuthorizeRequest {
        state: "st a/te+1".into(),
        callback_url: format!("{CALLBACK}?x=1"),
        pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
    };
    let u = Mastodon.authorize_url(&req, &http).unwrap();
    assert_eq!(
        (u.scheme(), u.host_str(), u.path()),
        ("https", Some("mastodon.example"), "/oauth/authorize")
    );
    let got: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    assert_eq!(
        got,
        pairs(&[
            ("response_type", "code"),
            ("client_id", "cid-1"),
            ("redirect_uri", &format!("{CALLBACK}?x=1")),
            ("scope", SCOPES),
            ("state", "st a/te+1"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ),
            ("code_challenge_method", "S256"),
        ])
    );
    // Without PKCE the challenge parameters are left out.
    let u = Mastodon
        .authorize_url(
            &AuthorizeRequest {
                pkce_challenge: None,
                ..req
            },
            &http,
        )
        .unwrap();
    assert!(!u.query().unwrap().contains("code_challenge"), "{u}");
    // No registered client: nothing to send the user to.
    let mut http = http;
    http.settings.client_id = None;
    let e = Mastodon
        .authorize_url(
            &AuthorizeRequest {
                state: "s".into(),
                callback_url: CALLBACK.into(),
                pkce_challenge: None,
            },
            &http,
        )
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
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

async fn mount_verify(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .and(header(
            "authorization",
            "Bearer ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "14715",
            "username": "trwnh",
            "acct": "trwnh",
            "display_name": "infinite love ⴳ",
            "url": "https://mastodon.example/@trwnh",
            "source": {"privacy": "public"}
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn exchange_posts_the_form_and_names_the_account() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0",
            "token_type": "Bearer",
            "scope": SCOPES,
            "created_at": 1573979017
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_verify(&server).await;
    let http = ctx(&format!("{}/", server.uri()));
    let c = Mastodon
        .exchange(
            &callback(
                &[
                    ("code", "qDFUEaYrRK5c-HNmTCJbAzazwLRInJ7VHFat0wcMgCU"),
                    ("state", "s"),
                ],
                Some("verifier-123"),
            ),
            &http,
        )
        .await
        .unwrap();
    assert_eq!(
        c.access_token.as_ref().unwrap().expose(),
        "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"
    );
    assert_eq!(c.provider_uid, "14715");
    let port = server.address().port();
    assert_eq!(
        c.display_name.as_deref(),
        Some(format!("@trwnh@127.0.0.1:{port}").as_str())
    );
    assert_eq!(c.url.as_deref(), Some(server.uri().as_str()));
    assert!(c.refresh_token.is_none() && c.expires_at.is_none());

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&only_request(&reqs, "/oauth/token").body),
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", "qDFUEaYrRK5c-HNmTCJbAzazwLRInJ7VHFat0wcMgCU"),
            ("client_id", "cid-1"),
            ("client_secret", "csecret-1"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "verifier-123"),
            ("scope", SCOPES),
        ])
    );
}

#[tokio::test]
async fn exchange_keeps_expiring_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0",
            "token_type": "Bearer",
            "scope": SCOPES,
            "created_at": 1573979017,
            "expires_in": 7200,
            "refresh_token": "rt-1"
        })))
        .mount(&server)
        .await;
    mount_verify(&server).await;
    let c = Mastodon
        .exchange(&callback(&[("code", "c")], None), &ctx(&server.uri()))
        .await
        .unwrap();
    assert_eq!(c.refresh_token.unwrap().expose(), "rt-1");
    let left = c.expires_at.unwrap() - time::OffsetDateTime::now_utc();
    assert!((7190..=7200).contains(&left.whole_seconds()), "{left}");
    // Without a verifier the form has no code_verifier.
    let reqs = server.received_requests().await.unwrap();
    let f = form(&only_request(&reqs, "/oauth/token").body);
    assert!(f.iter().all(|(k, _)| k != "code_verifier"), "{f:?}");
}

#[tokio::test]
async fn exchange_failures() {
    // The user refused consent: nothing is sent.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no request on denial")
        .mount(&server)
        .await;
    let e = Mastodon
        .exchange(
            &callback(
                &[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "The resource owner or authorization server denied the request.",
                    ),
                    ("state", "s"),
                ],
                Some("v"),
            ),
            &ctx(&server.uri()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(
        e.message().contains("access_denied: The resource owner"),
        "{}",
        e.message()
    );
    let e = Mastodon
        .exchange(&callback(&[("state", "s")], None), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_code");
    drop(server);

    let token_answer = |resp: ResponseTemplate| async move {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(resp)
            .mount(&server)
            .await;
        Mastodon
            .exchange(
                &callback(&[("code", "the-code-42")], Some("the-verifier-42")),
                &ctx(&server.uri()),
            )
            .await
            .unwrap_err()
    };
    // An invalid code; the network's text echoing the code is scrubbed.
    let e = token_answer(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant",
        "error_description": "The provided authorization grant is invalid, expired, revoked: the-code-42"
    })))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains("the-code-42"), "{}", e.message());
    let e = token_answer(ResponseTemplate::new(401).set_body_json(json!({
        "error": "invalid_client",
        "error_description": "Client authentication failed due to unknown client."
    })))
    .await;
    assert_eq!(e.code(), "invalid_client");
    let e = token_answer(ResponseTemplate::new(503)).await;
    assert_eq!(e.class(), ErrorClass::Transient);

    // No registered client in the settings.
    let mut http = ctx("http://127.0.0.1:9");
    http.settings.client_secret = None;
    let e = Mastodon
        .exchange(&callback(&[("code", "c")], None), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

#[tokio::test]
async fn a_token_verify_credentials_refuses_is_revoked() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "The access token is invalid"})),
        )
        .mount(&server)
        .await;
    let e = Mastodon
        .exchange(&callback(&[("code", "c")], None), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn refresh_uses_the_refresh_token_or_says_reconnect() {
    let e = Mastodon
        .refresh(&cred("tok"), &ctx("http://127.0.0.1:9"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ProviderError::AuthRevoked {
            status: None,
            message: "Mastodon tokens do not expire; the user must reconnect".into()
        }
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "new-tok", "token_type": "Bearer", "expires_in": 60
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = cred("old-tok");
    c.refresh_token = Some(Secret::new("rt-1"));
    c.url = Some(server.uri());
    let fresh = Mastodon.refresh(&c, &ctx(&server.uri())).await.unwrap();
    assert_eq!(fresh.access_token.unwrap().expose(), "new-tok");
    // No new refresh token in the answer: the old one stays.
    assert_eq!(fresh.refresh_token.unwrap().expose(), "rt-1");
    assert!(fresh.expires_at.is_some());
    assert_eq!(
        (fresh.provider_uid.as_str(), fresh.url),
        ("109", Some(server.uri()))
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&reqs[0].body),
        pairs(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-1"),
            ("client_id", "cid-1"),
            ("client_secret", "csecret-1"),
        ])
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    // Another instance than the connection's: nothing is sent there.
    let e = Mastodon.refresh(&c, &ctx(&server.uri())).await.unwrap_err();
    assert_eq!(e.code(), "instance_mismatch");
    c.url = Some(server.uri());
    let e = Mastodon.refresh(&c, &ctx(&server.uri())).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn revoke_posts_client_and_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(
        Mastodon
            .revoke(&cred("tok-9"), &ctx(&server.uri()))
            .await
            .unwrap()
    );
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&reqs[0].body),
        pairs(&[
            ("client_id", "cid-1"),
            ("client_secret", "csecret-1"),
            ("token", "tok-9")
        ])
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "unauthorized_client",
            "error_description": "You are not authorized to revoke this token"
        })))
        .mount(&server)
        .await;
    let e = Mastodon
        .revoke(&cred("tok-9"), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected);
}
