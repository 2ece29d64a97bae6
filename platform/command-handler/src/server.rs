//! A service's command queue: decode, deduplicate, handle, reply.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use events::{Command, CommandEnvelope, CommandReply, ErrorCode, Rejection};
use futures::future::try_join_all;
use message_bus::{
    Bus, CancellationToken, ConsumerConfig, ConsumerError, HandlingError, IncomingMessage,
    serve_commands,
};
use serde_json::value::RawValue;
use service_kit::telemetry;
use tracing::{Instrument, info_span, warn};

use crate::{CommandRunner, HandlerError};

/// One service's business logic over its commands. `handle` runs only for commands not seen
/// before; it answers through [`CommandRunner::execute`] (or, for a check that changes
/// nothing, such as a login, directly).
pub trait CommandService: Send + Sync + 'static {
    type Command: Command + Send + Sync + 'static;

    fn handle(
        &self,
        envelope: CommandEnvelope<Self::Command>,
    ) -> impl Future<Output = Result<CommandReply, HandlerError>> + Send;
}

/// How hard a service instance works its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Commands handled at once; each worker has its own channel and takes one command at a
    /// time, so a slow command never holds up another worker's.
    pub workers: usize,
    /// Deliveries after which a command that keeps failing is dead-lettered.
    pub max_attempts: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            max_attempts: 5,
        }
    }
}

/// Consumes the service's command queue until `shutdown`, as a competing consumer: any number
/// of instances may serve the same queue.
pub async fn serve<S: CommandService>(
    bus: Bus,
    runner: CommandRunner,
    service: Arc<S>,
    config: ServeConfig,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    let service_name = S::Command::SERVICE;
    let queue = bus.names().command_queue(service_name);
    let workers = (0..config.workers.max(1)).map(|_| {
        let consumer = ConsumerConfig::new(queue.clone(), format!("commands.{service_name}"))
            .with_prefetch(1)
            .with_max_attempts(config.max_attempts);
        let runner = runner.clone();
        let service = Arc::clone(&service);
        serve_commands(
            bus.clone(),
            consumer,
            move |message| {
                let runner = runner.clone();
                let service = Arc::clone(&service);
                async move { handle_message(&runner, service.as_ref(), message).await }
            },
            shutdown.clone(),
        )
    });
    try_join_all(workers).await.map(|_| ())
}

async fn handle_message<S: CommandService>(
    runner: &CommandRunner,
    service: &S,
    message: IncomingMessage,
) -> Result<Vec<u8>, HandlingError> {
    let started = Instant::now();
    let envelope = match decode::<S::Command>(&message.payload) {
        Ok(envelope) => envelope,
        Err(rejection) => {
            // Not a command this service can read: answered, never retried, never recorded
            // (there may not even be a command id to record it under).
            metrics::counter!("waypoint_commands_total", "service" => S::Command::SERVICE, "command" => "unreadable", "outcome" => "validation")
                .increment(1);
            return encode(&CommandReply::from(rejection));
        }
    };
    let command = envelope.command_type.clone();
    let span = info_span!(
        "command.handle",
        otel.kind = "consumer",
        service = S::Command::SERVICE,
        command = %command,
        command_id = %envelope.command_id,
        correlation_id = %envelope.correlation_id,
        outcome = tracing::field::Empty,
    );
    // The gateway's `command.publish` span, as the envelope carries it.
    telemetry::set_parent(&span, envelope.traceparent.as_deref());
    let handled = async {
        if let Some(first) = runner
            .store()
            .command_reply(envelope.command_id.into())
            .await?
        {
            return Ok((first, "duplicate"));
        }
        let reply = service.handle(envelope).await?;
        let outcome = match &reply {
            CommandReply::Success(_) => "ok",
            CommandReply::Rejection(rejection) => code_label(rejection.code),
        };
        Ok::<_, HandlerError>((reply, outcome))
    }
    .instrument(span.clone())
    .await;
    let (reply, outcome) = match handled {
        Ok(answered) => answered,
        Err(error) => {
            warn!(parent: &span, %error, "command failed; it will be retried");
            metrics::counter!("waypoint_commands_total", "service" => S::Command::SERVICE, "command" => command, "outcome" => "failed")
                .increment(1);
            return Err(HandlingError::from_error(&error));
        }
    };
    span.record("outcome", outcome);
    metrics::counter!("waypoint_commands_total", "service" => S::Command::SERVICE, "command" => command.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("waypoint_command_duration_seconds", "service" => S::Command::SERVICE, "command" => command)
        .record(started.elapsed().as_secs_f64());
    encode(&reply)
}

fn encode(reply: &CommandReply) -> Result<Vec<u8>, HandlingError> {
    serde_json::to_vec(reply).map_err(|error| HandlingError::from_error(&error))
}

/// Reads an envelope and its payload, naming the offending field when the payload is
/// malformed so the client sees which input was wrong.
fn decode<C: Command>(bytes: &[u8]) -> Result<CommandEnvelope<C>, Rejection> {
    let envelope: CommandEnvelope<Box<RawValue>> =
        serde_json::from_slice(bytes).map_err(|error| {
            Rejection::new(
                ErrorCode::Validation,
                format!("not a command envelope: {error}"),
            )
        })?;
    envelope.try_map_payload(|command_type, payload| {
        let mut json = serde_json::Deserializer::from_str(payload.get());
        let mut track = serde_path_to_error::Track::new();
        let decoded = C::decode(
            command_type,
            serde_path_to_error::Deserializer::new(&mut json, &mut track),
        );
        decoded.map_err(|error| match error {
            events::CommandDecodeError::UnknownType { wire_name } => Rejection::new(
                ErrorCode::Validation,
                format!("`{wire_name}` is not a {} command", C::SERVICE),
            ),
            events::CommandDecodeError::Payload { source, .. } => {
                let field = track.path().to_string();
                Rejection::new(ErrorCode::Validation, "the command has invalid fields")
                    .with_field_error(field, source.to_string())
            }
        })
    })
}

fn code_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Validation => "validation",
        ErrorCode::Conflict => "conflict",
        ErrorCode::NotFound => "not_found",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Unauthenticated => "unauthenticated",
        ErrorCode::Unavailable => "unavailable",
    }
}
