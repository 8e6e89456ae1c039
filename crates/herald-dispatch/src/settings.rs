//! Effective provider settings for one app: the app's stored provider config
//! over the operator's `[providers.<id>]` over the provider's built-in defaults.
//!
//! A base an app sets (`api_base` / `consent_base`) is not the operator's: it
//! is an outbound target like a webhook URL. Such an app never inherits the
//! operator's client credentials (they go only to operator-configured bases),
//! and its calls use the SSRF-guarded client under the outbound policy.

use crate::config::ProviderEntry;
use herald_core::outbound::OutboundError;
use herald_core::{FlowKind, HttpCtx, OutboundPolicy, Provider, ProviderSettings};
use herald_store::repo::provider_configs::AppProviderConfig;
use url::Url;

fn option_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether an app's settings name their own API or consent base.
pub fn overrides_base(app: &ProviderSettings) -> bool {
    app.api_base.is_some() || app.consent_base.is_some()
}

/// Whether the provider's flows authenticate Herald with one client id and
/// secret per deployment or app (X, LinkedIn, Facebook, Windows Live). Not
/// so for webhooks (no flow), Bluesky (the user's app password) and Mastodon
/// (a client registered per server).
pub fn uses_client_credentials(provider: &dyn Provider) -> bool {
    provider
        .oauth()
        .is_some_and(|o| !o.per_instance && o.flow != FlowKind::AppPassword)
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
        s.client_secret = op.client_secret.clone();
        s.options = op
            .options
            .iter()
            .map(|(k, v)| (k.clone(), option_string(v)))
            .collect();
    }
    if let Some(app) = app {
        let a = &app.settings;
        if overrides_base(a) {
            // The operator's credentials must not follow the app's base (also
            // for rows stored before the admin API required the app's own).
            s.client_id = None;
            s.client_secret = None;
        }
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

/// The operator's (or built-in) API base: the one address of a provider that
/// is trusted without the outbound policy.
pub(crate) fn operator_api_base(provider: &dyn Provider, operator: Option<&ProviderEntry>) -> Url {
    operator
        .and_then(|o| o.api_base.clone())
        .unwrap_or_else(|| provider.defaults().api_base)
}

/// The context for `settings`; `app_bases` when the app set a base, which
/// makes every call go through the guarded client.
pub(crate) fn http_ctx(
    settings: ProviderSettings,
    app_bases: bool,
    client: &reqwest::Client,
    guarded: &reqwest::Client,
    policy: &OutboundPolicy,
) -> HttpCtx {
    HttpCtx {
        client: if app_bases {
            guarded.clone()
        } else {
            client.clone()
        },
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

/// Checks an address the app or a user named against the outbound policy.
/// The guarded client's resolver checks names at every connection, but an IP
/// literal never reaches a resolver, so this runs before every use. A name
/// that does not resolve now is left to that resolver (the call then fails as
/// a transient error and is retried).
pub(crate) async fn check_address(
    field: &'static str,
    url: &Url,
    policy: &OutboundPolicy,
) -> Result<(), SettingsError> {
    match policy.check_url(url).await {
        Ok(()) | Err(OutboundError::Unresolved(_)) => Ok(()),
        Err(error) => Err(SettingsError::Refused { field, error }),
    }
}

/// Checks the bases an app set (see [`check_address`]).
pub(crate) async fn check_app_bases(
    app: &ProviderSettings,
    policy: &OutboundPolicy,
) -> Result<(), SettingsError> {
    for (field, base) in [
        ("api_base", &app.api_base),
        ("consent_base", &app.consent_base),
    ] {
        if let Some(url) = base {
            check_address(field, url, policy).await?;
        }
    }
    Ok(())
}

/// Why no HTTP context could be made for a provider call.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Store(#[from] herald_store::StoreError),
    /// An address the app or a user named is refused by the outbound policy.
    #[error("{field}: {error}")]
    Refused {
        /// `api_base`, `consent_base` or `url` (the account's server).
        field: &'static str,
        error: OutboundError,
    },
}

impl SettingsError {
    /// What a provider call that could not start reports: a refused address
    /// is `Rejected forbidden_address` (nothing was sent).
    pub fn provider_error(&self) -> herald_core::ProviderError {
        match self {
            SettingsError::Store(e) => herald_core::ProviderError::Transient {
                status: None,
                message: format!("reading the provider settings failed: {e}"),
            },
            SettingsError::Refused { .. } => herald_core::ProviderError::Rejected {
                status: None,
                code: "forbidden_address".into(),
                message: self.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::Secret;
    use herald_providers::ProviderRegistry;

    fn operator() -> ProviderEntry {
        ProviderEntry {
            api_base: Some("https://api.x.com/".parse().unwrap()),
            consent_base: Some("https://x.com/".parse().unwrap()),
            client_id: Some("operator-client".into()),
            client_secret: Some("operator-secret".into()),
            options: Default::default(),
        }
    }

    fn app(settings: ProviderSettings) -> AppProviderConfig {
        AppProviderConfig {
            enabled: true,
            settings,
        }
    }

    fn x() -> std::sync::Arc<dyn Provider> {
        ProviderRegistry::builtin().get("x").unwrap().clone()
    }

    #[test]
    fn an_app_base_does_not_inherit_the_operators_credentials() {
        for own in [
            ProviderSettings {
                api_base: Some("http://127.0.0.1:9/".parse().unwrap()),
                ..Default::default()
            },
            ProviderSettings {
                consent_base: Some("http://127.0.0.1:9/".parse().unwrap()),
                ..Default::default()
            },
        ] {
            let s = merge(x().as_ref(), Some(&operator()), Some(&app(own)));
            assert_eq!(s.client_id, None);
            assert!(s.client_secret.is_none());
        }
    }

    #[test]
    fn an_app_base_keeps_the_apps_own_credentials() {
        let own = ProviderSettings {
            api_base: Some("https://x.example/".parse().unwrap()),
            client_id: Some("app-client".into()),
            client_secret: Some(Secret::from("app-secret".to_owned())),
            ..Default::default()
        };
        let s = merge(x().as_ref(), Some(&operator()), Some(&app(own)));
        assert_eq!(s.client_id.as_deref(), Some("app-client"));
        assert_eq!(s.client_secret.unwrap().expose(), "app-secret");
        assert_eq!(s.consent_base.unwrap().as_str(), "https://x.com/");
    }

    #[test]
    fn without_an_app_base_the_operators_credentials_apply() {
        let own = ProviderSettings {
            client_id: Some("app-client".into()),
            ..Default::default()
        };
        let s = merge(x().as_ref(), Some(&operator()), Some(&app(own)));
        assert_eq!(s.client_id.as_deref(), Some("app-client"));
        assert_eq!(s.client_secret.unwrap().expose(), "operator-secret");
        let s = merge(x().as_ref(), Some(&operator()), None);
        assert_eq!(s.client_id.as_deref(), Some("operator-client"));
    }

    #[test]
    fn client_credentials_are_needed_by_the_oauth_providers_only() {
        let r = ProviderRegistry::builtin();
        for (id, uses) in [
            ("x", true),
            ("messenger", true),
            ("linkedin", true),
            ("facebook", true),
            ("mastodon", false),
            ("bluesky", false),
            ("webhook", false),
        ] {
            let p = r.get(id).unwrap();
            assert_eq!(uses_client_credentials(p.as_ref()), uses, "{id}");
        }
    }

    #[tokio::test]
    async fn app_bases_are_checked_against_the_policy() {
        let own = ProviderSettings {
            consent_base: Some("http://127.0.0.1:9/".parse().unwrap()),
            ..Default::default()
        };
        let e = check_app_bases(&own, &OutboundPolicy::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                SettingsError::Refused {
                    field: "consent_base",
                    ..
                }
            ),
            "{e}"
        );
        let allowed = OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        check_app_bases(&own, &allowed).await.unwrap();
    }
}
