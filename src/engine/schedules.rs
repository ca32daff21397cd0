//! SyncSchedule pieces of the topology: a valid schedule is a [`SchedulePiece`], diffed like
//! every other kind, so a schedule whose new version fails keeps its last good one running;
//! its timer runs in the sync runtime (see [`super::syncs`]).

use std::sync::Arc;

use crate::api::Kind;
use crate::sync::cron::Schedule;
use crate::sync::{SYNC_REQUESTED_AT, ScheduleEntry};

use super::piece::{BuildError, Piece};
use super::snapshot::{Object, ObjectKey, Snapshot};

/// A valid SyncSchedule (its timer runs in the sync runtime).
#[derive(Debug)]
pub struct SchedulePiece {
    /// What it was built from.
    pub entry: ScheduleEntry,
}

impl Piece for SchedulePiece {
    type Inputs = ScheduleEntry;
    type Context = ();
    const KIND: Kind = Kind::SyncSchedule;

    fn inputs(&self) -> &ScheduleEntry {
        &self.entry
    }

    /// Checks that the cron expression and time zone parse.
    fn build(
        _key: &ObjectKey,
        obj: &Object<ScheduleEntry>,
        _: &(),
        _previous: Option<&Arc<Self>>,
    ) -> Result<Self, BuildError> {
        let spec = &obj.spec.spec;
        Schedule::parse(&spec.schedule, spec.time_zone.as_deref()).map_err(|e| BuildError {
            reason: "InvalidSchedule",
            message: crate::error_chain::render(&e),
        })?;
        Ok(Self {
            entry: obj.spec.clone(),
        })
    }
}

/// What every SyncSchedule of the snapshot is built from.
pub fn desired(snap: &Snapshot) -> impl Iterator<Item = (ObjectKey, Object<ScheduleEntry>)> + '_ {
    snap.schedules.iter().map(|(key, obj)| {
        let entry = ScheduleEntry {
            spec: obj.spec.clone(),
            requested_at: obj.meta.annotations.get(SYNC_REQUESTED_AT).cloned(),
        };
        let meta = obj.meta.clone();
        (key.clone(), Object { meta, spec: entry })
    })
}
