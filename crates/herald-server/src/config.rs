//! Server settings that routes need: the public URL (short links, signature
//! candidates) and the Gigya surface's options.

use ipnet::IpNet;
use serde::Deserialize;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The URL sites and networks reach Herald at.
    pub public_url: url::Url,
    pub gigya: GigyaConfig,
    pub http: HttpConfig,
    /// Signs and verifies admin tokens (base64 of 32 bytes).
    pub admin_key: herald_core::Secret,
    pub connections: ConnectionsConfig,
}

/// Limits on users' connections and on connect flows nobody confirmed.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Connections one user of an app may hold on one provider; a new one
    /// past it is refused (422 naming `provider`), updates are not.
    pub max_per_user_provider: u32,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            max_per_user_provider: 20,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GigyaConfig {
    /// Data-center labels whose canonical URLs signatures may be computed over
    /// (`https://socialize.<dc>.gigya.com/<method>`).
    pub data_centers: Vec<String>,
    /// How long `publishUserAction` waits for first attempts before answering.
    pub publish_wait_ms: u64,
    /// Peers whose `X-Forwarded-Proto: https` is believed (TLS terminators);
    /// secrets are accepted only over HTTPS.
    #[serde(deserialize_with = "crate::config::net_list")]
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for GigyaConfig {
    fn default() -> Self {
        GigyaConfig {
            data_centers: vec!["us1".into()],
            publish_wait_ms: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Limits of the HTTP server itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's body must arrive within this many seconds of its head
    /// (else 408 and the connection is closed).
    pub body_timeout_seconds: u64,
    /// Open connections each server worker (one per CPU) accepts at most;
    /// further clients wait in the listen backlog.
    pub max_connections: usize,
    /// TLS handshakes each worker runs at once (actix `max_connection_rate`).
    pub max_connection_rate: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_timeout_seconds: 10,
            max_connections: 25_000,
            max_connection_rate: 256,
        }
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=600).contains(&self.body_timeout_seconds) {
            return Err("http.body_timeout_seconds must be between 1 and 600".into());
        }
        if self.max_connections == 0 || self.max_connection_rate == 0 {
            return Err(
                "http.max_connections and http.max_connection_rate must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// A comma-separated string (as environment variables give it) or a list.
pub fn net_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        List(Vec<String>),
    }
    let items = match Raw::deserialize(d)? {
        Raw::Text(s) => s.split(',').map(str::to_owned).collect(),
        Raw::List(l) => l,
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a CIDR")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_admin_key() {
        let cfg = ServerConfig {
            public_url: "https://herald.example/".parse().unwrap(),
            gigya: GigyaConfig::default(),
            admin_key: herald_core::Secret::new("admin-key-xyz"),
            http: HttpConfig::default(),
            connections: ConnectionsConfig::default(),
        };
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("admin-key-xyz"), "{printed}");
        assert!(printed.contains("***"), "{printed}");
    }
}
