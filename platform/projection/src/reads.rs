//! What a model reads, and so which part of a client's consistency token it must wait for.
//!
//! A model's checkpoint for a source moves only when an event of a type it reads arrives: its
//! queue is bound to exactly those types. A token names a position in the source's store, and
//! that position is often an event the model never sees (a review-feed and a token of
//! `places.PlaceClosed`). Compared as it is, such a token would stay uncovered until the next
//! event the model does read, and every query carrying it would wait out its deadline.
//!
//! So a token is first narrowed to the last event of the model's types at or before it in the
//! source store: that is everything the token can ask of this model. When there is none, the
//! token asks nothing. Tokens of sources the model does not read ask nothing either.

use std::collections::{BTreeMap, BTreeSet};

use event_store::EventStore;
use events::{Checkpoint, ConsistencyToken};

/// The sources and event types of one model, with the source stores where the host has them.
#[derive(Debug, Clone)]
pub struct ModelReads {
    /// `<source>.<EventType>`, as the stores record them.
    event_types: Vec<String>,
    sources: BTreeSet<String>,
    stores: BTreeMap<String, EventStore>,
}

impl ModelReads {
    /// A model reading `event_types`, narrowing tokens against `stores`. A source without a
    /// store here keeps its tokens as they are: waiting longer is safe, answering early is not.
    pub fn new(event_types: &[&str], stores: &[EventStore]) -> Self {
        Self {
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            sources: sources_of(event_types),
            stores: stores
                .iter()
                .map(|store| (store.source().to_owned(), store.clone()))
                .collect(),
        }
    }

    /// Whether the model reads events of `source`.
    pub fn reads_from(&self, source: &str) -> bool {
        self.sources.contains(source)
    }

    /// What `token` asks of this model: the same or an earlier position of its source, or
    /// nothing.
    pub async fn narrow(
        &self,
        token: &ConsistencyToken,
    ) -> Result<Option<ConsistencyToken>, sqlx::Error> {
        if !self.reads_from(&token.source) {
            return Ok(None);
        }
        let Some(store) = self.stores.get(&token.source) else {
            return Ok(Some(token.clone()));
        };
        // Walks the commit-order index backwards from the token and stops at the first event
        // of the model's types: cheap however long the store is, since the types a model
        // reads are common in its sources.
        let last: Option<(String, i64)> = sqlx::query_as(
            "SELECT transaction_id::text, position FROM events
              WHERE (transaction_id, position) <= ($1::text::xid8, $2)
                AND event_type = ANY($3)
              ORDER BY transaction_id DESC, position DESC
              LIMIT 1",
        )
        .bind(token.checkpoint.transaction_id.to_string())
        .bind(token.checkpoint.position)
        .bind(&self.event_types)
        .fetch_optional(store.pool())
        .await?;
        Ok(last.and_then(|(transaction_id, position)| {
            let transaction_id = transaction_id.parse().ok()?;
            Some(ConsistencyToken::new(
                token.source.clone(),
                Checkpoint {
                    transaction_id,
                    position,
                },
            ))
        }))
    }
}

/// The sources of a model's event types, each `<service>.<EventType>`.
pub fn sources_of(event_types: &[&str]) -> BTreeSet<String> {
    event_types
        .iter()
        .filter_map(|event_type| event_type.split_once('.'))
        .map(|(source, _)| source.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_reads_the_sources_of_its_event_types() {
        let sources = sources_of(&[
            "places.PlaceAdded",
            "ratings.PlaceRated",
            "places.PlaceClosed",
        ]);
        assert_eq!(
            sources.into_iter().collect::<Vec<_>>(),
            ["places", "ratings"]
        );
    }

    #[tokio::test]
    async fn without_a_store_a_token_of_a_read_source_is_kept_and_others_dropped() {
        let reads = ModelReads::new(&["places.PlaceAdded"], &[]);
        let places: ConsistencyToken = "places.7.2".parse().unwrap();
        let members: ConsistencyToken = "members.7.2".parse().unwrap();
        assert_eq!(reads.narrow(&places).await.unwrap(), Some(places));
        assert_eq!(reads.narrow(&members).await.unwrap(), None);
    }
}
