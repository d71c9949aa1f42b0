//! The metadata's traits, one per aggregate. [`crate::MetaStore`] is all of them together.

mod audit;
mod blobs;
mod browse;
mod collection;
mod engine;
mod jobs;
mod labels;
mod manifests;
mod outbox;
mod placement;
mod projects;
mod retention;
mod retention_policies;
mod robots;
mod rules;
mod runs;
mod sessions;
mod settings;
mod uploads;
mod usage;
mod users;
mod webhooks;

pub use audit::{AuditEntry, AuditLog, AuditQuery};
pub use blobs::Blobs;
pub use browse::{
    ArtifactQuery, ArtifactRow, ArtifactScope, Browse, Order, RepositoryKey, RepositoryQuery,
    RepositoryRow,
};
pub use collection::Collection;
pub use engine::Engine;
pub use jobs::{ClaimRequest, JobClaim, Leases};
pub use labels::{Attached, LabelQuery, LabelRecord, LabelScope, LabelWrite, Labels};
pub use manifests::Manifests;
pub use outbox::{NewOutboxEvent, Outbox, OutboxFeed};
pub use placement::{Placement, PlacementGuard};
pub use projects::{
    GroupQuery, GroupRecord, MemberAdded, MemberEntity, MemberRecord, NewMember, NewProject,
    ProjectAccess, ProjectDeletion, ProjectQuery, ProjectRecord, Projects, STORAGE_LIMIT_KEY,
    Viewer, Visibility,
};
pub use retention::RetentionData;
pub use retention_policies::{PolicyCreation, RetentionPolicies, RetentionPolicyRecord};
pub use robots::{RobotQuery, RobotRecord, Robots};
pub use rules::{ImmutableRuleRecord, TagRules};
pub use runs::Runs;
pub use sessions::{SessionRecord, Sessions};
pub use settings::Settings;
pub use uploads::Uploads;
pub use usage::{UsageHistory, UsageSample};
pub use users::Users;
pub use webhooks::{ActivePolicy, PolicyWrite, WebhookPolicies, WebhookPolicyRecord};
