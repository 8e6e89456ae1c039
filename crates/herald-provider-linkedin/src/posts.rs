//! Creating and deleting posts with the Posts API
//! (learn.microsoft.com/linkedin/marketing/community-management/shares/
//! posts-api):
//!
//! - `POST {api_base}/rest/posts` with the rendered body, `Content-Type:
//!   application/json` and the versioned Rest.li headers. Success is `201
//!   Created` with no body; the new post's URN (`urn:li:share:…` or
//!   `urn:li:ugcPost:…`) is in the `x-restli-id` response header. Its page
//!   is `https://www.linkedin.com/feed/update/{urn}/`.
//! - `DELETE {api_base}/rest/posts/{url-encoded urn}` with
//!   `X-RestLi-Method: DELETE` → `204 No Content`. Deleting is idempotent;
//!   a post already gone (404) counts as deleted.
//!
//! LinkedIn honours no idempotency key, so a create whose answer was lost is
//! `Unknown` (never blindly re-sent), and so is a 2xx that does not name the
//! post.

use crate::api;
use crate::render::person_urn;
use herald_core::{Credential, HttpCtx, NativePost, ProviderError, Published};
use serde_json::Value;

pub const POSTS_PATH: &str = "rest/posts";
pub const METHOD_HEADER: &str = "X-RestLi-Method";
/// Where a post is shown; the URN goes in as is (LinkedIn's own share links
/// have this form).
pub const FEED_UPDATE_URL: &str = "https://www.linkedin.com/feed/update/";

/// The post's public page.
pub fn post_url(urn: &str) -> String {
    format!("{FEED_UPDATE_URL}{urn}/")
}

/// Publishes the rendered post as the credential's member.
pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    let token = cred.access_token()?;
    if cred.provider_uid.trim().is_empty() {
        return Err(ProviderError::AuthRevoked {
            status: None,
            message: "the connection has no LinkedIn member id; the user must reconnect".into(),
        });
    }
    let mut body = post.body.clone();
    match body.as_object_mut() {
        // The credential's member is the author, whatever the preview knew.
        Some(o) => {
            o.insert("author".into(), Value::from(person_urn(&cred.provider_uid)));
        }
        None => {
            return Err(ProviderError::Rejected {
                status: None,
                code: "invalid_post".into(),
                message: "the post body is not a JSON object".into(),
            });
        }
    }
    let req = http.client.post(http.api_url(POSTS_PATH)).json(&body);
    let answer = api::send(api::rest(req, token, http)?).await?;
    answer.ok()?;
    match answer.restli_id {
        Some(urn) => Ok(Published {
            post_url: Some(post_url(&urn)),
            post_id: urn,
        }),
        // The post probably exists, but Herald cannot name it: reconcile
        // rather than re-send (LinkedIn has no idempotency key).
        None => Err(ProviderError::Unknown {
            message: format!(
                "LinkedIn accepted the post (HTTP {}) but sent no x-restli-id naming it",
                answer.status
            ),
        }),
    }
}

/// Deletes a post by its URN; one already gone counts as deleted.
pub async fn delete(
    post: &Published,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<(), ProviderError> {
    let token = cred.access_token()?;
    let urn = post.post_id.trim();
    if urn.is_empty() {
        return Err(ProviderError::Rejected {
            status: None,
            code: "invalid_post_id".into(),
            message: "the post has no LinkedIn URN to delete".into(),
        });
    }
    let url = http.api_url(&format!("{POSTS_PATH}/{}", api::encode_urn(urn)));
    let req = http.client.delete(url).header(METHOD_HEADER, "DELETE");
    let answer = api::send(api::rest(req, token, http)?).await?;
    if answer.status == 404 {
        return Ok(());
    }
    answer.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_urls() {
        assert_eq!(
            post_url("urn:li:share:6844785523593134080"),
            "https://www.linkedin.com/feed/update/urn:li:share:6844785523593134080/"
        );
    }
}
