//! Publishing and deleting against a local HTTP server (wiremock): the exact
//! requests the Pages API documents, and how each documented Graph error
//! answer maps.

mod common;

use common::{PAGE_ID, action, cred, ctx, ctx_with, graph_error, pairs, query};
use herald_core::{
    AccountInfo, DeliveryId, ErrorClass, IdempotencyKey, NativePost, Provider, ProviderError,
    Published,
};
use herald_provider_facebook::Facebook;
use herald_provider_facebook::api::appsecret_proof;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FEED: &str = "/v26.0/1234567890/feed";
const POST_ID: &str = "1234567890_987654321";

fn page() -> AccountInfo {
    AccountInfo {
        provider_uid: Some(PAGE_ID.into()),
        display_name: Some("Zoë's Café".into()),
        ..AccountInfo::default()
    }
}

fn feed_post() -> NativePost {
    Facebook
        .render(
            &action(json!({
                "user_message": "Zoë liked this 👍🏽",
                "title": "Herald ships",
                "link_back": "https://site.example/p/1",
            })),
            &page(),
        )
        .unwrap()
}

fn key() -> IdempotencyKey {
    IdempotencyKey::for_delivery(&DeliveryId::new())
}

async fn publish_answer(resp: ResponseTemplate) -> Result<Published, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(FEED))
        .respond_with(resp)
        .mount(&server)
        .await;
    Facebook
        .publish(&feed_post(), &cred("page-tok"), &key(), &ctx(&server.uri()))
        .await
}

async fn publish_error(status: u16, body: serde_json::Value) -> ProviderError {
    publish_answer(ResponseTemplate::new(status).set_body_json(body))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn publish_sends_the_documented_request() {
    let server = MockServer::start().await;
    let post = feed_post();
    assert_eq!(
        post.body,
        json!({
            "message": "Zoë liked this 👍🏽\n\nHerald ships",
            "link": "https://site.example/p/1",
        })
    );
    Mock::given(method("POST"))
        .and(path(FEED))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "message": "Zoë liked this 👍🏽\n\nHerald ships",
            "link": "https://site.example/p/1",
            "access_token": "page-tok",
            "appsecret_proof": appsecret_proof("page-tok", common::APP_SECRET),
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": POST_ID})))
        .expect(1)
        .mount(&server)
        .await;
    // A base with a trailing slash must not double the slash.
    let http = ctx(&format!("{}/", server.uri()));
    let p = Facebook
        .publish(&post, &cred("page-tok"), &key(), &http)
        .await
        .unwrap();
    assert_eq!(
        p,
        Published {
            post_id: POST_ID.into(),
            post_url: Some(format!("https://www.facebook.com/{POST_ID}")),
        }
    );
    // Nothing in the URL: the token travels in the body.
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs[0].url.query(), None);
}

#[tokio::test]
async fn the_apps_graph_version_and_no_secret_no_proof() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/1234567890/feed"))
        .and(body_json(json!({
            "message": "Zoë liked this 👍🏽\n\nHerald ships",
            "link": "https://site.example/p/1",
            "access_token": "page-tok",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": POST_ID})))
        .expect(1)
        .mount(&server)
        .await;
    let mut http = ctx(&server.uri());
    http.settings.client_secret = None;
    http.settings
        .options
        .insert("graph_version".into(), "v21.0".into());
    Facebook
        .publish(&feed_post(), &cred("page-tok"), &key(), &http)
        .await
        .unwrap();
    // A version that is not one is refused before sending.
    http.settings
        .options
        .insert("graph_version".into(), "../x".into());
    let e = Facebook
        .publish(&feed_post(), &cred("page-tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
}

#[tokio::test]
async fn an_answer_without_an_id_is_unknown() {
    for resp in [
        ResponseTemplate::new(200).set_body_json(json!({"success": true})),
        ResponseTemplate::new(200).set_body_string("<html>"),
        ResponseTemplate::new(201).set_body_json(json!({"id": ""})),
    ] {
        let e = publish_answer(resp).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
    }
    // A numeric id is kept; an id of another shape gets no URL.
    let p = publish_answer(ResponseTemplate::new(200).set_body_json(json!({"id": 42})))
        .await
        .unwrap();
    assert_eq!((p.post_id.as_str(), p.post_url), ("42", None));
}

#[tokio::test]
async fn documented_auth_errors_revoke_the_connection() {
    // An expired or invalidated Page token cannot be refreshed: revoked.
    let e = publish_error(
        400,
        graph_error(
            190,
            Some(463),
            "Error validating access token: Session has expired on Tuesday, 24-Nov-26 10:00:00 PST.",
        ),
    )
    .await;
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::AuthRevoked, Some(400))
    );
    assert_eq!(
        e.message(),
        "Error validating access token: Session has expired on Tuesday, 24-Nov-26 10:00:00 PST. (code 190/463, fbtrace_id A1b2C3d4)"
    );
    let e = publish_error(
        400,
        graph_error(
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password.",
        ),
    )
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    // A message echoing the token is scrubbed.
    let e = publish_error(
        400,
        graph_error(190, None, "Malformed access token page-tok"),
    )
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert!(!e.message().contains("page-tok"), "{}", e.message());
    let e = publish_error(
        403,
        graph_error(
            200,
            None,
            "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
        ),
    )
    .await;
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::AuthRevoked, Some(403))
    );
    let e = publish_error(
        403,
        graph_error(
            10,
            None,
            "(#10) Application does not have permission for this action",
        ),
    )
    .await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn throttling_reads_the_usage_headers() {
    // Page token calls are counted per business use case.
    let e = publish_answer(
        ResponseTemplate::new(400)
            .insert_header(
                "X-Business-Use-Case-Usage",
                r#"{"1234567890":[{"type":"pages","call_count":100,"total_cputime":12,"total_time":14,"estimated_time_to_regain_access":10}]}"#,
            )
            .set_body_json(graph_error(32, None, "(#32) Page request limit reached")),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(600)),
            status: Some(400),
            message: "(#32) Page request limit reached (code 32, fbtrace_id A1b2C3d4)".into(),
        }
    );
    let e = publish_answer(
        ResponseTemplate::new(400)
            .insert_header(
                "X-App-Usage",
                r#"{"call_count":100,"total_time":25,"total_cputime":25}"#,
            )
            .set_body_json(graph_error(
                4,
                None,
                "(#4) Application request limit reached",
            )),
    )
    .await
    .unwrap_err();
    // Percentages name no wait: the dispatcher's backoff applies.
    assert!(
        matches!(
            e,
            ProviderError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    for code in [17, 613, 80001] {
        let e = publish_error(400, graph_error(code, None, "limit")).await;
        assert_eq!(e.class(), ErrorClass::RateLimited, "{code}");
    }
    let e = publish_answer(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::RateLimited { retry_after: Some(d), status: Some(429), .. } if d.as_secs() == 120),
        "{e:?}"
    );
}

#[tokio::test]
async fn content_errors_are_rejected_with_facebooks_words() {
    let e = publish_error(
        400,
        graph_error(506, None, "(#506) Duplicate status message"),
    )
    .await;
    assert_eq!(
        (e.class(), e.code().as_str(), e.message(), e.http_status()),
        (
            ErrorClass::Rejected,
            "duplicate",
            "(#506) Duplicate status message (code 506, fbtrace_id A1b2C3d4)",
            Some(400)
        )
    );
    let e = publish_error(
        400,
        graph_error(
            1609005,
            None,
            "Error Posting Link: The link you are posting appears to be broken.",
        ),
    )
    .await;
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "invalid_link")
    );
    let e = publish_error(400, graph_error(100, None, "(#100) Invalid parameter")).await;
    assert_eq!(e.code(), "invalid_parameter");
}

#[tokio::test]
async fn server_trouble_is_transient() {
    let e = publish_error(500, graph_error(1, None, "An unknown error occurred")).await;
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::Transient, Some(500))
    );
    let e = publish_error(
        400,
        graph_error(
            2,
            None,
            "An unexpected error has occurred. Please retry your request later.",
        ),
    )
    .await;
    assert_eq!(e.class(), ErrorClass::Transient);
    let e = publish_answer(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.message()),
        (ErrorClass::Transient, "Facebook answered HTTP 503")
    );
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown_and_a_closed_port_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": POST_ID}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let http = ctx_with(&server.uri(), Duration::from_millis(300));
    let e = Facebook
        .publish(&feed_post(), &cred("page-tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
    assert!(!e.message().contains("page-tok"));

    // Bind then drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Facebook
        .publish(
            &feed_post(),
            &cred("page-tok"),
            &key(),
            &ctx(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
}

#[tokio::test]
async fn nothing_is_sent_for_other_kinds_missing_tokens_or_bad_page_ids() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": POST_ID})))
        .expect(0)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let mut post = feed_post();
    post.kind = "status".into();
    let e = Facebook
        .publish(&post, &cred("page-tok"), &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
    let mut c = cred("page-tok");
    c.access_token = None;
    let e = Facebook
        .publish(&feed_post(), &c, &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    let mut c = cred("page-tok");
    c.provider_uid = "me".into();
    let e = Facebook
        .publish(&feed_post(), &c, &key(), &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_page_id");
}

#[tokio::test]
async fn delete_sends_the_documented_request() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v26.0/{POST_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v26.0/1234567890_1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(graph_error(
            100,
            Some(33),
            "Unsupported delete request. Object with ID '1234567890_1' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v26.0/1234567890_2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false})))
        .expect(1)
        .mount(&server)
        .await;
    // An id cannot leave its path segment.
    Mock::given(method("DELETE"))
        .and(path("/v26.0/a%2F..%2Fb"))
        .respond_with(ResponseTemplate::new(400).set_body_json(graph_error(
            190,
            None,
            "Invalid OAuth access token.",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let post = |id: &str| Published {
        post_id: id.into(),
        post_url: None,
    };
    Facebook
        .delete(&post(POST_ID), &cred("page-tok"), &http)
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        query(&reqs[0].url),
        pairs(&[
            ("access_token", "page-tok"),
            (
                "appsecret_proof",
                &appsecret_proof("page-tok", common::APP_SECRET)
            ),
        ])
    );
    // Already gone counts as deleted.
    Facebook
        .delete(&post("1234567890_1"), &cred("page-tok"), &http)
        .await
        .unwrap();
    let e = Facebook
        .delete(&post("1234567890_2"), &cred("page-tok"), &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_deleted");
    let e = Facebook
        .delete(&post("a/../b"), &cred("page-tok"), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}
