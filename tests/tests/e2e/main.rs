//! End-to-end tests: the real `herald` binary over HTTP, wiremock standing in
//! for Windows Live (which no longer exists) and for webhook receivers.
//! One test binary (faster to build); a module per capability.

mod admin;
mod api;
mod bluesky;
mod connect;
mod crash;
mod gigya;
mod gigya_sdk;
mod hardening_bases;
mod inputs;
mod keys;
mod mastodon;
mod messenger;
mod metrics;
mod oauth2;
mod retention;
mod webhook;

use serde_json::{Value, json};

/// Imports a Windows Live connection (CID `cid-42`, token `tok-1`).
pub async fn connect_messenger(app: &herald_e2e::TestApp, uid: &str, token: &str) {
    let a = app
        .put(
            &format!("/v1/users/{uid}/connections/messenger"),
            &json!({
                "access_token": token,
                "refresh_token": "refresh-1",
                "provider_uid": "cid-42",
                "display_name": "Ana"
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}

pub fn link_action() -> Value {
    json!({
        "title": "Crème brûlée recipe",
        "description": "The best one",
        "user_message": "Try this 👀",
        "link_back": "https://news.example/a/caf%C3%A9?x=1&y=%20z",
        "action_name": "shared a recipe",
        "media_items": [{"type": "image", "src": "https://news.example/t.jpg"}]
    })
}

/// The exact Messenger Connect body `link_action()` becomes.
pub fn link_activity_body() -> Value {
    json!({
        "__type": "CustomActivity:http://schemas.microsoft.com/ado/2007/08/dataservices",
        "CustomActivityVerb": "shared a recipe",
        "ApplicationLink": "https://site.example/",
        "ActivityObjects": [{
            "ActivityObjectType": "http://activitystrea.ms/schema/1.0/custom",
            "Title": "Crème brûlée recipe",
            "Summary": "The best one",
            "Content": "Try this 👀",
            "AlternateLink": "https://news.example/a/caf%C3%A9?x=1&y=%20z",
            "PreviewLink": "https://news.example/t.jpg"
        }]
    })
}

/// A server with Windows Live at `wl`, and an app of https://site.example/.
pub async fn messenger_site(
    wl: &wiremock::MockServer,
) -> (herald_e2e::Herald, herald_e2e::TestApp) {
    let h = herald_e2e::Herald::builder()
        .messenger_at(&wl.uri())
        .start()
        .await;
    let app = h.create_app(Some("https://site.example/"));
    (h, app)
}

/// A server whose Windows Live (at `wl`) answers 401 to a publish with
/// `tok-old` and refuses the refresh (`refresh_token_expired`), an app of
/// https://site.example/ where ana holds a connection with `tok-old`, and
/// the final view of one action to ana: the connection now needs the user.
pub async fn a_refused_refresh(
    wl: &wiremock::MockServer,
) -> (herald_e2e::Herald, herald_e2e::TestApp, Value) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    messenger::activities("tok-old")
        .respond_with(ResponseTemplate::new(401))
        .mount(wl)
        .await;
    Mock::given(method("POST"))
        .and(path("/RefreshToken.aspx"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("wrap_error_reason=refresh_token_expired"),
        )
        .mount(wl)
        .await;
    let (h, app) = messenger_site(wl).await;
    connect_messenger(&app, "ana", "tok-old").await;
    let done = publish_link(&app).await;
    (h, app, done)
}

/// Publishes `link_action()` for ana (accepted: 202) and returns the action's
/// final view.
pub async fn publish_link(app: &herald_e2e::TestApp) -> Value {
    let a = app
        .post(
            "/v1/actions",
            &json!({"uid": "ana", "action": link_action()}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    app.wait_final(
        a.body["id"].as_str().unwrap(),
        std::time::Duration::from_secs(30),
    )
    .await
}

pub fn outcomes(delivery: &Value) -> Vec<String> {
    delivery["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}
