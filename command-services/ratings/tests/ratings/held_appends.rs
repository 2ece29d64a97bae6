//! Holding the service's appends back from outside, to catch its instances in the middle of
//! a command.

use sqlx::{PgPool, Postgres, Transaction};
use testkit::poll;

use super::support::DEADLINE;

/// A transaction holding the `events` table in EXCLUSIVE mode. Reads go on, so an instance
/// loads and decides a command, then waits inside its transaction at the append, with the
/// command unacked, until [`HeldAppends::release`].
pub struct HeldAppends {
    holder: Transaction<'static, Postgres>,
    pid: i32,
}

impl HeldAppends {
    pub async fn hold(pool: &PgPool) -> Self {
        let mut holder = pool.begin().await.unwrap();
        let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *holder)
            .await
            .unwrap();
        sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
            .execute(&mut *holder)
            .await
            .unwrap();
        Self { holder, pid }
    }

    /// Waits until exactly `count` sessions wait for the lock: commands decided and stuck in
    /// their append. `pool` must not be the holder's: a transaction sees one snapshot of
    /// `pg_stat_activity`.
    pub async fn wait_for_waiting(&self, pool: &PgPool, count: i64) {
        poll::until(
            &format!("{count} appends to wait for the lock"),
            DEADLINE,
            || async {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                )
                .bind(self.pid)
                .fetch_one(pool)
                .await
                .unwrap();
                (waiting == count).then_some(())
            },
        )
        .await;
    }

    /// Ends, as the death of their process would, the other sessions on the database that
    /// hold or wait for a lock, and returns how many ended. Idle sessions (the test's own)
    /// hold none.
    pub async fn terminate_other_lockers(&self, pool: &PgPool) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))
               FROM pg_stat_activity
              WHERE datname = current_database()
                AND pid NOT IN (pg_backend_pid(), $1)
                AND pid IN (SELECT pid FROM pg_locks)",
        )
        .bind(self.pid)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    pub async fn release(self) {
        self.holder.rollback().await.unwrap();
    }
}
