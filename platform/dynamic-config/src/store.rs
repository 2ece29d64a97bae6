//! The versions in PostgreSQL: one row per version, the whole document in each, never updated.

use serde::Serialize;
use service_kit::database::connect_creating;
use service_kit::settings::PostgresSettings;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::ConfigError;
use crate::document::{DynamicConfig, Refused};
use crate::keys::{self, Change};

/// PostgreSQL's `undefined_table`: nothing was ever stored here.
const UNDEFINED_TABLE: &str = "42P01";
/// Who version 1 is recorded as.
const SEED_AUTHOR: &str = "waypoint";

type Row = (i64, serde_json::Value, String, String, OffsetDateTime);

/// One stored version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredVersion {
    pub version: i64,
    pub document: DynamicConfig,
    pub author: String,
    pub comment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl StoredVersion {
    fn from_row(
        (version, document, author, comment, created_at): Row,
    ) -> Result<Self, ConfigError> {
        // Read without `validate`: a stored version was valid when stored, and a later, stricter
        // rule must not make history unreadable.
        let document = serde_json::from_value(document).map_err(|error| ConfigError::Corrupt {
            version,
            problem: error.to_string(),
        })?;
        Ok(Self {
            version,
            document,
            author,
            comment,
            created_at,
        })
    }
}

/// What a change came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    /// A new version, and the keys it changed.
    Stored {
        version: StoredVersion,
        changes: Vec<Change>,
    },
    /// The document is what the current version already holds: nothing was stored.
    Unchanged(StoredVersion),
}

impl Changed {
    /// The version now current.
    pub fn current(&self) -> &StoredVersion {
        match self {
            Self::Stored { version, .. } | Self::Unchanged(version) => version,
        }
    }
}

/// The versioned configuration in its database.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    pool: PgPool,
}

impl ConfigStore {
    /// Connects to `database` (created on first use), creates the table and seeds version 1.
    pub async fn open(postgres: &PostgresSettings, database: &str) -> Result<Self, ConfigError> {
        let store = Self::new(connect_creating(postgres, database).await?);
        store.prepare().await?;
        Ok(store)
    }

    /// A store on `pool`, as it is; see [`ConfigStore::prepare`].
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Migrates and seeds version 1 (the defaults) if there is none; idempotent, and safe when
    /// several run at once.
    pub async fn prepare(&self) -> Result<(), ConfigError> {
        let mut migrator = sqlx::migrate!("./migrations");
        // The database may hold other migration sets one day; theirs are not ours to check.
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        sqlx::query(
            "INSERT INTO config_versions (version, document, author, comment)
             VALUES (1, $1, $2, 'the defaults')
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(DynamicConfig::default().to_value())
        .bind(SEED_AUTHOR)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest version.
    pub async fn current(&self) -> Result<StoredVersion, ConfigError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT version, document, author, comment, created_at
               FROM config_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        StoredVersion::from_row(row.ok_or(ConfigError::NoSuchVersion(1))?)
    }

    /// Version `version`, which must exist.
    pub async fn version(&self, version: i64) -> Result<StoredVersion, ConfigError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT version, document, author, comment, created_at
               FROM config_versions WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        StoredVersion::from_row(row.ok_or(ConfigError::NoSuchVersion(version))?)
    }

    /// The newest `limit` versions, newest first, each with the keys it changed from the one
    /// before (none for version 1).
    pub async fn history(
        &self,
        limit: u32,
    ) -> Result<Vec<(StoredVersion, Vec<Change>)>, ConfigError> {
        // One more than shown: the oldest shown version's changes need its predecessor.
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT version, document, author, comment, created_at
               FROM config_versions ORDER BY version DESC LIMIT $1",
        )
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let versions = rows
            .into_iter()
            .map(StoredVersion::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut history = Vec::with_capacity(versions.len());
        for (index, version) in versions.iter().enumerate().take(limit as usize) {
            let changes = match versions.get(index + 1) {
                Some(before) => keys::changes(&before.document, &version.document),
                None if version.version > 1 => {
                    let before = self.version(version.version - 1).await?;
                    keys::changes(&before.document, &version.document)
                }
                None => Vec::new(),
            };
            history.push((version.clone(), changes));
        }
        Ok(history)
    }

    /// Stores what `change` makes of the current document as the next version, unless it is
    /// refused or changes nothing. Changes are serialised, so two operators setting different
    /// keys at once both keep their change.
    pub async fn change(
        &self,
        author: &str,
        comment: &str,
        change: impl FnOnce(&DynamicConfig) -> Result<DynamicConfig, Refused>,
    ) -> Result<Changed, ConfigError> {
        let mut transaction = self.pool.begin().await?;
        // Readers go on; only another change waits for this one's commit.
        sqlx::query("LOCK TABLE config_versions IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *transaction)
            .await?;
        let row: Option<Row> = sqlx::query_as(
            "SELECT version, document, author, comment, created_at
               FROM config_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&mut *transaction)
        .await?;
        let current = StoredVersion::from_row(row.ok_or(ConfigError::NoSuchVersion(1))?)?;
        let document = change(&current.document)?;
        // Whatever `change` did, nothing invalid is ever stored.
        document.validate()?;
        if document == current.document {
            return Ok(Changed::Unchanged(current));
        }
        let changes = keys::changes(&current.document, &document);
        let (version, created_at): (i64, OffsetDateTime) = sqlx::query_as(
            "INSERT INTO config_versions (version, document, author, comment)
             VALUES ($1, $2, $3, $4)
             RETURNING version, created_at",
        )
        .bind(current.version + 1)
        .bind(document.to_value())
        .bind(author)
        .bind(comment)
        .fetch_one(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Changed::Stored {
            version: StoredVersion {
                version,
                document,
                author: author.to_owned(),
                comment: comment.to_owned(),
                created_at,
            },
            changes,
        })
    }
}

/// The current version in the configuration database on `pool`, or `None` if nothing was ever
/// stored there: what `waypoint status` compares the instances' reported versions against.
pub async fn current_version(pool: &PgPool) -> Result<Option<i64>, ConfigError> {
    let found: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT max(version) FROM config_versions")
            .fetch_one(pool)
            .await;
    match found {
        Ok(version) => Ok(version),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(UNDEFINED_TABLE) => {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}
