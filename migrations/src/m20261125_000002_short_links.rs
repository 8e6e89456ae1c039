//! Short links served at `/s/{code}` (Gigya `socialize.shortenURL`, and
//! `shortURLs=always` on publish) and their clicks.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ShortLinks {
    Table,
    Code,
    AppId,
    Url,
    ActionId,
    Provider,
    Clicks,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LinkClicks {
    Table,
    Id,
    Code,
    ClickedAt,
    Referrer,
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
                .table(ShortLinks::Table)
                .col(string(ShortLinks::Code).primary_key())
                .col(string(ShortLinks::AppId))
                .col(text(ShortLinks::Url))
                .col(string_null(ShortLinks::ActionId))
                .col(string_null(ShortLinks::Provider))
                .col(big_integer(ShortLinks::Clicks).default(0))
                .col(big_integer(ShortLinks::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ShortLinks::Table, ShortLinks::AppId)
                        .to(Apps::Table, Apps::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LinkClicks::Table)
                .col(string(LinkClicks::Id).primary_key())
                .col(string(LinkClicks::Code))
                .col(big_integer(LinkClicks::ClickedAt))
                .col(text_null(LinkClicks::Referrer))
                .foreign_key(
                    ForeignKey::create()
                        .from(LinkClicks::Table, LinkClicks::Code)
                        .to(ShortLinks::Table, ShortLinks::Code)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_link_clicks_code")
                .table(LinkClicks::Table)
                .col(LinkClicks::Code)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LinkClicks::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ShortLinks::Table).to_owned())
            .await
    }
}
