//! WebhookEndpoint pieces of the topology: their inputs gathered from the snapshot (spec,
//! Secret values, Transformation, provider preset), diffed by value and built; their status
//! (url and counters) written to the board.

use std::sync::Arc;

use crate::api::{Kind, ProviderWebhooks, WebhookEndpointSpec};
use crate::receiver::{EndpointInputs, EndpointPiece, EndpointStats, ReceiverConfig};
use crate::signature::Secrets;

use super::piece::{BuildError, Piece, Plan};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::topology::Topology;

impl Piece for EndpointPiece {
    type Inputs = EndpointInputs;
    type Context = ();
    const KIND: Kind = Kind::WebhookEndpoint;

    fn inputs(&self) -> &EndpointInputs {
        &self.inputs
    }

    /// Builds an endpoint; a rebuilt endpoint keeps counting on its previous counters.
    fn build(
        _key: &ObjectKey,
        obj: &Object<EndpointInputs>,
        _: &(),
        previous: Option<&Arc<Self>>,
    ) -> Result<Self, BuildError> {
        let stats =
            previous.map_or_else(|| Arc::new(EndpointStats::default()), |p| p.stats.clone());
        EndpointPiece::build(&obj.spec, stats).map_err(|e| BuildError {
            reason: e.reason(),
            message: crate::error_chain::render(&e),
        })
    }
}

/// What every endpoint of the snapshot is built from; an endpoint whose Transformation has
/// a problem gets one too (and keeps its last good piece).
pub fn desired(
    snap: &Snapshot,
    config: &ReceiverConfig,
    plan: &mut Plan,
) -> Vec<(ObjectKey, Object<EndpointInputs>)> {
    let mut desired = Vec::with_capacity(snap.endpoints.len());
    for (key, obj) in &snap.endpoints {
        if let Some(name) = obj.spec.transformation_ref.as_ref().map(|r| &r.name) {
            let tf = ObjectKey::new(&key.namespace, name);
            if plan.problems().get(Kind::Transformation, &tf).is_some() {
                let problem = BuildError {
                    reason: "TransformationNotReady",
                    message: format!("Transformation {name:?} is not ready"),
                };
                plan.add_problem(Kind::WebhookEndpoint, key, problem);
            }
        }
        let meta = obj.meta.clone();
        let spec = inputs(snap, key, &obj.spec, config);
        desired.push((key.clone(), Object { meta, spec }));
    }
    desired
}

/// Writes each running endpoint's url and counters to the board.
pub fn report(status: &StatusBoard, topology: &Topology, config: &ReceiverConfig) {
    for (key, piece) in &topology.endpoints {
        report_one(status, key, piece, config);
    }
}

/// Puts one endpoint's url and counters on the board, read live (its counters change with
/// every request).
pub fn report_one(
    status: &StatusBoard,
    key: &ObjectKey,
    piece: &EndpointPiece,
    config: &ReceiverConfig,
) {
    let (stats, url) = (
        piece.stats.clone(),
        config.hook_url(&key.namespace, &key.name),
    );
    let fields = move || {
        let mut fields = stats.fields();
        fields.insert("url".into(), url.clone().into());
        fields
    };
    status.set_live(Kind::WebhookEndpoint, key, Arc::new(fields));
}

/// What an endpoint is built from, read from the snapshot.
pub fn inputs(
    snap: &Snapshot,
    key: &ObjectKey,
    spec: &WebhookEndpointSpec,
    config: &ReceiverConfig,
) -> EndpointInputs {
    let provider = provider_webhooks(snap, &key.namespace, spec);
    let transformation = spec.transformation_ref.as_ref().and_then(|r| {
        snap.transformations
            .get(&ObjectKey::new(&key.namespace, &r.name))
            .map(|t| t.spec.clone())
    });
    EndpointInputs {
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        spec: spec.clone(),
        preset: provider.as_ref().map(|p| p.verify),
        provider,
        secrets: secrets(snap, &key.namespace, spec),
        transformation,
        url: config.hook_url(&key.namespace, &key.name),
        max_inflight: config.max_inflight_per_endpoint,
    }
}

/// The webhook settings of the endpoint's integration's provider.
fn provider_webhooks(
    snap: &Snapshot,
    namespace: &str,
    spec: &WebhookEndpointSpec,
) -> Option<ProviderWebhooks> {
    let integration = snap.integrations.get(&ObjectKey::new(
        namespace,
        &spec.integration_ref.as_ref()?.name,
    ))?;
    let provider = snap
        .providers
        .get(&ObjectKey::cluster(integration.spec.provider.as_ref()?))?;
    provider.spec.webhooks.clone()
}

/// The verification Secret's values under the conventional keys (`secretRef.key` choosing
/// the single-value key).
fn secrets(snap: &Snapshot, namespace: &str, spec: &WebhookEndpointSpec) -> Secrets {
    let Some(secret_ref) = &spec.verify.secret_ref else {
        return Secrets::default();
    };
    let value = |key: &str| {
        snap.secret_value(namespace, &secret_ref.name, key)
            .map(|v| v.0.clone())
    };
    Secrets {
        secret: value(secret_ref.key_or("secret")),
        token: value(secret_ref.key_or("token")),
        username: value("username"),
        password: value("password"),
    }
}
