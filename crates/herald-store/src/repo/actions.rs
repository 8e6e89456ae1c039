//! Actions and their deliveries, written in one transaction (the writer's
//! group commit, `repo::writer`): nothing is acknowledged to a site before the
//! action and every delivery are committed. An `Idempotency-Key` makes a
//! re-sent request return the first one's action.

use crate::entities::{actions, deliveries, delivery_attempts};
use crate::repo::writer::AcceptOutcome;
use crate::{Store, StoreError};
use herald_core::{ActionId, AppId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

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

#[derive(Debug)]
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
    /// Writes the action and its deliveries through the group-commit writer
    /// (`repo::writer`): answered once its batch committed.
    pub async fn create_action(&self, new: CreateAction) -> Result<CreateOutcome, StoreError> {
        match self.accept_action(new, None).await?.outcome {
            AcceptOutcome::Created(r) => Ok(CreateOutcome::Created(r)),
            AcceptOutcome::Existing(r) => Ok(CreateOutcome::Existing(r)),
            AcceptOutcome::KeyReused => Ok(CreateOutcome::KeyReused),
            AcceptOutcome::NonceReplayed => Err(StoreError::Corrupt(
                "an accept without a nonce was answered as a replay".into(),
            )),
        }
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
