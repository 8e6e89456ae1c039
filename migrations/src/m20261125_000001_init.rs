//! The foundation tables: apps and their keys and provider configs, users'
//! connections, actions with their deliveries and attempts, and single-use
//! nonces (JWT `jti`s).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    Name,
    ApiKey,
    SecretEnc,
    SiteUrl,
    EnabledProviders,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AppKeys {
    Table,
    Id,
    AppId,
    UserKey,
    Kind,
    SecretEnc,
    PublicKeyPem,
    Permissions,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ProviderConfigs {
    Table,
    Id,
    AppId,
    Provider,
    Enabled,
    ClientId,
    ClientSecretEnc,
    ApiBase,
    ConsentBase,
    Options,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connections {
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
    Status,
    LastRefreshAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Actions {
    Table,
    Id,
    AppId,
    Uid,
    IdempotencyKey,
    RequestHash,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    ActionId,
    AppId,
    ConnectionId,
    Provider,
    Account,
    State,
    Attempts,
    NextAttemptAt,
    LeaseOwner,
    LeaseUntil,
    PostId,
    PostUrl,
    ErrorClass,
    ErrorCode,
    ErrorMessage,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    Attempt,
    StartedAt,
    FinishedAt,
    Outcome,
    HttpStatus,
    ErrorCode,
    ErrorMessage,
}

#[derive(DeriveIden)]
enum Nonces {
    Table,
    Scope,
    Value,
    ExpiresAt,
}

fn fk(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Apps::Table)
                .col(string(Apps::Id).primary_key())
                .col(string(Apps::Name))
                .col(string_uniq(Apps::ApiKey))
                .col(text(Apps::SecretEnc))
                .col(text_null(Apps::SiteUrl))
                .col(text_null(Apps::EnabledProviders))
                .col(boolean(Apps::Disabled).default(false))
                .col(big_integer(Apps::CreatedAt))
                .col(big_integer(Apps::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AppKeys::Table)
                .col(string(AppKeys::Id).primary_key())
                .col(string(AppKeys::AppId))
                .col(string_uniq(AppKeys::UserKey))
                .col(string(AppKeys::Kind))
                .col(text_null(AppKeys::SecretEnc))
                .col(text_null(AppKeys::PublicKeyPem))
                .col(text(AppKeys::Permissions))
                .col(big_integer_null(AppKeys::RevokedAt))
                .col(big_integer(AppKeys::CreatedAt))
                .foreign_key(&mut fk(
                    (AppKeys::Table, AppKeys::AppId),
                    (Apps::Table, Apps::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ProviderConfigs::Table)
                .col(string(ProviderConfigs::Id).primary_key())
                .col(string(ProviderConfigs::AppId))
                .col(string(ProviderConfigs::Provider))
                .col(boolean(ProviderConfigs::Enabled).default(true))
                .col(string_null(ProviderConfigs::ClientId))
                .col(text_null(ProviderConfigs::ClientSecretEnc))
                .col(text_null(ProviderConfigs::ApiBase))
                .col(text_null(ProviderConfigs::ConsentBase))
                .col(text(ProviderConfigs::Options))
                .col(big_integer(ProviderConfigs::CreatedAt))
                .col(big_integer(ProviderConfigs::UpdatedAt))
                .foreign_key(&mut fk(
                    (ProviderConfigs::Table, ProviderConfigs::AppId),
                    (Apps::Table, Apps::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_provider_configs_app_provider")
                .table(ProviderConfigs::Table)
                .col(ProviderConfigs::AppId)
                .col(ProviderConfigs::Provider)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Connections::Table)
                .col(string(Connections::Id).primary_key())
                .col(string(Connections::AppId))
                .col(string(Connections::Uid))
                .col(string(Connections::Provider))
                .col(string(Connections::ProviderUid))
                .col(string_null(Connections::DisplayName))
                .col(text_null(Connections::Url))
                .col(text_null(Connections::AccessTokenEnc))
                .col(text_null(Connections::RefreshTokenEnc))
                .col(text_null(Connections::SecretEnc))
                .col(big_integer_null(Connections::ExpiresAt))
                .col(string(Connections::Status))
                .col(big_integer_null(Connections::LastRefreshAt))
                .col(text_null(Connections::LastError))
                .col(big_integer(Connections::CreatedAt))
                .col(big_integer(Connections::UpdatedAt))
                .foreign_key(&mut fk(
                    (Connections::Table, Connections::AppId),
                    (Apps::Table, Apps::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_connections_account")
                .table(Connections::Table)
                .col(Connections::AppId)
                .col(Connections::Uid)
                .col(Connections::Provider)
                .col(Connections::ProviderUid)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Actions::Table)
                .col(string(Actions::Id).primary_key())
                .col(string(Actions::AppId))
                .col(string(Actions::Uid))
                .col(string_null(Actions::IdempotencyKey))
                .col(string(Actions::RequestHash))
                .col(text(Actions::Payload))
                .col(big_integer(Actions::CreatedAt))
                .foreign_key(&mut fk(
                    (Actions::Table, Actions::AppId),
                    (Apps::Table, Apps::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_actions_idempotency")
                .table(Actions::Table)
                .col(Actions::AppId)
                .col(Actions::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .col(string(Deliveries::Id).primary_key())
                .col(string(Deliveries::ActionId))
                .col(string(Deliveries::AppId))
                .col(string(Deliveries::ConnectionId))
                .col(string(Deliveries::Provider))
                .col(string(Deliveries::Account))
                .col(string(Deliveries::State))
                .col(integer(Deliveries::Attempts).default(0))
                .col(big_integer(Deliveries::NextAttemptAt))
                .col(string_null(Deliveries::LeaseOwner))
                .col(big_integer_null(Deliveries::LeaseUntil))
                .col(text_null(Deliveries::PostId))
                .col(text_null(Deliveries::PostUrl))
                .col(string_null(Deliveries::ErrorClass))
                .col(string_null(Deliveries::ErrorCode))
                .col(text_null(Deliveries::ErrorMessage))
                .col(big_integer(Deliveries::CreatedAt))
                .col(big_integer(Deliveries::UpdatedAt))
                .foreign_key(&mut fk(
                    (Deliveries::Table, Deliveries::ActionId),
                    (Actions::Table, Actions::Id),
                ))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "ix_deliveries_due",
                [Deliveries::State, Deliveries::NextAttemptAt],
            ),
            (
                "ix_deliveries_lease",
                [Deliveries::State, Deliveries::LeaseUntil],
            ),
        ] {
            let mut idx = Index::create()
                .name(name)
                .table(Deliveries::Table)
                .to_owned();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }
        m.create_index(
            Index::create()
                .name("ix_deliveries_action")
                .table(Deliveries::Table)
                .col(Deliveries::ActionId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DeliveryAttempts::Table)
                .col(string(DeliveryAttempts::Id).primary_key())
                .col(string(DeliveryAttempts::DeliveryId))
                .col(integer(DeliveryAttempts::Attempt))
                .col(big_integer(DeliveryAttempts::StartedAt))
                .col(big_integer(DeliveryAttempts::FinishedAt))
                .col(string(DeliveryAttempts::Outcome))
                .col(integer_null(DeliveryAttempts::HttpStatus))
                .col(string_null(DeliveryAttempts::ErrorCode))
                .col(text_null(DeliveryAttempts::ErrorMessage))
                .foreign_key(&mut fk(
                    (DeliveryAttempts::Table, DeliveryAttempts::DeliveryId),
                    (Deliveries::Table, Deliveries::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_delivery_attempts_delivery")
                .table(DeliveryAttempts::Table)
                .col(DeliveryAttempts::DeliveryId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Nonces::Table)
                .col(string(Nonces::Scope))
                .col(string(Nonces::Value))
                .col(big_integer(Nonces::ExpiresAt))
                .primary_key(Index::create().col(Nonces::Scope).col(Nonces::Value))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_nonces_expiry")
                .table(Nonces::Table)
                .col(Nonces::ExpiresAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Nonces::Table.into_iden(),
            DeliveryAttempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Actions::Table.into_iden(),
            Connections::Table.into_iden(),
            ProviderConfigs::Table.into_iden(),
            AppKeys::Table.into_iden(),
            Apps::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
