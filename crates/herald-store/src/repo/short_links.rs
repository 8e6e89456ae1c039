//! Short links: a random code per link, resolved at `/s/{code}` with each click
//! counted.

use crate::entities::{link_clicks, short_links};
use crate::{Store, StoreError, is_unique_violation, now_ms};
use herald_core::AppId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, ExprTrait, QueryFilter, Set, TransactionTrait,
};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const CODE_LEN: usize = 8;

fn new_code() -> String {
    let bytes = rand::random::<[u8; CODE_LEN]>();
    // 62 symbols: the modulo bias is < 2 % and harmless for an unguessable id.
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

impl Store {
    pub async fn create_short_link(
        &self,
        app: &AppId,
        url: &str,
        action_id: Option<String>,
        provider: Option<String>,
    ) -> Result<short_links::Model, StoreError> {
        for _ in 0..5 {
            let row = short_links::ActiveModel {
                code: Set(new_code()),
                app_id: Set(app.to_string()),
                url: Set(url.to_owned()),
                action_id: Set(action_id.clone()),
                provider: Set(provider.clone()),
                clicks: Set(0),
                created_at: Set(now_ms()),
            };
            match row.insert(self.db()).await {
                Ok(m) => return Ok(m),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Corrupt(
            "could not find a free short-link code".into(),
        ))
    }

    /// Resolves `code` and counts the click; `None` for an unknown code.
    pub async fn follow_short_link(
        &self,
        code: &str,
        referrer: Option<String>,
    ) -> Result<Option<short_links::Model>, StoreError> {
        let Some(link) = short_links::Entity::find_by_id(code).one(self.db()).await? else {
            return Ok(None);
        };
        let txn = self.db().begin().await?;
        short_links::Entity::update_many()
            .col_expr(
                short_links::Column::Clicks,
                Expr::col(short_links::Column::Clicks).add(1),
            )
            .filter(short_links::Column::Code.eq(code))
            .exec(&txn)
            .await?;
        link_clicks::ActiveModel {
            id: Set(uuid::Uuid::now_v7().simple().to_string()),
            code: Set(code.to_owned()),
            clicked_at: Set(now_ms()),
            referrer: Set(referrer.map(|r| r.chars().take(1000).collect())),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(Some(link))
    }

    pub async fn short_link(&self, code: &str) -> Result<Option<short_links::Model>, StoreError> {
        Ok(short_links::Entity::find_by_id(code).one(self.db()).await?)
    }
}
