//! Herald's storage: sea-orm over SQLite (embedded default) or PostgreSQL, one
//! migration set for both, repositories per resource, the delivery queue's
//! claim/lease queries, and encryption of secrets at rest.

pub mod crypto;
pub mod entities;
pub mod repo;
pub mod testing;

use herald_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};
use std::sync::Arc;
use std::time::Duration;

pub use crypto::{CryptoError, Place, SecretBox, generate_master_key};
pub use repo::actions::{ActionFilter, ActionRecord, CreateAction, CreateOutcome, NewDelivery};
pub use repo::apps::{AppPatch, CreatedApp, NewApp};
pub use repo::connections::{ConnectionStatus, ConnectionUpsert, RefreshOutcome, fits_cap};
pub use repo::deliveries::{AttemptRecord, DeliveryState, DeliveryUpdate};
pub use repo::pending_connections::Redeemed;
pub use repo::queue_stats::{QueueStats, oldest_due_age_seconds};
pub use repo::rotation::{ENCRYPTED_COLUMNS, RotationReport};
pub use repo::writer::{AcceptOutcome, BatchInfo, Committed, Nonce, WriterHold};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("secret decryption failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Milliseconds since the Unix epoch, the unit of every stored timestamp:
/// this node's clock (shifted inside [`testing::with_node_clock_skew`]).
/// Leases and due times are compared with the database's clock instead.
pub fn now_ms() -> i64 {
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    now + NODE_CLOCK_SKEW.try_with(|s| *s).unwrap_or(0)
}

tokio::task_local! {
    /// A test's pretend error of this node's clock, in ms.
    pub(crate) static NODE_CLOCK_SKEW: i64;
}

/// The database and the master key: everything that reads or writes state.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Swappable, so a running node can load rotated keys.
    secrets: Arc<std::sync::RwLock<Arc<SecretBox>>>,
    /// SQLite has one writer: the hot write paths (group commits, claims)
    /// queue here, in order, instead of sleeping in SQLite's busy handler.
    /// `None` on PostgreSQL, where writers run in parallel.
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The group-commit writer of accepts and nonces (`repo::writer`), one
    /// per database: shared by this store's clones.
    writer: Arc<repo::writer::Writer>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). SQLite runs in WAL
    /// mode with a busy timeout so API and workers can share the file.
    pub async fn connect(url: &str, secrets: SecretBox) -> Result<Store, StoreError> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        if url.starts_with("sqlite:") {
            create_private_sqlite_file(url)?;
            opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
        } else {
            opts.max_connections(32);
        }
        let db = Database::connect(opts).await?;
        let write_gate = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        let writer = Arc::new(repo::writer::Writer::new(db.clone(), write_gate.clone()));
        Ok(Store {
            db,
            secrets: Arc::new(std::sync::RwLock::new(Arc::new(secrets))),
            write_gate,
            writer,
        })
    }

    /// The same database under other keys (a master-key rotation).
    pub fn with_secrets(&self, secrets: SecretBox) -> Store {
        Store {
            db: self.db.clone(),
            secrets: Arc::new(std::sync::RwLock::new(Arc::new(secrets))),
            write_gate: self.write_gate.clone(),
            writer: self.writer.clone(),
        }
    }

    /// Replaces the keys of this store (and of its clones): a rotated master
    /// key loaded by a running node.
    pub fn replace_secrets(&self, secrets: SecretBox) {
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(secrets);
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Ready = the database answers and every migration is applied.
    pub async fn readiness(&self) -> Result<(), String> {
        self.db.ping().await.map_err(|e| format!("database: {e}"))?;
        let pending = Migrator::get_pending_migrations(&self.db)
            .await
            .map_err(|e| format!("migrations: {e}"))?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("{} migrations pending", pending.len()))
        }
    }

    /// Held across one write transaction on a hot path (see `write_gate`).
    pub async fn write_gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(g) => Some(g.clone().lock_owned().await),
            None => None,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn secrets(&self) -> Arc<SecretBox> {
        self.secrets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Creates a missing SQLite database file readable and writable by its owner
/// only (0600, like the key files), before SQLite opens it: SQLite gives the
/// `-wal`, `-shm` and `-journal` files it creates later the mode of the
/// database file, so tokens never sit in a group- or world-readable file,
/// whatever the process umask. An existing file keeps the mode it has.
fn create_private_sqlite_file(url: &str) -> Result<(), StoreError> {
    use sea_orm::sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(());
    }
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| DbErr::Custom(format!("database URL: {e}")))?;
    let path = opts.get_filename();
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(DbErr::Custom(format!("creating {}: {e}", path.display())).into()),
    }
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
