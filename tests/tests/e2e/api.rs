//! The native API's contract: authentication, validation errors that name the
//! field, idempotency, not-found answers, connection import and listing.

use crate::connect_messenger;
use herald_e2e::{Herald, answer};
use serde_json::json;

#[tokio::test]
async fn authentication_is_required_and_tokens_are_single_use() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    let url = format!("{}/v1/users/ana/connections", herald.base);

    let r = answer(herald.http.get(&url).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type, "application/problem+json");

    let token = app.token();
    let ok = answer(
        herald
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let replay = answer(
        herald
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replay.status, 401);
    assert!(replay.body["detail"].as_str().unwrap().contains("jti"));

    let mut other = app.clone();
    other.secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let bad = answer(
        herald
            .http
            .get(&url)
            .bearer_auth(other.token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, 401);
    let garbage = answer(
        herald
            .http
            .get(&url)
            .bearer_auth("not.a.jwt")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(garbage.status, 401);

    // The CLI's token works too.
    let out = herald.cli(&[
        "app-token",
        "--api-key",
        &app.api_key,
        "--secret",
        &app.secret,
    ]);
    assert!(out.status.success());
    let cli_token = String::from_utf8(out.stdout).unwrap();
    let r = answer(
        herald
            .http
            .get(&url)
            .bearer_auth(cli_token.trim())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_publish_token_is_single_use_even_when_its_request_fails() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    connect_messenger(&app, "ana", "tok").await;
    let url = format!("{}/v1/actions", herald.base);
    let publish = |token: String, body: serde_json::Value| {
        let req = herald.http.post(&url).bearer_auth(token).json(&body);
        async move { answer(req.send().await.unwrap()).await }
    };
    let good = json!({"uid": "ana", "action": {"title": "t"}});
    let failing = [
        // Refused by validation, before any store write.
        (json!({"uid": "ana", "action": {"titel": "t"}}), 400),
        // Refused inside the accept, before its commit.
        (json!({"uid": "nobody", "action": {"title": "t"}}), 422),
    ];
    for (body, status) in failing {
        let token = app.token();
        let first = publish(token.clone(), body.clone()).await;
        assert_eq!(first.status, status, "{body}: {:?}", first.body);
        // The same token, now with a valid request: a replay.
        let replay = publish(token, good.clone()).await;
        assert_eq!(replay.status, 401, "{body}: {:?}", replay.body);
        assert!(replay.body["detail"].as_str().unwrap().contains("jti"));
    }
    // A token whose publish succeeded cannot publish again, not even a
    // request that would fail for another reason.
    let token = app.token();
    let ok = publish(token.clone(), good.clone()).await;
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    for body in [good, json!({"uid": "ana", "action": {"titel": "t"}})] {
        let replay = publish(token.clone(), body).await;
        assert_eq!(replay.status, 401, "{:?}", replay.body);
    }
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    let cases = [
        (
            json!({"uid": "ana", "action": {"title": "t", "link_back": "/relative"}}),
            "action.link_back",
        ),
        (
            json!({"uid": "ana", "action": {"media_items": [{"type": "hologram", "src": "https://e.com"}]}}),
            "action.media_items[0].type",
        ),
        (
            json!({"uid": "ana", "action": {"titel": "t"}}),
            "action.titel",
        ),
        (
            json!({"uid": "ana", "action": {"template": "{actor} {thing}"}}),
            "action.template",
        ),
        (json!({"uid": "", "action": {"title": "t"}}), "uid"),
        (json!({"action": {"title": "t"}}), "body"),
        (
            json!({"uid": "ana", "action": {"title": "t"}, "enabled_providers": ["myspace"]}),
            "enabled_providers[0]",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/v1/actions", &body).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {:?}", r.body);
    }
    let r = app.post("/v1/actions?wait=abc", &json!({})).await;
    assert_eq!(r.body["errors"][0]["field"], "wait");
    let r = app.post("/v1/actions?wait=30001", &json!({})).await;
    assert_eq!(r.body["errors"][0]["field"], "wait");
    let raw = herald
        .http
        .post(format!("{}/v1/actions", herald.base))
        .bearer_auth(app.token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer(raw).await.status, 400);
}

#[tokio::test]
async fn a_user_without_a_matching_connection_gets_422() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    let r = app
        .post(
            "/v1/actions",
            &json!({"uid": "nobody", "action": {"title": "t"}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["code"], "no_matching_connection");
    connect_messenger(&app, "ana", "tok").await;
    let r = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": {"title": "t"}, "disabled_providers": ["windowslive"]}),
        )
        .await;
    assert_eq!(
        r.status, 422,
        "an alias disables the provider: {:?}",
        r.body
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    for id in [
        "act_0000000000000000000000000000000a",
        "nope",
        "dlv_0000000000000000000000000000000a",
        "act_%27;--",
    ] {
        let r = app.get(&format!("/v1/actions/{id}")).await;
        assert_eq!(r.status, 404, "{id}");
    }
    // Another app's action is not visible.
    let herald_app2 = herald.create_app(None);
    connect_messenger(&app, "ana", "tok").await;
    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": {"title": "t"}}),
        )
        .await;
    let r = herald_app2
        .get(&format!("/v1/actions/{}", a.body["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_action() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    connect_messenger(&app, "ana", "tok").await;
    let body = json!({"uid": "ana", "action": {"title": "t"}});
    let h = [("Idempotency-Key", "order-17")];
    let a = app
        .call_with(reqwest::Method::POST, "/v1/actions", Some(&body), &h)
        .await;
    let b = app
        .call_with(reqwest::Method::POST, "/v1/actions", Some(&body), &h)
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(b.status, 202);
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(b.body["deliveries"].as_array().unwrap().len(), 1);
    let other = json!({"uid": "ana", "action": {"title": "different"}});
    let c = app
        .call_with(reqwest::Method::POST, "/v1/actions", Some(&other), &h)
        .await;
    assert_eq!(c.status, 422);
    assert_eq!(c.body["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn connections_are_upserted_listed_without_tokens_and_removed() {
    let herald = Herald::start().await;
    let app = herald.create_app(None);
    connect_messenger(&app, "ana", "tok-first").await;
    connect_messenger(&app, "ana", "tok-second").await;
    let second = app
        .put(
            "/v1/users/ana/connections/microsoft",
            &json!({"access_token": "tok-third", "provider_uid": "cid-99", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(second.body["provider"], "messenger");
    let list = app.get("/v1/users/ana/connections").await;
    let conns = list.body["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2, "same account upserts: {:?}", list.body);
    let text = list.body.to_string();
    for t in ["tok-first", "tok-second", "tok-third", "refresh-1"] {
        assert!(!text.contains(t), "{t} leaked in {text}");
    }
    assert_eq!(conns[1]["expires_at"], "2030-01-01T00:00:00Z");

    let missing = app
        .put(
            "/v1/users/ana/connections/messenger",
            &json!({"access_token": "x"}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["errors"][0]["field"], "provider_uid");
    let unknown = app
        .put(
            "/v1/users/ana/connections/myspace",
            &json!({"access_token": "x"}),
        )
        .await;
    assert_eq!(unknown.status, 404);

    let r = app
        .delete("/v1/users/ana/connections/messenger?provider_uid=cid-99")
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get("/v1/users/ana/connections").await.body["connections"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.delete("/v1/users/ana/connections/messenger")
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete("/v1/users/ana/connections/messenger")
            .await
            .status,
        404
    );
}
