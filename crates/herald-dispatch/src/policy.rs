//! What to do after an attempt: the one place where a provider's error class
//! turns into retry, refresh, give up or "unknown". Pure, so it is unit-tested.

use crate::config::DispatchConfig;
use herald_core::ProviderError;
use rand::RngExt;
use std::time::Duration;

/// The longest `Retry-After` honoured; a longer one is clamped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Refresh the credential, then send again at once (once per attempt).
    RefreshAndRetry,
    /// Give up: `failed`. `reauth` = the connection needs the user.
    Fail { reauth: bool },
    /// The post may exist: `unknown`, never re-sent automatically.
    Unknown,
}

/// Exponential backoff with full jitter: a random delay in
/// `[0, min(cap, base · factor^(attempt-1))]`.
pub fn backoff(cfg: &DispatchConfig, attempt: u32) -> Duration {
    let exp = cfg
        .backoff_factor
        .powi(attempt.saturating_sub(1).min(60) as i32);
    let ceiling = ((cfg.backoff_base_ms as f64) * exp).min(cfg.backoff_cap_ms as f64) as u64;
    Duration::from_millis(rand::rng().random_range(0..=ceiling))
}

/// Decides after attempt number `attempt` failed with `err`.
/// `idempotent`: the network honours our idempotency key, so re-sending after
/// an unknown outcome cannot duplicate the post. `refreshed`: a refresh was
/// already tried for this attempt.
pub fn decide(
    cfg: &DispatchConfig,
    err: &ProviderError,
    attempt: u32,
    idempotent: bool,
    refreshed: bool,
) -> Decision {
    let out_of_attempts = attempt >= cfg.max_attempts;
    let retry = |d: Duration| {
        if out_of_attempts {
            Decision::Fail { reauth: false }
        } else {
            Decision::Retry(d)
        }
    };
    match err {
        ProviderError::RateLimited { retry_after, .. } => retry(
            retry_after
                .map(|d| d.min(MAX_RETRY_AFTER))
                .unwrap_or_else(|| backoff(cfg, attempt)),
        ),
        ProviderError::Transient { .. } => retry(backoff(cfg, attempt)),
        ProviderError::Unknown { .. } if idempotent => retry(backoff(cfg, attempt)),
        ProviderError::Unknown { .. } => Decision::Unknown,
        ProviderError::AuthExpired { .. } if !refreshed => Decision::RefreshAndRetry,
        ProviderError::AuthExpired { .. } | ProviderError::AuthRevoked { .. } => {
            Decision::Fail { reauth: true }
        }
        ProviderError::Rejected { .. } | ProviderError::Unsupported { .. } => {
            Decision::Fail { reauth: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DispatchConfig {
        DispatchConfig {
            max_attempts: 3,
            backoff_base_ms: 100,
            backoff_cap_ms: 1000,
            ..Default::default()
        }
    }

    fn transient() -> ProviderError {
        ProviderError::Transient {
            status: Some(503),
            message: "m".into(),
        }
    }

    #[test]
    fn backoff_stays_under_the_exponential_ceiling_and_cap() {
        let c = cfg();
        for attempt in 1..20 {
            let ceiling = (100.0 * 2f64.powi(attempt as i32 - 1)).min(1000.0) as u64;
            for _ in 0..50 {
                assert!(backoff(&c, attempt) <= Duration::from_millis(ceiling));
            }
        }
    }

    #[test]
    fn transient_retries_until_attempts_run_out() {
        let c = cfg();
        assert!(matches!(
            decide(&c, &transient(), 1, false, false),
            Decision::Retry(_)
        ));
        assert!(matches!(
            decide(&c, &transient(), 2, false, false),
            Decision::Retry(_)
        ));
        assert_eq!(
            decide(&c, &transient(), 3, false, false),
            Decision::Fail { reauth: false }
        );
    }

    #[test]
    fn retry_after_is_honoured() {
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            status: Some(429),
            message: "slow".into(),
        };
        assert_eq!(
            decide(&cfg(), &e, 1, false, false),
            Decision::Retry(Duration::from_secs(2))
        );
    }

    #[test]
    fn unknown_is_resent_only_where_the_network_is_idempotent() {
        let e = ProviderError::Unknown {
            message: "timeout".into(),
        };
        assert_eq!(decide(&cfg(), &e, 1, false, false), Decision::Unknown);
        assert!(matches!(
            decide(&cfg(), &e, 1, true, false),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn expired_tokens_refresh_once_then_need_the_user() {
        let e = ProviderError::AuthExpired {
            status: Some(401),
            message: "expired".into(),
        };
        assert_eq!(
            decide(&cfg(), &e, 1, false, false),
            Decision::RefreshAndRetry
        );
        assert_eq!(
            decide(&cfg(), &e, 1, false, true),
            Decision::Fail { reauth: true }
        );
        let r = ProviderError::AuthRevoked {
            status: Some(403),
            message: "revoked".into(),
        };
        assert_eq!(
            decide(&cfg(), &r, 1, false, false),
            Decision::Fail { reauth: true }
        );
        let rej = ProviderError::Rejected {
            status: Some(400),
            code: "too_long".into(),
            message: "m".into(),
        };
        assert_eq!(
            decide(&cfg(), &rej, 1, false, false),
            Decision::Fail { reauth: false }
        );
    }
}
