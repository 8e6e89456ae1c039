//! Delivery workers. An accepted action's deliveries are handed to the local
//! pool at once; a poller picks up whatever is left (due retries, other nodes'
//! hand-offs, deliveries whose worker died) with a lease. Each attempt renders
//! the action, publishes it with the connection's credential and records the
//! outcome; the [`policy`] module decides what each provider error means.

pub mod config;
pub mod handoff;
pub mod payload;
pub mod pending;
pub mod policy;
pub mod queue_gauges;
pub mod refresh;
pub mod retention;
mod settings;
mod worker;

pub use config::{DispatchConfig, ProviderEntry, ProvidersConfig};
pub use handoff::{HandOff, HandOffAction, HandOffDelivery};
pub use payload::{ActionPayload, PAYLOAD_VERSION, PayloadError, ProviderChoice};
pub use pending::sweep_unredeemed;
pub use refresh::RefreshReason;
pub use retention::{RetentionConfig, RetentionJob, RetentionRunner};
pub use settings::{SettingsError, overrides_base, uses_client_credentials};
pub use worker::Dispatcher;
