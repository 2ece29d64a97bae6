//! The per-command transaction.

use std::future::Future;

use event_store::{
    AppendError, AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent,
};
use events::{
    Actor, CommandEnvelope, CommandReply, ConsistencyToken, ErrorCode, Rejection, Success,
};
use service_kit::telemetry;
use sqlx::PgConnection;
use tracing::{Instrument, debug, info_span};
use uuid::Uuid;

use crate::{Aggregate, HandlerError, Loaded};

/// Version conflicts retried with a fresh load before the command is answered `conflict`.
/// Conflicts need two writers on one aggregate at once; three in a row means heavy
/// contention, and the client is better told than kept waiting.
const DEFAULT_CONFLICT_RETRIES: u32 = 3;

/// Who sent a command and in which trace: recorded with every event it appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    pub command_id: Uuid,
    pub command_type: String,
    pub correlation_id: Uuid,
    pub actor: Actor,
    /// The envelope's trace context. Its events are recorded with the context of the append's
    /// own span, a descendant of it, or with this one where nothing is traced.
    pub traceparent: Option<String>,
}

impl CommandMeta {
    pub fn of<C>(envelope: &CommandEnvelope<C>) -> Self {
        Self {
            command_id: envelope.command_id.into(),
            command_type: envelope.command_type.clone(),
            correlation_id: envelope.correlation_id,
            actor: envelope.actor.clone(),
            traceparent: envelope.traceparent.clone(),
        }
    }
}

/// Rows a service writes in the same transaction as a command's events: uniqueness
/// reservations and private data (a password hash). Returning `Ok(Err(rejection))` refuses
/// the command, and nothing of it is kept.
pub trait PrivateWrite<E>: Send + Sync {
    /// True when `write` never writes anything: the append then runs as one statement in a
    /// transaction of its own, without the round trips of an explicit one.
    const WRITES_NOTHING: bool = false;

    fn write(
        &self,
        conn: &mut PgConnection,
        events: &[E],
    ) -> impl Future<Output = Result<Result<(), Rejection>, sqlx::Error>> + Send;
}

/// No private rows: the events are the whole effect.
impl<E: Sync> PrivateWrite<E> for () {
    const WRITES_NOTHING: bool = true;

    async fn write(
        &self,
        _conn: &mut PgConnection,
        _events: &[E],
    ) -> Result<Result<(), Rejection>, sqlx::Error> {
        Ok(Ok(()))
    }
}

/// Runs commands against one service's event store.
#[derive(Debug, Clone)]
pub struct CommandRunner {
    store: EventStore,
    conflict_retries: u32,
}

/// How one attempt at committing ended.
enum Attempt {
    Answered(CommandReply),
    Conflict,
}

impl CommandRunner {
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            conflict_retries: DEFAULT_CONFLICT_RETRIES,
        }
    }

    pub fn with_conflict_retries(self, conflict_retries: u32) -> Self {
        Self {
            conflict_retries,
            ..self
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Loads the stream, decides, and commits the events, the private rows and the reply
    /// record in one transaction. A version conflict (another command on the same aggregate
    /// committed first) is retried against the new state; `decide` may therefore run more
    /// than once and must be pure.
    pub async fn execute<A, D, W>(
        &self,
        meta: &CommandMeta,
        stream_id: &str,
        decide: D,
        private: &W,
    ) -> Result<CommandReply, HandlerError>
    where
        A: Aggregate,
        D: Fn(&A) -> Result<Vec<A::Event>, Rejection> + Send,
        W: PrivateWrite<A::Event>,
    {
        let mut conflicts = 0;
        loop {
            let loaded = Loaded::<A>::from_store(&self.store, stream_id).await?;
            let events = match decide(&loaded.state) {
                Ok(events) => events,
                Err(rejection) => return self.refuse(meta, rejection).await,
            };
            match self
                .commit(meta, stream_id, &loaded, &events, private)
                .await?
            {
                Attempt::Answered(reply) => return Ok(reply),
                Attempt::Conflict if conflicts < self.conflict_retries => {
                    conflicts += 1;
                    metrics::counter!("waypoint_command_conflicts_total", "service" => self.store.source().to_owned())
                        .increment(1);
                    debug!(stream_id, conflicts, "version conflict, deciding again");
                }
                Attempt::Conflict => {
                    let rejection = Rejection::new(
                        ErrorCode::Conflict,
                        "the resource was changed by other requests at the same time; try again",
                    );
                    return self.refuse(meta, rejection).await;
                }
            }
        }
    }

    /// Answers with a refusal, recorded so that a redelivery gets the same answer — except
    /// `unavailable`, which says "not now" and must not stick.
    pub async fn refuse(
        &self,
        meta: &CommandMeta,
        rejection: Rejection,
    ) -> Result<CommandReply, HandlerError> {
        let reply = CommandReply::from(rejection);
        if matches!(&reply, CommandReply::Rejection(r) if r.code == ErrorCode::Unavailable) {
            return Ok(reply);
        }
        Ok(self.store.record_reply(meta.command_id, &reply).await?)
    }

    async fn commit<A, W>(
        &self,
        meta: &CommandMeta,
        stream_id: &str,
        loaded: &Loaded<A>,
        events: &[A::Event],
        private: &W,
    ) -> Result<Attempt, HandlerError>
    where
        A: Aggregate,
        W: PrivateWrite<A::Event>,
    {
        if events.is_empty() {
            return self
                .record_unchanged(meta, stream_id, loaded, private)
                .await;
        }
        let span = info_span!(
            "event_store.append",
            otel.kind = "internal",
            stream_id,
            events = events.len(),
        );
        let request = AppendRequest {
            stream_id: stream_id.to_owned(),
            expected_version: ExpectedVersion(loaded.version),
            events: events
                .iter()
                .map(NewEvent::from_contract)
                .collect::<Result<_, _>>()?,
            metadata: EventMetadata {
                correlation_id: meta.correlation_id,
                causation_id: Some(meta.command_id),
                actor: Some(meta.actor.clone()),
                // The events' creation context, which the relay and every consumer continue
                // or link to: this append. Without telemetry, the command's own context.
                traceparent: telemetry::traceparent(&span).or_else(|| meta.traceparent.clone()),
            },
            command_id: Some(meta.command_id),
        };
        self.append(meta, &request, events, private)
            .instrument(span)
            .await
    }

    /// Appends `request` with the private rows of its `events` in one transaction.
    async fn append<E, W>(
        &self,
        meta: &CommandMeta,
        request: &AppendRequest,
        events: &[E],
        private: &W,
    ) -> Result<Attempt, HandlerError>
    where
        W: PrivateWrite<E>,
    {
        let appended = if W::WRITES_NOTHING {
            self.store.append(request).await
        } else {
            let mut tx = self.store.pool().begin().await?;
            if let Err(rejection) = private.write(&mut tx, events).await? {
                tx.rollback().await?;
                return self.refuse(meta, rejection).await.map(Attempt::Answered);
            }
            // On an error the transaction is dropped, which rolls it back.
            match self.store.append_in(&mut tx, request).await {
                Ok(appended) => {
                    tx.commit().await?;
                    self.store.committed();
                    Ok(appended)
                }
                Err(error) => Err(error),
            }
        };
        match appended {
            Ok(appended) => {
                metrics::counter!("waypoint_appends_total", "service" => self.store.source().to_owned())
                    .increment(1);
                metrics::counter!("waypoint_appended_events_total", "service" => self.store.source().to_owned())
                    .increment(events.len() as u64);
                Ok(Attempt::Answered(
                    Success::new(
                        &request.stream_id,
                        appended.version,
                        self.token(appended.checkpoint),
                    )
                    .into(),
                ))
            }
            Err(AppendError::Conflict { .. }) => Ok(Attempt::Conflict),
            Err(AppendError::AlreadyProcessed(first)) => Ok(Attempt::Answered(*first)),
            Err(AppendError::NoEvents) => Err(HandlerError::Service(
                "an append without events slipped through".to_owned(),
            )),
            Err(AppendError::Store(error)) => Err(error.into()),
        }
    }

    /// A command that changes no events: its private rows and its reply record commit
    /// together. The reply is recorded because deciding again on a redelivery could act on a
    /// newer state and do what this delivery did not.
    async fn record_unchanged<A, W>(
        &self,
        meta: &CommandMeta,
        stream_id: &str,
        loaded: &Loaded<A>,
        private: &W,
    ) -> Result<Attempt, HandlerError>
    where
        A: Aggregate,
        W: PrivateWrite<A::Event>,
    {
        let mut tx = self.store.pool().begin().await?;
        if let Err(rejection) = private.write(&mut tx, &[]).await? {
            tx.rollback().await?;
            return self.refuse(meta, rejection).await.map(Attempt::Answered);
        }
        let reply = CommandReply::from(Success::new(
            stream_id,
            loaded.version,
            self.token(loaded.checkpoint),
        ));
        if !self
            .store
            .record_reply_in(&mut tx, meta.command_id, &reply)
            .await?
        {
            tx.rollback().await?;
            let first = self.store.stored_reply(meta.command_id).await?;
            return Ok(Attempt::Answered(first));
        }
        tx.commit().await?;
        Ok(Attempt::Answered(reply))
    }

    fn token(&self, checkpoint: events::Checkpoint) -> ConsistencyToken {
        ConsistencyToken::new(self.store.source().to_owned(), checkpoint)
    }
}
