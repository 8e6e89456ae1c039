//! Attack tests: an encrypted value is bound to its place (table, column, row
//! id). Someone who can write the database but not read the master key must
//! not be able to make Herald use one user's token for another by copying the
//! ciphertext between rows or columns. Each runs on SQLite and PostgreSQL.

use herald_core::{AppId, Secret};
use herald_store::entities::connections;
use herald_store::repo::provider_configs::ProviderConfigInput;
use herald_store::{ConnectionUpsert, Store, on_both_databases};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

mod common;

on_both_databases!(
    a_token_copied_into_another_users_row_does_not_decrypt,
    a_token_moved_to_another_column_does_not_decrypt,
    a_client_secret_copied_to_another_app_does_not_decrypt,
    unbound_values_still_read_and_rotation_binds_them,
    concurrent_first_connects_leave_a_readable_row,
);

async fn app(store: &Store) -> AppId {
    common::new_app(store, None).await
}

fn conn(app: &AppId, uid: &str, token: &str) -> ConnectionUpsert {
    common::conn(app, uid, &format!("acct-{uid}"), token)
}

async fn raw_get(store: &Store, table: &str, pk: &str, id: &str, column: &str) -> Option<String> {
    let q = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(pk)).eq(id))
        .to_owned();
    let row = store.db().query_one(&q).await.unwrap().unwrap();
    row.try_get("", column).unwrap()
}

async fn raw_set(store: &Store, table: &str, pk: &str, id: &str, column: &str, v: Option<String>) {
    common::set_column(store, table, pk, id, column, v).await;
}

async fn set_conn(store: &Store, row: &connections::Model, column: &str, v: Option<String>) {
    raw_set(store, "connections", "id", &row.id, column, v).await;
}

/// The access token the row decrypts to (panics if it does not decrypt).
fn access(store: &Store, row: &connections::Model) -> String {
    let cred = store.credential(row).unwrap();
    cred.access_token.unwrap().expose().to_owned()
}

async fn a_token_copied_into_another_users_row_does_not_decrypt(store: Store) {
    let a = app(&store).await;
    let alice = store
        .upsert_connection(conn(&a, "alice", "alice-token"))
        .await
        .unwrap();
    let bob = store
        .upsert_connection(conn(&a, "bob", "bob-token"))
        .await
        .unwrap();
    let alices = raw_get(&store, "connections", "id", &alice.id, "access_token_enc").await;
    set_conn(&store, &bob, "access_token_enc", alices).await;

    let bob = common::reread(&store, &bob).await;
    let cred = store.credential(&bob);
    assert!(
        cred.is_err(),
        "bob's row must not decrypt alice's token: got {:?}",
        cred.map(|c| c.access_token.map(|t| t.expose().to_owned()))
    );
    // Alice's own row is untouched and still reads.
    let alice = common::reread(&store, &alice).await;
    assert_eq!(access(&store, &alice), "alice-token");
}

async fn a_token_moved_to_another_column_does_not_decrypt(store: Store) {
    let a = app(&store).await;
    let alice = store
        .upsert_connection(conn(&a, "alice", "alice-token"))
        .await
        .unwrap();
    // The refresh token put where the access token goes (and vice versa).
    let refresh_enc = raw_get(&store, "connections", "id", &alice.id, "refresh_token_enc").await;
    let access_enc = raw_get(&store, "connections", "id", &alice.id, "access_token_enc").await;
    set_conn(&store, &alice, "access_token_enc", refresh_enc).await;
    set_conn(&store, &alice, "refresh_token_enc", access_enc.clone()).await;
    let row = common::reread(&store, &alice).await;
    assert!(
        store.credential(&row).is_err(),
        "swapped columns must not decrypt"
    );

    // The access token moved into the signing-secret column.
    set_conn(&store, &alice, "access_token_enc", None).await;
    set_conn(&store, &alice, "refresh_token_enc", None).await;
    set_conn(&store, &alice, "secret_enc", access_enc).await;
    let row = common::reread(&store, &alice).await;
    assert!(
        store.credential(&row).is_err(),
        "a moved value must not decrypt"
    );
}

async fn a_client_secret_copied_to_another_app_does_not_decrypt(store: Store) {
    let (a, b) = (app(&store).await, app(&store).await);
    let input = |secret: &str| ProviderConfigInput {
        enabled: true,
        client_id: Some("cid".into()),
        client_secret: Some(Secret::new(secret)),
        api_base: None,
        consent_base: None,
        options: Default::default(),
    };
    let ca = store
        .put_provider_config(&a, "x", input("secret-of-a"))
        .await
        .unwrap();
    let cb = store
        .put_provider_config(&b, "x", input("secret-of-b"))
        .await
        .unwrap();
    let of_a = raw_get(
        &store,
        "provider_configs",
        "id",
        &ca.id,
        "client_secret_enc",
    )
    .await;
    raw_set(
        &store,
        "provider_configs",
        "id",
        &cb.id,
        "client_secret_enc",
        of_a,
    )
    .await;
    assert!(store.provider_config(&b, "x").await.is_err());

    // App secrets: app a's secret copied into app b.
    let sa = raw_get(&store, "apps", "id", a.as_str(), "secret_enc").await;
    raw_set(&store, "apps", "id", b.as_str(), "secret_enc", sa).await;
    let row_b = store.app(&b).await.unwrap().unwrap();
    assert!(store.app_secret(&row_b).is_err());
}

/// Values written before binding (`v1:`, no associated data) still read, and
/// a rotation pass rewrites them in the bound form.
async fn unbound_values_still_read_and_rotation_binds_them(store: Store) {
    let a = app(&store).await;
    let alice = store
        .upsert_connection(conn(&a, "alice", "alice-token"))
        .await
        .unwrap();
    let old = store.secrets().encrypt_unbound("alice-token");
    assert!(old.starts_with("v1:"));
    set_conn(&store, &alice, "access_token_enc", Some(old)).await;
    let before = store.unbound_values().await.unwrap();
    let row = common::reread(&store, &alice).await;
    assert_eq!(access(&store, &row), "alice-token");

    let report = store.reencrypt_all().await.unwrap();
    assert_eq!(
        report.reencrypted["connections.access_token_enc"], 1,
        "{report:?}"
    );
    let bound = raw_get(&store, "connections", "id", &alice.id, "access_token_enc")
        .await
        .unwrap();
    assert!(
        bound.starts_with(&format!("v2:{}:", store.secrets().key_id())),
        "{bound}"
    );
    let row = common::reread(&store, &alice).await;
    assert_eq!(access(&store, &row), "alice-token");
    // Nothing left to upgrade.
    assert_eq!(before, 1);
    assert_eq!(store.unbound_values().await.unwrap(), 0);
    let again = store.reencrypt_all().await.unwrap();
    assert_eq!(again.reencrypted.values().sum::<u64>(), 0, "{again:?}");
}

/// Concurrent first connects of one account race for the insert; the losers
/// must not leave values sealed for an id that is not the row's.
async fn concurrent_first_connects_leave_a_readable_row(store: Store) {
    let a = app(&store).await;
    for round in 0..5 {
        let uid = format!("racer-{round}");
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (store, a, uid) = (store.clone(), a.clone(), uid.clone());
                tokio::spawn(async move {
                    store
                        .upsert_connection(conn(&a, &uid, &format!("tok-{i}")))
                        .await
                })
            })
            .collect();
        for t in tasks {
            let row = t.await.unwrap().unwrap();
            store.credential(&row).unwrap();
        }
        let rows = store.connections_of(&a, &uid).await.unwrap();
        assert_eq!(rows.len(), 1);
        let cred = store.credential(&rows[0]).unwrap();
        let token = cred.access_token.unwrap().expose().to_owned();
        assert!(token.starts_with("tok-"), "{token}");
        assert_eq!(
            cred.refresh_token.unwrap().expose(),
            format!("{token}-refresh")
        );
    }
}
