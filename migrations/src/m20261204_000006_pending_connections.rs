//! Connections a connect flow obtained but the site has not confirmed yet:
//! held apart from `connections` (never listed as active, published to or
//! refreshed, and never replacing an active connection's tokens) until the
//! site's backend redeems the flow's one-time code for the uid it expects.
//! Only the code's SHA-256 is stored.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingConnections {
    Table,
    Id,
    AppId,
    Uid,
    Provider,
    ProviderUid,
    DisplayName,
    Url,
    AccessTokenEnc,
    RefreshTokenEnc,
    SecretEnc,
    ExpiresAt,
    CodeHash,
    CodeExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PendingConnections::Table)
                .col(string(PendingConnections::Id).primary_key())
                .col(string(PendingConnections::AppId))
                .col(string(PendingConnections::Uid))
                .col(string(PendingConnections::Provider))
                .col(string(PendingConnections::ProviderUid))
                .col(text_null(PendingConnections::DisplayName))
                .col(text_null(PendingConnections::Url))
                .col(text_null(PendingConnections::AccessTokenEnc))
                .col(text_null(PendingConnections::RefreshTokenEnc))
                .col(text_null(PendingConnections::SecretEnc))
                .col(big_integer_null(PendingConnections::ExpiresAt))
                .col(string(PendingConnections::CodeHash))
                .col(big_integer(PendingConnections::CodeExpiresAt))
                .col(big_integer(PendingConnections::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(PendingConnections::Table, PendingConnections::AppId)
                        .to(Apps::Table, Apps::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pending_connections_code")
                .table(PendingConnections::Table)
                .col(PendingConnections::CodeHash)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pending_connections_expiry")
                .table(PendingConnections::Table)
                .col(PendingConnections::CodeExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PendingConnections::Table).to_owned())
            .await
    }
}
