//! The reviews service's command handler.

use command_handler::host::{Host, HostError};
use command_handler::{
    Aggregate, CommandMeta, CommandRunner, CommandService, HandlerError, Loaded,
};
use events::reviews::{ReviewCommand, ReviewEvent, stream_id};
use events::{CommandEnvelope, CommandReply, ErrorCode, PhotoId, PlaceId, Rejection, ReviewId};
use photo_store::{PhotoStore, PhotoStoreError};
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::warn;

use crate::domain::{Context, Review, decide};
use crate::photos;
use crate::reservations::{self, Reservations};

impl Aggregate for Review {
    type Event = ReviewEvent;

    fn evolve(self, event: &ReviewEvent) -> Self {
        Review::evolve(self, event)
    }
}

/// Handles `reviews.*` commands.
#[derive(Debug, Clone)]
pub struct ReviewsService {
    runner: CommandRunner,
    /// The service's database, where the local copies of places and members live.
    pool: PgPool,
    photos: PhotoStore,
}

impl ReviewsService {
    /// Migrates the service's own tables and serves with `photos` as the photos' store.
    pub async fn new(host: &Host, photos: PhotoStore) -> Result<Self, HostError> {
        reservations::migrate(host.pool()).await?;
        Ok(Self {
            runner: host.runner(),
            pool: host.pool().clone(),
            photos,
        })
    }

    /// The place of an existing review, if there is one. A review's place is fixed when it
    /// is written, so this read, made before the runner loads the review again to decide,
    /// holds whatever happens to the review in between.
    async fn review_place(&self, review_id: ReviewId) -> Result<Option<PlaceId>, HandlerError> {
        let loaded =
            Loaded::<Review>::from_store(self.runner.store(), &stream_id(review_id)).await?;
        Ok(loaded.state.place_id())
    }

    /// The command's photos that the actor may not attach. None are asked for an actor that
    /// `decide` refuses anyway.
    async fn unverified_photos(
        &self,
        envelope: &CommandEnvelope<ReviewCommand>,
        actor_active: bool,
    ) -> Result<Vec<PhotoId>, PhotoStoreError> {
        let photo_ids = match &envelope.payload {
            ReviewCommand::WriteReview(write) => write.photo_ids.as_slice(),
            ReviewCommand::EditReview(edit) => edit.photo_ids.as_slice(),
            ReviewCommand::DeleteReview(_) => &[],
        };
        match envelope.actor.member_id {
            Some(author) if actor_active => {
                photos::unverified(&self.photos, author, photo_ids).await
            }
            _ => Ok(Vec::new()),
        }
    }
}

impl CommandService for ReviewsService {
    type Command = ReviewCommand;

    async fn handle(
        &self,
        envelope: CommandEnvelope<ReviewCommand>,
    ) -> Result<CommandReply, HandlerError> {
        let meta = CommandMeta::of(&envelope);
        // A new review takes its command's id, so a redelivered WriteReview names the same review.
        let new_id = ReviewId::from(meta.command_id);
        // No such review: `decide` answers `not_found` before it looks at the place.
        let (review_id, place_id) = match &envelope.payload {
            ReviewCommand::WriteReview(write) => (new_id, Some(write.place_id)),
            ReviewCommand::EditReview(edit) => {
                (edit.review_id, self.review_place(edit.review_id).await?)
            }
            ReviewCommand::DeleteReview(delete) => {
                (delete.review_id, self.review_place(delete.review_id).await?)
            }
        };
        let facts = local_copies::facts(&self.pool, envelope.actor.member_id, place_id).await?;
        let actor_active = facts.actor_active;
        let unverified_photos = match self.unverified_photos(&envelope, actor_active).await {
            Ok(unverified) => unverified,
            Err(error) => {
                warn!(%error, "the command's photos cannot be checked");
                let rejection = Rejection::new(
                    ErrorCode::Unavailable,
                    "photos cannot be checked right now; try again later",
                );
                return self.runner.refuse(&meta, rejection).await;
            }
        };
        let context = Context {
            actor: envelope.actor.clone(),
            now: OffsetDateTime::now_utc(),
            new_id,
            place: facts.place,
            actor_active,
            unverified_photos,
        };
        self.runner
            .execute::<Review, _, _>(
                &meta,
                &stream_id(review_id),
                |review| decide(review, &envelope.payload, &context),
                &Reservations,
            )
            .await
    }
}
