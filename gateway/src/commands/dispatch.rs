use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events::{Command, CommandEnvelope, CommandId, CommandReply, Success};
use message_bus::{CommandClient, RpcError, RpcOutcome};
use serde::Serialize;
use service_kit::telemetry;
use tracing::Instrument;
use uuid::Uuid;

use super::context::CommandContext;
use super::status::{Accepted, StatusStore};
use crate::consistency::CONSISTENCY_HEADER;
use crate::error::ApiError;

/// Sends commands and waits for their replies. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    client: CommandClient,
    statuses: StatusStore,
    /// Milliseconds; hot-reloadable, so shared and atomic.
    reply_timeout_ms: Arc<AtomicU64>,
}

/// What came of a command.
#[derive(Debug)]
pub enum Dispatched {
    /// The service applied it.
    Done(Success),
    /// No reply in time: queued, and will run.
    Accepted(CommandId),
}

impl Dispatcher {
    pub fn new(client: CommandClient, statuses: StatusStore, reply_timeout: Duration) -> Self {
        Self {
            client,
            statuses,
            reply_timeout_ms: Arc::new(AtomicU64::new(millis(reply_timeout))),
        }
    }

    pub fn set_reply_timeout(&self, timeout: Duration) {
        self.reply_timeout_ms
            .store(millis(timeout), Ordering::Relaxed);
    }

    pub fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.reply_timeout_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn statuses(&self) -> &StatusStore {
        &self.statuses
    }

    /// Sends `command` for `context`'s caller and maps a refusal to its [`ApiError`].
    #[tracing::instrument(skip_all, fields(command = command.wire_name(), command_id = %context.command_id))]
    pub async fn dispatch<C: Command>(
        &self,
        command: C,
        context: &CommandContext,
    ) -> Result<Dispatched, ApiError> {
        let correlation_id = Uuid::now_v7();
        let span = tracing::info_span!(
            "command.publish",
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.destination.name = C::SERVICE,
        );
        // The service continues the trace from this span; without telemetry, from the request.
        let traceparent = telemetry::traceparent(&span).or_else(|| context.traceparent.clone());
        let mut envelope =
            CommandEnvelope::new(context.command_id, command, context.actor(), correlation_id);
        if let Some(traceparent) = &traceparent {
            envelope = envelope.with_traceparent(traceparent.clone());
        }
        let bytes = serde_json::to_vec(&envelope)
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error).context("encoding")))?;
        let outcome = self
            .client
            .call(
                C::SERVICE,
                context.command_id.into(),
                bytes,
                traceparent.as_deref(),
                self.reply_timeout(),
            )
            .instrument(span)
            .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(RpcError::Unroutable(service)) => {
                metrics::counter!("gateway_commands_total", "service" => C::SERVICE, "outcome" => "unroutable").increment(1);
                return Err(ApiError::Unavailable(format!(
                    "the {service} service is not accepting commands"
                )));
            }
            Err(RpcError::Publish(error)) => {
                tracing::warn!(%error, "a command could not be published");
                metrics::counter!("gateway_commands_total", "service" => C::SERVICE, "outcome" => "unpublished").increment(1);
                return Err(ApiError::Unavailable(
                    "commands cannot be accepted right now; retry with the same Idempotency-Key"
                        .to_owned(),
                ));
            }
        };
        match outcome {
            RpcOutcome::Replied(bytes) => {
                let reply: CommandReply = serde_json::from_slice(&bytes).map_err(|error| {
                    ApiError::Internal(anyhow::Error::new(error).context("an unreadable reply"))
                })?;
                let outcome = match &reply {
                    CommandReply::Success(_) => "ok",
                    CommandReply::Rejection(rejection) => rejection_label(rejection.code),
                };
                metrics::counter!("gateway_commands_total", "service" => C::SERVICE, "outcome" => outcome).increment(1);
                reply
                    .into_result()
                    .map(Dispatched::Done)
                    .map_err(ApiError::from)
            }
            RpcOutcome::Accepted => {
                metrics::counter!("gateway_commands_total", "service" => C::SERVICE, "outcome" => "accepted").increment(1);
                let accepted = Accepted {
                    service: C::SERVICE.to_owned(),
                    member_id: context.identity.as_ref().map(|identity| identity.member_id),
                };
                self.statuses
                    .remember(context.command_id, &accepted)
                    .await?;
                Ok(Dispatched::Accepted(context.command_id))
            }
        }
    }
}

impl Dispatched {
    /// The HTTP answer: `status` with `body(success)` when the command was applied (with its
    /// consistency token), 202 with where to follow it otherwise.
    pub fn respond<B: Serialize>(
        self,
        status: StatusCode,
        body: impl FnOnce(&Success) -> Option<B>,
    ) -> Response {
        match self {
            Self::Done(success) => {
                let token = HeaderValue::try_from(success.consistency_token.to_string()).ok();
                let mut response = match body(&success) {
                    Some(body) => (status, axum::Json(body)).into_response(),
                    None => status.into_response(),
                };
                if let Some(token) = token {
                    response.headers_mut().insert(CONSISTENCY_HEADER, token);
                }
                response
            }
            Self::Accepted(command_id) => accepted_response(command_id),
        }
    }

    /// The success, if there was one in time.
    pub fn success(&self) -> Option<&Success> {
        match self {
            Self::Done(success) => Some(success),
            Self::Accepted(_) => None,
        }
    }
}

/// 202 with `Location` and the command's id.
fn accepted_response(command_id: CommandId) -> Response {
    let location = format!("/api/v1/commands/{command_id}");
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({
            "command_id": command_id,
            "status": "pending",
        })),
    )
        .into_response();
    if let Ok(location) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn rejection_label(code: events::ErrorCode) -> &'static str {
    use events::ErrorCode;
    match code {
        ErrorCode::Validation => "validation",
        ErrorCode::Conflict => "conflict",
        ErrorCode::NotFound => "not_found",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Unauthenticated => "unauthenticated",
        ErrorCode::Unavailable => "unavailable",
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
