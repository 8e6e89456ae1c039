//! Windows Live ("messenger"): posts a user action to a member's Windows Live
//! activity feed through Messenger Connect 4.1 (`activities` mode, the default:
//! OAuth WRAP and `MyActivities` templates) or Live Connect v5.0 (`share` mode:
//! OAuth 2.0 and `me/share`). Both APIs are retired; the formats follow the
//! historical documentation and are tested against mocks.
//!
//! Modules: [`render`] turns an action into the exact JSON to send (pure);
//! [`activities`] and [`share`] send it; [`answer`] reads what comes back;
//! [`errors`] classifies failures; [`connect`] builds the consent URL and
//! exchanges the callback's code; [`refresh`] renews tokens.

pub mod activities;
pub mod answer;
pub mod connect;
pub mod errors;
pub mod refresh;
pub mod render;
pub mod share;

use async_trait::async_trait;
use herald_core::provider::{ConnectionInput, FlowKind};
use herald_core::{
    AccountInfo, AuthorizeRequest, CallbackParams, Capabilities, Credential, HttpCtx,
    IdempotencyKey, NativePost, OAuthSpec, Provider, ProviderDefaults, ProviderError, Published,
    RenderError, RenderedAction, TextCounting, ValidationErrors,
};
use render::{ActivityType, SHARE_KIND};
use std::collections::BTreeMap;

/// The canonical provider id.
pub const ID: &str = "messenger";
/// Other names the provider answers to.
pub const ALIASES: &[&str] = &["windowslive", "microsoft"];
/// The historical API host.
pub const DEFAULT_API_BASE: &str = "https://apis.live.net/";
/// The historical OAuth WRAP consent host.
pub const DEFAULT_CONSENT_BASE: &str = "https://consent.live.com/";
/// The WRAP offer needed to write activities.
pub const SCOPE_ACTIVITIES_UPDATE: &str = "WL_Activities.Update";

/// The Windows Live provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowsLive;

#[async_trait]
impl Provider for WindowsLive {
    fn id(&self) -> &'static str {
        ID
    }

    fn aliases(&self) -> &'static [&'static str] {
        ALIASES
    }

    fn defaults(&self) -> ProviderDefaults {
        ProviderDefaults {
            api_base: url::Url::parse(DEFAULT_API_BASE).expect("constant URL"),
            consent_base: Some(url::Url::parse(DEFAULT_CONSENT_BASE).expect("constant URL")),
        }
    }

    fn options(&self) -> &'static [herald_core::ProviderOption] {
        &[
            herald_core::ProviderOption {
                name: "mode",
                values: &["activities", "share"],
            },
            herald_core::ProviderOption {
                name: "activity_type",
                values: &["CustomActivity", "AddStatusActivity", "AddPhotoActivity"],
            },
            herald_core::ProviderOption {
                name: "verb",
                values: &[],
            },
        ]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: None,
            counting: TextCounting::default(),
            max_media: 1,
            supports_links: true,
            supports_delete: false,
            idempotent: false,
        }
    }

    /// Both an access token and the member's CID (the path of every call).
    fn check_connection(&self, input: &ConnectionInput) -> Result<String, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !input.has_access_token {
            errs.push("access_token", "is required");
        }
        let cid = input
            .provider_uid
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if cid.is_none() {
            errs.push("provider_uid", "is required: the member's Windows Live CID");
        }
        errs.into_result()
            .map(|()| cid.unwrap_or_default().to_owned())
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
        if post.kind == SHARE_KIND {
            share::publish(post, cred, key, http).await
        } else if ActivityType::parse(&post.kind).is_some() {
            activities::publish(post, cred, key, http).await
        } else {
            Err(ProviderError::Unsupported {
                message: format!("{ID} cannot publish a {:?} post", post.kind),
            })
        }
    }

    /// The WRAP flow of `activities` mode (the spec takes no settings).
    fn oauth(&self) -> Option<OAuthSpec> {
        Some(OAuthSpec {
            flow: FlowKind::Wrap,
            authorize_path: "Connect.aspx",
            token_path: "AccessToken.aspx",
            scopes: vec![SCOPE_ACTIVITIES_UPDATE],
            per_instance: false,
        })
    }

    /// `Connect.aspx` (WRAP) in `activities` mode, `oauth20_authorize.srf`
    /// (OAuth 2.0) in `share` mode.
    fn authorize_url(
        &self,
        req: &AuthorizeRequest,
        http: &HttpCtx,
    ) -> Result<url::Url, ProviderError> {
        connect::authorize_url(req, http)
    }

    /// `wrap_client_state` (WRAP), else `state` (OAuth 2.0).
    fn callback_state<'a>(&self, query: &'a BTreeMap<String, String>) -> Option<&'a str> {
        connect::callback_state(query)
    }

    async fn exchange(
        &self,
        cb: &CallbackParams,
        http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        connect::exchange(cb, http).await
    }

    async fn refresh(
        &self,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        refresh::refresh(cred, http).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_capabilities() {
        let p = WindowsLive;
        assert_eq!(p.id(), "messenger");
        assert_eq!(p.aliases(), &["windowslive", "microsoft"]);
        let d = p.defaults();
        assert_eq!(d.api_base.as_str(), "https://apis.live.net/");
        assert_eq!(
            d.consent_base.unwrap().as_str(),
            "https://consent.live.com/"
        );
        let c = p.capabilities();
        assert_eq!(c.max_text, None);
        assert_eq!(c.max_media, 1);
        assert!(c.supports_links && !c.supports_delete && !c.idempotent);
        let o = p.oauth().unwrap();
        assert_eq!(o.flow, FlowKind::Wrap);
        assert_eq!(
            (o.authorize_path, o.token_path),
            ("Connect.aspx", "AccessToken.aspx")
        );
        assert_eq!(o.scopes, vec!["WL_Activities.Update"]);
    }

    #[test]
    fn connections_need_token_and_cid() {
        let p = WindowsLive;
        let ok = ConnectionInput {
            provider_uid: Some(" 8c3a ".into()),
            has_access_token: true,
            ..ConnectionInput::default()
        };
        assert_eq!(p.check_connection(&ok).unwrap(), "8c3a");
        let e = p.check_connection(&ConnectionInput::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["access_token", "provider_uid"]);
    }
}
