//! The one abstraction every running kind goes through. A [`Piece`] is built from inputs
//! gathered from the snapshot; an apply diffs each kind's desired inputs against what runs
//! with one [`Plan::diff`]: an unchanged piece is kept as it is (same `Arc`, so its queue,
//! breaker and counters live on), a changed one is rebuilt, a removed one dropped, and a piece
//! that fails to build (or whose resource has a problem) leaves its last good version running,
//! unless the problem is a Secret that is not (or no longer) opted in: that piece stops.
//! Failures of every kind land in one [`Problems`] map, from which Ready=False is reported.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::Kind;
use crate::store::Target;

use super::snapshot::{Object, ObjectKey};

/// A piece that failed to build, or a resource with a problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct BuildError {
    /// CamelCase reason for the Ready condition.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

/// A kind of running piece: what it is built from and how.
pub trait Piece: Sized + Send + Sync + 'static {
    /// What a piece is built from; it is rebuilt only when these change.
    type Inputs: PartialEq;
    /// What building needs besides the inputs (settings, pieces of kinds built before).
    type Context;
    /// The kind whose Ready condition reports this piece's failures.
    const KIND: Kind;

    /// The inputs the piece was built from.
    fn inputs(&self) -> &Self::Inputs;

    /// Builds the piece of `key`; `previous` is the running version, whose state (counters)
    /// a rebuild may carry over.
    fn build(
        key: &ObjectKey,
        inputs: &Object<Self::Inputs>,
        ctx: &Self::Context,
        previous: Option<&Arc<Self>>,
    ) -> Result<Self, BuildError>;

    /// The delivery queue a removed piece leaves behind (dropped with it), if it has one.
    fn queue(_key: &ObjectKey) -> Option<Target> {
        None
    }
}

/// Running pieces of one kind by key.
pub type Pieces<P> = BTreeMap<ObjectKey, Arc<P>>;

/// How one key fared in a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceChange {
    /// Built for the first time.
    Added,
    /// Rebuilt from changed inputs.
    Changed,
    /// Kept as it was.
    Unchanged,
    /// Failed to build (or is invalid); the previous version, if any, keeps running.
    Failed(BuildError),
    /// No longer desired; stopped.
    Removed,
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Pieces built for the first time.
    pub added: usize,
    /// Pieces rebuilt.
    pub changed: usize,
    /// Pieces kept as they were.
    pub unchanged: usize,
    /// Pieces stopped.
    pub removed: usize,
    /// Resources with problems.
    pub failed: usize,
}

/// Problems by kind and resource: the first one's reason, every message joined.
#[derive(Clone, Debug, Default)]
pub struct Problems(BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>>);

impl Problems {
    /// The problems of one kind.
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = (&ObjectKey, &BuildError)> {
        self.0.get(&kind).into_iter().flatten()
    }

    /// The problem of one resource, if it has one.
    pub fn get(&self, kind: Kind, key: &ObjectKey) -> Option<&BuildError> {
        self.0.get(&kind)?.get(key)
    }

    /// Adds a problem; a resource that has one already keeps its reason (unless the new one
    /// is a Secret not opted in, which stops the resource and so is the reason shown), and
    /// the message of a different problem is appended.
    pub fn add(&mut self, kind: Kind, key: &ObjectKey, problem: BuildError) {
        let slot = self.0.entry(kind).or_default();
        match slot.get_mut(key) {
            None => {
                slot.insert(key.clone(), problem);
            }
            Some(known) if !known.message.contains(&problem.message) => {
                if problem.reason == super::snapshot::SECRET_NOT_USABLE {
                    known.reason = problem.reason;
                }
                known.message.push_str("; ");
                known.message.push_str(&problem.message);
            }
            Some(_) => {}
        }
    }
}

/// One apply in progress: diffs the kinds in dependency order and gathers their changes,
/// failures and the queues of removed pieces.
#[derive(Debug, Default)]
pub struct Plan {
    problems: Problems,
    summary: ApplySummary,
    removed_queues: Vec<Target>,
}

/// The result of an apply's diffs.
#[derive(Debug, Default)]
pub struct Planned {
    /// Every problem, static and from builds.
    pub problems: Problems,
    /// Counts of what the diffs did (`failed` is left to the report).
    pub summary: ApplySummary,
    /// Delivery queues of removed pieces.
    pub removed_queues: Vec<Target>,
}

impl Plan {
    /// A plan that starts from the snapshot's static problems.
    pub fn new(problems: Problems) -> Self {
        Self {
            problems,
            ..Self::default()
        }
    }

    /// The problems known so far (kinds diffed later depend on those diffed before).
    pub fn problems(&self) -> &Problems {
        &self.problems
    }

    /// Adds a problem found while gathering inputs (for example a dependency not ready).
    pub fn add_problem(&mut self, kind: Kind, key: &ObjectKey, problem: BuildError) {
        self.problems.add(kind, key, problem);
    }

    /// Diffs one kind: keeps unchanged pieces, builds added and changed ones, keeps the
    /// last good piece where a build fails or the resource has a problem (but not where a
    /// Secret it names is not opted in), and drops the rest.
    pub fn diff<P: Piece>(
        &mut self,
        running: &Pieces<P>,
        desired: impl IntoIterator<Item = (ObjectKey, Object<P::Inputs>)>,
        ctx: &P::Context,
    ) -> Pieces<P> {
        let mut next = Pieces::new();
        let mut stopped = Vec::new();
        for (key, obj) in desired {
            let old = running.get(&key);
            let change = match (self.problems.get(P::KIND, &key), old) {
                (Some(problem), _) => PieceChange::Failed(problem.clone()),
                (None, Some(old)) if old.inputs() == &obj.spec => PieceChange::Unchanged,
                (None, _) => match P::build(&key, &obj, ctx, old) {
                    Ok(piece) => {
                        next.insert(key.clone(), Arc::new(piece));
                        if old.is_some() {
                            PieceChange::Changed
                        } else {
                            PieceChange::Added
                        }
                    }
                    Err(err) => PieceChange::Failed(err),
                },
            };
            // A Secret that withdrew its opt-in is not used any longer, even by what runs.
            let withdrawn = matches!(&change, PieceChange::Failed(p) if p.reason == super::snapshot::SECRET_NOT_USABLE);
            if let (false, false, Some(old)) = (withdrawn, next.contains_key(&key), old) {
                next.insert(key.clone(), old.clone());
            }
            if withdrawn {
                // Still desired: its queue stays, to be delivered once the Secret opts in.
                stopped.push(key.clone());
            }
            self.count(P::KIND, &key, change);
        }
        let gone = |k: &&ObjectKey| !next.contains_key(*k) && !stopped.contains(*k);
        for key in running.keys().filter(gone) {
            self.count(P::KIND, key, PieceChange::Removed);
            self.removed_queues.extend(P::queue(key));
        }
        next
    }

    fn count(&mut self, kind: Kind, key: &ObjectKey, change: PieceChange) {
        match change {
            PieceChange::Added => self.summary.added += 1,
            PieceChange::Changed => self.summary.changed += 1,
            PieceChange::Unchanged => self.summary.unchanged += 1,
            PieceChange::Removed => self.summary.removed += 1,
            PieceChange::Failed(err) => self.problems.add(kind, key, err),
        }
    }

    /// Ends the plan.
    pub fn finish(self) -> Planned {
        Planned {
            problems: self.problems,
            summary: self.summary,
            removed_queues: self.removed_queues,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::Meta;

    /// A piece that is its input; 99 never builds.
    #[derive(Debug)]
    struct Num(u32);

    impl Piece for Num {
        type Inputs = u32;
        type Context = ();
        const KIND: Kind = Kind::Transformation;
        fn inputs(&self) -> &u32 {
            &self.0
        }
        fn build(
            _: &ObjectKey,
            obj: &Object<u32>,
            _: &(),
            _: Option<&Arc<Self>>,
        ) -> Result<Self, BuildError> {
            if obj.spec == 99 {
                return Err(BuildError {
                    reason: "Broken",
                    message: "99 never builds".into(),
                });
            }
            Ok(Num(obj.spec))
        }
    }

    fn desired(items: &[(&str, u32)]) -> Vec<(ObjectKey, Object<u32>)> {
        items
            .iter()
            .map(|(k, v)| {
                let obj = Object {
                    meta: Meta::default(),
                    spec: *v,
                };
                (ObjectKey::new("n", k), obj)
            })
            .collect()
    }

    fn key(k: &str) -> ObjectKey {
        ObjectKey::new("n", k)
    }

    #[test]
    fn diff_keeps_unchanged_pieces_and_the_last_good_version_on_failure() {
        let mut plan = Plan::default();
        let running = plan.diff::<Num>(
            &Pieces::new(),
            desired(&[("a", 1), ("b", 2), ("c", 3)]),
            &(),
        );
        let first = plan.finish();
        assert_eq!(first.summary.added, 3);

        let mut plan = Plan::default();
        let next = plan.diff::<Num>(&running, desired(&[("b", 20), ("c", 99), ("d", 4)]), &());
        let planned = plan.finish();
        assert_eq!(
            (
                planned.summary.added,
                planned.summary.changed,
                planned.summary.removed
            ),
            (1, 1, 1)
        );
        assert!(!next.contains_key(&key("a")));
        assert_eq!(next[&key("b")].0, 20);
        // c failed to build: its last good version keeps running, the very same Arc, and
        // the failure is a problem of its kind.
        assert!(Arc::ptr_eq(&next[&key("c")], &running[&key("c")]));
        assert_eq!(
            planned.problems.get(Kind::Transformation, &key("c")),
            Some(&BuildError {
                reason: "Broken",
                message: "99 never builds".into()
            })
        );

        let mut plan = Plan::default();
        let again = plan.diff::<Num>(&next, desired(&[("b", 20), ("d", 4)]), &());
        assert_eq!(plan.finish().summary.unchanged, 2);
        assert!(Arc::ptr_eq(&again[&key("b")], &next[&key("b")]));
    }

    #[test]
    fn a_resource_with_a_problem_keeps_its_running_piece_and_is_not_rebuilt() {
        let mut plan = Plan::default();
        let running = plan.diff::<Num>(&Pieces::new(), desired(&[("a", 1)]), &());
        let mut problems = Problems::default();
        let problem = BuildError {
            reason: "Invalid",
            message: "bad".into(),
        };
        problems.add(Kind::Transformation, &key("a"), problem.clone());
        let mut plan = Plan::new(problems);
        let next = plan.diff::<Num>(&running, desired(&[("a", 2)]), &());
        assert_eq!(next[&key("a")].0, 1);
        assert_eq!(
            plan.finish().problems.get(Kind::Transformation, &key("a")),
            Some(&problem)
        );
    }

    #[test]
    fn a_resource_naming_a_secret_not_opted_in_stops_its_running_piece() {
        let mut plan = Plan::default();
        let running = plan.diff::<Num>(&Pieces::new(), desired(&[("a", 1), ("b", 2)]), &());
        let mut problems = Problems::default();
        let p = |reason, message: &str| BuildError {
            reason,
            message: message.into(),
        };
        problems.add(Kind::Transformation, &key("a"), p("Invalid", "bad"));
        problems.add(
            Kind::Transformation,
            &key("a"),
            p(super::super::snapshot::SECRET_NOT_USABLE, "label it"),
        );
        let mut plan = Plan::new(problems);
        let next = plan.diff::<Num>(&running, desired(&[("a", 1), ("b", 2)]), &());
        assert!(!next.contains_key(&key("a")), "stopped");
        assert!(next.contains_key(&key("b")));
        let planned = plan.finish();
        let problem = planned.problems.get(Kind::Transformation, &key("a"));
        assert_eq!(problem.map(|p| p.reason), Some("SecretNotUsable"));
        assert_eq!(planned.summary.removed, 0, "still desired: its queue stays");
    }

    #[test]
    fn problems_keep_the_first_reason_and_join_distinct_messages() {
        let mut problems = Problems::default();
        let k = key("a");
        let p = |reason, message: &str| BuildError {
            reason,
            message: message.into(),
        };
        problems.add(Kind::Integration, &k, p("First", "one"));
        problems.add(Kind::Integration, &k, p("Second", "two"));
        problems.add(Kind::Integration, &k, p("Third", "one"));
        assert_eq!(
            problems.get(Kind::Integration, &k),
            Some(&p("First", "one; two"))
        );
        assert_eq!(problems.of(Kind::Integration).count(), 1);
        assert_eq!(problems.of(Kind::WebhookEndpoint).count(), 0);
    }
}
