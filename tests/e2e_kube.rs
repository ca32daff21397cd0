//! End-to-end tests against a real kube-apiserver + etcd (tests/e2e/envtest): CRDs, examples,
//! server-side validation, the status subresource and tenant RBAC, driven with kubectl.
//!
//! One API server serves the whole binary; each test works in its own namespace, so the tests
//! run concurrently. Set `SWITCHBOARD_KUBECONFIG` to run them against a server that is up.

#[path = "e2e/support/mod.rs"]
mod support;

#[path = "e2e/chart.rs"]
mod chart;
#[path = "e2e/controller.rs"]
mod controller;
#[path = "e2e/crds.rs"]
mod crds;
#[path = "e2e/examples.rs"]
mod examples;
#[path = "e2e/integration_health.rs"]
mod integration_health;
#[path = "e2e/invalid.rs"]
mod invalid;
#[path = "e2e/publish_auth.rs"]
mod publish_auth;
#[path = "e2e/status.rs"]
mod status;
#[path = "e2e/sync.rs"]
mod sync;
#[path = "e2e/tenant.rs"]
mod tenant;
