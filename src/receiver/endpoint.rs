//! The running piece of a WebhookEndpoint: everything a request needs, resolved and compiled
//! once from the spec, its Secret, its Transformation and its provider preset.

use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::Semaphore;

use crate::api::pattern::{self, Pattern};
use crate::api::{ProviderWebhooks, TransformationSpec, VerifyScheme, WebhookEndpointSpec};
use crate::signature::{Secrets, VerifyConfig, VerifyError};
use crate::transform::Program;

use super::error::EndpointError;
use super::extract::{DedupRule, EventTypeRule};
use super::stats::EndpointStats;

/// Everything an endpoint piece is built from; a change in any of it rebuilds the piece.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointInputs {
    /// Namespace of the endpoint.
    pub namespace: String,
    /// Name of the endpoint.
    pub name: String,
    /// The spec.
    pub spec: WebhookEndpointSpec,
    /// The provider preset's scheme, when the endpoint has an integration with one.
    pub preset: Option<VerifyScheme>,
    /// The provider's webhook settings (event type and id headers).
    pub provider: Option<ProviderWebhooks>,
    /// Values of the verification Secret.
    pub secrets: Secrets,
    /// The referenced Transformation's spec.
    pub transformation: Option<TransformationSpec>,
    /// The URL senders call (absolute when the external URL is known).
    pub url: String,
    /// Requests processed at once before answering 429.
    pub max_inflight: usize,
}

/// A running endpoint.
#[derive(Debug)]
pub struct EndpointPiece {
    /// What it was built from.
    pub inputs: EndpointInputs,
    /// Resolved verification settings.
    pub verify: VerifyConfig,
    /// Allowed client networks (empty: any).
    pub source_ranges: Vec<IpNet>,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Where the event type comes from.
    pub event_type: EventTypeRule,
    /// Where the dedup id comes from.
    pub dedup: DedupRule,
    /// Event type allowlist (empty: all).
    pub allow: Vec<Pattern>,
    /// The compiled transformation.
    pub transformation: Option<Arc<Program>>,
    /// Permits of requests in flight.
    pub inflight: Arc<Semaphore>,
    /// Counters, carried over from the previous version of the piece.
    pub stats: Arc<EndpointStats>,
}

impl EndpointPiece {
    /// Builds a piece; `stats` are the previous version's counters (or new ones).
    pub fn build(
        inputs: &EndpointInputs,
        stats: Arc<EndpointStats>,
    ) -> Result<Self, EndpointError> {
        let spec = &inputs.spec;
        let verify =
            VerifyConfig::from_spec(&spec.verify, inputs.preset).map_err(EndpointError::Verify)?;
        check_secrets(verify.scheme, &inputs.secrets).map_err(EndpointError::Verify)?;
        let source_ranges = spec
            .allowed_source_ranges
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .map_err(|_| EndpointError::InvalidCidr(c.clone()))
            })
            .collect::<Result<_, _>>()?;
        let transformation = inputs
            .transformation
            .as_ref()
            .map(|t| Program::compile(t).map(Arc::new))
            .transpose()
            .map_err(EndpointError::Transformation)?;
        Ok(Self {
            verify,
            source_ranges,
            max_body_bytes: usize::try_from(spec.max_body_bytes).unwrap_or(usize::MAX),
            event_type: EventTypeRule::build(
                spec.event_type.as_ref(),
                inputs.provider.as_ref(),
                spec.route.publish.as_ref(),
            )?,
            dedup: DedupRule::build(spec.dedup.as_ref(), inputs.provider.as_ref())?,
            allow: spec.event_types.iter().map(|p| Pattern::new(p)).collect(),
            transformation,
            inflight: Arc::new(Semaphore::new(inputs.max_inflight.max(1))),
            stats,
            inputs: inputs.clone(),
        })
    }

    /// True when an event type passes the allowlist.
    pub fn allows(&self, event_type: &str) -> bool {
        self.allow.is_empty() || pattern::any_matches(&self.allow, event_type)
    }

    /// True when the client address may call.
    pub fn admits(&self, client: Option<std::net::IpAddr>) -> bool {
        self.source_ranges.is_empty()
            || client.is_some_and(|ip| self.source_ranges.iter().any(|n| n.contains(&ip)))
    }

    /// True when parsing needs a blocking thread (jq or a transformation runs).
    pub fn needs_pool(&self) -> bool {
        self.transformation.is_some() || self.event_type.uses_payload() || self.dedup.uses_payload()
    }
}

/// The Secret holds the values the scheme needs.
fn check_secrets(scheme: VerifyScheme, secrets: &Secrets) -> Result<(), VerifyError> {
    match scheme {
        VerifyScheme::None | VerifyScheme::PayPal => Ok(()),
        VerifyScheme::Bearer => secrets.token().map(drop),
        VerifyScheme::Basic => secrets.username().and(secrets.password()).map(drop),
        _ => secrets.secret().map(drop),
    }
}
