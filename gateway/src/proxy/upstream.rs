//! One upstream service: its instances, balancer, breaker and retry budget, and how a call to
//! it is made: the breaker's leave, a try on the next healthy instance within the per-try
//! timeout, and on failure at most one retry on another instance if the budget allows.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};

use super::balancer::{Balancer, Instance};
use super::breaker::{Breaker, BreakerState, CallOutcome, Permit};
use super::budget::RetryBudget;
use super::{BreakerSettings, FRESHNESS_HEADER, lock};

/// The answer headers passed on to the client; the rest are the upstream's own business.
const ANSWER_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::ETAG,
    header::CACHE_CONTROL,
    header::LAST_MODIFIED,
    FRESHNESS_HEADER,
];

/// How tries are made: one shared client (its pool keeps connections alive), the per-try
/// timeout and how long a failed instance is skipped.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub client: reqwest::Client,
    pub try_timeout: Duration,
    pub ejection: Duration,
}

/// A GET on its way: the path with its query, and the request headers to pass on.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub path_and_query: String,
    pub headers: HeaderMap,
}

/// An upstream's answer, read whole.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a call got no usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("its circuit breaker is open")]
    Open,
    #[error("no instance is registered")]
    NoInstance,
    #[error("{0}")]
    Failed(TryError),
}

/// Why one try failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TryError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    #[error("it answered {0}")]
    ServerError(StatusCode),
}

impl TryError {
    fn label(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Transport(_) => "error",
            Self::ServerError(_) => "server_error",
        }
    }
}

#[derive(Debug)]
struct Guarded {
    breaker: Breaker,
    /// What the gauge shows, so it is set only on a change.
    shown: BreakerState,
}

#[derive(Debug)]
pub(crate) struct Upstream {
    name: &'static str,
    instances: RwLock<Arc<[Instance]>>,
    balancer: Balancer,
    breaker: Mutex<Guarded>,
    budget: Mutex<RetryBudget>,
}

impl Upstream {
    pub fn new(name: &'static str, breaker: BreakerSettings, retry_ratio: f64) -> Self {
        metrics::gauge!("gateway_breaker_state", "upstream" => name)
            .set(BreakerState::Closed as u8 as f64);
        Self {
            name,
            instances: RwLock::new(Arc::from(Vec::new())),
            balancer: Balancer::default(),
            breaker: Mutex::new(Guarded {
                breaker: Breaker::new(breaker),
                shown: BreakerState::Closed,
            }),
            budget: Mutex::new(RetryBudget::new(retry_ratio, Instant::now())),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn set_instances(&self, instances: Vec<Instance>) {
        let instances: Arc<[Instance]> = Arc::from(instances);
        let mut current = self
            .instances
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *current != instances {
            *current = instances;
        }
    }

    fn instances(&self) -> Arc<[Instance]> {
        Arc::clone(
            &self
                .instances
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    pub fn set_breaker(&self, settings: BreakerSettings) {
        self.with_breaker(|breaker| breaker.set_settings(settings));
    }

    /// Runs `change` on the breaker and moves the gauge if the state changed.
    fn with_breaker<T>(&self, change: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut guarded = lock(&self.breaker);
        let result = change(&mut guarded.breaker);
        let state = guarded.breaker.state(Instant::now());
        if state != guarded.shown {
            guarded.shown = state;
            drop(guarded);
            tracing::info!(upstream = self.name, ?state, "circuit breaker");
            metrics::gauge!("gateway_breaker_state", "upstream" => self.name)
                .set(state as u8 as f64);
        }
        result
    }

    /// One call: through the breaker, to the next healthy instance, retried once elsewhere
    /// if that fails and the budget allows.
    pub async fn call(&self, caller: &Caller, outgoing: &Outgoing) -> Result<Answer, CallError> {
        let started = Instant::now();
        let Some(permit) = self.with_breaker(|breaker| breaker.acquire(started)) else {
            self.count_call("rejected");
            return Err(CallError::Open);
        };
        let mut leave = Leave {
            upstream: self,
            permit: Some(permit),
        };
        lock(&self.budget).deposit(started);
        let result = self.tries(caller, outgoing).await;
        let outcome = CallOutcome {
            failed: result.is_err(),
            duration: started.elapsed(),
        };
        let slow = leave.record(outcome);
        self.count_call(match (outcome.failed, slow) {
            (true, _) => "failure",
            (false, true) => "slow",
            (false, false) => "success",
        });
        result
    }

    async fn tries(&self, caller: &Caller, outgoing: &Outgoing) -> Result<Answer, CallError> {
        let instances = self.instances();
        let first = self
            .balancer
            .pick(&instances, Instant::now(), None)
            .ok_or(CallError::NoInstance)?;
        let failure = match self.try_once(caller, &first, outgoing).await {
            Ok(answer) => return Ok(answer),
            Err(failure) => failure,
        };
        // Every proxied request is a GET, so sending it again cannot do anything twice.
        let now = Instant::now();
        let Some(second) = self.balancer.pick(&instances, now, Some(&first)) else {
            return Err(CallError::Failed(failure));
        };
        if !lock(&self.budget).withdraw(now) {
            return Err(CallError::Failed(failure));
        }
        metrics::counter!("gateway_upstream_retries_total", "upstream" => self.name).increment(1);
        self.try_once(caller, &second, outgoing)
            .await
            .map_err(CallError::Failed)
    }

    /// One try on `instance`; a failure ejects it for a while.
    async fn try_once(
        &self,
        caller: &Caller,
        instance: &Instance,
        outgoing: &Outgoing,
    ) -> Result<Answer, TryError> {
        let url = format!("{}{}", instance.address, outgoing.path_and_query);
        let request = caller.client.get(url).headers(outgoing.headers.clone());
        let attempt = async {
            let response = request.send().await?;
            let status = response.status();
            let mut headers = HeaderMap::new();
            for name in ANSWER_HEADERS {
                if let Some(value) = response.headers().get(&name) {
                    headers.insert(name, value.clone());
                }
            }
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>(Answer {
                status,
                headers,
                body,
            })
        };
        let result = match tokio::time::timeout(caller.try_timeout, attempt).await {
            Err(_) => Err(TryError::Timeout(caller.try_timeout)),
            Ok(Err(error)) => Err(TryError::Transport(error)),
            Ok(Ok(answer)) if answer.status.is_server_error() => {
                Err(TryError::ServerError(answer.status))
            }
            Ok(Ok(answer)) => Ok(answer),
        };
        let label = match &result {
            Ok(_) => {
                self.balancer.restore(instance);
                "ok"
            }
            Err(error) => {
                tracing::warn!(
                    upstream = self.name,
                    instance = instance.id,
                    %error,
                    "an upstream try failed; the instance is skipped for a while"
                );
                self.balancer
                    .eject(instance, Instant::now() + caller.ejection);
                error.label()
            }
        };
        metrics::counter!(
            "gateway_upstream_tries_total",
            "upstream" => self.name,
            "instance" => instance.id.clone(),
            "outcome" => label,
        )
        .increment(1);
        result
    }

    fn count_call(&self, outcome: &'static str) {
        metrics::counter!(
            "gateway_upstream_calls_total",
            "upstream" => self.name,
            "outcome" => outcome,
        )
        .increment(1);
    }
}

/// The breaker's leave for one call. A call whose request is dropped half-way (the client
/// went away) never records an outcome; if it was the half-open probe, dropping the leave
/// hands the probe to the next call instead of leaving the breaker waiting forever.
struct Leave<'a> {
    upstream: &'a Upstream,
    permit: Option<Permit>,
}

impl Leave<'_> {
    /// Records the outcome; whether the call counted as slow.
    fn record(&mut self, outcome: CallOutcome) -> bool {
        let Some(permit) = self.permit.take() else {
            return false;
        };
        let now = Instant::now();
        self.upstream.with_breaker(|breaker| {
            breaker.record(permit, outcome, now);
            breaker.is_slow(outcome.duration)
        })
    }
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.upstream
                .with_breaker(|breaker| breaker.abandon(permit));
        }
    }
}
