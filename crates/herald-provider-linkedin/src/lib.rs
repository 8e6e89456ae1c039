//! LinkedIn: posts a user action to the member's feed with the Posts API
//! (`POST https://api.linkedin.com/rest/posts`), as an article post when the
//! action links back to the site.
//!
//! The member connects with OAuth 2.0 authorization code (no PKCE for web
//! apps) on www.linkedin.com and is identified by OpenID Connect's
//! `/v2/userinfo` on api.linkedin.com; the two hosts are the provider's
//! `consent_base` and `api_base`. Access tokens last 60 days; only apps
//! approved for programmatic refresh tokens can renew them, every other
//! connection needs a new consent when its token expires.
//!
//! Modules: [`render`] builds the exact post body (pure; little-text
//! escaping and the 3000-character limit); [`posts`] creates and deletes
//! posts; [`connect`] authorizes, exchanges, refreshes (and says there is no
//! revocation); [`api`] sends requests with LinkedIn's versioned headers and
//! reads bounded answers; [`errors`] classifies failures in one pure
//! function.
//!
//! Sources: learn.microsoft.com/linkedin — marketing/community-management/
//! shares/posts-api, …/shares/little-text-format, marketing/versioning,
//! shared/api-guide/concepts/error-handling, …/concepts/rate-limits,
//! shared/authentication/authorization-code-flow, …/programmatic-refresh-tokens,
//! consumer/integrations/self-serve/sign-in-with-linkedin-v2.

pub mod api;
pub mod connect;
pub mod errors;
pub mod posts;
pub mod render;

use async_trait::async_trait;
use herald_core::provider::FlowKind;
use herald_core::{
    AccountInfo, AuthorizeRequest, CallbackParams, Capabilities, Credential, HttpCtx,
    IdempotencyKey, NativePost, OAuthSpec, Provider, ProviderDefaults, ProviderError,
    ProviderOption, Published, RenderError, RenderedAction,
};

/// The canonical provider id.
pub const ID: &str = "linkedin";
/// The REST API host (posts, userinfo).
pub const DEFAULT_API_BASE: &str = "https://api.linkedin.com/";
/// The consent and token host.
pub const DEFAULT_CONSENT_BASE: &str = "https://www.linkedin.com/";

/// The LinkedIn provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkedIn;

#[async_trait]
impl Provider for LinkedIn {
    fn id(&self) -> &'static str {
        ID
    }

    fn defaults(&self) -> ProviderDefaults {
        ProviderDefaults {
            api_base: url::Url::parse(DEFAULT_API_BASE).expect("constant URL"),
            consent_base: Some(url::Url::parse(DEFAULT_CONSENT_BASE).expect("constant URL")),
        }
    }

    fn options(&self) -> &'static [ProviderOption] {
        &[
            // The `LinkedIn-Version` header (YYYYMM); default api::DEFAULT_VERSION.
            ProviderOption {
                name: "version",
                values: &[],
            },
            // Used when the action has no `privacy`; default PUBLIC.
            ProviderOption {
                name: "visibility",
                values: render::VISIBILITIES,
            },
        ]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: Some(render::MAX_COMMENTARY),
            counting: render::COUNTING,
            // Images would need an upload first; the article card shows the
            // page's own preview.
            max_media: 0,
            supports_links: true,
            supports_delete: true,
            // LinkedIn honours no idempotency key.
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
        posts::publish(post, cred, http).await
    }

    async fn delete(
        &self,
        post: &Published,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<(), ProviderError> {
        posts::delete(post, cred, http).await
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        Some(OAuthSpec {
            flow: FlowKind::OAuth2,
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
        let p = LinkedIn;
        assert_eq!(p.id(), "linkedin");
        assert!(p.aliases().is_empty());
        assert!(!p.account_server());
        let d = p.defaults();
        assert_eq!(d.api_base.as_str(), "https://api.linkedin.com/");
        assert_eq!(
            d.consent_base.unwrap().as_str(),
            "https://www.linkedin.com/"
        );
        let c = p.capabilities();
        assert_eq!(c.max_text, Some(3000));
        assert_eq!(c.counting.url_weight, None);
        assert_eq!(c.max_media, 0);
        assert!(c.supports_links && c.supports_delete);
        assert!(!c.idempotent);
        let o = p.oauth().unwrap();
        assert_eq!(o.flow, FlowKind::OAuth2);
        assert_eq!(
            (o.authorize_path, o.token_path),
            ("oauth/v2/authorization", "oauth/v2/accessToken")
        );
        assert_eq!(o.scopes, ["openid", "profile", "w_member_social"]);
        assert!(!o.per_instance);
        let names: Vec<_> = p.options().iter().map(|o| o.name).collect();
        assert_eq!(names, ["version", "visibility"]);
    }

    #[test]
    fn connections_need_token_and_member_id() {
        let p = LinkedIn;
        let ok = ConnectionInput {
            provider_uid: Some("782bbtaQ".into()),
            has_access_token: true,
            ..ConnectionInput::default()
        };
        assert_eq!(p.check_connection(&ok).unwrap(), "782bbtaQ");
        let e = p.check_connection(&ConnectionInput::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["access_token", "provider_uid"]);
    }
}
