//! Request signing. A webhook URL is public, so a receiver needs proof that a
//! request came from Herald and was not replayed: `Herald-Signature` carries a
//! timestamp and an HMAC-SHA256 over `"<timestamp>.<body bytes>"` keyed with the
//! connection's secret. Pure functions, so receivers and tests share them.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// The name of the header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Herald-Signature";

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Herald-Signature` header value: `t=<unix seconds>,v1=<lowercase hex
/// HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a `Herald-Signature` header against `body`: true when its timestamp is
/// within `tolerance` of `now` (unix seconds) and one of its `v1` signatures
/// matches (compared in constant time). Unknown fields are ignored, so the
/// scheme can grow (`v2=`) without breaking receivers.
pub fn verify(header: &str, secret: &[u8], body: &[u8], now: i64, tolerance: Duration) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v),
            _ => {}
        }
    }
    let Some(t) = timestamp else {
        return false;
    };
    if now.abs_diff(t) > tolerance.as_secs() {
        return false;
    }
    candidates
        .into_iter()
        .any(|c| hex::decode(c).is_ok_and(|tag| mac(secret, t, body).verify_slice(&tag).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // python3: hmac.new(b"secret", b'1700000000.{"hello":"world"}', hashlib.sha256).hexdigest()
    const BODY: &[u8] = br#"{"hello":"world"}"#;
    const EXPECTED: &str =
        "t=1700000000,v1=654f06c856baf080af3fa272934823257a542d35cf1f88099338f850a60601a4";
    const TOL: Duration = Duration::from_secs(300);

    #[test]
    fn known_answer() {
        assert_eq!(sign(b"secret", 1_700_000_000, BODY), EXPECTED);
    }

    #[test]
    fn verify_accepts_the_known_vector_within_tolerance() {
        assert!(verify(EXPECTED, b"secret", BODY, 1_700_000_000, TOL));
        assert!(verify(EXPECTED, b"secret", BODY, 1_700_000_300, TOL));
        assert!(verify(EXPECTED, b"secret", BODY, 1_699_999_700, TOL));
    }

    #[test]
    fn verify_rejects_tampering_and_staleness() {
        assert!(!verify(EXPECTED, b"other", BODY, 1_700_000_000, TOL));
        assert!(!verify(
            EXPECTED,
            b"secret",
            br#"{"hello":"World"}"#,
            1_700_000_000,
            TOL
        ));
        assert!(!verify(EXPECTED, b"secret", BODY, 1_700_000_301, TOL));
        // The timestamp is signed: moving it breaks the signature.
        let moved = EXPECTED.replace("t=1700000000", "t=1700000100");
        assert!(!verify(&moved, b"secret", BODY, 1_700_000_100, TOL));
        for bad in [
            "",
            "t=1700000000",
            "v1=00",
            "t=x,v1=00",
            "t=1700000000,v1=zz",
        ] {
            assert!(!verify(bad, b"secret", BODY, 1_700_000_000, TOL), "{bad:?}");
        }
    }

    #[test]
    fn verify_accepts_any_matching_v1_and_ignores_unknown_fields() {
        let good = sign(b"secret", 1_700_000_000, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1700000000, v1={}, v2=abc, v1={v1}", "00".repeat(32));
        assert!(verify(&header, b"secret", BODY, 1_700_000_000, TOL));
    }
}
