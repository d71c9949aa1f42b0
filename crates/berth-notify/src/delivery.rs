//! From a published event to a webhook: the event is filtered per configured endpoint and
//! matched against the projects' webhook policies, written to the outbox in the metadata
//! database in small batches (off the request path), and workers post what is due:
//! - each endpoint's in order, in Distribution's envelope, retrying with backoff until the
//!   receiver takes it — across restarts too, since the outbox is on disk;
//! - the policies' one event per request in Harbor's payload, retrying a few times and
//!   then recording the failure, as Harbor's webhook jobs do.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use berth_jobs::Jobs;
use berth_meta::{MetaStore, NewOutboxEvent, OutboxEvent, OutboxFeed, now_ms};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Notify, mpsc};

use crate::event::Event;
use crate::harbor::{self, HarborEvent, PolicyOrigin};
use crate::policies::{self, ActiveRoute, PolicyBook, Webhooks};

const ENVELOPE_TYPE: &str = "application/vnd.docker.distribution.events.v2+json";
/// Events per delivery request.
const BATCH: u32 = 64;
/// Events written to the outbox per transaction.
const WRITE_BATCH: usize = 256;
/// Retries never wait longer than this.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Deliveries a policy's event gets before it is recorded as failed.
const POLICY_ATTEMPTS: u32 = 6;
/// The first wait after a policy delivery fails; it doubles with each failure.
const POLICY_BACKOFF: Duration = Duration::from_secs(2);
/// How long the policies' finished deliveries are kept as their history.
const POLICY_HISTORY: Duration = Duration::from_secs(14 * 24 * 3600);
/// How long a policy target may take to answer.
const POLICY_TIMEOUT: Duration = Duration::from_secs(10);

/// One `notifications.endpoints[]` entry, defaults resolved.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    pub name: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// Failures in a row after which waits grow from `backoff`.
    pub threshold: u32,
    pub backoff: Duration,
    pub ignore_media_types: Vec<String>,
    pub ignore_actions: Vec<String>,
    /// Signs each body: `X-Berth-Signature: sha256=<hex HMAC-SHA256>`.
    pub secret: Option<String>,
}

impl EndpointSettings {
    fn wants(&self, event: &Event) -> bool {
        !self
            .ignore_actions
            .iter()
            .any(|a| a == event.action.as_str())
            && !self.ignore_media_types.contains(&event.target.media_type)
    }

    /// How long to wait after `failures` failed deliveries in a row.
    fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(self.threshold).min(16);
        self.backoff
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

/// Delivery counters, registered by whoever serves the metrics.
#[derive(Clone, Default)]
pub struct NotifyMetrics {
    pub delivered: Family<EndpointLabel, Counter>,
    pub failed: Family<EndpointLabel, Counter>,
    /// Events in the outbox, refreshed by the workers.
    pub queued: Gauge,
}

impl NotifyMetrics {
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "berth_notifications_delivered",
            "Events delivered to webhook endpoints",
            self.delivered.clone(),
        );
        registry.register(
            "berth_notifications_failed",
            "Failed webhook deliveries (each retried later)",
            self.failed.clone(),
        );
        registry.register(
            "berth_notifications_queued",
            "Events waiting in the outbox",
            self.queued.clone(),
        );
    }
}

pub struct Notifier {
    tx: mpsc::UnboundedSender<Published>,
    include_references: bool,
    has_endpoints: bool,
    book: Arc<PolicyBook>,
    meta: Arc<dyn MetaStore>,
}

/// What reaches the outbox writer.
enum Published {
    Registry(Box<Event>),
    Harbor(Box<HarborEvent>),
}

impl Notifier {
    /// Starts the outbox writer, one delivery worker per configured endpoint and one for
    /// the webhook policies; each worker runs on one process at a time of those sharing
    /// the metadata (a job lease), so each event goes out once however many replicas
    /// queued events. `include_references`: `notifications.events.includereferences`.
    pub fn start(
        meta: Arc<dyn MetaStore>,
        jobs: &Arc<Jobs>,
        endpoints: Vec<EndpointSettings>,
        include_references: bool,
        metrics: NotifyMetrics,
    ) -> Arc<Notifier> {
        let (tx, rx) = mpsc::unbounded_channel();
        let has_endpoints = !endpoints.is_empty();
        let endpoints: Arc<Vec<(EndpointSettings, Arc<Notify>)>> = Arc::new(
            endpoints
                .into_iter()
                .map(|e| (e, Arc::new(Notify::new())))
                .collect(),
        );
        let book = Arc::new(PolicyBook::new(meta.clone()));
        tokio::spawn(book.clone().keep_current());
        let policy_wake = Arc::new(Notify::new());
        tokio::spawn(write_outbox(
            meta.clone(),
            endpoints.clone(),
            book.clone(),
            policy_wake.clone(),
            rx,
        ));
        for (endpoint, wake) in endpoints.iter() {
            let client = reqwest::Client::builder()
                .timeout(endpoint.timeout)
                .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
                .build();
            match client {
                Ok(client) => {
                    let (meta, endpoint, wake, metrics) = (
                        meta.clone(),
                        endpoint.clone(),
                        wake.clone(),
                        metrics.clone(),
                    );
                    jobs.singleton(&format!("deliver:{}", endpoint.name), move || {
                        deliver(
                            meta.clone(),
                            endpoint.clone(),
                            wake.clone(),
                            client.clone(),
                            metrics.clone(),
                        )
                    });
                }
                Err(e) => {
                    tracing::error!(endpoint = endpoint.name, error = %e, "cannot build the webhook client; this endpoint gets nothing")
                }
            }
        }
        match PolicyClients::new() {
            Ok(clients) => {
                let meta = meta.clone();
                jobs.singleton("deliver:policies", move || {
                    deliver_policies(
                        meta.clone(),
                        policy_wake.clone(),
                        clients.clone(),
                        metrics.clone(),
                    )
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook client; webhook policies send nothing")
            }
        }
        Arc::new(Notifier {
            tx,
            include_references,
            has_endpoints,
            book,
            meta,
        })
    }

    /// Whether anyone takes events: a configured endpoint or an enabled policy. When
    /// nobody does, the request path need not build them.
    pub fn listening(&self) -> bool {
        self.has_endpoints || self.book.any()
    }

    /// Hands an event over; never blocks the request that produced it.
    pub fn publish(&self, mut event: Event) {
        if !self.include_references {
            event.target.references.clear();
        }
        let _ = self.tx.send(Published::Registry(Box::new(event)));
    }

    /// Hands over an event that only webhook policies take (a quota refusal, say).
    pub fn publish_harbor(&self, event: HarborEvent) {
        if self.book.any() {
            let _ = self.tx.send(Published::Harbor(Box::new(event)));
        }
    }

    /// The projects' webhook policies, for the management API.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks::new(self.meta.clone(), self.book.clone())
    }
}

/// The outbox rows for `event`'s Harbor form: one per target of each enabled policy of
/// its project that takes its type.
fn policy_rows(routes: &[ActiveRoute], event: &HarborEvent, rows: &mut Vec<NewOutboxEvent>) {
    let project = event.project();
    for route in routes.iter().filter(|r| {
        r.project_name == project && r.event_types.iter().any(|t| t == event.event_type)
    }) {
        let origin = PolicyOrigin {
            project_id: route.project_id,
            policy_id: route.policy_id,
            project_public: route.project_public,
        };
        for (index, target) in route.targets.iter().enumerate() {
            rows.push(NewOutboxEvent {
                endpoint: policies::target_endpoint(route.policy_id, index),
                payload: harbor::payload(event, origin, target.format()),
                policy_id: Some(route.policy_id),
                event_type: Some(event.event_type.to_string()),
            });
        }
    }
}

async fn write_outbox(
    meta: Arc<dyn MetaStore>,
    endpoints: Arc<Vec<(EndpointSettings, Arc<Notify>)>>,
    book: Arc<PolicyBook>,
    policy_wake: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<Published>,
) {
    while let Some(first) = rx.recv().await {
        let mut events = vec![first];
        while events.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(e) => events.push(e),
                Err(_) => break,
            }
        }
        let routes = book.routes();
        let mut rows = Vec::new();
        for published in &events {
            let harbor_event = match published {
                Published::Registry(event) => {
                    let wanted: Vec<&EndpointSettings> = endpoints
                        .iter()
                        .map(|(e, _)| e)
                        .filter(|e| e.wants(event))
                        .collect();
                    if !wanted.is_empty()
                        && let Ok(payload) = serde_json::to_string(event)
                    {
                        rows.extend(wanted.into_iter().map(|endpoint| NewOutboxEvent {
                            endpoint: endpoint.name.clone(),
                            payload: payload.clone(),
                            policy_id: None,
                            event_type: None,
                        }));
                    }
                    HarborEvent::from_registry(event)
                }
                Published::Harbor(event) => Some((**event).clone()),
            };
            if let Some(event) = harbor_event {
                policy_rows(&routes, &event, &mut rows);
            }
        }
        if rows.is_empty() {
            continue;
        }
        // The database may be briefly unavailable: keep the batch until it is written.
        let mut wait = Duration::from_millis(100);
        while let Err(e) = meta.enqueue_events(&rows).await {
            tracing::error!(error = %e, events = rows.len(), "cannot queue notifications; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
        for (_, wake) in endpoints.iter() {
            wake.notify_one();
        }
        policy_wake.notify_one();
    }
}

fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn envelope(events: &[OutboxEvent]) -> String {
    let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
    format!("{{\"events\":[{}]}}", payloads.join(","))
}

async fn post(
    client: &reqwest::Client,
    endpoint: &EndpointSettings,
    body: String,
) -> Result<(), String> {
    let mut request = client
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, ENVELOPE_TYPE);
    for (name, value) in &endpoint.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(secret) = &endpoint.secret {
        request = request.header("X-Berth-Signature", signature(secret, body.as_bytes()));
    }
    let response = request.body(body).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {status}"))
    }
}

/// One endpoint's worker: oldest first, so receivers see events in order.
async fn deliver(
    meta: Arc<dyn MetaStore>,
    endpoint: EndpointSettings,
    wake: Arc<Notify>,
    client: reqwest::Client,
    metrics: NotifyMetrics,
) {
    let label = EndpointLabel {
        endpoint: endpoint.name.clone(),
    };
    let mut failures = 0u32;
    loop {
        if let Ok(depth) = meta.outbox_depth().await {
            metrics.queued.set(depth as i64);
        }
        let due = match meta
            .due_events(OutboxFeed::Endpoint(&endpoint.name), now_ms(), BATCH)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(endpoint = endpoint.name, error = %e, "cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            // New events wake us; postponed ones come due on their own.
            let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
            continue;
        }
        let ids: Vec<i64> = due.iter().map(|e| e.id).collect();
        match post(&client, &endpoint, envelope(&due)).await {
            Ok(()) => {
                failures = 0;
                metrics
                    .delivered
                    .get_or_create(&label)
                    .inc_by(ids.len() as u64);
                if let Err(e) = meta.delivered_events(&ids).await {
                    // They will be sent again: receivers see at-least-once delivery.
                    tracing::error!(endpoint = endpoint.name, error = %e, "cannot mark notifications delivered");
                }
            }
            Err(reason) => {
                failures = failures.saturating_add(1);
                metrics.failed.get_or_create(&label).inc();
                let delay = endpoint.delay(failures);
                tracing::warn!(
                    endpoint = endpoint.name,
                    events = ids.len(),
                    retry_in_ms = delay.as_millis() as u64,
                    error = reason,
                    "webhook delivery failed"
                );
                let next = now_ms() + delay.as_millis() as i64;
                if let Err(e) = meta.postpone_events(&ids, next, &reason).await {
                    tracing::error!(endpoint = endpoint.name, error = %e, "cannot postpone notifications");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// The two clients policy targets are posted with: one checking certificates, one for
/// targets with `skip_cert_verify`.
#[derive(Clone)]
struct PolicyClients {
    verifying: reqwest::Client,
    trusting: reqwest::Client,
}

impl PolicyClients {
    fn new() -> reqwest::Result<PolicyClients> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(POLICY_TIMEOUT)
                .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        };
        Ok(PolicyClients {
            verifying: builder().build()?,
            trusting: builder().tls_danger_accept_invalid_certs(true).build()?,
        })
    }
}

/// Posts one policy event to its target.
async fn post_to_target(
    clients: &PolicyClients,
    target: &policies::WebhookTarget,
    body: String,
) -> Result<(), String> {
    let client = if target.skip_cert_verify {
        &clients.trusting
    } else {
        &clients.verifying
    };
    let mut request = client.post(&target.address).header(
        reqwest::header::CONTENT_TYPE,
        target.format().content_type(),
    );
    if !target.auth_header.is_empty() {
        request = request.header(reqwest::header::AUTHORIZATION, &target.auth_header);
    }
    let response = request.body(body).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the target answered {status}"))
    }
}

/// One target's due events, oldest first: delivered, postponed, or given up on.
async fn deliver_to_target(
    meta: &dyn MetaStore,
    clients: &PolicyClients,
    metrics: &NotifyMetrics,
    endpoint: &str,
    events: Vec<OutboxEvent>,
) {
    let label = EndpointLabel {
        endpoint: endpoint.to_string(),
    };
    let target = match policies::parse_target_endpoint(endpoint) {
        Some((policy_id, index)) => meta
            .webhook_policy(policy_id)
            .await
            .map(|p| p.and_then(|p| policies::target_of(&p, index))),
        None => Ok(None),
    };
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let target = match target {
        Ok(Some(target)) => target,
        Ok(None) => {
            let _ = meta
                .abandon_events(&ids, "the policy no longer has this target")
                .await;
            return;
        }
        Err(e) => {
            tracing::error!(endpoint, error = %e, "cannot read a webhook policy");
            return;
        }
    };
    for event in events {
        let outcome = match post_to_target(clients, &target, event.payload).await {
            Ok(()) => {
                metrics.delivered.get_or_create(&label).inc();
                meta.delivered_events(&[event.id]).await
            }
            Err(reason) => {
                metrics.failed.get_or_create(&label).inc();
                let failures = event.attempts + 1;
                tracing::warn!(
                    endpoint,
                    attempt = failures,
                    error = reason,
                    "webhook policy delivery failed"
                );
                if failures >= POLICY_ATTEMPTS {
                    meta.abandon_events(&[event.id], &reason).await
                } else {
                    let delay = POLICY_BACKOFF.saturating_mul(1 << (failures - 1));
                    let next = now_ms() + delay.as_millis() as i64;
                    meta.postpone_events(&[event.id], next, &reason).await
                }
            }
        };
        if let Err(e) = outcome {
            // Sent again later: receivers see at-least-once delivery.
            tracing::error!(endpoint, error = %e, "cannot record a webhook policy delivery");
        }
    }
}

/// The webhook policies' worker: every target's due events, targets side by side so
/// that one slow receiver does not hold up the rest.
async fn deliver_policies(
    meta: Arc<dyn MetaStore>,
    wake: Arc<Notify>,
    clients: PolicyClients,
    metrics: NotifyMetrics,
) {
    let mut last_purge = 0i64;
    loop {
        let now = now_ms();
        if now - last_purge > 3_600_000 {
            last_purge = now;
            let before = now - POLICY_HISTORY.as_millis() as i64;
            if let Err(e) = meta.forget_deliveries(before).await {
                tracing::warn!(error = %e, "cannot purge old webhook policy deliveries");
            }
        }
        let due = match meta.due_events(OutboxFeed::Policies, now, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
            continue;
        }
        let mut by_target: std::collections::BTreeMap<String, Vec<OutboxEvent>> =
            std::collections::BTreeMap::new();
        for event in due {
            by_target
                .entry(event.endpoint.clone())
                .or_default()
                .push(event);
        }
        let meta = &*meta;
        futures_util::future::join_all(by_target.into_iter().map(|(endpoint, events)| {
            let (clients, metrics) = (&clients, &metrics);
            async move { deliver_to_target(meta, clients, metrics, &endpoint, events).await }
        }))
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Action, Actor, RequestInfo, Source, Target};

    fn endpoint() -> EndpointSettings {
        EndpointSettings {
            name: "e".into(),
            url: "http://127.0.0.1:1/".into(),
            headers: vec![],
            timeout: Duration::from_secs(1),
            threshold: 3,
            backoff: Duration::from_secs(1),
            ignore_media_types: vec!["application/octet-stream".into()],
            ignore_actions: vec!["pull".into()],
            secret: None,
        }
    }

    fn event(action: Action, media_type: &str) -> Event {
        Event::new(
            action,
            Target {
                media_type: media_type.into(),
                repository: "r".into(),
                ..Target::default()
            },
            RequestInfo::default(),
            Actor::default(),
            Source::default(),
        )
    }

    #[test]
    fn filters_and_backs_off() {
        let e = endpoint();
        assert!(e.wants(&event(
            Action::Push,
            "application/vnd.oci.image.manifest.v1+json"
        )));
        assert!(!e.wants(&event(
            Action::Pull,
            "application/vnd.oci.image.manifest.v1+json"
        )));
        assert!(!e.wants(&event(Action::Push, "application/octet-stream")));
        assert_eq!(e.delay(1), Duration::from_secs(1));
        assert_eq!(e.delay(3), Duration::from_secs(1));
        assert_eq!(e.delay(5), Duration::from_secs(4));
        assert_eq!(e.delay(100), MAX_BACKOFF);
    }

    #[test]
    fn signs_bodies_with_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn envelopes_join_stored_events() {
        let events = vec![
            OutboxEvent {
                id: 1,
                payload: "{\"a\":1}".into(),
                ..OutboxEvent::default()
            },
            OutboxEvent {
                id: 2,
                payload: "{\"b\":2}".into(),
                attempts: 1,
                ..OutboxEvent::default()
            },
        ];
        let v: serde_json::Value = serde_json::from_str(&envelope(&events)).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 2);
    }
}
