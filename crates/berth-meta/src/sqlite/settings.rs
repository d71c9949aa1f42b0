//! Registry-wide settings in SQLite.

use async_trait::async_trait;

use super::SqliteMeta;
use crate::{Result, Settings};

#[async_trait]
impl Settings for SqliteMeta {
    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(())
    }
}
