//! What must hold after the load and the faults, once everything has settled:
//! - every command answered 2xx or 202 is recorded exactly once in its service's store, and a
//!   2xx one as applied; nothing unanswered was applied twice (its events, if any, come from
//!   one transaction);
//! - every read model equals its rebuild from the stores (same checksum);
//! - the run's queues hold nothing, ready or unacked, and its dead-letter queues are empty.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use event_store::EventStore;
use events::CommandReply;
use member_profile::MemberProfile;
use place_directory::PlaceDirectory;
use projection::{ReadModel, catchup};
use review_feed::ReviewFeed;
use serde_json::Value;
use sqlx::PgPool;
use top_reviewers::TopReviewers;
use uuid::Uuid;

use super::load::Sent;
use crate::bench::harness::BenchDatabase;
use crate::system::programs::Program;
use crate::system::{RunNames, System, settle};

const POLL: Duration = Duration::from_millis(200);

/// One command, however many times its client sent it.
#[derive(Debug, Clone)]
pub struct Command {
    pub service: &'static str,
    /// Its type (`WriteReview`).
    pub kind: &'static str,
    pub command_id: Uuid,
    pub status: Option<u16>,
    /// Requests it took, over every time its client sent it.
    pub attempts: u32,
    pub id_mismatch: bool,
}

impl Command {
    pub fn succeeded(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status) && status != 202)
    }

    pub fn accepted(&self) -> bool {
        self.status == Some(202)
    }

    pub fn unanswered(&self) -> bool {
        self.status.is_none_or(|status| status >= 500)
    }
}

/// The journal by command: a command sent again with its key (a registration only accepted
/// the first time) is one command, and its most telling answer counts.
pub fn commands(journal: &[Sent]) -> Vec<Command> {
    let mut by_id: BTreeMap<Uuid, Command> = BTreeMap::new();
    for sent in journal {
        let command = by_id.entry(sent.command_id).or_insert(Command {
            service: sent.service,
            kind: sent.command,
            command_id: sent.command_id,
            status: sent.status,
            attempts: 0,
            id_mismatch: false,
        });
        command.attempts += sent.attempts;
        command.id_mismatch |= sent.id_mismatch;
        if rank(sent.status) > rank(command.status) {
            command.status = sent.status;
        }
    }
    by_id.into_values().collect()
}

/// Applied beats queued beats refused beats no answer.
fn rank(status: Option<u16>) -> u8 {
    match status {
        Some(202) => 3,
        Some(200..=299) => 4,
        Some(400..=499) => 2,
        Some(_) => 1,
        None => 0,
    }
}

/// Waits until every command answered 202 has been decided by its service.
pub async fn accepted_decided(
    names: &RunNames,
    commands: &[Command],
    deadline: Duration,
) -> Result<()> {
    let started = Instant::now();
    for (service, ids) in by_service(commands, Command::accepted) {
        let store = settle::connect(names, service).await?;
        loop {
            let recorded: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM processed_commands WHERE command_id = ANY($1)",
            )
            .bind(&ids)
            .fetch_one(&store)
            .await?;
            if recorded as usize == ids.len() {
                break;
            }
            if started.elapsed() > deadline {
                bail!(
                    "{service} had decided {recorded} of the {} commands it accepted after {deadline:?}",
                    ids.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
        store.close().await;
    }
    Ok(())
}

fn by_service(
    commands: &[Command],
    keep: impl Fn(&Command) -> bool,
) -> BTreeMap<&'static str, Vec<Uuid>> {
    let mut by_service: BTreeMap<&'static str, Vec<Uuid>> = BTreeMap::new();
    for command in commands.iter().filter(|command| keep(command)) {
        by_service
            .entry(command.service)
            .or_default()
            .push(command.command_id);
    }
    by_service
}

/// What the stores say about the commands.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Recorded as applied (a success, with or without events).
    pub applied: usize,
    /// Recorded as refused.
    pub refused: usize,
    /// Commands whose events came from more than one transaction: applied twice.
    pub duplicates: usize,
    /// Answered 2xx or 202, yet not recorded, or answered 2xx and recorded as refused.
    pub lost: usize,
    pub violations: Vec<String>,
}

/// How a store recorded one command.
struct Record {
    applied: bool,
    /// The distinct transactions its events were appended in.
    transactions: i64,
}

pub async fn exactly_once(names: &RunNames, commands: &[Command]) -> Result<Ledger> {
    let mut ledger = Ledger::default();
    for (service, ids) in by_service(commands, |_| true) {
        let store = settle::connect(names, service).await?;
        let records = records(&store, &ids).await?;
        store.close().await;
        for command in commands.iter().filter(|command| command.service == service) {
            let record = records.get(&command.command_id);
            let id = command.command_id;
            match record {
                Some(record) if record.applied => ledger.applied += 1,
                Some(_) => ledger.refused += 1,
                None => {}
            }
            if record.is_some_and(|record| record.transactions > 1) {
                ledger.duplicates += 1;
                ledger.violations.push(format!(
                    "{service} command {id} appended events in more than one transaction"
                ));
            }
            if (command.succeeded() || command.accepted()) && record.is_none() {
                ledger.lost += 1;
                ledger.violations.push(format!(
                    "{service} command {id} was answered {:?} but is not recorded",
                    command.status
                ));
            }
            if command.succeeded() && record.is_some_and(|record| !record.applied) {
                ledger.lost += 1;
                ledger.violations.push(format!(
                    "{service} command {id} was answered {:?} but is recorded as refused",
                    command.status
                ));
            }
        }
    }
    Ok(ledger)
}

async fn records(store: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, Record>> {
    let processed: Vec<(Uuid, bool, Option<Value>)> = sqlx::query_as(
        "SELECT command_id, stream_id IS NOT NULL, reply FROM processed_commands
          WHERE command_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(store)
    .await?;
    let transactions: HashMap<Uuid, i64> = sqlx::query_as(
        "SELECT causation_id, count(DISTINCT transaction_id) FROM events
          WHERE causation_id = ANY($1) GROUP BY causation_id",
    )
    .bind(ids)
    .fetch_all(store)
    .await?
    .into_iter()
    .collect();
    let mut records = HashMap::new();
    for (command_id, appended, reply) in processed {
        let applied = match reply {
            // Events appended: the reply is rebuilt from them.
            None => appended,
            Some(reply) => matches!(
                serde_json::from_value::<CommandReply>(reply)?,
                CommandReply::Success(_)
            ),
        };
        records.insert(
            command_id,
            Record {
                applied,
                transactions: transactions.get(&command_id).copied().unwrap_or(0),
            },
        );
    }
    // Events whose command left no record would be a broken append.
    for (command_id, count) in &transactions {
        records.entry(*command_id).or_insert(Record {
            applied: false,
            transactions: *count,
        });
    }
    Ok(records)
}

/// One read model's checksum, live and rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub model: &'static str,
    pub live: String,
    pub rebuilt: String,
}

impl Checksums {
    pub fn matches(&self) -> bool {
        self.live == self.rebuilt
    }
}

/// Every read model of the run against its rebuild from the stores, in a database of its own.
pub async fn checksums(system: &System) -> Result<Vec<Checksums>> {
    let mut compared = Vec::new();
    for spec in system.specs() {
        let Program::Projection { name, sources, .. } = &spec.program else {
            continue;
        };
        let names = system.names();
        let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
        compared.push(match *name {
            ReviewFeed::NAME => compare(names, ReviewFeed, &sources).await?,
            PlaceDirectory::NAME => compare(names, PlaceDirectory, &sources).await?,
            MemberProfile::NAME => compare(names, MemberProfile, &sources).await?,
            TopReviewers::NAME => compare(names, TopReviewers, &sources).await?,
            other => bail!("no checksum for the read model {other}"),
        });
    }
    Ok(compared)
}

async fn compare<M: ReadModel>(names: &RunNames, model: M, sources: &[&str]) -> Result<Checksums> {
    let live_pool = settle::connect(names, M::NAME).await?;
    let live = model.checksum(&mut *live_pool.acquire().await?).await?;
    live_pool.close().await;

    let rebuild =
        BenchDatabase::create_named(names.database(&format!("{}-rebuild", M::NAME))).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&rebuild.url)
        .await?;
    projection::migrate(&pool).await?;
    model.migrate(&pool).await?;
    let mut stores = Vec::new();
    for source in sources {
        stores.push(EventStore::new(
            settle::connect(names, source).await?,
            *source,
        ));
    }
    catchup::catch_up(&pool, &model, &stores).await?;
    let rebuilt = model.checksum(&mut *pool.acquire().await?).await?;
    pool.close().await;
    for store in stores {
        store.pool().close().await;
    }
    rebuild.drop().await?;
    Ok(Checksums {
        model: M::NAME,
        live,
        rebuilt,
    })
}

/// A queue of the run that still holds messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub queue: String,
    pub ready: u64,
    pub unacked: u64,
}

/// Waits until none of the run's queues holds a message, ready or unacked (the management
/// API's counts lag by its statistics interval); returns those that still do at `deadline`.
pub async fn queues_drained(names: &RunNames, deadline: Duration) -> Result<Vec<Holding>> {
    let started = Instant::now();
    loop {
        let holding = holding(names).await?;
        if holding.is_empty() || started.elapsed() > deadline {
            return Ok(holding);
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn holding(names: &RunNames) -> Result<Vec<Holding>> {
    let url = format!(
        "{}/api/queues/%2F?columns=name,messages_ready,messages_unacknowledged",
        testkit::rabbitmq::management_url()
    );
    let queues: Vec<Value> = reqwest::get(&url).await?.error_for_status()?.json().await?;
    let prefix = format!("{}.", names.run());
    let count = |queue: &Value, field: &str| queue[field].as_u64().unwrap_or(0);
    Ok(queues
        .iter()
        .filter_map(|queue| {
            let name = queue["name"].as_str()?;
            let holding = Holding {
                queue: name.to_owned(),
                ready: count(queue, "messages_ready"),
                unacked: count(queue, "messages_unacknowledged"),
            };
            (name.starts_with(&prefix) && holding.ready + holding.unacked > 0).then_some(holding)
        })
        .collect())
}

/// Whether a queue of the run is one of its dead-letter queues.
pub fn is_dead_letters(queue: &str) -> bool {
    queue.contains(".dead-letters.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: u128, status: Option<u16>) -> Sent {
        Sent {
            service: "members",
            command: "Register",
            command_id: Uuid::from_u128(id),
            status,
            attempts: 1,
            id_mismatch: false,
        }
    }

    #[test]
    fn a_command_sent_twice_counts_once_with_its_best_answer() {
        let merged = commands(&[sent(1, Some(202)), sent(1, Some(201)), sent(2, None)]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].status, Some(201));
        assert_eq!(merged[0].attempts, 2);
        assert!(merged[0].succeeded());
        assert!(!merged[0].accepted());
        assert!(merged[1].unanswered());
        assert!(!merged[1].succeeded());
    }

    #[test]
    fn a_202_is_accepted_not_succeeded_and_a_503_is_unanswered() {
        let merged = commands(&[sent(1, Some(202)), sent(2, Some(503)), sent(3, Some(409))]);
        assert!(merged[0].accepted() && !merged[0].succeeded());
        assert!(merged[1].unanswered());
        assert!(!merged[2].unanswered() && !merged[2].succeeded());
    }

    #[test]
    fn dead_letter_queues_are_told_apart() {
        assert!(is_dead_letters(
            "chaos_ab12cd34.waypoint.dead-letters.commands.reviews"
        ));
        assert!(!is_dead_letters("chaos_ab12cd34.waypoint.commands.reviews"));
    }
}
