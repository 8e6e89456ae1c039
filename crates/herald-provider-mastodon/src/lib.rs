//! Mastodon: posts a user action as a status on the user's own instance.
//!
//! The user names their instance when connecting; Herald registers a client
//! there once per app ([`connect::register_client`]), runs OAuth 2.0 with PKCE
//! against it, and stores the instance base as the connection's `url`
//! ([`Provider::account_server`]), so every later call goes to that instance
//! through the SSRF-guarded client.
//!
//! Modules: [`render`] turns an action into the exact status JSON (pure);
//! [`statuses`] publishes and deletes it; [`connect`] registers, authorizes,
//! exchanges, refreshes and revokes; [`api`] sends requests and reads bounded
//! answers; [`errors`] classifies failures in one pure function; [`media`]
//! uploads images for statuses without a link (a link gets the instance's
//! own preview card instead).

pub mod api;
pub mod connect;
pub mod errors;
pub mod media;
pub mod render;
pub mod statuses;

use async_trait::async_trait;
use herald_core::action::check_http_url;
use herald_core::provider::{ConnectionInput, FlowKind};
use herald_core::{
    AccountInfo, AuthorizeRequest, CallbackParams, Capabilities, Credential, HttpCtx,
    IdempotencyKey, NativePost, OAuthSpec, Provider, ProviderDefaults, ProviderError,
    ProviderOption, Published, RegisteredClient, RenderError, RenderedAction, ValidationErrors,
};

pub use statuses::max_characters;

/// The canonical provider id.
pub const ID: &str = "mastodon";
/// Only a placeholder: every connection carries its own instance, and the
/// connect flow starts from the instance the user names.
pub const DEFAULT_API_BASE: &str = "https://mastodon.social/";

/// The Mastodon provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mastodon;

#[async_trait]
impl Provider for Mastodon {
    fn id(&self) -> &'static str {
        ID
    }

    fn defaults(&self) -> ProviderDefaults {
        let base = url::Url::parse(DEFAULT_API_BASE).expect("constant URL");
        ProviderDefaults {
            api_base: base.clone(),
            consent_base: Some(base),
        }
    }

    fn options(&self) -> &'static [ProviderOption] {
        &[
            // Shown on the instance's consent page (registration time).
            ProviderOption {
                name: "client_name",
                values: &[],
            },
            ProviderOption {
                name: "website",
                values: &[],
            },
            // Used when the action has no `privacy`.
            ProviderOption {
                name: "visibility",
                values: render::VISIBILITIES,
            },
        ]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: Some(render::DEFAULT_MAX_CHARS),
            counting: render::COUNTING,
            max_media: render::MAX_MEDIA,
            supports_links: true,
            supports_delete: true,
            // `Idempotency-Key`, kept by Mastodon for up to an hour (see
            // [`statuses`]).
            idempotent: true,
        }
    }

    /// A handed-in credential needs the token, the account id and the
    /// instance (`url`), since every call goes to that instance.
    fn check_connection(&self, input: &ConnectionInput) -> Result<String, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !input.has_access_token {
            errs.push("access_token", "is required");
        }
        let uid = input
            .provider_uid
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if uid.is_none() {
            errs.push("provider_uid", "is required: the Mastodon account id");
        }
        match input
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => errs.push("url", "is required: the account's Mastodon instance"),
            Some(u) => {
                if let Err(m) = check_http_url(u) {
                    errs.push("url", m);
                }
            }
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
        key: &IdempotencyKey,
        http: &HttpCtx,
    ) -> Result<Published, ProviderError> {
        if post.kind != render::STATUS_KIND {
            return Err(ProviderError::Unsupported {
                message: format!("{ID} cannot publish a {:?} post", post.kind),
            });
        }
        statuses::publish(post, cred, key, http).await
    }

    async fn delete(
        &self,
        post: &Published,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<(), ProviderError> {
        statuses::delete(post, cred, http).await
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        Some(OAuthSpec {
            flow: FlowKind::OAuth2Pkce,
            authorize_path: connect::AUTHORIZE_PATH,
            token_path: connect::TOKEN_PATH,
            scopes: connect::SCOPES.to_vec(),
            per_instance: true,
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

    async fn register_client(
        &self,
        callback_url: &str,
        scopes: &[&str],
        http: &HttpCtx,
    ) -> Result<RegisteredClient, ProviderError> {
        connect::register_client(callback_url, scopes, http).await
    }

    async fn revoke(&self, cred: &Credential, http: &HttpCtx) -> Result<bool, ProviderError> {
        connect::revoke(cred, http).await
    }

    fn account_server(&self) -> bool {
        true
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
        let p = Mastodon;
        assert_eq!(p.id(), "mastodon");
        assert!(p.aliases().is_empty());
        assert!(p.account_server());
        let c = p.capabilities();
        assert_eq!(c.max_text, Some(500));
        assert_eq!(c.counting.url_weight, Some(23));
        assert_eq!(c.max_media, 4);
        assert!(c.supports_links && c.supports_delete && c.idempotent);
        let o = p.oauth().unwrap();
        assert_eq!(o.flow, FlowKind::OAuth2Pkce);
        assert_eq!(
            (o.authorize_path, o.token_path),
            ("oauth/authorize", "oauth/token")
        );
        assert_eq!(o.scopes, ["write:statuses", "write:media", "read:accounts"]);
        assert!(o.per_instance);
        let names: Vec<_> = p.options().iter().map(|o| o.name).collect();
        assert_eq!(names, ["client_name", "website", "visibility"]);
    }

    #[test]
    fn connections_need_token_id_and_instance() {
        let p = Mastodon;
        let ok = ConnectionInput {
            provider_uid: Some(" 109 ".into()),
            has_access_token: true,
            url: Some("https://mastodon.example".into()),
            has_secret: false,
        };
        assert_eq!(p.check_connection(&ok).unwrap(), "109");
        let e = p.check_connection(&ConnectionInput::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["access_token", "provider_uid", "url"]);
        let bad = ConnectionInput {
            url: Some("ftp://mastodon.example".into()),
            ..ok
        };
        let e = p.check_connection(&bad).unwrap_err();
        assert_eq!(e.0[0].field, "url");
    }
}
