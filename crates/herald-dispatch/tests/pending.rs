//! The sweep of unredeemed pending connections, on SQLite and PostgreSQL,
//! against an X revocation endpoint (wiremock) that counts the calls.

use herald_store::{ConnectionUpsert, Store, now_ms, on_both_databases};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

on_both_databases!(unredeemed_connections_are_revoked_and_deleted);

const MINUTE: i64 = 60_000;

fn account(app: &herald_core::AppId, provider_uid: &str, token: &str) -> ConnectionUpsert {
    common::account(app, "ana", "x", provider_uid, token)
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
    let d = common::dispatcher(
        &store,
        common::providers("x", common::operator_entry(&x, "x-client", None)),
    );
    let app = common::new_app(&store, None).await;
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
