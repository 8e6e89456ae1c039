//! Server settings that routes need: the public URL (short links, signature
//! candidates) and the Gigya surface's options.

use ipnet::IpNet;
use serde::Deserialize;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The URL sites and networks reach Herald at.
    pub public_url: url::Url,
    pub gigya: GigyaConfig,
    /// Signs and verifies admin tokens (base64 of 32 bytes).
    pub admin_key: herald_core::Secret,
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
        };
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("admin-key-xyz"), "{printed}");
        assert!(printed.contains("***"), "{printed}");
    }
}
