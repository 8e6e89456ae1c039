//! Writing posts: `com.atproto.repo.putRecord` under a record key derived from
//! the delivery (see [`crate::tid`]), so a re-send writes the same record again
//! (a no-op at the PDS) instead of a second post; and
//! `com.atproto.repo.deleteRecord`, which the PDS answers with 200 even when
//! the record is already gone.

use crate::errors::Call;
use crate::render::{POST_KIND, POST_TYPE};
use crate::tid;
use crate::xrpc;
use herald_core::{Credential, HttpCtx, IdempotencyKey, NativePost, ProviderError, Published};
use serde_json::{Value, json};

pub const PUT_RECORD: &str = "xrpc/com.atproto.repo.putRecord";
pub const DELETE_RECORD: &str = "xrpc/com.atproto.repo.deleteRecord";
/// Where a post is seen on the web.
pub const APP_URL: &str = "https://bsky.app";

fn rejected(code: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Rejected {
        status: None,
        code: code.into(),
        message: message.into(),
    }
}

/// The account's DID: the repo every write goes to.
pub fn repo(cred: &Credential) -> Result<&str, ProviderError> {
    let did = cred.provider_uid.trim();
    if did.starts_with("did:") {
        Ok(did)
    } else {
        Err(ProviderError::AuthRevoked {
            status: None,
            message: format!("the connection's provider_uid {did:?} is not a DID; log in again"),
        })
    }
}

/// The `putRecord` input for a rendered post: the record plus `createdAt`.
pub fn put_record_input(
    post: &NativePost,
    did: &str,
    key: &tid::RecordKey,
) -> Result<Value, ProviderError> {
    if post.kind != POST_KIND {
        return Err(ProviderError::Unsupported {
            message: format!("bluesky cannot publish a {:?} post", post.kind),
        });
    }
    let mut record = match &post.body {
        Value::Object(m) if m.get("$type").and_then(Value::as_str) == Some(POST_TYPE) => m.clone(),
        _ => {
            return Err(rejected(
                "invalid_post",
                format!("the post body is not an {POST_TYPE} record"),
            ));
        }
    };
    record.insert(
        "createdAt".into(),
        tid::format_created_at(key.created_at).into(),
    );
    Ok(json!({
        "repo": did,
        "collection": POST_TYPE,
        "rkey": key.rkey,
        "record": record,
    }))
}

/// `https://bsky.app/profile/<did>/post/<rkey>`.
pub fn post_url(did: &str, rkey: &str) -> String {
    format!("{APP_URL}/profile/{did}/post/{rkey}")
}

pub async fn publish(
    post: &NativePost,
    cred: &Credential,
    key: &IdempotencyKey,
    http: &HttpCtx,
) -> Result<Published, ProviderError> {
    let did = repo(cred)?;
    let token = cred.access_token()?;
    let rkey = tid::for_key(key)?;
    let input = put_record_input(post, did, &rkey)?;
    let answer = xrpc::procedure(
        &http.client,
        http.api_url(PUT_RECORD),
        Some(token),
        Some(&input),
        Call::Access,
    )
    .await?;
    // The key is ours, so the URI is known even if the answer lacks it.
    let uri = answer
        .get("uri")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("at://{did}/{POST_TYPE}/{}", rkey.rkey));
    Ok(Published {
        post_id: uri,
        post_url: Some(post_url(did, &rkey.rkey)),
    })
}

/// The parts of an `at://<repo>/<collection>/<rkey>` URI.
pub fn parse_at_uri(uri: &str) -> Option<(&str, &str, &str)> {
    let rest = uri.strip_prefix("at://")?;
    let mut parts = rest.split('/');
    let (repo, collection, rkey) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = parts.next().is_none() && [repo, collection, rkey].iter().all(|p| !p.is_empty());
    ok.then_some((repo, collection, rkey))
}

pub async fn delete(
    post: &Published,
    cred: &Credential,
    http: &HttpCtx,
) -> Result<(), ProviderError> {
    let token = cred.access_token()?;
    let (repo, collection, rkey) = parse_at_uri(&post.post_id).ok_or_else(|| {
        rejected(
            "invalid_post_id",
            format!("{:?} is not an at:// record URI", post.post_id),
        )
    })?;
    let input = json!({"repo": repo, "collection": collection, "rkey": rkey});
    xrpc::procedure(
        &http.client,
        http.api_url(DELETE_RECORD),
        Some(token),
        Some(&input),
        Call::Access,
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::DeliveryId;

    #[test]
    fn put_record_input_adds_created_at_and_key() {
        let post = NativePost {
            kind: "post".into(),
            body: json!({"$type": "app.bsky.feed.post", "text": "hi"}),
            warnings: vec![],
        };
        let key = IdempotencyKey::for_delivery(
            &DeliveryId::parse("dlv_019abcdef0127a2b8c3d4e5f60718293").unwrap(),
        );
        let k = tid::for_key(&key).unwrap();
        let input = put_record_input(&post, "did:plc:abc", &k).unwrap();
        assert_eq!(
            input,
            json!({
                "repo": "did:plc:abc",
                "collection": "app.bsky.feed.post",
                "rkey": k.rkey,
                "record": {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2025-11-25T21:15:18.418Z"}
            })
        );
        let other = NativePost {
            kind: "share".into(),
            ..post.clone()
        };
        assert!(matches!(
            put_record_input(&other, "did:plc:abc", &k),
            Err(ProviderError::Unsupported { .. })
        ));
        let bad = NativePost {
            body: json!({"text": "no type"}),
            ..post
        };
        assert_eq!(
            put_record_input(&bad, "did:plc:abc", &k)
                .unwrap_err()
                .code(),
            "invalid_post"
        );
    }

    #[test]
    fn at_uris_and_repos() {
        assert_eq!(
            parse_at_uri("at://did:plc:x/app.bsky.feed.post/3k"),
            Some(("did:plc:x", "app.bsky.feed.post", "3k"))
        );
        assert_eq!(parse_at_uri("at://did:plc:x/app.bsky.feed.post"), None);
        assert_eq!(parse_at_uri("at://did:plc:x/a/b/c"), None);
        assert_eq!(parse_at_uri("https://bsky.app/x/y/z"), None);
        let cred = |uid: &str| Credential {
            provider_uid: uid.into(),
            ..Credential::default()
        };
        assert_eq!(repo(&cred(" did:plc:x ")).unwrap(), "did:plc:x");
        assert!(matches!(
            repo(&cred("alice.test")),
            Err(ProviderError::AuthRevoked { .. })
        ));
        assert_eq!(
            post_url("did:plc:x", "3k"),
            "https://bsky.app/profile/did:plc:x/post/3k"
        );
    }
}
