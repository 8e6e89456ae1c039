//! X (formerly Twitter): posts a user action with the X API v2 as the user
//! who connected their account through OAuth 2.0 with PKCE.
//!
//! Modules: [`render`] turns an action into the exact `POST /2/tweets` body
//! (pure), fitted by [`length`], X's weighted character count; [`tweets`]
//! creates and deletes posts; [`connect`] authorizes, exchanges, refreshes
//! and revokes; [`api`] sends requests and reads bounded answers; [`errors`]
//! classifies failures in one pure function and reads the rate-limit
//! headers.
//!
//! Settings: `client_id` (required) and `client_secret` (required for a
//! confidential X app — "Web App, Automated App or Bot" — which then
//! authenticates to the token endpoint with HTTP Basic); `api_base`
//! (default `https://api.x.com/`) and `consent_base` (default
//! `https://x.com/`). The app's callback URL registered at X must be
//! Herald's `/connect/x/callback`.

pub mod api;
pub mod connect;
pub mod errors;
pub mod length;
pub mod render;
pub mod tweets;

use async_trait::async_trait;
use herald_core::provider::FlowKind;
use herald_core::{
    AccountInfo, AuthorizeRequest, CallbackParams, Capabilities, Credential, HttpCtx,
    IdempotencyKey, NativePost, OAuthSpec, Provider, ProviderDefaults, ProviderError, Published,
    RenderError, RenderedAction, TextCounting,
};

/// The canonical provider id.
pub const ID: &str = "x";
pub const DEFAULT_API_BASE: &str = "https://api.x.com/";
pub const DEFAULT_CONSENT_BASE: &str = "https://x.com/";

/// The X provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct X;

#[async_trait]
impl Provider for X {
    fn id(&self) -> &'static str {
        ID
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["twitter", "tw"]
    }

    fn defaults(&self) -> ProviderDefaults {
        ProviderDefaults {
            api_base: url::Url::parse(DEFAULT_API_BASE).expect("constant URL"),
            consent_base: Some(url::Url::parse(DEFAULT_CONSENT_BASE).expect("constant URL")),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: Some(length::MAX_WEIGHTED_LENGTH),
            // The core rule can only say "URLs count 23"; the CJK and emoji
            // weights are applied by this provider's own fitting.
            counting: TextCounting {
                url_weight: Some(length::URL_LENGTH),
            },
            max_media: 0,
            supports_links: true,
            supports_delete: true,
            // X has no idempotency key.
            idempotent: false,
        }
    }

    fn render(
        &self,
        action: &RenderedAction,
        account: &AccountInfo,
    ) -> Result<NativePost, RenderError> {
        render::render(action, account)
    }

    async fn publish(
        &self,
        post: &NativePost,
        cred: &Credential,
        _key: &IdempotencyKey,
        http: &HttpCtx,
    ) -> Result<Published, ProviderError> {
        if post.kind != render::POST_KIND {
            return Err(ProviderError::Unsupported {
                message: format!("{ID} cannot publish a {:?} post", post.kind),
            });
        }
        tweets::publish(post, cred, http).await
    }

    async fn delete(
        &self,
        post: &Published,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<(), ProviderError> {
        tweets::delete(post, cred, http).await
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        Some(OAuthSpec {
            flow: FlowKind::OAuth2Pkce,
            authorize_path: connect::AUTHORIZE_PATH,
            token_path: connect::TOKEN_PATH,
            scopes: connect::SCOPES.to_vec(),
            per_instance: false,
        })
    }

    fn authorize_url(
        &self,
        req: &AuthorizeRequest,
        http: &HttpCtx,
    ) -> Result<url::Url, ProviderError> {
        connect::authorize_url(req, http)
    }

    async fn exchange(
        &self,
        cb: &CallbackParams,
        http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        connect::exchange(cb, http).await
    }

    async fn revoke(&self, cred: &Credential, http: &HttpCtx) -> Result<bool, ProviderError> {
        connect::revoke(cred, http).await
    }

    async fn refresh(
        &self,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        connect::refresh(cred, http).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::provider::ConnectionInput;

    #[test]
    fn identity_and_capabilities() {
        let p = X;
        assert_eq!(p.id(), "x");
        assert_eq!(p.aliases(), ["twitter", "tw"]);
        assert!(!p.account_server());
        let d = p.defaults();
        assert_eq!(d.api_base.as_str(), "https://api.x.com/");
        assert_eq!(d.consent_base.unwrap().as_str(), "https://x.com/");
        let c = p.capabilities();
        assert_eq!(c.max_text, Some(280));
        assert_eq!(c.counting.url_weight, Some(23));
        assert_eq!(c.max_media, 0);
        assert!(c.supports_links && c.supports_delete);
        assert!(!c.idempotent);
        let o = p.oauth().unwrap();
        assert_eq!(o.flow, FlowKind::OAuth2Pkce);
        assert_eq!(
            (o.authorize_path, o.token_path),
            ("i/oauth2/authorize", "2/oauth2/token")
        );
        assert_eq!(
            o.scopes,
            ["tweet.read", "tweet.write", "users.read", "offline.access"]
        );
        assert!(!o.per_instance);
        assert!(p.options().is_empty());
    }

    #[test]
    fn handed_in_connections_need_token_and_user_id() {
        let ok = ConnectionInput {
            provider_uid: Some("2244994945".into()),
            has_access_token: true,
            url: None,
            has_secret: false,
        };
        assert_eq!(X.check_connection(&ok).unwrap(), "2244994945");
        let e = X.check_connection(&ConnectionInput::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["access_token", "provider_uid"]);
    }
}
