//! Leader election on a `coordination.k8s.io/v1` Lease, client-go style: a candidate takes
//! the Lease when it is free or its holder has not renewed it for the lease duration (as seen
//! on this replica's clock, so clock skew between nodes does not matter); the holder renews it
//! every retry period and steps down when it could not renew for the renew deadline (shorter
//! than the lease duration, so two replicas never both act as leader). Every write is guarded
//! by the Lease's resourceVersion (optimistic concurrency): of two racing candidates one wins.
//! On shutdown the holder releases the Lease so another replica takes over at once.
//!
//! Written on kube's `Api<Lease>` (about 150 lines) rather than with a crate:
//! - kube-coordinate (2.0.0-rc.0) depends on kube 2: a second kube and k8s-openapi in the build.
//! - kube-lease-manager 0.13.1 fits our kube 5 / k8s-openapi 0.29, but falls short of two
//!   things we need: a follower re-reads the Lease only when its cached copy expires, so a
//!   Lease released on SIGTERM is taken over only after the old term runs out (up to the lease
//!   duration) instead of at the next retry; and a holder that cannot renew keeps reporting
//!   leadership (there is no renew deadline), so it would not stop writing status in time.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error_chain::chain;

/// Name of the Lease the replicas compete for.
pub const LEASE_NAME: &str = "switchboard-leader";

/// Timings and identity of leader election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (holderIdentity).
    pub identity: String,
    /// How long a Lease that is not renewed stays with its holder.
    pub lease_duration: Duration,
    /// The holder steps down when it could not renew for this long.
    pub renew_deadline: Duration,
    /// How often the holder renews and candidates try to take the Lease.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// The defaults (lease 15 s, renew deadline 10 s, retry 2 s) for `identity` in `namespace`.
    pub fn new(namespace: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: LEASE_NAME.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Runs leader election until `cancel`: `leader` says whether this replica holds the Lease
/// now; on cancel the Lease is released if held.
pub async fn elect(
    client: Client,
    config: LeaderConfig,
    leader: watch::Sender<bool>,
    cancel: CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    run(api, config, leader, cancel).await
}

/// The part of a Lease record whose change proves its holder is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<String>,
    transitions: Option<i32>,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Self {
        Self {
            holder: holder(spec).map(str::to_owned),
            renew_time: spec.renew_time.as_ref().map(|t| t.0.to_string()),
            transitions: spec.lease_transitions,
        }
    }
}

/// What to do with the Lease on this attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it.
    Acquire,
    /// Someone else holds it and renews it: wait.
    Wait,
}

/// The Lease's holder, if it has a non-empty one.
fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

/// Decides the step for `me`, given when this replica last saw the record change.
pub fn step(spec: &LeaseSpec, me: &str, observed_at: Instant, now: Instant) -> Step {
    let duration = spec
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(15), |s| Duration::from_secs(s as u64));
    match holder(spec) {
        Some(h) if h == me => Step::Renew,
        None => Step::Acquire,
        Some(_) if now >= observed_at + duration => Step::Acquire,
        Some(_) => Step::Wait,
    }
}

/// Runs the election loop until `cancel`, publishing leadership on `tx`.
async fn run(
    api: Api<Lease>,
    config: LeaderConfig,
    tx: watch::Sender<bool>,
    cancel: CancellationToken,
) {
    let mut observed: Option<(Record, Instant)> = None;
    let mut renewed: Option<Instant> = None;
    let attempt_timeout = config.renew_deadline / 2;
    loop {
        let outcome =
            tokio::time::timeout(attempt_timeout, attempt(&api, &config, &mut observed)).await;
        let now = Instant::now();
        match outcome {
            Ok(Ok(true)) => {
                renewed = Some(now);
                set(&tx, true, &config);
            }
            Ok(Ok(false)) => {
                renewed = None;
                set(&tx, false, &config);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %chain(&e), lease = %config.name, "leader election: the Lease could not be read or written");
            }
            Err(_) => {
                tracing::warn!(lease = %config.name, "leader election: the API server did not answer in time");
            }
        }
        if renewed.is_some_and(|at| now.duration_since(at) >= config.renew_deadline) {
            renewed = None;
            set(&tx, false, &config);
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(config.retry_period) => {}
        }
    }
    if *tx.borrow() {
        set(&tx, false, &config);
        match release(&api, &config).await {
            Ok(()) => {
                tracing::info!(lease = %config.name, "leader election: the Lease was released")
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), "leader election: releasing the Lease failed")
            }
        }
    }
}

fn set(tx: &watch::Sender<bool>, leader: bool, config: &LeaderConfig) {
    tx.send_if_modified(|current| {
        if *current == leader {
            return false;
        }
        *current = leader;
        if leader {
            tracing::info!(identity = %config.identity, lease = %config.name, namespace = %config.namespace, "leader election: this replica is now the leader");
        } else {
            tracing::warn!(identity = %config.identity, lease = %config.name, "leader election: this replica is no longer the leader");
        }
        true
    });
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One try to create, take or renew the Lease; true when this replica holds it afterwards.
async fn attempt(
    api: &Api<Lease>,
    config: &LeaderConfig,
    observed: &mut Option<(Record, Instant)>,
) -> Result<bool, kube::Error> {
    let duration_secs = i32::try_from(config.lease_duration.as_secs()).unwrap_or(15);
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(now_micro()),
                renew_time: Some(now_micro()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let record = Record::of(&spec);
    let now = Instant::now();
    if observed.as_ref().is_none_or(|(r, _)| *r != record) {
        *observed = Some((record, now));
    }
    let observed_at = observed.as_ref().map_or(now, |(_, at)| *at);
    let mut next = spec.clone();
    match step(&spec, &config.identity, observed_at, now) {
        Step::Wait => return Ok(false),
        Step::Renew => {
            next.renew_time = Some(now_micro());
            next.lease_duration_seconds = Some(duration_secs);
        }
        Step::Acquire => {
            next.holder_identity = Some(config.identity.clone());
            next.lease_duration_seconds = Some(duration_secs);
            next.acquire_time = Some(now_micro());
            next.renew_time = Some(now_micro());
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
    }
    lease.spec = Some(next);
    // The resourceVersion read above guards the write: a concurrent change makes it a 409.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up (holder cleared) if this replica holds it.
async fn release(api: &Api<Lease>, config: &LeaderConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if holder(spec) != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(now_micro());
    api.replace(&config.name, &PostParams::default(), &lease)
        .await
        .map(drop)
}

/// Runs `work` while `leader` says this replica leads: started on becoming leader, its token
/// cancelled (and the work awaited) as soon as leadership is lost, restarted on regaining it.
pub async fn while_leader<F, Fut>(
    mut leader: watch::Receiver<bool>,
    cancel: CancellationToken,
    mut work: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        // Wait to become leader.
        loop {
            if *leader.borrow_and_update() {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = leader.changed() => if changed.is_err() {
                    // No election any more and not leader: nothing will ever run.
                    cancel.cancelled().await;
                    return;
                },
            }
        }
        let term = cancel.child_token();
        let task = tokio::spawn(work(term.clone()));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = leader.changed() => match changed {
                    // The value can no longer change: lead until shutdown.
                    Err(_) => { cancel.cancelled().await; break; }
                    Ok(()) => if !*leader.borrow_and_update() { break; },
                },
            }
        }
        term.cancel();
        let _ = task.await;
        if cancel.is_cancelled() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_leases_are_taken_and_own_ones_renewed() {
        let now = Instant::now();
        assert_eq!(step(&spec(None), "a", now, now), Step::Acquire);
        assert_eq!(step(&spec(Some("")), "a", now, now), Step::Acquire);
        assert_eq!(step(&spec(Some("a")), "a", now, now), Step::Renew);
    }

    #[test]
    fn another_holder_is_waited_for_until_the_lease_duration_passes_unrenewed() {
        let seen = Instant::now();
        let held = spec(Some("b"));
        assert_eq!(
            step(&held, "a", seen, seen + Duration::from_secs(14)),
            Step::Wait
        );
        assert_eq!(
            step(&held, "a", seen, seen + Duration::from_secs(15)),
            Step::Acquire
        );
    }

    #[tokio::test]
    async fn work_runs_only_while_leader() {
        let (tx, rx) = watch::channel(false);
        let cancel = CancellationToken::new();
        let (runs_tx, mut runs) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(while_leader(rx, cancel.clone(), move |term| {
            let runs_tx = runs_tx.clone();
            async move {
                let _ = runs_tx.send("started");
                term.cancelled().await;
                let _ = runs_tx.send("stopped");
            }
        }));
        tx.send(true).unwrap();
        assert_eq!(runs.recv().await, Some("started"));
        tx.send(false).unwrap();
        assert_eq!(runs.recv().await, Some("stopped"));
        tx.send(true).unwrap();
        assert_eq!(runs.recv().await, Some("started"));
        cancel.cancel();
        assert_eq!(runs.recv().await, Some("stopped"));
        task.await.unwrap();
    }
}
