//! Creating and deleting posts (docs.x.com, X API v2 "Manage Posts":
//! `POST /2/tweets` with `Authorization: Bearer <user token>` and a JSON
//! body → 201 `{"data": {"id", "text"}}`; `DELETE /2/tweets/:id` →
//! `{"data": {"deleted": true}}`).
//!
//! X has no idempotency key: a request that timed out after it left may
//! have posted, so it is `Unknown` and the dispatcher reconciles instead of
//! re-posting. (Re-sending the same text would most likely be refused as
//! duplicate content anyway, which is `Rejected` `duplicate`.)

use crate::api;
use herald_core::{Credential, HttpCtx, NativePost, ProviderError, Published};
use serde::Deserialize;

pub const TWEETS_PATH: &str = "2/tweets";
/// Where a post is seen, whoever its author: `https://x.com/i/status/<id>`.
pub const POST_URL_PREFIX: &str = "https://x.com/i/status/";

#[derive(Deserialize)]
struct Created {
    data: Option<CreatedData>,
}

#[derive(Deserialize)]
struct CreatedData {
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Deleted {
    data: Option<DeletedData>,
}

#[derive(Deserialize)]
struct DeletedData {
    deleted: Option<bool>,
}

/// Publishes the rendered body as the credential's account.
pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    let token = cred.access_token()?;
    let url = api::url(http, TWEETS_PATH)?;
    let req = api::authorized(http.client.post(url).json(&post.body), token)?;
    let answer = api::send(req).await?;
    let created: Created = answer.json("create post")?;
    let post_id = match created.data.and_then(|d| d.id) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        // A 2xx without an id: the post probably exists, but Herald cannot
        // name it. Unknown → reconciled, never blindly re-posted.
        _ => {
            return Err(ProviderError::Unknown {
                message: "X accepted the post but did not answer its id".into(),
            });
        }
    };
    Ok(Published {
        post_url: Some(format!("{POST_URL_PREFIX}{post_id}")),
        post_id,
    })
}

/// Deletes a post; one that is already gone (404) counts as deleted.
pub async fn delete(
    post: &Published,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<(), ProviderError> {
    let token = cred.access_token()?;
    let mut url = api::url(http, TWEETS_PATH)?;
    url.path_segments_mut()
        .map_err(|()| ProviderError::Unsupported {
            message: "the X API base cannot take a path".into(),
        })?
        // A pushed segment is percent-encoded, so an id cannot escape the path.
        .push(&post.post_id);
    let answer = api::send(api::authorized(http.client.delete(url), token)?).await?;
    if answer.status == 404 {
        return Ok(());
    }
    let d: Deleted = answer.json("delete post")?;
    match d.data.and_then(|d| d.deleted) {
        Some(true) => Ok(()),
        _ => Err(ProviderError::Rejected {
            status: Some(answer.status),
            code: "not_deleted".into(),
            message: "X did not confirm the post was deleted".into(),
        }),
    }
}
