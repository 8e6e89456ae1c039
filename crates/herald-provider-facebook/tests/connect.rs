//! The connect flow against a local HTTP server (wiremock): the Login
//! dialog URL, the code exchange, the long-lived token exchange and the
//! listing of the person's Pages — each request checked field by field as
//! Facebook documents it — and refresh and revoke, which need no request.

mod common;

use common::{APP_ID, APP_SECRET, cred, ctx, graph_error, pairs, query};
use herald_core::{AuthorizeRequest, CallbackParams, ErrorClass, Provider, ProviderError, Secret};
use herald_provider_facebook::Facebook;
use herald_provider_facebook::api::appsecret_proof;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CALLBACK: &str = "https://herald.example/connect/facebook/callback";
const TOKEN: &str = "/v26.0/oauth/access_token";
const ACCOUNTS: &str = "/v26.0/me/accounts";
const CODE: &str = "AQD-code-42";
const SHORT: &str = "EAAshort-42";
const LONG: &str = "EAAlong-42";

fn requests_to<'a>(reqs: &'a [Request], p: &str) -> Vec<&'a Request> {
    reqs.iter().filter(|r| r.url.path() == p).collect()
}

#[test]
fn authorize_url_has_every_parameter() {
    let http = ctx("https://www.facebook.com");
    let req = AuthorizeRequest {
        state: "st a/te+1".into(),
        callback_url: format!("{CALLBACK}?x=1"),
        // Facebook's Graph token flow takes no PKCE: a challenge is not sent.
        pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
    };
    let u = Facebook.authorize_url(&req, &http).unwrap();
    assert_eq!(
        (u.scheme(), u.host_str(), u.path()),
        ("https", Some("www.facebook.com"), "/v26.0/dialog/oauth")
    );
    assert_eq!(
        query(&u),
        pairs(&[
            ("client_id", APP_ID),
            ("redirect_uri", &format!("{CALLBACK}?x=1")),
            ("state", "st a/te+1"),
            ("response_type", "code"),
            (
                "scope",
                "pages_manage_posts,pages_read_engagement,pages_show_list"
            ),
        ])
    );
    // The app's Graph version applies to the dialog too.
    let mut http = http;
    http.settings
        .options
        .insert("graph_version".into(), "v24.0".into());
    let u = Facebook.authorize_url(&req, &http).unwrap();
    assert_eq!(u.path(), "/v24.0/dialog/oauth");
    // No app id: nowhere to send the user.
    http.settings.client_id = None;
    let e = Facebook.authorize_url(&req, &http).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

fn callback(q: &[(&str, &str)]) -> CallbackParams {
    CallbackParams {
        query: q
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        callback_url: CALLBACK.into(),
        pkce_verifier: None,
    }
}

/// The two token exchanges, told apart by their parameters.
async fn mount_tokens(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(TOKEN))
        .and(query_param("code", CODE))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": SHORT, "token_type": "bearer", "expires_in": 5400
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(TOKEN))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": LONG, "token_type": "bearer", "expires_in": 5183944
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn exchange_lists_every_page_the_user_may_post_to() {
    let server = MockServer::start().await;
    mount_tokens(&server).await;
    // First page of Pages, with a cursor to the next.
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .and(query_param("access_token", LONG))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {"access_token": "page-tok-1", "category": "Café", "name": "Zoë's Café",
                 "id": "1111", "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"]},
                {"access_token": "page-tok-2", "name": "Only analytics",
                 "id": "2222", "tasks": ["ANALYZE"]}
            ],
            "paging": {
                "cursors": {"before": "QVFIUa", "after": "QVFIUb"},
                "next": "https://graph.facebook.com/v26.0/me/accounts?after=QVFIUb"
            }
        })))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    // The second (and last) page: no `next`.
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .and(query_param("after", "QVFIUb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {"access_token": "page-tok-3", "name": "Herald News", "id": "3333",
                 "tasks": ["CREATE_CONTENT"]}
            ],
            "paging": {"cursors": {"before": "QVFIUc", "after": "QVFIUd"}}
        })))
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let http = ctx(&format!("{}/", server.uri()));
    let creds = Facebook
        .exchange_accounts(&callback(&[("code", CODE), ("state", "s")]), &http)
        .await
        .unwrap();
    let got: Vec<_> = creds
        .iter()
        .map(|c| {
            (
                c.provider_uid.as_str(),
                c.display_name.as_deref(),
                c.access_token.as_ref().unwrap().expose(),
                c.refresh_token.is_none() && c.expires_at.is_none() && c.url.is_none(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("1111", Some("Zoë's Café"), "page-tok-1", true),
            ("3333", Some("Herald News"), "page-tok-3", true),
        ]
    );
    // Tokens never show in a `{:?}`.
    let debug = format!("{creds:?}");
    assert!(!debug.contains("page-tok"), "{debug}");

    let reqs = server.received_requests().await.unwrap();
    let tokens = requests_to(&reqs, TOKEN);
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        query(&tokens[0].url),
        pairs(&[
            ("client_id", APP_ID),
            ("redirect_uri", CALLBACK),
            ("client_secret", APP_SECRET),
            ("code", CODE),
        ])
    );
    assert_eq!(
        query(&tokens[1].url),
        pairs(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", APP_ID),
            ("client_secret", APP_SECRET),
            ("fb_exchange_token", SHORT),
        ])
    );
    let accounts = requests_to(&reqs, ACCOUNTS);
    assert_eq!(accounts.len(), 2);
    let proof = appsecret_proof(LONG, APP_SECRET);
    assert_eq!(
        query(&accounts[0].url),
        pairs(&[
            ("access_token", LONG),
            ("appsecret_proof", &proof),
            ("fields", "id,name,access_token,tasks"),
            ("limit", "100"),
        ])
    );
    assert_eq!(
        query(&accounts[1].url),
        pairs(&[
            ("access_token", LONG),
            ("appsecret_proof", &proof),
            ("fields", "id,name,access_token,tasks"),
            ("limit", "100"),
            ("after", "QVFIUb"),
        ])
    );
    // Every request is a GET, with no body.
    assert!(
        reqs.iter()
            .all(|r| r.method.as_str() == "GET" && r.body.is_empty())
    );
}

#[tokio::test]
async fn no_page_is_an_empty_list_and_exchange_takes_the_first() {
    let server = MockServer::start().await;
    mount_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let creds = Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &http)
        .await
        .unwrap();
    assert!(creds.is_empty());

    let server = MockServer::start().await;
    mount_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&server)
        .await;
    let e = Facebook
        .exchange(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "no_page");

    let server = MockServer::start().await;
    mount_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"access_token": "p1", "name": "One", "id": "1", "tasks": ["CREATE_CONTENT"]},
            {"access_token": "p2", "name": "Two", "id": "2", "tasks": ["CREATE_CONTENT"]}
        ]})))
        .mount(&server)
        .await;
    let c = Facebook
        .exchange(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap();
    assert_eq!(c.provider_uid, "1");
}

#[tokio::test]
async fn a_refused_consent_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no request on denial")
        .mount(&server)
        .await;
    let e = Facebook
        .exchange_accounts(
            &callback(&[
                ("error_reason", "user_denied"),
                ("error", "access_denied"),
                ("error_description", "Permissions error."),
                ("state", "s"),
            ]),
            &ctx(&server.uri()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ProviderError::AuthRevoked {
            status: None,
            message:
                "the user did not grant access: access_denied: user_denied: Permissions error."
                    .into()
        }
    );
    let e = Facebook
        .exchange_accounts(&callback(&[("state", "s")]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_code");
    // No app secret configured: nothing can be exchanged.
    let mut http = ctx(&server.uri());
    http.settings.client_secret = None;
    let e = Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

async fn code_exchange_error(resp: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TOKEN))
        .respond_with(resp)
        .expect(1)
        .mount(&server)
        .await;
    Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn code_exchange_failures() {
    // A used, expired or foreign code: the grant is dead (Facebook's
    // invalid_grant). Text echoing the code is scrubbed.
    let e = code_exchange_error(ResponseTemplate::new(400).set_body_json(graph_error(
        100,
        Some(36009),
        &format!("This authorization code has been used: {CODE}"),
    )))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert_eq!(
        e.message(),
        "This authorization code has been used: *** (code 100/36009, fbtrace_id A1b2C3d4)"
    );
    let e = code_exchange_error(ResponseTemplate::new(400).set_body_json(graph_error(
        100,
        Some(36007),
        "This authorization code has expired.",
    )))
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    // The operator's app secret is wrong: not the user's doing.
    let e = code_exchange_error(ResponseTemplate::new(400).set_body_json(graph_error(
        1,
        None,
        &format!("Error validating client secret. {APP_SECRET}"),
    )))
    .await;
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "invalid_client")
    );
    assert!(!e.message().contains(APP_SECRET), "{}", e.message());
    let e = code_exchange_error(ResponseTemplate::new(503)).await;
    assert_eq!(e.class(), ErrorClass::Transient);
    let e = code_exchange_error(
        ResponseTemplate::new(200).set_body_json(json!({"token_type": "bearer"})),
    )
    .await;
    assert_eq!(e.code(), "invalid_answer");
}

#[tokio::test]
async fn later_steps_fail_cleanly() {
    // The long-lived exchange refuses the short-lived token.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TOKEN))
        .and(query_param("code", CODE))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": SHORT, "token_type": "bearer", "expires_in": 5400
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TOKEN))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(graph_error(
            190,
            None,
            &format!("Malformed access token {SHORT}"),
        )))
        .mount(&server)
        .await;
    let e = Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains(SHORT), "{}", e.message());

    // me/accounts refuses the long-lived token, or is throttled.
    let server = MockServer::start().await;
    mount_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .respond_with(ResponseTemplate::new(400).set_body_json(graph_error(
            190,
            Some(460),
            &format!("Error validating access token {LONG}: the user changed their password."),
        )))
        .mount(&server)
        .await;
    let e = Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains(LONG), "{}", e.message());

    let server = MockServer::start().await;
    mount_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .respond_with(ResponseTemplate::new(500).set_body_json(graph_error(
            2,
            None,
            "Service temporarily unavailable",
        )))
        .mount(&server)
        .await;
    let e = Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn a_cursor_that_does_not_move_stops_the_paging() {
    let server = MockServer::start().await;
    mount_tokens(&server).await;
    Mock::given(method("GET"))
        .and(path(ACCOUNTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"access_token": "p1", "name": "One", "id": "1", "tasks": ["CREATE_CONTENT"]}],
            "paging": {"cursors": {"after": "SAME"}, "next": "https://graph.facebook.com/v26.0/me/accounts?after=SAME"}
        })))
        .mount(&server)
        .await;
    let creds = Facebook
        .exchange_accounts(&callback(&[("code", CODE)]), &ctx(&server.uri()))
        .await
        .unwrap();
    // Asked twice (first page, then "after=SAME"), then stopped; the Page
    // listed twice is one account.
    assert_eq!(creds.len(), 1);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&reqs, ACCOUNTS).len(), 2);
}

#[tokio::test]
async fn refresh_and_revoke_need_no_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let mut c = cred("page-tok");
    c.refresh_token = Some(Secret::new("never-issued"));
    let e = Facebook.refresh(&c, &http).await.unwrap_err();
    assert_eq!(
        e,
        ProviderError::AuthRevoked {
            status: None,
            message: "Facebook Page tokens do not expire and cannot be refreshed; the user must reconnect"
                .into()
        }
    );
    assert!(!Facebook.revoke(&c, &http).await.unwrap());
}
