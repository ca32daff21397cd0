//! How one committed batch of acceptances resolves, the same on every backend: events are
//! inserted in bulk (duplicates skipped), then each acceptance is judged in input order.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::codec::lease_until;
use super::{Acceptance, Accepted, ClaimedDelivery, GroupCommitter, NewEvent, StoreError, Target};

/// An acceptance as the group committer writes it: with a lease expiry when its deliveries
/// are to be created already claimed (Delivering until then) and handed back.
pub(crate) struct Accepting {
    /// The acceptance.
    pub(crate) acceptance: Acceptance,
    /// Create its deliveries claimed until this time (None: Pending, due at once).
    pub(crate) lease_until: Option<DateTime<Utc>>,
}

/// What the group committer answers for an [`Accepting`]: the result, and the deliveries
/// created claimed (empty unless a lease was asked for and the event was stored).
pub(crate) type AcceptedWork = (Accepted, Vec<ClaimedDelivery>);

/// Commits acceptances through `committer`, their deliveries created claimed for `lease` from
/// now when given (see [`super::Store::accept_claimed`]).
pub(crate) async fn submit(
    committer: &GroupCommitter<Accepting, AcceptedWork>,
    batch: Vec<Acceptance>,
    lease: Option<Duration>,
) -> Result<Vec<AcceptedWork>, StoreError> {
    let lease_until = lease.map(|lease| lease_until(Utc::now(), lease));
    let batch = batch.into_iter().map(|acceptance| Accepting {
        acceptance,
        lease_until,
    });
    committer.submit(batch.collect()).await
}

/// The claimed deliveries of a stored event, one per target, with the ids drawn for them
/// (in target order), all sharing the event.
pub(crate) fn claimed(
    event: Arc<NewEvent>,
    targets: impl IntoIterator<Item = Target>,
    ids: Vec<String>,
) -> Vec<ClaimedDelivery> {
    ids.into_iter()
        .zip(targets)
        .map(|(id, target)| ClaimedDelivery {
            id,
            target,
            attempts: 0,
            event: event.clone(),
            replay: None,
        })
        .collect()
}

/// An event's key: (namespace, id).
pub(crate) type EventKey = (String, String);

/// For each acceptance, in input order, whether it owns an event row this batch inserted: the
/// first acceptance of each inserted key does; later ones with the same key, and those whose
/// key was not inserted (already stored), are duplicates.
pub(crate) fn owners(batch: &[Accepting], mut inserted: HashSet<EventKey>) -> Vec<bool> {
    batch
        .iter()
        .map(|a| &a.acceptance.event)
        .map(|e| inserted.remove(&(e.namespace.clone(), e.id.clone())))
        .collect()
}

/// Input positions sorted by event key (stable), so concurrent batches touch rows in the
/// same order and the first of equal keys stays first.
pub(crate) fn key_order(batch: &[Accepting]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&batch[a].acceptance.event, &batch[b].acceptance.event);
        (&a.namespace, &a.id).cmp(&(&b.namespace, &b.id))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::suite::acceptance;

    #[test]
    fn the_first_of_equal_keys_owns_the_row() {
        let at = chrono::Utc::now();
        let batch: Vec<Accepting> = ["b", "a", "b", "old"]
            .into_iter()
            .map(|id| Accepting {
                acceptance: acceptance(id, at, &[]),
                lease_until: None,
            })
            .collect();
        let inserted = HashSet::from([("ns".into(), "a".into()), ("ns".into(), "b".into())]);
        assert_eq!(owners(&batch, inserted), [true, true, false, false]);
        assert_eq!(key_order(&batch), [1, 0, 2, 3]);
    }
}
