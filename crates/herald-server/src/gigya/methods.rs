//! The Gigya methods Herald serves. Publishing goes through the same path as
//! `/v1/actions`; connections are the same rows as the native API's.

use super::auth::Caller;
use super::errors::{Code, GigyaError};
use super::params::Params;
use super::signature;
use super::user_action::{GigyaUserAction, gigya_field};
use crate::AppState;
use crate::publish::{self, PublishError, PublishInput};
use herald_core::provider::ConnectionInput;
use herald_core::{Privacy, Scope, Secret, UserAction};
use herald_store::ConnectionUpsert;
use herald_store::repo::app_keys::Permission;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// A method's answer: extra fields on success, or an error with extra fields.
pub type Answer = Result<Map<String, Value>, (GigyaError, Map<String, Value>)>;

fn fail(e: GigyaError) -> (GigyaError, Map<String, Value>) {
    (e, Map::new())
}

/// The permission each method needs; `None` = not a method Herald serves.
pub fn permission(method: &str) -> Option<Permission> {
    Some(match method {
        "socialize.publishUserAction" | "socialize.setStatus" | "socialize.shortenURL" => {
            Permission::Publish
        }
        "socialize.notifyLogin" | "socialize.removeConnection" | "socialize.deleteAccount" => {
            Permission::Connections
        }
        "socialize.getUserInfo" => Permission::Read,
        _ => return None,
    })
}

pub async fn call(state: &AppState, caller: &Caller, method: &str, p: &Params) -> Answer {
    match method {
        "socialize.publishUserAction" => {
            let ua: GigyaUserAction = p
                .json("userAction")
                .map_err(fail)?
                .ok_or_else(|| fail(GigyaError::missing("userAction")))?;
            publish_action(state, caller, p, ua.into_action()).await
        }
        "socialize.setStatus" => {
            let status = p.required("status").map_err(fail)?;
            let action = UserAction {
                user_message: Some(status.to_owned()),
                ..Default::default()
            };
            publish_action(state, caller, p, action).await
        }
        "socialize.shortenURL" => shorten_url(state, caller, p).await.map_err(fail),
        "socialize.getUserInfo" => get_user_info(state, caller, p).await.map_err(fail),
        "socialize.notifyLogin" => notify_login(state, caller, p).await.map_err(fail),
        "socialize.removeConnection" => remove_connection(state, caller, p).await.map_err(fail),
        "socialize.deleteAccount" => delete_account(state, caller, p).await.map_err(fail),
        other => Err(fail(GigyaError::new(
            Code::InvalidMethod,
            format!("Invalid API method: {other}"),
        ))),
    }
}

fn providers(
    state: &AppState,
    p: &Params,
    name: &str,
) -> Result<Option<Vec<&'static str>>, GigyaError> {
    let Some(list) = p.list(name) else {
        return Ok(None);
    };
    list.iter()
        .map(|n| {
            state
                .registry()
                .canonical(n)
                .ok_or_else(|| GigyaError::invalid(name, format!("unknown provider {n:?}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `cid`, `tags`, `feedID`, `scope`, `privacy` and `shortURLs` onto the action.
fn apply_common(p: &Params, action: &mut UserAction) -> Result<ShortUrls, GigyaError> {
    action.cid = p.value("cid").map(str::to_owned);
    action.feed_id = p.value("feedID").map(str::to_owned);
    if let Some(tags) = p.list("tags") {
        action.tags = tags;
    }
    action.scope = match p.value("scope") {
        None => None,
        Some("external") => Some(Scope::External),
        Some("internal") => Some(Scope::Internal),
        Some("both") => Some(Scope::Both),
        Some(v) => {
            return Err(GigyaError::invalid(
                "scope",
                format!("{v:?} (external, internal or both)"),
            ));
        }
    };
    action.privacy = match p.value("privacy") {
        None => None,
        Some("public") => Some(Privacy::Public),
        Some("friends") => Some(Privacy::Friends),
        Some("private") => Some(Privacy::Private),
        Some(v) => {
            return Err(GigyaError::invalid(
                "privacy",
                format!("{v:?} (public, friends or private)"),
            ));
        }
    };
    if let Some(attrs) = p.json::<Map<String, Value>>("actionAttributes")?
        && attrs.len() > 10
    {
        return Err(GigyaError::invalid(
            "actionAttributes",
            "at most 10 attributes",
        ));
    }
    match p.value("shortURLs").unwrap_or("whenRequired") {
        "always" => Ok(ShortUrls::Always),
        "whenRequired" => Ok(ShortUrls::WhenRequired),
        "never" => Ok(ShortUrls::Never),
        v => Err(GigyaError::invalid(
            "shortURLs",
            format!("{v:?} (always, whenRequired or never)"),
        )),
    }
}

#[derive(PartialEq, Eq)]
enum ShortUrls {
    Always,
    /// Shorten only where a network's length limit needs it (none of the
    /// current providers has one).
    WhenRequired,
    Never,
}

fn request_hash(p: &Params) -> String {
    let mut pairs: Vec<&(String, String)> = p
        .pairs()
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "sig" | "nonce" | "timestamp" | "secret" | "callback" | "context"
            )
        })
        .collect();
    pairs.sort();
    let mut h = Sha256::new();
    for (k, v) in pairs {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Gigya's code for a delivery's failure class.
fn delivery_code(class: &str) -> Code {
    match class {
        "auth_expired" | "auth_revoked" => Code::ProviderSessionExpired,
        "rate_limited" => Code::RateLimited,
        _ => Code::ProviderError,
    }
}

async fn publish_action(
    state: &AppState,
    caller: &Caller,
    p: &Params,
    mut action: UserAction,
) -> Answer {
    let uid = p.uid().map_err(fail)?.to_owned();
    let short = apply_common(p, &mut action).map_err(fail)?;
    if let Err(errs) = action.validate() {
        let first = &errs.0[0];
        return Err(fail(GigyaError::invalid(
            &format!("userAction.{}", gigya_field(&first.field)),
            &first.message,
        )));
    }
    let enabled = providers(state, p, "enabledProviders").map_err(fail)?;
    let disabled = providers(state, p, "disabledProviders").map_err(fail)?;
    let input = PublishInput {
        uid: uid.clone(),
        request_hash: request_hash(p),
        action,
        enabled,
        disabled,
        idempotency_key: None,
        template_name: None,
        short_link_back: short == ShortUrls::Always,
    };
    let accepted = publish::accept(state, &caller.app, input, None)
        .await
        .map_err(|e| fail(publish_error(e, &uid)))?;
    // Committed: from here on never answer 500001 (SDKs would re-send).
    let wait = Duration::from_millis(state.config.gigya.publish_wait_ms);
    let record = match publish::wait_for_first_attempts(state, accepted.record.clone(), wait).await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "reading delivery results failed; answering with the accepted state");
            accepted.record
        }
    };
    let mut post_ids = Map::new();
    let mut errors = Vec::new();
    let mut any_alive = false;
    for d in &record.deliveries {
        match d.state.as_str() {
            "failed" => {
                let code = delivery_code(d.error_class.as_deref().unwrap_or_default());
                errors.push(json!({
                    "provider": d.provider,
                    "errorCode": code.number(),
                    "errorMessage": d.error_message.clone().unwrap_or_else(|| code.message().to_owned()),
                }));
            }
            other => {
                any_alive = true;
                if other == "published"
                    && let Some(id) = &d.post_id
                {
                    post_ids.entry(d.provider.clone()).or_insert(json!(id));
                }
            }
        }
    }
    let mut extra = Map::new();
    extra.insert("actionID".into(), json!(record.action.id));
    extra.insert("providerPostIDs".into(), Value::Object(post_ids));
    if !errors.is_empty() {
        extra.insert("providerErrorCodes".into(), Value::Array(errors));
    }
    if any_alive {
        Ok(extra)
    } else {
        Err((
            GigyaError::new(Code::ProviderError, "publishing failed on every provider"),
            extra,
        ))
    }
}

/// Gigya's code and details for a refused publish.
fn publish_error(e: PublishError, uid: &str) -> GigyaError {
    match e {
        PublishError::NoMatchingConnection => GigyaError::new(
            Code::NotConnected,
            format!("User {uid:?} is not connected to any of the requested providers"),
        ),
        PublishError::KeyReused => GigyaError::invalid("request", "idempotency key reused"),
        PublishError::DomainNotAllowed { field, host } => {
            let field = format!(
                "userAction.{}",
                gigya_field(field.trim_start_matches("action."))
            );
            outside_domains(&field, &host)
        }
        PublishError::UnknownTemplate(name) => {
            GigyaError::invalid("template", format!("unknown template {name:?}"))
        }
        PublishError::Replayed => GigyaError::new(Code::DuplicateNonce, "Duplicate nonce"),
        PublishError::Store(e) => e.into(),
    }
}

/// 400120 naming the parameter whose link is off the site's domains.
fn outside_domains(param: &str, host: &str) -> GigyaError {
    GigyaError::new(
        Code::InvalidSiteDomain,
        format!("Invalid site domain: {param}: host {host:?} is not one of the site's domains"),
    )
}

async fn shorten_url(
    state: &AppState,
    caller: &Caller,
    p: &Params,
) -> Result<Map<String, Value>, GigyaError> {
    let url = p.required("url")?;
    herald_core::action::check_http_url(url).map_err(|m| GigyaError::invalid("url", m))?;
    herald_core::domains::check_link(&caller.app.domains(), url)
        .map_err(|host| outside_domains("url", &host))?;
    let link = state
        .store
        .create_short_link(&caller.app.app_id(), url, None, None)
        .await?;
    let mut m = Map::new();
    m.insert(
        "shortURL".into(),
        json!(publish::short_url(state, &link.code)),
    );
    Ok(m)
}

async fn get_user_info(
    state: &AppState,
    caller: &Caller,
    p: &Params,
) -> Result<Map<String, Value>, GigyaError> {
    let uid = p.uid()?;
    let conns = state
        .store
        .connections_of(&caller.app.app_id(), uid)
        .await?;
    let identities: Vec<Value> = conns
        .iter()
        .map(|c| {
            json!({
                "provider": c.provider,
                "providerUID": c.provider_uid,
                "nickname": c.display_name.clone().unwrap_or_default(),
                "isLoginIdentity": false,
                "isExpiredSession": c.status != "active",
                "lastUpdated": crate::views::iso(c.updated_at),
            })
        })
        .collect();
    let mut providers: Vec<&str> = conns.iter().map(|c| c.provider.as_str()).collect();
    providers.dedup();
    let mut m = Map::new();
    m.insert("UID".into(), json!(uid));
    m.insert("isConnected".into(), json!(!conns.is_empty()));
    m.insert("providers".into(), json!(providers.join(",")));
    m.insert(
        "capabilities".into(),
        json!(if conns.is_empty() {
            "None"
        } else {
            "Actions,Status"
        }),
    );
    m.insert("identities".into(), Value::Array(identities));
    Ok(m)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderSession {
    auth_token: Option<String>,
    #[serde(rename = "providerUID")]
    provider_uid: Option<String>,
    token_secret: Option<String>,
    /// Unix seconds.
    token_expiration: Option<Value>,
    refresh_token: Option<String>,
}

fn expiration_ms(v: &Option<Value>) -> Result<Option<i64>, String> {
    let seconds = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(_) => None,
    };
    seconds
        .and_then(herald_core::times::unix_seconds_to_ms)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "must be Unix seconds between 0 and {}",
                herald_core::times::MAX_UNIX_SECONDS
            )
        })
}

async fn notify_login(
    state: &AppState,
    caller: &Caller,
    p: &Params,
) -> Result<Map<String, Value>, GigyaError> {
    let uid = p.required("siteUID")?;
    if uid.len() > 252 || !uid.is_ascii() {
        return Err(GigyaError::invalid(
            "siteUID",
            "at most 252 ASCII characters",
        ));
    }
    let sessions: BTreeMap<String, ProviderSession> =
        p.json("providerSessions")?.unwrap_or_default();
    // Check every session before storing any, so a bad one stores nothing.
    let mut upserts = Vec::new();
    for (name, s) in sessions {
        let field = |f: &str| format!("providerSessions.{name}.{f}");
        let provider = state.registry().get(&name).ok_or_else(|| {
            GigyaError::invalid("providerSessions", format!("unknown provider {name:?}"))
        })?;
        let provider_uid = provider
            .check_connection(&ConnectionInput {
                provider_uid: s.provider_uid.clone(),
                has_access_token: s.auth_token.as_deref().is_some_and(|t| !t.is_empty()),
                url: None,
                has_secret: s.token_secret.is_some(),
            })
            .map_err(|e| {
                let f = &e.0[0];
                let gname = match f.field.as_str() {
                    "access_token" => "authToken",
                    "provider_uid" => "providerUID",
                    "secret" => "tokenSecret",
                    other => other,
                };
                GigyaError::invalid(&field(gname), &f.message)
            })?;
        let expires_at_ms = expiration_ms(&s.token_expiration)
            .map_err(|m| GigyaError::invalid(&field("tokenExpiration"), m))?;
        upserts.push(ConnectionUpsert {
            app_id: caller.app.app_id(),
            uid: uid.to_owned(),
            provider: provider.id().to_owned(),
            provider_uid,
            display_name: None,
            url: None,
            access_token: s.auth_token.filter(|t| !t.is_empty()).map(Secret::from),
            refresh_token: s.refresh_token.filter(|t| !t.is_empty()).map(Secret::from),
            secret: s.token_secret.filter(|t| !t.is_empty()).map(Secret::from),
            expires_at_ms,
        });
    }
    let cap = state.config.connections.max_per_user_provider;
    for u in &upserts {
        let adding: Vec<&str> = upserts
            .iter()
            .filter(|o| o.provider == u.provider)
            .map(|o| o.provider_uid.as_str())
            .collect();
        if !state
            .store
            .connection_cap_allows(&u.app_id, &u.uid, &u.provider, &adding, cap)
            .await?
        {
            return Err(GigyaError::invalid(
                &format!("providerSessions.{}", u.provider),
                format!(
                    "this user already holds {cap} connections to {}, the most allowed",
                    u.provider
                ),
            ));
        }
    }
    for u in upserts {
        state.store.upsert_connection(u).await?;
    }
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let partner = state.store.app_secret(&caller.app)?;
    let sig = signature::uid_signature(partner.expose(), ts, uid).map_err(GigyaError::internal)?;
    let mut m = Map::new();
    m.insert("UID".into(), json!(uid));
    m.insert("UIDSignature".into(), json!(sig));
    m.insert("signatureTimestamp".into(), json!(ts.to_string()));
    Ok(m)
}

async fn remove_connection(
    state: &AppState,
    caller: &Caller,
    p: &Params,
) -> Result<Map<String, Value>, GigyaError> {
    let uid = p.uid()?;
    let app = caller.app.app_id();
    match p.value("provider") {
        Some(name) => {
            let provider = state.registry().canonical(name).ok_or_else(|| {
                GigyaError::invalid("provider", format!("unknown provider {name:?}"))
            })?;
            let conns: Vec<_> = state
                .store
                .connections_of(&app, uid)
                .await?
                .into_iter()
                .filter(|c| c.provider == provider)
                .collect();
            if crate::disconnect::disconnect(state, conns).await? == 0 {
                return Err(GigyaError::new(
                    Code::NotConnected,
                    format!("User is not connected to {provider}"),
                ));
            }
        }
        None => {
            let conns = state.store.connections_of(&app, uid).await?;
            crate::disconnect::disconnect(state, conns).await?;
        }
    }
    Ok(Map::new())
}

async fn delete_account(
    state: &AppState,
    caller: &Caller,
    p: &Params,
) -> Result<Map<String, Value>, GigyaError> {
    let uid = p.uid()?;
    let conns = state
        .store
        .connections_of(&caller.app.app_id(), uid)
        .await?;
    crate::disconnect::disconnect(state, conns).await?;
    Ok(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_expirations_out_of_range_are_refused() {
        for v in [
            json!(i64::MAX),
            json!(i64::MAX.to_string()),
            json!(i64::MIN),
            json!(-1),
            json!(253_402_300_800_i64),
        ] {
            assert!(expiration_ms(&Some(v.clone())).is_err(), "{v}");
        }
        assert_eq!(
            expiration_ms(&Some(json!(1_800_000_000))).unwrap(),
            Some(1_800_000_000_000)
        );
        assert_eq!(
            expiration_ms(&Some(json!("253402300799"))).unwrap(),
            Some(253_402_300_799_000)
        );
        assert_eq!(expiration_ms(&Some(json!(""))).unwrap(), None);
        assert_eq!(expiration_ms(&None).unwrap(), None);
    }
}
