//! Connect-flow state: one row per started flow (random state, the app and
//! user it binds, where to send the browser back, the PKCE verifier), single
//! use and short-lived.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    State,
    AppId,
    Uid,
    Provider,
    RedirectUri,
    ClientState,
    PkceVerifierEnc,
    ExpiresAt,
    UsedAt,
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
                .table(OauthStates::Table)
                .col(string(OauthStates::State).primary_key())
                .col(string(OauthStates::AppId))
                .col(string(OauthStates::Uid))
                .col(string(OauthStates::Provider))
                .col(text(OauthStates::RedirectUri))
                .col(text_null(OauthStates::ClientState))
                .col(text_null(OauthStates::PkceVerifierEnc))
                .col(big_integer(OauthStates::ExpiresAt))
                .col(big_integer_null(OauthStates::UsedAt))
                .col(big_integer(OauthStates::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(OauthStates::Table, OauthStates::AppId)
                        .to(Apps::Table, Apps::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OauthStates::Table).to_owned())
            .await
    }
}
