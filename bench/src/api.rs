//! Client for the parts of the Herald HTTP API the benchmark uses.
//!
//! Every `/v1` request carries a freshly minted HS256 JWT (`iss` = API key,
//! short expiry, unique `jti`), because the server refuses replayed `jti`s.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Lifetime of each minted token, in seconds.
const TOKEN_TTL_S: i64 = 300;

/// Per-request timeout of the HTTP client.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared secret the sink's webhook connections are registered with.
const WEBHOOK_SECRET: &str = "bench-secret";

/// Output of `herald apps create --json`.
#[derive(Debug, Deserialize)]
pub struct AppCredentials {
    pub id: String,
    pub api_key: String,
    /// Standard base64 (padded) of the 32-byte HMAC key.
    pub secret: String,
}

/// JWT claims expected by the `/v1` API.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// The relevant part of a `202 Accepted` answer to `POST /v1/actions`.
#[derive(Deserialize)]
struct ActionAccepted {
    id: String,
    deliveries: Vec<serde_json::Value>,
}

/// How the server answered one `POST /v1/actions`.
pub enum ActionOutcome {
    /// 202 with the action id and the number of deliveries it fans out to.
    Accepted {
        action_id: String,
        deliveries: usize,
    },
    /// Any other status, with the (possibly truncated) body.
    Rejected { status: StatusCode, body: String },
}

/// Builds the HTTP client used for the API and the readiness probe.
pub fn http_client(concurrency: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("building the HTTP client")
}

/// Cheap-to-clone API client bound to one app.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    key: EncodingKey,
}

impl ApiClient {
    pub fn new(http: reqwest::Client, base_url: &str, app: &AppCredentials) -> Result<Self> {
        let secret = STANDARD
            .decode(app.secret.trim())
            .context("decoding the app secret (expected standard base64)")?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: base_url.to_owned(),
                api_key: app.api_key.clone(),
                key: EncodingKey::from_secret(&secret),
            }),
        })
    }

    /// Mints a single-use bearer token.
    pub fn token(&self) -> Result<String> {
        let iat = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            iss: &self.inner.api_key,
            iat,
            exp: iat + TOKEN_TTL_S,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.key)
            .context("signing the JWT")
    }

    /// Gives `uid` `count` webhook connections, `sink-<i>` → `/hook/<i>` on the sink.
    pub async fn setup_webhooks(&self, uid: &str, count: u32, sink_port: u16) -> Result<()> {
        self.setup_webhooks_at(uid, count, sink_port, "/hook/")
            .await
    }

    /// Like [`ApiClient::setup_webhooks`], under the sink path `prefix`
    /// (e.g. the sink's failing prefix).
    pub async fn setup_webhooks_at(
        &self,
        uid: &str,
        count: u32,
        sink_port: u16,
        prefix: &str,
    ) -> Result<()> {
        for i in 0..count {
            let url = format!("{}/v1/users/{uid}/connections/webhook", self.inner.base_url);
            let body = json!({
                "provider_uid": format!("sink-{i}"),
                "url": format!("http://127.0.0.1:{sink_port}{prefix}{i}"),
                "secret": WEBHOOK_SECRET,
            });
            let response = self
                .inner
                .http
                .put(&url)
                .bearer_auth(self.token()?)
                .json(&body)
                .send()
                .await
                .with_context(|| format!("PUT {url}"))?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                bail!("PUT {url} answered {status}: {}", truncate(&text));
            }
        }
        Ok(())
    }

    /// Posts one action for `uid`, authenticated with `token`.
    ///
    /// Transport failures and unreadable 202 bodies are errors; other
    /// statuses are returned as [`ActionOutcome::Rejected`].
    pub async fn post_action(&self, uid: &str, token: &str) -> Result<ActionOutcome> {
        let url = format!("{}/v1/actions", self.inner.base_url);
        let body = json!({
            "uid": uid,
            "action": {
                "title": "bench",
                "link_back": "https://example.com/a",
                "user_message": "hello",
            },
        });
        let response = self
            .inner
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to POST {url}"))?;
        if status != StatusCode::ACCEPTED {
            let body = truncate(&String::from_utf8_lossy(&bytes)).to_owned();
            return Ok(ActionOutcome::Rejected { status, body });
        }
        let accepted: ActionAccepted = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "unexpected 202 body from POST {url}: {}",
                truncate(&String::from_utf8_lossy(&bytes))
            )
        })?;
        Ok(ActionOutcome::Accepted {
            action_id: accepted.id,
            deliveries: accepted.deliveries.len(),
        })
    }
}

/// Shortens server answers quoted in error messages.
fn truncate(text: &str) -> &str {
    const MAX: usize = 500;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
