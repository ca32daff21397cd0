//! WebhookEndpoint pieces of the topology: their inputs gathered from the snapshot (spec,
//! Secret values, Transformation, provider preset), diffed by value and built; their status
//! (url and counters) written to the board.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::{Kind, ProviderWebhooks, WebhookEndpointSpec};
use crate::receiver::{EndpointInputs, EndpointPiece, EndpointStats, ReceiverConfig};
use crate::signature::Secrets;

use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;
use super::topology::{BuildError, PieceChange, Topology, diff_pieces};

/// Running endpoints by key.
pub type Endpoints = BTreeMap<ObjectKey, Arc<EndpointPiece>>;

/// Builds what changed (spec, Secret values, Transformation or preset) and keeps the rest;
/// an endpoint with a problem, or whose Transformation has one, keeps its previous piece.
pub fn diff(
    running: &Endpoints,
    snap: &Snapshot,
    invalid: &BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>>,
    config: &ReceiverConfig,
) -> (Endpoints, BTreeMap<ObjectKey, PieceChange>) {
    let none = BTreeMap::new();
    let mut problems = invalid.get(&Kind::WebhookEndpoint).unwrap_or(&none).clone();
    let bad_transformations = invalid.get(&Kind::Transformation).unwrap_or(&none);
    let desired: BTreeMap<ObjectKey, Object<EndpointInputs>> = snap
        .endpoints
        .iter()
        .map(|(key, obj)| {
            let tf = obj.spec.transformation_ref.as_ref().map(|r| &r.name);
            if let Some(name) = tf
                && bad_transformations.contains_key(&ObjectKey::new(&key.namespace, name))
            {
                problems.entry(key.clone()).or_insert_with(|| BuildError {
                    reason: "TransformationNotReady",
                    message: format!("Transformation {name:?} is not ready"),
                });
            }
            let inputs = inputs(snap, key, &obj.spec, config);
            (
                key.clone(),
                Object {
                    meta: obj.meta.clone(),
                    spec: inputs,
                },
            )
        })
        .collect();
    diff_pieces(
        running,
        desired,
        &problems,
        |p: &EndpointPiece| &p.inputs,
        |obj| {
            let key = ObjectKey::new(&obj.spec.namespace, &obj.spec.name);
            let stats = running
                .get(&key)
                .map_or_else(|| Arc::new(EndpointStats::default()), |p| p.stats.clone());
            EndpointPiece::build(&obj.spec, stats).map_err(|e| BuildError {
                reason: e.reason(),
                message: crate::error_chain::render(&e),
            })
        },
    )
}

/// Adds the endpoints that failed to build to the problems reported as Ready=False.
pub fn merge_failures(
    invalid: &mut BTreeMap<Kind, BTreeMap<ObjectKey, BuildError>>,
    changes: &BTreeMap<ObjectKey, PieceChange>,
) {
    for (key, change) in changes {
        if let PieceChange::Failed(err) = change {
            invalid
                .entry(Kind::WebhookEndpoint)
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| err.clone());
        }
    }
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
