//! End-to-end tests against a real kube-apiserver + etcd (tests/e2e/envtest): CRDs, examples,
//! server-side validation, the status subresource and tenant RBAC, driven with kubectl.
//!
//! One API server serves the whole binary; each test works in its own namespace, so the tests
//! run concurrently. Set `SWITCHBOARD_KUBECONFIG` to run them against a server that is up.

#[path = "e2e/support/mod.rs"]
mod support;

/// The Argo CD health checks, run by a real Lua interpreter.
#[allow(dead_code)]
#[path = "support/argocd.rs"]
mod argocd;
#[path = "e2e/chart.rs"]
mod chart;
/// The pinned helm binary.
#[path = "support/helm.rs"]
mod helm;
/// The fake OAuth2 provider (shared with the standalone tests).
#[allow(dead_code)]
#[path = "support/oauth_provider.rs"]
mod oauth_provider;
/// Outbound URLs of the examples pointed at a closed loopback port.
#[path = "support/offline.rs"]
mod offline;
/// Loopback HTTP sinks that record what they receive (shared with the standalone tests).
#[allow(dead_code)]
#[path = "support/sink.rs"]
mod sink;
/// An independent Standard Webhooks verifier.
#[allow(dead_code)]
#[path = "support/standard_webhooks.rs"]
mod standard_webhooks;

#[path = "e2e/admin_auth.rs"]
mod admin_auth;
#[path = "e2e/autodisable.rs"]
mod autodisable;
#[path = "e2e/console.rs"]
mod console;
#[path = "e2e/controller.rs"]
mod controller;
#[path = "e2e/crds.rs"]
mod crds;
#[path = "e2e/delivery.rs"]
mod delivery;
#[path = "e2e/eventtype.rs"]
mod eventtype;
#[path = "e2e/examples.rs"]
mod examples;
#[path = "e2e/health.rs"]
mod health;
#[path = "e2e/integration_health.rs"]
mod integration_health;
#[path = "e2e/invalid.rs"]
mod invalid;
#[path = "e2e/isolation.rs"]
mod isolation;
#[path = "e2e/leader.rs"]
mod leader;
#[path = "e2e/lifecycle.rs"]
mod lifecycle;
#[path = "e2e/oauth.rs"]
mod oauth;
#[path = "e2e/publish_auth.rs"]
mod publish_auth;
#[path = "e2e/replay_auth.rs"]
mod replay_auth;
#[path = "e2e/rotation.rs"]
mod rotation;
#[path = "e2e/secret_wall.rs"]
mod secret_wall;
#[path = "e2e/status.rs"]
mod status;
#[path = "e2e/sync.rs"]
mod sync;
#[path = "e2e/tenant.rs"]
mod tenant;
#[path = "e2e/uninstall.rs"]
mod uninstall;
