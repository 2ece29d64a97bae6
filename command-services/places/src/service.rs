//! The places service's command handler.

use command_handler::host::Host;
use command_handler::{Aggregate, CommandMeta, CommandRunner, CommandService, HandlerError};
use events::places::{PlaceCommand, PlaceEvent, stream_id};
use events::{CommandEnvelope, CommandReply, PlaceId};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::domain::{Context, Place, decide};

impl Aggregate for Place {
    type Event = PlaceEvent;

    fn evolve(self, event: &PlaceEvent) -> Self {
        Place::evolve(self, event)
    }
}

/// Handles `places.*` commands.
#[derive(Debug, Clone)]
pub struct PlacesService {
    runner: CommandRunner,
    /// The service's database, where the local copy of members lives.
    pool: PgPool,
}

impl PlacesService {
    pub fn new(host: &Host) -> Self {
        Self {
            runner: host.runner(),
            pool: host.pool().clone(),
        }
    }
}

impl CommandService for PlacesService {
    type Command = PlaceCommand;

    async fn handle(
        &self,
        envelope: CommandEnvelope<PlaceCommand>,
    ) -> Result<CommandReply, HandlerError> {
        let meta = CommandMeta::of(&envelope);
        let actor_active = local_copies::facts(&self.pool, envelope.actor.member_id, None)
            .await?
            .actor_active;
        // A new place takes its command's id, so a redelivered AddPlace names the same place.
        let new_id = PlaceId::from(meta.command_id);
        let place_id = match &envelope.payload {
            PlaceCommand::AddPlace(_) => new_id,
            PlaceCommand::UpdatePlace(update) => update.place_id,
            PlaceCommand::ClosePlace(close) => close.place_id,
        };
        let context = Context {
            actor: envelope.actor.clone(),
            now: OffsetDateTime::now_utc(),
            new_id,
            actor_active,
        };
        self.runner
            .execute::<Place, _, _>(
                &meta,
                &stream_id(place_id),
                |place| decide(place, &envelope.payload, &context),
                &(),
            )
            .await
    }
}
