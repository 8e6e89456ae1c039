//! Response shapes of the native API (never carrying tokens or secrets).

use herald_store::entities::{connections, deliveries, delivery_attempts};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

pub fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Why a delivery failed (or is being retried).
#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    /// `rate_limited`, `transient`, `unknown`, `auth_expired`, `auth_revoked`,
    /// `rejected`, `unsupported`.
    pub class: String,
    /// The network's or Herald's code.
    pub code: String,
    pub message: String,
}

/// One attempt at a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first.
    pub attempt: i32,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One network's delivery of an action.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub provider: String,
    /// The account on the network.
    pub account: String,
    /// `queued`, `sending`, `published`, `failed`, `unknown`, `deleted`.
    pub state: String,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_url: Option<String>,
    /// When a `queued` delivery is due (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
    /// Every attempt (when one action is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<AttemptView>>,
}

impl DeliveryView {
    pub fn new(d: &deliveries::Model, history: Option<&[delivery_attempts::Model]>) -> Self {
        let queued = d.state == "queued";
        DeliveryView {
            id: d.id.clone(),
            provider: d.provider.clone(),
            account: d.account.clone(),
            state: d.state.clone(),
            attempts: d.attempts,
            post_id: d.post_id.clone(),
            post_url: d.post_url.clone(),
            next_attempt_at: queued.then(|| iso(d.next_attempt_at)),
            error: d.error_code.as_ref().map(|code| ErrorView {
                class: d.error_class.clone().unwrap_or_default(),
                code: code.clone(),
                message: d.error_message.clone().unwrap_or_default(),
            }),
            history: history.map(|all| {
                all.iter()
                    .filter(|a| a.delivery_id == d.id)
                    .map(|a| AttemptView {
                        attempt: a.attempt,
                        started_at: iso(a.started_at),
                        finished_at: iso(a.finished_at),
                        outcome: a.outcome.clone(),
                        http_status: a.http_status,
                        error_code: a.error_code.clone(),
                        error: a.error_message.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// A user's connected account (never its tokens).
#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub provider_uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `active`, `needs_reauth` or `revoked`.
    pub status: String,
    pub has_refresh_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refresh_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Only for credentials with the `connections` permission (it carries a
    /// live connect token), when the user must act (`needs_reauth`, `revoked`): a connect flow for
    /// them with a connect token valid 10 minutes; the site may append
    /// `redirect_uri` and `state` (default: back to the app's site URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&connections::Model> for ConnectionView {
    fn from(c: &connections::Model) -> Self {
        ConnectionView {
            id: c.id.clone(),
            provider: c.provider.clone(),
            provider_uid: c.provider_uid.clone(),
            display_name: c.display_name.clone(),
            url: c.url.clone(),
            status: c.status.clone(),
            has_refresh_token: c.refresh_token_enc.is_some(),
            expires_at: c.expires_at.map(iso),
            last_refresh_at: c.last_refresh_at.map(iso),
            last_error: c.last_error.clone(),
            reconnect_url: None,
            created_at: iso(c.created_at),
            updated_at: iso(c.updated_at),
        }
    }
}
