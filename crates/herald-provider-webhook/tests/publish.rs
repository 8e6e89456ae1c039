//! Publishing against a real HTTP server (wiremock on 127.0.0.1): the exact
//! request a receiver gets, how its answers map, and the outbound policy.

use herald_core::provider::http_clients;
use herald_core::{
    AccountInfo, ActionId, ActionMeta, Credential, DeliveryId, ErrorClass, HttpCtx, IdempotencyKey,
    NativePost, OutboundPolicy, Provider, ProviderError, RenderedAction, UserAction,
};
use herald_provider_webhook::{Webhook, verify};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{body_bytes, header, header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec_test";

fn local_policy() -> OutboundPolicy {
    OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()])
}

fn ctx(policy: OutboundPolicy, timeout: Duration) -> HttpCtx {
    herald_core::tls::init();
    let (client, guarded) = http_clients(&policy, timeout).unwrap();
    HttpCtx {
        client,
        guarded,
        policy,
        api_base: url::Url::parse("http://localhost/").unwrap(),
        consent_base: None,
        settings: Default::default(),
    }
}

fn http() -> HttpCtx {
    ctx(local_policy(), Duration::from_secs(5))
}

fn cred(url: String) -> Credential {
    Credential {
        provider_uid: url.clone(),
        url: Some(url),
        secret: Some(SECRET.into()),
        ..Default::default()
    }
}

fn post(delivery: &DeliveryId) -> NativePost {
    let action: UserAction = serde_json::from_value(serde_json::json!({
        "title": "Hello ünïcode",
        "description": "A longer text",
        "link_back": "https://site.example/p/1",
        "action_links": [{"text": "Read", "href": "https://site.example/p/1"}],
    }))
    .unwrap();
    let ra = RenderedAction {
        action,
        meta: ActionMeta {
            action_id: ActionId::new(),
            uid: "user-1".into(),
            delivery_id: Some(delivery.clone()),
            app_name: "Site".into(),
            site_url: Some("https://site.example".into()),
        },
        options: BTreeMap::new(),
    };
    Webhook.render(&ra, &AccountInfo::default()).unwrap()
}

/// HMAC-SHA256 recomputed here, independently of the crate's `sign`.
fn expected_signature(t: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn publish_to(
    server: &MockServer,
    post: &NativePost,
    key: &IdempotencyKey,
    http: &HttpCtx,
) -> Result<herald_core::Published, ProviderError> {
    Webhook
        .publish(post, &cred(format!("{}/hook", server.uri())), key, http)
        .await
}

#[tokio::test]
async fn sends_exact_headers_and_body_signed_with_the_secret() {
    let server = MockServer::start().await;
    let d = DeliveryId::new();
    let post = post(&d);
    let key = IdempotencyKey::for_delivery(&d);
    let body = serde_json::to_vec(&post.body).unwrap();
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("content-type", "application/json"))
        .and(header("idempotency-key", key.as_str()))
        .and(header_regex("herald-signature", r"^t=\d+,v1=[0-9a-f]{64}$"))
        .and(body_bytes(body.clone()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"id": "r-1", "url": "https://r.example/1"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let p = publish_to(&server, &post, &key, &http()).await.unwrap();
    assert_eq!(p.post_id, "r-1");
    assert_eq!(p.post_url.as_deref(), Some("https://r.example/1"));

    let reqs = server.received_requests().await.unwrap();
    let sig = reqs[0]
        .headers
        .get("herald-signature")
        .unwrap()
        .to_str()
        .unwrap();
    let (t, v1) = sig.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    let ts: i64 = t.parse().unwrap();
    assert!((before..=before + 5).contains(&ts));
    assert_eq!(v1, expected_signature(t, &reqs[0].body));
    assert!(verify(
        sig,
        SECRET.as_bytes(),
        &reqs[0].body,
        ts,
        Duration::from_secs(300)
    ));
    assert!(!verify(
        sig,
        b"wrong",
        &reqs[0].body,
        ts,
        Duration::from_secs(300)
    ));
    server.verify().await;
}

#[tokio::test]
async fn retries_send_the_same_bytes_and_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Post-Id", "hdr-9"))
        .expect(2)
        .mount(&server)
        .await;
    let d = DeliveryId::new();
    let post = post(&d);
    let key = IdempotencyKey::for_delivery(&d);
    let http = http();
    let a = publish_to(&server, &post, &key, &http).await.unwrap();
    let b = publish_to(&server, &post, &key, &http).await.unwrap();
    assert_eq!(a.post_id, "hdr-9");
    assert_eq!(a, b);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(reqs[0].body, serde_json::to_vec(&post.body).unwrap());
    let k = |i: usize| reqs[i].headers.get("idempotency-key").unwrap().clone();
    assert_eq!(k(0), k(1));
    assert_eq!(k(0).to_str().unwrap(), key.as_str());
}

#[tokio::test]
async fn an_answer_without_an_id_falls_back_to_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let d = DeliveryId::new();
    let key = IdempotencyKey::for_delivery(&d);
    let p = publish_to(&server, &post(&d), &key, &http()).await.unwrap();
    assert_eq!(p.post_id, key.as_str());
    assert_eq!(p.post_url, None);
}

async fn answer(template: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    let d = DeliveryId::new();
    let key = IdempotencyKey::for_delivery(&d);
    publish_to(&server, &post(&d), &key, &http())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn error_answers_map_to_classes() {
    let e = answer(ResponseTemplate::new(503)).await;
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(e.http_status(), Some(503));

    let e = answer(ResponseTemplate::new(429).insert_header("Retry-After", "30")).await;
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            status: Some(429),
            message: "the receiver answered HTTP 429".into(),
        }
    );

    let e = answer(ResponseTemplate::new(410)).await;
    assert_eq!(e.class(), ErrorClass::AuthRevoked);
    assert_eq!(e.http_status(), Some(410));

    let e = answer(ResponseTemplate::new(400).set_body_string("x".repeat(300))).await;
    assert_eq!(e.class(), ErrorClass::Rejected);
    assert_eq!(e.code(), "http_400");
    assert_eq!(e.message(), "x".repeat(200));
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    // Take a free port, then close it so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = DeliveryId::new();
    let e = Webhook
        .publish(
            &post(&d),
            &cred(format!("http://127.0.0.1:{port}/hook")),
            &IdempotencyKey::for_delivery(&d),
            &http(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
}

#[tokio::test]
async fn a_late_answer_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let d = DeliveryId::new();
    let http = ctx(local_policy(), Duration::from_millis(300));
    let e = publish_to(&server, &post(&d), &IdempotencyKey::for_delivery(&d), &http)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unknown, "{e:?}");
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let d = DeliveryId::new();
    let post = post(&d);
    let key = IdempotencyKey::for_delivery(&d);

    let refused = ctx(OutboundPolicy::default(), Duration::from_secs(5));
    let e = publish_to(&server, &post, &key, &refused)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Rejected);
    assert_eq!(e.code(), "forbidden_address");
    assert!(e.message().contains("127.0.0.1"), "{}", e.message());

    // Only the allowed attempt reaches the server (`expect(1)`).
    publish_to(&server, &post, &key, &http()).await.unwrap();
    server.verify().await;
}
