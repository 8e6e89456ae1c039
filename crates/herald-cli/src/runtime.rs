//! What the commands do: open the store (creating the data dir and master key
//! on first run), wire store + providers + dispatcher + server, and the small
//! admin commands.

use crate::config::{Config, LogFormat};
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_core::OutboundPolicy;
use herald_dispatch::{Dispatcher, RetentionRunner};
use herald_providers::ProviderRegistry;
use herald_server::AppState;
use herald_store::repo::app_keys::Permission;
use herald_store::{NewApp, SecretBox, Store, generate_master_key};
use std::time::Duration;
use tracing::{info, warn};

pub fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The master key from configuration, or from `<data_dir>/master.key`,
/// generated there on first run.
fn master_key(cfg: &Config) -> Result<String> {
    if let Some(k) = &cfg.master_key {
        return Ok(k.expose().to_owned());
    }
    let path = cfg.data_dir.join("master.key");
    if path.exists() {
        return std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .with_context(|| format!("reading {}", path.display()));
    }
    let key = generate_master_key();
    write_private(&path, &key)?;
    warn!(
        path = %path.display(),
        "generated a new master key; back it up (tokens cannot be decrypted without it) \
         and give every node that shares this database the same key (HERALD_MASTER_KEY)"
    );
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, content: &str) -> Result<()> {
    std::fs::write(path, content).with_context(|| format!("creating {}", path.display()))
}

/// The admin-token signing key from configuration, or from
/// `<data_dir>/admin.key`, generated there on first run.
pub fn admin_key(cfg: &Config) -> Result<String> {
    if let Some(k) = &cfg.admin_key {
        return Ok(k.expose().to_owned());
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let path = cfg.data_dir.join("admin.key");
    if path.exists() {
        return std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .with_context(|| format!("reading {}", path.display()));
    }
    let key = generate_master_key();
    write_private(&path, &key)?;
    info!(path = %path.display(), "generated a new admin key (signs admin tokens; give every API node the same HERALD_ADMIN_KEY)");
    Ok(key)
}

/// Parses `1h`, `30m`, `90s` or plain seconds.
pub fn parse_ttl(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("--ttl {s:?}: expected e.g. 1h, 30m, 90s"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--ttl {s:?}: the unit must be s, m, h or d"),
    };
    if !(1..=30 * 86_400).contains(&secs) {
        bail!("--ttl must be between 1 second and 30 days");
    }
    Ok(secs)
}

/// `herald admin token`: prints an admin JWT on the last line.
pub fn admin_token(cfg: &Config, sub: &str, role: &str, apps: &[String], ttl: &str) -> Result<()> {
    use herald_server::admin::auth::{AdminClaims, Role, mint};
    let role = match role {
        "admin" => Role::Admin,
        "app-admin" => Role::AppAdmin,
        other => bail!("--role must be admin or app-admin, not {other:?}"),
    };
    if role == Role::AppAdmin && apps.is_empty() {
        bail!("an app-admin token needs --apps ID[,ID…]");
    }
    if sub.trim().is_empty() || sub.len() > 200 {
        bail!("--sub must be 1 to 200 characters");
    }
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = AdminClaims {
        sub: sub.to_owned(),
        role,
        apps: apps.to_vec(),
        iat,
        exp: iat + parse_ttl(ttl)?,
    };
    let token = mint(&admin_key(cfg)?, &claims).map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(())
}

/// Keys that decrypt but never encrypt: `readable_master_keys` and the lines
/// of `<data_dir>/master.key.readable`.
fn readable_master_keys(cfg: &Config) -> Result<Vec<String>> {
    let mut keys: Vec<String> = cfg
        .readable_master_keys
        .iter()
        .map(|k| k.expose().to_owned())
        .collect();
    let path = cfg.data_dir.join("master.key.readable");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(keys)
}

/// `herald keys rotate-master`: optionally generates a new file-managed
/// master key (the old one stays readable), then re-encrypts every stored
/// secret under the current key and prints a JSON report.
pub async fn rotate_master(cfg: &Config, generate: bool) -> Result<()> {
    if generate {
        if cfg.master_key.is_some() {
            bail!(
                "--generate rotates the key file in the data dir, but master_key is set in                  configuration: generate a key with `herald keys generate-master`, deploy it as                  master_key with the old one in readable_master_keys, then run rotate-master"
            );
        }
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
        let old = master_key(cfg)?;
        let readable = cfg.data_dir.join("master.key.readable");
        append_private(&readable, &format!("{old}\n"))?;
        let path = cfg.data_dir.join("master.key");
        let tmp = cfg.data_dir.join("master.key.new");
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &generate_master_key())?;
        std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
        warn!(
            path = %path.display(),
            "generated a new master key; the old one stays readable in master.key.readable \
             until every value is re-encrypted. Back up the new key."
        );
        // Running nodes on this data dir reload the key files every few
        // seconds: let them, so they can read what is re-encrypted next.
        let wait = KEY_RELOAD * 2 + Duration::from_secs(1);
        info!(
            seconds = wait.as_secs(),
            "waiting for running nodes to load the new key"
        );
        tokio::time::sleep(wait).await;
    }
    let store = open_store(cfg).await?;
    let report = store
        .reencrypt_all()
        .await
        .context("re-encrypting stored secrets")?;
    let remaining = store.encrypted_key_ids().await?;
    let others: u64 = remaining
        .values()
        .flat_map(|m| m.iter())
        .filter(|(id, _)| **id != report.key_id)
        .map(|(_, n)| n)
        .sum();
    let unbound = store.unbound_values().await?;
    println!(
        "{}",
        serde_json::json!({
            "key_id": report.key_id,
            "reencrypted": report.reencrypted,
            "changed_meanwhile": report.changed_meanwhile,
            "unreadable": report.unreadable,
            "values_under_other_keys": others,
            "values_unbound": unbound,
        })
    );
    if unbound > 0 {
        warn!(
            unbound,
            "some values are still in the unbound v1 form (written meanwhile by a node of an \
             older version): upgrade every node, then run rotate-master again"
        );
    }
    if others > 0 {
        warn!(
            others,
            "some values are still under older keys (written meanwhile by a server that              encrypts with the old key): restart every node with the new key, then run              rotate-master again before removing the old key"
        );
    } else {
        info!("every stored secret is under the current key; older keys may now be removed");
    }
    Ok(())
}

#[cfg(unix)]
fn append_private(path: &std::path::Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn append_private(path: &std::path::Path, content: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

/// Opens (and migrates) the database.
pub async fn open_store(cfg: &Config) -> Result<Store> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let secrets =
        SecretBox::new(&master_key(cfg)?, &readable_master_keys(cfg)?).context("master key")?;
    let url = cfg.database_url();
    let store = Store::connect(&url.0, secrets)
        .await
        .with_context(|| format!("opening the database ({})", url.redacted()))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

pub async fn serve(cfg: Config, with_api: bool) -> Result<()> {
    let store = open_store(&cfg).await?;
    let metrics = install_metrics();
    // Histogram samples pile up in the recorder until a scrape or an upkeep
    // drains them: without a scraper, memory would grow with every attempt.
    let upkeep = metrics.clone().map(|handle| {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(5));
            loop {
                ticker.tick().await;
                handle.run_upkeep();
            }
        })
    });
    let dispatcher = Dispatcher::new(
        store.clone(),
        ProviderRegistry::builtin(),
        cfg.dispatch.clone(),
        cfg.providers.clone(),
        OutboundPolicy::new(cfg.allowed_private_nets.clone()),
    )
    .map_err(anyhow::Error::msg)?;
    // Every series is listed from start, zero-valued, for every provider.
    let providers: Vec<&str> = dispatcher.registry().ids().collect();
    herald_core::telemetry::describe_and_zero(&providers);
    let queue_gauges = herald_dispatch::queue_gauges::start(
        store.clone(),
        herald_dispatch::queue_gauges::QUEUE_GAUGES_EVERY,
    );
    let poller = dispatcher.start();
    // Retention runs on every node, API or worker-only, whatever the worker
    // count: nonces and JWT ids must be purged even where nothing is sent.
    let retention = RetentionRunner::new(
        store.clone(),
        cfg.retention.clone(),
        herald_dispatch::retention::jobs(&store, &dispatcher, &cfg.retention),
    )
    .start();
    let key_watch = watch_key_files(&cfg, store.clone());
    info!(node = dispatcher.node_id(), database = %cfg.database_url().redacted(), "delivery workers started");
    if with_api {
        info!(bind = %cfg.bind, public_url = %cfg.public_url(), "Herald API listening");
        let state = AppState {
            store,
            dispatcher: dispatcher.clone(),
            metrics,
            config: herald_server::config::ServerConfig {
                public_url: cfg.public_url(),
                gigya: cfg.gigya.clone(),
                http: cfg.http.clone(),
                admin_key: herald_core::Secret::new(admin_key(&cfg)?),
                connections: cfg.connections.clone(),
            },
        };
        herald_server::serve(state, &cfg.bind)
            .await
            .with_context(|| format!("serving on {}", cfg.bind))?;
    } else {
        shutdown_signal().await;
    }
    info!("stopping: waiting for deliveries in flight");
    dispatcher
        .shutdown(Duration::from_secs(cfg.dispatch.http_timeout_seconds + 1))
        .await;
    poller.abort();
    retention.abort();
    queue_gauges.abort();
    if let Some(u) = upkeep {
        u.abort();
    }
    if let Some(w) = key_watch {
        w.abort();
    }
    Ok(())
}

/// Installs the Prometheus recorder, with buckets for the histogram series.
/// `None` when a recorder is already installed (then `/metrics` answers 404).
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in herald_core::telemetry::histogram_buckets() {
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "metrics buckets refused");
                return None;
            }
        };
    }
    builder.install_recorder().ok()
}

/// How often a node re-reads file-managed master keys.
const KEY_RELOAD: Duration = Duration::from_secs(5);

/// With file-managed master keys, reloads them when the files change, so that
/// `herald keys rotate-master --generate` on this data dir takes effect in a
/// running node without a restart.
fn watch_key_files(cfg: &Config, store: Store) -> Option<tokio::task::JoinHandle<()>> {
    if cfg.master_key.is_some() {
        return None;
    }
    let cfg = cfg.clone();
    Some(tokio::spawn(async move {
        let read = |cfg: &Config| -> Option<(String, Vec<String>)> {
            let key = std::fs::read_to_string(cfg.data_dir.join("master.key")).ok()?;
            Some((key.trim().to_owned(), readable_master_keys(cfg).ok()?))
        };
        let mut last = read(&cfg);
        loop {
            tokio::time::sleep(KEY_RELOAD).await;
            let now = read(&cfg);
            if now.is_none() || now == last {
                continue;
            }
            let (key, readable) = now.clone().expect("checked");
            match SecretBox::new(&key, &readable) {
                Ok(b) => {
                    info!(
                        key_id = b.key_id(),
                        readable = readable.len(),
                        "master keys reloaded"
                    );
                    store.replace_secrets(b);
                    last = now;
                }
                Err(e) => {
                    warn!(error = %e, "master key files changed but do not hold valid keys; keeping the loaded ones")
                }
            }
        }
    }))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn find_app(store: &Store, app: &str) -> Result<herald_store::entities::apps::Model> {
    store
        .app_by_id_or_key(app)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no app with id or api key {app:?}"))
}

/// `keys create`: an HMAC userKey with every permission.
pub async fn create_hmac_key(cfg: &Config, app: &str, json: bool) -> Result<()> {
    let store = open_store(cfg).await?;
    let app = find_app(&store, app).await?;
    let (key, secret) = store
        .create_hmac_key(&app.app_id(), &Permission::ALL)
        .await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"user_key": key.user_key, "secret": secret.expose()})
        );
    } else {
        println!(
            "user key created\n  user key: {}\n  secret:   {}\n(the secret is shown only now)",
            key.user_key,
            secret.expose()
        );
    }
    Ok(())
}

/// `keys add-rsa`: registers an RSA public key for RS256 bearer tokens.
pub async fn add_rsa_key(
    cfg: &Config,
    app: &str,
    pem_file: &std::path::Path,
    json: bool,
) -> Result<()> {
    let pem = std::fs::read_to_string(pem_file)
        .with_context(|| format!("reading {}", pem_file.display()))?;
    jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an RSA public key in PEM form: {e}",
            pem_file.display()
        )
    })?;
    let store = open_store(cfg).await?;
    let app = find_app(&store, app).await?;
    let key = store
        .create_rsa_key(&app.app_id(), pem.trim(), &Permission::ALL)
        .await?;
    if json {
        println!("{}", serde_json::json!({"user_key": key.user_key}));
    } else {
        println!("RSA key registered\n  user key (JWT kid): {}", key.user_key);
    }
    Ok(())
}

pub async fn create_app(
    cfg: &Config,
    name: String,
    site_url: Option<String>,
    json: bool,
) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 {
        bail!("--name must be 1 to 200 characters");
    }
    if let Some(u) = &site_url {
        herald_core::action::check_http_url(u).map_err(|m| anyhow::anyhow!("--site-url {m}"))?;
    }
    let store = open_store(cfg).await?;
    let created = store
        .create_app(NewApp {
            name,
            site_url,
            ..Default::default()
        })
        .await?;
    let out = serde_json::json!({
        "id": created.app.id,
        "api_key": created.app.api_key,
        "secret": created.secret.expose(),
    });
    if json {
        println!("{out}");
    } else {
        println!(
            "app created\n  id:      {}\n  api key: {}\n  secret:  {}\n(the secret is shown only now; store it safely)",
            created.app.id,
            created.app.api_key,
            created.secret.expose()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttls() {
        assert_eq!(super::parse_ttl("1h").unwrap(), 3600);
        assert_eq!(super::parse_ttl("30m").unwrap(), 1800);
        assert_eq!(super::parse_ttl("90s").unwrap(), 90);
        assert_eq!(super::parse_ttl("3600").unwrap(), 3600);
        assert!(super::parse_ttl("0").is_err());
        assert!(super::parse_ttl("1y").is_err());
        assert!(super::parse_ttl("h").is_err());
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A bearer JWT for `/v1`: HS256 with the decoded app secret.
pub fn app_token(api_key: &str, secret: &str, ttl: i64) -> Result<String> {
    if !(1..=300).contains(&ttl) {
        bail!("--ttl must be between 1 and 300 seconds");
    }
    let key = STANDARD
        .decode(secret.trim())
        .context("--secret must be the base64 app secret printed by `herald apps create`")?;
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims {
        iss: api_key,
        iat,
        exp: iat + ttl,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .context("signing the token")
}
