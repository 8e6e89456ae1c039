//! Wire tests against wiremock: each mock answers only a request whose method,
//! path, headers and body are exactly what a PDS expects, and `.expect(n)`
//! makes the server check how often it was called. Then every documented error
//! answer, and the outbound policy on user-named servers.

use herald_core::provider::http_clients;
use herald_core::{
    AccountInfo, ActionId, ActionMeta, Credential, DeliveryId, ErrorClass, HttpCtx, IdempotencyKey,
    NativePost, OutboundPolicy, PasswordLogin, Provider, ProviderError, ProviderSettings,
    Published, RenderedAction, Secret,
};
use herald_provider_bluesky::{Bluesky, tid};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const LINK: &str = "https://example.com/article";
const PUT: &str = "/xrpc/com.atproto.repo.putRecord";
const CREATE: &str = "/xrpc/com.atproto.server.createSession";
const REFRESH: &str = "/xrpc/com.atproto.server.refreshSession";
const DELETE_SESSION: &str = "/xrpc/com.atproto.server.deleteSession";
const DELETE_RECORD: &str = "/xrpc/com.atproto.repo.deleteRecord";

fn ctx(api: &str, policy: OutboundPolicy, timeout: Duration) -> HttpCtx {
    herald_core::tls::init();
    let (client, guarded) = http_clients(&policy, timeout).unwrap();
    HttpCtx {
        client,
        guarded,
        policy,
        api_base: url::Url::parse(api).unwrap(),
        consent_base: None,
        settings: ProviderSettings::default(),
    }
}

/// Loopback allowed, as for a PDS the operator runs next to Herald.
fn loopback() -> OutboundPolicy {
    OutboundPolicy::new(vec![
        "127.0.0.0/8".parse().unwrap(),
        "::1/128".parse().unwrap(),
    ])
}

fn http(server: &MockServer) -> HttpCtx {
    ctx(&server.uri(), loopback(), Duration::from_secs(5))
}

fn cred() -> Credential {
    Credential {
        access_token: Some(Secret::new("acc-1")),
        refresh_token: Some(Secret::new("ref-1")),
        provider_uid: DID.into(),
        display_name: Some("alice.test".into()),
        url: Some("https://pds.example".into()),
        ..Credential::default()
    }
}

/// A JWT whose payload carries `exp` (the signature is never checked here).
fn jwt(exp: i64) -> String {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2ln",
        b(r#"{"typ":"at+jwt","alg":"HS256"}"#),
        b(&format!(
            r#"{{"scope":"com.atproto.appPass","sub":"{DID}","exp":{exp}}}"#
        ))
    )
}

fn session_answer(access: &str, refresh: &str, pds: Option<&str>) -> Value {
    let mut v = json!({
        "accessJwt": access, "refreshJwt": refresh, "did": DID, "handle": "alice.test",
        "email": "alice@example.com", "emailConfirmed": false, "active": true
    });
    if let Some(p) = pds {
        v["didDoc"] = json!({
            "id": DID,
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": p}]
        });
    }
    v
}

fn xrpc_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": code, "message": message}))
}

/// Matches a request without the named header.
struct Without(&'static str);
impl Match for Without {
    fn matches(&self, r: &Request) -> bool {
        !r.headers.contains_key(self.0)
    }
}

/// Matches a request with an empty body.
struct NoBody;
impl Match for NoBody {
    fn matches(&self, r: &Request) -> bool {
        r.body.is_empty()
    }
}

fn login(identifier: &str, password: &str, service: Option<&str>) -> PasswordLogin {
    PasswordLogin {
        identifier: identifier.into(),
        password: Secret::new(password),
        service: service.map(|s| url::Url::parse(s).unwrap()),
    }
}

fn login_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(header("Content-Type", "application/json"))
        .and(header("Accept", "application/json"))
        .and(Without("authorization"))
        .and(body_json(
            json!({"identifier": "alice.test", "password": "abcd-efgh-ijkl-mnop"}),
        ))
        .respond_with(answer)
        .expect(1)
}

#[tokio::test]
async fn login_sends_create_session_and_keeps_the_pds() {
    let server = MockServer::start().await;
    let access = jwt(1_795_633_969);
    login_mock(ResponseTemplate::new(200).set_body_json(session_answer(
        &access,
        "ref-1",
        Some("http://127.0.0.1:1/"),
    )))
    .mount(&server)
    .await;
    let c = Bluesky
        .login_password(
            &login(" alice.test ", "abcd-efgh-ijkl-mnop", None),
            &http(&server),
        )
        .await
        .unwrap();
    assert_eq!(c.access_token.unwrap().expose(), access);
    assert_eq!(c.refresh_token.unwrap().expose(), "ref-1");
    assert_eq!(c.expires_at.unwrap().unix_timestamp(), 1_795_633_969);
    assert_eq!(c.provider_uid, DID);
    assert_eq!(c.display_name.as_deref(), Some("alice.test"));
    // The DID document's PDS, not the server the login went to.
    assert_eq!(c.url.as_deref(), Some("http://127.0.0.1:1/"));
}

#[tokio::test]
async fn login_without_a_did_document_stays_on_the_api_base() {
    let server = MockServer::start().await;
    login_mock(ResponseTemplate::new(200).set_body_json(session_answer("opaque", "r", None)))
        .mount(&server)
        .await;
    let before = time::OffsetDateTime::now_utc();
    let c = Bluesky
        .login_password(
            &login("alice.test", "abcd-efgh-ijkl-mnop", None),
            &http(&server),
        )
        .await
        .unwrap();
    assert_eq!(
        c.url.as_deref(),
        Some(format!("{}/", server.uri()).as_str())
    );
    // Unreadable exp: the PDS's two hours.
    let left = c.expires_at.unwrap() - before;
    assert!((7190..=7210).contains(&left.whole_seconds()), "{left}");
}

#[tokio::test]
async fn login_at_a_user_named_server_is_guarded() {
    let server = MockServer::start().await;
    login_mock(ResponseTemplate::new(200).set_body_json(session_answer("a", "r", None)))
        .mount(&server)
        .await;
    // The API base is elsewhere; the user named this server.
    let h = ctx("https://bsky.invalid/", loopback(), Duration::from_secs(5));
    let c = Bluesky
        .login_password(
            &login("alice.test", "abcd-efgh-ijkl-mnop", Some(&server.uri())),
            &h,
        )
        .await
        .unwrap();
    assert_eq!(
        c.url.as_deref(),
        Some(format!("{}/", server.uri()).as_str())
    );

    // Default policy: a loopback server is refused before anything is sent
    // (the mock above expects exactly one call).
    let strict = ctx(
        "https://bsky.invalid/",
        OutboundPolicy::default(),
        Duration::from_secs(5),
    );
    let e = Bluesky
        .login_password(&login("alice.test", "x", Some(&server.uri())), &strict)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "forbidden_address")
    );
}

#[tokio::test]
async fn a_did_document_naming_a_private_pds_is_refused() {
    let server = MockServer::start().await;
    login_mock(ResponseTemplate::new(200).set_body_json(session_answer(
        "a",
        "r",
        Some("http://10.1.2.3/"),
    )))
    .mount(&server)
    .await;
    let e = Bluesky
        .login_password(
            &login("alice.test", "abcd-efgh-ijkl-mnop", None),
            &http(&server),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "forbidden_address");
    assert!(e.message().contains("10.1.2.3"), "{e}");
}

#[tokio::test]
async fn wrong_app_password_is_auth_revoked_with_the_networks_message() {
    let server = MockServer::start().await;
    login_mock(xrpc_error(
        401,
        "AuthenticationRequired",
        "Invalid identifier or password",
    ))
    .mount(&server)
    .await;
    let e = Bluesky
        .login_password(
            &login("alice.test", "abcd-efgh-ijkl-mnop", None),
            &http(&server),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert_eq!(e.http_status(), Some(401));
    assert!(
        e.message().contains("Invalid identifier or password"),
        "{e}"
    );
    assert!(!e.message().contains("abcd-efgh"), "{e}");
}

fn post() -> NativePost {
    let rendered = RenderedAction {
        action: serde_json::from_value(json!({
            "user_message": "Héllo 👋 read this:",
            "link_back": LINK,
            "title": "An article",
            "description": "Its description"
        }))
        .unwrap(),
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

fn key() -> IdempotencyKey {
    IdempotencyKey::for_delivery(
        &DeliveryId::parse("dlv_019abcdef0127a2b8c3d4e5f60718293").unwrap(),
    )
}

fn put_mock(answer: ResponseTemplate) -> Mock {
    let k = tid::for_key(&key()).unwrap();
    Mock::given(method("POST"))
        .and(path(PUT))
        .and(header("Authorization", "Bearer acc-1"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({
            "repo": DID,
            "collection": "app.bsky.feed.post",
            "rkey": k.rkey,
            "record": {
                "$type": "app.bsky.feed.post",
                "text": "Héllo 👋 read this: https://example.com/article",
                "facets": [{
                    "index": {"byteStart": 23, "byteEnd": 50},
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": LINK}]
                }],
                "embed": {
                    "$type": "app.bsky.embed.external",
                    "external": {"uri": LINK, "title": "An article", "description": "Its description"}
                },
                "createdAt": "2025-11-25T21:15:18.418Z"
            }
        })))
        .respond_with(answer)
}

async fn publish_with(answer: ResponseTemplate) -> Result<Published, ProviderError> {
    let server = MockServer::start().await;
    put_mock(answer).expect(1).mount(&server).await;
    Bluesky
        .publish(&post(), &cred(), &key(), &http(&server))
        .await
}

#[tokio::test]
async fn publish_puts_the_record_under_the_derived_key() {
    let k = tid::for_key(&key()).unwrap();
    let uri = format!("at://{DID}/app.bsky.feed.post/{}", k.rkey);
    let server = MockServer::start().await;
    put_mock(ResponseTemplate::new(200).set_body_json(json!({
        "uri": uri, "cid": "bafyreia", "commit": {"cid": "bafyreib", "rev": "3l"},
        "validationStatus": "valid"
    })))
    .expect(2)
    .mount(&server)
    .await;
    let h = http(&server);
    let p = Bluesky.publish(&post(), &cred(), &key(), &h).await.unwrap();
    assert_eq!(p.post_id, uri);
    assert_eq!(
        p.post_url.as_deref(),
        Some(format!("https://bsky.app/profile/{DID}/post/{}", k.rkey).as_str())
    );
    // A re-send is the same request, byte for byte (the mock expects 2).
    assert_eq!(
        Bluesky.publish(&post(), &cred(), &key(), &h).await.unwrap(),
        p
    );
}

#[tokio::test]
async fn publish_error_answers() {
    use ErrorClass::*;
    let reset = (time::OffsetDateTime::now_utc().unix_timestamp() + 30).to_string();
    let cases = [
        (
            xrpc_error(400, "ExpiredToken", "Token has expired"),
            AuthExpired,
            "auth_expired",
        ),
        (
            xrpc_error(400, "InvalidToken", "Token could not be verified"),
            AuthRevoked,
            "auth_revoked",
        ),
        (
            xrpc_error(401, "AuthMissing", "Authentication Required"),
            AuthRevoked,
            "auth_revoked",
        ),
        (
            xrpc_error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: grapheme too big",
            ),
            Rejected,
            "InvalidRequest",
        ),
        (
            xrpc_error(500, "InternalServerError", "Internal Server Error"),
            Transient,
            "transient",
        ),
        (
            ResponseTemplate::new(502).set_body_string("<html>"),
            Transient,
            "transient",
        ),
        (
            xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
                .insert_header("Retry-After", "2"),
            RateLimited,
            "rate_limited",
        ),
        (
            xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
                .insert_header("RateLimit-Limit", "30")
                .insert_header("RateLimit-Remaining", "0")
                .insert_header("RateLimit-Reset", reset.as_str()),
            RateLimited,
            "rate_limited",
        ),
    ];
    for (i, (answer, class, code)) in cases.into_iter().enumerate() {
        let e = publish_with(answer).await.unwrap_err();
        assert_eq!(
            (e.class(), e.code().as_str()),
            (class, code),
            "case {i}: {e:?}"
        );
        if let ProviderError::RateLimited { retry_after, .. } = e {
            let d = retry_after.expect("a delay").as_secs();
            assert!(
                if i == 6 {
                    d == 2
                } else {
                    (28..=30).contains(&d)
                },
                "case {i}: {d}"
            );
        }
    }
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown() {
    let server = MockServer::start().await;
    put_mock(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let h = ctx(&server.uri(), loopback(), Duration::from_millis(300));
    let e = Bluesky
        .publish(&post(), &cred(), &key(), &h)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
}

#[tokio::test]
async fn a_pds_name_resolving_to_loopback_is_refused_by_the_guarded_client() {
    // Herald sends an account's calls with the guarded client; its resolver
    // refuses `localhost` under the default policy.
    let server = MockServer::start().await;
    let port = server.address().port();
    let mut h = ctx(
        &format!("http://localhost:{port}/"),
        OutboundPolicy::default(),
        Duration::from_secs(5),
    );
    h.client = h.guarded.clone();
    let e = Bluesky
        .publish(&post(), &cred(), &key(), &h)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "forbidden_address")
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn publish_refuses_a_connection_without_a_did() {
    let server = MockServer::start().await;
    let c = Credential {
        provider_uid: "alice.test".into(),
        ..cred()
    };
    let e = Bluesky
        .publish(&post(), &c, &key(), &http(&server))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(server.received_requests().await.unwrap().is_empty());
}

fn refresh_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header("Authorization", "Bearer ref-1"))
        .and(NoBody)
        .respond_with(answer)
        .expect(1)
}

#[tokio::test]
async fn refresh_sends_the_refresh_token_and_rotates_both() {
    let server = MockServer::start().await;
    let access = jwt(1_795_640_000);
    refresh_mock(ResponseTemplate::new(200).set_body_json(session_answer(&access, "ref-2", None)))
        .mount(&server)
        .await;
    let c = Bluesky.refresh(&cred(), &http(&server)).await.unwrap();
    assert_eq!(c.access_token.unwrap().expose(), access);
    assert_eq!(c.refresh_token.unwrap().expose(), "ref-2");
    assert_eq!(c.expires_at.unwrap().unix_timestamp(), 1_795_640_000);
    assert_eq!(c.provider_uid, DID);
    assert_eq!(c.url.as_deref(), Some("https://pds.example"), "unchanged");
}

#[tokio::test]
async fn refresh_refusals_mean_logging_in_again() {
    use ErrorClass::*;
    let cases = [
        (
            xrpc_error(400, "ExpiredToken", "Token has been revoked"),
            AuthRevoked,
        ),
        (
            xrpc_error(400, "InvalidToken", "Token could not be verified"),
            AuthRevoked,
        ),
        (
            xrpc_error(401, "AccountTakedown", "Account has been taken down"),
            AuthRevoked,
        ),
        (xrpc_error(503, "UpstreamFailure", "x"), Transient),
        (
            ResponseTemplate::new(200).set_body_json(json!({"did": DID})),
            Unknown,
        ),
    ];
    for (answer, class) in cases {
        let server = MockServer::start().await;
        refresh_mock(answer).mount(&server).await;
        let e = Bluesky.refresh(&cred(), &http(&server)).await.unwrap_err();
        assert_eq!(e.class(), class, "{e:?}");
    }
    // No refresh token: nothing is sent.
    let server = MockServer::start().await;
    let c = Credential {
        refresh_token: None,
        ..cred()
    };
    assert_eq!(
        Bluesky
            .refresh(&c, &http(&server))
            .await
            .unwrap_err()
            .class(),
        AuthRevoked
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn revoke_deletes_the_session() {
    let cases = [
        (ResponseTemplate::new(200), Ok(true)),
        // Already unusable: nothing left to revoke.
        (
            xrpc_error(400, "ExpiredToken", "Token has been revoked"),
            Ok(true),
        ),
        (
            xrpc_error(500, "InternalServerError", "x"),
            Err(ErrorClass::Transient),
        ),
    ];
    for (answer, want) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(DELETE_SESSION))
            .and(header("Authorization", "Bearer ref-1"))
            .and(NoBody)
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        let got = Bluesky
            .revoke(&cred(), &http(&server))
            .await
            .map_err(|e| e.class());
        assert_eq!(got, want);
    }
    let server = MockServer::start().await;
    let c = Credential {
        refresh_token: None,
        ..cred()
    };
    assert_eq!(Bluesky.revoke(&c, &http(&server)).await, Ok(false));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_sends_delete_record() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(DELETE_RECORD))
        .and(header("Authorization", "Bearer acc-1"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"repo": DID, "collection": "app.bsky.feed.post", "rkey": "3n35nrvs4422m"}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"commit": {"cid": "c", "rev": "r"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let p = Published {
        post_id: format!("at://{DID}/app.bsky.feed.post/3n35nrvs4422m"),
        post_url: None,
    };
    Bluesky.delete(&p, &cred(), &http(&server)).await.unwrap();
    let bad = Published {
        post_id: "12345".into(),
        post_url: None,
    };
    let e = Bluesky
        .delete(&bad, &cred(), &http(&server))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_post_id");
}
