//! Forward routes of WebhookEndpoints: the delivery route of each endpoint whose
//! `spec.route.forward` is set, sending the (transformed) payload as it is to its URL through
//! the same delivery machinery, retry schedule and log as subscriptions.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::api::{ForwardRoute, Kind};
use crate::delivery::breaker::Breaker;
use crate::delivery::{Destination, DestinationError, DestinationSpec, Envelope, Route, Signer};
use crate::receiver::EndpointPiece;
use crate::store::{Target, TargetKind};

use super::piece::{BuildError, Piece, Pieces};
use super::snapshot::{Meta, Object, ObjectKey};
use super::subscription::BuildContext;

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
    /// The route of its dead-letter URL, when it has one (unsigned, like the forward).
    pub dead_letter_route: Option<Arc<Route>>,
}

/// The delivery target of an endpoint's forward route.
pub fn target_of(key: &ObjectKey) -> Target {
    Target {
        namespace: key.namespace.clone(),
        kind: TargetKind::Forward,
        name: key.name.clone(),
    }
}

impl Piece for ForwardPiece {
    type Inputs = ForwardRoute;
    type Context = BuildContext;
    // A forward that fails to build makes its endpoint Ready=False.
    const KIND: Kind = Kind::WebhookEndpoint;

    fn inputs(&self) -> &ForwardRoute {
        &self.spec
    }

    fn build(
        key: &ObjectKey,
        obj: &Object<ForwardRoute>,
        ctx: &BuildContext,
        _previous: Option<&Arc<Self>>,
    ) -> Result<Self, BuildError> {
        let route = Arc::new(build(key, &obj.spec, ctx)?);
        let dead_letter_route = match obj.spec.dead_letter.as_ref().and_then(|d| d.url.as_ref()) {
            Some(url) => Some(Arc::new(super::subscription::dead_letter_route(
                route.target.dead_letters(),
                url,
                Signer::None,
                route.destination.timeout,
                ctx,
            )?)),
            None => None,
        };
        Ok(ForwardPiece {
            spec: obj.spec.clone(),
            route,
            dead_letter_route,
        })
    }

    fn queue(key: &ObjectKey) -> Option<Target> {
        Some(target_of(key))
    }
}

/// The forward routes the running endpoints want (an endpoint that kept its last good piece
/// wants that piece's forward).
pub fn desired(
    endpoints: &Pieces<EndpointPiece>,
) -> impl Iterator<Item = (ObjectKey, Object<ForwardRoute>)> + '_ {
    endpoints.iter().filter_map(|(key, piece)| {
        let spec = piece.inputs.spec.route.forward.clone()?;
        let meta = Meta::default();
        Some((key.clone(), Object { meta, spec }))
    })
}

/// The routes of every forward piece.
pub fn routes(forwards: &Pieces<ForwardPiece>) -> HashMap<Target, Arc<Route>> {
    forwards
        .values()
        .flat_map(|p| std::iter::once(p.route.clone()).chain(p.dead_letter_route.clone()))
        .map(|r| (r.target.clone(), r))
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
        enable_key: None,
        auto_disable_after: None,
    })
}
