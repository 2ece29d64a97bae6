//! A fresh PostgreSQL database per test.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, PgPool};
use std::str::FromStr;

/// The prefix of every database a test creates; `cargo xtask test` drops leftovers by it.
pub const TEST_DATABASE_PREFIX: &str = "waypoint_t_";

/// The server's maintenance database, where test databases are created.
pub fn admin_url() -> String {
    std::env::var("WAYPOINT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test only.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> Self {
        let name = format!("{TEST_DATABASE_PREFIX}{}", crate::unique_suffix());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect to the PostgreSQL maintenance database");
        admin
            .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .expect("create the test database");
        let options = PgConnectOptions::from_str(&admin_url())
            .expect("parse the PostgreSQL URL")
            .database(&name);
        let url = options.to_url_lossy().to_string();
        Self { name, url }
    }

    /// A pool on this database.
    pub async fn pool(&self, max_connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}
