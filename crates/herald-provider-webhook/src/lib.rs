//! The generic webhook target: Herald POSTs the normalized action as JSON to a
//! URL the site registered for a connection, signed with the connection's
//! secret and carrying an `Idempotency-Key`, so any system can receive shares
//! without a network-specific provider. The URL comes from a user, so it is
//! checked against the outbound policy and sent with the SSRF-guarded client.

pub mod answer;
pub mod signature;

pub use answer::{classify, published};
pub use signature::{SIGNATURE_HEADER, sign, verify};

use async_trait::async_trait;
use herald_core::action::check_http_url;
use herald_core::error::{refused, send_error};
use herald_core::provider::{ConnectionInput, TextCounting};
use herald_core::{
    AccountInfo, Capabilities, Credential, HttpCtx, IdempotencyKey, NativePost, Provider,
    ProviderDefaults, ProviderError, Published, RenderError, RenderedAction, ValidationErrors,
};
use reqwest::header::CONTENT_TYPE;

/// The header carrying the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header a receiver may answer with to name the post it created.
pub const POST_ID_HEADER: &str = "X-Post-Id";
/// How much of a receiver's answer is read; the rest is ignored.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The `webhook` provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct Webhook;

fn rejected(code: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::Rejected {
        status: None,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`] of the answer (the receiver is untrusted);
/// a failure while reading yields what arrived so far.
async fn read_answer(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER_BYTES - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[async_trait]
impl Provider for Webhook {
    fn id(&self) -> &'static str {
        "webhook"
    }

    fn defaults(&self) -> ProviderDefaults {
        ProviderDefaults {
            // Unused: every connection carries its own URL.
            api_base: url::Url::parse("http://localhost/").expect("a valid URL"),
            consent_base: None,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: None,
            counting: TextCounting::default(),
            max_media: 10,
            supports_links: true,
            supports_delete: false,
            idempotent: true,
        }
    }

    fn check_connection(&self, input: &ConnectionInput) -> Result<String, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let url = input.url.as_deref().filter(|u| !u.trim().is_empty());
        match url {
            None => errs.push("url", "is required"),
            Some(u) => {
                if let Err(m) = check_http_url(u) {
                    errs.push("url", m);
                }
            }
        }
        if !input.has_secret {
            errs.push("secret", "is required (requests are signed with it)");
        }
        errs.into_result()?;
        Ok(input
            .provider_uid
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| url.unwrap_or_default().to_owned()))
    }

    fn render(
        &self,
        action: &RenderedAction,
        _account: &AccountInfo,
    ) -> Result<NativePost, RenderError> {
        let value = serde_json::to_value(&action.action).map_err(|e| RenderError::Invalid {
            field: "action".into(),
            message: e.to_string(),
        })?;
        Ok(NativePost {
            kind: "webhook".into(),
            body: serde_json::json!({
                "action": value,
                "uid": action.meta.uid,
                "action_id": action.meta.action_id,
                "delivery_id": action.meta.delivery_id,
            }),
            warnings: Vec::new(),
        })
    }

    async fn publish(
        &self,
        post: &NativePost,
        cred: &Credential,
        key: &IdempotencyKey,
        http: &HttpCtx,
    ) -> Result<Published, ProviderError> {
        let raw = cred
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| rejected("no_url", "the connection has no webhook URL"))?;
        let url = check_http_url(raw).map_err(|m| rejected("invalid_url", format!("url {m}")))?;
        http.policy.check_url(&url).await.map_err(|e| refused(&e))?;
        let secret = cred
            .secret
            .as_ref()
            .ok_or_else(|| rejected("no_secret", "the connection has no signing secret"))?;

        let body =
            serde_json::to_vec(&post.body).map_err(|e| rejected("invalid_body", e.to_string()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = sign(secret.expose().as_bytes(), now, &body);

        let resp = http
            .guarded
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, key.as_str())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| send_error(&e))?;

        let status = resp.status().as_u16();
        let retry_after = header(&resp, "retry-after").map(str::to_owned);
        let post_id = header(&resp, POST_ID_HEADER).map(str::to_owned);
        let text = read_answer(resp).await;
        classify(status, retry_after.as_deref(), &text)?;
        Ok(published(&text, post_id.as_deref(), key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{ActionId, ActionMeta, DeliveryId, ErrorClass, OutboundPolicy, UserAction};
    use std::collections::BTreeMap;

    fn input(url: Option<&str>, secret: bool, uid: Option<&str>) -> ConnectionInput {
        ConnectionInput {
            provider_uid: uid.map(str::to_owned),
            has_access_token: false,
            url: url.map(str::to_owned),
            has_secret: secret,
        }
    }

    fn fields(e: ValidationErrors) -> Vec<String> {
        e.0.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn identity_defaults_and_capabilities() {
        let w = Webhook;
        assert_eq!(w.id(), "webhook");
        assert_eq!(w.defaults().api_base.as_str(), "http://localhost/");
        assert_eq!(w.defaults().consent_base, None);
        let c = w.capabilities();
        assert_eq!(c.max_text, None);
        assert_eq!(c.max_media, 10);
        assert!(c.supports_links && !c.supports_delete && c.idempotent);
        assert!(w.oauth().is_none());
    }

    #[test]
    fn connection_needs_a_url_and_a_secret_but_no_token() {
        let w = Webhook;
        let url = "https://hooks.example.com/herald";
        assert_eq!(
            w.check_connection(&input(Some(url), true, None)).unwrap(),
            url
        );
        assert_eq!(
            w.check_connection(&input(Some(url), true, Some("u1")))
                .unwrap(),
            "u1"
        );
        assert_eq!(
            w.check_connection(&input(Some(url), true, Some(" ")))
                .unwrap(),
            url
        );
        let e = w.check_connection(&input(None, false, None)).unwrap_err();
        assert_eq!(fields(e), ["url", "secret"]);
        let e = w
            .check_connection(&input(Some(""), true, None))
            .unwrap_err();
        assert_eq!(fields(e), ["url"]);
        for bad in ["ftp://x.example/", "/relative", "not a url", "http://"] {
            let e = w
                .check_connection(&input(Some(bad), true, None))
                .unwrap_err();
            assert_eq!(fields(e), ["url"], "{bad}");
        }
        let e = w
            .check_connection(&input(Some(url), false, None))
            .unwrap_err();
        assert_eq!(fields(e), ["secret"]);
    }

    fn rendered(delivery: Option<DeliveryId>) -> RenderedAction {
        let action: UserAction = serde_json::from_value(serde_json::json!({
            "title": "Hello",
            "link_back": "https://site.example/p/1",
            "media_items": [{"type": "image", "src": "https://site.example/i.png"}],
            "tags": ["a", "b"],
        }))
        .unwrap();
        RenderedAction {
            action,
            meta: ActionMeta {
                action_id: ActionId::new(),
                uid: "user-1".into(),
                delivery_id: delivery,
                app_name: "Site".into(),
                site_url: None,
            },
            options: BTreeMap::new(),
        }
    }

    #[test]
    fn render_wraps_the_action_as_is_with_its_provenance() {
        let d = DeliveryId::new();
        let ra = rendered(Some(d.clone()));
        let post = Webhook.render(&ra, &AccountInfo::default()).unwrap();
        assert_eq!(post.kind, "webhook");
        assert!(post.warnings.is_empty());
        assert_eq!(
            post.body,
            serde_json::json!({
                "action": serde_json::to_value(&ra.action).unwrap(),
                "uid": "user-1",
                "action_id": ra.meta.action_id.as_str(),
                "delivery_id": d.as_str(),
            })
        );
        assert_eq!(post.body["action"]["media_items"][0]["type"], "image");
        // Deterministic: rendering again gives the same bytes.
        let again = Webhook.render(&ra, &AccountInfo::default()).unwrap();
        assert_eq!(
            serde_json::to_vec(&post.body).unwrap(),
            serde_json::to_vec(&again.body).unwrap()
        );
    }

    #[test]
    fn preview_has_a_null_delivery_id() {
        let post = Webhook
            .render(&rendered(None), &AccountInfo::default())
            .unwrap();
        assert!(post.body["delivery_id"].is_null());
    }

    fn ctx(policy: OutboundPolicy) -> HttpCtx {
        herald_core::tls::init();
        let (client, guarded) =
            herald_core::provider::http_clients(&policy, std::time::Duration::from_secs(5))
                .unwrap();
        HttpCtx {
            client,
            guarded,
            policy,
            api_base: Webhook.defaults().api_base,
            consent_base: None,
            settings: Default::default(),
        }
    }

    fn cred(url: Option<&str>, secret: Option<&str>) -> Credential {
        Credential {
            url: url.map(str::to_owned),
            secret: secret.map(Into::into),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn missing_or_bad_connection_fields_are_rejected_before_sending() {
        let http = ctx(OutboundPolicy::default());
        let post = Webhook
            .render(&rendered(None), &AccountInfo::default())
            .unwrap();
        let key = IdempotencyKey::for_delivery(&DeliveryId::new());
        let code = |r: Result<Published, ProviderError>| r.unwrap_err().code();
        let w = Webhook;
        assert_eq!(
            code(w.publish(&post, &cred(None, Some("s")), &key, &http).await),
            "no_url"
        );
        assert_eq!(
            code(
                w.publish(&post, &cred(Some("ftp://x/"), Some("s")), &key, &http)
                    .await
            ),
            "invalid_url"
        );
        assert_eq!(
            code(
                w.publish(
                    &post,
                    &cred(Some("http://10.0.0.1/h"), Some("s")),
                    &key,
                    &http
                )
                .await
            ),
            "forbidden_address"
        );
        let allowed = ctx(OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]));
        assert_eq!(
            code(
                w.publish(
                    &post,
                    &cred(Some("http://127.0.0.1:9/h"), None),
                    &key,
                    &allowed
                )
                .await
            ),
            "no_secret"
        );
    }

    #[tokio::test]
    async fn resolver_refusals_count_as_forbidden_addresses() {
        // Bypasses the pre-send check to exercise the guarded client's resolver.
        let http = ctx(OutboundPolicy::default());
        let err = http
            .guarded
            .post("http://localhost:9/h")
            .send()
            .await
            .unwrap_err();
        let mapped = send_error(&err);
        assert_eq!(mapped.class(), ErrorClass::Rejected);
        assert_eq!(mapped.code(), "forbidden_address");
    }
}
