//! The registry core's domain events, sent on as Harbor webhook events.

use std::sync::Arc;

use berth_core::events::{DomainEvent, EventSink, QuotaNotice, RetentionNotice};
use berth_notify::harbor::{DeletedArtifact, Resource, RetentionData};
use berth_notify::{HarborEvent, Notifier};

/// Hands the core's events to the projects' webhook policies.
pub struct WebhookSink(pub Arc<Notifier>);

fn quota_event(event_type: &'static str, notice: QuotaNotice) -> HarborEvent {
    HarborEvent {
        event_type,
        occur_at: berth_notify::time::now_secs(),
        operator: String::new(),
        repository: notice.repository,
        resources: vec![Resource {
            digest: notice.digest,
            tag: String::new(),
            resource_url: String::new(),
        }],
        // Harbor's key for what happened.
        custom: vec![("Details".into(), notice.details)],
        request_id: String::new(),
        retention: None,
    }
}

/// Harbor's form: only real runs that deleted something are announced.
fn retention_event(notice: RetentionNotice) -> Option<HarborEvent> {
    if notice.dry_run || notice.deleted.is_empty() {
        return None;
    }
    let deleted_artifact = notice
        .deleted
        .iter()
        .map(|(repository, digest, tags)| {
            let name = repository
                .strip_prefix(&notice.project)
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(repository);
            DeletedArtifact {
                kind: "image".into(),
                status: "SUCCESS".into(),
                name_tag: match tags.first() {
                    Some(tag) => format!("{name}:{tag}"),
                    None => format!("{name}@{digest}"),
                },
            }
        })
        .collect();
    Some(HarborEvent {
        event_type: "TAG_RETENTION",
        occur_at: berth_notify::time::now_secs(),
        operator: notice.trigger.into(),
        repository: notice.project.clone(),
        resources: Vec::new(),
        custom: Vec::new(),
        request_id: String::new(),
        retention: Some(RetentionData {
            total: notice.total,
            retained: notice.retained,
            project_name: notice.project.clone(),
            retention_policy_id: notice.policy_id,
            status: "SUCCESS".into(),
            deleted_artifact,
        }),
    })
}

impl EventSink for WebhookSink {
    fn emit(&self, event: DomainEvent) {
        let event = match event {
            DomainEvent::QuotaExceeded(n) => Some(quota_event("QUOTA_EXCEED", n)),
            DomainEvent::QuotaWarning(n) => Some(quota_event("QUOTA_WARNING", n)),
            DomainEvent::RetentionFinished(n) => retention_event(n),
        };
        if let Some(event) = event {
            self.0.publish_harbor(event);
        }
    }
}
