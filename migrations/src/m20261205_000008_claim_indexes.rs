//! Partial indexes for the delivery claims: due queued rows per app (the fair
//! claim probes each app's oldest due row) and running leases (expired-lease
//! reclaim). Finished deliveries are in neither, so a claim's cost does not
//! grow with them. They replace the `(state, …)` indexes of the first
//! migration, which held every finished row too.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for sql in [
            "CREATE INDEX ix_deliveries_queued ON deliveries (app_id, next_attempt_at) \
             WHERE state = 'queued'",
            "CREATE INDEX ix_deliveries_sending ON deliveries (lease_until) \
             WHERE state = 'sending'",
            "DROP INDEX ix_deliveries_due",
            "DROP INDEX ix_deliveries_lease",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for sql in [
            "CREATE INDEX ix_deliveries_due ON deliveries (state, next_attempt_at)",
            "CREATE INDEX ix_deliveries_lease ON deliveries (state, lease_until)",
            "DROP INDEX ix_deliveries_queued",
            "DROP INDEX ix_deliveries_sending",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
