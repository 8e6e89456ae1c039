//! Crash safety: SIGKILL the server while deliveries are in flight and queued,
//! restart it on the same database, and check that nothing accepted is lost and
//! nothing is posted twice where the network could not tell.

use crate::{connect_messenger, link_action};
use herald_e2e::Herald;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn crashy(base: herald_e2e::HeraldBuilder) -> herald_e2e::HeraldBuilder {
    base.env("HERALD_DISPATCH__WORKERS", "4")
        .env("HERALD_DISPATCH__LEASE_SECONDS", "3")
        .env("HERALD_DISPATCH__HTTP_TIMEOUT_SECONDS", "2")
}

#[tokio::test]
async fn no_accepted_action_is_lost_and_resends_reuse_the_key() {
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .mount(&sink)
        .await;
    let mut herald = crashy(Herald::builder()).start().await;
    let app = herald.create_app(None);
    let r = app
        .put(
            "/v1/users/ana/connections/webhook",
            &json!({"url": format!("{}/hook", sink.uri()), "secret": "s"}),
        )
        .await;
    assert_eq!(r.status, 200);

    let mut accepted = Vec::new();
    for i in 0..12 {
        let a = app
            .post(
                "/v1/actions",
                &json!({"uid": "ana", "action": {"user_message": format!("post {i}")}}),
            )
            .await;
        assert_eq!(a.status, 202, "{:?}", a.body);
        accepted.push(a.body["id"].as_str().unwrap().to_owned());
    }
    // Four are in flight (workers = 4) and eight are queued when the node dies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    herald.kill();
    let before_restart = sink.received_requests().await.unwrap().len();
    assert!(
        before_restart >= 1,
        "some deliveries were in flight at the crash"
    );

    herald.restart().await;
    for id in &accepted {
        let done = app.wait_final(id, Duration::from_secs(60)).await;
        assert_eq!(done["deliveries"][0]["state"], "published", "{done}");
    }

    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    for req in sink.received_requests().await.unwrap() {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let key = req
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        keys.entry(body["action_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(key);
    }
    for id in &accepted {
        let ks = keys
            .get(id)
            .unwrap_or_else(|| panic!("action {id} never reached the receiver"));
        assert!(
            ks.iter().all(|k| k == &ks[0]),
            "action {id} was sent under different keys: {ks:?}"
        );
    }
    let resent = keys.values().filter(|ks| ks.len() > 1).count();
    assert!(
        resent >= 1,
        "the deliveries in flight at the crash were re-sent after restart"
    );
    assert_eq!(keys.len(), accepted.len());
}

#[tokio::test]
async fn a_crash_mid_send_to_a_network_without_idempotency_is_marked_unknown() {
    let wl = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"Id": "late"}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&wl)
        .await;
    let mut herald = crashy(Herald::builder().messenger_at(&wl.uri()))
        .start()
        .await;
    let app = herald.create_app(Some("https://site.example/"));
    connect_messenger(&app, "ana", "tok-1").await;
    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    herald.kill();
    herald.restart().await;
    let done = app
        .wait_final(a.body["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "unknown", "{done}");
    assert_eq!(d["error"]["code"], "lease_expired");
    assert_eq!(
        wl.received_requests().await.unwrap().len(),
        1,
        "never re-posted"
    );
}
