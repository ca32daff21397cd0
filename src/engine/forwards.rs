//! Forward routes of WebhookEndpoints: the delivery route of each endpoint whose
//! `spec.route.forward` is set, sending the (transformed) payload as it is to its URL through
//! the same delivery machinery, retry schedule and log as subscriptions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::api::ForwardRoute;
use crate::delivery::breaker::Breaker;
use crate::delivery::{Destination, DestinationError, DestinationSpec, Envelope, Route, Signer};
use crate::store::{Target, TargetKind};

use super::snapshot::ObjectKey;
use super::subscription::BuildContext;
use super::topology::BuildError;

/// Consecutive failures that open a forward route's breaker.
const BREAKER_THRESHOLD: u32 = 5;
/// How long an open forward breaker waits before probing.
const BREAKER_OPEN: std::time::Duration = std::time::Duration::from_secs(30);

/// A running forward route and the spec it was built from.
#[derive(Debug)]
pub struct ForwardPiece {
    /// The spec it was built from.
    pub spec: ForwardRoute,
    /// Its delivery route.
    pub route: Arc<Route>,
}

/// Running forward routes by endpoint.
pub type Forwards = BTreeMap<ObjectKey, Arc<ForwardPiece>>;

/// The delivery target of an endpoint's forward route.
pub fn target_of(key: &ObjectKey) -> Target {
    Target {
        namespace: key.namespace.clone(),
        kind: TargetKind::Forward,
        name: key.name.clone(),
    }
}

/// Keeps unchanged forward routes (their breaker and queue), builds new and changed ones;
/// returns the routes and the problems of those that failed to build (keeping no route).
pub fn diff<'a>(
    running: &Forwards,
    desired: impl Iterator<Item = (&'a ObjectKey, &'a ForwardRoute)>,
    ctx: &BuildContext,
) -> (Forwards, BTreeMap<ObjectKey, BuildError>) {
    let mut next = Forwards::new();
    let mut failed = BTreeMap::new();
    for (key, spec) in desired {
        if let Some(piece) = running.get(key).filter(|p| &p.spec == spec) {
            next.insert(key.clone(), piece.clone());
            continue;
        }
        match build(key, spec, ctx) {
            Ok(route) => {
                let piece = ForwardPiece {
                    spec: spec.clone(),
                    route: Arc::new(route),
                };
                next.insert(key.clone(), Arc::new(piece));
            }
            Err(e) => {
                failed.insert(key.clone(), e);
            }
        }
    }
    (next, failed)
}

/// The routes of every forward piece.
pub fn routes(forwards: &Forwards) -> HashMap<Target, Arc<Route>> {
    forwards
        .values()
        .map(|p| (p.route.target.clone(), p.route.clone()))
        .collect()
}

fn err(reason: &'static str, message: String) -> BuildError {
    BuildError { reason, message }
}

fn build(key: &ObjectKey, spec: &ForwardRoute, ctx: &BuildContext) -> Result<Route, BuildError> {
    let duration = |d: &crate::api::DurationString, field: &str| {
        d.to_std()
            .map_err(|e| err("InvalidDuration", format!("{field}: {e}")))
    };
    let schedule = spec
        .retry
        .schedule
        .iter()
        .map(|d| duration(d, "spec.route.forward.retry.schedule"))
        .collect::<Result<Vec<_>, _>>()?;
    let destination = Destination::build(
        DestinationSpec {
            url: spec.url.0.clone(),
            headers: spec.headers.clone().into_iter().collect(),
            query: Vec::new(),
            timeout: duration(&spec.timeout, "spec.route.forward.timeout")?,
            schedule,
            signer: Signer::None,
        },
        ctx.policy.clone(),
    )
    .map_err(|e| match e {
        DestinationError::Refused(r) => {
            err("DestinationRefused", format!("spec.route.forward.url: {r}"))
        }
        other => err(
            "InvalidDestination",
            format!(
                "spec.route.forward.url: {}",
                crate::error_chain::chain(&other)
            ),
        ),
    })?;
    let concurrency = ctx.concurrency.max(1);
    Ok(Route {
        target: target_of(key),
        destination,
        envelope: Envelope::Raw,
        content_type: "application/json".into(),
        transform: None,
        limiter: None,
        breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_OPEN),
        concurrency,
        queue: Arc::new(Semaphore::new(concurrency)),
        pace: Default::default(),
        suspended: false,
    })
}
