//! Webhook targets end to end: fan-out to several accounts, signed bodies,
//! and the outbound address policy.

use herald_e2e::Herald;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn verify(header: &str, secret: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes()) == v1
}

#[tokio::test]
async fn fans_out_to_every_webhook_account_with_signed_bodies() {
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook/a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "ra"})))
        .expect(1)
        .mount(&sink)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook/b"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&sink)
        .await;
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    for (acct, secret) in [("a", "sa"), ("b", "sb")] {
        let r = app
            .put(
                "/v1/users/ana/connections/webhook",
                &json!({"provider_uid": acct, "url": format!("{}/hook/{acct}", sink.uri()), "secret": secret}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(r.body.get("secret").is_none() && !r.body.to_string().contains(secret));
    }
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({"uid": "ana", "action": {"user_message": "hi"}}),
        )
        .await;
    assert_eq!(a.status, 202);
    let ds = a.body["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 2);
    let mut accounts: Vec<&str> = ds.iter().map(|d| d["account"].as_str().unwrap()).collect();
    accounts.sort();
    assert_eq!(accounts, vec!["a", "b"]);
    assert!(ds.iter().all(|d| d["state"] == "published"), "{:?}", a.body);

    for req in sink.received_requests().await.unwrap() {
        let acct = req.url.path().rsplit('/').next().unwrap().to_owned();
        let secret = if acct == "a" { "sa" } else { "sb" };
        let sig = req
            .headers
            .get("herald-signature")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(verify(sig, secret, &req.body), "bad signature for {acct}");
        assert!(!verify(sig, "wrong", &req.body));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["uid"], "ana");
        assert_eq!(body["action_id"], a.body["id"]);
        assert_eq!(body["action"]["user_message"], "hi");
        let key = req
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            key,
            format!("herald-{}", body["delivery_id"].as_str().unwrap())
        );
    }
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let herald = Herald::builder()
        .env("HERALD_ALLOWED_PRIVATE_NETS", "")
        .start()
        .await;
    let app = herald.create_app(None);
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
    ] {
        let r = app
            .put(
                "/v1/users/ana/connections/webhook",
                &json!({"url": url, "secret": "s"}),
            )
            .await;
        assert_eq!(r.status, 400, "{url}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], "url", "{url}: {:?}", r.body);
    }
}
