//! Publishing and deleting against a local HTTP server (wiremock): the exact
//! requests the Posts API documents, and how each documented error answer
//! maps to a class.

mod common;

use common::{action, cred, ctx, ctx_with};
use herald_core::{
    AccountInfo, DeliveryId, ErrorClass, IdempotencyKey, NativePost, Provider, ProviderError,
    Published,
};
use herald_provider_linkedin::LinkedIn;
use herald_provider_linkedin::errors::until_midnight_utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const URN: &str = "urn:li:share:6844785523593134080";

fn key() -> IdempotencyKey {
    IdempotencyKey::for_delivery(&DeliveryId::new())
}

fn article_post() -> NativePost {
    LinkedIn
        .render(
            &action(json!({
                "user_message": "Zoë liked this 👍🏽 (a lot) #rust",
                "title": "Herald ships",
                "description": "A share gateway.",
                "link_back": "https://site.example/p/1",
                "privacy": "public",
            })),
            &AccountInfo::default(),
        )
        .unwrap()
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).insert_header("x-restli-id", URN)
}

async fn publish_answer(resp: ResponseTemplate) -> Result<Published, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .respond_with(resp)
        .mount(&server)
        .await;
    LinkedIn
        .publish(&article_post(), &cred("tok"), &key(), &ctx(&server.uri()))
        .await
}

#[tokio::test]
async fn publish_sends_the_documented_request() {
    let server = MockServer::start().await;
    let post = article_post();
    // The exact Posts API body, author filled in from the credential.
    let sent = json!({
        "author": "urn:li:person:782bbtaQ",
        "commentary": r"Zoë liked this 👍🏽 \(a lot\) \#rust",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": []
        },
        "content": {"article": {
            "source": "https://site.example/p/1",
            "title": "Herald ships",
            "description": "A share gateway."
        }},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": false
    });
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .and(header("authorization", "Bearer tok"))
        .and(header("linkedin-version", "202607"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .and(header("content-type", "application/json"))
        .and(body_json(&sent))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    // A base with a trailing slash must not double the slash.
    let http = ctx(&format!("{}/", server.uri()));
    let p = LinkedIn
        .publish(&post, &cred("tok"), &key(), &http)
        .await
        .unwrap();
    assert_eq!(
        p,
        Published {
            post_id: URN.into(),
            post_url: Some(format!("https://www.linkedin.com/feed/update/{URN}/")),
        }
    );
    // No idempotency header: LinkedIn honours none.
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs[0].headers.get("idempotency-key").is_none());
}

#[tokio::test]
async fn a_text_post_and_the_version_option() {
    let server = MockServer::start().await;
    let post = LinkedIn
        .render(
            &action(json!({"user_message": "Hello"})),
            &AccountInfo::default(),
        )
        .unwrap();
    Mock::given(method("POST"))
        .and(path("/rest/posts"))
        .and(header("linkedin-version", "202610"))
        .and(body_json(json!({
            "author": "urn:li:person:782bbtaQ",
            "commentary": "Hello",
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": []
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false
        })))
        .respond_with(ResponseTemplate::new(201).insert_header("x-restli-id", "urn:li:ugcPost:7"))
        .expect(1)
        .mount(&server)
        .await;
    let mut http = ctx(&server.uri());
    http.settings.options = BTreeMap::from([("version".to_owned(), "202610".to_owned())]);
    let p = LinkedIn
        .publish(&post, &cred("tok"), &key(), &http)
        .await
        .unwrap();
    assert_eq!(p.post_id, "urn:li:ugcPost:7");
    // A malformed version is refused before anything is sent.
    http.settings.options = BTreeMap::from([("version".to_owned(), "2026-10".to_owned())]);
    let e = LinkedIn
        .publish(&post, &cred("tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_version");
}

#[tokio::test]
async fn a_2xx_without_the_post_urn_is_unknown() {
    let e = publish_answer(ResponseTemplate::new(201))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
}

#[tokio::test]
async fn documented_error_answers_map_to_classes() {
    let e = publish_answer(ResponseTemplate::new(401).set_body_json(json!({
        "status": 401, "serviceErrorCode": 65602, "code": "EXPIRED_ACCESS_TOKEN",
        "message": "The token used in the request has expired"
    })))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.message()),
        (
            ErrorClass::AuthExpired,
            "The token used in the request has expired"
        )
    );

    let e = publish_answer(ResponseTemplate::new(401).set_body_json(json!({
        "status": 401, "serviceErrorCode": 65601, "code": "REVOKED_ACCESS_TOKEN",
        "message": "The token used in the request has been revoked by the user"
    })))
    .await
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);

    let e = publish_answer(ResponseTemplate::new(401).set_body_json(json!({
        "serviceErrorCode": 65600, "message": "Invalid access token", "status": 401
    })))
    .await
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);

    let e = publish_answer(ResponseTemplate::new(403).set_body_json(json!({
        "status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
        "message": "Not enough permissions to access: partnerApiPostsExternal.CREATE.20260701"
    })))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::AuthRevoked, Some(403))
    );

    let e = publish_answer(ResponseTemplate::new(400).set_body_json(json!({
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": "com.linkedin.content.common.exception.BadRequestResponseException: ShareCommentary text length (3100 characters) exceeded the maximum allowed (3000 characters)",
        "errorDetails": {"inputErrors": [{
            "description": "Size of array cannot be higher than the maxLength",
            "input": {}, "code": "FIELD_ARRAY_SIZE_TOO_HIGH", "maxLength": 3000
        }]},
        "status": 400
    })))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str(), e.http_status()),
        (ErrorClass::Rejected, "FIELD_ARRAY_SIZE_TOO_HIGH", Some(400))
    );
    assert!(
        e.message()
            .contains("exceeded the maximum allowed (3000 characters)")
    );

    let e = publish_answer(ResponseTemplate::new(422).set_body_json(json!({
        "message": "Content is a duplicate of urn:li:share:7012345678901234567", "status": 422
    })))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str(), e.message()),
        (
            ErrorClass::Rejected,
            "duplicate",
            "Content is a duplicate of urn:li:share:7012345678901234567"
        )
    );

    let e = publish_answer(ResponseTemplate::new(426).set_body_json(json!({
        "status": 426, "code": "NONEXISTENT_VERSION",
        "message": "Requested version 202401 is not active"
    })))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "NONEXISTENT_VERSION")
    );

    let e = publish_answer(ResponseTemplate::new(503).set_body_string("<html>Maintenance</html>"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::Transient, Some(503))
    );
}

#[tokio::test]
async fn rate_limits_carry_the_reset_time() {
    let throttled = json!({
        "serviceErrorCode": 101,
        "message": "Resource level throttle limit for calls to this resource is reached.",
        "status": 429
    });
    // A Retry-After is honoured…
    let e = publish_answer(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "120")
            .set_body_json(&throttled),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(120)),
            status: Some(429),
            message: "Resource level throttle limit for calls to this resource is reached.".into()
        }
    );
    // …else the daily quota resets at midnight UTC.
    let e = publish_answer(ResponseTemplate::new(429).set_body_json(&throttled))
        .await
        .unwrap_err();
    let want = until_midnight_utc(time::OffsetDateTime::now_utc()).as_secs();
    match e {
        ProviderError::RateLimited {
            retry_after: Some(d),
            status: Some(429),
            ..
        } => assert!(d.as_secs().abs_diff(want) <= 2, "{d:?} vs {want}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown_and_a_closed_port_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created().set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let http = ctx_with(&server.uri(), Duration::from_millis(300));
    let e = LinkedIn
        .publish(&article_post(), &cred("tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");

    // Bind then drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = LinkedIn
        .publish(
            &article_post(),
            &cred("tok"),
            &key(),
            &ctx(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
}

#[tokio::test]
async fn publish_refuses_other_kinds_and_incomplete_connections() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created())
        .expect(0)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let mut post = article_post();
    post.kind = "status".into();
    let e = LinkedIn
        .publish(&post, &cred("tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
    let mut c = cred("tok");
    c.access_token = None;
    let e = LinkedIn
        .publish(&article_post(), &c, &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    let mut c = cred("tok");
    c.provider_uid = " ".into();
    let e = LinkedIn
        .publish(&article_post(), &c, &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn delete_sends_the_documented_request_and_404_is_done() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/rest/posts/urn%3Ali%3Ashare%3A6844785523593134080"))
        .and(header("authorization", "Bearer tok"))
        .and(header("linkedin-version", "202607"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .and(header("x-restli-method", "DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/rest/posts/urn%3Ali%3Ashare%3A1"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Not Found", "status": 404})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // A URN cannot leave its path segment.
    Mock::given(method("DELETE"))
        .and(path("/rest/posts/a%2F..%2Fb"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "status": 401, "serviceErrorCode": 65601, "code": "REVOKED_ACCESS_TOKEN",
            "message": "The token used in the request has been revoked by the user"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let post = |id: &str| Published {
        post_id: id.into(),
        post_url: None,
    };
    LinkedIn
        .delete(&post(URN), &cred("tok"), &http)
        .await
        .unwrap();
    LinkedIn
        .delete(&post("urn:li:share:1"), &cred("tok"), &http)
        .await
        .unwrap();
    let e = LinkedIn
        .delete(&post("a/../b"), &cred("tok"), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}
