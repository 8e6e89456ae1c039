//! Windows Live end to end: exact request format, retries, Retry-After, token
//! refresh on `{"Code":412}`, share mode.

use crate::{
    connect_messenger, link_action, link_activity_body, messenger_site, outcomes, publish_link,
};
use herald_e2e::{Herald, messenger_flow, no_redirects};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACTIVITIES: &str = "/V4.1/cid-cid-42/MyActivities";

pub(crate) fn activities(token: &str) -> wiremock::MockBuilder {
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
    let (_herald, app) = messenger_site(&wl).await;
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
    let (_herald, app) = messenger_site(&wl).await;
    connect_messenger(&app, "ana", "tok-1").await;

    let done = publish_link(&app).await;
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
    let (_herald, app) = messenger_site(&wl).await;
    connect_messenger(&app, "ana", "tok-1").await;

    let done = publish_link(&app).await;
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
    let (herald, app) = messenger_site(&wl).await;
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
    let (herald, app, done) = crate::a_refused_refresh(&wl).await;
    assert_eq!(done["deliveries"][0]["state"], "failed");
    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["status"], "needs_reauth");
    assert!(
        c["last_error"]
            .as_str()
            .unwrap()
            .contains("refresh_token_expired"),
        "{c}"
    );

    // The site sends the user to reconnect_url: a ready connect flow that
    // ends back on the app's site with a healthy connection.
    Mock::given(method("POST"))
        .and(path("/AccessToken.aspx"))
        .and(body_string_contains("wrap_verification_code=vc-again"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "wrap_access_token=tok-new&wrap_access_token_expires_in=3600&wrap_refresh_token=rt-new&uid=cid-42",
        ))
        .expect(1)
        .mount(&wl)
        .await;
    let reconnect = c["reconnect_url"]
        .as_str()
        .expect("reconnect_url")
        .to_owned();
    assert!(
        reconnect.starts_with(&format!("{}/connect/messenger?connect_token=", herald.base)),
        "{reconnect}"
    );
    let r = no_redirects().get(&reconnect).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let (cookie, state) = messenger_flow(&r);
    let r = herald
        .messenger_callback(
            Some(&cookie),
            &state,
            ("wrap_verification_code", "vc-again"),
        )
        .await;
    assert_eq!(r.status().as_u16(), 302);
    let (back, code) = herald_e2e::split_connect_code(r.headers()["location"].to_str().unwrap());
    assert!(
        back.starts_with("https://site.example/?status=connected&provider=messenger"),
        "{back}"
    );
    // Until the site redeems the code, the stale connection keeps its state.
    let conns = app.get("/v1/users/ana/connections").await;
    assert_eq!(conns.body["connections"][0]["status"], "needs_reauth");
    assert_eq!(app.redeem("ana", &code).await.status, 200);
    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["status"], "active", "{c}");
    assert!(c.get("reconnect_url").is_none() && c.get("last_error").is_none());
}

#[tokio::test]
async fn tokens_about_to_expire_are_refreshed_in_the_background() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/RefreshToken.aspx"))
        .and(body_string_contains("wrap_refresh_token=refresh-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "wrap_access_token=tok-bg&wrap_access_token_expires_in=7200&wrap_refresh_token=refresh-2",
        ))
        .expect(1)
        .mount(&wl)
        .await;
    let herald = Herald::builder()
        .messenger_at(&wl.uri())
        .env("HERALD_DISPATCH__REFRESH_INTERVAL_SECONDS", "1")
        .start()
        .await;
    let app = herald.create_app(Some("https://site.example/"));
    // Expires in 5 minutes: within the default 10-minute lead.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = app
        .put(
            "/v1/users/ana/connections/messenger",
            &json!({
                "access_token": "tok-old",
                "refresh_token": "refresh-1",
                "provider_uid": "cid-42",
                "expires_at": soon,
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let c = loop {
        let conns = app.get("/v1/users/ana/connections").await;
        let c = conns.body["connections"][0].clone();
        if c.get("last_refresh_at").is_some() || std::time::Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(c.get("last_refresh_at").is_some(), "not refreshed: {c}");
    assert_eq!(c["status"], "active");
    assert_ne!(c["expires_at"].as_str().unwrap(), soon, "new expiry");
    // The next publish uses the refreshed token.
    activities("tok-bg")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-bg"})))
        .expect(1)
        .mount(&wl)
        .await;
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    let done = app
        .wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["deliveries"][0]["state"], "published", "{done}");
    assert!(!herald.log().contains("tok-bg") && !herald.log().contains("refresh-2"));
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
    let (_herald, app) = messenger_site(&wl).await;
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
