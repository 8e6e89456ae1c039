//! Test support shared by every crate's store tests: a fresh, migrated store on
//! SQLite (a temp file) or on PostgreSQL (a new database per test, so tests can
//! run in parallel; `HERALD_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1/test`). When PostgreSQL is unreachable a test
//! fails under `CI=true` and is skipped locally with a printed reason.
//!
//! `on_both_databases!(test_a, test_b)` turns `async fn test_a(store: Store)`
//! functions into `sqlite::test_a` and `postgres::test_a` tests.

use crate::{SecretBox, Store, generate_master_key};
use sea_orm::{ConnectionTrait, Database};

/// Runs `f` as if this node's clock were `skew_ms` off ([`crate::now_ms`]
/// answers shifted inside it): how a test shows that leases and due times
/// follow the database's clock, not a node's.
pub async fn with_node_clock_skew<F: std::future::Future>(skew_ms: i64, f: F) -> F::Output {
    crate::NODE_CLOCK_SKEW.scope(skew_ms, f).await
}

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1/test";

pub fn pg_url() -> String {
    std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub struct TestStore {
    pub store: Store,
    _guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; use a runtime of our own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(db) = Database::connect(&admin_url).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

fn secrets() -> SecretBox {
    SecretBox::new(&generate_master_key(), &[]).expect("generated key is valid")
}

pub async fn sqlite() -> TestStore {
    herald_core::tls::init();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("herald.db").display()
    );
    let store = Store::connect(&url, secrets()).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestStore {
        store,
        _guard: Guard::Sqlite(dir),
    }
}

/// A fresh, empty PostgreSQL database (dropped with the value), or `None`
/// (skipped locally, with the reason printed; a failure under `CI=true`).
pub struct PgDatabase {
    pub url: String,
    _guard: Guard,
}

pub async fn postgres_database() -> Option<PgDatabase> {
    let admin_url = pg_url();
    let admin = match Database::connect(&admin_url).await {
        Ok(db) => db,
        Err(e) => {
            let msg = format!("PostgreSQL at {admin_url} is unreachable: {e}");
            if in_ci() {
                panic!("{msg} (CI=true: PostgreSQL tests must run)");
            }
            eprintln!("SKIPPED (local run): {msg}");
            return None;
        }
    };
    let name = format!("herald_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("HERALD_TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    Some(PgDatabase {
        url: url.to_string(),
        _guard: Guard::Postgres { admin_url, name },
    })
}

/// A fresh, migrated store on its own PostgreSQL database, or `None` (see
/// [`postgres_database`]).
pub async fn postgres() -> Option<TestStore> {
    herald_core::tls::init();
    let db = postgres_database().await?;
    let store = Store::connect(&db.url, secrets())
        .await
        .expect("open test database");
    store.migrate().await.expect("migrate postgres");
    Some(TestStore {
        store,
        _guard: db._guard,
    })
}

/// Runs each listed `async fn(Store)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = $crate::testing::sqlite().await;
                    super::$name(t.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = $crate::testing::postgres().await else { return };
                    super::$name(t.store.clone()).await;
                }
            )*
        }
    };
}
