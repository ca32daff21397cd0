//! Signed timestamps: parsing and the tolerance check.

use std::time::Duration;

use super::VerifyError;

/// Parses a unix-seconds timestamp from the header `name`.
pub fn parse(name: &str, value: &str) -> Result<i64, VerifyError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| VerifyError::MalformedHeader(name.to_owned()))
}

/// Refuses a timestamp further than `tolerance` from `now`, in either direction.
pub fn check(timestamp: i64, now: i64, tolerance: Duration) -> Result<(), VerifyError> {
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn within_tolerance_both_ways() {
        assert_eq!(check(1000, 1300, FIVE_MIN), Ok(()));
        assert_eq!(check(1300, 1000, FIVE_MIN), Ok(()));
        assert_eq!(
            check(1000, 1301, FIVE_MIN),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(1301, 1000, FIVE_MIN),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(i64::MIN, i64::MAX, FIVE_MIN),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn parse_refuses_non_numbers() {
        assert_eq!(parse("t", " 42 "), Ok(42));
        assert_eq!(
            parse("t", "4x"),
            Err(VerifyError::MalformedHeader("t".into()))
        );
        assert_eq!(
            parse("t", "99999999999999999999"),
            Err(VerifyError::MalformedHeader("t".into()))
        );
    }
}
