//! The registry core's domain events, sent on as Harbor webhook events.

use std::sync::Arc;

use berth_core::events::{DomainEvent, EventSink, QuotaNotice};
use berth_notify::{HarborEvent, Notifier, harbor::Resource};

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
    }
}

impl EventSink for WebhookSink {
    fn emit(&self, event: DomainEvent) {
        let event = match event {
            DomainEvent::QuotaExceeded(n) => quota_event("QUOTA_EXCEED", n),
            DomainEvent::QuotaWarning(n) => quota_event("QUOTA_WARNING", n),
        };
        self.0.publish_harbor(event);
    }
}
