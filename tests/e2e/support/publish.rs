//! What the delivery tests do as a user would: ServiceAccounts and their tokens (TokenRequest,
//! as `kubectl create token` does), RBAC, applying YAML, publishing events, reading counters.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DynamicObject, ObjectMeta, PostParams};
use serde_json::Value;

use super::controller::eventually;
use super::{Kubectl, NAMESPACE_LABEL, TestEnv, unique_name};

/// Creates another labelled namespace for `env`'s test; returns its name.
pub async fn extra_namespace(env: &TestEnv, test: &str) -> String {
    let name = unique_name(test);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([(NAMESPACE_LABEL.to_string(), "extra".to_string())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(env.client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    name
}

/// Creates ServiceAccount `name` in `ns` and returns a token for it.
pub fn service_account_token(kubectl: &Kubectl, ns: &str, name: &str) -> String {
    kubectl
        .ok(&["create", "serviceaccount", name, "-n", ns])
        .unwrap();
    kubectl
        .ok(&["create", "token", name, "-n", ns])
        .unwrap()
        .stdout
        .trim()
        .to_owned()
}

/// `kubectl apply -f -` with `yaml`; panics with kubectl's message on failure.
pub fn apply(kubectl: &Kubectl, yaml: &str) {
    let out = kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(yaml))
        .unwrap();
    assert!(out.success(), "kubectl apply: {}\n{yaml}", out.stderr);
}

/// A WebhookSubscription to `url` for every event type, with `signing` as YAML flow text
/// (`{scheme: None}`), or the default (generated secret) when None.
pub fn subscription(ns: &str, name: &str, url: &str, signing: Option<&str>) -> String {
    let signing = signing
        .map(|s| format!("  signing: {s}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: {name}, namespace: {ns}}}
spec:
  url: {url}
  eventTypes: [\"*\"]
{signing}"
    )
}

/// POSTs an event to the publish API; the HTTP status (None when unreachable).
pub async fn publish(url: &str, ns: &str, token: &str, event: &Value) -> Option<u16> {
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/namespaces/{ns}/events"))
        .bearer_auth(token)
        .json(event)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// Publishes, retrying until the controller is up (30 s); panics unless it answers 202.
pub async fn publish_accepted(url: &str, ns: &str, token: &str, event: &Value) {
    let status = eventually(Duration::from_secs(30), || async {
        publish(url, ns, token, event)
            .await
            .filter(|s| *s != 503 && *s != 404)
    })
    .await;
    assert_eq!(status, Some(202), "publish to {ns}: {event}");
}

/// A number in an object's status (`status.<field>`), if set.
pub async fn status_number(api: &Api<DynamicObject>, name: &str, field: &str) -> Option<u64> {
    let obj = api.get_opt(name).await.ok()??;
    obj.data.get("status")?.get(field)?.as_u64()
}

/// Waits until `status.<field>` of `name` is at least `want`; the value seen.
pub async fn wait_status_at_least(
    api: &Api<DynamicObject>,
    name: &str,
    field: &str,
    want: u64,
    timeout: Duration,
) -> Option<u64> {
    eventually(timeout, || async {
        status_number(api, name, field).await.filter(|n| *n >= want)
    })
    .await
}

/// Waits until the object is Ready=True for its current generation.
pub async fn wait_ready(api: &Api<DynamicObject>, name: &str) -> bool {
    eventually(Duration::from_secs(30), || async {
        super::controller::ready(api, name)
            .await
            .filter(|r| r.status == "True" && r.current)
    })
    .await
    .is_some()
}

/// The cells of `kubectl get whs -n ns` by column header, for the row of `name`.
pub fn whs_row(kubectl: &Kubectl, ns: &str, name: &str) -> Vec<(String, String)> {
    let table = kubectl.ok(&["get", "whs", "-n", ns]).unwrap().stdout;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let row = lines
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name}:\n{table}"));
    // Blank cells (an unset column) would shift the rest: read by the header's offsets.
    let head_line = table.lines().next().unwrap_or_default();
    header
        .iter()
        .map(|h| {
            let start = head_line.find(h).unwrap_or(0);
            let cell: String = row.chars().skip(start).take_while(|c| *c != ' ').collect();
            (h.to_string(), cell)
        })
        .collect()
}

/// Secrets of `ns`, as the admin.
pub fn secret_api(env: &TestEnv, ns: &str) -> Api<k8s_openapi::api::core::v1::Secret> {
    Api::namespaced(env.client.clone(), ns)
}
