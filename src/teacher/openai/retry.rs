//! How long to wait before asking again: the server's `retry-after`, else exponential backoff.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::teacher::RetryPolicy;

/// The wait before retry number `attempt + 1`: the server's hint when it gave one, else
/// `base_delay * 2^attempt` with ±25 % jitter; never more than `max_delay`.
pub(super) fn delay(policy: &RetryPolicy, attempt: u32, hint: Option<Duration>) -> Duration {
    if let Some(hint) = hint {
        return hint.min(policy.max_delay);
    }
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    let backoff = policy
        .base_delay
        .saturating_mul(factor)
        .min(policy.max_delay);
    let jitter = 0.75 + fastrand::f64() * 0.5;
    Duration::try_from_secs_f64(backoff.as_secs_f64() * jitter)
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay)
}

/// The server's requested wait: `retry-after-ms` (milliseconds), else `retry-after` (seconds or
/// an HTTP date).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(d);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = parse_http_date(value)?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers send.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut time = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (time.next()??, time.next()??, time.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = policy();
        for attempt in 0..4 {
            let d = delay(&p, attempt, None);
            let nominal = 100.0 * f64::from(1u32 << attempt);
            let ms = d.as_secs_f64() * 1000.0;
            assert!(ms >= nominal * 0.75 - 1e-6 && ms <= (nominal * 1.25).min(1000.0) + 1e-6);
        }
        assert!(delay(&p, 40, None) <= p.max_delay);
        let huge = RetryPolicy {
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
            ..p
        };
        assert!(delay(&huge, 3, None) > Duration::ZERO);
    }

    #[test]
    fn hints_are_capped() {
        let p = policy();
        assert_eq!(
            delay(&p, 0, Some(Duration::from_millis(20))),
            Duration::from_millis(20)
        );
        assert_eq!(delay(&p, 0, Some(Duration::from_secs(90))), p.max_delay);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            UNIX_EPOCH.checked_add(Duration::from_secs(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            UNIX_EPOCH.checked_add(Duration::from_secs(1_835_438_400))
        );
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }
}
