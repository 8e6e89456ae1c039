//! Bluesky (`bluesky`, alias `bsky`): posts a user action as an
//! `app.bsky.feed.post` record to the account's own PDS over XRPC, logged in
//! with an app password. Tested against wiremock and a real @atproto/pds
//! (tests/peers/bluesky-pds).
//!
//! Modules: [`render`] builds the exact record (pure: text fitted to 300
//! graphemes and 3000 bytes, link facets, link card); [`tid`] derives the
//! record key from the delivery so publishing is idempotent; [`repo`] writes
//! and deletes records; [`session`] logs in, refreshes and revokes;
//! [`xrpc`] sends calls; [`errors`] classifies failures.

pub mod errors;
pub mod render;
pub mod repo;
pub mod session;
pub mod tid;
pub mod xrpc;

use async_trait::async_trait;
use herald_core::provider::{ConnectionInput, FlowKind};
use herald_core::{
    AccountInfo, Capabilities, Credential, HttpCtx, IdempotencyKey, NativePost, OAuthSpec,
    PasswordLogin, Provider, ProviderDefaults, ProviderError, Published, RenderError,
    RenderedAction, ValidationErrors,
};

/// The canonical provider id.
pub const ID: &str = "bluesky";
/// Other names the provider answers to.
pub const ALIASES: &[&str] = &["bsky"];
/// The bsky.social entryway: logins there are answered with the account's PDS.
pub const DEFAULT_API_BASE: &str = "https://bsky.social/";

/// The Bluesky provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bluesky;

#[async_trait]
impl Provider for Bluesky {
    fn id(&self) -> &'static str {
        ID
    }

    fn aliases(&self) -> &'static [&'static str] {
        ALIASES
    }

    fn defaults(&self) -> ProviderDefaults {
        ProviderDefaults {
            api_base: url::Url::parse(DEFAULT_API_BASE).expect("constant URL"),
            consent_base: None,
        }
    }

    /// 300 graphemes (the 3000-byte limit is applied by `render`). No media:
    /// Herald does not upload blobs yet. Idempotent through client-chosen
    /// record keys.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text: Some(render::MAX_GRAPHEMES),
            counting: render::COUNTING,
            max_media: 0,
            supports_links: true,
            supports_delete: true,
            idempotent: true,
        }
    }

    /// An access token and the account's DID (the repo every write goes to).
    fn check_connection(&self, input: &ConnectionInput) -> Result<String, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !input.has_access_token {
            errs.push("access_token", "is required");
        }
        let did = input
            .provider_uid
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        match did {
            None => errs.push("provider_uid", "is required: the account's DID"),
            Some(d) if !d.starts_with("did:") => errs.push(
                "provider_uid",
                "must be the account's DID (did:plc:… or did:web:…)",
            ),
            Some(_) => {}
        }
        errs.into_result()
            .map(|()| did.unwrap_or_default().to_owned())
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
        repo::publish(post, cred, key, http).await
    }

    async fn delete(
        &self,
        post: &Published,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<(), ProviderError> {
        repo::delete(post, cred, http).await
    }

    /// App-password login: no consent page; `token_path` names the call.
    fn oauth(&self) -> Option<OAuthSpec> {
        Some(OAuthSpec {
            flow: FlowKind::AppPassword,
            authorize_path: "",
            token_path: session::CREATE_SESSION,
            scopes: vec![],
            per_instance: false,
        })
    }

    async fn login_password(
        &self,
        login: &PasswordLogin,
        http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        session::login(login, http).await
    }

    async fn revoke(&self, cred: &Credential, http: &HttpCtx) -> Result<bool, ProviderError> {
        session::revoke(cred, http).await
    }

    /// Calls go to the account's PDS (`Credential::url` after login).
    fn account_server(&self) -> bool {
        true
    }

    async fn refresh(
        &self,
        cred: &Credential,
        http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        session::refresh(cred, http).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_capabilities() {
        let p = Bluesky;
        assert_eq!((p.id(), p.aliases()), ("bluesky", &["bsky"][..]));
        assert_eq!(p.defaults().api_base.as_str(), "https://bsky.social/");
        assert_eq!(p.defaults().consent_base, None);
        let c = p.capabilities();
        assert_eq!(c.max_text, Some(300));
        assert_eq!(c.counting.url_weight, None);
        assert!(c.supports_links && c.supports_delete && c.idempotent);
        assert!(p.account_server());
        let o = p.oauth().unwrap();
        assert_eq!(o.flow, FlowKind::AppPassword);
        assert_eq!(
            (o.authorize_path, o.token_path),
            ("", "xrpc/com.atproto.server.createSession")
        );
        assert!(o.scopes.is_empty() && !o.per_instance);
    }

    #[test]
    fn connections_need_token_and_did() {
        let p = Bluesky;
        let input = |uid: Option<&str>| ConnectionInput {
            provider_uid: uid.map(str::to_owned),
            has_access_token: true,
            ..ConnectionInput::default()
        };
        assert_eq!(
            p.check_connection(&input(Some(" did:plc:abc "))).unwrap(),
            "did:plc:abc"
        );
        let e = p
            .check_connection(&input(Some("alice.bsky.social")))
            .unwrap_err();
        assert_eq!(e.0[0].field, "provider_uid");
        let e = p.check_connection(&ConnectionInput::default()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["access_token", "provider_uid"]);
    }
}
