//! A service's own database, created on first start.

use crate::settings::PostgresSettings;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use std::str::FromStr;

/// PostgreSQL's `invalid_catalog_name`: the database does not exist.
const DATABASE_MISSING: &str = "3D000";
/// `duplicate_database`: someone created it between our check and our `CREATE`.
const DATABASE_EXISTS: &str = "42P04";
/// `unique_violation` on `pg_database`: the same race, caught one step later.
const UNIQUE_VIOLATION: &str = "23505";
/// Where `CREATE DATABASE` is run from.
const MAINTENANCE_DATABASE: &str = "postgres";
/// PostgreSQL truncates longer identifiers, which would connect to a different name.
const MAX_NAME_LENGTH: usize = 63;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid database name {0:?}: use 1 to 63 ASCII letters, digits and underscores")]
    InvalidName(String),
    #[error("invalid PostgreSQL URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("could not create database {database}: {source}")]
    Create {
        database: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not connect to database {database}: {source}")]
    Connect {
        database: String,
        #[source]
        source: sqlx::Error,
    },
}

/// A pool on `database`, creating the database first if it does not exist.
///
/// Several instances starting at once may all find it missing; all but one lose the race to
/// create it, which is fine. An existing database is connected to directly, so production
/// credentials need no access to the maintenance database.
pub async fn connect_creating(
    settings: &PostgresSettings,
    database: &str,
) -> Result<PgPool, DatabaseError> {
    validate_name(database)?;
    let server = PgConnectOptions::from_str(&settings.url).map_err(DatabaseError::Url)?;
    let options = server.clone().database(database);
    let pool = PgPoolOptions::new().max_connections(settings.max_connections);
    match pool.clone().connect_with(options.clone()).await {
        Err(error) if has_sql_state(&error, &[DATABASE_MISSING]) => {
            create(server.database(MAINTENANCE_DATABASE), database).await?;
            tracing::info!(database, "created the database");
            pool.connect_with(options).await
        }
        connected => connected,
    }
    .map_err(|source| DatabaseError::Connect {
        database: database.to_owned(),
        source,
    })
}

async fn create(maintenance: PgConnectOptions, database: &str) -> Result<(), DatabaseError> {
    let failed = |source| DatabaseError::Create {
        database: database.to_owned(),
        source,
    };
    let mut connection = PgConnection::connect_with(&maintenance)
        .await
        .map_err(failed)?;
    // CREATE DATABASE takes no bind parameters; `validate_name` keeps this injection-free.
    let created = connection
        .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{database}""#)))
        .await;
    // Closing is a courtesy to the server; the database exists or not either way.
    let _ = connection.close().await;
    match created {
        Ok(_) => Ok(()),
        Err(error) if has_sql_state(&error, &[DATABASE_EXISTS, UNIQUE_VIOLATION]) => Ok(()),
        Err(error) => Err(failed(error)),
    }
}

/// Whether `error` is a PostgreSQL error with one of these SQLSTATE codes.
fn has_sql_state(error: &sqlx::Error, codes: &[&str]) -> bool {
    match error {
        sqlx::Error::Database(database_error) => database_error
            .code()
            .is_some_and(|code| codes.contains(&code.as_ref())),
        _ => false,
    }
}

fn validate_name(database: &str) -> Result<(), DatabaseError> {
    let valid = !database.is_empty()
        && database.len() <= MAX_NAME_LENGTH
        && database
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(DatabaseError::InvalidName(database.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn database_names_are_plain_identifiers() {
        assert!(validate_name("waypoint_members").is_ok());
        assert!(validate_name("m1").is_ok());
        for bad in [
            "",
            "a-b",
            r#"x"; DROP DATABASE y; --"#,
            "é",
            &"a".repeat(64),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
