//! Posting and deleting statuses, and reading the instance's length limit.
//! Images listed under `media_urls` are uploaded first ([`crate::media`]).
//!
//! `POST /api/v1/statuses` carries the delivery's `Idempotency-Key`: Mastodon
//! stores the key with the created status and answers the same status when
//! the key comes again, so re-sending after a timeout cannot post twice.
//! Caveat: the API documentation says the key is "stored for up to 1 hour",
//! so a re-send more than an hour after the first attempt could post a second
//! status; an `unknown` outcome older than that needs reconciling, not a
//! blind re-send.

use crate::render::MEDIA_URLS;
use crate::{api, media};
use herald_core::{Credential, HttpCtx, IdempotencyKey, NativePost, ProviderError, Published};
use serde::Deserialize;
use serde_json::Value;

pub const STATUSES_PATH: &str = "api/v1/statuses";
pub const INSTANCE_PATH: &str = "api/v2/instance";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The created Status (only the fields Herald keeps).
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

/// Publishes the rendered status on the account's instance (`http.api_base`).
pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    key: &IdempotencyKey,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    api::check_instance(cred, http).map_err(|e| expiring(e, cred))?;
    let token = cred.access_token()?;
    let body = with_media(&post.body, token, key, http)
        .await
        .map_err(|e| expiring(e, cred))?;
    let url = api::url(http, STATUSES_PATH).await?;
    let req = http
        .client
        .post(url)
        .header(IDEMPOTENCY_HEADER, key.as_str())
        .json(&body);
    let answer = api::send(api::authorized(req, token)?)
        .await
        .map_err(|e| expiring(e, cred))?;
    let status: Status = answer.json("status").map_err(|e| expiring(e, cred))?;
    let post_id = match status.id {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        // A 2xx without an id: the status probably exists, but Herald cannot
        // name it. Unknown → the dispatcher re-sends with the same key, which
        // returns the same status rather than a second one.
        _ => {
            return Err(ProviderError::Unknown {
                message: "the instance accepted the status but did not answer its id".into(),
            });
        }
    };
    Ok(Published {
        post_id,
        post_url: status.url.or(status.uri).filter(|u| !u.is_empty()),
    })
}

/// Mastodon tokens do not expire by default, so a refused token is revoked;
/// but a server that issued an expiring token with a refresh token gets the
/// chance to refresh it first.
fn expiring(e: ProviderError, cred: &Credential) -> ProviderError {
    match e {
        ProviderError::AuthRevoked {
            status: Some(401),
            message,
        } if cred.refresh_token.is_some() && cred.expires_at.is_some() => {
            ProviderError::AuthExpired {
                status: Some(401),
                message,
            }
        }
        other => other,
    }
}

/// The body to send: `media_urls` (Herald's key) replaced by the `media_ids`
/// of the uploaded images; any other body is sent as rendered.
async fn with_media(
    body: &Value,
    token: &str,
    key: &IdempotencyKey,
    http: &HttpCtx,
) -> Result<Value, ProviderError> {
    let Some(Value::Array(urls)) = body.get(MEDIA_URLS) else {
        return Ok(body.clone());
    };
    let mut ids = Vec::with_capacity(urls.len());
    for (i, u) in urls.iter().enumerate() {
        let src = u.as_str().ok_or_else(|| ProviderError::Rejected {
            status: None,
            code: "invalid_post".into(),
            message: format!("{MEDIA_URLS}[{i}] is not a URL"),
        })?;
        let image = media::fetch(src, http).await?;
        ids.push(Value::from(
            media::upload(&image, token, &format!("{}-{i}", key.as_str()), http).await?,
        ));
    }
    let mut out = body.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove(MEDIA_URLS);
        o.insert("media_ids".into(), Value::Array(ids));
    }
    Ok(out)
}

/// Deletes a status; one that is already gone (404) counts as deleted.
pub async fn delete(
    post: &Published,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<(), ProviderError> {
    api::check_instance(cred, http)?;
    let token = cred.access_token()?;
    let mut url = api::url(http, STATUSES_PATH).await?;
    url.path_segments_mut()
        .map_err(|()| ProviderError::Rejected {
            status: None,
            code: "invalid_instance".into(),
            message: "the instance URL cannot take a path".into(),
        })?
        // A pushed segment is percent-encoded, so an id cannot escape the path.
        .push(&post.post_id);
    let answer = api::send(api::authorized(http.client.delete(url), token)?).await?;
    if answer.status == 404 {
        return Ok(());
    }
    answer.ok()
}

#[derive(Deserialize)]
struct Instance {
    configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    statuses: Option<StatusesConfig>,
}

#[derive(Deserialize)]
struct StatusesConfig {
    max_characters: Option<usize>,
}

/// The instance's `configuration.statuses.max_characters` from
/// `GET /api/v2/instance` (public, no token), for Herald to cache and hand to
/// `render` as `AccountInfo::max_text`. `None` when the instance does not say.
pub async fn max_characters(http: &HttpCtx) -> Result<Option<usize>, ProviderError> {
    let url = api::url(http, INSTANCE_PATH).await?;
    let answer = api::send(http.client.get(url)).await?;
    let i: Instance = answer.json("instance")?;
    Ok(i.configuration
        .and_then(|c| c.statuses)
        .and_then(|s| s.max_characters)
        .filter(|n| *n > 0))
}
