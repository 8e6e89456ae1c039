//! Mastodon end to end against a real Mastodon-API server (the PyPI
//! `mastodon-mock`): a user names their instance, Herald registers itself
//! there once per app, the OAuth 2.0 + PKCE flow connects the account, a
//! publish becomes a status on that instance, and disconnecting revokes the
//! token there.

use herald_e2e::{Herald, TestApp, flow_cookie, peers};
use serde_json::{Value, json};
use std::collections::HashMap;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn connect_token(app: &TestApp, uid: &str) -> String {
    let r = app
        .post(&format!("/v1/users/{uid}/connect-tokens"), &json!({}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["connect_token"].as_str().unwrap().to_owned()
}

async fn start(h: &Herald, token: &str, instance: &str) -> reqwest::Response {
    browser()
        .get(format!("{}/connect/mastodon", h.base))
        .query(&[
            ("connect_token", token),
            ("redirect_uri", "https://site.example/back"),
            ("state", "site-state"),
            ("instance", instance),
        ])
        .send()
        .await
        .unwrap()
}

/// The instance's consent page, answered the way mastodon-mock's account
/// picker does; returns where the instance sends the browser.
async fn consent(instance: &str, q: &HashMap<String, String>) -> String {
    let r = browser()
        .post(format!("{instance}/oauth/authorize"))
        .form(&[
            ("username", "testuser"),
            ("redirect_uri", q["redirect_uri"].as_str()),
            ("client_id", q["client_id"].as_str()),
            ("state", q["state"].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_user_connects_their_instance_publishes_and_disconnects() {
    let Some(peer) = peers::mastodon_mock("mastodon::a_user_connects_their_instance") else {
        return;
    };
    let instance = peer.url.as_str();
    let h = Herald::start().await;
    let app = h.create_app(Some("https://site.example/"));

    // 1. Consent redirect with Herald's registered client and PKCE.
    let r = start(&h, &connect_token(&app, "ana").await, instance).await;
    assert_eq!(r.status().as_u16(), 302);
    let cookie = flow_cookie(&r);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{instance}/oauth/authorize?")),
        "{location}"
    );
    let q = query_of(&location);
    let callback = format!("{}/connect/mastodon/callback", h.base);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], callback);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    assert!(scopes.contains(&"write:statuses") && scopes.contains(&"write:media"));
    let client_id = q["client_id"].clone();
    assert!(!client_id.is_empty());

    // 2. The instance sends the browser back; Herald exchanges the code.
    let back = consent(instance, &q).await;
    assert!(back.starts_with(&callback), "{back}");
    let r = browser()
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let (site, code) = herald_e2e::split_connect_code(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        site,
        "https://site.example/back?status=connected&provider=mastodon&state=site-state"
    );
    // The same callback again is a replay.
    let r = browser()
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=state_replayed")
    );

    assert_eq!(app.redeem("ana", &code).await.status, 200);
    let conns = app.get("/v1/users/ana/connections").await;
    let c = &conns.body["connections"][0];
    assert_eq!(c["provider"], "mastodon");
    assert_eq!(c["status"], "active");
    assert_eq!(c["url"], instance);
    let port = url::Url::parse(instance).unwrap().port().unwrap();
    assert_eq!(
        c["display_name"],
        format!("@testuser@127.0.0.1:{port}").as_str()
    );

    // 3. Another user of the same app: the registration is reused.
    let r = start(&h, &connect_token(&app, "bob").await, instance).await;
    assert_eq!(
        query_of(r.headers()["location"].to_str().unwrap())["client_id"],
        client_id
    );

    // 4. A publish becomes a status on the user's instance.
    let a = app
        .post(
            "/v1/actions?wait=10000",
            &json!({
                "uid": "ana",
                "enabled_providers": ["mastodon"],
                "action": {
                    "user_message": "Hello from Herald",
                    "link_back": "https://news.example/story"
                }
            }),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let done = app
        .wait_final(
            a.body["id"].as_str().unwrap(),
            std::time::Duration::from_secs(30),
        )
        .await;
    let d = &done["deliveries"][0];
    assert_eq!(d["state"], "published", "{done}");
    let id = d["post_id"].as_str().unwrap();
    let status: Value = reqwest::Client::new()
        .get(format!("{instance}/api/v1/statuses/{id}"))
        .bearer_auth("mock_token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content = status["content"].as_str().unwrap_or_default().to_owned()
        + status["text"].as_str().unwrap_or_default();
    assert!(
        content.contains("Hello from Herald") && content.contains("https://news.example/story"),
        "{status}"
    );

    // 5. Disconnect revokes the token at the instance, then deletes it.
    let r = app.delete("/v1/users/ana/connections/mastodon").await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(
        h.log().contains("token revoked at the network"),
        "{}",
        h.log()
    );
    let conns = app.get("/v1/users/ana/connections").await;
    assert_eq!(conns.body["connections"], json!([]));
}

#[tokio::test]
async fn the_instance_is_required_checked_and_guarded() {
    let Some(peer) = peers::mastodon_mock("mastodon::the_instance_is_required") else {
        return;
    };
    // No private networks allowed: a loopback instance must be refused.
    let h = Herald::builder()
        .env("HERALD_ALLOWED_PRIVATE_NETS", "")
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    let r = browser()
        .get(format!("{}/connect/mastodon", h.base))
        .query(&[("connect_token", connect_token(&app, "ana").await.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "instance", "{body}");

    let r = start(
        &h,
        &connect_token(&app, "ana").await,
        "https://mastodon.example/some/path",
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "instance", "{body}");

    let r = start(&h, &connect_token(&app, "ana").await, &peer.url).await;
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "instance_registration_failed", "{body}");
    assert_eq!(body["errors"][0]["field"], "instance", "{body}");
}
