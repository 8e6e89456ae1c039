//! Shared test helpers: an `HttpCtx` aimed at a local server the way Herald
//! builds it for Facebook (api_base = consent_base = the server, the trusted
//! client, the app's id and secret in the settings).

#![allow(dead_code)]

use herald_core::provider::http_clients;
use herald_core::{
    ActionId, ActionMeta, Credential, HttpCtx, OutboundPolicy, ProviderSettings, RenderedAction,
    Secret,
};
use std::collections::BTreeMap;
use std::time::Duration;

pub const APP_ID: &str = "app-1";
pub const APP_SECRET: &str = "appsecret-1";
pub const PAGE_ID: &str = "1234567890";

pub fn ctx_with(base: &str, timeout: Duration) -> HttpCtx {
    herald_core::tls::init();
    let (trusted, guarded) = http_clients(&OutboundPolicy::default(), timeout).unwrap();
    let base = url::Url::parse(base).unwrap();
    HttpCtx {
        client: trusted,
        guarded,
        policy: OutboundPolicy::default(),
        api_base: base.clone(),
        consent_base: Some(base),
        settings: ProviderSettings {
            client_id: Some(APP_ID.into()),
            client_secret: Some(Secret::new(APP_SECRET)),
            ..ProviderSettings::default()
        },
    }
}

pub fn ctx(base: &str) -> HttpCtx {
    ctx_with(base, Duration::from_secs(5))
}

/// A Page connection.
pub fn cred(token: &str) -> Credential {
    Credential {
        access_token: Some(Secret::new(token)),
        provider_uid: PAGE_ID.into(),
        display_name: Some("Zoë's Café".into()),
        ..Credential::default()
    }
}

pub fn action(v: serde_json::Value) -> RenderedAction {
    RenderedAction {
        action: serde_json::from_value(v).unwrap(),
        meta: ActionMeta {
            action_id: ActionId::new(),
            uid: "user-1".into(),
            delivery_id: None,
            app_name: "Site".into(),
            site_url: None,
        },
        options: BTreeMap::new(),
    }
}

/// A request's query as ordered pairs.
pub fn query(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A Graph error body.
pub fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> serde_json::Value {
    let mut e = serde_json::json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A1b2C3d4"
    });
    if let Some(s) = subcode {
        e["error_subcode"] = s.into();
    }
    serde_json::json!({ "error": e })
}
