//! Record keys. Bluesky posts are keyed by a TID: 64 bits (top bit zero, 53
//! bits of microseconds since the Unix epoch, 10 bits of "clock id"), written
//! as 13 characters of base32-sortable. Herald chooses the key itself and
//! derives it from the delivery's idempotency key, so every attempt of one
//! delivery writes the same record with `putRecord`: a re-send after an
//! unknown outcome overwrites the post with itself instead of duplicating it.
//! Pure functions only.

use herald_core::{IdempotencyKey, ProviderError};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The base32-sortable alphabet: ASCII order equals numeric order.
pub const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
/// Characters in a TID.
pub const TID_LEN: usize = 13;
const MICROS_MASK: u64 = (1 << 53) - 1;

/// Encodes a TID from its timestamp (microseconds; only the low 53 bits
/// count) and clock id (only the low 10 bits count).
pub fn encode(micros: u64, clock_id: u16) -> String {
    let v = ((micros & MICROS_MASK) << 10) | u64::from(clock_id & 0x3ff);
    (0..TID_LEN)
        .map(|i| ALPHABET[((v >> (5 * (TID_LEN - 1 - i))) & 31) as usize] as char)
        .collect()
}

/// Decodes a TID into `(micros, clock_id)`; `None` unless it is 13 alphabet
/// characters with the top bit clear.
pub fn decode(tid: &str) -> Option<(u64, u16)> {
    if tid.len() != TID_LEN {
        return None;
    }
    let mut v: u64 = 0;
    for (i, b) in tid.bytes().enumerate() {
        let d = ALPHABET.iter().position(|&a| a == b)? as u64;
        // The first character carries bits 60..64 only; bit 63 must be clear.
        if i == 0 && d >= 8 {
            return None;
        }
        v = (v << 5) | d;
    }
    Some((v >> 10, (v & 0x3ff) as u16))
}

/// The record key and `createdAt` of one delivery, derived from its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordKey {
    pub rkey: String,
    pub created_at: OffsetDateTime,
}

/// Derives the record key from an idempotency key `herald-dlv_<uuidv7 hex>`:
/// the TID's milliseconds are the UUIDv7's (when the delivery was created);
/// the sub-millisecond digits and the clock id come from a SHA-256 of the key,
/// so two deliveries created in the same millisecond still get distinct keys.
/// `createdAt` is the same millisecond, so the record is byte-identical on
/// every attempt.
pub fn for_key(key: &IdempotencyKey) -> Result<RecordKey, ProviderError> {
    let ms = uuid_v7_millis(key.as_str()).ok_or_else(|| ProviderError::Rejected {
        status: None,
        code: "invalid_idempotency_key".into(),
        message: format!(
            "cannot derive a Bluesky record key from {:?}: want herald-dlv_<uuidv7>",
            key.as_str()
        ),
    })?;
    let h = Sha256::digest(key.as_str().as_bytes());
    let sub_ms = u64::from(u16::from_be_bytes([h[0], h[1]]) % 1000);
    let clock_id = u16::from_be_bytes([h[2], h[3]]) & 0x3ff;
    let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| ProviderError::Rejected {
            status: None,
            code: "invalid_idempotency_key".into(),
            message: e.to_string(),
        })?;
    Ok(RecordKey {
        rkey: encode(ms * 1000 + sub_ms, clock_id),
        created_at,
    })
}

/// The Unix milliseconds of the UUIDv7 in `herald-dlv_<32 hex digits>`.
fn uuid_v7_millis(key: &str) -> Option<u64> {
    let hex = key.strip_prefix("herald-dlv_")?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u128::from_str_radix(hex, 16).ok()?;
    // Version nibble (bits 76..80) must be 7: only v7 starts with a timestamp.
    ((v >> 76) & 0xf == 7).then_some((v >> 80) as u64)
}

/// `createdAt` as atproto wants it: RFC 3339, UTC, milliseconds.
pub fn format_created_at(at: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .expect("a UTC timestamp formats")
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::DeliveryId;

    #[test]
    fn encodes_the_bit_layout() {
        assert_eq!(encode(0, 0), "2222222222222");
        // Clock id in the last two characters, timestamp above it.
        assert_eq!(encode(0, 1), "2222222222223");
        assert_eq!(encode(0, 0x3ff), "22222222222zz");
        assert_eq!(encode(1, 0), "2222222222322");
        assert_eq!(encode(MICROS_MASK, 0x3ff), "bzzzzzzzzzzzz");
        // Only 53 timestamp bits and 10 clock bits are kept.
        assert_eq!(encode(MICROS_MASK + 2, 0x400 | 5), encode(1, 5));
    }

    #[test]
    fn decodes_a_real_pds_key_and_round_trips() {
        // An rkey the PDS chose itself (research §3), created 2026-11-25.
        let (micros, clock) = decode("3n35nrvs4422m").unwrap();
        let at = OffsetDateTime::from_unix_timestamp((micros / 1_000_000) as i64).unwrap();
        assert_eq!((at.year(), at.month() as u8, at.day()), (2026, 11, 25));
        assert_eq!(encode(micros, clock), "3n35nrvs4422m");
        for t in ["2222222222222", "bzzzzzzzzzzzz", "3jzfcijpj2z2a"] {
            let (m, c) = decode(t).unwrap();
            assert_eq!(encode(m, c), t);
        }
        assert_eq!(decode("czzzzzzzzzzzz"), None, "top bit set");
        assert_eq!(decode("3n35nrvs4422"), None);
        assert_eq!(decode("3n35nrvs4422M"), None);
        assert_eq!(decode("3n35nrvs44221"), None);
    }

    #[test]
    fn sorts_like_its_timestamp() {
        let a = encode(1_700_000_000_000_000, 1023);
        let b = encode(1_700_000_000_000_001, 0);
        assert!(a < b);
    }

    #[test]
    fn derived_from_the_delivery_key() {
        // uuidv7 019abcde-f012-7xxx: milliseconds 0x019abcdef012.
        let key = IdempotencyKey::for_delivery(
            &DeliveryId::parse("dlv_019abcdef0127a2b8c3d4e5f60718293").unwrap(),
        );
        let k = for_key(&key).unwrap();
        assert_eq!(k, for_key(&key).unwrap(), "deterministic");
        let ms = 0x019a_bcde_f012_u64;
        let (micros, _) = decode(&k.rkey).unwrap();
        assert_eq!(micros / 1000, ms);
        assert_eq!(
            k.created_at.unix_timestamp_nanos(),
            i128::from(ms) * 1_000_000
        );
        assert_eq!(format_created_at(k.created_at), "2025-11-25T21:15:18.418Z");
        // Another delivery in the same millisecond gets another key.
        let other = IdempotencyKey::for_delivery(
            &DeliveryId::parse("dlv_019abcdef0127a2b8c3d4e5f60718294").unwrap(),
        );
        let o = for_key(&other).unwrap();
        assert_ne!(o.rkey, k.rkey);
        assert_eq!(o.created_at, k.created_at);
        // Fresh ids are v7 and map to now.
        let fresh = for_key(&IdempotencyKey::for_delivery(&DeliveryId::new())).unwrap();
        let age = OffsetDateTime::now_utc() - fresh.created_at;
        assert!(age.whole_seconds().abs() < 60, "{age}");
    }

    #[test]
    fn refuses_keys_without_a_v7_timestamp() {
        // A v4 UUID (version nibble 4) carries no time.
        let v4 = IdempotencyKey::for_delivery(
            &DeliveryId::parse("dlv_019abcdef0124a2b8c3d4e5f60718293").unwrap(),
        );
        let e = for_key(&v4).unwrap_err();
        assert_eq!(e.code(), "invalid_idempotency_key");
        assert_eq!(uuid_v7_millis("herald-dlv_xyz"), None);
        assert_eq!(uuid_v7_millis("dlv_019abcdef0127a2b8c3d4e5f60718293"), None);
    }
}
