//! Background jobs that must run once across nodes (retention): one row per
//! job with a lease (who runs it, until when) and when it last finished.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Name,
    LeaseOwner,
    LeaseUntil,
    LastRunAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(string(Jobs::Name).primary_key())
                .col(string_null(Jobs::LeaseOwner))
                .col(big_integer_null(Jobs::LeaseUntil))
                .col(big_integer_null(Jobs::LastRunAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}
