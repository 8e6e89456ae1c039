//! Windows Live end to end: exact request format, retries, Retry-After, token
//! refresh on `{"Code":412}`, share mode.

use crate::{connect_messenger, link_action, link_activity_body, outcomes};
use herald_e2e::Herald;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACTIVITIES: &str = "/V4.1/cid-cid-42/MyActivities";

fn activities(token: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(ACTIVITIES))
        .and(header(
            "authorization",
            format!("WRAP access_token={token}").as_str(),
        ))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(body_json(link_activity_body()))
}

#[tokio::test]
async fn publishes_a_custom_activity_in_the_documented_format() {
    let wl = MockServer::start().await;
    activities("tok-1")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-1"})))
        .expect(1)
        .mount(&wl)
        .await;
    let herald = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;

    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let d = &a.body["deliveries"][0];
    assert_eq!(d["provider"], "messenger");
    assert_eq!(d["account"], "cid-42");
    assert_eq!(d["state"], "published", "{:?}", a.body);
    assert_eq!(d["post_id"], "act-1");
    assert_eq!(d["attempts"], 1);

    let id = a.body["id"].as_str().unwrap();
    let read = app.get(&format!("/v1/actions/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.body["action"]["link_back"],
        "https://news.example/a/caf%C3%A9?x=1&y=%20z"
    );
    assert_eq!(outcomes(&read.body["deliveries"][0]), vec!["published"]);
}

#[tokio::test]
async fn retries_503_twice_then_publishes() {
    let wl = MockServer::start().await;
    activities("tok-1")
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&wl)
        .await;
    activities("tok-1")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-3"})))
        .with_priority(2)
        .expect(1)
        .mount(&wl)
        .await;
    let herald = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;

    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    assert_eq!(a.status, 202);
    let done = app
        .wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published");
    assert_eq!(d["attempts"], 3);
    assert_eq!(outcomes(d), vec!["retry", "retry", "published"]);
    assert_eq!(d["history"][0]["http_status"], 503);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let wl = MockServer::start().await;
    activities("tok-1")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&wl)
        .await;
    activities("tok-1")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-4"})))
        .with_priority(2)
        .mount(&wl)
        .await;
    let herald = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;

    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    let done = app
        .wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published");
    assert_eq!(outcomes(d), vec!["retry", "published"]);
    let t = |s: &serde_json::Value| {
        time::OffsetDateTime::parse(
            s.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let gap = t(&d["history"][1]["started_at"]) - t(&d["history"][0]["finished_at"]);
    assert!(
        gap >= time::Duration::seconds(2),
        "second attempt came {gap} after the 429, before Retry-After: 2"
    );
    assert_eq!(d["history"][0]["http_status"], 429);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_post_retried() {
    let wl = MockServer::start().await;
    activities("tok-old")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"Code": 412, "Message": "Token expired"})),
        )
        .expect(1)
        .mount(&wl)
        .await;
    Mock::given(method("POST"))
        .and(path("/RefreshToken.aspx"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("wrap_refresh_token=refresh-1"))
        .and(body_string_contains("wrap_client_id=client-1"))
        .and(body_string_contains("wrap_client_secret=client-secret-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-www-form-urlencoded")
                .set_body_string("wrap_access_token=tok-new&wrap_access_token_expires_in=3600&wrap_refresh_token=refresh-2"),
        )
        .expect(1)
        .mount(&wl)
        .await;
    activities("tok-new")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-5"})))
        .expect(1)
        .mount(&wl)
        .await;
    let herald = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-old").await;

    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    let done = app
        .wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published", "{done}");
    assert_eq!(d["post_id"], "act-5");
    assert_eq!(outcomes(d), vec!["auth_expired", "published"]);
    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["status"], "active");
    assert!(c["last_refresh_at"].is_string(), "{c}");
    assert!(c["expires_at"].is_string(), "{c}");

    // The refreshed token is the one used from now on, and no token reaches the log.
    let log = herald.log();
    for secret in [
        "tok-old",
        "tok-new",
        "refresh-1",
        "refresh-2",
        "client-secret-1",
        &app.secret,
    ] {
        assert!(!log.contains(secret), "{secret} appears in the server log");
    }
}

#[tokio::test]
async fn a_refused_refresh_fails_the_delivery_and_flags_the_connection() {
    let wl = MockServer::start().await;
    activities("tok-old")
        .respond_with(ResponseTemplate::new(401))
        .mount(&wl)
        .await;
    Mock::given(method("POST"))
        .and(path("/RefreshToken.aspx"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("wrap_error_reason=refresh_token_expired"),
        )
        .mount(&wl)
        .await;
    let herald = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-old").await;
    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    let done = app
        .wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["deliveries"][0]["state"], "failed");
    let conns = app.get("/v1/users/ana/connections").await;
    assert_eq!(conns.body["connections"][0]["status"], "needs_reauth");
}

#[tokio::test]
async fn share_mode_posts_to_live_connect() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v5.0/me/share"))
        .and(header("authorization", "Bearer tok-1"))
        .and(body_json(json!({
            "message": "Try this 👀",
            "link": "https://news.example/a/caf%C3%A9?x=1&y=%20z",
            "name": "Crème brûlée recipe",
            "description": "The best one",
            "picture": "https://news.example/t.jpg"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "share-1"})))
        .expect(1)
        .mount(&wl)
        .await;
    let herald = Herald::builder()
        .messenger_at(&wl.uri())
        .env("HERALD_PROVIDERS__MESSENGER__MODE", "share")
        .start()
        .await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    assert_eq!(
        a.body["deliveries"][0]["state"], "published",
        "{:?}",
        a.body
    );
    assert_eq!(a.body["deliveries"][0]["post_id"], "share-1");
}

#[tokio::test]
async fn a_rejected_post_fails_with_the_networks_message() {
    let wl = MockServer::start().await;
    activities("tok-1")
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"code": "request_body_invalid", "message": "Title too long"}}),
        ))
        .expect(1)
        .mount(&wl)
        .await;
    let herald = Herald::builder().messenger_at(&wl.uri()).start().await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    let d = &a.body["deliveries"][0];
    assert_eq!(d["state"], "failed", "{:?}", a.body);
    assert_eq!(d["error"]["class"], "rejected");
    assert_eq!(d["error"]["code"], "request_body_invalid");
    assert!(
        d["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Title too long")
    );
}
