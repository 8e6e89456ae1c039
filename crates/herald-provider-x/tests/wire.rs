//! Publishing and deleting against a local HTTP server (wiremock): the exact
//! requests the X API v2 documents, and how each documented error answer
//! maps to a class.

mod common;

use common::{action, cred, ctx, ctx_with};
use herald_core::{
    AccountInfo, DeliveryId, ErrorClass, IdempotencyKey, NativePost, Provider, ProviderError,
    Published,
};
use herald_provider_x::X;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn post() -> NativePost {
    X.render(
        &action(json!({
            "user_message": "Zoë liked this 👍🏽",
            "title": "Herald ships",
            "description": "Left to the link card.",
            "link_back": "https://site.example/p/1",
        })),
        &AccountInfo::default(),
    )
    .unwrap()
}

fn key() -> IdempotencyKey {
    IdempotencyKey::for_delivery(&DeliveryId::new())
}

async fn publish_answer(resp: ResponseTemplate) -> Result<Published, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(resp)
        .mount(&server)
        .await;
    X.publish(&post(), &cred("tok"), &key(), &ctx(&server.uri()))
        .await
}

fn problem(status: u16, title: &str, detail: &str, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        json!({"title": title, "detail": detail, "type": kind, "status": status}).to_string(),
        "application/problem+json",
    )
}

#[tokio::test]
async fn publish_sends_the_documented_request() {
    let server = MockServer::start().await;
    let post = post();
    assert_eq!(
        post.body,
        json!({"text": "Zoë liked this 👍🏽\n\nHerald ships https://site.example/p/1"})
    );
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(header("authorization", "Bearer tok"))
        .and(header("content-type", "application/json"))
        .and(body_json(&post.body))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "data": {
                "id": "1445880548472328192",
                "text": "Zoë liked this 👍🏽\n\nHerald ships https://t.co/abc"
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    // A base with a trailing slash must not double the slash.
    let p = X
        .publish(
            &post,
            &cred("tok"),
            &key(),
            &ctx(&format!("{}/", server.uri())),
        )
        .await
        .unwrap();
    assert_eq!(
        p,
        Published {
            post_id: "1445880548472328192".into(),
            post_url: Some("https://x.com/i/status/1445880548472328192".into()),
        }
    );
    // X has no idempotency key: none is sent, and the body is only `text`.
    let reqs = server.received_requests().await.unwrap();
    assert!(reqs[0].headers.get("idempotency-key").is_none());
    let sent: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent.as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn a_created_post_without_an_id_is_unknown() {
    let e = publish_answer(ResponseTemplate::new(201).set_body_json(json!({"data": {}})))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown);
    let e = publish_answer(ResponseTemplate::new(201).set_body_string("<html>"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_answer");
}

#[tokio::test]
async fn documented_error_answers_map_to_classes() {
    // An expired (2-hour) token: refresh, then retry.
    let e = publish_answer(problem(401, "Unauthorized", "Unauthorized", "about:blank"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status(), e.message()),
        (ErrorClass::AuthExpired, Some(401), "Unauthorized")
    );

    let e = publish_answer(problem(
        403,
        "Forbidden",
        "You are not allowed to create a Tweet with duplicate content.",
        "about:blank",
    ))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str(), e.message(), e.http_status()),
        (
            ErrorClass::Rejected,
            "duplicate",
            "You are not allowed to create a Tweet with duplicate content.",
            Some(403)
        )
    );

    let e = publish_answer(ResponseTemplate::new(400).set_body_json(json!({
        "errors": [{
            "parameters": {"text": ["…"]},
            "message": "Your Tweet text is too long. For more information on how Twitter determines text length see https://github.com/twitter/twitter-text."
        }],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request"
    })))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "too_long")
    );
    assert!(
        e.message().contains("Your Tweet text is too long."),
        "{}",
        e.message()
    );

    let e = publish_answer(problem(
        403,
        "Client Forbidden",
        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.",
        "https://api.twitter.com/2/problems/client-forbidden",
    ))
    .await
    .unwrap_err();
    assert_eq!(e.code(), "client_forbidden");

    let e = publish_answer(problem(
        402,
        "CreditsDepleted",
        "Your enrolled account [1] does not have any credits to fulfill this request.",
        "https://api.twitter.com/2/problems/credits",
    ))
    .await
    .unwrap_err();
    assert_eq!(e.code(), "payment_required");

    let e = publish_answer(problem(
        503,
        "Service Unavailable",
        "Service Unavailable",
        "about:blank",
    ))
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::Transient, Some(503))
    );
    let e = publish_answer(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn too_many_requests_carries_the_reset_time() {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let e = publish_answer(
        problem(429, "Too Many Requests", "Too Many Requests", "about:blank")
            .insert_header("x-rate-limit-limit", "100")
            .insert_header("x-rate-limit-remaining", "0")
            .insert_header("x-rate-limit-reset", (now + 90).to_string().as_str()),
    )
    .await
    .unwrap_err();
    match e {
        ProviderError::RateLimited {
            retry_after: Some(d),
            status: Some(429),
            ref message,
        } => {
            assert!((88..=90).contains(&d.as_secs()), "{d:?}");
            assert_eq!(message, "Too Many Requests");
        }
        other => panic!("{other:?}"),
    }
    // The user's 24-hour posting window ran out, the 15-minute one did not.
    let e = publish_answer(
        problem(429, "Too Many Requests", "Too Many Requests", "about:blank")
            .insert_header("x-rate-limit-remaining", "99")
            .insert_header("x-rate-limit-reset", (now + 900).to_string().as_str())
            .insert_header("x-user-limit-24hour-limit", "17")
            .insert_header("x-user-limit-24hour-remaining", "0")
            .insert_header(
                "x-user-limit-24hour-reset",
                (now + 40_000).to_string().as_str(),
            ),
    )
    .await
    .unwrap_err();
    let d = match e {
        ProviderError::RateLimited {
            retry_after: Some(d),
            ..
        } => d,
        other => panic!("{other:?}"),
    };
    assert!((39_998..=40_000).contains(&d.as_secs()), "{d:?}");
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown_and_a_closed_port_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let http = ctx_with(&server.uri(), Duration::from_millis(300));
    let e = X
        .publish(&post(), &cred("tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
    assert!(!e.message().contains("tok"), "{}", e.message());

    // Bind then drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = X
        .publish(
            &post(),
            &cred("tok"),
            &key(),
            &ctx(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
}

#[tokio::test]
async fn publish_refuses_other_kinds_and_missing_tokens() {
    let http = ctx("http://127.0.0.1:9");
    let mut p = post();
    p.kind = "status".into();
    let e = X
        .publish(&p, &cred("tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
    let mut c = cred("tok");
    c.access_token = None;
    let e = X.publish(&post(), &c, &key(), &http).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn delete_sends_the_documented_request() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/2/tweets/1445880548472328192"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"deleted": true}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/2/tweets/gone"))
        .respond_with(problem(
            404,
            "Not Found Error",
            "Could not find tweet with id: [gone].",
            "https://api.twitter.com/2/problems/resource-not-found",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/2/tweets/kept"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"deleted": false}})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/2/tweets/a%2Fb"))
        .respond_with(problem(401, "Unauthorized", "Unauthorized", "about:blank"))
        .expect(1)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let published = |id: &str| Published {
        post_id: id.into(),
        post_url: None,
    };
    X.delete(&published("1445880548472328192"), &cred("tok"), &http)
        .await
        .unwrap();
    // Already gone counts as deleted.
    X.delete(&published("gone"), &cred("tok"), &http)
        .await
        .unwrap();
    let e = X
        .delete(&published("kept"), &cred("tok"), &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_deleted");
    // The id is one path segment, percent-encoded.
    let e = X
        .delete(&published("a/b"), &cred("tok"), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthExpired);
}
