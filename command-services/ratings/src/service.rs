//! The ratings service's command handler.

use command_handler::host::Host;
use command_handler::{Aggregate, CommandMeta, CommandRunner, CommandService, HandlerError};
use events::ratings::{RatingCommand, RatingEvent, stream_id};
use events::{CommandEnvelope, CommandReply, ErrorCode, Rejection};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::domain::{Context, Rating, decide};

impl Aggregate for Rating {
    type Event = RatingEvent;

    fn evolve(self, event: &RatingEvent) -> Self {
        Rating::evolve(self, event)
    }
}

/// Handles `ratings.*` commands.
#[derive(Debug, Clone)]
pub struct RatingsService {
    runner: CommandRunner,
    /// The service's database, where the local copies of places and members live.
    pool: PgPool,
}

impl RatingsService {
    pub fn new(host: &Host) -> Self {
        Self {
            runner: host.runner(),
            pool: host.pool().clone(),
        }
    }
}

impl CommandService for RatingsService {
    type Command = RatingCommand;

    async fn handle(
        &self,
        envelope: CommandEnvelope<RatingCommand>,
    ) -> Result<CommandReply, HandlerError> {
        let meta = CommandMeta::of(&envelope);
        // The stream to load is the actor's own rating of the place, so an anonymous actor
        // has none: they are refused before anything is read.
        let Some(member_id) = envelope.actor.member_id else {
            let rejection = Rejection::new(ErrorCode::Unauthenticated, "sign in to rate places");
            return self.runner.refuse(&meta, rejection).await;
        };
        let place_id = match &envelope.payload {
            RatingCommand::RatePlace(rate) => rate.place_id,
            RatingCommand::RemoveRating(remove) => remove.place_id,
        };
        let facts = local_copies::facts(&self.pool, Some(member_id), Some(place_id)).await?;
        let context = Context {
            actor: envelope.actor.clone(),
            now: OffsetDateTime::now_utc(),
            place: facts.place,
            actor_active: facts.actor_active,
        };
        self.runner
            .execute::<Rating, _, _>(
                &meta,
                &stream_id(member_id, place_id),
                |rating| decide(rating, &envelope.payload, &context),
                &(),
            )
            .await
    }
}
