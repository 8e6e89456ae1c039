//! Times that arrive as input (token expirations in Unix seconds), turned into
//! the milliseconds Herald stores with checked arithmetic: a value outside
//! 1970-01-01 … 9999-12-31 is refused rather than wrapped round (an
//! `i64::MAX` once became 1969-12-31).

/// 9999-12-31T23:59:59Z, the last second an RFC 3339 time can name.
pub const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// Unix seconds → milliseconds, `None` outside 0 ..= [`MAX_UNIX_SECONDS`].
pub fn unix_seconds_to_ms(seconds: i64) -> Option<i64> {
    if (0..=MAX_UNIX_SECONDS).contains(&seconds) {
        seconds.checked_mul(1000)
    } else {
        None
    }
}

/// Unix milliseconds in the same range, for times parsed from text.
pub fn check_unix_ms(ms: i128) -> Option<i64> {
    if (0..=i128::from(MAX_UNIX_SECONDS) * 1000 + 999).contains(&ms) {
        i64::try_from(ms).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_range_seconds_become_milliseconds() {
        assert_eq!(unix_seconds_to_ms(0), Some(0));
        assert_eq!(unix_seconds_to_ms(1_800_000_000), Some(1_800_000_000_000));
        assert_eq!(
            unix_seconds_to_ms(MAX_UNIX_SECONDS),
            Some(MAX_UNIX_SECONDS * 1000)
        );
    }

    #[test]
    fn out_of_range_seconds_are_refused() {
        for s in [
            -1,
            MAX_UNIX_SECONDS + 1,
            i64::MAX,
            i64::MIN,
            i64::MAX / 1000 + 1,
        ] {
            assert_eq!(unix_seconds_to_ms(s), None, "{s}");
        }
        assert_eq!(check_unix_ms(-1), None);
        assert_eq!(check_unix_ms(i128::from(i64::MAX) + 1), None);
        assert_eq!(check_unix_ms(1_000), Some(1_000));
    }
}
