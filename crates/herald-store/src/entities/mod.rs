//! sea-orm entities, one module per table (see migrations/ for the schema).

pub mod actions;
pub mod admin_audit;
pub mod app_keys;
pub mod apps;
pub mod connections;
pub mod deliveries;
pub mod delivery_attempts;
pub mod link_clicks;
pub mod nonces;
pub mod oauth_clients;
pub mod oauth_states;
pub mod pending_connections;
pub mod provider_configs;
pub mod short_links;
pub mod templates;
