//! The controller against the real API server: config-examples become Ready, a broken
//! Transformation and its users report the compile error and recover, and Secrets are only
//! read from a resource's own namespace.

use std::time::{Duration, Instant};

use kube::Api;

use crate::support::controller::{Controller, api, assert_ready, eventually, ready};
use crate::support::{TestEnv, note};

const READY_WITHIN: Duration = Duration::from_secs(30);

/// Kind and name of every Switchboard resource in config-examples.
const EXAMPLES: &[(&str, &str)] = &[
    ("ClusterIntegrationProvider", "stripe"),
    ("ClusterIntegrationProvider", "github"),
    ("ClusterIntegrationProvider", "hubspot"),
    ("Integration", "stripe"),
    ("Integration", "github"),
    ("WebhookEndpoint", "stripe-events"),
    ("WebhookEndpoint", "github"),
    ("WebhookSubscription", "partner-invoices"),
    ("WebhookSubscription", "chat-pushes"),
    ("Transformation", "github-push-summary"),
    ("EventType", "stripe.invoice.paid"),
    ("EventType", "github.push"),
    ("EventType", "shop.order.created"),
    ("EventType", "shop-order-placed-legacy"),
];

#[tokio::test]
async fn config_examples_become_ready_and_show_in_kubectl() {
    let env = TestEnv::new("controller-examples").await.unwrap();
    let kubectl = env.kubectl();
    // The examples as they are, but with their outbound URLs on a closed loopback port.
    let mut files: Vec<_> = std::fs::read_dir("config-examples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let examples = files
        .iter()
        .map(|p| crate::offline::loopback_urls(&std::fs::read_to_string(p).unwrap()))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let out = kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&examples))
        .unwrap();
    crate::support::kubectl::check("kubectl apply", out).unwrap();
    let started = Instant::now();
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &["payments"],
        &[
            "--status-interval",
            "2s",
            "--allow-private-destinations",
            "--external-url",
            "https://hooks.example.com/",
        ],
    )
    .unwrap();

    let mut expected: Vec<(String, String)> = EXAMPLES
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    // Every namespaced example not listed above (sync schedules, …) must be Ready too.
    let listed = kubectl
        .ok(&["get", "switchboard", "-n", "payments", "-o", "name"])
        .unwrap();
    for line in listed.stdout.lines() {
        let Some((resource, name)) = line.split_once('/') else {
            continue;
        };
        let singular = resource.trim_end_matches(".switchboard.dev");
        let kind = EXAMPLES
            .iter()
            .map(|(k, _)| *k)
            .chain(["SyncSchedule", "SyncJob"])
            .find(|k| k.eq_ignore_ascii_case(singular))
            .unwrap_or(singular);
        if !expected.iter().any(|(k, n)| k == kind && n == name) {
            expected.push((kind.to_string(), name.to_string()));
        }
    }
    for (kind, name) in &expected {
        let ns = if kind == "ClusterIntegrationProvider" {
            ""
        } else {
            "payments"
        };
        assert_ready(&env.client, &ctl, (kind, ns, name), READY_WITHIN).await;
    }
    note(&format!(
        "config-examples: {} resources Ready {:?} after the controller started",
        expected.len(),
        started.elapsed()
    ));

    // --external-url: an endpoint's status.url is absolute.
    let want = "https://hooks.example.com/hooks/payments/stripe-events";
    let deadline = Instant::now() + READY_WITHIN;
    let url = loop {
        let out = kubectl
            .ok(&[
                "get",
                "webhookendpoint",
                "stripe-events",
                "-n",
                "payments",
                "-o",
                "jsonpath={.status.url}",
            ])
            .unwrap();
        if out.stdout == want || Instant::now() > deadline {
            break out.stdout;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(url, want);

    let table = kubectl.ok(&["get", "whs", "-n", "payments"]).unwrap();
    let header: Vec<&str> = table
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    for column in ["READY", "DELIVERED", "FAILED"] {
        assert!(header.contains(&column), "{}", table.stdout);
    }
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("partner-invoices "))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    let at = |c: &str| cells[header.iter().position(|h| *h == c).unwrap()];
    assert_eq!(
        (at("READY"), at("DELIVERED"), at("FAILED")),
        ("True", "0", "0"),
        "{}",
        table.stdout
    );

    // The status is ours: server-side applied by field manager `switchboard`.
    let managers = kubectl
        .ok(&[
            "get",
            "whs",
            "partner-invoices",
            "-n",
            "payments",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[?(@.subresource==\"status\")].manager}",
        ])
        .unwrap();
    assert!(
        managers.stdout.contains("switchboard"),
        "{}",
        managers.stdout
    );
}

fn transformation(ns: &str, jq: &str) -> String {
    format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: summary, namespace: {ns}}}
spec:
  jq: '{jq}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: orders, namespace: {ns}}}
spec:
  url: https://orders.example.com/hooks
  eventTypes: [\"order.*\"]
  transformationRef: {{name: summary}}
  signing: {{scheme: None}}
"
    )
}

#[tokio::test]
async fn broken_transformation_makes_it_and_its_subscription_not_ready_until_fixed() {
    let env = TestEnv::new("controller-transformation").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let ctl = Controller::start(env.kubeconfig(), &[&ns]).unwrap();
    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&transformation(&ns, "{a: .x")))
        .map(|o| assert!(o.success(), "{}", o.stderr))
        .unwrap();
    let tf = api(&env.client, "Transformation", &ns);
    let whs = api(&env.client, "WebhookSubscription", &ns);
    let not_ready = |api, name| async move {
        eventually(READY_WITHIN, || async {
            ready(api, name).await.filter(|r| r.status == "False")
        })
        .await
    };
    let tf_ready = not_ready(&tf, "summary").await;
    let tf_ready = tf_ready.unwrap_or_else(|| panic!("transformation never False\n{}", ctl.log()));
    assert!(tf_ready.message.contains("line"), "{tf_ready:?}");
    let sub_ready = not_ready(&whs, "orders").await.unwrap();
    assert_eq!(sub_ready.reason, "TransformationInvalid", "{sub_ready:?}");
    assert!(sub_ready.message.contains("summary"), "{sub_ready:?}");
    let events = kubectl
        .ok(&[
            "get",
            "events",
            "-n",
            &ns,
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .unwrap();
    note(&format!("events after the broken apply: {}", events.stdout));

    kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&transformation(&ns, "{a: .x}")))
        .map(|o| assert!(o.success(), "{}", o.stderr))
        .unwrap();
    for (api, name) in [(&tf, "summary"), (&whs, "orders")] {
        let fixed = eventually(READY_WITHIN, || async {
            ready(api, name)
                .await
                .filter(|r| r.status == "True" && r.current)
        })
        .await;
        assert!(fixed.is_some(), "{name}: {:?}", ready(api, name).await);
    }
    // Events on the transitions: degraded, then Ready again.
    let reasons = eventually(Duration::from_secs(10), || async {
        let out = kubectl
            .ok(&[
                "get",
                "events",
                "-n",
                &ns,
                "--field-selector",
                "involvedObject.name=orders",
                "-o",
                "jsonpath={.items[*].reason}",
            ])
            .ok()?;
        let r = out.stdout;
        (r.contains("TransformationInvalid") && r.contains("Ready")).then_some(r)
    })
    .await;
    assert!(reasons.is_some(), "no transition events for orders");
}

#[tokio::test]
async fn endpoint_reads_secrets_only_from_its_own_namespace() {
    let env = TestEnv::new("controller-tenant").await.unwrap();
    let a = env.namespace.clone();
    let b = crate::support::publish::extra_namespace(&env, "controller-tenant-b").await;
    let kubectl = env.kubectl();
    let ctl = Controller::start(env.kubeconfig(), &[&a, &b]).unwrap();
    kubectl
        .ok(&[
            "create",
            "secret",
            "generic",
            "shared",
            "-n",
            &b,
            "--from-literal=secret=s3cret-b",
        ])
        .unwrap();
    // Opted in, but for namespace b's resources only.
    kubectl
        .ok(&[
            "label",
            "secret",
            "shared",
            "-n",
            &b,
            "switchboard.dev/usable=true",
        ])
        .unwrap();
    let endpoint = format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: hook, namespace: {a}}}
spec:
  verify:
    scheme: GitHub
    secretRef: {{name: shared}}
  route:
    publish: {{}}
"
    );
    let out = kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&endpoint))
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    let whe = api(&env.client, "WebhookEndpoint", &a);
    let got = eventually(READY_WITHIN, || async {
        ready(&whe, "hook").await.filter(|r| r.status == "False")
    })
    .await
    .unwrap_or_else(|| panic!("endpoint never reported\n{}", ctl.log()));
    assert_eq!(got.reason, "SecretNotFound", "{got:?}");
    assert!(got.message.contains(&a), "{got:?}");
    // Stays not ready: the Secret of namespace b is never used.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ready(&whe, "hook").await.unwrap().status, "False");

    // The same Secret in its own namespace makes it ready; nothing secret is in status.
    kubectl
        .ok(&[
            "create",
            "secret",
            "generic",
            "shared",
            "-n",
            &a,
            "--from-literal=secret=s3cret-a",
        ])
        .unwrap();
    kubectl
        .ok(&[
            "label",
            "secret",
            "shared",
            "-n",
            &a,
            "switchboard.dev/usable=true",
        ])
        .unwrap();
    let got = eventually(READY_WITHIN, || async {
        ready(&whe, "hook").await.filter(|r| r.status == "True")
    })
    .await;
    assert!(got.is_some(), "{:?}", ready(&whe, "hook").await);
    let yaml = kubectl
        .ok(&["get", "whe", "hook", "-n", &a, "-o", "yaml"])
        .unwrap();
    assert!(!yaml.stdout.contains("s3cret"), "{}", yaml.stdout);
}

#[tokio::test]
async fn subscription_gets_finalizer_and_signing_secret_and_deletion_clears_it() {
    let env = TestEnv::new("controller-finalizer").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let ctl = Controller::start(env.kubeconfig(), &[&ns]).unwrap();
    let out = kubectl
        .run_with_stdin(
            &["apply", "-f", "-"],
            Some(&format!(
                "apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: doomed, namespace: {ns}}}
spec:
  url: https://orders.example.com/hooks
  eventTypes: [\"*\"]
"
            )),
        )
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    let whs = api(&env.client, "WebhookSubscription", &ns);
    let finalized = eventually(READY_WITHIN, || async {
        let obj = whs.get_opt("doomed").await.ok()??;
        obj.metadata
            .finalizers
            .filter(|f| f.iter().any(|f| f == "switchboard.dev/drop-pending"))
    })
    .await;
    assert!(finalized.is_some(), "no finalizer\n{}", ctl.log());
    // The generated signing Secret, owned by the subscription and named in its status.
    let uid = whs.get("doomed").await.unwrap().metadata.uid.unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    let secret = eventually(READY_WITHIN, || async {
        secrets.get_opt("doomed-signing").await.ok()?
    })
    .await
    .expect("no generated signing secret");
    let labels = secret.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("switchboard.dev/usable").map(String::as_str),
        Some("true"),
        "a generated Secret opts in: {labels:?}"
    );
    let owner = &secret.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("WebhookSubscription", uid.as_str())
    );
    let value = &secret.data.unwrap()["secret"].0;
    assert!(value.starts_with(b"whsec_"));
    let named = eventually(READY_WITHIN, || async {
        let obj = whs.get("doomed").await.ok()?;
        let name = obj.data["status"]["signingSecretRef"]["name"]
            .as_str()?
            .to_owned();
        (name == "doomed-signing").then_some(name)
    })
    .await;
    assert!(named.is_some(), "status.signingSecretRef not set");
    // kubectl delete waits until the object is gone, i.e. the finalizer was removed.
    kubectl
        .ok(&["delete", "whs", "doomed", "-n", &ns, "--timeout=30s"])
        .unwrap();
    assert!(whs.get_opt("doomed").await.unwrap().is_none());
    assert!(
        ctl.log().contains("pending deliveries were dropped"),
        "{}",
        ctl.log()
    );
}
