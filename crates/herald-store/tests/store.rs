//! Store tests: each runs on SQLite and on PostgreSQL.

use common::{action_with, created};
use herald_core::{AppId, DeliveryId, Secret};
use herald_store::entities::{apps, connections};
use herald_store::repo::deliveries::ErrorInfo;
use herald_store::{
    AttemptRecord, ConnectionUpsert, CreateOutcome, DeliveryState, DeliveryUpdate, NewApp, Store,
    now_ms, on_both_databases,
};
use sea_orm::EntityTrait;
use std::collections::HashSet;

mod common;

on_both_databases!(
    apps_are_created_with_encrypted_secrets,
    connections_upsert_on_their_account_key,
    actions_are_idempotent_per_key,
    a_delivery_is_claimed_once,
    concurrent_claimers_never_share_a_delivery,
    expired_leases_are_reclaimed,
    a_lost_lease_does_not_overwrite,
    nonces_are_single_use,
    apps_are_listed_updated_rotated_and_deleted_with_everything_they_own,
    admin_resources_round_trip,
    failed_deliveries_are_redriven_and_actions_searched,
    oauth_states_are_taken_once,
    every_secret_is_encrypted_and_rotates_to_a_new_master_key,
    one_refresh_lease_per_connection,
    refresh_outcomes_are_recorded,
    oauth_clients_are_cached_per_instance,
    rotation_skips_and_reports_values_no_key_reads,
    pending_connections_are_redeemed_once_for_their_app_and_uid,
    a_pending_reconnect_leaves_the_active_tokens_until_redeemed,
    concurrent_redeems_connect_once,
    redeem_and_import_respect_the_cap_per_provider,
    unredeemed_connections_are_listed_after_their_code_expired,
    a_rotation_leaves_a_token_being_refreshed_to_the_refresh,
);

async fn app(store: &Store) -> AppId {
    common::new_app(store, Some("https://site.example")).await
}

fn conn(app: &AppId, uid: &str, provider_uid: &str, token: &str) -> ConnectionUpsert {
    ConnectionUpsert {
        display_name: Some("Ana".into()),
        ..common::conn(app, uid, provider_uid, token)
    }
}

async fn apps_are_created_with_encrypted_secrets(store: Store) {
    let created = store
        .create_app(NewApp {
            name: "n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let row = apps::Entity::find_by_id(created.app.id.clone())
        .one(store.db())
        .await
        .unwrap()
        .unwrap();
    assert!(!row.secret_enc.contains(created.secret.expose()));
    let by_key = store.app_by_api_key(&row.api_key).await.unwrap().unwrap();
    assert_eq!(store.app_secret(&by_key).unwrap(), created.secret);
    assert!(store.app_by_api_key("nope").await.unwrap().is_none());
}

async fn connections_upsert_on_their_account_key(store: Store) {
    let app = app(&store).await;
    store
        .upsert_connection(conn(&app, "u1", "cid-1", "tok-a"))
        .await
        .unwrap();
    let again = store
        .upsert_connection(conn(&app, "u1", "cid-1", "tok-b"))
        .await
        .unwrap();
    store
        .upsert_connection(conn(&app, "u1", "cid-2", "tok-c"))
        .await
        .unwrap();
    let all = store.connections_of(&app, "u1").await.unwrap();
    assert_eq!(all.len(), 2, "same account upserts, another account adds");
    assert_eq!(
        store
            .credential(&again)
            .unwrap()
            .access_token
            .unwrap()
            .expose(),
        "tok-b"
    );

    let raw = connections::Entity::find().all(store.db()).await.unwrap();
    for r in &raw {
        let dump = format!("{r:?}");
        for t in ["tok-a", "tok-b", "tok-c"] {
            assert!(!dump.contains(t), "token {t} stored in clear: {dump}");
        }
    }
    assert_eq!(
        store
            .delete_connections(&app, "u1", "messenger", Some("cid-1"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.connections_of(&app, "u1").await.unwrap().len(), 1);
    assert_eq!(
        store
            .delete_connections(&app, "u1", "messenger", None)
            .await
            .unwrap(),
        1
    );
}

async fn actions_are_idempotent_per_key(store: Store) {
    let app = app(&store).await;
    let first = created(action_with(&store, &app, 2, Some("k1")).await);
    assert_eq!(first.deliveries.len(), 2);
    assert!(
        first
            .deliveries
            .iter()
            .all(|d| d.state() == DeliveryState::Queued)
    );
    match action_with(&store, &app, 2, Some("k1")).await {
        CreateOutcome::Existing(r) => {
            assert_eq!(r.action.id, first.action.id);
            assert_eq!(r.deliveries.len(), 2);
        }
        _ => panic!("same key and request must return the first action"),
    }
    assert!(matches!(
        action_with(&store, &app, 3, Some("k1")).await,
        CreateOutcome::KeyReused
    ));
    // Without a key every request is new.
    let a = created(action_with(&store, &app, 1, None).await);
    let b = created(action_with(&store, &app, 1, None).await);
    assert_ne!(a.action.id, b.action.id);
    let read = store
        .action(&app, &a.action.action_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.deliveries.len(), 1);
    let other_app = self::app(&store).await;
    assert!(
        store
            .action(&other_app, &a.action.action_id())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_delivery_is_claimed_once(store: Store) {
    let app = app(&store).await;
    let r = created(action_with(&store, &app, 1, None).await);
    let id = r.deliveries[0].delivery_id();
    let d = store
        .claim_delivery(&id, "w1", 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.state(), DeliveryState::Sending);
    assert_eq!(d.attempts, 1);
    assert!(
        store
            .claim_delivery(&id, "w2", 30_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.claim_due("w2", 30_000, 10).await.unwrap().is_empty());
    let ok = store
        .finish_attempt(
            &id,
            "w1",
            attempt(1, "published"),
            DeliveryUpdate::Published {
                post_id: "p1".into(),
                post_url: Some("https://x/p1".into()),
            },
        )
        .await
        .unwrap();
    assert!(ok);
    let d = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(d.state(), DeliveryState::Published);
    assert_eq!(d.post_id.as_deref(), Some("p1"));
    assert_eq!(d.lease_owner, None);
    assert_eq!(store.attempts_of(&[d]).await.unwrap().len(), 1);
}

fn attempt(n: i32, outcome: &str) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        started_at: now_ms(),
        finished_at: now_ms(),
        outcome: outcome.into(),
        http_status: Some(201),
        error_code: None,
        error_message: None,
    }
}

async fn concurrent_claimers_never_share_a_delivery(store: Store) {
    let app = app(&store).await;
    for _ in 0..20 {
        action_with(&store, &app, 10, None).await;
    }
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_due(&format!("w{w}"), 30_000, 7).await.unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    assert!(
                        batch.len() <= 7,
                        "a claim returned {} rows for a limit of 7",
                        batch.len()
                    );
                    mine.extend(batch.into_iter().map(|d| d.id));
                }
                mine
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in futures::future::join_all(tasks).await {
        for id in t.unwrap() {
            total += 1;
            assert!(seen.insert(id), "a delivery was claimed twice");
        }
    }
    assert_eq!(total, 200);
}

async fn expired_leases_are_reclaimed(store: Store) {
    let app = app(&store).await;
    let r = created(action_with(&store, &app, 1, None).await);
    let id = r.deliveries[0].delivery_id();
    store
        .claim_delivery(&id, "dead-node", 50)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .claim_expired("w2", 30_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "lease still live"
    );
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let got = store.claim_expired("w2", 30_000, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].lease_owner.as_deref(), Some("w2"));
    assert_eq!(got[0].attempts, 1, "reclaiming does not count an attempt");
    assert!(store.begin_resend(&id, "w2", 30_000).await.unwrap());
    assert!(!store.begin_resend(&id, "dead-node", 30_000).await.unwrap());
    assert_eq!(store.delivery(&id).await.unwrap().unwrap().attempts, 2);
}

async fn a_lost_lease_does_not_overwrite(store: Store) {
    let app = app(&store).await;
    let r = created(action_with(&store, &app, 1, None).await);
    let id: DeliveryId = r.deliveries[0].delivery_id();
    store
        .claim_delivery(&id, "w1", 30_000)
        .await
        .unwrap()
        .unwrap();
    let applied = store
        .finish_attempt(
            &id,
            "someone-else",
            attempt(1, "failed"),
            DeliveryUpdate::Failed {
                error: ErrorInfo {
                    class: "rejected".into(),
                    code: "x".into(),
                    message: "m".into(),
                },
            },
        )
        .await
        .unwrap();
    assert!(!applied);
    assert_eq!(
        store.delivery(&id).await.unwrap().unwrap().state(),
        DeliveryState::Sending
    );
    let retry_at = now_ms() + 60_000;
    store
        .finish_attempt(
            &id,
            "w1",
            attempt(1, "retry"),
            DeliveryUpdate::Retry {
                at_ms: retry_at,
                error: ErrorInfo {
                    class: "transient".into(),
                    code: "transient".into(),
                    message: "503".into(),
                },
            },
        )
        .await
        .unwrap();
    let d = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(d.state(), DeliveryState::Queued);
    assert_eq!(d.next_attempt_at, retry_at);
    assert!(
        store.claim_due("w1", 30_000, 10).await.unwrap().is_empty(),
        "not due yet"
    );
}

async fn nonces_are_single_use(store: Store) {
    let exp = now_ms() + 60_000;
    assert!(store.use_nonce("jti:app1", "n1", exp).await.unwrap());
    assert!(!store.use_nonce("jti:app1", "n1", exp).await.unwrap());
    assert!(store.use_nonce("jti:app2", "n1", exp).await.unwrap());
    assert!(
        store
            .use_nonce("jti:app1", "old", now_ms() - 1)
            .await
            .unwrap()
    );
    assert_eq!(store.purge_nonces(now_ms(), 100).await.unwrap(), 1);
}

async fn apps_are_listed_updated_rotated_and_deleted_with_everything_they_own(store: Store) {
    use herald_store::AppPatch;
    let a = app(&store).await;
    let b = app(&store).await;
    let all = store.list_apps(None, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    let page = store.list_apps(None, None, 1).await.unwrap();
    let rest = store.list_apps(None, Some(&page[0].id), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(page[0].id, rest[0].id);
    let only = store
        .list_apps(Some(&[b.to_string()]), None, 10)
        .await
        .unwrap();
    assert_eq!(only.len(), 1);

    let updated = store
        .update_app(
            &a,
            AppPatch {
                domains: Some(vec!["example.com".into()]),
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.domains(), vec!["example.com".to_owned()]);
    assert!(updated.disabled);

    let before = store.app(&a).await.unwrap().unwrap();
    let old = store.app_secret(&before).unwrap();
    let (new, _) = store.rotate_app_secret(&a, 60_000).await.unwrap().unwrap();
    let after = store.app(&a).await.unwrap().unwrap();
    assert_eq!(
        store.app_secrets(&after).unwrap(),
        vec![new.clone(), old.clone()]
    );
    store.rotate_app_secret(&a, 0).await.unwrap();
    let after = store.app(&a).await.unwrap().unwrap();
    assert_eq!(
        store.app_secrets(&after).unwrap().len(),
        1,
        "no grace: only the newest secret"
    );

    store
        .upsert_connection(conn(&a, "u1", "cid", "tok"))
        .await
        .unwrap();
    store
        .create_hmac_key(&a, &herald_store::repo::app_keys::Permission::ALL)
        .await
        .unwrap();
    created(action_with(&store, &a, 2, None).await);
    let (actions, deliveries) = store.delete_app(&a).await.unwrap().unwrap();
    assert_eq!((actions, deliveries), (1, 2));
    assert!(
        store.connections_of(&a, "u1").await.unwrap().is_empty(),
        "connections go with the app"
    );
    assert!(
        store.list_keys(&a).await.unwrap().is_empty(),
        "keys go with the app"
    );
    assert!(store.delete_app(&a).await.unwrap().is_none());
}

async fn admin_resources_round_trip(store: Store) {
    use herald_store::repo::audit::AuditEntry;
    use herald_store::repo::provider_configs::ProviderConfigInput;
    let a = app(&store).await;
    let mut options = std::collections::BTreeMap::new();
    options.insert("mode".to_owned(), "share".to_owned());
    let input = ProviderConfigInput {
        enabled: true,
        client_id: Some("cid".into()),
        client_secret: Some(Secret::new("client-secret-xyz")),
        api_base: None,
        consent_base: None,
        options,
    };
    let row = store
        .put_provider_config(&a, "messenger", input.clone())
        .await
        .unwrap();
    assert!(!format!("{row:?}").contains("client-secret-xyz"));
    let again = store
        .put_provider_config(
            &a,
            "messenger",
            ProviderConfigInput {
                enabled: false,
                ..input
            },
        )
        .await
        .unwrap();
    assert!(!again.enabled);
    assert_eq!(store.list_provider_configs(&a).await.unwrap().len(), 1);
    let cfg = store
        .provider_config(&a, "messenger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cfg.settings.client_secret.unwrap().expose(),
        "client-secret-xyz"
    );
    assert!(store.delete_provider_config(&a, "messenger").await.unwrap());
    assert!(!store.delete_provider_config(&a, "messenger").await.unwrap());

    store
        .put_template(
            &a,
            "share",
            "{actor} shared {title}",
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    store
        .put_template(
            &a,
            "share",
            "{actor} read {title}",
            &serde_json::json!({"messenger": {"verb": "read"}}),
        )
        .await
        .unwrap();
    let t = store.template(&a, "share").await.unwrap().unwrap();
    assert_eq!(t.text, "{actor} read {title}");
    assert_eq!(store.list_templates(&a).await.unwrap().len(), 1);
    assert!(store.delete_template(&a, "share").await.unwrap());

    let (key, _) = store
        .create_hmac_key(&a, &[herald_store::repo::app_keys::Permission::Read])
        .await
        .unwrap();
    assert!(store.revoke_key(&a, &key.user_key).await.unwrap());
    assert!(
        !store.revoke_key(&a, &key.user_key).await.unwrap(),
        "revoking twice"
    );
    assert!(
        store
            .key_by_user_key(&key.user_key)
            .await
            .unwrap()
            .unwrap()
            .is_revoked()
    );

    for action in ["apps.create", "keys.revoke"] {
        store
            .record_audit(AuditEntry {
                actor: "ops",
                role: "admin",
                action,
                app_id: Some(a.as_str()),
                target: None,
                detail: None,
            })
            .await
            .unwrap();
    }
    let log = store
        .list_audit(None, Some(a.as_str()), None, 10)
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["keys.revoke", "apps.create"]
    );
    assert!(
        store
            .list_audit(Some(&["app_other".into()]), None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn failed_deliveries_are_redriven_and_actions_searched(store: Store) {
    let a = app(&store).await;
    let r = created(action_with(&store, &a, 1, None).await);
    let id = r.deliveries[0].delivery_id();
    assert_eq!(
        store.redrive(a.as_str(), &id).await.unwrap(),
        Some(false),
        "queued is not redrivable"
    );
    store
        .claim_delivery(&id, "w1", 30_000)
        .await
        .unwrap()
        .unwrap();
    store
        .finish_attempt(
            &id,
            "w1",
            attempt(1, "failed"),
            DeliveryUpdate::Failed {
                error: ErrorInfo {
                    class: "rejected".into(),
                    code: "x".into(),
                    message: "m".into(),
                },
            },
        )
        .await
        .unwrap();
    let found = store
        .list_actions(
            &a,
            &herald_store::ActionFilter {
                state: Some("failed".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let none = store
        .list_actions(
            &a,
            &herald_store::ActionFilter {
                provider: Some("messenger".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        store.redrive("app_other", &id).await.unwrap(),
        None,
        "another app's delivery is not found"
    );
    assert_eq!(store.redrive(a.as_str(), &id).await.unwrap(), Some(true));
    let d = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!((d.state(), d.attempts), (DeliveryState::Queued, 0));
    assert_eq!(
        store.claim_due("w2", 30_000, 10).await.unwrap().len(),
        1,
        "due again at once"
    );
}

async fn oauth_states_are_taken_once(store: Store) {
    use herald_store::repo::oauth_states::{NewOauthState, TakenState};
    let a = app(&store).await;
    let new = |ttl_ms| NewOauthState {
        app_id: a.clone(),
        uid: "ana".into(),
        provider: "messenger".into(),
        redirect_uri: "https://site.example/back".into(),
        client_state: Some("s".into()),
        pkce_verifier: Some(Secret::new("verifier-xyz")),
        instance: None,
        browser_hash: None,
        attempts: 0,
        ttl_ms,
    };
    let state = store.create_oauth_state(new(60_000)).await.unwrap();
    let TakenState::Fresh(row) = store.take_oauth_state(&state).await.unwrap() else {
        panic!("a new state is fresh");
    };
    assert!(
        !format!("{row:?}").contains("verifier-xyz"),
        "the PKCE verifier is stored encrypted"
    );
    assert_eq!(
        store.oauth_pkce_verifier(&row).unwrap().unwrap().expose(),
        "verifier-xyz"
    );
    assert!(matches!(
        store.take_oauth_state(&state).await.unwrap(),
        TakenState::Replayed(_)
    ));
    let old = store.create_oauth_state(new(-1)).await.unwrap();
    assert!(matches!(
        store.take_oauth_state(&old).await.unwrap(),
        TakenState::Expired(_)
    ));
    assert!(matches!(
        store.take_oauth_state("nope").await.unwrap(),
        TakenState::Unknown
    ));
}

/// Every value of every encrypted column, read raw from the database.
async fn raw_encrypted_values(store: &Store) -> Vec<(String, String)> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Alias, Query};
    let mut out = Vec::new();
    for &(table, _, column) in herald_store::ENCRYPTED_COLUMNS {
        let q = Query::select()
            .column(Alias::new(column))
            .from(Alias::new(table))
            .to_owned();
        for row in store.db().query_all(&q).await.unwrap() {
            let v: Option<String> = row.try_get("", column).unwrap();
            if let Some(v) = v {
                out.push((format!("{table}.{column}"), v));
            }
        }
    }
    out
}

async fn every_secret_is_encrypted_and_rotates_to_a_new_master_key(store: Store) {
    use herald_core::RegisteredClient;
    use herald_store::repo::oauth_states::NewOauthState;
    use herald_store::repo::provider_configs::ProviderConfigInput;
    use herald_store::{SecretBox, generate_master_key};
    let (k1, k2) = (generate_master_key(), generate_master_key());
    let store = store.with_secrets(SecretBox::new(&k1, &[]).unwrap());
    // A value in every encrypted column.
    let created = store
        .create_app(NewApp {
            name: "site".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let a = created.app.app_id();
    let (new_secret, _) = store.rotate_app_secret(&a, 60_000).await.unwrap().unwrap();
    let (key, key_secret) = store
        .create_hmac_key(&a, &[herald_store::repo::app_keys::Permission::Publish])
        .await
        .unwrap();
    store
        .put_provider_config(
            &a,
            "messenger",
            ProviderConfigInput {
                enabled: true,
                client_id: Some("cid".into()),
                client_secret: Some(Secret::new("client-secret-plain")),
                api_base: None,
                consent_base: None,
                options: Default::default(),
            },
        )
        .await
        .unwrap();
    let mut c = conn(&a, "u1", "cid-1", "access-token-plain");
    c.secret = Some(Secret::new("signing-secret-plain"));
    let c = store.upsert_connection(c).await.unwrap();
    let state = store
        .create_oauth_state(NewOauthState {
            app_id: a.clone(),
            uid: "u1".into(),
            provider: "mastodon".into(),
            redirect_uri: "https://site.example/back".into(),
            client_state: None,
            pkce_verifier: Some(Secret::new("pkce-verifier-plain")),
            instance: Some("https://mastodon.example".into()),
            browser_hash: None,
            attempts: 0,
            ttl_ms: 60_000,
        })
        .await
        .unwrap();
    store
        .save_oauth_client(
            &a,
            "mastodon",
            "https://mastodon.example",
            "https://herald.example/cb",
            &RegisteredClient {
                client_id: "mcid".into(),
                client_secret: Secret::new("instance-client-secret-plain"),
            },
        )
        .await
        .unwrap();
    let mut pending = conn(&a, "u1", "cid-p", "pending-token-plain");
    pending.secret = Some(Secret::new("pending-secret-plain"));
    store
        .create_pending_connections(vec![pending], now_ms(), 60_000)
        .await
        .unwrap();
    let plain = [
        "pending-token-plain".to_owned(),
        "pending-token-plain-refresh".into(),
        "pending-secret-plain".into(),
        created.secret.expose().to_owned(),
        new_secret.expose().to_owned(),
        key_secret.expose().to_owned(),
        "client-secret-plain".into(),
        "access-token-plain".into(),
        "access-token-plain-refresh".into(),
        "signing-secret-plain".into(),
        "pkce-verifier-plain".into(),
        "instance-client-secret-plain".into(),
    ];

    // Raw database: every column holds a value, none in clear.
    let k1_id = store.secrets().key_id().to_owned();
    let raw = raw_encrypted_values(&store).await;
    for &(table, _, column) in herald_store::ENCRYPTED_COLUMNS {
        let name = format!("{table}.{column}");
        assert!(
            raw.iter().any(|(n, _)| *n == name),
            "the test stores nothing in {name}"
        );
    }
    for (name, v) in &raw {
        assert!(v.starts_with(&format!("v2:{k1_id}:")), "{name}: {v}");
        for p in &plain {
            assert!(!v.contains(p.as_str()), "{name} holds a secret in clear");
        }
    }

    // Rotate: the new key encrypts, the old one still reads.
    let rotated = store.with_secrets(SecretBox::new(&k2, std::slice::from_ref(&k1)).unwrap());
    let report = rotated.reencrypt_all().await.unwrap();
    assert_eq!(report.changed_meanwhile, 0);
    assert_eq!(
        report.reencrypted.values().sum::<u64>() as usize,
        raw.len(),
        "{report:?}"
    );
    assert_eq!(
        rotated
            .reencrypt_all()
            .await
            .unwrap()
            .reencrypted
            .values()
            .sum::<u64>(),
        0,
        "a second pass finds nothing left"
    );

    // Only the new key now: everything reads back, nothing is under the old key.
    let only_new = store.with_secrets(SecretBox::new(&k2, &[]).unwrap());
    let k2_id = only_new.secrets().key_id().to_owned();
    for (name, v) in raw_encrypted_values(&only_new).await {
        assert!(v.starts_with(&format!("v2:{k2_id}:")), "{name}: {v}");
        for p in &plain {
            assert!(!v.contains(p.as_str()), "{name} holds a secret in clear");
        }
    }
    let app_row = only_new.app(&a).await.unwrap().unwrap();
    let secrets = only_new.app_secrets(&app_row).unwrap();
    assert!(secrets.contains(&new_secret) && secrets.contains(&created.secret));
    let key = only_new
        .key_by_user_key(&key.user_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(only_new.key_secret(&key).unwrap().unwrap(), key_secret);
    let cfg = only_new
        .provider_config(&a, "messenger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cfg.settings.client_secret.unwrap().expose(),
        "client-secret-plain"
    );
    let c = only_new
        .connection(&c.connection_id())
        .await
        .unwrap()
        .unwrap();
    let cred = only_new.credential(&c).unwrap();
    assert_eq!(cred.access_token.unwrap().expose(), "access-token-plain");
    assert_eq!(
        cred.refresh_token.unwrap().expose(),
        "access-token-plain-refresh"
    );
    assert_eq!(cred.secret.unwrap().expose(), "signing-secret-plain");
    let herald_store::repo::oauth_states::TakenState::Fresh(row) =
        only_new.take_oauth_state(&state).await.unwrap()
    else {
        panic!("fresh state");
    };
    assert_eq!(
        only_new
            .oauth_pkce_verifier(&row)
            .unwrap()
            .unwrap()
            .expose(),
        "pkce-verifier-plain"
    );
    let client = only_new
        .oauth_client(&a, "mastodon", "https://mastodon.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        client.client_secret.expose(),
        "instance-client-secret-plain"
    );
    let ids = only_new.encrypted_key_ids().await.unwrap();
    assert!(
        ids.values().all(|m| m.keys().all(|id| *id == k2_id)),
        "{ids:?}"
    );
    // The old key alone can no longer read anything.
    let only_old = store.with_secrets(SecretBox::new(&k1, &[]).unwrap());
    assert!(only_old.credential(&c).is_err());
}

async fn one_refresh_lease_per_connection(store: Store) {
    let a = app(&store).await;
    let c = store
        .upsert_connection(conn(&a, "u1", "cid-1", "tok"))
        .await
        .unwrap();
    let id = c.connection_id();
    assert!(
        store
            .take_refresh_lease(&id, "node-a", 60_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_refresh_lease(&id, "node-b", 60_000)
            .await
            .unwrap(),
        "held by node-a"
    );
    // Racing takers: exactly one wins.
    store.release_refresh_lease(&id, "node-a").await.unwrap();
    let takers = (0..8).map(|i| {
        let store = store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            store
                .take_refresh_lease(&id, &format!("n{i}"), 60_000)
                .await
                .unwrap()
        })
    });
    let won = futures_count(takers).await;
    assert_eq!(won, 1);
    // An expired lease can be taken over.
    let c2 = store
        .upsert_connection(conn(&a, "u1", "cid-2", "tok2"))
        .await
        .unwrap();
    let id2 = c2.connection_id();
    assert!(store.take_refresh_lease(&id2, "dead", -1).await.unwrap());
    assert!(
        store
            .take_refresh_lease(&id2, "alive", 60_000)
            .await
            .unwrap()
    );
    // Releasing someone else's lease does nothing.
    store.release_refresh_lease(&id2, "dead").await.unwrap();
    assert!(
        !store
            .take_refresh_lease(&id2, "third", 60_000)
            .await
            .unwrap()
    );
}

async fn futures_count(handles: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let mut n = 0;
    for h in handles {
        if h.await.unwrap() {
            n += 1;
        }
    }
    n
}

async fn refresh_outcomes_are_recorded(store: Store) {
    use herald_core::Credential;
    use herald_store::{ConnectionStatus, RefreshOutcome};
    let a = app(&store).await;
    let mut c = conn(&a, "u1", "cid-1", "old-access");
    c.expires_at_ms = Some(now_ms() + 60_000);
    let c = store.upsert_connection(c).await.unwrap();
    let id = c.connection_id();
    // Due within 10 minutes; not when the horizon is before its expiry.
    let due = |h| {
        let store = store.clone();
        async move { store.connections_to_refresh(h, 10).await.unwrap().len() }
    };
    assert_eq!(due(now_ms() + 600_000).await, 1);
    assert_eq!(due(now_ms()).await, 0);

    let enc = c.refresh_token_enc.clone();
    // A transient failure backs off and keeps the connection active.
    assert!(store.take_refresh_lease(&id, "w", 60_000).await.unwrap());
    assert_eq!(due(now_ms() + 600_000).await, 0, "leased: not due");
    store
        .finish_refresh(
            &id,
            "w",
            enc.as_deref(),
            RefreshOutcome::Transient {
                message: "503 from the network",
                retry_at: now_ms() + 60_000,
            },
        )
        .await
        .unwrap();
    let row = store.connection(&id).await.unwrap().unwrap();
    assert_eq!(row.status(), ConnectionStatus::Active);
    assert_eq!(row.refresh_failures, 1);
    assert_eq!(row.last_error.as_deref(), Some("503 from the network"));
    assert!(row.refresh_lease_owner.is_none(), "lease released");
    assert_eq!(due(now_ms() + 600_000).await, 0, "backing off");

    // A refreshed token is stored, rotated refresh token included.
    assert!(store.take_refresh_lease(&id, "w2", 60_000).await.unwrap());
    let fresh = Credential {
        access_token: Some(Secret::new("new-access")),
        refresh_token: Some(Secret::new("new-refresh")),
        expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1)),
        ..Default::default()
    };
    assert!(
        store
            .finish_refresh(&id, "w2", enc.as_deref(), RefreshOutcome::Refreshed(&fresh))
            .await
            .unwrap()
    );
    let row = store.connection(&id).await.unwrap().unwrap();
    let cred = store.credential(&row).unwrap();
    assert_eq!(cred.access_token.unwrap().expose(), "new-access");
    assert_eq!(cred.refresh_token.unwrap().expose(), "new-refresh");
    assert_eq!(row.refresh_failures, 0);
    assert!(row.last_error.is_none() && row.last_refresh_at.is_some());
    assert!(row.refresh_retry_at.is_none() && row.refresh_lease_owner.is_none());
    assert_eq!(due(now_ms() + 600_000).await, 0, "expires in an hour");

    // An outcome from a refresh that started from an older refresh token
    // (the user reconnected meanwhile) is not recorded.
    assert!(store.take_refresh_lease(&id, "late", 60_000).await.unwrap());
    assert!(
        !store
            .finish_refresh(
                &id,
                "late",
                enc.as_deref(),
                RefreshOutcome::NeedsReauth {
                    message: "invalid_grant for the old grant",
                },
            )
            .await
            .unwrap()
    );
    let row = store.connection(&id).await.unwrap().unwrap();
    assert_eq!(row.status(), ConnectionStatus::Active);
    assert!(row.refresh_lease_owner.is_none(), "lease released anyway");

    // A refusal needs the user.
    let enc = row.refresh_token_enc.clone();
    assert!(store.take_refresh_lease(&id, "w3", 60_000).await.unwrap());
    store
        .finish_refresh(
            &id,
            "w3",
            enc.as_deref(),
            RefreshOutcome::NeedsReauth {
                message: "invalid_grant",
            },
        )
        .await
        .unwrap();
    let row = store.connection(&id).await.unwrap().unwrap();
    assert_eq!(row.status(), ConnectionStatus::NeedsReauth);
    assert_eq!(row.last_error.as_deref(), Some("invalid_grant"));
    assert_eq!(
        due(now_ms() + 7_200_000).await,
        0,
        "needs_reauth is never refreshed"
    );

    // Reconnecting (a new credential for the same account) makes it healthy.
    let again = store
        .upsert_connection(conn(&a, "u1", "cid-1", "reconnected"))
        .await
        .unwrap();
    assert_eq!(again.status(), ConnectionStatus::Active);
    assert!(again.last_error.is_none());
}

async fn oauth_clients_are_cached_per_instance(store: Store) {
    use herald_core::RegisteredClient;
    let a = app(&store).await;
    let reg = |id: &str| RegisteredClient {
        client_id: id.into(),
        client_secret: Secret::new(format!("{id}-secret")),
    };
    assert!(
        store
            .oauth_client(&a, "mastodon", "https://one.example")
            .await
            .unwrap()
            .is_none()
    );
    let first = store
        .save_oauth_client(
            &a,
            "mastodon",
            "https://one.example",
            "https://h/cb",
            &reg("c1"),
        )
        .await
        .unwrap();
    assert_eq!(first.client_id, "c1");
    // A concurrent second registration loses: the first stored is used.
    let second = store
        .save_oauth_client(
            &a,
            "mastodon",
            "https://one.example",
            "https://h/cb",
            &reg("c2"),
        )
        .await
        .unwrap();
    assert_eq!(second.client_id, "c1");
    assert_eq!(second.client_secret.expose(), "c1-secret");
    let other = store
        .save_oauth_client(
            &a,
            "mastodon",
            "https://two.example",
            "https://h/cb",
            &reg("c3"),
        )
        .await
        .unwrap();
    assert_eq!(other.client_id, "c3");
    // They go with the app.
    store.delete_app(&a).await.unwrap();
    assert!(
        store
            .oauth_client(&a, "mastodon", "https://one.example")
            .await
            .unwrap()
            .is_none()
    );
}

async fn rotation_skips_and_reports_values_no_key_reads(store: Store) {
    use herald_store::{SecretBox, generate_master_key};
    let (lost, k1, k2) = (
        generate_master_key(),
        generate_master_key(),
        generate_master_key(),
    );
    let a = app(&store).await;
    let under_lost = store.with_secrets(SecretBox::new(&lost, &[]).unwrap());
    under_lost
        .upsert_connection(conn(&a, "u1", "cid-lost", "lost-token"))
        .await
        .unwrap();
    let under_k1 = store.with_secrets(SecretBox::new(&k1, &[]).unwrap());
    under_k1
        .upsert_connection(conn(&a, "u1", "cid-ok", "ok-token"))
        .await
        .unwrap();
    let rotated = store.with_secrets(SecretBox::new(&k2, &[k1]).unwrap());
    let report = rotated.reencrypt_all().await.unwrap();
    assert_eq!(
        report.unreadable["connections.access_token_enc"], 1,
        "{report:?}"
    );
    assert_eq!(report.unreadable["connections.refresh_token_enc"], 1);
    assert_eq!(report.reencrypted["connections.access_token_enc"], 1);
    let ok = rotated
        .connections_of(&a, "u1")
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.provider_uid == "cid-ok")
        .unwrap();
    assert_eq!(
        rotated
            .credential(&ok)
            .unwrap()
            .access_token
            .unwrap()
            .expose(),
        "ok-token"
    );
}

async fn pending_connections_are_redeemed_once_for_their_app_and_uid(store: Store) {
    use herald_store::Redeemed;
    let a = app(&store).await;
    let other_app = app(&store).await;
    let now = now_ms();
    let code = store
        .create_pending_connections(vec![conn(&a, "u1", "cid-1", "tok")], now, 600_000)
        .await
        .unwrap();
    assert!(code.len() >= 43, "256 random bits: {code}");
    let raw = herald_store::entities::pending_connections::Entity::find()
        .all(store.db())
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    assert_ne!(raw[0].code_hash, code, "only a hash is stored");
    assert!(store.connections_of(&a, "u1").await.unwrap().is_empty());

    let not_found = |r: Redeemed| matches!(r, Redeemed::NotFound);
    assert!(not_found(
        store
            .redeem_pending_connections(&a, "u1", "not-a-code", now, 20)
            .await
            .unwrap()
    ));
    // Expired: not found.
    assert!(not_found(
        store
            .redeem_pending_connections(&a, "u1", &code, now + 600_000, 20)
            .await
            .unwrap()
    ));
    // Presented for another uid or by another app: not found, and burned, so
    // the code cannot be redeemed later by whoever sent the link (the rows
    // go to the sweep, which revokes their tokens).
    for (app_id, uid) in [(&a, "u2"), (&other_app, "u1")] {
        let burned = store
            .create_pending_connections(vec![conn(&a, "u1", "cid-9", "tok-9")], now, 600_000)
            .await
            .unwrap();
        assert!(not_found(
            store
                .redeem_pending_connections(app_id, uid, &burned, now, 20)
                .await
                .unwrap()
        ));
        assert!(
            not_found(
                store
                    .redeem_pending_connections(&a, "u1", &burned, now + 1, 20)
                    .await
                    .unwrap()
            ),
            "a code presented for {uid} of another app or user is burned"
        );
        let swept = store.unredeemed_connections(now, 10).await.unwrap();
        assert_eq!(swept.len(), 1, "the burned flow is the sweep's at once");
        assert!(store.delete_pending_connection(&swept[0].id).await.unwrap());
    }
    let Redeemed::Connected(got) = store
        .redeem_pending_connections(&a, "u1", &code, now + 1, 20)
        .await
        .unwrap()
    else {
        panic!("the right app, uid and code redeem")
    };
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].uid.as_str(), got[0].status.as_str()),
        ("u1", "active")
    );
    assert_eq!(
        store.credential(&got[0]).unwrap().access_token,
        Some(Secret::new("tok"))
    );
    assert!(matches!(
        store
            .redeem_pending_connections(&a, "u1", &code, now + 2, 20)
            .await
            .unwrap(),
        Redeemed::NotFound
    ));
}

async fn a_pending_reconnect_leaves_the_active_tokens_until_redeemed(store: Store) {
    use herald_store::Redeemed;
    let a = app(&store).await;
    let active = store
        .upsert_connection(conn(&a, "u1", "cid-1", "old"))
        .await
        .unwrap();
    let now = now_ms();
    // Another uid's flow for the same network account, and the same uid's.
    let theirs = store
        .create_pending_connections(vec![conn(&a, "u2", "cid-1", "new-u2")], now, 600_000)
        .await
        .unwrap();
    let mine = store
        .create_pending_connections(vec![conn(&a, "u1", "cid-1", "new")], now, 600_000)
        .await
        .unwrap();
    let read = common::reread(&store, &active).await;
    assert_eq!(
        store.credential(&read).unwrap().access_token,
        Some(Secret::new("old"))
    );
    let Redeemed::Connected(u2) = store
        .redeem_pending_connections(&a, "u2", &theirs, now, 20)
        .await
        .unwrap()
    else {
        panic!("u2's own code")
    };
    assert_ne!(u2[0].id, active.id, "u2 gets a connection of its own");
    let read = common::reread(&store, &active).await;
    assert_eq!(
        read.uid, "u1",
        "an active connection never moves to another uid"
    );
    assert_eq!(
        store.credential(&read).unwrap().access_token,
        Some(Secret::new("old"))
    );
    let Redeemed::Connected(u1) = store
        .redeem_pending_connections(&a, "u1", &mine, now, 20)
        .await
        .unwrap()
    else {
        panic!("u1's own code")
    };
    assert_eq!(
        u1[0].id, active.id,
        "a reconnect updates the same connection"
    );
    assert_eq!(
        store.credential(&u1[0]).unwrap().access_token,
        Some(Secret::new("new"))
    );
}

async fn concurrent_redeems_connect_once(store: Store) {
    use herald_store::Redeemed;
    let a = app(&store).await;
    let now = now_ms();
    let code = store
        .create_pending_connections(
            vec![
                conn(&a, "u1", "page-1", "t1"),
                conn(&a, "u1", "page-2", "t2"),
            ],
            now,
            600_000,
        )
        .await
        .unwrap();
    let tries = futures::future::join_all(
        (0..4).map(|_| store.redeem_pending_connections(&a, "u1", &code, now, 20)),
    )
    .await;
    let mut won = 0;
    for t in tries {
        match t.unwrap() {
            Redeemed::Connected(c) => {
                won += 1;
                assert_eq!(c.len(), 2, "every account of the flow");
            }
            Redeemed::NotFound => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.connections_of(&a, "u1").await.unwrap().len(), 2);
}

async fn redeem_and_import_respect_the_cap_per_provider(store: Store) {
    use herald_store::Redeemed;
    let a = app(&store).await;
    for i in 0..2 {
        store
            .upsert_connection(conn(&a, "u1", &format!("cid-{i}"), "t"))
            .await
            .unwrap();
    }
    assert!(
        store
            .connection_cap_allows(&a, "u1", "messenger", &["cid-0"], 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .connection_cap_allows(&a, "u1", "messenger", &["cid-9"], 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .connection_cap_allows(&a, "u2", "messenger", &["cid-9"], 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .connection_cap_allows(&a, "u1", "x", &["cid-9"], 2)
            .await
            .unwrap()
    );
    let now = now_ms();
    let code = store
        .create_pending_connections(vec![conn(&a, "u1", "cid-new", "t")], now, 600_000)
        .await
        .unwrap();
    match store
        .redeem_pending_connections(&a, "u1", &code, now, 2)
        .await
        .unwrap()
    {
        Redeemed::OverCap { provider } => assert_eq!(provider, "messenger"),
        other => panic!("{other:?}"),
    }
    // Nothing was used up: within a larger cap the same code still redeems.
    assert!(matches!(
        store
            .redeem_pending_connections(&a, "u1", &code, now, 3)
            .await
            .unwrap(),
        Redeemed::Connected(_)
    ));
}

async fn unredeemed_connections_are_listed_after_their_code_expired(store: Store) {
    let a = app(&store).await;
    let now = now_ms();
    store
        .create_pending_connections(vec![conn(&a, "u1", "old", "t")], now - 3_600_000, 600_000)
        .await
        .unwrap();
    store
        .create_pending_connections(vec![conn(&a, "u1", "fresh", "t")], now, 600_000)
        .await
        .unwrap();
    let due = store.unredeemed_connections(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].provider_uid, "old");
    assert_eq!(
        store.pending_credential(&due[0]).unwrap().access_token,
        Some(Secret::new("t"))
    );
    assert!(store.delete_pending_connection(&due[0].id).await.unwrap());
    assert!(!store.delete_pending_connection(&due[0].id).await.unwrap());
    assert!(
        store
            .unredeemed_connections(now, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A rotation pass must not re-encrypt the refresh token a refresh is working
/// on: the refresh records its outcome only if the stored value is still the
/// one it started from, so a rewritten value would throw away the network's
/// newly rotated token (and the old one is dead at the network).
async fn a_rotation_leaves_a_token_being_refreshed_to_the_refresh(store: Store) {
    use herald_store::{RefreshOutcome, SecretBox, generate_master_key};
    let (k1, k2) = (generate_master_key(), generate_master_key());
    let store = store.with_secrets(SecretBox::new(&k1, &[]).unwrap());
    let a = app(&store).await;
    let row = store
        .upsert_connection(conn(&a, "u1", "cid-1", "old"))
        .await
        .unwrap();
    let id = row.connection_id();
    assert!(
        store
            .take_refresh_lease(&id, "node-a", 60_000)
            .await
            .unwrap()
    );
    let started_from = row.refresh_token_enc.clone();

    let rotated = store.with_secrets(SecretBox::new(&k2, &[k1]).unwrap());
    let report = rotated.reencrypt_all().await.unwrap();
    assert!(report.changed_meanwhile >= 1, "{report:?}");

    let fresh = herald_core::Credential {
        access_token: Some(Secret::new("new")),
        refresh_token: Some(Secret::new("new-refresh")),
        ..store.credential(&row).unwrap()
    };
    assert!(
        rotated
            .finish_refresh(
                &id,
                "node-a",
                started_from.as_deref(),
                RefreshOutcome::Refreshed(&fresh)
            )
            .await
            .unwrap(),
        "the refresh's outcome is recorded"
    );
    // Once the refresh is done, the next pass rotates what it stored.
    let again = rotated.reencrypt_all().await.unwrap();
    assert_eq!(again.changed_meanwhile, 0, "{again:?}");
    let now_row = rotated.connection(&id).await.unwrap().unwrap();
    assert_eq!(
        rotated.credential(&now_row).unwrap().refresh_token,
        Some(Secret::new("new-refresh"))
    );
    let k2_only = store.with_secrets(SecretBox::new(&k2, &[]).unwrap());
    assert!(
        k2_only.credential(&now_row).is_ok(),
        "everything is under the new key"
    );
}
