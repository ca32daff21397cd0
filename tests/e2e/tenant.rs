//! RBAC as envtest sets it up: user `tenant` manages Switchboard resources in `tenant-a` and
//! nowhere else.

use crate::support::{self, Kubectl, TENANT_NAMESPACE, TestEnv, unique_name};

fn subscription(name: &str, namespace: &str, url: &str) -> String {
    format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata:
  name: {name}
  namespace: {namespace}
spec:
  url: {url}
  eventTypes: [\"order.*\"]
  signing: {{scheme: None}}
"
    )
}

fn url_of(kubectl: &Kubectl, name: &str) -> String {
    let args = [
        "get",
        "whs",
        name,
        "-n",
        TENANT_NAMESPACE,
        "-o",
        "jsonpath={.spec.url}",
    ];
    kubectl.ok(&args).unwrap().stdout
}

#[tokio::test]
async fn tenant_manages_its_namespace_and_is_forbidden_elsewhere() {
    let env = TestEnv::new("tenant").await.unwrap();
    let Some(tenant) = env.cluster.tenant_kubectl() else {
        support::note("no tenant kubeconfig for the reused API server; tenant test not run");
        return;
    };
    let name = unique_name("tenant");
    let apply = ["apply", "-f", "-"];

    let v1 = subscription(&name, TENANT_NAMESPACE, "https://one.example.com/hooks");
    let out = tenant.run_with_stdin(&apply, Some(&v1)).unwrap();
    assert!(out.success(), "create in tenant-a: {}", out.stderr);
    assert_eq!(url_of(&tenant, &name), "https://one.example.com/hooks");

    let v2 = subscription(&name, TENANT_NAMESPACE, "https://two.example.com/hooks");
    let out = tenant.run_with_stdin(&apply, Some(&v2)).unwrap();
    assert!(out.success(), "update in tenant-a: {}", out.stderr);
    assert_eq!(url_of(&tenant, &name), "https://two.example.com/hooks");

    // Not `get switchboard`: the category includes the cluster-scoped
    // ClusterIntegrationProvider, which the tenant may not list.
    let listed = tenant.ok(&["get", "whs", "-o", "name"]).unwrap();
    assert!(
        listed
            .stdout
            .contains(&format!("webhooksubscription.switchboard.dev/{name}"))
    );

    // Another namespace: every verb is forbidden.
    let other = subscription(&name, &env.namespace, "https://one.example.com/hooks");
    let denied = [
        tenant.run_with_stdin(&apply, Some(&other)).unwrap(),
        tenant.run(&["get", "whs", "-n", &env.namespace]).unwrap(),
        tenant
            .run(&["delete", "whs", "x", "-n", &env.namespace])
            .unwrap(),
    ];
    for out in denied {
        assert_eq!(
            out.code,
            Some(1),
            "stdout: {}\nstderr: {}",
            out.stdout,
            out.stderr
        );
        assert!(out.stderr.contains("forbidden"), "{}", out.stderr);
        assert!(out.stderr.contains(&env.namespace), "{}", out.stderr);
    }

    // Outside switchboard.dev the tenant may only read: creating a ConfigMap is forbidden.
    let out = tenant
        .run(&["create", "configmap", &name, "-n", TENANT_NAMESPACE])
        .unwrap();
    assert!(
        !out.success() && out.stderr.contains("forbidden"),
        "{}",
        out.stderr
    );

    let out = tenant.run(&["delete", "whs", &name]).unwrap();
    assert!(out.success(), "delete in tenant-a: {}", out.stderr);
}
