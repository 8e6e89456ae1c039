//! Rolling upgrades: an action stored by a newer node (fields this version
//! does not know, at the top level and inside the action) is still delivered,
//! and so is a payload stored by the version before the payload was
//! versioned. On SQLite and PostgreSQL, against a Windows Live mock.

use herald_core::{DeliveryId, OutboundPolicy, Secret};
use herald_dispatch::{DispatchConfig, Dispatcher, ProviderEntry, ProvidersConfig};
use herald_providers::ProviderRegistry;
use herald_store::{
    ConnectionUpsert, CreateAction, CreateOutcome, NewApp, NewDelivery, Store, on_both_databases,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_databases!(
    an_action_with_fields_from_a_newer_node_is_delivered,
    an_action_stored_before_versioning_is_delivered,
);

fn dispatcher(store: &Store, mock: &MockServer) -> Dispatcher {
    let mut providers = ProvidersConfig::new();
    let base: url::Url = mock.uri().parse().unwrap();
    providers.insert(
        "messenger".into(),
        ProviderEntry {
            api_base: Some(base.clone()),
            consent_base: Some(base),
            client_id: Some("client-1".into()),
            client_secret: Some("client-secret-1".into()),
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

/// Stores `payload` as it is (as another node would have) for one Windows
/// Live delivery, runs it, and returns the delivery's final state and error
/// code (the mock checks, when dropped, that the post was sent once).
async fn deliver_raw(store: &Store, payload: Value) -> (String, MockServer) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .and(body_partial_json(
            json!({"CustomActivityVerb": "shared a recipe"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-1"})))
        .expect(1)
        .mount(&mock)
        .await;
    let app = store
        .create_app(NewApp {
            name: "site".into(),
            site_url: Some("https://site.example/".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .app
        .app_id();
    let conn = store
        .upsert_connection(ConnectionUpsert {
            app_id: app.clone(),
            uid: "ana".into(),
            provider: "messenger".into(),
            provider_uid: "cid-42".into(),
            display_name: None,
            url: None,
            access_token: Some(Secret::new("tok-1")),
            refresh_token: None,
            secret: None,
            expires_at_ms: None,
        })
        .await
        .unwrap();
    let CreateOutcome::Created(record) = store
        .create_action(CreateAction {
            app_id: app,
            uid: "ana".into(),
            idempotency_key: None,
            request_hash: "h".into(),
            payload,
            deliveries: vec![NewDelivery {
                connection_id: conn.id.clone(),
                provider: "messenger".into(),
                account: "cid-42".into(),
            }],
        })
        .await
        .unwrap()
    else {
        panic!("a new action");
    };
    let id = DeliveryId::from_stored(record.deliveries[0].id.clone());
    let d = dispatcher(store, &mock);
    d.hand_off(vec![id.clone()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = store.delivery(&id).await.unwrap().unwrap();
        if !matches!(row.state.as_str(), "queued" | "sending") {
            return (
                format!("{} {}", row.state, row.error_code.unwrap_or_default()),
                mock,
            );
        }
        assert!(Instant::now() < deadline, "delivery still {}", row.state);
        d.progress(Duration::from_millis(200)).await;
    }
}

fn action() -> Value {
    json!({
        "title": "Crème brûlée recipe",
        "link_back": "https://news.example/a",
        "action_name": "shared a recipe",
        "media_items": [{"type": "image", "src": "https://news.example/t.jpg"}]
    })
}

async fn an_action_with_fields_from_a_newer_node_is_delivered(store: Store) {
    let mut action = action();
    action["field_from_a_newer_node"] = json!({"any": "shape"});
    action["media_items"][0]["alt_text"] = json!("a newer media field");
    let payload = json!({
        "v": 1,
        "action": action,
        "per_provider": {"messenger": {"options": {}, "newer_choice": true}},
        "added_by_a_newer_node": [1, 2, 3],
    });
    let (state, _mock) = deliver_raw(&store, payload).await;
    assert_eq!(state.trim(), "published");
}

async fn an_action_stored_before_versioning_is_delivered(store: Store) {
    let payload = json!({"action": action()});
    let (state, _mock) = deliver_raw(&store, payload).await;
    assert_eq!(state.trim(), "published");
}
