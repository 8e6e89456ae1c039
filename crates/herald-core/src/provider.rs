//! The `Provider` trait: one implementation per network, in its own crate.
//! `render` is pure (publish and preview share it, so a preview is exactly what
//! would be sent); `publish`/`delete`/`refresh` do the network calls and map
//! every failure into a [`ProviderError`] class.

use crate::action::UserAction;
use crate::error::{ProviderError, RenderError, ValidationErrors};
use crate::ids::{ActionId, DeliveryId};
use crate::outbound::OutboundPolicy;
use crate::secret::Secret;
use crate::template::{self, Expanded};
pub use crate::text::TextCounting;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use url::Url;

/// What a network can do and how it counts; the network's defaults (per-account
/// values arrive in [`AccountInfo`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Maximum post length, counted by `counting`; `None` = no documented limit.
    pub max_text: Option<usize>,
    pub counting: TextCounting,
    pub max_media: usize,
    pub supports_links: bool,
    pub supports_delete: bool,
    /// The network honours an idempotency key, so re-sending after an unknown
    /// outcome cannot create a second post.
    pub idempotent: bool,
}

/// Built-in endpoints, overridable per deployment and per app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderDefaults {
    pub api_base: Url,
    pub consent_base: Option<Url>,
}

/// The effective settings for one app on one provider: configuration merged over
/// the provider's defaults.
#[derive(Clone, Debug, Default)]
pub struct ProviderSettings {
    pub api_base: Option<Url>,
    pub consent_base: Option<Url>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// Provider-specific options, e.g. Windows Live `mode = share`.
    pub options: BTreeMap<String, String>,
}

/// What a provider's network calls need: HTTP clients and the app's settings.
#[derive(Clone, Debug)]
pub struct HttpCtx {
    /// For hosts the operator configured (provider API bases): trusted.
    pub client: reqwest::Client,
    /// For hosts that come from users (webhook URLs): checked by `policy`.
    pub guarded: reqwest::Client,
    pub policy: OutboundPolicy,
    pub api_base: Url,
    pub consent_base: Option<Url>,
    pub settings: ProviderSettings,
}

impl HttpCtx {
    /// `{api_base}/{path}` without doubling or losing slashes.
    pub fn api_url(&self, path: &str) -> String {
        join_url(&self.api_base, path)
    }

    /// `{consent_base}/{path}`, falling back to the API base.
    pub fn consent_url(&self, path: &str) -> String {
        join_url(self.consent_base.as_ref().unwrap_or(&self.api_base), path)
    }
}

pub fn join_url(base: &Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Builds the two HTTP clients every provider shares. `timeout` bounds a whole
/// request; keep it below the delivery lease.
pub fn http_clients(
    policy: &OutboundPolicy,
    timeout: std::time::Duration,
) -> Result<(reqwest::Client, reqwest::Client), reqwest::Error> {
    crate::tls::init();
    let agent = concat!("Herald/", env!("CARGO_PKG_VERSION"));
    let trusted = reqwest::Client::builder()
        .user_agent(agent)
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()?;
    let guarded = reqwest::Client::builder()
        .user_agent(agent)
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve names itself, around the policy's resolver.
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(policy.clone()))
        .build()?;
    Ok((trusted, guarded))
}

/// Where an action comes from, for providers that carry it along (webhooks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionMeta {
    pub action_id: ActionId,
    pub uid: String,
    /// `None` in a preview.
    pub delivery_id: Option<DeliveryId>,
    pub app_name: String,
    pub site_url: Option<String>,
}

/// A validated action ready to render, with its provenance and the app's
/// provider options.
#[derive(Clone, Debug)]
pub struct RenderedAction {
    pub action: UserAction,
    pub meta: ActionMeta,
    pub options: BTreeMap<String, String>,
}

impl RenderedAction {
    /// The action's template expanded for this account, if it has one.
    pub fn headline(&self, account: &AccountInfo) -> Result<Option<Expanded>, RenderError> {
        let Some(t) = &self.action.template else {
            return Ok(None);
        };
        template::expand(
            t,
            &self.action.template_fields,
            account.display_name.as_deref(),
            self.action.action_name.as_deref(),
        )
        .map(Some)
        .map_err(|e| RenderError::Invalid {
            field: "template".into(),
            message: e.to_string(),
        })
    }
}

/// What is known of the account a post goes to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountInfo {
    pub provider_uid: Option<String>,
    pub display_name: Option<String>,
    pub url: Option<String>,
    /// A per-account or per-instance length limit overriding the capability's.
    pub max_text: Option<usize>,
}

/// A network-native post, exactly as it will be sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NativePost {
    /// The shape: an activity template (`CustomActivity`), `share`, `webhook`.
    pub kind: String,
    pub body: serde_json::Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A stored credential, decrypted for one call.
#[derive(Clone, Debug, Default)]
pub struct Credential {
    pub access_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub expires_at: Option<OffsetDateTime>,
    pub provider_uid: String,
    pub display_name: Option<String>,
    /// Target URL for URL-addressed providers (webhook).
    pub url: Option<String>,
    /// Signing secret for providers that sign (webhook).
    pub secret: Option<Secret>,
}

impl Credential {
    pub fn access_token(&self) -> Result<&str, ProviderError> {
        self.access_token
            .as_ref()
            .map(Secret::expose)
            .ok_or_else(|| ProviderError::AuthRevoked {
                status: None,
                message: "the connection has no access token".into(),
            })
    }
}

/// A stable key derived from the delivery id: the same on every attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn for_delivery(id: &DeliveryId) -> Self {
        IdempotencyKey(format!("herald-{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post that exists on the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub post_id: String,
    pub post_url: Option<String>,
}

/// How a user connects an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// OAuth WRAP (Windows Live Messenger Connect).
    Wrap,
    OAuth2,
    OAuth2Pkce,
    AppPassword,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OAuthSpec {
    pub flow: FlowKind,
    /// Relative to the consent base.
    pub authorize_path: &'static str,
    pub token_path: &'static str,
    pub scopes: Vec<&'static str>,
    /// The user names their server (`?instance=`, Mastodon): Herald registers
    /// a client there once per app ([`Provider::register_client`]) and the
    /// connection's `url` is that server.
    pub per_instance: bool,
}

/// A client registered at a user-named server, cached per app and server.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Secret,
}

/// An app-password login (Bluesky): handle or DID, the app password, and the
/// account's server when the user named one (else the provider's API base).
#[derive(Clone, Debug)]
pub struct PasswordLogin {
    pub identifier: String,
    pub password: Secret,
    pub service: Option<Url>,
}

/// An option an app may set for a provider (admin API), with its allowed
/// values (empty = free text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderOption {
    pub name: &'static str,
    pub values: &'static [&'static str],
}

/// What a provider needs to build its consent URL.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    /// Opaque, single-use; must come back unchanged on the callback.
    pub state: String,
    /// Herald's callback URL for this provider.
    pub callback_url: String,
    /// PKCE S256 challenge, for flows that use it.
    pub pkce_challenge: Option<String>,
}

/// What came back to Herald's callback, and what the exchange needs.
#[derive(Clone, Debug, Default)]
pub struct CallbackParams {
    /// The callback's query parameters.
    pub query: BTreeMap<String, String>,
    pub callback_url: String,
    pub pkce_verifier: Option<Secret>,
}

/// A credential as a site hands it in, checked by the provider before storing.
#[derive(Clone, Debug, Default)]
pub struct ConnectionInput {
    pub provider_uid: Option<String>,
    pub has_access_token: bool,
    pub url: Option<String>,
    pub has_secret: bool,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The canonical id, e.g. `messenger`.
    fn id(&self) -> &'static str;

    /// Other names the provider answers to (`windowslive`, `microsoft`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn defaults(&self) -> ProviderDefaults;

    /// The options an app may set for this provider (admin API validates them).
    fn options(&self) -> &'static [ProviderOption] {
        &[]
    }

    fn capabilities(&self) -> Capabilities;

    /// Checks a handed-in credential; returns the provider user id it is keyed by.
    fn check_connection(&self, input: &ConnectionInput) -> Result<String, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !input.has_access_token {
            errs.push("access_token", "is required");
        }
        let uid = input.provider_uid.clone().filter(|u| !u.trim().is_empty());
        if uid.is_none() {
            errs.push("provider_uid", "is required for this provider");
        }
        errs.into_result().map(|()| uid.unwrap_or_default())
    }

    /// Turns the action into this network's post. Pure: no IO.
    fn render(
        &self,
        action: &RenderedAction,
        account: &AccountInfo,
    ) -> Result<NativePost, RenderError>;

    async fn publish(
        &self,
        post: &NativePost,
        cred: &Credential,
        key: &IdempotencyKey,
        http: &HttpCtx,
    ) -> Result<Published, ProviderError>;

    async fn delete(
        &self,
        _post: &Published,
        _cred: &Credential,
        _http: &HttpCtx,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!("{} does not support deleting posts", self.id()),
        })
    }

    fn oauth(&self) -> Option<OAuthSpec> {
        None
    }

    /// The network's consent page for a connect flow (`Unsupported` when the
    /// provider has no such flow).
    fn authorize_url(
        &self,
        _req: &AuthorizeRequest,
        _http: &HttpCtx,
    ) -> Result<Url, ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!("{} has no connect flow", self.id()),
        })
    }

    /// The state the network sent back on the callback (where it is not `state`).
    fn callback_state<'a>(&self, query: &'a BTreeMap<String, String>) -> Option<&'a str> {
        query.get("state").map(String::as_str)
    }

    /// Exchanges the callback's code for a credential. A user who refused
    /// consent is `AuthRevoked` with the network's reason.
    async fn exchange(
        &self,
        _cb: &CallbackParams,
        _http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!("{} has no connect flow", self.id()),
        })
    }

    /// Every account one consent connects (Facebook: each Page the user
    /// manages, with its own token). Default: the one account of
    /// [`Provider::exchange`].
    async fn exchange_accounts(
        &self,
        cb: &CallbackParams,
        http: &HttpCtx,
    ) -> Result<Vec<Credential>, ProviderError> {
        Ok(vec![self.exchange(cb, http).await?])
    }

    /// Registers Herald as a client at a user-named server (`per_instance`
    /// flows). `http.api_base` is that server and `http.client` the guarded
    /// client. `callback_url` is the redirect URI to register.
    async fn register_client(
        &self,
        _callback_url: &str,
        _scopes: &[&str],
        _http: &HttpCtx,
    ) -> Result<RegisteredClient, ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!("{} has no per-server client registration", self.id()),
        })
    }

    /// Logs in with an app password (`FlowKind::AppPassword`) and returns the
    /// credential; `Credential::url` is the account's server when it is not
    /// the provider's API base. A refused password is `AuthRevoked`.
    async fn login_password(
        &self,
        _login: &PasswordLogin,
        _http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        Err(ProviderError::Unsupported {
            message: format!("{} has no app-password login", self.id()),
        })
    }

    /// Revokes the credential at the network before Herald deletes it.
    /// `Ok(false)`: the network has no revocation endpoint.
    async fn revoke(&self, _cred: &Credential, _http: &HttpCtx) -> Result<bool, ProviderError> {
        Ok(false)
    }

    /// Calls for an account go to the account's own server, stored as the
    /// connection's `url` (Mastodon instance, Bluesky PDS). Herald then sets
    /// `http.api_base` to it and `http.client` to the guarded client, since
    /// the address came from a user.
    fn account_server(&self) -> bool {
        false
    }

    /// Exchanges the refresh token for a new credential.
    async fn refresh(
        &self,
        _cred: &Credential,
        _http: &HttpCtx,
    ) -> Result<Credential, ProviderError> {
        Err(ProviderError::AuthRevoked {
            status: None,
            message: format!("{} credentials cannot be refreshed", self.id()),
        })
    }
}
