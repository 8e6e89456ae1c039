//! Repositories: one module per resource, each a set of methods on [`Store`](crate::Store).

pub mod actions;
pub mod app_keys;
pub mod apps;
pub mod audit;
pub mod claims;
pub mod connections;
pub mod deliveries;
pub mod nonces;
pub mod oauth_clients;
pub mod oauth_states;
pub mod pending_connections;
pub mod provider_configs;
pub mod queue_stats;
pub mod retention;
pub mod rotation;
pub mod short_links;
pub mod templates;
pub mod writer;
