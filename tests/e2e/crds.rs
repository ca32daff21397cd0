//! The generated CRDs install, become Established, join the `switchboard` category and carry
//! their field documentation to `kubectl explain`.

use std::time::{Duration, Instant};

use crate::support::TestEnv;

const KINDS: [&str; 8] = [
    "clusterintegrationproviders.switchboard.dev",
    "eventtypes.switchboard.dev",
    "integrations.switchboard.dev",
    "syncjobs.switchboard.dev",
    "syncschedules.switchboard.dev",
    "transformations.switchboard.dev",
    "webhookendpoints.switchboard.dev",
    "webhooksubscriptions.switchboard.dev",
];

#[tokio::test]
async fn crds_apply_become_established_and_form_a_category() {
    let env = TestEnv::new("crds").await.unwrap();
    let kubectl = env.kubectl();
    kubectl.ok(&["apply", "-f", "crds/"]).unwrap();
    let waited = kubectl
        .ok(&[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "-f",
            "crds/",
        ])
        .unwrap();
    for crd in KINDS {
        let line = format!("customresourcedefinition.apiextensions.k8s.io/{crd} condition met");
        assert!(
            waited.stdout.contains(&line),
            "{crd} not established:\n{}",
            waited.stdout
        );
    }

    let in_category = kubectl
        .ok(&["api-resources", "--categories=switchboard", "-o", "name"])
        .unwrap();
    let mut listed: Vec<&str> = in_category.stdout.lines().collect();
    listed.sort_unstable();
    assert_eq!(listed, KINDS, "kinds in category switchboard");

    let all = kubectl.run(&["get", "switchboard", "-A"]).unwrap();
    assert!(all.success(), "kubectl get switchboard -A: {}", all.stderr);
}

#[tokio::test]
async fn server_runs_the_pinned_kubernetes_version() {
    let env = TestEnv::new("version").await.unwrap();
    let out = std::process::Command::new(env.kubectl_bin())
        .args(["version", "-o", "json"])
        .env("KUBECONFIG", env.kubeconfig())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.36.3");
    assert_eq!(version["clientVersion"]["gitVersion"], "v1.36.3");
}

#[tokio::test]
async fn explain_shows_the_field_docs() {
    let env = TestEnv::new("explain").await.unwrap();
    let kubectl = env.kubectl();
    // The OpenAPI document is updated shortly after a CRD is established.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = kubectl
            .run(&["explain", "webhooksubscription.spec.retry"])
            .unwrap();
        if out.success() || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(out.success(), "kubectl explain failed: {}", out.stderr);
    assert!(
        out.stdout.contains("KIND:       WebhookSubscription"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("When failed deliveries are retried"),
        "doc comment of spec.retry missing:\n{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Delay before each retry after a failed attempt"),
        "doc comment of spec.retry.schedule missing:\n{}",
        out.stdout
    );
}
