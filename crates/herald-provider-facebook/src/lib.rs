//! Facebook: posts a user action on a Facebook Page the user manages.
//!
//! Facebook closed publishing to personal timelines in 2018 (the
//! `publish_actions` permission is gone), so Herald publishes to Pages only,
//! through the Graph API's Pages API: one connection is one Page, keyed by
//! the Page id, holding that Page's access token. One consent connects every
//! Page the person may post to ([`Provider::exchange_accounts`]).
//!
//! Modules: [`render`] turns an action into the exact `message`/`link`
//! parameters (pure); [`posts`] publishes and deletes them; [`connect`] runs
//! Facebook Login and lists the Pages; [`api`] builds versioned URLs, adds
//! the token parameters and reads bounded answers; [`errors`] classifies
//! Graph errors and reads the rate-limit usage headers in pure functions.
//!
//! Operator settings (`[providers.facebook]`): `client_id` (app id) and
//! `client_secret` (app secret) are required for connecting; the app secret
//! also signs every call (`appsecret_proof`). `api_base` defaults to
//! `https://graph.facebook.com/`, `consent_base` to
//! `https://www.facebook.com/`, and the `graph_version` option to
//! [`api::DEFAULT_GRAPH_VERSION`].

pub mod api;
pub mod connect;
pub mod errors;
pub mod posts;
pub mod render;

use async_trait::async_trait;
use herald_core::provider::{ConnectionInput, FlowKind};
use herald_core::{
    AccountInfo, AuthorizeRequest, CallbackParams, Capabilities, Credential, HttpCtx,
    IdempotencyKey, NativePost, OAuthSpec, Provider, ProviderDefaults, ProviderError,
    ProviderOption, Published, RenderError, RenderedAction, ValidationErrors,
};

pub use api::{DEFAULT_GRAPH_VERSION, GRAPH_VERSION_OPTION};

/// The canonical provider id.
pub const ID: &str = "facebook";
/// The Graph API host.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/";
/// The host of the Login dialog.
pub const DEFAULT_CONSENT_BASE: &str = "https://www.facebook.com/";

/// The Facebook (Pages) provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facebook;

#[async_trait]
impl Provider for Facebook {
    fn id(&self) -> &'static str {
        ID
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["fb"]
    }

    fn defaults(&self) -> ProviderDefaults {
        ProviderDefaults {
            api_base: url::Url::parse(DEFAULT_API_BASE).expect("constant URL"),
            consent_base: Some(url::Url::parse(DEFAULT_CONSENT_BASE).expect("constant URL")),
        }
    }

    fn options(&self) -> &'static [ProviderOption] {
        &[
            // `vN.M`; Facebook supports each version for about two years.
            ProviderOption {
                name: GRAPH_VERSION_OPTION,
                values: &[],
            },
        ]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: Some(render::MAX_MESSAGE_CHARS),
            counting: render::COUNTING,
            max_media: 0,
            supports_links: true,
            supports_delete: true,
            // The Graph API takes no idempotency key.
            idempotent: false,
        }
    }

    /// A handed-in credential is a Page token and the Page's id (digits).
    fn check_connection(&self, input: &ConnectionInput) -> Result<String, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !input.has_access_token {
            errs.push("access_token", "is required: the Page access token");
        }
        let uid = input
            .provider_uid
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        match uid {
            None => errs.push("provider_uid", "is required: the Facebook Page id"),
            Some(u) if !posts::is_graph_id(u) => {
                errs.push("provider_uid", "must be a Facebook Page id (digits)")
            }
            Some(_) => {}
        }
        errs.into_result()
            .map(|()| uid.unwrap_or_default().to_owned())
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
        if post.kind != render::FEED_KIND {
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

    async fn exchange_accounts(
        &self,
        cb: &CallbackParams,
        http: &HttpCtx,
    ) -> Result<Vec<Credential>, ProviderError> {
        connect::exchange_accounts(cb, http).await
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

    #[test]
    fn identity_and_capabilities() {
        let p = Facebook;
        assert_eq!(p.id(), "facebook");
        assert_eq!(p.aliases(), ["fb"]);
        assert!(!p.account_server());
        let d = p.defaults();
        assert_eq!(d.api_base.as_str(), "https://graph.facebook.com/");
        assert_eq!(
            d.consent_base.unwrap().as_str(),
            "https://www.facebook.com/"
        );
        let c = p.capabilities();
        assert_eq!(c.max_text, Some(63_206));
        assert_eq!(c.counting.url_weight, None);
        assert_eq!(c.max_media, 0);
        assert!(c.supports_links && c.supports_delete);
        assert!(!c.idempotent);
        let o = p.oauth().unwrap();
        assert_eq!(o.flow, FlowKind::OAuth2);
        assert_eq!(
            (o.authorize_path, o.token_path),
            ("dialog/oauth", "oauth/access_token")
        );
        assert_eq!(
            o.scopes,
            [
                "pages_manage_posts",
                "pages_read_engagement",
                "pages_show_list"
            ]
        );
        assert!(!o.per_instance);
        let names: Vec<_> = p.options().iter().map(|o| o.name).collect();
        assert_eq!(names, ["graph_version"]);
    }

    #[test]
    fn connections_need_a_page_token_and_page_id() {
        let p = Facebook;
        let ok = ConnectionInput {
            provider_uid: Some(" 1234567890 ".into()),
            has_access_token: true,
            url: None,
            has_secret: false,
        };
        assert_eq!(p.check_connection(&ok).unwrap(), "1234567890");
        let e = p.check_connection(&ConnectionInput::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["access_token", "provider_uid"]);
        let e = p
            .check_connection(&ConnectionInput {
                provider_uid: Some("me".into()),
                ..ok
            })
            .unwrap_err();
        assert_eq!(e.0[0].message, "must be a Facebook Page id (digits)");
    }
}
