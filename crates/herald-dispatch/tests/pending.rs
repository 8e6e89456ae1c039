//! The sweep of unredeemed pending connections, on SQLite and PostgreSQL,
//! against an X revocation endpoint (wiremock) that counts the calls.

use herald_core::{OutboundPolicy, Secret};
use herald_dispatch::{DispatchConfig, Dispatcher, ProviderEntry, ProvidersConfig};
use herald_providers::ProviderRegistry;
use herald_store::{ConnectionUpsert, NewApp, Store, now_ms, on_both_databases};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(unredeemed_connections_are_revoked_and_deleted);

const MINUTE: i64 = 60_000;

fn dispatcher(store: &Store, mock: &MockServer) -> Dispatcher {
    let mut providers = ProvidersConfig::new();
    let base: url::Url = mock.uri().parse().unwrap();
    providers.insert(
        "x".into(),
        ProviderEntry {
            api_base: Some(base.clone()),
            consent_base: Some(base),
            client_id: Some("x-client".into()),
            client_secret: None,
            options: Default::default(),
        },
    );
    Dispatcher::new(
        store.clone(),
        ProviderRegistry::builtin(),
        DispatchConfig::default(),
        providers,
        OutboundPolicy::new(vec![]),
    )
    .unwrap()
}

fn account(app: &herald_core::AppId, provider_uid: &str, token: &str) -> ConnectionUpsert {
    ConnectionUpsert {
        app_id: app.clone(),
        uid: "ana".into(),
        provider: "x".into(),
        provider_uid: provider_uid.into(),
        display_name: None,
        url: None,
        access_token: Some(Secret::new(token)),
        refresh_token: None,
        secret: None,
        expires_at_ms: None,
    }
}

async fn unredeemed_connections_are_revoked_and_deleted(store: Store) {
    let x = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .and(body_string_contains("token=never-redeemed"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"revoked": true})),
        )
        .expect(1)
        .mount(&x)
        .await;
    let d = dispatcher(&store, &x);
    let app = store
        .create_app(NewApp {
            name: "site".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .app
        .app_id();
    let now = now_ms();
    // Code issued 2 h ago (expired 1 h 50 min ago), and one issued now.
    let old = store
        .create_pending_connections(
            vec![account(&app, "victim", "never-redeemed")],
            now - 120 * MINUTE,
            10 * MINUTE,
        )
        .await
        .unwrap();
    let fresh = store
        .create_pending_connections(vec![account(&app, "ana-x", "fresh")], now, 10 * MINUTE)
        .await
        .unwrap();

    // Within the hour after expiry, nothing is swept.
    let removed = herald_dispatch::sweep_unredeemed(&store, &d, now, Duration::from_secs(7200))
        .await
        .unwrap();
    assert_eq!(removed, 0);
    assert_eq!(x.received_requests().await.unwrap().len(), 0);

    let removed = herald_dispatch::sweep_unredeemed(&store, &d, now, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    x.verify().await;
    // Gone: its code no longer redeems; the fresh one still does.
    assert!(matches!(
        store
            .redeem_pending_connections(&app, "ana", &old, now - 115 * MINUTE, 20)
            .await
            .unwrap(),
        herald_store::Redeemed::NotFound
    ));
    assert!(matches!(
        store
            .redeem_pending_connections(&app, "ana", &fresh, now, 20)
            .await
            .unwrap(),
        herald_store::Redeemed::Connected(_)
    ));
    assert_eq!(
        herald_dispatch::sweep_unredeemed(&store, &d, now, Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
}
