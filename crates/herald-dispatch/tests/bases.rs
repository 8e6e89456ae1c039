//! Addresses an app or a user named, on SQLite and PostgreSQL: an app's own
//! provider base never receives the operator's client credentials (also for
//! rows stored before the admin API required the app's own), a Bluesky PDS
//! stored for a connection is checked against the outbound policy on every
//! call, and a disabled app's deliveries are failed without a network call.

use herald_core::{ConnectionId, OutboundPolicy, Provider, ProviderError, Secret};
use herald_dispatch::{DispatchConfig, Dispatcher, RefreshReason};
use herald_store::repo::provider_configs::ProviderConfigInput;
use herald_store::{
    AppPatch, ConnectionUpsert, CreateAction, CreateOutcome, DeliveryState, NewDelivery, Store,
    now_ms, on_both_databases,
};
use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

on_both_databases!(
    a_stored_app_base_gets_no_operator_credentials,
    a_stored_bluesky_pds_on_a_private_address_is_never_called,
    a_disabled_apps_delivery_fails_unsent_and_publishes_after_a_redrive,
    an_instance_without_a_registration_gets_no_operator_client,
);

const OPERATOR_SECRET: &str = "operator-secret-1";

fn dispatcher(store: &Store, operator: &MockServer, policy: OutboundPolicy) -> Dispatcher {
    let cfg = DispatchConfig {
        refresh_jitter: 0.0,
        poll_interval_ms: 20,
        ..Default::default()
    };
    let entry = common::operator_entry(operator, "operator-client", Some(OPERATOR_SECRET));
    common::dispatcher_with(store, cfg, common::providers("messenger", entry), policy)
}

async fn app(store: &Store) -> herald_core::AppId {
    common::new_app(store, Some("https://site.example/")).await
}

async fn connection(
    store: &Store,
    app: &herald_core::AppId,
    provider: &str,
    url: Option<String>,
    expires_at_ms: Option<i64>,
) -> ConnectionId {
    let provider_uid = if provider == "bluesky" {
        "did:plc:abc"
    } else {
        "cid-42"
    };
    store
        .upsert_connection(ConnectionUpsert {
            url,
            refresh_token: Some(Secret::new("ref-1")),
            expires_at_ms,
            ..common::account(app, "ana", provider, provider_uid, "tok-1")
        })
        .await
        .unwrap()
        .connection_id()
}

fn provider(d: &Dispatcher, id: &str) -> std::sync::Arc<dyn Provider> {
    d.registry().get(id).unwrap().clone()
}

/// Refreshes the connection as a publish that found `tok-1` expired would.
async fn refresh(
    d: &Dispatcher,
    id: &ConnectionId,
    p: &dyn Provider,
) -> Result<herald_core::Credential, ProviderError> {
    d.refresh_connection(
        id,
        p,
        None,
        RefreshReason::Expired(Some(Secret::new("tok-1"))),
    )
    .await
}

/// Every request the mock received, as text (headers and body).
async fn seen(mock: &MockServer) -> Vec<String> {
    mock.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body)))
        .collect()
}

/// The original attack, as a row stored before the admin API refused it: an
/// app's own base (here allowed by the policy, so the policy is not what
/// stops it) and no client credentials of its own.
async fn a_stored_app_base_gets_no_operator_credentials(store: Store) {
    let operator = MockServer::start().await;
    let attacker = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&attacker)
        .await;
    let app = app(&store).await;
    store
        .put_provider_config(
            &app,
            "messenger",
            ProviderConfigInput {
                enabled: true,
                client_id: None,
                client_secret: None,
                api_base: Some(attacker.uri()),
                consent_base: Some(attacker.uri()),
                options: Default::default(),
            },
        )
        .await
        .unwrap();
    let id = connection(&store, &app, "messenger", None, Some(now_ms() - 1000)).await;
    let d = dispatcher(
        &store,
        &operator,
        OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]),
    );
    let p = provider(&d, "messenger");
    let r = refresh(&d, &id, p.as_ref()).await;
    assert!(r.is_err(), "{r:?}");
    for request in seen(&attacker).await {
        assert!(!request.contains(OPERATOR_SECRET), "{request}");
        assert!(!request.contains("operator-client"), "{request}");
    }
    assert!(seen(&operator).await.is_empty());
}

/// A connection's stored PDS (from an earlier policy, or written before the
/// policy was checked) points at a loopback listener the policy does not
/// allow: refresh, revoke's context and publishing send it nothing.
async fn a_stored_bluesky_pds_on_a_private_address_is_never_called(store: Store) {
    let operator = MockServer::start().await;
    let pds = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&pds)
        .await;
    let app = app(&store).await;
    let id = connection(
        &store,
        &app,
        "bluesky",
        Some(format!("{}/", pds.uri())),
        Some(now_ms() - 1000),
    )
    .await;
    let d = dispatcher(&store, &operator, OutboundPolicy::new(vec![]));
    let p = provider(&d, "bluesky");
    let r = refresh(&d, &id, p.as_ref()).await;
    match r {
        Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, "forbidden_address"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let conn = store.connection(&id).await.unwrap().unwrap();
    let e = d
        .http_ctx_for_connection(p.as_ref(), &conn)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            herald_dispatch::SettingsError::Refused { field: "url", .. }
        ),
        "{e}"
    );
    let delivery = queue(&store, &app, &id, "bluesky").await;
    d.start();
    let row = settled(&store, &delivery).await;
    assert_eq!(row.state(), DeliveryState::Failed);
    assert_eq!(row.error_code.as_deref(), Some("forbidden_address"));
    assert!(seen(&pds).await.is_empty(), "the PDS was called");
}

async fn a_disabled_apps_delivery_fails_unsent_and_publishes_after_a_redrive(store: Store) {
    let operator = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-42/MyActivities"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "activity-1"})))
        .expect(1)
        .mount(&operator)
        .await;
    let app = app(&store).await;
    let id = connection(&store, &app, "messenger", None, None).await;
    store
        .update_app(
            &app,
            AppPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Queued while enabled (or by another node), worked on after disabling.
    let delivery = queue(&store, &app, &id, "messenger").await;
    let d = dispatcher(&store, &operator, OutboundPolicy::new(vec![]));
    d.start();
    let row = settled(&store, &delivery).await;
    assert_eq!(row.state(), DeliveryState::Failed);
    assert_eq!(row.error_code.as_deref(), Some("app_disabled"));
    assert!(seen(&operator).await.is_empty(), "a disabled app sent");

    store
        .update_app(
            &app,
            AppPatch {
                disabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let redriven = store
        .redrive(
            app.as_str(),
            &herald_core::DeliveryId::from_stored(delivery.clone()),
        )
        .await
        .unwrap();
    assert_eq!(redriven, Some(true));
    let row = settled(&store, &delivery).await;
    assert_eq!(
        row.state(),
        DeliveryState::Published,
        "{:?}",
        row.error_message
    );
    operator.verify().await;
}

/// One queued delivery of a link action to `conn`.
async fn queue(
    store: &Store,
    app: &herald_core::AppId,
    conn: &ConnectionId,
    provider: &str,
) -> String {
    let created = store
        .create_action(CreateAction {
            app_id: app.clone(),
            uid: "ana".into(),
            idempotency_key: None,
            request_hash: "h".into(),
            payload: json!({"action": {
                "user_message": "Read this",
                "link_back": "https://news.example/a",
                "title": "A story",
                "action_name": "shared a story"
            }}),
            deliveries: vec![NewDelivery {
                connection_id: conn.to_string(),
                provider: provider.into(),
                account: "ana".into(),
            }],
        })
        .await
        .unwrap();
    let CreateOutcome::Created(record) = created else {
        panic!("the action was not created");
    };
    record.deliveries[0].id.clone()
}

/// Waits until the delivery is published or failed.
async fn settled(store: &Store, id: &str) -> herald_store::entities::deliveries::Model {
    let id = herald_core::DeliveryId::from_stored(id.to_owned());
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let row = store.delivery(&id).await.unwrap().unwrap();
        if matches!(
            row.state(),
            DeliveryState::Published | DeliveryState::Failed
        ) {
            return row;
        }
        assert!(Instant::now() < until, "still {:?}", row.state());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Mastodon connection's calls go to the instance the user named; an
/// operator's `[providers.mastodon]` client is for the operator's own server
/// only, so an instance Herald has no registration at gets no client secret.
async fn an_instance_without_a_registration_gets_no_operator_client(store: Store) {
    let operator = MockServer::start().await;
    let d = common::dispatcher_with(
        &store,
        DispatchConfig::default(),
        common::providers(
            "mastodon",
            common::operator_entry(&operator, "operator-client", Some(OPERATOR_SECRET)),
        ),
        OutboundPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]),
    );
    let app = common::new_app(&store, None).await;
    let conn = store
        .upsert_connection(herald_store::ConnectionUpsert {
            url: Some("http://127.0.0.1:9/".into()),
            ..common::account(&app, "ana", "mastodon", "1", "tok")
        })
        .await
        .unwrap();
    let p = d.registry().get("mastodon").unwrap().clone();
    let http = d.http_ctx_for_connection(p.as_ref(), &conn).await.unwrap();
    assert_eq!(http.api_base.as_str(), "http://127.0.0.1:9/");
    assert!(
        http.settings.client_secret.is_none(),
        "the operator's secret stays home"
    );
    assert!(http.settings.client_id.is_none());
}
