//! Waiting for a condition with a deadline: tests never sleep for a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
pub async fn until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut interval = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}

/// A deadline for hand-written polling loops that carry state between attempts.
#[derive(Debug)]
pub struct Deadline {
    what: String,
    ends: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration, what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            ends: Instant::now() + limit,
            limit,
        }
    }

    /// Waits a moment before the next attempt; panics once the deadline has passed.
    pub async fn tick(&self) {
        assert!(
            Instant::now() < self.ends,
            "timed out after {:?} waiting for {}",
            self.limit,
            self.what
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
