//! Requests-per-minute limiting shared by every run of a batch.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests evenly: at most `rpm` per minute, one every `60 s / rpm`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `None` when `rpm` is 0 (no limit).
    #[must_use]
    pub fn per_minute(rpm: u32) -> Option<Self> {
        (rpm > 0).then(|| Self {
            interval: Duration::from_secs(60) / rpm,
            next: Mutex::new(None),
        })
    }

    /// Waits for this request's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self
                .next
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_interval() {
        assert!(RateLimiter::per_minute(0).is_none());
        let limiter = RateLimiter::per_minute(120).expect("limited");
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // The first goes at once; four more wait 0.5 s each.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
