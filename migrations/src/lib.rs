//! Herald's schema: one migration set for SQLite and PostgreSQL. Timestamps are
//! stored as Unix milliseconds (BIGINT) so that comparisons (due retries, lease
//! expiry) behave the same on both databases.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_init;
mod m20261125_000002_short_links;
mod m20261125_000003_admin;
mod m20261125_000004_oauth_states;
mod m20261125_000005_connection_lifecycle;
mod m20261204_000006_pending_connections;
mod m20261204_000007_jobs;
mod m20261205_000008_claim_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_init::Migration),
            Box::new(m20261125_000002_short_links::Migration),
            Box::new(m20261125_000003_admin::Migration),
            Box::new(m20261125_000004_oauth_states::Migration),
            Box::new(m20261125_000005_connection_lifecycle::Migration),
            Box::new(m20261204_000006_pending_connections::Migration),
            Box::new(m20261204_000007_jobs::Migration),
            Box::new(m20261205_000008_claim_indexes::Migration),
        ]
    }
}
