//! Webhook policies per project (Harbor's notification policies): which of a project's
//! events go to which receivers, in which payload format. Checked here, stored in the
//! metadata, and kept in memory for matching events (refreshed every few seconds, so
//! replicas see each other's changes).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_meta::{MetaError, MetaStore, OutboxEvent, PolicyWrite, WebhookPolicyRecord, now_ms};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::harbor::{EVENT_TYPES, PayloadFormat};

/// How often each process re-reads the enabled policies.
pub(crate) const REFRESH: Duration = Duration::from_secs(2);

/// The notify types berth sends.
pub const NOTIFY_TYPES: &[&str] = &["http"];

/// Harbor's `WebhookTargetObject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookTarget {
    /// The notify type: `http`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Where events are posted: an `http` or `https` URL.
    #[serde(default)]
    pub address: String,
    /// Sent as the `Authorization` header, when set.
    #[serde(default)]
    pub auth_header: String,
    /// Accept any TLS certificate from the receiver.
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// `Default` (Harbor's JSON) or `CloudEvents`.
    #[serde(default)]
    pub payload_format: String,
}

impl WebhookTarget {
    pub fn format(&self) -> PayloadFormat {
        PayloadFormat::parse(&self.payload_format).unwrap_or(PayloadFormat::Default)
    }
}

/// What a policy is made of, as the API accepts it.
#[derive(Debug, Clone, Default)]
pub struct PolicySpec {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<WebhookTarget>,
}

/// A stored policy, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicy {
    pub record: WebhookPolicyRecord,
    pub event_types: Vec<String>,
    pub targets: Vec<WebhookTarget>,
}

impl WebhookPolicy {
    fn read(record: WebhookPolicyRecord) -> WebhookPolicy {
        // Written by `Webhooks` only, so they read back; a row edited by hand that does
        // not reads as a policy that sends nothing.
        let event_types = serde_json::from_str(&record.event_types).unwrap_or_default();
        let targets = serde_json::from_str(&record.targets).unwrap_or_default();
        WebhookPolicy {
            record,
            event_types,
            targets,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("give the policy a name")]
    NoName,
    #[error("a policy name is at most 256 characters")]
    NameTooLong,
    #[error("give the policy at least one event type, from: {}", EVENT_TYPES.join(", "))]
    NoEventTypes,
    #[error("{given:?} is not an event type: use one of {}", EVENT_TYPES.join(", "), given = .0)]
    UnknownEventType(String),
    #[error("give the policy at least one target")]
    NoTargets,
    #[error("target type {0:?} is not supported: berth sends to http targets")]
    UnsupportedTarget(String),
    #[error("payload format {0:?} is not supported: use Default or CloudEvents")]
    UnsupportedFormat(String),
    #[error("target address {0:?} is not an http or https URL with a host")]
    BadAddress(String),
    #[error("the project has a webhook policy named {0:?} already")]
    NameTaken(String),
    #[error("there is no such project")]
    NoSuchProject,
    #[error("there is no webhook policy {0} in this project")]
    NoSuchPolicy(i64),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Checks a spec the way Harbor does, and puts it in its stored form: addresses reduced
/// to scheme, host and path (Harbor's guard against smuggled credentials and queries), an
/// empty payload format made `Default`, event types without repeats.
fn checked(mut spec: PolicySpec) -> Result<PolicySpec, PolicyError> {
    spec.name = spec.name.trim().to_string();
    if spec.name.is_empty() {
        return Err(PolicyError::NoName);
    }
    if spec.name.chars().count() > 256 {
        return Err(PolicyError::NameTooLong);
    }
    if spec.event_types.is_empty() {
        return Err(PolicyError::NoEventTypes);
    }
    let mut seen = HashSet::new();
    spec.event_types.retain(|t| seen.insert(t.clone()));
    if let Some(unknown) = spec
        .event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(PolicyError::UnknownEventType(unknown.clone()));
    }
    if spec.targets.is_empty() {
        return Err(PolicyError::NoTargets);
    }
    for target in &mut spec.targets {
        if target.kind != "http" {
            return Err(PolicyError::UnsupportedTarget(target.kind.clone()));
        }
        let format = PayloadFormat::parse(&target.payload_format)
            .ok_or_else(|| PolicyError::UnsupportedFormat(target.payload_format.clone()))?;
        target.payload_format = format.as_str().to_string();
        let url = reqwest::Url::parse(target.address.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| PolicyError::BadAddress(target.address.clone()))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        target.address = format!("{}://{host}{port}{}", url.scheme(), url.path());
    }
    Ok(spec)
}

fn record_of(spec: &PolicySpec, project_id: i64, creator: &str, now: i64) -> WebhookPolicyRecord {
    WebhookPolicyRecord {
        id: 0,
        project_id,
        name: spec.name.clone(),
        description: spec.description.clone(),
        enabled: spec.enabled,
        // Strings and plain structs: serialising cannot fail.
        event_types: serde_json::to_string(&spec.event_types).unwrap_or_default(),
        targets: serde_json::to_string(&spec.targets).unwrap_or_default(),
        creator: creator.to_string(),
        created_at_ms: now,
        updated_at_ms: now,
    }
}

/// An enabled policy as events are matched against it.
#[derive(Debug, Clone)]
pub(crate) struct ActiveRoute {
    pub policy_id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub project_public: bool,
    pub event_types: Vec<String>,
    pub targets: Vec<WebhookTarget>,
}

/// The enabled policies of every project, as last read.
pub(crate) struct PolicyBook {
    meta: Arc<dyn MetaStore>,
    routes: RwLock<Arc<Vec<ActiveRoute>>>,
    any: AtomicBool,
    /// Wakes the refresher after a change on this process.
    pub changed: Notify,
}

impl PolicyBook {
    pub fn new(meta: Arc<dyn MetaStore>) -> PolicyBook {
        PolicyBook {
            meta,
            routes: RwLock::new(Arc::new(Vec::new())),
            any: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    /// Whether any policy is enabled: when none is and no endpoint is configured, events
    /// are not even built.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    pub fn routes(&self) -> Arc<Vec<ActiveRoute>> {
        self.routes
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    pub async fn refresh(&self) -> Result<(), MetaError> {
        let active = self.meta.active_webhook_policies().await?;
        let routes: Vec<ActiveRoute> = active
            .into_iter()
            .map(|a| {
                let policy = WebhookPolicy::read(a.policy);
                ActiveRoute {
                    policy_id: policy.record.id,
                    project_id: policy.record.project_id,
                    project_name: a.project_name,
                    project_public: a.project_public,
                    event_types: policy.event_types,
                    targets: policy.targets,
                }
            })
            .collect();
        self.any.store(!routes.is_empty(), Ordering::Relaxed);
        let mut slot = self
            .routes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Arc::new(routes);
        Ok(())
    }

    /// Keeps the book current: after each local change, and every [`REFRESH`].
    pub async fn keep_current(self: Arc<Self>) {
        loop {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "cannot read the webhook policies; matching events against the last ones read");
            }
            let _ = tokio::time::timeout(REFRESH, self.changed.notified()).await;
        }
    }
}

/// The outbox endpoint name of a policy's target.
pub(crate) fn target_endpoint(policy_id: i64, index: usize) -> String {
    format!("policy:{policy_id}/{index}")
}

/// The policy and target index an outbox endpoint name stands for.
pub(crate) fn parse_target_endpoint(endpoint: &str) -> Option<(i64, usize)> {
    let (policy, index) = endpoint.strip_prefix("policy:")?.split_once('/')?;
    Some((policy.parse().ok()?, index.parse().ok()?))
}

/// Target `index` of a stored policy, if it still has one.
pub(crate) fn target_of(record: &WebhookPolicyRecord, index: usize) -> Option<WebhookTarget> {
    WebhookPolicy::read(record.clone())
        .targets
        .into_iter()
        .nth(index)
}

/// Webhook policies for the API: create, read, change, delete, and their deliveries.
pub struct Webhooks {
    meta: Arc<dyn MetaStore>,
    book: Arc<PolicyBook>,
}

impl Webhooks {
    pub(crate) fn new(meta: Arc<dyn MetaStore>, book: Arc<PolicyBook>) -> Webhooks {
        Webhooks { meta, book }
    }

    pub async fn create(
        &self,
        project_id: i64,
        creator: &str,
        spec: PolicySpec,
    ) -> Result<WebhookPolicy, PolicyError> {
        let spec = checked(spec)?;
        let mut record = record_of(&spec, project_id, creator, now_ms());
        match self.meta.create_webhook_policy(&record).await? {
            PolicyWrite::Done(id) => record.id = id,
            PolicyWrite::NameTaken => return Err(PolicyError::NameTaken(spec.name)),
            PolicyWrite::Missing => return Err(PolicyError::NoSuchProject),
        }
        self.book.changed.notify_one();
        Ok(WebhookPolicy {
            record,
            event_types: spec.event_types,
            targets: spec.targets,
        })
    }

    /// The policy `id` of project `project_id`.
    pub async fn get(&self, project_id: i64, id: i64) -> Result<WebhookPolicy, PolicyError> {
        self.meta
            .webhook_policy(id)
            .await?
            .filter(|p| p.project_id == project_id)
            .map(WebhookPolicy::read)
            .ok_or(PolicyError::NoSuchPolicy(id))
    }

    pub async fn list(
        &self,
        project_id: i64,
        name_contains: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<WebhookPolicy>, i64), PolicyError> {
        let (records, total) = self
            .meta
            .webhook_policies(project_id, name_contains, offset, limit)
            .await?;
        Ok((
            records.into_iter().map(WebhookPolicy::read).collect(),
            total,
        ))
    }

    /// Replaces what `existing` is made of; its id, project, creator and creation stay.
    pub async fn update(
        &self,
        existing: &WebhookPolicy,
        spec: PolicySpec,
    ) -> Result<(), PolicyError> {
        let spec = checked(spec)?;
        let old = &existing.record;
        let mut record = record_of(&spec, old.project_id, &old.creator, now_ms());
        record.id = old.id;
        record.created_at_ms = old.created_at_ms;
        match self.meta.update_webhook_policy(&record).await? {
            PolicyWrite::Done(_) => {}
            PolicyWrite::NameTaken => return Err(PolicyError::NameTaken(spec.name)),
            PolicyWrite::Missing => return Err(PolicyError::NoSuchPolicy(old.id)),
        }
        self.book.changed.notify_one();
        Ok(())
    }

    pub async fn delete(&self, policy: &WebhookPolicy) -> Result<(), PolicyError> {
        if !self.meta.delete_webhook_policy(policy.record.id).await? {
            return Err(PolicyError::NoSuchPolicy(policy.record.id));
        }
        self.book.changed.notify_one();
        Ok(())
    }

    /// One page, newest first, of what the policy sent or is sending.
    pub async fn deliveries(
        &self,
        policy: &WebhookPolicy,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OutboxEvent>, i64), PolicyError> {
        Ok(self
            .meta
            .policy_deliveries(policy.record.id, offset, limit)
            .await?)
    }

    /// Delivery `id` of the policy, if it has one of that id.
    pub async fn delivery(
        &self,
        policy: &WebhookPolicy,
        id: i64,
    ) -> Result<Option<OutboxEvent>, PolicyError> {
        Ok(self.meta.policy_delivery(policy.record.id, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PolicySpec {
        PolicySpec {
            name: " ci ".into(),
            description: String::new(),
            enabled: true,
            event_types: vec!["PUSH_ARTIFACT".into(), "PUSH_ARTIFACT".into()],
            targets: vec![WebhookTarget {
                kind: "http".into(),
                address: "https://user:pw@ci.example:8443/hook?x=1#f".into(),
                ..WebhookTarget::default()
            }],
        }
    }

    #[test]
    fn specs_are_checked_and_normalised_as_harbor_does() {
        let s = checked(spec()).unwrap();
        assert_eq!(s.name, "ci");
        assert_eq!(s.event_types, ["PUSH_ARTIFACT"]);
        assert_eq!(s.targets[0].address, "https://ci.example:8443/hook");
        assert_eq!(s.targets[0].payload_format, "Default");

        let mut bad = spec();
        bad.event_types = vec!["PUSH_IMAGE".into()];
        assert!(matches!(checked(bad), Err(PolicyError::UnknownEventType(t)) if t == "PUSH_IMAGE"));
        let mut bad = spec();
        bad.event_types.clear();
        assert!(matches!(checked(bad), Err(PolicyError::NoEventTypes)));
        let mut bad = spec();
        bad.targets.clear();
        assert!(matches!(checked(bad), Err(PolicyError::NoTargets)));
        let mut bad = spec();
        bad.targets[0].kind = "slack".into();
        assert!(matches!(
            checked(bad),
            Err(PolicyError::UnsupportedTarget(_))
        ));
        let mut bad = spec();
        bad.targets[0].payload_format = "XML".into();
        assert!(matches!(
            checked(bad),
            Err(PolicyError::UnsupportedFormat(_))
        ));
        for address in ["ftp://h/x", "not a url", "http://", "mailto:a@b"] {
            let mut bad = spec();
            bad.targets[0].address = address.into();
            assert!(
                matches!(checked(bad), Err(PolicyError::BadAddress(_))),
                "{address}"
            );
        }
        let mut bad = spec();
        bad.name = "  ".into();
        assert!(matches!(checked(bad), Err(PolicyError::NoName)));
    }

    #[test]
    fn target_endpoints_read_back() {
        assert_eq!(
            parse_target_endpoint(&target_endpoint(12, 3)),
            Some((12, 3))
        );
        assert_eq!(parse_target_endpoint("ci"), None);
        assert_eq!(parse_target_endpoint("policy:x/1"), None);
    }
}
