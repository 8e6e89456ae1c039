//! Shared test helpers: a new app, a Windows Live connection to store, a
//! connection read again, an action with webhook deliveries, and a raw write
//! to one row (what an attacker or an old node may leave behind).

#![allow(dead_code)]

use herald_core::{AppId, Secret};
use herald_store::entities::connections;
use herald_store::{
    ActionRecord, ConnectionUpsert, CreateAction, CreateOutcome, NewApp, NewDelivery, Store,
};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr};

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

/// A Windows Live connection of `uid` as `provider_uid` with the access
/// token `token` and the refresh token `{token}-refresh`.
pub fn conn(app: &AppId, uid: &str, provider_uid: &str, token: &str) -> ConnectionUpsert {
    ConnectionUpsert {
        app_id: app.clone(),
        uid: uid.into(),
        provider: "messenger".into(),
        provider_uid: provider_uid.into(),
        display_name: None,
        url: None,
        access_token: Some(Secret::new(token)),
        refresh_token: Some(Secret::new(format!("{token}-refresh"))),
        secret: None,
        expires_at_ms: None,
    }
}

/// `row` as the store reads it now.
pub async fn reread(store: &Store, row: &connections::Model) -> connections::Model {
    let id = row.connection_id();
    store.connection(&id).await.unwrap().unwrap()
}

/// An action of `u1` with `n` webhook deliveries (to `con_0`, `con_1`, …),
/// under the idempotency key `key` if given.
pub async fn action_with(store: &Store, app: &AppId, n: usize, key: Option<&str>) -> CreateOutcome {
    store
        .create_action(CreateAction {
            app_id: app.clone(),
            uid: "u1".into(),
            idempotency_key: key.map(str::to_owned),
            request_hash: format!("hash-{n}"),
            payload: serde_json::json!({"action": {"title": "t"}}),
            deliveries: (0..n)
                .map(|i| NewDelivery {
                    connection_id: format!("con_{i}"),
                    provider: "webhook".into(),
                    account: format!("acct{i}"),
                })
                .collect(),
        })
        .await
        .unwrap()
}

/// The action a create made (panics on any other outcome).
pub fn created(o: CreateOutcome) -> ActionRecord {
    match o {
        CreateOutcome::Created(r) => r,
        _ => panic!("expected a new action"),
    }
}

/// Sets `column` of the one row of `table` whose `pk` is `id`, bypassing the
/// store.
pub async fn set_column(
    store: &Store,
    table: &str,
    pk: &str,
    id: &str,
    column: &str,
    v: impl Into<SimpleExpr>,
) {
    let q = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), v)
        .and_where(Expr::col(Alias::new(pk)).eq(id))
        .to_owned();
    assert_eq!(store.db().execute(&q).await.unwrap().rows_affected(), 1);
}
