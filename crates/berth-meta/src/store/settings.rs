//! Registry-wide settings kept in the database.

use async_trait::async_trait;

use crate::Result;

#[async_trait]
pub trait Settings: Send + Sync + 'static {
    async fn setting(&self, key: &str) -> Result<Option<String>>;

    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;

    /// The setting `key`, set to `value` first if it has none: of processes racing to set
    /// it, the first one's value is what every one of them gets back.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
}
