//! The retry budget of one upstream: over the last [`WINDOW`], retries may be at most `ratio`
//! times the requests. Retrying every failure would double the load on a service that is
//! already failing; the budget allows retries for the odd failure and stops them when many
//! requests fail. No I/O: the time is passed in.

use std::time::{Duration, Instant};

/// How far back requests and retries are counted.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The window moves in steps of a second: counts older than the window leave a bucket at a
/// time, so the bookkeeping is a fixed array, whatever the traffic.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which step of the clock this bucket counts (steps since `origin`).
    step: u64,
    requests: u64,
    retries: u64,
}

#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    origin: Instant,
    buckets: [Bucket; BUCKETS],
}

impl RetryBudget {
    pub fn new(ratio: f64, now: Instant) -> Self {
        Self {
            ratio,
            origin: now,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    /// Counts one request.
    pub fn deposit(&mut self, now: Instant) {
        self.bucket(now).requests += 1;
    }

    /// Takes leave for one retry if the budget has room, and counts it.
    pub fn withdraw(&mut self, now: Instant) -> bool {
        let current = self.step(now);
        let (requests, retries) = self
            .buckets
            .iter()
            .filter(|bucket| Self::in_window(bucket.step, current))
            .fold((0, 0), |(requests, retries), bucket| {
                (requests + bucket.requests, retries + bucket.retries)
            });
        let allowed = (retries + 1) as f64 <= self.ratio * requests as f64;
        if allowed {
            self.bucket(now).retries += 1;
        }
        allowed
    }

    fn step(&self, now: Instant) -> u64 {
        let step = WINDOW.as_millis() / BUCKETS as u128;
        let elapsed = now.saturating_duration_since(self.origin).as_millis();
        u64::try_from(elapsed / step).unwrap_or(u64::MAX)
    }

    fn in_window(step: u64, current: u64) -> bool {
        step <= current && current - step < BUCKETS as u64
    }

    /// The bucket of `now`'s step, emptied first if it last counted an older step.
    fn bucket(&mut self, now: Instant) -> &mut Bucket {
        let step = self.step(now);
        let bucket = &mut self.buckets[(step % BUCKETS as u64) as usize];
        if bucket.step != step {
            *bucket = Bucket {
                step,
                ..Bucket::default()
            };
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_at_most_the_ratio_of_requests() {
        let now = Instant::now();
        let mut budget = RetryBudget::new(0.2, now);
        for _ in 0..10 {
            budget.deposit(now);
        }
        assert!(budget.withdraw(now));
        assert!(budget.withdraw(now));
        assert!(!budget.withdraw(now), "2 retries for 10 requests");
        for _ in 0..5 {
            budget.deposit(now);
        }
        assert!(budget.withdraw(now), "15 requests allow 3");
        assert!(!budget.withdraw(now));
    }

    #[test]
    fn no_requests_no_retries() {
        let now = Instant::now();
        let mut budget = RetryBudget::new(0.2, now);
        assert!(!budget.withdraw(now));
    }

    #[test]
    fn old_requests_and_retries_leave_the_window() {
        let now = Instant::now();
        let mut budget = RetryBudget::new(0.5, now);
        for _ in 0..4 {
            budget.deposit(now);
        }
        assert!(budget.withdraw(now));
        assert!(budget.withdraw(now));
        assert!(!budget.withdraw(now));

        // Half a window on, the same requests and retries still count.
        let half = now + WINDOW / 2;
        budget.deposit(half);
        assert!(
            !budget.withdraw(half),
            "2.5 allowed, 2 taken, a third is over"
        );

        // A whole window on, only the request made at `half` is left.
        let later = now + WINDOW;
        budget.deposit(later);
        assert!(budget.withdraw(later), "2 requests allow 1");
        assert!(!budget.withdraw(later));
    }

    #[test]
    fn a_budget_left_idle_for_long_starts_empty() {
        let now = Instant::now();
        let mut budget = RetryBudget::new(1.0, now);
        for _ in 0..100 {
            budget.deposit(now);
        }
        let much_later = now + WINDOW * 7 + Duration::from_millis(300);
        assert!(!budget.withdraw(much_later));
        budget.deposit(much_later);
        assert!(budget.withdraw(much_later));
    }
}
