//! The circuit breaker of one upstream service, as a pure state machine: no I/O, and the time
//! is always passed in, so every transition is tested without waiting.
//!
//! Closed, it counts the outcomes of the last `window` calls; once it has `minimum_calls` of
//! them it opens when the failure rate reaches `failure_rate` or the rate of calls slower than
//! `slow_call_ms` reaches `slow_call_rate`. Open, it refuses every call for `open_ms`. Then it
//! is half-open and lets ONE probe through: a probe that succeeds in time closes it with an
//! empty window, one that fails (or is slow) opens it again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::BreakerSettings;

/// What the gauge shows: `gateway_breaker_state{upstream}` is 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

/// Leave to make one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// An ordinary call while closed.
    Call,
    /// The one trial call while half-open.
    Probe,
}

/// How a permitted call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOutcome {
    /// No answer, or a 5xx.
    pub failed: bool,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One recorded call in the window.
#[derive(Debug, Clone, Copy)]
struct Sample {
    failed: bool,
    slow: bool,
}

#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: State,
    window: VecDeque<Sample>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            window: VecDeque::with_capacity(settings.window as usize),
            settings,
            state: State::Closed,
        }
    }

    /// The state at `now`: an open breaker whose time is up reads as half-open.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Leave for one call, or `None` while open (or while the half-open probe is out).
    pub fn acquire(&mut self, now: Instant) -> Option<Permit> {
        match self.state {
            State::Closed => Some(Permit::Call),
            State::Open { until } if now < until => None,
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Some(Permit::Probe)
            }
            State::HalfOpen { probing: true } => None,
        }
    }

    /// Whether a call that took `duration` counts as slow.
    pub fn is_slow(&self, duration: Duration) -> bool {
        duration >= Duration::from_millis(self.settings.slow_call_ms)
    }

    /// Records how a permitted call went.
    pub fn record(&mut self, permit: Permit, outcome: CallOutcome, now: Instant) {
        let sample = Sample {
            failed: outcome.failed,
            slow: self.is_slow(outcome.duration),
        };
        match (permit, self.state) {
            (Permit::Probe, State::HalfOpen { probing: true }) => {
                if sample.failed || sample.slow {
                    self.open(now);
                } else {
                    self.state = State::Closed;
                    self.window.clear();
                }
            }
            (Permit::Call, State::Closed) => {
                self.window.push_back(sample);
                self.trim();
                if self.tripped() {
                    self.open(now);
                }
            }
            // A call that began before the state changed says nothing about the new state.
            _ => {}
        }
    }

    /// A probe that never finished (its request was dropped): the next call probes instead.
    pub fn abandon(&mut self, permit: Permit) {
        if permit == Permit::Probe && self.state == (State::HalfOpen { probing: true }) {
            self.state = State::HalfOpen { probing: false };
        }
    }

    /// New thresholds for the live breaker; the recent calls are kept (as many as the new
    /// window holds) and judged by them from the next call on.
    pub fn set_settings(&mut self, settings: BreakerSettings) {
        self.settings = settings;
        self.trim();
    }

    fn trim(&mut self) {
        while self.window.len() > self.settings.window as usize {
            self.window.pop_front();
        }
    }

    fn tripped(&self) -> bool {
        let calls = self.window.len();
        if calls == 0 || calls < self.settings.minimum_calls as usize {
            return false;
        }
        let rate = |count: usize| count as f64 / calls as f64;
        let failures = self.window.iter().filter(|sample| sample.failed).count();
        let slow = self.window.iter().filter(|sample| sample.slow).count();
        rate(failures) >= self.settings.failure_rate || rate(slow) >= self.settings.slow_call_rate
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open {
            until: now + Duration::from_millis(self.settings.open_ms),
        };
        self.window.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            window: 4,
            minimum_calls: 3,
            failure_rate: 0.5,
            slow_call_ms: 100,
            slow_call_rate: 0.75,
            open_ms: 1_000,
        }
    }

    const OK: CallOutcome = CallOutcome {
        failed: false,
        duration: Duration::from_millis(5),
    };
    const FAILED: CallOutcome = CallOutcome {
        failed: true,
        duration: Duration::from_millis(5),
    };
    const SLOW: CallOutcome = CallOutcome {
        failed: false,
        duration: Duration::from_millis(100),
    };

    /// Makes one ordinary call with `outcome` at `now`.
    fn call(breaker: &mut Breaker, outcome: CallOutcome, now: Instant) {
        let permit = breaker.acquire(now).expect("closed breakers permit calls");
        assert_eq!(permit, Permit::Call);
        breaker.record(permit, outcome, now);
    }

    /// A breaker opened at `now` by failures.
    fn opened(now: Instant) -> Breaker {
        let mut breaker = Breaker::new(settings());
        for _ in 0..3 {
            call(&mut breaker, FAILED, now);
        }
        assert_eq!(breaker.state(now), BreakerState::Open);
        breaker
    }

    #[test]
    fn it_stays_closed_below_the_minimum_number_of_calls() {
        let now = Instant::now();
        let mut breaker = Breaker::new(settings());
        call(&mut breaker, FAILED, now);
        call(&mut breaker, FAILED, now);
        assert_eq!(breaker.state(now), BreakerState::Closed);
        call(&mut breaker, FAILED, now);
        assert_eq!(breaker.state(now), BreakerState::Open);
    }

    #[test]
    fn it_opens_at_the_failure_rate_over_the_window() {
        let now = Instant::now();
        let mut breaker = Breaker::new(settings());
        for outcome in [OK, OK, OK, FAILED] {
            call(&mut breaker, outcome, now);
        }
        assert_eq!(breaker.state(now), BreakerState::Closed, "1 of 4 failed");
        // The window slides: the oldest success leaves, 2 of the last 4 have failed.
        call(&mut breaker, FAILED, now);
        assert_eq!(breaker.state(now), BreakerState::Open);
    }

    #[test]
    fn it_opens_at_the_slow_call_rate() {
        let now = Instant::now();
        let mut breaker = Breaker::new(settings());
        for outcome in [SLOW, SLOW, OK] {
            call(&mut breaker, outcome, now);
        }
        assert_eq!(breaker.state(now), BreakerState::Closed, "2 of 3 slow");
        call(&mut breaker, SLOW, now);
        assert_eq!(breaker.state(now), BreakerState::Open, "3 of 4 slow");
    }

    #[test]
    fn open_refuses_calls_until_its_time_is_up_then_lets_one_probe_through() {
        let now = Instant::now();
        let mut breaker = opened(now);
        let almost = now + Duration::from_millis(999);
        assert_eq!(breaker.acquire(almost), None);

        let later = now + Duration::from_millis(1_000);
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert_eq!(breaker.acquire(later), Some(Permit::Probe));
        assert_eq!(breaker.acquire(later), None, "only one probe at a time");
    }

    #[test]
    fn a_successful_probe_closes_it_with_a_fresh_window() {
        let now = Instant::now();
        let mut breaker = opened(now);
        let later = now + Duration::from_secs(1);
        let probe = breaker.acquire(later).unwrap();
        breaker.record(probe, OK, later);
        assert_eq!(breaker.state(later), BreakerState::Closed);
        // The failures before it are forgotten: two more do not reach the minimum.
        call(&mut breaker, FAILED, later);
        call(&mut breaker, FAILED, later);
        assert_eq!(breaker.state(later), BreakerState::Closed);
    }

    #[test]
    fn a_failed_or_slow_probe_opens_it_again() {
        for outcome in [FAILED, SLOW] {
            let now = Instant::now();
            let mut breaker = opened(now);
            let later = now + Duration::from_secs(1);
            let probe = breaker.acquire(later).unwrap();
            breaker.record(probe, outcome, later);
            assert_eq!(breaker.state(later), BreakerState::Open, "{outcome:?}");
            let reopened_until = later + Duration::from_secs(1);
            assert_eq!(breaker.acquire(reopened_until), Some(Permit::Probe));
        }
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let now = Instant::now();
        let mut breaker = opened(now);
        let later = now + Duration::from_secs(1);
        let probe = breaker.acquire(later).unwrap();
        breaker.abandon(probe);
        assert_eq!(breaker.acquire(later), Some(Permit::Probe));
    }

    #[test]
    fn calls_that_began_before_it_opened_do_not_count() {
        let now = Instant::now();
        let mut breaker = Breaker::new(settings());
        let late = breaker.acquire(now).unwrap();
        for _ in 0..3 {
            call(&mut breaker, FAILED, now);
        }
        let later = now + Duration::from_secs(1);
        let probe = breaker.acquire(later).unwrap();
        breaker.record(late, OK, later);
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        breaker.record(probe, FAILED, later);
        assert_eq!(breaker.state(later), BreakerState::Open);
    }

    #[test]
    fn new_thresholds_apply_to_the_live_breaker() {
        let now = Instant::now();
        let mut breaker = Breaker::new(settings());
        for outcome in [OK, FAILED] {
            call(&mut breaker, outcome, now);
        }
        breaker.set_settings(BreakerSettings {
            minimum_calls: 2,
            failure_rate: 0.3,
            ..settings()
        });
        call(&mut breaker, OK, now);
        assert_eq!(breaker.state(now), BreakerState::Open, "1 of 3 failed");
    }

    #[test]
    fn a_smaller_window_keeps_only_the_latest_calls() {
        let now = Instant::now();
        let mut breaker = Breaker::new(settings());
        for outcome in [FAILED, OK, OK] {
            call(&mut breaker, outcome, now);
        }
        breaker.set_settings(BreakerSettings {
            window: 2,
            minimum_calls: 2,
            ..settings()
        });
        // Only the two successes are left; after one more failure the window holds a success
        // and the failure.
        call(&mut breaker, FAILED, now);
        assert_eq!(breaker.state(now), BreakerState::Open);
    }
}
