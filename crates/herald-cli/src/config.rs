//! Layered configuration (figment): the compiled-in `config/default.toml` <
//! `--config FILE` < `HERALD_*` environment variables (`__` for nesting).

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use herald_core::Secret;
use herald_dispatch::{DispatchConfig, ProvidersConfig, RetentionConfig};
use herald_server::config::{ConnectionsConfig, GigyaConfig, HttpConfig};
use ipnet::IpNet;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub bind: String,
    pub public_url: Option<url::Url>,
    pub data_dir: PathBuf,
    pub database_url: Option<DatabaseUrl>,
    pub master_key: Option<Secret>,
    /// Older (or staged) master keys that decrypt but never encrypt, during a
    /// rotation; also read from `<data_dir>/master.key.readable`.
    #[serde(default)]
    pub readable_master_keys: Vec<Secret>,
    /// Signs admin tokens; default: generated into `<data_dir>/admin.key`.
    pub admin_key: Option<Secret>,
    #[serde(deserialize_with = "herald_server::config::net_list")]
    pub allowed_private_nets: Vec<IpNet>,
    pub log: String,
    pub log_format: LogFormat,
    pub dispatch: DispatchConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub gigya: GigyaConfig,
    #[serde(default)]
    pub connections: ConnectionsConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
}

/// A database URL, whose password `Debug` (and [`DatabaseUrl::redacted`])
/// replace with `***`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        let Ok(mut u) = url::Url::parse(&self.0) else {
            // Nothing of a URL that does not parse is known to be harmless.
            return "***".into();
        };
        if u.password().is_some() {
            let _ = u.set_password(Some("***"));
        }
        // sqlx also takes the password as a query parameter.
        if u.query_pairs().any(|(k, _)| k == "password") {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "***".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        u.to_string()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut fig = Figment::from(Toml::string(DEFAULTS));
        if let Some(f) = file {
            if !f.exists() {
                return Err(format!("config file {} does not exist", f.display()));
            }
            fig = fig.merge(Toml::file(f));
        }
        let fig = fig.merge(Env::prefixed("HERALD_").split("__"));
        let cfg: Config = fig.extract().map_err(|e| format!("configuration: {e}"))?;
        cfg.dispatch.validate()?;
        cfg.http.validate()?;
        Ok(cfg)
    }

    pub fn database_url(&self) -> DatabaseUrl {
        self.database_url.clone().unwrap_or_else(|| {
            DatabaseUrl(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("herald.db").display()
            ))
        })
    }

    pub fn public_url(&self) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://{}/", self.bind))
                .unwrap_or_else(|_| url::Url::parse("http://127.0.0.1:8080/").expect("literal URL"))
        })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure type
mod tests {
    #[test]
    fn a_database_password_is_hidden_wherever_the_url_holds_it() {
        for (url, secret) in [
            ("postgres://herald:pw-1@db/herald", "pw-1"),
            (
                "postgres://herald@db/herald?sslmode=require&password=pw-2",
                "pw-2",
            ),
            ("not a url with pw-3", "pw-3"),
        ] {
            let shown = format!("{:?}", DatabaseUrl(url.into()));
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            DatabaseUrl("sqlite:///data/herald.db".into()).redacted(),
            "sqlite:///data/herald.db"
        );
    }

    use super::*;

    #[test]
    fn defaults_parse_and_env_overrides() {
        figment::Jail::expect_with(|jail| {
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.bind, "127.0.0.1:8080");
            assert_eq!(cfg.dispatch.max_attempts, 8);
            assert!(cfg.allowed_private_nets.is_empty());
            assert_eq!(cfg.providers["messenger"].options["mode"], "activities");

            jail.set_env("HERALD_BIND", "127.0.0.1:9999");
            jail.set_env("HERALD_DISPATCH__MAX_ATTEMPTS", "3");
            jail.set_env("HERALD_ALLOWED_PRIVATE_NETS", "127.0.0.1/32, 10.0.0.0/8");
            jail.set_env(
                "HERALD_PROVIDERS__MESSENGER__API_BASE",
                "http://127.0.0.1:1234/",
            );
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.bind, "127.0.0.1:9999");
            assert_eq!(cfg.dispatch.max_attempts, 3);
            assert_eq!(cfg.allowed_private_nets.len(), 2);
            assert_eq!(
                cfg.providers["messenger"]
                    .api_base
                    .as_ref()
                    .map(|u| u.as_str()),
                Some("http://127.0.0.1:1234/")
            );
            assert_eq!(cfg.public_url().as_str(), "http://127.0.0.1:9999/");
            assert_eq!(cfg.gigya.data_centers, vec!["us1".to_owned()]);
            // config/default.toml states the same retention defaults as the code.
            assert_eq!(cfg.retention, RetentionConfig::default());
            assert_eq!(cfg.http.body_timeout_seconds, 10);
            jail.set_env("HERALD_HTTP__BODY_TIMEOUT_SECONDS", "0");
            let e = Config::load(None).unwrap_err();
            assert!(e.contains("body_timeout_seconds"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn debug_prints_no_key_secret_or_database_password() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "HERALD_DATABASE_URL",
                "postgres://herald:db-pass-xyz@db.example/herald",
            );
            jail.set_env("HERALD_MASTER_KEY", "master-key-xyz");
            jail.set_env("HERALD_ADMIN_KEY", "admin-key-xyz");
            jail.set_env("HERALD_READABLE_MASTER_KEYS", "[\"old-key-xyz\"]");
            jail.set_env("HERALD_PROVIDERS__X__CLIENT_SECRET", "client-secret-xyz");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.readable_master_keys.len(), 1);
            let printed = format!("{cfg:?}");
            for secret in [
                "db-pass-xyz",
                "master-key-xyz",
                "admin-key-xyz",
                "old-key-xyz",
                "client-secret-xyz",
            ] {
                assert!(!printed.contains(secret), "{secret} in {printed}");
            }
            assert!(printed.contains("postgres://herald:***@db.example/herald"));
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HERALD_ALLOWED_PRIVATE_NETS", "not-a-net");
            let e = Config::load(None).unwrap_err();
            assert!(e.contains("not-a-net"), "{e}");
            jail.set_env("HERALD_ALLOWED_PRIVATE_NETS", "");
            jail.set_env("HERALD_DISPATCH__HTTP_TIMEOUT_SECONDS", "60");
            let e = Config::load(None).unwrap_err();
            assert!(e.contains("lease_seconds"), "{e}");
            Ok(())
        });
    }
}
