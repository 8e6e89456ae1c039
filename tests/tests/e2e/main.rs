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

pub fn outcomes(delivery: &Value) -> Vec<String> {
    delivery["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}
