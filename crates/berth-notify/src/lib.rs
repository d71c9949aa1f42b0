//! Registry events — push, pull, delete, mount — in CNCF Distribution's notification
//! format, queued in the metadata database and delivered to webhook endpoints with retries,
//! so existing receivers keep working and nothing is lost across restarts.

mod delivery;
pub mod event;
pub mod time;

pub use delivery::{EndpointSettings, Notifier, NotifyMetrics};
pub use event::{Action, Actor, Event, Reference, RequestInfo, Source, Target};
