//! Effective provider settings for one app: the app's stored provider config
//! over the operator's `[providers.<id>]` over the provider's built-in defaults.

use crate::config::ProviderEntry;
use herald_core::{HttpCtx, OutboundPolicy, Provider, ProviderSettings, Secret};
use herald_store::repo::provider_configs::AppProviderConfig;

fn option_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn merge(
    provider: &dyn Provider,
    operator: Option<&ProviderEntry>,
    app: Option<&AppProviderConfig>,
) -> ProviderSettings {
    let mut s = ProviderSettings::default();
    if let Some(op) = operator {
        s.api_base = op.api_base.clone();
        s.consent_base = op.consent_base.clone();
        s.client_id = op.client_id.clone();
        s.client_secret = op.client_secret.clone().map(Secret::from);
        s.options = op
            .options
            .iter()
            .map(|(k, v)| (k.clone(), option_string(v)))
            .collect();
    }
    if let Some(app) = app {
        let a = &app.settings;
        s.api_base = a.api_base.clone().or(s.api_base);
        s.consent_base = a.consent_base.clone().or(s.consent_base);
        s.client_id = a.client_id.clone().or(s.client_id);
        s.client_secret = a.client_secret.clone().or(s.client_secret);
        s.options.extend(a.options.clone());
    }
    let defaults = provider.defaults();
    s.api_base.get_or_insert(defaults.api_base);
    if s.consent_base.is_none() {
        s.consent_base = defaults.consent_base;
    }
    s
}

pub(crate) fn http_ctx(
    settings: ProviderSettings,
    client: &reqwest::Client,
    guarded: &reqwest::Client,
    policy: &OutboundPolicy,
) -> HttpCtx {
    HttpCtx {
        client: client.clone(),
        guarded: guarded.clone(),
        policy: policy.clone(),
        api_base: settings
            .api_base
            .clone()
            .expect("merge always sets api_base"),
        consent_base: settings.consent_base.clone(),
        settings,
    }
}
