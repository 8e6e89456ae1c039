//! Deliveries: their states, the outcome of an attempt, redrive. Claims and
//! leases (how a worker comes to hold a delivery) are in [`super::claims`].

use crate::entities::{deliveries, delivery_attempts};
use crate::{Store, StoreError, now_ms};
use herald_core::{AttemptId, DeliveryId};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its (next) attempt at `next_attempt_at`.
    Queued,
    /// Leased by a worker that is sending it.
    Sending,
    Published,
    /// Permanently failed (or out of attempts); an operator may redrive it.
    Failed,
    /// The request left but no answer came, on a network without idempotency:
    /// never re-sent automatically.
    Unknown,
    Deleted,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Published => "published",
            DeliveryState::Failed => "failed",
            DeliveryState::Unknown => "unknown",
            DeliveryState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => DeliveryState::Queued,
            "sending" => DeliveryState::Sending,
            "published" => DeliveryState::Published,
            "failed" => DeliveryState::Failed,
            "unknown" => DeliveryState::Unknown,
            "deleted" => DeliveryState::Deleted,
            _ => return None,
        })
    }

    /// No worker will touch it again on its own.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Published
                | DeliveryState::Failed
                | DeliveryState::Unknown
                | DeliveryState::Deleted
        )
    }
}

impl deliveries::Model {
    pub fn delivery_id(&self) -> DeliveryId {
        DeliveryId::from_stored(self.id.clone())
    }

    pub fn state(&self) -> DeliveryState {
        DeliveryState::parse(&self.state).unwrap_or(DeliveryState::Failed)
    }
}

/// Where an attempt leaves the delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryUpdate {
    Published {
        post_id: String,
        post_url: Option<String>,
    },
    Retry {
        at_ms: i64,
        error: ErrorInfo,
    },
    Failed {
        error: ErrorInfo,
    },
    Unknown {
        error: ErrorInfo,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub class: String,
    pub code: String,
    pub message: String,
}

/// The audit row of one attempt.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub attempt: i32,
    pub started_at: i64,
    pub finished_at: i64,
    /// `published`, `retry`, `failed`, `unknown`, `refreshed`, `lease_expired`.
    pub outcome: String,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl Store {
    /// Records an attempt and moves the delivery on, releasing the lease. The
    /// update only applies while `owner` still holds the lease; `false` when
    /// it was lost (the attempt is still recorded for the audit trail).
    pub async fn finish_attempt(
        &self,
        id: &DeliveryId,
        owner: &str,
        attempt: AttemptRecord,
        update: DeliveryUpdate,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let txn = self.db().begin().await?;
        let q = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                deliveries::Column::LeaseUntil,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Id.eq(id.as_str()))
            .filter(deliveries::Column::LeaseOwner.eq(owner))
            .filter(deliveries::Column::State.eq(DeliveryState::Sending.as_str()));
        let set_error = |q: sea_orm::UpdateMany<deliveries::Entity>, e: Option<&ErrorInfo>| {
            q.col_expr(
                deliveries::Column::ErrorClass,
                Expr::value(e.map(|e| e.class.clone())),
            )
            .col_expr(
                deliveries::Column::ErrorCode,
                Expr::value(e.map(|e| e.code.clone())),
            )
            .col_expr(
                deliveries::Column::ErrorMessage,
                Expr::value(e.map(|e| e.message.clone())),
            )
        };
        let state = |s: DeliveryState| Expr::value(s.as_str());
        let q = match &update {
            DeliveryUpdate::Published { post_id, post_url } => set_error(q, None)
                .col_expr(deliveries::Column::State, state(DeliveryState::Published))
                .col_expr(deliveries::Column::PostId, Expr::value(post_id.clone()))
                .col_expr(deliveries::Column::PostUrl, Expr::value(post_url.clone())),
            DeliveryUpdate::Retry { at_ms, error } => set_error(q, Some(error))
                .col_expr(deliveries::Column::State, state(DeliveryState::Queued))
                .col_expr(deliveries::Column::NextAttemptAt, Expr::value(*at_ms)),
            DeliveryUpdate::Failed { error } => set_error(q, Some(error))
                .col_expr(deliveries::Column::State, state(DeliveryState::Failed)),
            DeliveryUpdate::Unknown { error } => set_error(q, Some(error))
                .col_expr(deliveries::Column::State, state(DeliveryState::Unknown)),
        };
        let applied = q.exec(&txn).await?.rows_affected == 1;
        delivery_attempts::ActiveModel {
            id: Set(AttemptId::new().to_string()),
            delivery_id: Set(id.to_string()),
            attempt: Set(attempt.attempt),
            started_at: Set(attempt.started_at),
            finished_at: Set(attempt.finished_at),
            outcome: Set(attempt.outcome),
            http_status: Set(attempt.http_status.map(i32::from)),
            error_code: Set(attempt.error_code),
            error_message: Set(attempt.error_message),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(applied)
    }

    /// Records an attempt row without changing the delivery (e.g. the first,
    /// expired-token attempt before a refresh and retry).
    pub async fn record_attempt(
        &self,
        id: &DeliveryId,
        attempt: AttemptRecord,
    ) -> Result<(), StoreError> {
        delivery_attempts::ActiveModel {
            id: Set(AttemptId::new().to_string()),
            delivery_id: Set(id.to_string()),
            attempt: Set(attempt.attempt),
            started_at: Set(attempt.started_at),
            finished_at: Set(attempt.finished_at),
            outcome: Set(attempt.outcome),
            http_status: Set(attempt.http_status.map(i32::from)),
            error_code: Set(attempt.error_code),
            error_message: Set(attempt.error_message),
        }
        .insert(self.db())
        .await?;
        Ok(())
    }

    /// Puts a `failed` or `unknown` delivery of `app` back in the queue, due
    /// now, with a fresh attempt budget. `Ok(None)` when the app has no such
    /// delivery; `Err`-free `Some(false)` when it is not in a redrivable state.
    pub async fn redrive(&self, app: &str, id: &DeliveryId) -> Result<Option<bool>, StoreError> {
        let now = now_ms();
        let r = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::State,
                Expr::value(DeliveryState::Queued.as_str()),
            )
            .col_expr(deliveries::Column::NextAttemptAt, Expr::value(now))
            .col_expr(deliveries::Column::Attempts, Expr::value(0))
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
            .filter(deliveries::Column::Id.eq(id.as_str()))
            .filter(deliveries::Column::AppId.eq(app))
            .filter(deliveries::Column::State.is_in([
                DeliveryState::Failed.as_str(),
                DeliveryState::Unknown.as_str(),
            ]))
            .exec(self.db())
            .await?;
        if r.rows_affected == 1 {
            return Ok(Some(true));
        }
        let exists = deliveries::Entity::find_by_id(id.as_str())
            .filter(deliveries::Column::AppId.eq(app))
            .one(self.db())
            .await?
            .is_some();
        Ok(exists.then_some(false))
    }

    pub async fn delivery(&self, id: &DeliveryId) -> Result<Option<deliveries::Model>, StoreError> {
        Ok(deliveries::Entity::find_by_id(id.as_str())
            .one(self.db())
            .await?)
    }
}
