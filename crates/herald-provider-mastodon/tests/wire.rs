//! Publishing and deleting against a local HTTP server (wiremock): the exact
//! requests Mastodon documents, and how each documented error answer maps.

mod common;

use common::{action, cred, ctx, ctx_with};
use herald_core::{
    AccountInfo, DeliveryId, ErrorClass, IdempotencyKey, NativePost, OutboundPolicy, Provider,
    ProviderError, Published,
};
use herald_provider_mastodon::{Mastodon, max_characters};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn status_post() -> NativePost {
    Mastodon
        .render(
            &action(json!({
                "user_message": "Zoë liked this 👍🏽",
                "title": "Herald ships",
                "link_back": "https://site.example/p/1",
                "privacy": "public",
            })),
            &AccountInfo::default(),
        )
        .unwrap()
}

async fn publish_answer(resp: ResponseTemplate) -> Result<Published, ProviderError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(resp)
        .mount(&server)
        .await;
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    Mastodon
        .publish(&status_post(), &cred("tok"), &key, &ctx(&server.uri()))
        .await
}

#[tokio::test]
async fn publish_sends_the_documented_request() {
    let server = MockServer::start().await;
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let post = status_post();
    assert_eq!(
        post.body,
        json!({
            "status": "Zoë liked this 👍🏽\n\nHerald ships https://site.example/p/1",
            "visibility": "public",
        })
    );
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(header("authorization", "Bearer tok"))
        .and(header("idempotency-key", key.as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(&post.body))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "110000000000000001",
            "url": "https://mastodon.example/@ana/110000000000000001",
            "uri": "https://mastodon.example/users/ana/statuses/110000000000000001",
            "visibility": "public",
            "content": "<p>…</p>",
        })))
        .expect(1)
        .mount(&server)
        .await;
    // A base with a trailing slash must not double the slash.
    let http = ctx(&format!("{}/", server.uri()));
    let p = Mastodon
        .publish(&post, &cred("tok"), &key, &http)
        .await
        .unwrap();
    assert_eq!(
        p,
        Published {
            post_id: "110000000000000001".into(),
            post_url: Some("https://mastodon.example/@ana/110000000000000001".into()),
        }
    );
}

#[tokio::test]
async fn post_url_falls_back_to_uri_and_a_missing_id_is_unknown() {
    let p = publish_answer(ResponseTemplate::new(200).set_body_json(json!({
        "id": "7", "url": null, "uri": "https://m.example/users/a/statuses/7"
    })))
    .await
    .unwrap();
    assert_eq!(
        p.post_url.as_deref(),
        Some("https://m.example/users/a/statuses/7")
    );
    let e = publish_answer(ResponseTemplate::new(200).set_body_json(json!({"url": "x"})))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown);
    let e = publish_answer(ResponseTemplate::new(200).set_body_string("<html>"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_answer");
}

#[tokio::test]
async fn a_401_on_an_expiring_token_with_a_refresh_token_asks_for_a_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "The access token expired"})),
        )
        .mount(&server)
        .await;
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let mut c = cred("tok");
    c.refresh_token = Some(herald_core::Secret::new("refresh"));
    c.expires_at = Some(time::OffsetDateTime::now_utc());
    let e = Mastodon
        .publish(&status_post(), &c, &key, &ctx(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthExpired);
}

#[tokio::test]
async fn documented_error_answers_map_to_classes() {
    let body = |s: &str| json!({ "error": s });
    let e = publish_answer(
        ResponseTemplate::new(401).set_body_json(body("The access token is invalid")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert_eq!(e.message(), "The access token is invalid");

    let e = publish_answer(
        ResponseTemplate::new(422).set_body_json(body("Validation failed: Text can't be blank")),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str(), e.message(), e.http_status()),
        (
            ErrorClass::Rejected,
            "blank",
            "Validation failed: Text can't be blank",
            Some(422)
        )
    );

    let e = publish_answer(ResponseTemplate::new(422).set_body_json(body(
        "Validation failed: Text character limit of 500 exceeded",
    )))
    .await
    .unwrap_err();
    assert_eq!(e.code(), "too_long");

    let e = publish_answer(
        ResponseTemplate::new(403)
            .set_body_json(body("This action is outside the authorized scopes")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);

    let reset = (time::OffsetDateTime::now_utc() + time::Duration::seconds(90))
        .format(&time::format_description::well_known::Iso8601::DEFAULT)
        .unwrap();
    let e = publish_answer(
        ResponseTemplate::new(429)
            .insert_header("X-RateLimit-Limit", "300")
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset", reset.as_str())
            .set_body_json(body("Too many requests")),
    )
    .await
    .unwrap_err();
    match e {
        ProviderError::RateLimited {
            retry_after: Some(d),
            status: Some(429),
            ref message,
        } => {
            assert!((88..=91).contains(&d.as_secs()), "{d:?}");
            assert_eq!(message, "Too many requests");
        }
        other => panic!("{other:?}"),
    }

    let e = publish_answer(ResponseTemplate::new(503).set_body_string("<html>Maintenance</html>"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.http_status()),
        (ErrorClass::Transient, Some(503))
    );

    let e = publish_answer(ResponseTemplate::new(404).set_body_json(body("Record not found")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown_and_a_closed_port_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let http = ctx_with(
        &server.uri(),
        common::local_policy(),
        Duration::from_millis(300),
    );
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let e = Mastodon
        .publish(&status_post(), &cred("tok"), &key, &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");

    // Bind then drop a listener: nothing answers on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Mastodon
        .publish(
            &status_post(),
            &cred("tok"),
            &key,
            &ctx(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
}

#[tokio::test]
async fn private_instances_are_refused_unless_allowed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1"})))
        .expect(0)
        .mount(&server)
        .await;
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    // An IP literal is refused before sending…
    let http = ctx_with(
        &server.uri(),
        OutboundPolicy::default(),
        Duration::from_secs(5),
    );
    let e = Mastodon
        .publish(&status_post(), &cred("tok"), &key, &http)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "forbidden_address")
    );
    // …and a name resolving to a private address by the guarded resolver.
    let port = server.address().port();
    let http = ctx_with(
        &format!("http://localhost:{port}"),
        OutboundPolicy::default(),
        Duration::from_secs(5),
    );
    let e = Mastodon
        .publish(&status_post(), &cred("tok"), &key, &http)
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.code().as_str()),
        (ErrorClass::Rejected, "forbidden_address")
    );
}

#[tokio::test]
async fn publish_refuses_other_kinds_and_missing_tokens() {
    let http = ctx("http://127.0.0.1:9");
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let mut post = status_post();
    post.kind = "share".into();
    let e = Mastodon
        .publish(&post, &cred("tok"), &key, &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported);
    let mut c = cred("tok");
    c.access_token = None;
    let e = Mastodon
        .publish(&status_post(), &c, &key, &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn delete_sends_the_documented_request_and_404_is_done() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/statuses/1100"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1100", "text": "x"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/statuses/gone"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": "Record not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // An id cannot leave its path segment.
    Mock::given(method("DELETE"))
        .and(path("/api/v1/statuses/a%2F..%2Fb"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "The access token is invalid"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let post = |id: &str| Published {
        post_id: id.into(),
        post_url: None,
    };
    Mastodon
        .delete(&post("1100"), &cred("tok"), &http)
        .await
        .unwrap();
    Mastodon
        .delete(&post("gone"), &cred("tok"), &http)
        .await
        .unwrap();
    let e = Mastodon
        .delete(&post("a/../b"), &cred("tok"), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
}

#[tokio::test]
async fn instance_limit_is_read_from_v2_instance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/instance"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "domain": "m.example",
            "configuration": {"statuses": {
                "max_characters": 1000,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23
            }}
        })))
        .mount(&server)
        .await;
    assert_eq!(
        max_characters(&ctx(&server.uri())).await.unwrap(),
        Some(1000)
    );
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake image bytes";

async fn image_site() -> MockServer {
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/img/a.png"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_bytes(PNG),
        )
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/page.html"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>", "text/html"))
        .mount(&site)
        .await;
    site
}

fn photo_post(src: &str) -> NativePost {
    Mastodon
        .render(
            &action(json!({
                "user_message": "photos",
                "media_items": [{"type": "image", "src": src}],
            })),
            &AccountInfo::default(),
        )
        .unwrap()
}

#[tokio::test]
async fn images_are_uploaded_processed_and_attached() {
    let site = image_site().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/media"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"id": "m1", "type": "image", "url": null})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Still processing on the first poll, done on the second.
    Mock::given(method("GET"))
        .and(path("/api/v1/media/m1"))
        .respond_with(ResponseTemplate::new(206).set_body_json(json!({"id": "m1", "url": null})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/media/m1"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "m1", "url": "https://files.example/m1.png"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(body_json(json!({"status": "photos", "media_ids": ["m1"]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "9", "url": "https://m.example/@a/9"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let post = photo_post(&format!("{}/img/a.png", site.uri()));
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let p = Mastodon
        .publish(&post, &cred("tok"), &key, &ctx(&server.uri()))
        .await
        .unwrap();
    assert_eq!(p.post_id, "9");

    let reqs = server.received_requests().await.unwrap();
    let upload = reqs
        .iter()
        .find(|r| r.url.path() == "/api/v2/media")
        .unwrap();
    let ct = upload.headers["content-type"].to_str().unwrap();
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").expect(ct);
    let mut want = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    want.extend_from_slice(PNG);
    want.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(upload.body, want);
    let polls = reqs
        .iter()
        .filter(|r| r.url.path() == "/api/v1/media/m1")
        .count();
    assert_eq!(polls, 2);
}

#[tokio::test]
async fn image_failures_stop_before_posting() {
    let site = image_site().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "9"})))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/media"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "error": "Validation failed: File content type is invalid"
        })))
        .mount(&server)
        .await;
    let http = ctx(&server.uri());
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let code = |r: Result<Published, ProviderError>| r.unwrap_err().code();
    let missing = photo_post(&format!("{}/img/missing.png", site.uri()));
    assert_eq!(
        code(Mastodon.publish(&missing, &cred("tok"), &key, &http).await),
        "media_unavailable"
    );
    let html = photo_post(&format!("{}/page.html", site.uri()));
    assert_eq!(
        code(Mastodon.publish(&html, &cred("tok"), &key, &http).await),
        "media_type"
    );
    let png = photo_post(&format!("{}/img/a.png", site.uri()));
    assert_eq!(
        code(Mastodon.publish(&png, &cred("tok"), &key, &http).await),
        "validation_failed"
    );
    // An image on a private address is refused like an instance would be.
    let strict = ctx_with(
        &server.uri(),
        OutboundPolicy::default(),
        Duration::from_secs(5),
    );
    let e = Mastodon
        .publish(&png, &cred("tok"), &key, &strict)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "forbidden_address");
}

#[tokio::test]
async fn a_token_is_only_sent_to_its_own_instance() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1"})))
        .expect(1)
        .mount(&server)
        .await;
    let key = IdempotencyKey::for_delivery(&DeliveryId::new());
    let http = ctx(&server.uri());
    let mut c = cred("tok");
    c.url = Some("https://other.example".into());
    let e = Mastodon
        .publish(&status_post(), &c, &key, &http)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "instance_mismatch");
    let e = Mastodon
        .delete(
            &Published {
                post_id: "1".into(),
                post_url: None,
            },
            &c,
            &http,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "instance_mismatch");
    // The stored base, with or without a trailing slash, matches.
    c.url = Some(format!("{}/", server.uri()));
    Mastodon
        .publish(&status_post(), &c, &key, &http)
        .await
        .unwrap();
}
