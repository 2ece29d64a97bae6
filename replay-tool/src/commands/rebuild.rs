//! `waypoint rebuild <projection>`: blue/green rebuilds of a read model from the source stores.
//!
//! The next generation of the model is built in a schema of its own beside the active one,
//! which keeps serving queries and consuming its queue; once caught up it is made active, and
//! every running instance switches to it by itself (pausing its consumer between batches for
//! a last catch-up, then swapping queries and consumer in one step). The old generation is
//! kept: `--rollback` switches back, `--drop-old` removes it. The work itself is
//! `projection::rebuild`; this module picks the model by name and reports.

mod actions;

use event_store::EventStore;
use projection::ReadModel;
use projection::catchup::CatchUpError;
use projection::generations::GenerationError;
use projection::rebuild::Rebuild;
use service_kit::database::connect_creating;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::{CliError, Context, Outcome, Output};

/// The read models this build knows, by the name their queue and settings use.
pub const PROJECTIONS: [&str; 4] = [
    "review-feed",
    "place-directory",
    "member-profile",
    "top-reviewers",
];

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Without an option: build the next generation from the source stores while the current one \
keeps serving, make it active, and wait until every running instance serves it. With --json \
the outcome is one document, events per second included.

Examples:
  waypoint rebuild review-feed
  waypoint rebuild review-feed --status
  waypoint rebuild review-feed --rollback
  waypoint rebuild review-feed --drop-old
  waypoint --json rebuild place-directory --wait 60")]
pub struct Args {
    /// The read model to rebuild.
    #[arg(value_parser = PROJECTIONS)]
    projection: String,
    /// List the model's generations and which instances serve them; change nothing.
    #[arg(long, conflicts_with_all = ["rollback", "drop_old"])]
    status: bool,
    /// Make the previous generation active again, caught up from the stores first.
    #[arg(long, conflicts_with = "drop_old")]
    rollback: bool,
    /// Drop the retired generations' schemas (never the active one).
    #[arg(long)]
    drop_old: bool,
    /// How long to wait for running instances to switch, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    wait: u64,
}

/// What to do with the model's generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Status,
    Rebuild,
    Rollback,
    DropOld,
}

pub async fn run(args: Args, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    match args.projection.as_str() {
        "review-feed" => execute(review_feed::ReviewFeed, &args, context, output).await,
        "place-directory" => execute(place_directory::PlaceDirectory, &args, context, output).await,
        "member-profile" => execute(member_profile::MemberProfile, &args, context, output).await,
        "top-reviewers" => execute(top_reviewers::TopReviewers, &args, context, output).await,
        other => Err(CliError::new(format!("no projection named `{other}`"))
            .with_hint(format!("one of: {}", PROJECTIONS.join(", ")))),
    }
}

async fn execute<M: ReadModel>(
    model: M,
    args: &Args,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let action = if args.status {
        Action::Status
    } else if args.rollback {
        Action::Rollback
    } else if args.drop_old {
        Action::DropOld
    } else {
        Action::Rebuild
    };
    let database = context.projection_database(M::NAME)?;
    if action == Action::Status {
        let base = existing::<M>(context, database).await?;
        return actions::status::<M>(&base, output).await;
    }
    // A model that never ran has no database yet: its first generation is built here.
    let base = connect_creating(&context.settings.postgres, database)
        .await
        .map_err(|error| CliError::database(&format!("database {database}"), error))?;
    let sources = sources_of::<M>(context).await?;
    let max_connections = context.settings.postgres.max_connections;
    let rebuild = Rebuild::begin(base, &model, sources, max_connections)
        .await
        .map_err(|error| failure::<M>(error))?;
    let wait = std::time::Duration::from_secs(args.wait);
    let outcome = match action {
        Action::Rebuild => actions::rebuild(&rebuild, wait, output).await,
        Action::Rollback => actions::rollback(&rebuild, wait, output).await,
        Action::DropOld => actions::drop_old(&rebuild, output).await,
        Action::Status => Ok(Outcome::Ok),
    };
    rebuild.finish().await;
    outcome
}

/// PostgreSQL's `invalid_catalog_name`: the database does not exist.
const DATABASE_MISSING: &str = "3D000";

/// The model's database, which `--status` only reads: it is not created.
async fn existing<M: ReadModel>(context: &Context, database: &str) -> Result<PgPool, CliError> {
    let url = context.settings.postgres.database_url(database);
    PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(failure)
                if failure.code().as_deref() == Some(DATABASE_MISSING) =>
            {
                CliError::new(format!("{} has no database yet ({database})", M::NAME)).with_hint(
                    format!(
                        "start the projection once, or build it with `waypoint rebuild {}`",
                        M::NAME
                    ),
                )
            }
            _ => CliError::database(&format!("database {database}"), error),
        })
}

/// The stores of the services whose events the model reads.
async fn sources_of<M: ReadModel>(context: &Context) -> Result<Vec<EventStore>, CliError> {
    let mut stores = Vec::new();
    for service in projection::reads::sources_of(M::EVENT_TYPES) {
        stores.push(context.store(&service).await?);
    }
    Ok(stores)
}

/// What went wrong, in the operator's terms.
fn failure<M: ReadModel>(error: GenerationError) -> CliError {
    let name = M::NAME;
    match error {
        GenerationError::Busy => CliError::new(format!("another rebuild of {name} is running"))
            .with_hint(format!(
                "wait for it to finish; `waypoint rebuild {name} --status` shows the generation it builds"
            )),
        GenerationError::NothingToRollBack => {
            CliError::new(format!("{name} has no retired generation to roll back to")).with_hint(
                format!(
                    "`waypoint rebuild {name} --status` lists the generations; dropped ones cannot come back"
                ),
            )
        }
        GenerationError::InUse {
            generation,
            instances,
        } => CliError::new(format!(
            "generation {generation} of {name} is still served by {instances}"
        ))
        .with_hint("wait until those instances switch (or stop them), then run --drop-old again"),
        GenerationError::CatchUp(CatchUpError::Source { name: source, error }) => {
            CliError::new(format!("reading the {source} event store: {error}")).with_hint(
                format!("check that the {source} store's database in [stores] is reachable"),
            )
        }
        GenerationError::Migrate(error) => {
            CliError::new(format!("migrating the new generation of {name}: {error}")).with_hint(
                "the generation stays `building`; the next rebuild drops it and starts over",
            )
        }
        GenerationError::Sql(error) | GenerationError::CatchUp(CatchUpError::Apply(error)) => {
            CliError::database(&format!("{name}'s database"), error)
        }
        other @ (GenerationError::Unknown(_) | GenerationError::Dropped(_)) => {
            CliError::new(format!("{name}: {other}"))
                .with_hint(format!("`waypoint rebuild {name} --status` lists the generations"))
        }
    }
}
