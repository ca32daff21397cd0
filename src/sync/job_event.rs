//! The job changes the sync runtime announces to front-ends that mirror them.

use crate::api::{SyncJobPhase, SyncJobSpec};

use super::record::Key;

/// A change of the jobs, for front-ends that mirror them (the controller creates SyncJob
/// resources for the runs a schedule starts and deletes those beyond the history limits).
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    /// A schedule started a run.
    Created {
        /// The job.
        key: Key,
        /// Its spec.
        spec: Box<SyncJobSpec>,
    },
    /// A run ended.
    Finished {
        /// The job.
        key: Key,
        /// How.
        phase: SyncJobPhase,
    },
    /// A finished run was removed by the history limits.
    Deleted {
        /// The job.
        key: Key,
    },
}
