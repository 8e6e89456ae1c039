//! What workers read back from the database, on SQLite and PostgreSQL against
//! a Windows Live mock. Rolling upgrades: an action stored by a newer node
//! (fields this version does not know, at the top level and inside the action)
//! is still delivered, and so is a payload stored before payloads were
//! versioned. Bound secrets: a token copied into another user's row is never
//! sent for that user.

use herald_core::{AppId, DeliveryId};
use herald_dispatch::Dispatcher;
use herald_store::entities::connections;
use herald_store::{CreateAction, CreateOutcome, NewDelivery, Store, on_both_databases};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;

on_both_databases!(
    an_action_with_fields_from_a_newer_node_is_delivered,
    an_action_stored_before_versioning_is_delivered,
    a_token_copied_into_another_users_row_is_never_sent,
);

fn dispatcher(store: &Store, mock: &MockServer) -> Dispatcher {
    let entry = common::operator_entry(mock, "client-1", Some("client-secret-1"));
    common::dispatcher(store, common::providers("messenger", entry))
}

async fn site(store: &Store) -> AppId {
    common::new_app(store, Some("https://site.example/")).await
}

async fn messenger(store: &Store, app: &AppId, uid: &str, token: &str) -> connections::Model {
    let provider_uid = format!("cid-{uid}");
    store
        .upsert_connection(common::account(app, uid, "messenger", &provider_uid, token))
        .await
        .unwrap()
}

/// Stores `payload` as it is (as another node would have) for one Windows
/// Live delivery to `conn`, runs it, and returns the delivery's final state
/// and error code.
async fn deliver(
    store: &Store,
    mock: &MockServer,
    conn: &connections::Model,
    payload: Value,
) -> String {
    let CreateOutcome::Created(record) = store
        .create_action(CreateAction {
            app_id: AppId::from_stored(conn.app_id.clone()),
            uid: conn.uid.clone(),
            idempotency_key: None,
            request_hash: "h".into(),
            payload,
            deliveries: vec![NewDelivery {
                connection_id: conn.id.clone(),
                provider: "messenger".into(),
                account: conn.provider_uid.clone(),
            }],
        })
        .await
        .unwrap()
    else {
        panic!("a new action");
    };
    let id = DeliveryId::from_stored(record.deliveries[0].id.clone());
    let d = dispatcher(store, mock);
    d.hand_off_ids(vec![id.clone()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = store.delivery(&id).await.unwrap().unwrap();
        if !matches!(row.state.as_str(), "queued" | "sending") {
            return format!("{} {}", row.state, row.error_code.unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "delivery still {}", row.state);
        d.progress(Duration::from_millis(200)).await;
    }
}

/// A mock that takes one post to Ana's account (`cid-ana`) with her token.
async fn one_post_for_ana() -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/V4.1/cid-cid-ana/MyActivities"))
        .and(header("authorization", "WRAP access_token=ana-token"))
        .and(body_partial_json(
            json!({"CustomActivityVerb": "shared a recipe"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-1"})))
        .expect(1)
        .mount(&mock)
        .await;
    mock
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
    let mock = one_post_for_ana().await;
    let ana = messenger(&store, &site(&store).await, "ana", "ana-token").await;
    assert_eq!(
        deliver(&store, &mock, &ana, payload).await.trim(),
        "published"
    );
}

async fn an_action_stored_before_versioning_is_delivered(store: Store) {
    let payload = json!({"action": action()});
    let mock = one_post_for_ana().await;
    let ana = messenger(&store, &site(&store).await, "ana", "ana-token").await;
    assert_eq!(
        deliver(&store, &mock, &ana, payload).await.trim(),
        "published"
    );
}

/// Someone who can write the database copies Ana's encrypted token into
/// Bob's connection: Bob's delivery fails as unreadable, and nothing is
/// posted with Ana's token (to Bob's account or anywhere).
async fn a_token_copied_into_another_users_row_is_never_sent(store: Store) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"Id": "act-1"})))
        .expect(0)
        .mount(&mock)
        .await;
    let app = site(&store).await;
    let ana = messenger(&store, &app, "ana", "ana-token").await;
    let bob = messenger(&store, &app, "bob", "bob-token").await;
    let q = Query::update()
        .table(Alias::new("connections"))
        .value(Alias::new("access_token_enc"), ana.access_token_enc.clone())
        .and_where(Expr::col(Alias::new("id")).eq(bob.id.clone()))
        .to_owned();
    store.db().execute(&q).await.unwrap();
    let payload = json!({"v": 1, "action": action()});
    assert_eq!(
        deliver(&store, &mock, &bob, payload).await,
        "failed stored_data_unreadable"
    );
}
