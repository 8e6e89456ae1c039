//! The admin API's tables and columns: app domains and secret rotation with a
//! grace period, named activity templates, and the admin audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    Domains,
    PreviousSecretEnc,
    PreviousSecretUntil,
}

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    AppId,
    Name,
    Text,
    PerProvider,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AdminAudit {
    Table,
    Id,
    At,
    Actor,
    Role,
    Action,
    AppId,
    Target,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for col in [
            text(Apps::Domains).default("[]").to_owned(),
            text_null(Apps::PreviousSecretEnc).to_owned(),
            big_integer_null(Apps::PreviousSecretUntil).to_owned(),
        ] {
            m.alter_table(Table::alter().table(Apps::Table).add_column(col).to_owned())
                .await?;
        }
        m.create_table(
            Table::create()
                .table(Templates::Table)
                .col(string(Templates::Id).primary_key())
                .col(string(Templates::AppId))
                .col(string(Templates::Name))
                .col(text(Templates::Text))
                .col(text(Templates::PerProvider))
                .col(big_integer(Templates::CreatedAt))
                .col(big_integer(Templates::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Templates::Table, Templates::AppId)
                        .to(Apps::Table, Apps::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_templates_app_name")
                .table(Templates::Table)
                .col(Templates::AppId)
                .col(Templates::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AdminAudit::Table)
                .col(string(AdminAudit::Id).primary_key())
                .col(big_integer(AdminAudit::At))
                .col(string(AdminAudit::Actor))
                .col(string(AdminAudit::Role))
                .col(string(AdminAudit::Action))
                .col(string_null(AdminAudit::AppId))
                .col(string_null(AdminAudit::Target))
                .col(text_null(AdminAudit::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_admin_audit_app")
                .table(AdminAudit::Table)
                .col(AdminAudit::AppId)
                .col(AdminAudit::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AdminAudit::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Templates::Table).to_owned())
            .await?;
        for col in [
            Apps::Domains,
            Apps::PreviousSecretEnc,
            Apps::PreviousSecretUntil,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
