//! Route modules, one per resource; each exposes `configure`.

pub mod actions;
pub mod connect;
pub mod connections;
pub mod health;
pub mod short_links;
