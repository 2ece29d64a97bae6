//! Generations: each version of a read model lives in a PostgreSQL schema of its own in the
//! model's database, so a rebuild is built beside the version that serves, and switching is a
//! change of which schema the connections look in.
//!
//! `public.projection_generations` says which generation is active. Generation 1 is the
//! `public` schema, where every model started (existing databases keep working unchanged);
//! later ones are `gen_<n>`. A generation's connections set `search_path` to its schema alone,
//! so the model's SQL, with unqualified names, runs unchanged, and its migrations
//! (`_sqlx_migrations`), checkpoints and poison records are its own. Activating a generation
//! also makes its schema the database's default `search_path`, so a plain connection (an
//! operator's `psql`, `waypoint status`) sees the active generation too.
//!
//! States: `building` (a rebuild is filling it), `active` (exactly one: the one served),
//! `retired` (served before; kept for a rollback), `dropped` (its schema is gone; the row stays
//! as history). Hosts record which generation each of them serves in
//! `public.projection_instances`, so a rebuild can tell when every running instance switched.

use std::time::Duration;

use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres};
use time::OffsetDateTime;

use crate::catchup::CatchUpError;

/// The channel a switch is announced on (`NOTIFY`), with the new generation as payload.
pub const CHANNEL: &str = "waypoint_projection_generation";

/// An instance that has not reported for this long is taken to be gone.
pub const INSTANCE_TTL: Duration = Duration::from_secs(5);

/// The bookkeeping tables live in `public` whichever generation is active, and are created by
/// idempotent statements rather than a migration: `_sqlx_migrations` in `public` belongs to
/// generation 1. The advisory lock keeps two processes starting at once from racing on
/// `CREATE TABLE IF NOT EXISTS`.
const ENSURE: &str = "
SELECT pg_advisory_xact_lock(hashtext('waypoint.projection.generations'));
CREATE TABLE IF NOT EXISTS public.projection_generations (
    generation   integer PRIMARY KEY CHECK (generation > 0),
    schema_name  text NOT NULL UNIQUE,
    state        text NOT NULL CHECK (state IN ('building', 'active', 'retired', 'dropped')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    retired_at   timestamptz,
    dropped_at   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS projection_generations_one_active
    ON public.projection_generations ((true)) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS public.projection_instances (
    instance_id text PRIMARY KEY,
    generation  integer NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.projection_generations (generation, schema_name, state, activated_at)
SELECT 1, 'public', 'active', now()
 WHERE NOT EXISTS (SELECT FROM public.projection_generations);
";

const COLUMNS: &str =
    "generation, schema_name, state, created_at, activated_at, retired_at, dropped_at";

/// Where a generation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Building,
    Active,
    Retired,
    Dropped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Dropped => "dropped",
        }
    }

    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "building" => Ok(Self::Building),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "dropped" => Ok(Self::Dropped),
            other => Err(sqlx::Error::Decode(
                format!("unknown generation state {other:?}").into(),
            )),
        }
    }
}

/// One version of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    pub number: i32,
    pub schema: String,
    pub state: State,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub dropped_at: Option<OffsetDateTime>,
}

type Row = (
    i32,
    String,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

impl Generation {
    /// The schema generation `number` lives in: `public` for the first, `gen_<n>` after.
    pub fn schema_of(number: i32) -> String {
        if number <= 1 {
            "public".to_owned()
        } else {
            format!("gen_{number}")
        }
    }

    fn from_row(row: Row) -> Result<Self, sqlx::Error> {
        let (number, schema, state, created_at, activated_at, retired_at, dropped_at) = row;
        Ok(Self {
            number,
            schema,
            state: State::parse(&state)?,
            created_at,
            activated_at,
            retired_at,
            dropped_at,
        })
    }
}

/// An instance serving the model, as it last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub instance_id: String,
    pub generation: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub seen_at: OffsetDateTime,
}

/// What activating a generation changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activation {
    /// The generation that served until now (retired by the switch), if another one did.
    pub previous: Option<Generation>,
    pub active: Generation,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("another rebuild of this projection is running")]
    Busy,
    #[error("generation {0} does not exist")]
    Unknown(i32),
    #[error("generation {0} was dropped")]
    Dropped(i32),
    #[error("there is no retired generation to roll back to")]
    NothingToRollBack,
    #[error("generation {generation} is still served by {instances}")]
    InUse { generation: i32, instances: String },
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrating: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("catching up: {0}")]
    CatchUp(#[from] CatchUpError),
}

/// Creates the bookkeeping tables if they are missing, and records the `public` schema as the
/// active generation 1 of a database that has none yet.
pub async fn ensure(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(ENSURE).execute(&mut *tx).await?;
    tx.commit().await
}

/// Every generation, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Generation>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM public.projection_generations ORDER BY generation"
    )))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Generation::from_row).collect()
}

/// The generation that serves.
pub async fn active(pool: &PgPool) -> Result<Generation, sqlx::Error> {
    let row: Row = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM public.projection_generations WHERE state = 'active'"
    )))
    .fetch_one(pool)
    .await?;
    Generation::from_row(row)
}

/// One generation by number.
pub async fn find(pool: &PgPool, number: i32) -> Result<Generation, GenerationError> {
    let mut conn = pool.acquire().await?;
    find_in(&mut conn, number).await
}

/// Mutations of the table take this lock, so two of them never interleave; readers (the hosts'
/// polls) are not blocked by it.
async fn lock_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE public.projection_generations IN EXCLUSIVE MODE")
        .execute(conn)
        .await
        .map(|_| ())
}

/// Creates the next generation's empty schema, in state `building`.
pub async fn create_next(pool: &PgPool) -> Result<Generation, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_table(&mut tx).await?;
    let number: i32 = sqlx::query_scalar(
        "SELECT coalesce(max(generation), 1) + 1 FROM public.projection_generations",
    )
    .fetch_one(&mut *tx)
    .await?;
    let schema = Generation::schema_of(number);
    // `gen_<n>`: made from a number, never from input.
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut *tx)
        .await?;
    let row: Row = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO public.projection_generations (generation, schema_name, state)
         VALUES ($1, $2, 'building') RETURNING {COLUMNS}"
    )))
    .bind(number)
    .bind(&schema)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Generation::from_row(row)
}

/// Makes `number` the active generation and retires the one that was, in one transaction that
/// also announces the switch on [`CHANNEL`]. Activating the active generation changes nothing.
pub async fn activate(pool: &PgPool, number: i32) -> Result<Activation, GenerationError> {
    let mut tx = pool.begin().await?;
    lock_table(&mut tx).await?;
    let target = find_in(&mut tx, number).await?;
    match target.state {
        State::Dropped => return Err(GenerationError::Dropped(number)),
        State::Active => {
            return Ok(Activation {
                previous: None,
                active: target,
            });
        }
        State::Building | State::Retired => {}
    }
    let previous: Option<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE public.projection_generations SET state = 'retired', retired_at = now()
          WHERE state = 'active' RETURNING {COLUMNS}"
    )))
    .fetch_optional(&mut *tx)
    .await?;
    let active: Row = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE public.projection_generations SET state = 'active', activated_at = now()
          WHERE generation = $1 RETURNING {COLUMNS}"
    )))
    .bind(number)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(number.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let activation = Activation {
        previous: previous.map(Generation::from_row).transpose()?,
        active: Generation::from_row(active)?,
    };
    set_default_schema(pool, &activation.active.schema).await;
    Ok(activation)
}

async fn find_in(conn: &mut PgConnection, number: i32) -> Result<Generation, GenerationError> {
    let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM public.projection_generations WHERE generation = $1"
    )))
    .bind(number)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) => Ok(Generation::from_row(row)?),
        None => Err(GenerationError::Unknown(number)),
    }
}

/// New sessions on the database look in `schema` first. Best effort: it needs the database's
/// owner, and the hosts do not depend on it (their connections name their schema).
async fn set_default_schema(pool: &PgPool, schema: &str) {
    let outcome = async {
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(pool)
            .await?;
        let database = quote(&database);
        // `public` goes back to the server's default, `"$user", public`.
        let statement = if schema == "public" {
            format!("ALTER DATABASE {database} RESET search_path")
        } else {
            format!(
                "ALTER DATABASE {database} SET search_path = {}",
                quote(schema)
            )
        };
        sqlx::query(AssertSqlSafe(statement)).execute(pool).await
    }
    .await;
    if let Err(error) = outcome {
        tracing::warn!(%error, schema, "could not make the active generation the database's default search path");
    }
}

/// An identifier quoted for PostgreSQL.
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Drops every retired generation's schema (never the active one), refusing while a running
/// instance still serves one of them. Returns the generations dropped.
pub async fn drop_retired(pool: &PgPool) -> Result<Vec<Generation>, GenerationError> {
    drop_where(pool, State::Retired).await
}

/// Drops generations left `building` by a rebuild that did not finish. Only call it while
/// holding the rebuild lock, when no other rebuild can be filling one.
pub async fn drop_abandoned(pool: &PgPool) -> Result<Vec<Generation>, GenerationError> {
    drop_where(pool, State::Building).await
}

async fn drop_where(pool: &PgPool, state: State) -> Result<Vec<Generation>, GenerationError> {
    let mut tx = pool.begin().await?;
    lock_table(&mut tx).await?;
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM public.projection_generations WHERE state = $1 ORDER BY generation"
    )))
    .bind(state.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let doomed: Vec<Generation> = rows
        .into_iter()
        .map(Generation::from_row)
        .collect::<Result<_, _>>()?;
    let serving = instances_in(&mut tx).await?;
    for generation in &doomed {
        let users: Vec<&str> = serving
            .iter()
            .filter(|instance| instance.generation == generation.number)
            .map(|instance| instance.instance_id.as_str())
            .collect();
        if !users.is_empty() {
            return Err(GenerationError::InUse {
                generation: generation.number,
                instances: users.join(", "),
            });
        }
    }
    let mut dropped = Vec::with_capacity(doomed.len());
    for generation in doomed {
        drop_schema(&mut tx, &generation.schema).await?;
        let row: Row = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE public.projection_generations SET state = 'dropped', dropped_at = now()
              WHERE generation = $1 RETURNING {COLUMNS}"
        )))
        .bind(generation.number)
        .fetch_one(&mut *tx)
        .await?;
        dropped.push(Generation::from_row(row)?);
    }
    tx.commit().await?;
    Ok(dropped)
}

/// A `gen_<n>` schema goes whole. `public` stays, because the bookkeeping lives there: the
/// first generation's relations are dropped one by one instead (a model's migrations make
/// tables, indexes and views; objects an extension owns are left to the extension).
async fn drop_schema(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    if schema != "public" {
        return sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote(schema)
        )))
        .execute(conn)
        .await
        .map(|_| ());
    }
    let relations: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text,
                CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                               WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                               ELSE 'TABLE' END
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            AND c.relname NOT IN ('projection_generations', 'projection_instances')
            AND NOT EXISTS (SELECT FROM pg_depend d
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                               AND d.deptype = 'e')",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (name, kind) in relations {
        // IF EXISTS: an earlier CASCADE may have taken it (a view on a table, an owned sequence).
        sqlx::query(AssertSqlSafe(format!(
            "DROP {kind} IF EXISTS public.{} CASCADE",
            quote(&name)
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A pool on `generation`: its connections look in its schema only.
pub async fn connect(
    base: &PgPool,
    generation: &Generation,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    let options = (*base.connect_options())
        .clone()
        .options([("search_path", generation.schema.as_str())]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
}

/// Records that `instance_id` serves `generation` now.
pub async fn report_serving(
    pool: &PgPool,
    instance_id: &str,
    generation: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO public.projection_instances (instance_id, generation) VALUES ($1, $2)
         ON CONFLICT (instance_id) DO UPDATE SET generation = EXCLUDED.generation, seen_at = now()",
    )
    .bind(instance_id)
    .bind(generation)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Forgets an instance that stops, and any that stopped reporting long ago.
pub async fn forget_instance(pool: &PgPool, instance_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM public.projection_instances
          WHERE instance_id = $1 OR seen_at < now() - interval '1 hour'",
    )
    .bind(instance_id)
    .execute(pool)
    .await
    .map(|_| ())
}

/// The instances that reported within [`INSTANCE_TTL`], by id.
pub async fn instances(pool: &PgPool) -> Result<Vec<Instance>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    instances_in(&mut conn).await
}

async fn instances_in(conn: &mut PgConnection) -> Result<Vec<Instance>, sqlx::Error> {
    let rows: Vec<(String, i32, OffsetDateTime)> = sqlx::query_as(
        "SELECT instance_id, generation, seen_at FROM public.projection_instances
          WHERE seen_at > now() - make_interval(secs => $1) ORDER BY instance_id",
    )
    .bind(INSTANCE_TTL.as_secs_f64())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(instance_id, generation, seen_at)| Instance {
            instance_id,
            generation,
            seen_at,
        })
        .collect())
}

/// Held while a rebuild, rollback or drop runs, so two never run at once on one model. A
/// session lock on a connection of its own: if the process dies, the lock goes with it.
#[derive(Debug)]
pub struct RebuildLock {
    conn: PoolConnection<Postgres>,
}

impl RebuildLock {
    const KEY: &str = "waypoint.projection.rebuild";

    /// Takes the lock, or answers [`GenerationError::Busy`] at once.
    pub async fn acquire(pool: &PgPool) -> Result<Self, GenerationError> {
        let mut conn = pool.acquire().await?;
        // Never back in the pool with the lock held, whatever happens to this guard.
        conn.close_on_drop();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(Self::KEY)
            .fetch_one(&mut *conn)
            .await?;
        if locked {
            Ok(Self { conn })
        } else {
            Err(GenerationError::Busy)
        }
    }

    /// Releases the lock now rather than when the connection closes.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(Self::KEY)
            .execute(&mut *self.conn)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_generation_is_the_public_schema_and_later_ones_have_their_own() {
        assert_eq!(Generation::schema_of(1), "public");
        assert_eq!(Generation::schema_of(2), "gen_2");
        assert_eq!(Generation::schema_of(17), "gen_17");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("gen_2"), "\"gen_2\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
