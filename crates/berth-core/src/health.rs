//! Readiness: can the registry take pushes right now? Storage must accept a write and the
//! metadata database must answer one.

use std::time::Duration;

use crate::Registry;

/// A check slower than this counts as failed: a hung NFS mount is not "ready".
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One check's outcome; `error` says why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub error: Option<String>,
}

async fn timed<E: std::fmt::Display>(
    name: &'static str,
    check: impl Future<Output = Result<(), E>>,
) -> Check {
    let error = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
    };
    Check {
        name: name.to_string(),
        error,
    }
}

impl Registry {
    /// The blob volume's size and free space, where the store has a volume.
    pub async fn storage_capacity(&self) -> crate::Result<Option<berth_storage::Capacity>> {
        Ok(self.blobs.capacity().await?)
    }

    pub async fn readiness(&self) -> Vec<Check> {
        vec![self.storage_check().await, self.metadata_check().await]
    }

    pub async fn storage_check(&self) -> Check {
        timed("storage", self.blobs.check_writable()).await
    }

    pub async fn metadata_check(&self) -> Check {
        timed("metadata", self.meta.ping()).await
    }
}
