//! Connection lifecycle: a refresh lease on each connection (one refresh at a
//! time across nodes), the backoff state of failed refreshes, the instance a
//! connect flow targets, the browser it is bound to and its login attempts,
//! and the clients Herald registered at user-named
//! servers (Mastodon instances), cached per app.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    RefreshLeaseOwner,
    RefreshLeaseUntil,
    RefreshFailures,
    RefreshRetryAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Instance,
    BrowserHash,
    Attempts,
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    AppId,
    Provider,
    Instance,
    ClientId,
    ClientSecretEnc,
    RedirectUri,
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
        // SQLite adds one column per ALTER TABLE.
        for col in [
            string_null(Connections::RefreshLeaseOwner),
            big_integer_null(Connections::RefreshLeaseUntil),
            integer(Connections::RefreshFailures).default(0).to_owned(),
            big_integer_null(Connections::RefreshRetryAt),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Connections::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        for col in [
            text_null(OauthStates::Instance),
            text_null(OauthStates::BrowserHash),
            integer(OauthStates::Attempts).default(0).to_owned(),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(OauthStates::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(OauthClients::Table)
                .col(string(OauthClients::Id).primary_key())
                .col(string(OauthClients::AppId))
                .col(string(OauthClients::Provider))
                .col(string(OauthClients::Instance))
                .col(text(OauthClients::ClientId))
                .col(text(OauthClients::ClientSecretEnc))
                .col(text(OauthClients::RedirectUri))
                .col(big_integer(OauthClients::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(OauthClients::Table, OauthClients::AppId)
                        .to(Apps::Table, Apps::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_oauth_clients_instance")
                .table(OauthClients::Table)
                .col(OauthClients::AppId)
                .col(OauthClients::Provider)
                .col(OauthClients::Instance)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OauthClients::Table).to_owned())
            .await?;
        for col in [
            OauthStates::Instance,
            OauthStates::BrowserHash,
            OauthStates::Attempts,
        ] {
            m.alter_table(
                Table::alter()
                    .table(OauthStates::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for col in [
            Connections::RefreshLeaseOwner,
            Connections::RefreshLeaseUntil,
            Connections::RefreshFailures,
            Connections::RefreshRetryAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Connections::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
