//! Store tests: each runs on SQLite and on PostgreSQL.

use herald_core::{AppId, DeliveryId, Secret};
use herald_store::entities::{apps, connections};
use herald_store::repo::deliveries::ErrorInfo;
use herald_store::{
    AttemptRecord, ConnectionUpsert, CreateAction, CreateOutcome, DeliveryState, DeliveryUpdate,
    NewApp, NewDelivery, Store, now_ms, on_both_databases,
};
use sea_orm::EntityTrait;
use std::collections::HashSet;

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
);

async fn app(store: &Store) -> AppId {
    store
        .create_app(NewApp {
            name: "site".into(),
            site_url: Some("https://site.example".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .app
        .app_id()
}

fn conn(app: &AppId, uid: &str, provider_uid: &str, token: &str) -> ConnectionUpsert {
    ConnectionUpsert {
        app_id: app.clone(),
        uid: uid.into(),
        provider: "messenger".into(),
        provider_uid: provider_uid.into(),
        display_name: Some("Ana".into()),
        url: None,
        access_token: Some(Secret::new(token)),
        refresh_token: Some(Secret::new(format!("{token}-refresh"))),
        secret: None,
        expires_at_ms: None,
    }
}

async fn action_with(store: &Store, app: &AppId, n: usize, key: Option<&str>) -> CreateOutcome {
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

fn created(o: CreateOutcome) -> herald_store::ActionRecord {
    match o {
        CreateOutcome::Created(r) => r,
        _ => panic!("expected a new action"),
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
    assert_eq!(store.purge_nonces().await.unwrap(), 1);
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
