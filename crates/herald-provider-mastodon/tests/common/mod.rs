//! Shared test helpers: an `HttpCtx` aimed at a local server the way Herald
//! builds it for a Mastodon instance (api_base = consent_base = instance,
//! the guarded client as `client`, 127.0.0.1 allowed by the policy).

#![allow(dead_code)]

use herald_core::provider::http_clients;
use herald_core::{
    ActionId, ActionMeta, Credential, HttpCtx, OutboundPolicy, ProviderSettings, RenderedAction,
    Secret,
};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn ctx_with(base: &str, policy: OutboundPolicy, timeout: Duration) -> HttpCtx {
    herald_core::tls::init();
    let (_trusted, guarded) = http_clients(&policy, timeout).unwrap();
    let base = url::Url::parse(base).unwrap();
    HttpCtx {
        client: guarded.clone(),
        guarded,
        policy,
        api_base: base.clone(),
        consent_base: Some(base),
        settings: ProviderSettings {
            client_id: Some("cid-1".into()),
            client_secret: Some(Secret::new("csecret-1")),
            ..ProviderSettings::default()
        },
    }
}

pub fn local_policy() -> OutboundPolicy {
    OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()])
}

pub fn ctx(base: &str) -> HttpCtx {
    ctx_with(base, local_policy(), Duration::from_secs(5))
}

pub fn cred(token: &str) -> Credential {
    Credential {
        access_token: Some(Secret::new(token)),
        provider_uid: "109".into(),
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
