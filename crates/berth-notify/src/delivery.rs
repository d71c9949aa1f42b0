//! From a published event to a webhook: the event is filtered per endpoint, written to the
//! outbox in the metadata database in small batches (off the request path), and each
//! endpoint's worker posts what is due, in order, retrying with backoff until the receiver
//! takes it — across restarts too, since the outbox is on disk.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use berth_jobs::Jobs;
use berth_meta::{MetaStore, OutboxEvent, now_ms};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Notify, mpsc};

use crate::event::Event;

const ENVELOPE_TYPE: &str = "application/vnd.docker.distribution.events.v2+json";
/// Events per delivery request.
const BATCH: u32 = 64;
/// Events written to the outbox per transaction.
const WRITE_BATCH: usize = 256;
/// Retries never wait longer than this.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

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
    tx: mpsc::UnboundedSender<Event>,
    include_references: bool,
}

impl Notifier {
    /// Starts the outbox writer and one delivery worker per endpoint, which runs on one
    /// process at a time of those sharing the metadata (a job lease per endpoint), so
    /// each event goes out once however many replicas queued events.
    /// `include_references`: `notifications.events.includereferences`.
    pub fn start(
        meta: Arc<dyn MetaStore>,
        jobs: &Arc<Jobs>,
        endpoints: Vec<EndpointSettings>,
        include_references: bool,
        metrics: NotifyMetrics,
    ) -> Arc<Notifier> {
        let (tx, rx) = mpsc::unbounded_channel();
        let endpoints: Arc<Vec<(EndpointSettings, Arc<Notify>)>> = Arc::new(
            endpoints
                .into_iter()
                .map(|e| (e, Arc::new(Notify::new())))
                .collect(),
        );
        tokio::spawn(write_outbox(meta.clone(), endpoints.clone(), rx));
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
        Arc::new(Notifier {
            tx,
            include_references,
        })
    }

    /// Hands an event over; never blocks the request that produced it.
    pub fn publish(&self, mut event: Event) {
        if !self.include_references {
            event.target.references.clear();
        }
        let _ = self.tx.send(event);
    }
}

async fn write_outbox(
    meta: Arc<dyn MetaStore>,
    endpoints: Arc<Vec<(EndpointSettings, Arc<Notify>)>>,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    while let Some(first) = rx.recv().await {
        let mut events = vec![first];
        while events.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(e) => events.push(e),
                Err(_) => break,
            }
        }
        let mut rows = Vec::new();
        for event in &events {
            let Ok(payload) = serde_json::to_string(event) else {
                continue;
            };
            for (endpoint, _) in endpoints.iter().filter(|(e, _)| e.wants(event)) {
                rows.push((endpoint.name.clone(), payload.clone()));
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
        let due = match meta.due_events(&endpoint.name, now_ms(), BATCH).await {
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
                attempts: 0,
            },
            OutboxEvent {
                id: 2,
                payload: "{\"b\":2}".into(),
                attempts: 1,
            },
        ];
        let v: serde_json::Value = serde_json::from_str(&envelope(&events)).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 2);
    }
}
