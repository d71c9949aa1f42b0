//! PostgreSQL's placement lock: a session advisory lock in berth's class, so replicas
//! exclude each other. Each holder keeps a connection of a pool of its own for as long as
//! it holds the lock: a placement also writes metadata through the main pool, and two
//! pools cannot starve each other into a deadlock as one could.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;

use super::{LOCK_CLASS, LOCK_PLACEMENT, PgMeta};
use crate::{MetaError, Placement, PlacementGuard, Result};

#[async_trait]
impl Placement for PgMeta {
    async fn placing(&self) -> Result<PlacementGuard> {
        self.advisory(false).await
    }

    async fn sweeping(&self) -> Result<PlacementGuard> {
        self.advisory(true).await
    }
}

impl PgMeta {
    /// Waits for the lock in a task of its own, so a caller that stops waiting (a
    /// timeout, a client gone) cannot leave a lock granted later on a pooled connection:
    /// the task sees nobody wants it any more and unlocks.
    ///
    /// A sweep asks again and again rather than queueing: PostgreSQL would make every
    /// placement queue behind a sweep that waits, stalling pushes on all replicas for as
    /// long as the slowest placement in progress. So placements never wait for a sweep
    /// that has not started, as with the file lock on SQLite.
    async fn advisory(&self, exclusive: bool) -> Result<PlacementGuard> {
        let pool = self.placement.clone();
        let (give, take) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let held = async {
                let mut conn = pool.acquire().await?;
                if exclusive {
                    let mut pause = Duration::from_millis(10);
                    loop {
                        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                            .bind(LOCK_CLASS)
                            .bind(LOCK_PLACEMENT)
                            .fetch_one(&mut *conn)
                            .await?;
                        if taken {
                            break;
                        }
                        if give.is_closed() {
                            return Err(MetaError::Unsupported("nobody waits for the lock"));
                        }
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(200));
                    }
                } else {
                    sqlx::query("SELECT pg_advisory_lock_shared($1, $2)")
                        .bind(LOCK_CLASS)
                        .bind(LOCK_PLACEMENT)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok::<_, MetaError>(Held {
                    conn: Some(conn),
                    exclusive,
                })
            };
            let held = held.await;
            // Unwanted: dropping it unlocks.
            let _ = give.send(held);
        });
        let held = take.await.map_err(|_| {
            MetaError::Database(sqlx::Error::Io(std::io::Error::other(
                "the placement lock's task ended",
            )))
        })??;
        Ok(PlacementGuard::new(held))
    }
}

struct Held {
    conn: Option<PoolConnection<sqlx::Postgres>>,
    exclusive: bool,
}

/// Unlocks before the connection goes back to its pool; where that cannot run (no
/// runtime, the unlock failed) the connection is closed, which unlocks too.
impl Drop for Held {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let release = if self.exclusive {
            "SELECT pg_advisory_unlock($1, $2)"
        } else {
            "SELECT pg_advisory_unlock_shared($1, $2)"
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let unlocked = sqlx::query(release)
                        .bind(LOCK_CLASS)
                        .bind(LOCK_PLACEMENT)
                        .execute(&mut *conn)
                        .await;
                    if unlocked.is_err() {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}
