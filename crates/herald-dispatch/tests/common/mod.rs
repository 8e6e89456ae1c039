//! Shared test helpers: a `Dispatcher` on a test store with the given
//! operator providers, an operator `[providers.<id>]` entry aimed at a mock
//! server, a new app, and a connection to store.

#![allow(dead_code)]

use herald_core::{AppId, OutboundPolicy, Secret};
use herald_dispatch::{DispatchConfig, Dispatcher, ProviderEntry, ProvidersConfig};
use herald_providers::ProviderRegistry;
use herald_store::{ConnectionUpsert, NewApp, Store};
use wiremock::MockServer;

/// A dispatcher over the builtin providers with the given configuration,
/// operator providers and outbound policy.
pub fn dispatcher_with(
    store: &Store,
    cfg: DispatchConfig,
    providers: ProvidersConfig,
    policy: OutboundPolicy,
) -> Dispatcher {
    Dispatcher::new(
        store.clone(),
        ProviderRegistry::builtin(),
        cfg,
        providers,
        policy,
    )
    .unwrap()
}

/// A dispatcher with the default configuration and an outbound policy that
/// allows no private address.
pub fn dispatcher(store: &Store, providers: ProvidersConfig) -> Dispatcher {
    dispatcher_with(
        store,
        DispatchConfig::default(),
        providers,
        OutboundPolicy::new(vec![]),
    )
}

/// The operator's `[providers.<id>]` entry: API and consent base at `mock`,
/// with the given client credentials.
pub fn operator_entry(
    mock: &MockServer,
    client_id: &str,
    client_secret: Option<&str>,
) -> ProviderEntry {
    let base: url::Url = mock.uri().parse().unwrap();
    ProviderEntry {
        api_base: Some(base.clone()),
        consent_base: Some(base),
        client_id: Some(client_id.into()),
        client_secret: client_secret.map(Secret::new),
        options: Default::default(),
    }
}

/// Operator providers holding one entry.
pub fn providers(id: &str, entry: ProviderEntry) -> ProvidersConfig {
    ProvidersConfig::from([(id.to_owned(), entry)])
}

/// A new app named "site", with `site_url` if given.
pub async fn new_app(store: &Store, site_url: Option<&str>) -> AppId {
    store
        .create_app(NewApp {
            name: "site".into(),
            site_url: site_url.map(Into::into),
            ..Default::default()
        })
        .await
        .unwrap()
        .app
        .app_id()
}

/// A connection of `uid` to `provider` as `provider_uid` holding only an
/// access token (no refresh token, secret, URL or expiry): callers change
/// the rest with `..`.
pub fn account(
    app: &AppId,
    uid: &str,
    provider: &str,
    provider_uid: &str,
    access_token: &str,
) -> ConnectionUpsert {
    ConnectionUpsert {
        app_id: app.clone(),
        uid: uid.into(),
        provider: provider.into(),
        provider_uid: provider_uid.into(),
        display_name: None,
        url: None,
        access_token: Some(Secret::new(access_token)),
        refresh_token: None,
        secret: None,
        expires_at_ms: None,
    }
}
