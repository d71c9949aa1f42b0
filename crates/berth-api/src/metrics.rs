//! Prometheus metrics of the HTTP layer, with Distribution's names where it has them.
//! Labels are bounded: the method, a route *kind* (never a repository, tag or digest),
//! the status code.

use std::time::Duration;

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    handler: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabels {
    method: &'static str,
    handler: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InFlightLabels {
    handler: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    driver: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms .. ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<HandlerLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<InFlightLabels, Gauge>,
    auth_failures: Family<AuthLabels, Counter>,
    blob_bytes: Family<DirectionLabels, Counter>,
    storage_actions: Family<StorageLabels, Histogram, fn() -> Histogram>,
    repositories: Gauge,
    manifests: Gauge,
    stored_blobs: Gauge,
    stored_bytes: Gauge,
    uploads: Gauge,
}

/// Decrements the in-flight gauge when the request is done, however it ends.
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<HandlerLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let in_flight = Family::<InFlightLabels, Gauge>::default();
        let auth_failures = Family::<AuthLabels, Counter>::default();
        let blob_bytes = Family::<DirectionLabels, Counter>::default();
        let storage_actions: Family<StorageLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let repositories = gauge(&mut registry, "berth_repositories", "Repositories");
        let manifests = gauge(
            &mut registry,
            "berth_manifests",
            "Manifests over all repositories",
        );
        let stored_blobs = gauge(
            &mut registry,
            "berth_storage_blobs",
            "Distinct blobs stored (each once, however many repositories link it)",
        );
        let stored_bytes = gauge(
            &mut registry,
            "berth_storage_bytes",
            "Bytes of distinct blobs stored (deduplicated)",
        );
        let uploads = gauge(
            &mut registry,
            "berth_uploads_in_progress",
            "Open upload sessions",
        );
        registry.register_with_unit(
            "registry_storage_action",
            "Storage driver calls by driver and action",
            Unit::Seconds,
            storage_actions.clone(),
        );
        registry.register(
            "registry_http_requests",
            "HTTP requests by method, handler and status code",
            requests.clone(),
        );
        registry.register_with_unit(
            "registry_http_request_duration",
            "Time to the response headers, by method and handler",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "registry_http_in_flight_requests",
            "Requests being served, by handler",
            in_flight.clone(),
        );
        registry.register(
            "berth_auth_failures",
            "Refused authentication attempts, by reason",
            auth_failures.clone(),
        );
        registry.register_with_unit(
            "berth_blob",
            "Blob bytes served (pulled) and received in finished uploads (pushed)",
            Unit::Bytes,
            blob_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            in_flight,
            auth_failures,
            blob_bytes,
            storage_actions,
            repositories,
            manifests,
            stored_blobs,
            stored_bytes,
            uploads,
        }
    }

    pub fn storage_action(&self, driver: &'static str, action: &'static str, took: Duration) {
        self.storage_actions
            .get_or_create(&StorageLabels { driver, action })
            .observe(took.as_secs_f64());
    }

    /// Refreshes the content gauges (called when metrics are scraped).
    pub fn set_storage_stats(&self, s: &berth_meta::StorageStats) {
        let set = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.repositories, s.repositories);
        set(&self.manifests, s.manifests);
        set(&self.stored_blobs, s.blobs);
        set(&self.stored_bytes, s.blob_bytes);
        set(&self.uploads, s.uploads);
    }

    /// Adds the webhook delivery counters (before the metrics are shared).
    pub fn register_notifications(&mut self, notify: &berth_notify::NotifyMetrics) {
        notify.register(&mut self.registry);
    }

    pub fn register_lifecycle(&mut self, lifecycle: &berth_core::lifecycle::LifecycleMetrics) {
        lifecycle.register(&mut self.registry);
    }

    pub fn in_flight(&self, handler: &'static str) -> InFlight {
        let gauge = self
            .in_flight
            .get_or_create(&InFlightLabels { handler })
            .clone();
        gauge.inc();
        InFlight { gauge }
    }

    pub fn observe(&self, method: &Method, handler: &'static str, code: u16, took: Duration) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                handler,
                code,
            })
            .inc();
        self.durations
            .get_or_create(&HandlerLabels { method, handler })
            .observe(took.as_secs_f64());
    }

    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&AuthLabels { reason })
            .inc();
    }

    pub fn blob_bytes(&self, direction: &'static str, bytes: u64) {
        self.blob_bytes
            .get_or_create(&DirectionLabels { direction })
            .inc_by(bytes);
    }

    /// The OpenMetrics text exposition (Prometheus reads it).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_renders_openmetrics() {
        let m = Metrics::new();
        {
            let _guard = m.in_flight("manifest");
            m.observe(&Method::GET, "manifest", 200, Duration::from_millis(3));
        }
        m.observe(&Method::GET, "manifest", 200, Duration::from_millis(1));
        m.auth_failure("bad_password");
        m.blob_bytes("pulled", 1234);
        let text = m.render();
        assert!(
            text.contains(
                r#"registry_http_requests_total{method="GET",handler="manifest",code="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"registry_http_in_flight_requests{handler="manifest"} 0"#));
        assert!(text.contains("registry_http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"berth_auth_failures_total{reason="bad_password"} 1"#));
        assert!(text.contains(r#"berth_blob_bytes_total{direction="pulled"} 1234"#));
        assert!(text.ends_with("# EOF\n"));
    }
}
