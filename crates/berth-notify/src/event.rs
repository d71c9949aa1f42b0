//! One registry event, shaped exactly like Distribution's
//! (`application/vnd.docker.distribution.events.v2+json`), plus the Harbor-style type it
//! maps to, for project webhook policies to come.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Push,
    Pull,
    Delete,
    Mount,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Delete => "delete",
            Action::Mount => "mount",
        }
    }
}

/// What the event is about: a manifest or a blob in a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Target {
    #[serde(rename = "mediaType", skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Distribution's older name for `size`, still read by receivers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    pub repository: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// For mounts: where the blob came from.
    #[serde(rename = "fromRepository", skip_serializing_if = "Option::is_none")]
    pub from_repository: Option<String>,
    /// For manifest pushes with `notifications.events.includereferences`: what the
    /// manifest points to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

/// A descriptor in an event's `references`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reference {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    pub digest: String,
}

impl Target {
    pub fn is_manifest(&self) -> bool {
        self.media_type != "application/octet-stream" && !self.media_type.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestInfo {
    pub id: String,
    pub addr: String,
    pub host: String,
    pub method: String,
    pub useragent: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Actor {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Source {
    pub addr: String,
    #[serde(rename = "instanceID")]
    pub instance_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: String,
    pub timestamp: String,
    pub action: Action,
    pub target: Target,
    pub request: RequestInfo,
    pub actor: Actor,
    pub source: Source,
}

impl Event {
    pub fn new(
        action: Action,
        target: Target,
        request: RequestInfo,
        actor: Actor,
        source: Source,
    ) -> Event {
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: crate::time::now_rfc3339_nanos(),
            action,
            target,
            request,
            actor,
            source,
        }
    }

    /// The Harbor webhook event type this is, if any (Harbor reports artifacts, which
    /// are manifests; blob traffic has no Harbor type).
    pub fn harbor_type(&self) -> Option<&'static str> {
        if !self.target.is_manifest() {
            return None;
        }
        Some(match self.action {
            Action::Push => "PUSH_ARTIFACT",
            Action::Pull => "PULL_ARTIFACT",
            Action::Delete => "DELETE_ARTIFACT",
            Action::Mount => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_push() -> Event {
        Event::new(
            Action::Push,
            Target {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: Some(7),
                length: Some(7),
                digest: "sha256:00".into(),
                repository: "team/app".into(),
                url: "http://r/v2/team/app/manifests/sha256:00".into(),
                tag: Some("v1".into()),
                from_repository: None,
                references: vec![],
            },
            RequestInfo::default(),
            Actor {
                name: "alice".into(),
            },
            Source::default(),
        )
    }

    #[test]
    fn serialises_in_distributions_shape() {
        let v = serde_json::to_value(manifest_push()).unwrap();
        assert_eq!(v["action"], "push");
        assert_eq!(
            v["target"]["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(v["target"]["tag"], "v1");
        assert_eq!(v["actor"]["name"], "alice");
        assert!(v["source"].get("instanceID").is_some());
        assert!(v["target"].get("fromRepository").is_none());
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn harbor_types_for_artifacts_only() {
        let mut e = manifest_push();
        assert_eq!(e.harbor_type(), Some("PUSH_ARTIFACT"));
        e.action = Action::Delete;
        assert_eq!(e.harbor_type(), Some("DELETE_ARTIFACT"));
        e.target.media_type = "application/octet-stream".into();
        assert_eq!(e.harbor_type(), None);
    }
}
