//! Publishing a Live Connect v5.0 share: `POST {api_base}/v5.0/me/share` with an
//! OAuth 2.0 bearer token. The token goes in the header, never in the URL, so
//! it cannot end up in a logged address.

use crate::answer::{self, authorization};
use crate::errors::redact;
use herald_core::{Credential, HttpCtx, IdempotencyKey, NativePost, ProviderError, Published};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};

/// The share endpoint, relative to the API base.
pub const SHARE_PATH: &str = "v5.0/me/share";

/// Posts the rendered share.
pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    key: &IdempotencyKey,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    let token = cred.access_token()?;
    let req = http
        .client
        .post(http.api_url(SHARE_PATH))
        .header(AUTHORIZATION, authorization(&format!("Bearer {token}"))?)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(post.body.to_string());
    let answer = answer::send(req).await.map_err(|e| redact(e, token))?;
    answer::published(&answer, key).map_err(|e| redact(e, token))
}
