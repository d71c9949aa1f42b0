//! Events as Harbor's webhook policies send them: its own JSON payload (`Default`) or a
//! CloudEvents 1.0 envelope around the same data (`CloudEvents`).

use serde::Serialize;

use crate::event::{Action, Event};

/// Harbor's event types a policy may name. berth sends the artifact events, the quota
/// events and `TAG_RETENTION`; the scanning and replication types are accepted and fire
/// once those features send them.
pub const EVENT_TYPES: &[&str] = &[
    "PUSH_ARTIFACT",
    "PULL_ARTIFACT",
    "DELETE_ARTIFACT",
    "QUOTA_EXCEED",
    "QUOTA_WARNING",
    "SCANNING_FAILED",
    "SCANNING_STOPPED",
    "SCANNING_COMPLETED",
    "REPLICATION",
    "TAG_RETENTION",
];

/// One event in Harbor's terms, whatever produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarborEvent {
    /// One of [`EVENT_TYPES`].
    pub event_type: &'static str,
    /// Unix seconds.
    pub occur_at: u64,
    pub operator: String,
    /// The repository's full name, project first.
    pub repository: String,
    pub resources: Vec<Resource>,
    /// Harbor's `custom_attributes` (quota details, for one).
    pub custom: Vec<(String, String)>,
    /// Ties the CloudEvents form to the request that caused it.
    pub request_id: String,
    /// A `TAG_RETENTION` event's run (then `repository` is the project's name).
    pub retention: Option<RetentionData>,
}

/// What a retention run did, as Harbor's `TAG_RETENTION` event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionData {
    /// Artifacts looked at, and left in place.
    pub total: u64,
    pub retained: u64,
    pub project_name: String,
    pub retention_policy_id: i64,
    /// `SUCCESS` (runs that fail announce nothing, as in Harbor).
    #[serde(rename = "result")]
    pub status: String,
    pub deleted_artifact: Vec<DeletedArtifact>,
}

/// One artifact a retention run deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedArtifact {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    /// `repository:tag` (its first tag), or `repository@digest` when untagged; the
    /// repository below the project.
    pub name_tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_url: String,
}

impl HarborEvent {
    /// The Harbor form of a registry event; `None` for blob traffic and mounts, which
    /// Harbor does not report.
    pub fn from_registry(event: &Event) -> Option<HarborEvent> {
        let event_type = event.harbor_type()?;
        let target = &event.target;
        let host = &event.request.host;
        let (tag, resource_url) = match &target.tag {
            Some(tag) => (tag.clone(), format!("{host}/{}:{tag}", target.repository)),
            None => (
                // As Harbor does: a pull by digest names the digest as its tag.
                if event.action == Action::Delete {
                    String::new()
                } else {
                    target.digest.clone()
                },
                format!("{host}/{}@{}", target.repository, target.digest),
            ),
        };
        Some(HarborEvent {
            event_type,
            occur_at: unix_seconds(&event.timestamp),
            operator: event.actor.name.clone(),
            repository: target.repository.clone(),
            resources: vec![Resource {
                digest: target.digest.clone(),
                tag,
                resource_url,
            }],
            custom: vec![],
            request_id: event.request.id.clone(),
            retention: None,
        })
    }

    /// The project the event belongs to: its repository's first component.
    pub fn project(&self) -> &str {
        self.repository
            .split_once('/')
            .map_or(self.repository.as_str(), |(project, _)| project)
    }
}

/// Which form a policy target takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    Default,
    CloudEvents,
}

impl PayloadFormat {
    pub const NAMES: &[&str] = &["Default", "CloudEvents"];

    /// Harbor's name; empty means `Default`.
    pub fn parse(name: &str) -> Option<PayloadFormat> {
        match name {
            "" | "Default" => Some(PayloadFormat::Default),
            "CloudEvents" => Some(PayloadFormat::CloudEvents),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Default => "Default",
            PayloadFormat::CloudEvents => "CloudEvents",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PayloadFormat::Default => "application/json",
            PayloadFormat::CloudEvents => "application/cloudevents+json",
        }
    }
}

#[derive(Serialize)]
struct Repository<'a> {
    name: &'a str,
    namespace: &'a str,
    repo_full_name: &'a str,
    repo_type: &'static str,
}

#[derive(Serialize)]
struct EventData<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    resources: &'a [Resource],
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<Repository<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<&'a RetentionData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize)]
struct DefaultPayload<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    occur_at: u64,
    operator: &'a str,
    event_data: EventData<'a>,
}

#[derive(Serialize)]
struct CloudEvent<'a> {
    specversion: &'static str,
    id: String,
    requestid: &'a str,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    datacontenttype: &'static str,
    time: String,
    data: EventData<'a>,
    operator: &'a str,
}

/// The CloudEvents type Harbor gives each event type.
fn cloudevents_type(event_type: &str) -> String {
    let suffix = match event_type {
        "PUSH_ARTIFACT" => "artifact.pushed",
        "PULL_ARTIFACT" => "artifact.pulled",
        "DELETE_ARTIFACT" => "artifact.deleted",
        "QUOTA_EXCEED" => "quota.exceeded",
        "QUOTA_WARNING" => "quota.warned",
        "REPLICATION" => "replication.status.changed",
        "SCANNING_FAILED" => "scan.failed",
        "SCANNING_COMPLETED" => "scan.completed",
        "SCANNING_STOPPED" => "scan.stopped",
        "TAG_RETENTION" => "tag_retention.finished",
        other => other,
    };
    format!("harbor.{suffix}")
}

/// Where a policy's event is addressed from.
#[derive(Debug, Clone, Copy)]
pub struct PolicyOrigin {
    pub project_id: i64,
    pub policy_id: i64,
    pub project_public: bool,
}

/// The body a target of `origin` is sent for `event`.
pub fn payload(event: &HarborEvent, origin: PolicyOrigin, format: PayloadFormat) -> String {
    let project = event.project();
    let name = event
        .repository
        .strip_prefix(project)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(&event.repository);
    let data = EventData {
        resources: &event.resources,
        // A retention event is about a project, not one repository.
        repository: event.retention.is_none().then_some(Repository {
            name,
            namespace: project,
            repo_full_name: &event.repository,
            repo_type: if origin.project_public {
                "public"
            } else {
                "private"
            },
        }),
        retention: event.retention.as_ref(),
        custom_attributes: (!event.custom.is_empty()).then(|| {
            event
                .custom
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect()
        }),
    };
    let body = match format {
        PayloadFormat::Default => serde_json::to_string(&DefaultPayload {
            event_type: event.event_type,
            occur_at: event.occur_at,
            operator: &event.operator,
            event_data: data,
        }),
        PayloadFormat::CloudEvents => serde_json::to_string(&CloudEvent {
            specversion: "1.0",
            id: uuid::Uuid::new_v4().to_string(),
            requestid: &event.request_id,
            source: format!(
                "/projects/{}/webhook/policies/{}",
                origin.project_id, origin.policy_id
            ),
            event_type: cloudevents_type(event.event_type),
            datacontenttype: "application/json",
            time: crate::time::rfc3339(event.occur_at),
            data,
            operator: &event.operator,
        }),
    };
    // Plain strings and numbers: serialising cannot fail.
    body.unwrap_or_default()
}

/// Unix seconds of an RFC 3339 UTC timestamp as events carry them (`…Z`); now if it does
/// not read as one.
fn unix_seconds(timestamp: &str) -> u64 {
    crate::time::parse_rfc3339(timestamp).unwrap_or_else(crate::time::now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, RequestInfo, Source, Target};

    fn push(tag: Option<&str>) -> Event {
        let mut e = Event::new(
            Action::Push,
            Target {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: "sha256:ab".into(),
                repository: "team/app/api".into(),
                tag: tag.map(String::from),
                ..Target::default()
            },
            RequestInfo {
                id: "req-1".into(),
                host: "registry.example:5000".into(),
                ..RequestInfo::default()
            },
            Actor {
                name: "alice".into(),
            },
            Source::default(),
        );
        e.timestamp = "2026-11-23T11:44:05.123456789Z".into();
        e
    }

    const ORIGIN: PolicyOrigin = PolicyOrigin {
        project_id: 3,
        policy_id: 9,
        project_public: false,
    };

    #[test]
    fn the_default_payload_is_harbors() {
        let event = HarborEvent::from_registry(&push(Some("v1"))).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&payload(&event, ORIGIN, PayloadFormat::Default)).unwrap();
        assert_eq!(v["type"], "PUSH_ARTIFACT");
        assert_eq!(v["occur_at"], 1_795_434_245);
        assert_eq!(v["operator"], "alice");
        let data = &v["event_data"];
        assert_eq!(data["resources"][0]["tag"], "v1");
        assert_eq!(
            data["resources"][0]["resource_url"],
            "registry.example:5000/team/app/api:v1"
        );
        assert_eq!(data["repository"]["name"], "app/api");
        assert_eq!(data["repository"]["namespace"], "team");
        assert_eq!(data["repository"]["repo_full_name"], "team/app/api");
        assert_eq!(data["repository"]["repo_type"], "private");
        assert!(data.get("custom_attributes").is_none());
    }

    #[test]
    fn cloudevents_wrap_the_same_data() {
        let event = HarborEvent::from_registry(&push(None)).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&payload(&event, ORIGIN, PayloadFormat::CloudEvents)).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "harbor.artifact.pushed");
        assert_eq!(v["source"], "/projects/3/webhook/policies/9");
        assert_eq!(v["requestid"], "req-1");
        assert_eq!(v["time"], "2026-11-23T11:44:05Z");
        assert_eq!(v["data"]["resources"][0]["tag"], "sha256:ab");
        assert_eq!(
            v["data"]["resources"][0]["resource_url"],
            "registry.example:5000/team/app/api@sha256:ab"
        );
        assert!(uuid::Uuid::parse_str(v["id"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn blobs_have_no_harbor_event() {
        let mut e = push(None);
        e.target.media_type = "application/octet-stream".into();
        assert_eq!(HarborEvent::from_registry(&e), None);
    }
}
