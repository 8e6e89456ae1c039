//! Token refresh through the dispatcher, on SQLite and PostgreSQL, against a
//! Windows Live WRAP mock (RefreshToken.aspx) that counts the calls: refreshes
//! collapse to one across nodes, the background refresher takes tokens about
//! to expire, and failures are classified.

use herald_core::{ConnectionId, OutboundPolicy, Provider, ProviderError, Secret};
use herald_dispatch::{DispatchConfig, Dispatcher, ProvidersConfig, RefreshReason};
use herald_store::{ConnectionStatus, ConnectionUpsert, Store, now_ms, on_both_databases};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

on_both_databases!(
    concurrent_refreshes_on_two_nodes_make_one_call,
    the_background_refresher_takes_tokens_about_to_expire,
    a_refused_refresh_needs_the_user,
    a_transient_refresh_failure_backs_off_and_stays_active,
    a_refresh_missing_app_settings_is_not_the_users_fault,
    a_reconnect_during_a_refresh_wins,
);

/// A dispatcher that refreshes without jitter, with the given operator providers.
fn dispatcher_for(store: &Store, providers: ProvidersConfig) -> Dispatcher {
    let cfg = DispatchConfig {
        refresh_jitter: 0.0,
        ..Default::default()
    };
    common::dispatcher_with(store, cfg, providers, OutboundPolicy::new(vec![]))
}

/// A dispatcher whose operator's Windows Live client uses `mock`.
fn dispatcher(store: &Store, mock: &MockServer) -> Dispatcher {
    let entry = common::operator_entry(mock, "client-1", Some("client-secret-1"));
    dispatcher_for(store, common::providers("messenger", entry))
}

/// A Windows Live connection whose access token expires `expires_in_ms` from now.
async fn connection(store: &Store, expires_in_ms: i64) -> ConnectionId {
    let app = common::new_app(store, None).await;
    store
        .upsert_connection(ConnectionUpsert {
            refresh_token: Some(Secret::new("ref-1")),
            expires_at_ms: Some(now_ms() + expires_in_ms),
            ..common::account(&app, "ana", "messenger", "cid-1", "old-access")
        })
        .await
        .unwrap()
        .connection_id()
}

fn refresh_mock(answer: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/RefreshToken.aspx"))
        .and(body_string_contains("wrap_refresh_token=ref-1"))
        .respond_with(answer)
}

fn rotated() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("Content-Type", "application/x-www-form-urlencoded")
        .set_body_string(
            "wrap_access_token=new-access&wrap_access_token_expires_in=3600&wrap_refresh_token=ref-2",
        )
}

fn messenger(d: &Dispatcher) -> Arc<dyn Provider> {
    d.registry().get("messenger").unwrap().clone()
}

async fn concurrent_refreshes_on_two_nodes_make_one_call(store: Store) {
    let mock = MockServer::start().await;
    // Slow enough that every caller arrives while the first refresh runs.
    refresh_mock(rotated().set_delay(Duration::from_millis(500)))
        .expect(1)
        .mount(&mock)
        .await;
    let id = connection(&store, -1000).await;
    let nodes = [dispatcher(&store, &mock), dispatcher(&store, &mock)];
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let d = nodes[i % 2].clone();
            let id = id.clone();
            tokio::spawn(async move {
                let p = messenger(&d);
                d.refresh_connection(
                    &id,
                    p.as_ref(),
                    None,
                    RefreshReason::Expired(Some(Secret::new("old-access"))),
                )
                .await
            })
        })
        .collect();
    for c in calls {
        let cred = c.await.unwrap().expect("every caller gets the new token");
        assert_eq!(cred.access_token.unwrap().expose(), "new-access");
    }
    let row = store.connection(&id).await.unwrap().unwrap();
    let cred = store.credential(&row).unwrap();
    assert_eq!(
        cred.refresh_token.unwrap().expose(),
        "ref-2",
        "the rotated refresh token is stored"
    );
    assert!(row.last_refresh_at.is_some());
    assert!(row.refresh_lease_owner.is_none(), "lease released");
    mock.verify().await;
}

async fn the_background_refresher_takes_tokens_about_to_expire(store: Store) {
    let mock = MockServer::start().await;
    refresh_mock(rotated()).expect(1).mount(&mock).await;
    let soon = connection(&store, 5 * 60_000).await;
    let later = connection(&store, 2 * 3_600_000).await;
    let d = dispatcher(&store, &mock);
    assert_eq!(
        d.refresh_due().await.unwrap().attempted,
        1,
        "only the one within 10 min"
    );
    let row = store.connection(&soon).await.unwrap().unwrap();
    assert_eq!(
        store
            .credential(&row)
            .unwrap()
            .access_token
            .unwrap()
            .expose(),
        "new-access"
    );
    let expires = row.expires_at.unwrap();
    assert!(expires > now_ms() + 3_500_000, "new expiry stored");
    // Nothing is due any more; the later token is untouched.
    assert_eq!(d.refresh_due().await.unwrap().attempted, 0);
    let row = store.connection(&later).await.unwrap().unwrap();
    assert!(row.last_refresh_at.is_none());
    mock.verify().await;
}

async fn a_refused_refresh_needs_the_user(store: Store) {
    let mock = MockServer::start().await;
    refresh_mock(
        ResponseTemplate::new(401).set_body_string("wrap_error_reason=InvalidRefreshToken"),
    )
    .expect(1)
    .mount(&mock)
    .await;
    let id = connection(&store, 60_000).await;
    let d = dispatcher(&store, &mock);
    d.refresh_due().await.unwrap();
    let row = store.connection(&id).await.unwrap().unwrap();
    assert_eq!(row.status(), ConnectionStatus::NeedsReauth);
    assert!(
        row.last_error.as_deref().unwrap().contains("refused"),
        "{:?}",
        row.last_error
    );
    // Later callers fail fast, without another call to the network.
    let p = messenger(&d);
    let err = d
        .refresh_connection(
            &id,
            p.as_ref(),
            None,
            RefreshReason::Expired(Some(Secret::new("old-access"))),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::AuthRevoked { .. }), "{err:?}");
    assert_eq!(d.refresh_due().await.unwrap().attempted, 0);
    mock.verify().await;
}

async fn a_transient_refresh_failure_backs_off_and_stays_active(store: Store) {
    let mock = MockServer::start().await;
    refresh_mock(ResponseTemplate::new(503))
        .expect(1)
        .mount(&mock)
        .await;
    let id = connection(&store, 60_000).await;
    let d = dispatcher(&store, &mock);
    d.refresh_due().await.unwrap();
    let row = store.connection(&id).await.unwrap().unwrap();
    assert_eq!(row.status(), ConnectionStatus::Active);
    assert_eq!(row.refresh_failures, 1);
    assert!(
        row.refresh_retry_at.unwrap() >= now_ms() + 4_000,
        "backs off at least 5 s"
    );
    assert!(row.last_error.is_some());
    // Backing off: the next scan leaves it alone.
    assert_eq!(d.refresh_due().await.unwrap().attempted, 0);
    mock.verify().await;
}

async fn a_refresh_missing_app_settings_is_not_the_users_fault(store: Store) {
    let mock = MockServer::start().await;
    refresh_mock(rotated()).expect(0).mount(&mock).await;
    let id = connection(&store, 60_000).await;
    // No client id/secret configured: Herald cannot refresh, the user did
    // nothing wrong.
    let d = dispatcher_for(&store, ProvidersConfig::new());
    d.refresh_due().await.unwrap();
    let row = store.connection(&id).await.unwrap().unwrap();
    assert_eq!(row.status(), ConnectionStatus::Active);
    assert!(row.last_error.is_some() && row.refresh_retry_at.is_some());
    mock.verify().await;
}

async fn a_reconnect_during_a_refresh_wins(store: Store) {
    let mock = MockServer::start().await;
    refresh_mock(rotated().set_delay(Duration::from_millis(800)))
        .expect(1)
        .mount(&mock)
        .await;
    let id = connection(&store, -1000).await;
    let d = dispatcher(&store, &mock);
    let refreshing = {
        let d = d.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let p = messenger(&d);
            d.refresh_connection(
                &id,
                p.as_ref(),
                None,
                RefreshReason::Expired(Some(Secret::new("old-access"))),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The user reconnects while the network call is in flight.
    let row = store.connection(&id).await.unwrap().unwrap();
    store
        .upsert_connection(ConnectionUpsert {
            refresh_token: Some(Secret::new("reconnected-refresh")),
            expires_at_ms: Some(now_ms() + 3_600_000),
            ..common::account(
                &herald_core::AppId::from_stored(row.app_id.clone()),
                "ana",
                "messenger",
                "cid-1",
                "reconnected-access",
            )
        })
        .await
        .unwrap();
    let cred = refreshing.await.unwrap().unwrap();
    assert_eq!(cred.access_token.unwrap().expose(), "reconnected-access");
    let row = store.connection(&id).await.unwrap().unwrap();
    let stored = store.credential(&row).unwrap();
    assert_eq!(
        stored.refresh_token.unwrap().expose(),
        "reconnected-refresh"
    );
    assert!(row.refresh_lease_owner.is_none());
    mock.verify().await;
}
