//! How one committed batch of acceptances resolves, the same on every backend: events are
//! inserted in bulk (duplicates skipped), then each acceptance is judged in input order.

use std::collections::HashSet;

use super::Acceptance;

/// An event's key: (namespace, id).
pub(crate) type EventKey = (String, String);

/// For each acceptance, in input order, whether it owns an event row this batch inserted: the
/// first acceptance of each inserted key does; later ones with the same key, and those whose
/// key was not inserted (already stored), are duplicates.
pub(crate) fn owners(batch: &[Acceptance], mut inserted: HashSet<EventKey>) -> Vec<bool> {
    batch
        .iter()
        .map(|a| inserted.remove(&(a.event.namespace.clone(), a.event.id.clone())))
        .collect()
}

/// Input positions sorted by event key (stable), so concurrent batches touch rows in the
/// same order and the first of equal keys stays first.
pub(crate) fn key_order(batch: &[Acceptance]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&batch[a].event, &batch[b].event);
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
        let batch = vec![
            acceptance("b", at, &[]),
            acceptance("a", at, &[]),
            acceptance("b", at, &[]),
            acceptance("old", at, &[]),
        ];
        let inserted = HashSet::from([("ns".into(), "a".into()), ("ns".into(), "b".into())]);
        assert_eq!(owners(&batch, inserted), [true, true, false, false]);
        assert_eq!(key_order(&batch), [1, 0, 2, 3]);
    }
}
