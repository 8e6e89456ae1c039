//! Actions and their deliveries, written in one transaction: nothing is
//! acknowledged to a site before the action and every delivery are committed.
//! An `Idempotency-Key` makes a re-sent request return the first one's action.

use crate::entities::{actions, deliveries, delivery_attempts};
use crate::repo::deliveries::DeliveryState;
use crate::{Store, StoreError, is_unique_violation, now_ms};
use herald_core::{ActionId, AppId, DeliveryId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

/// One delivery to create with the action.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub connection_id: String,
    pub provider: String,
    pub account: String,
}

/// Filters of the admin action search.
#[derive(Clone, Debug, Default)]
pub struct ActionFilter {
    pub uid: Option<String>,
    pub provider: Option<String>,
    pub state: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

pub struct CreateAction {
    pub app_id: AppId,
    pub uid: String,
    pub idempotency_key: Option<String>,
    /// A hash of the request, to tell a retry from a different request that
    /// reuses the key.
    pub request_hash: String,
    pub payload: serde_json::Value,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Clone, Debug)]
pub struct ActionRecord {
    pub action: actions::Model,
    pub deliveries: Vec<deliveries::Model>,
}

pub enum CreateOutcome {
    Created(ActionRecord),
    /// The key was used before for the same request: the earlier action.
    Existing(ActionRecord),
    /// The key was used before for a different request.
    KeyReused,
}

impl actions::Model {
    pub fn action_id(&self) -> ActionId {
        ActionId::from_stored(self.id.clone())
    }
}

impl Store {
    pub async fn create_action(&self, new: CreateAction) -> Result<CreateOutcome, StoreError> {
        let now = now_ms();
        let action_id = ActionId::new();
        let action = actions::ActiveModel {
            id: Set(action_id.to_string()),
            app_id: Set(new.app_id.to_string()),
            uid: Set(new.uid.clone()),
            idempotency_key: Set(new.idempotency_key.clone()),
            request_hash: Set(new.request_hash.clone()),
            payload: Set(new.payload.to_string()),
            created_at: Set(now),
        };
        // The insert comes first so that SQLite takes its write lock at once.
        let txn = self.db().begin().await?;
        let action = match action.insert(&txn).await {
            Ok(a) => a,
            Err(e) if is_unique_violation(&e) && new.idempotency_key.is_some() => {
                txn.rollback().await?;
                return self.existing_action(&new).await;
            }
            Err(e) => return Err(e.into()),
        };
        let deliveries: Vec<deliveries::Model> = new
            .deliveries
            .iter()
            .map(|d| deliveries::Model {
                id: DeliveryId::new().to_string(),
                action_id: action.id.clone(),
                app_id: new.app_id.to_string(),
                connection_id: d.connection_id.clone(),
                provider: d.provider.clone(),
                account: d.account.clone(),
                state: DeliveryState::Queued.as_str().to_owned(),
                attempts: 0,
                next_attempt_at: now,
                lease_owner: None,
                lease_until: None,
                post_id: None,
                post_url: None,
                error_class: None,
                error_code: None,
                error_message: None,
                created_at: now,
                updated_at: now,
            })
            .collect();
        if !deliveries.is_empty() {
            deliveries::Entity::insert_many(
                deliveries
                    .iter()
                    .cloned()
                    .map(deliveries::ActiveModel::from),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        txn.commit().await?;
        // Built from what was written, not read back: after the commit nothing
        // may fail, or a caller could report an error for a stored action.
        Ok(CreateOutcome::Created(ActionRecord { action, deliveries }))
    }

    async fn existing_action(&self, new: &CreateAction) -> Result<CreateOutcome, StoreError> {
        let action = actions::Entity::find()
            .filter(actions::Column::AppId.eq(new.app_id.as_str()))
            .filter(actions::Column::IdempotencyKey.eq(new.idempotency_key.clone()))
            .one(self.db())
            .await?
            .ok_or_else(|| StoreError::Corrupt("idempotency key conflict without a row".into()))?;
        if action.request_hash != new.request_hash {
            return Ok(CreateOutcome::KeyReused);
        }
        let deliveries = self.deliveries_of(&action.action_id()).await?;
        Ok(CreateOutcome::Existing(ActionRecord { action, deliveries }))
    }

    /// The action, if it belongs to `app`.
    pub async fn action(
        &self,
        app: &AppId,
        id: &ActionId,
    ) -> Result<Option<ActionRecord>, StoreError> {
        let Some(action) = actions::Entity::find_by_id(id.as_str())
            .filter(actions::Column::AppId.eq(app.as_str()))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let deliveries = self.deliveries_of(id).await?;
        Ok(Some(ActionRecord { action, deliveries }))
    }

    /// An app's actions, newest first, before `cursor` (an action id), with
    /// their deliveries; filters match actions having such a delivery.
    pub async fn list_actions(
        &self,
        app: &AppId,
        f: &ActionFilter,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        use sea_orm::sea_query::{Expr, Query};
        use sea_orm::{ExprTrait, QuerySelect};
        let mut q = actions::Entity::find()
            .filter(actions::Column::AppId.eq(app.as_str()))
            .order_by_desc(actions::Column::Id)
            .limit(limit);
        if let Some(uid) = &f.uid {
            q = q.filter(actions::Column::Uid.eq(uid.as_str()));
        }
        if let Some(since) = f.since_ms {
            q = q.filter(actions::Column::CreatedAt.gte(since));
        }
        if let Some(until) = f.until_ms {
            q = q.filter(actions::Column::CreatedAt.lt(until));
        }
        if let Some(c) = cursor {
            q = q.filter(actions::Column::Id.lt(c));
        }
        if f.provider.is_some() || f.state.is_some() {
            let mut sub = Query::select();
            sub.column(deliveries::Column::ActionId)
                .from(deliveries::Entity);
            if let Some(p) = &f.provider {
                sub.and_where(Expr::col(deliveries::Column::Provider).eq(p.as_str()));
            }
            if let Some(s) = &f.state {
                sub.and_where(Expr::col(deliveries::Column::State).eq(s.as_str()));
            }
            q = q.filter(actions::Column::Id.in_subquery(sub.to_owned()));
        }
        let found = q.all(self.db()).await?;
        let mut out = Vec::with_capacity(found.len());
        for action in found {
            let deliveries = self.deliveries_of(&action.action_id()).await?;
            out.push(ActionRecord { action, deliveries });
        }
        Ok(out)
    }

    /// Any app's action (for workers).
    pub async fn action_by_id(&self, id: &str) -> Result<Option<actions::Model>, StoreError> {
        Ok(actions::Entity::find_by_id(id).one(self.db()).await?)
    }

    pub async fn deliveries_of(
        &self,
        action: &ActionId,
    ) -> Result<Vec<deliveries::Model>, StoreError> {
        Ok(deliveries::Entity::find()
            .filter(deliveries::Column::ActionId.eq(action.as_str()))
            .order_by_asc(deliveries::Column::Id)
            .all(self.db())
            .await?)
    }

    /// Every attempt of the action's deliveries, oldest first.
    pub async fn attempts_of(
        &self,
        deliveries: &[deliveries::Model],
    ) -> Result<Vec<delivery_attempts::Model>, StoreError> {
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        Ok(delivery_attempts::Entity::find()
            .filter(delivery_attempts::Column::DeliveryId.is_in(ids))
            .order_by_asc(delivery_attempts::Column::DeliveryId)
            // Time order: a redriven delivery numbers its attempts from 1 again.
            .order_by_asc(delivery_attempts::Column::StartedAt)
            .order_by_asc(delivery_attempts::Column::Attempt)
            .all(self.db())
            .await?)
    }
}
