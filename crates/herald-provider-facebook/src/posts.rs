//! Publishing and deleting Page posts (Pages API, "Posts":
//! developers.facebook.com/docs/pages-api/posts).
//!
//! `POST /{version}/{page-id}/feed` with a JSON body of the rendered
//! `message`/`link` plus the Page token parameters answers
//! `{"id":"{page-id}_{post-id}"}`; the post is then at
//! `https://www.facebook.com/{page-id}_{post-id}`.
//! `DELETE /{version}/{page-id}_{post-id}?access_token=…` answers
//! `{"success":true}`.
//!
//! Facebook has no idempotency key: a publish whose answer was lost leaves
//! the outcome `Unknown` (never blindly re-sent), and a 2xx Herald cannot
//! read is `Unknown` too — the post most likely exists. A second identical
//! post is refused by Facebook itself (code 506, `Rejected` `duplicate`).

use crate::api;
use crate::errors::{GraphError, redact};
use herald_core::{Credential, HttpCtx, NativePost, ProviderError, Published};
use serde::Deserialize;
use serde_json::Value;

/// Where a post id is shown on the web.
pub const WEB_BASE: &str = "https://www.facebook.com/";

/// The Page id a credential is keyed by: Facebook ids are digits.
pub fn page_id(cred: &Credential) -> Result<&str, ProviderError> {
    let id = cred.provider_uid.trim();
    if is_graph_id(id) {
        Ok(id)
    } else {
        Err(ProviderError::Rejected {
            status: None,
            code: "invalid_page_id".into(),
            message: format!("{id:?} is not a Facebook Page id; nothing was sent"),
        })
    }
}

/// Digits, as Graph object ids are.
pub fn is_graph_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `https://www.facebook.com/{id}` for a `{page-id}_{post-id}` id.
pub fn post_url(id: &str) -> Option<String> {
    let (page, post) = id.split_once('_')?;
    (is_graph_id(page) && is_graph_id(post)).then(|| format!("{WEB_BASE}{id}"))
}

#[derive(Deserialize)]
struct Created {
    #[serde(default)]
    id: Option<Value>,
}

/// Publishes the rendered post on the credential's Page.
pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    let token = cred.access_token()?;
    let page = page_id(cred)?;
    let Some(fields) = post.body.as_object() else {
        return Err(ProviderError::Rejected {
            status: None,
            code: "invalid_post".into(),
            message: "the rendered post is not a JSON object".into(),
        });
    };
    let mut body = fields.clone();
    for (k, v) in api::token_params(token, http) {
        body.insert(k.into(), v.into());
    }
    let url = api::graph_url(http, &[page, "feed"])?;
    let scrub = |e: ProviderError| redact(e, token);
    let answer = api::send(http.client.post(url).json(&body))
        .await
        .map_err(scrub)?;
    if !answer.is_success() {
        return Err(scrub(answer.error()));
    }
    let id = serde_json::from_str::<Created>(&answer.body)
        .ok()
        .and_then(|c| match c.id {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
    let Some(post_id) = id else {
        // A 2xx without an id: the post probably exists, but Herald cannot
        // name it, and re-sending could post it twice.
        return Err(ProviderError::Unknown {
            message: format!(
                "Facebook accepted the post (HTTP {}) but did not answer its id",
                answer.status
            ),
        });
    };
    Ok(Published {
        post_url: post_url(&post_id),
        post_id,
    })
}

#[derive(Deserialize)]
struct Deleted {
    #[serde(default)]
    success: Option<bool>,
}

/// Deletes a post. One that no longer exists (code 100, subcode 33 "Object
/// … does not exist") counts as deleted.
pub async fn delete(
    post: &Published,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<(), ProviderError> {
    let token = cred.access_token()?;
    let url = api::graph_url(http, &[post.post_id.trim()])?;
    let scrub = |e: ProviderError| redact(e, token);
    let answer = api::send(
        http.client
            .delete(url)
            .query(&api::token_params(token, http)),
    )
    .await
    .map_err(scrub)?;
    if !answer.is_success() {
        let gone = GraphError::parse(&answer.body)
            .is_some_and(|g| g.code == Some(100) && g.subcode == Some(33));
        return if gone {
            Ok(())
        } else {
            Err(scrub(answer.error()))
        };
    }
    match serde_json::from_str::<Deleted>(&answer.body).map(|d| d.success) {
        Ok(Some(true)) => Ok(()),
        _ => Err(ProviderError::Rejected {
            status: Some(answer.status),
            code: "not_deleted".into(),
            message: "Facebook did not confirm the deletion (no \"success\": true)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_urls() {
        assert!(is_graph_id("1234567890"));
        assert!(!is_graph_id(""));
        assert!(!is_graph_id("12a"));
        assert!(!is_graph_id("1/2"));
        assert_eq!(
            post_url("101_202").as_deref(),
            Some("https://www.facebook.com/101_202")
        );
        assert_eq!(post_url("101"), None);
        assert_eq!(post_url("101_2/x"), None);
        let cred = |uid: &str| Credential {
            provider_uid: uid.into(),
            ..Credential::default()
        };
        assert_eq!(page_id(&cred(" 42 ")).unwrap(), "42");
        assert_eq!(page_id(&cred("me")).unwrap_err().code(), "invalid_page_id");
    }
}
