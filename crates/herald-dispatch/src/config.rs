//! Dispatch settings (`[dispatch]`) and operator-level provider settings
//! (`[providers.<id>]`), deserialized from the layered configuration.

use herald_core::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// Deliveries sent at once by this node.
    pub workers: usize,
    /// How long a claimed delivery stays ours; must exceed the HTTP timeout.
    pub lease_seconds: u64,
    /// How often the poller looks for due retries and expired leases.
    pub poll_interval_ms: u64,
    pub batch_size: u64,
    /// Attempts before a delivery is marked `failed`.
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_factor: f64,
    pub backoff_cap_ms: u64,
    /// Timeout of one network request.
    pub http_timeout_seconds: u64,
    /// Tokens expiring within this lead time are refreshed in the background.
    pub refresh_lead_seconds: u64,
    /// Each connection's lead is shortened by a fixed fraction of up to this
    /// much, so tokens that expire together are not all refreshed at once.
    pub refresh_jitter: f64,
    /// How often the background refresher looks; 0 turns it off.
    pub refresh_interval_seconds: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            workers: 32,
            lease_seconds: 30,
            poll_interval_ms: 500,
            batch_size: 64,
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_factor: 2.0,
            backoff_cap_ms: 15 * 60 * 1000,
            http_timeout_seconds: 20,
            refresh_lead_seconds: 600,
            refresh_jitter: 0.2,
            refresh_interval_seconds: 30,
        }
    }
}

impl DispatchConfig {
    /// Checks the values that would make delivery unsafe or stuck.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("dispatch.workers must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return Err("dispatch.max_attempts must be at least 1".into());
        }
        if self.http_timeout_seconds >= self.lease_seconds {
            return Err(format!(
                "dispatch.http_timeout_seconds ({}) must be below dispatch.lease_seconds ({}), \
                 or a slow request could be sent twice",
                self.http_timeout_seconds, self.lease_seconds
            ));
        }
        if !(1.0..=10.0).contains(&self.backoff_factor) {
            return Err("dispatch.backoff_factor must be between 1 and 10".into());
        }
        if !(0.0..1.0).contains(&self.refresh_jitter) {
            return Err("dispatch.refresh_jitter must be at least 0 and below 1".into());
        }
        if self.poll_interval_ms == 0 || self.batch_size == 0 {
            return Err(
                "dispatch.poll_interval_ms and dispatch.batch_size must be positive".into(),
            );
        }
        Ok(())
    }

    pub fn lease_ms(&self) -> i64 {
        (self.lease_seconds * 1000) as i64
    }
}

/// `[providers.<id>]`: the operator's settings for one provider (trusted).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProviderEntry {
    pub api_base: Option<url::Url>,
    pub consent_base: Option<url::Url>,
    pub client_id: Option<String>,
    /// `Secret`: printed as `***` by `Debug`.
    pub client_secret: Option<Secret>,
    /// Every other key is a provider option (e.g. `mode = "share"`).
    #[serde(flatten)]
    pub options: BTreeMap<String, serde_json::Value>,
}

pub type ProvidersConfig = BTreeMap<String, ProviderEntry>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_timeouts_are_checked() {
        DispatchConfig::default().validate().unwrap();
        let bad = DispatchConfig {
            http_timeout_seconds: 30,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("lease_seconds"));
    }

    #[test]
    fn a_provider_entry_prints_no_client_secret() {
        let e = ProviderEntry {
            client_id: Some("client-1".into()),
            client_secret: Some("operator-secret-xyz".into()),
            ..Default::default()
        };
        let printed = format!("{e:?}");
        assert!(!printed.contains("operator-secret-xyz"), "{printed}");
        assert!(
            printed.contains("***") && printed.contains("client-1"),
            "{printed}"
        );
    }
}
