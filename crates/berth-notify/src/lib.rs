//! Registry events — push, pull, delete, mount — delivered to webhooks: to the endpoints
//! `config.yml` names in CNCF Distribution's notification format, and to the projects'
//! webhook policies in Harbor's payloads; queued in the metadata database and retried, so
//! receivers keep working and nothing is lost across restarts.

mod delivery;
pub mod event;
pub mod harbor;
pub mod policies;
pub mod time;

pub use delivery::{EndpointSettings, Notifier, NotifyMetrics};
pub use event::{Action, Actor, Event, Reference, RequestInfo, Source, Target};
pub use harbor::{EVENT_TYPES, HarborEvent, PayloadFormat};
pub use policies::{NOTIFY_TYPES, PolicyError, PolicySpec, WebhookPolicy, WebhookTarget, Webhooks};
