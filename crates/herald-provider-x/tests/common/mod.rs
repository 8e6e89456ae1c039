//! Shared test helpers: an `HttpCtx` aimed at a local server the way Herald
//! builds it for X (the operator-configured API base, the trusted client),
//! and form-body helpers.

#![allow(dead_code)]

use herald_core::provider::http_clients;
use herald_core::{
    ActionId, ActionMeta, Credential, HttpCtx, OutboundPolicy, ProviderSettings, RenderedAction,
    Secret,
};
use std::collections::BTreeMap;
use std::time::Duration;

pub const CLIENT_ID: &str = "rG9n6402A3dbUJKzXTNX4oWHJ";
pub const CLIENT_SECRET: &str = "csecret-1";

pub fn ctx_with(base: &str, timeout: Duration) -> HttpCtx {
    herald_core::tls::init();
    let (client, guarded) = http_clients(&OutboundPolicy::default(), timeout).unwrap();
    let base = url::Url::parse(base).unwrap();
    HttpCtx {
        client,
        guarded,
        policy: OutboundPolicy::default(),
        api_base: base,
        consent_base: Some(url::Url::parse("https://x.com/").unwrap()),
        settings: ProviderSettings {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            ..ProviderSettings::default()
        },
    }
}

pub fn ctx(base: &str) -> HttpCtx {
    ctx_with(base, Duration::from_secs(5))
}

pub fn cred(token: &str) -> Credential {
    Credential {
        access_token: Some(Secret::new(token)),
        provider_uid: "2244994945".into(),
        display_name: Some("@TwitterDev".into()),
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

/// A form body as ordered pairs.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
