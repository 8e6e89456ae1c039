//! Herald's domain: the normalized user action, templates, text fitting, the
//! `Provider` trait every network plugs into, and the error classification the
//! dispatcher acts on. No database, no HTTP server: only pure logic and the
//! types shared by every other crate.

pub mod action;
pub mod domains;
pub mod error;
pub mod ids;
pub mod oauth2;
pub mod outbound;
pub mod provider;
pub mod secret;
pub mod telemetry;
pub mod template;
pub mod text;
pub mod times;
pub mod tls;

pub use action::{ActionLink, MediaItem, MediaType, Privacy, Scope, TemplateField, UserAction};
pub use error::{ErrorClass, FieldError, ProviderError, RenderError, ValidationErrors};
pub use ids::{ActionId, AppId, AttemptId, ConnectionId, DeliveryId};
pub use outbound::{OutboundError, OutboundPolicy};
pub use provider::{
    AccountInfo, ActionMeta, AuthorizeRequest, CallbackParams, Capabilities, Credential, FlowKind,
    HttpCtx, IdempotencyKey, NativePost, OAuthSpec, PasswordLogin, Provider, ProviderDefaults,
    ProviderOption, ProviderSettings, Published, RegisteredClient, RenderedAction, TextCounting,
};
pub use secret::Secret;
