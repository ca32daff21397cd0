//! Sync schedules and jobs: cron in a time zone, the scheduler, the job runner with its
//! pagination, sinks and checkpoints. Knows nothing of Kubernetes; the engine feeds it
//! desired state ([`DesiredSyncs`]) and hears back through [`Reporter`] and [`Publisher`].

mod actor;
pub mod cron;
pub mod deps;
pub mod desired;
pub mod job_event;
pub mod manager;
pub mod page;
pub mod record;
pub mod runner;
pub mod scheduler;
pub mod sink;
pub mod source;
pub mod state;
mod timers;

pub use cron::{Clock, ManualClock, Schedule, SystemClock};
pub use deps::{SyncConfig, SyncDeps};
pub use desired::{DesiredSyncs, JobEntry, ScheduleEntry, SourceFactory, base_url_sources};
pub use job_event::JobEvent;
pub use manager::Syncs;
pub use record::{JobRecord, Key};
pub use runner::Reporter;
pub use scheduler::{SCHEDULE_LABEL, SYNC_FINISHED, SYNC_REQUESTED_AT};
pub use sink::{Publisher, SinkError};
pub use source::{BaseUrlSource, CallRequest, CallResponse, Source, SourceError};

#[cfg(test)]
mod tests;
