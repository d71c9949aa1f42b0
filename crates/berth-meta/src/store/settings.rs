//! Registry-wide settings kept in the database.

use async_trait::async_trait;

use crate::Result;

#[async_trait]
pub trait Settings: Send + Sync + 'static {
    async fn setting(&self, key: &str) -> Result<Option<String>>;

    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
}
